"""References to judge latents against: PCA and NMF of the patterns, mixture partitions, element/BC maps.

Inside a mask (the ROI), :func:`pca_nmf` fits PCA (randomised SVD) and NMF on a seeded sample of
at most ``max_fit`` pixels read chunk by chunk, then projects every pixel chunk by chunk, so memory is bounded by a chunk and the sample, not by the map.
:func:`gmm_partition` fits Gaussian mixtures for every k of a range and keeps the k with the
lowest BIC (or AIC). :func:`write_references` puts all of it into the store:
``pca(y, x, component)``, ``nmf(y, x, component)``, ``pca_components(component, py, px)``,
``pca_explained_variance(component)`` (ratio), ``nmf_components(component, py, px)``, and
label variables ``pca_gmm(y, x)``, ``nmf_gmm(y, x)`` (−2 outside the mask).

:func:`adjusted_rand_index` and :func:`normalized_mutual_info` score two partitions from their
contingency table (equal to scikit-learn's ``adjusted_rand_score`` and
``normalized_mutual_info_score``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from sklearn.decomposition import NMF, PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from vaearr.errors import InputError, StoreError, VaearrWarning, did_you_mean
from vaearr.maps.decomposition.composite import element_composite
from vaearr.maps.decomposition.masked import MaskedPixels, mask_array
from vaearr.maps.options import MAX_FIT
from vaearr.store import open_store, refuse_inputs, write_variables
from vaearr.store.schema import RGB, auto_mask



# --------------------------------------------------------------------------------------------
# partitions


@dataclass
class Partition:
    """A mixture partition chosen over a range of k.

    Attributes
    ----------
    labels
        ``(n,)`` int labels 0..k−1.
    k
        The number of components chosen.
    criterion
        ``"bic"`` or ``"aic"``.
    scores
        k → criterion value (lower is better).
    """

    labels: np.ndarray
    k: int
    criterion: str
    scores: dict[int, float] = field(default_factory=dict)


def gmm_partition(
    features: np.ndarray,
    k_range: tuple[int, int] | Sequence[int] = (2, 8),
    *,
    criterion: str = "bic",
    seed: int = 0,
    max_fit: int = MAX_FIT,
    standardize: bool = True,
    covariance_type: str = "full",
) -> Partition:
    """Gaussian mixtures for every k in ``k_range`` (inclusive); keep the lowest BIC/AIC.

    Parameters
    ----------
    features
        ``(n, d)`` (or ``(n,)``) finite values.
    k_range
        ``(k_min, k_max)`` inclusive, or an explicit list of k.
    criterion
        ``"bic"`` or ``"aic"``.
    seed
        Seeds the fit sample and the mixtures.
    max_fit
        Fit on a seeded sample of at most this many rows, then label every row.
    standardize
        Scale each feature to zero mean, unit variance first (so no feature dominates).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 1, 200), rng.normal(10, 1, 200)]
    >>> gmm_partition(x, (1, 4)).k
    2
    """

    if criterion not in ("bic", "aic"):
        raise InputError(None, f"criterion must be 'bic' or 'aic', got {criterion!r}")
    x = np.asarray(features, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if not np.isfinite(x).all():
        raise InputError(None, "features for the mixture must be finite")
    ks = list(range(int(k_range[0]), int(k_range[1]) + 1)) if isinstance(k_range, tuple) else [int(k) for k in k_range]
    if not ks or min(ks) < 1:
        raise InputError(None, f"k range {k_range} is empty or below 1")
    if standardize:
        sd = x.std(0)
        x = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    rng = np.random.default_rng(seed)
    fit_rows = x if x.shape[0] <= max_fit else x[rng.choice(x.shape[0], max_fit, replace=False)]
    ks = [k for k in ks if k <= fit_rows.shape[0]]
    best, scores = None, {}
    for k in ks:
        # k-means++ seeding without the Lloyd iterations of the default init: as good a start
        # for EM here, at a fraction of the cost when many k (and many latent dims) are tried
        gm = GaussianMixture(k, covariance_type=covariance_type, random_state=seed, init_params="k-means++",
                             max_iter=200, reg_covar=1e-6)
        gm.fit(fit_rows)
        scores[k] = float(gm.bic(fit_rows) if criterion == "bic" else gm.aic(fit_rows))
        if best is None or scores[k] < scores[best[0]]:
            best = (k, gm)
    k, gm = best
    return Partition(labels=gm.predict(x).astype(np.int64), k=int(k), criterion=criterion, scores=scores)


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.size != b.size:
        raise InputError(None, f"partitions have {a.size} and {b.size} labels")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    na, nb = ia.max() + 1, ib.max() + 1
    return np.bincount(ia * nb + ib, minlength=na * nb).reshape(na, nb).astype(np.float64)


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings (1: same partition, ~0: chance).

    Examples
    --------
    >>> adjusted_rand_index([0, 0, 1, 1], [5, 5, 2, 2])
    1.0
    """
    c = _contingency(a, b)
    n = c.sum()
    comb = lambda v: v * (v - 1) / 2.0  # noqa: E731
    sum_ij = comb(c).sum()
    sa, sb = comb(c.sum(1)).sum(), comb(c.sum(0)).sum()
    expected = sa * sb / comb(n) if n > 1 else 0.0
    top = (sa + sb) / 2.0
    if top == expected:  # both partitions trivial (one cluster, or all singletons)
        return 1.0
    return float((sum_ij - expected) / (top - expected))


def normalized_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean of the entropies, as scikit-learn's default).

    Examples
    --------
    >>> round(normalized_mutual_info([0, 0, 1, 1], [1, 1, 0, 0]), 6)
    1.0
    """
    c = _contingency(a, b)
    n = c.sum()
    pa, pb = c.sum(1) / n, c.sum(0) / n
    if pa.size == 1 and pb.size == 1 or pa.size == pb.size == n == 0:
        return 1.0
    nz = c > 0
    pij = c[nz] / n
    mi = float((pij * (np.log(pij) - np.log(np.outer(pa, pb)[nz]))).sum())
    ha = float(-(pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = float(-(pb[pb > 0] * np.log(pb[pb > 0])).sum())
    if ha == 0 or hb == 0:
        return 1.0 if ha == hb else 0.0
    return float(max(mi, 0.0) / max((ha + hb) / 2.0, np.finfo(float).eps))


# --------------------------------------------------------------------------------------------
# PCA / NMF


@dataclass
class Decomposition:
    """PCA and NMF of the patterns inside a mask (see :func:`pca_nmf`)."""

    variables: dict[str, xr.DataArray]
    n_pixels: int


def pca_nmf(
    ds: xr.Dataset,
    *,
    var: str = "patterns",
    mask: str | xr.DataArray | None = "roi",
    n_components: int = 8,
    methods: Sequence[str] = ("pca", "nmf"),
    dims: tuple[str, str] = ("y", "x"),
    component_dim: str = "component",
    seed: int = 0,
    max_fit: int = MAX_FIT,
    store: object = "the store",
) -> Decomposition:
    """PCA (randomised SVD) and NMF of ``var`` inside ``mask``, fitted on a sample, applied per chunk.

    Parameters
    ----------
    ds
        The store's dataset.
    var
        ``(y, x, *feature_dims)`` variable; each pixel's features are flattened.
    mask
        Mask name, bool DataArray or None (all pixels).
    n_components
        Components of each decomposition (one ``component`` dim shared by both).
    methods
        Subset of ``("pca", "nmf")``.
    dims
        The map dims.
    seed, max_fit
        PCA and NMF are fitted on a seeded sample of at most ``max_fit`` pixels.

    Returns
    -------
    Decomposition
        ``variables``: ``pca``/``nmf`` ``(y, x, component)`` (NaN outside the mask),
        ``{method}_components(component, *feature_dims)``, ``pca_explained_variance(component)``.
    """

    unknown = set(methods) - {"pca", "nmf"}
    if unknown:
        raise InputError(None, f"unknown decomposition(s) {sorted(unknown)}; choose pca and/or nmf")
    px = MaskedPixels(ds, var, mask, dims=dims, store=store)
    n = px.n
    if n <= n_components:
        raise InputError(None, f"the mask has {n} pixels, too few for {n_components} components")
    comp = np.arange(n_components)
    out: dict[str, xr.DataArray] = {}

    def to_map(scores_of_block) -> xr.DataArray:
        return px.project(scores_of_block, n_components, component_dim=component_dim).scores

    def comps(matrix: np.ndarray) -> xr.DataArray:
        return px.components(matrix, component_dim)

    # PCA and NMF are fitted on the same seeded sample of at most max_fit pixels (all of them
    # when the mask has fewer), read chunk by chunk; every pixel is then projected chunk by
    # chunk, so memory is bounded by the sample and one chunk
    sample_x = px.sample(max_fit, seed).x if methods else None
    if "pca" in methods:
        pca = PCA(n_components, svd_solver="randomized", random_state=seed).fit(sample_x)
        out["pca"] = to_map(lambda rows_x: pca.transform(rows_x).astype(np.float32))
        out["pca_components"] = comps(pca.components_)
        out["pca_explained_variance"] = xr.DataArray(pca.explained_variance_ratio_.astype(np.float64),
                                                     dims=(component_dim,), coords={component_dim: comp})
    if "nmf" in methods:
        if sample_x.min() < 0:
            raise InputError(None, f"NMF needs non-negative '{var}' values")

        nmf = NMF(n_components, init="nndsvda", random_state=seed, max_iter=200, tol=1e-3)
        # the fit and each chunk's transform may stop at max_iter: said once, not per chunk
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            nmf.fit(sample_x)
            out["nmf"] = to_map(lambda rows_x: nmf.transform(rows_x).astype(np.float32))
        out["nmf_components"] = comps(nmf.components_)
        stopped = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if stopped:
            warnings.warn(f"NMF of '{var}' stopped at {nmf.max_iter} iterations before its tolerance "
                          f"({nmf.tol:g}) in {stopped} of its fit/transform calls; the components are "
                          "kept as they are (a reference, not a converged factorisation)", VaearrWarning, stacklevel=2)
    return Decomposition(variables=out, n_pixels=n)


def write_references(
    store: str | os.PathLike,
    *,
    var: str = "patterns",
    mask: str | None = "auto",
    n_components: int = 8,
    methods: Sequence[str] = ("pca", "nmf"),
    k_range: tuple[int, int] = (2, 8),
    criterion: str = "bic",
    seed: int = 0,
    max_fit: int = MAX_FIT,
    overwrite: bool = False,
) -> dict:
    """Compute :func:`pca_nmf` and a mixture partition of each (auto-k), and write them to the store.

    Writes ``pca``, ``pca_components``, ``pca_explained_variance``, ``pca_gmm``, ``nmf``,
    ``nmf_components``, ``nmf_gmm`` (those of ``methods``) in one transaction.

    Returns
    -------
    dict
        ``variables`` written, ``n_pixels``, and per partition its ``k`` and criterion ``scores``.
    """

    ds = open_store(store)
    names = [n for m in methods for n in (m, f"{m}_components", f"{m}_gmm")] + (
        ["pca_explained_variance"] if "pca" in methods else [])
    refuse_inputs(ds, names, store)  # before any work: a refusal should be quick
    for name in names:
        if name in ds and not overwrite:
            raise StoreError(store, f"variable '{name}' exists; pass `overwrite=True` to replace it")
    mask = auto_mask(ds.data_vars, mask)
    dec = pca_nmf(ds, var=var, mask=mask, n_components=n_components, methods=methods, seed=seed, max_fit=max_fit,
                  store=store)
    variables = dict(dec.variables)
    m = np.asarray(mask_array(ds, mask, ("y", "x"), store).values, bool)
    info: dict = {"n_pixels": dec.n_pixels, "partitions": {}}
    for method in methods:
        scores = np.asarray(variables[method].values)[m]
        part = gmm_partition(scores, k_range, criterion=criterion, seed=seed, max_fit=max_fit)
        labels = np.full(m.shape, -2, np.int64)
        labels[m] = part.labels
        variables[f"{method}_gmm"] = xr.DataArray(labels, dims=("y", "x"), coords={d: ds[d] for d in ("y", "x")},
                                                  attrs={"k": part.k, "criterion": criterion})
        info["partitions"][f"{method}_gmm"] = {"k": part.k, "scores": part.scores}
    map_vars = {k: v for k, v in variables.items() if "y" in v.dims}
    other = {k: v for k, v in variables.items() if "y" not in v.dims}
    config = {"var": var, "n_components": n_components, "methods": list(methods), "k_range": list(k_range),
              "criterion": criterion, "seed": seed}
    write_variables(store, map_vars, mask=None if mask is None else ds[mask].load(), source=[var], config=config, overwrite=overwrite)
    write_variables(store, other, source=[var], config=config, overwrite=overwrite)
    info["variables"] = list(variables)
    return info


def reference_maps(
    ds: xr.Dataset,
    against: Sequence[str],
    *,
    element_dim: str = "element",
    component_dim: str = "component",
    composite_weights: dict[str, float] | None = None,
    mask: xr.DataArray | None = None,
    store: object = "the store",
) -> xr.DataArray:
    """Stack the maps named in ``against`` into ``(reference, y, x)``.

    ``elements`` gives one map per element (normalised to [0, 1] in ``mask``) plus their
    equal-weight (or ``composite_weights``) sum ``elements_sum``; a ``(y, x)`` variable
    (``bandcontrast``) gives itself; a ``(y, x, component)`` variable (``pca``, ``nmf``) gives
    ``pca_0``, ``pca_1``...; a ``(y, x, rgb)`` IPF map (``orientation_ipf``) gives
    ``orientation_ipf_r``, ``_g``, ``_b``; a name with no variable of its own but a ``{name}_weights``
    (written by ``vaearr decompose``, e.g. ``cnmf``) gives that decomposition's weight maps.

    Examples
    --------
    >>> ds = xr.Dataset({"bc": (("y", "x"), np.ones((2, 2)))})
    >>> reference_maps(ds, ["bc"])["reference"].values.tolist()
    ['bc']
    """

    maps, names = [], []
    for name in against:
        weights = f"{name}_weights"
        if name not in ds and weights in ds:  # a decomposition from 'vaearr decompose'
            da = ds[weights]
            other = [d for d in da.dims if d not in ("y", "x")]
            if set(da.dims) - set(other) != {"y", "x"} or len(other) != 1:
                raise StoreError(store, f"'{weights}' has dims {da.dims}; a decomposition is (y, x, component)")
            for i in range(da.sizes[other[0]]):
                maps.append(da.isel({other[0]: i}).transpose("y", "x").values)
                names.append(f"{name}_{i}")
            continue
        if name not in ds:
            hint = (f"; run 'vaearr decompose STORE --method {name}' first" if name in ("pca", "nmf", "cnmf")
                    else "")
            near = "" if hint else did_you_mean(name, ds.data_vars)
            raise StoreError(store, f"no variable '{name}' or '{weights}' to compare against{hint}" +
                                    (f"; {near}" if near else f" (its variables: {', '.join(sorted(map(str, ds.data_vars)))})"))
        da = ds[name]
        if element_dim in da.dims:
            lo = da.where(mask).min(("y", "x")) if mask is not None else da.min(("y", "x"))
            hi = da.where(mask).max(("y", "x")) if mask is not None else da.max(("y", "x"))
            norm = (da - lo) / (hi - lo).where(hi > lo, 1.0)
            for i, el in enumerate(da[element_dim].values if element_dim in da.coords else range(da.sizes[element_dim])):
                maps.append(norm.isel({element_dim: i}).transpose("y", "x").values)
                names.append(str(el))
            comp = element_composite(da, weights=composite_weights, mask=mask, dim=element_dim)
            maps.append(comp.transpose("y", "x").values)
            names.append(f"{name}_sum")
        elif set(da.dims) == {"y", "x"}:
            maps.append(da.transpose("y", "x").values)
            names.append(name)
        elif component_dim in da.dims and set(da.dims) == {"y", "x", component_dim}:
            for i in range(da.sizes[component_dim]):
                maps.append(da.isel({component_dim: i}).transpose("y", "x").values)
                names.append(f"{name}_{i}")
        elif set(da.dims) == {"y", "x", RGB}:  # an IPF map (orientation_ipf): one reference per colour
            labels = da[RGB].values if RGB in da.coords else range(da.sizes[RGB])
            for i, c in enumerate(labels):
                maps.append(da.isel({RGB: i}).transpose("y", "x").values)
                names.append(f"{name}_{c}")
        else:
            raise StoreError(store, f"'{name}' has dims {da.dims}; a reference is (y, x), "
                                    f"({element_dim}, y, x), (y, x, {component_dim}) or (y, x, {RGB})")
    return xr.DataArray(np.stack([np.asarray(v, dtype=np.float64) for v in maps]), dims=("reference", "y", "x"),
                        coords={"reference": names, "y": ds["y"].values, "x": ds["x"].values}, name="references")
