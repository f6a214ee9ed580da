"""Decompositions as references: PCA, NMF and constrained NMF (cNMF) of the patterns inside a mask.

:func:`decompose` fits one method on a seeded sample of at most ``max_fit`` masked pixels and
projects every masked pixel chunk by chunk (:class:`~vaearr.maps.decomposition.masked.MaskedPixels`);
:func:`write_decomposition` writes ``{name}_weights(y, x, {name}_component)`` (NaN outside the
mask) and ``{name}_components({name}_component, *feature_dims)`` in one transaction. Each
decomposition has its own component dim, so decompositions with different numbers of
components live in one store.

cNMF (Chauniyal, Thome & Stricker, Microsc. Microanal. 2024) fixes components to the patterns
at reference pixels (:mod:`vaearr.maps.decomposition.cnmf`) and may add free ones. NMF and cNMF need
non-negative patterns: raw intensities are used when their minimum over the mask is ≥ 0, else
every value is shifted by −minimum (the ``shift`` attr says which).

Automatic choices, each written to the attrs with the values that made it:

* ``components="auto"`` (pca, nmf; cnmf with automatic references): the **elbow of the PCA
  scree** — PCA of the sample with up to ``max_components`` components; the number kept is the
  0-based position of the log10 explained-variance ratio farthest below the chord from the first to
  the last ratio (the first point of the flat tail), at least 1.
* ``references="auto"`` (cnmf): a Gaussian mixture of the sample's PCA scores (the elbow's
  components, at least 2) — k components given, or k chosen by the **lowest BIC** over
  ``k_range`` when ``components="auto"`` — and one medoid per cluster: the sample pixel of the
  cluster nearest the cluster's mean score.
* cnmf with given references and ``components="auto"``: one component per reference, no free ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from sklearn.decomposition import PCA

from vaearr.errors import InputError, StoreError
from vaearr.maps.decomposition.decomposition_methods import DECOMPOSITIONS, Fit
from vaearr.maps.decomposition.masked import MaskedPixels, Sample
from vaearr.maps.options import DecomposeOptions, parse_components
from vaearr.store import check_name, open_store, refuse_inputs, write_variables
from vaearr.store.schema import auto_mask

#: The decomposition methods' names (:data:`~vaearr.maps.decomposition.decomposition_methods.DECOMPOSITIONS`).
METHODS = DECOMPOSITIONS.names()


def elbow(values: Sequence[float]) -> tuple[int, list[float]]:
    """The scree elbow: 0-based position of the log10 value farthest below the first-to-last chord (≥ 1).

    On a log scale a noise floor is flat, so the elbow is where the signal drops into it.

    Returns the number of components and each point's distance below the chord (normalised axes).

    Examples
    --------
    >>> elbow([0.6, 0.3, 0.09, 0.001, 0.0009, 0.0009, 0.0008])[0]
    3
    """
    v = np.log10(np.maximum(np.asarray(values, dtype=np.float64), 1e-300))
    if v.size < 3 or v[0] == v[-1]:
        return 1, [0.0] * int(v.size)
    t = np.linspace(0.0, 1.0, v.size)
    y = (v - v[-1]) / (v[0] - v[-1])
    d = (1.0 - t - y) / np.sqrt(2.0)
    return max(1, int(np.argmax(d))), [float(a) for a in d]


@dataclass
class DecomposeResult:
    """What :func:`decompose` made: ``weights``, ``components`` and the ``attrs`` both carry."""

    name: str
    method: str
    weights: xr.DataArray
    components: xr.DataArray
    attrs: dict = field(default_factory=dict)

    @property
    def variables(self) -> dict[str, xr.DataArray]:
        return {f"{self.name}_weights": self.weights, f"{self.name}_components": self.components}

    def summary(self) -> str:
        a = self.attrs
        method = DECOMPOSITIONS[self.method]()
        lines = [method.headline(self.method, a)]
        if a.get("components_auto"):
            lines.append(f"  components auto: {a['components_rule']}")
            if "explained_variance_ratio_scree" in a:
                lines.append("    scree (explained variance ratio): " + ", ".join(f"{v:.4g}" for v in a["explained_variance_ratio_scree"]))
                lines.append("    distance below the chord: " + ", ".join(f"{v:.3f}" for v in a["elbow_distance"]))
            if "bic" in a:
                lines.append("    BIC by k: " + ", ".join(f"{k}: {v:.1f}" for k, v in zip(a["bic_k"], a["bic"])))
        lines += method.summary_lines(a)
        if "explained_variance_ratio" in a:
            lines.append(f"  explained variance ratio: {sum(a['explained_variance_ratio']):.4f} in all")
        lines.append(f"  relative reconstruction error: {a['reconstruction_error']:.4g}; {a['nonnegative']}")
        lines.append(f"  variables: {', '.join(self.variables)}")
        return "\n".join(lines)


def _scree(sample: Sample, max_components: int, seed: int) -> tuple[PCA, int, list[float]]:
    k = max(1, min(max_components, sample.x.shape[0] - 1, sample.x.shape[1]))
    pca = PCA(k, svd_solver="randomized", random_state=seed).fit(sample.x)
    n, dist = elbow(pca.explained_variance_ratio_)
    return pca, n, dist


def _check_references(px: MaskedPixels, refs: Sequence[tuple[int, int]], mask_name: str) -> None:
    ny, nx = px.mask.shape
    seen = set()
    for y, x in refs:
        if not (0 <= y < ny and 0 <= x < nx):
            raise InputError(None, f"reference pixel {y},{x} is outside the {ny}×{nx} map (rows 0..{ny - 1}, "
                                   f"columns 0..{nx - 1})")
        if not px.mask[y, x]:
            raise InputError(None, f"reference pixel {y},{x} is outside the mask '{mask_name}'")
        if (y, x) in seen:
            raise InputError(None, f"reference pixel {y},{x} is given twice")
        seen.add((y, x))


def decompose(ds: xr.Dataset, options: DecomposeOptions | None = None, /, *, dims: tuple[str, str] = ("y", "x"),
              **fields: Any) -> DecomposeResult:
    """PCA, NMF or cNMF of ``var`` inside ``mask``; see the module docstring for the automatic rules.

    Parameters
    ----------
    ds
        The store's dataset.
    options, **fields
        A :class:`~vaearr.maps.options.DecomposeOptions`, or its fields (``store`` names the store
        in messages):

    method
        A name in :data:`~vaearr.maps.decomposition.decomposition_methods.DECOMPOSITIONS`: ``"pca"``, ``"nmf"`` or ``"cnmf"``.
    components
        Number of components, or ``"auto"``. For cnmf the total: fixed (one per reference) plus free.
    references
        cnmf only: ``[(row, col), ...]`` pixel indices, or ``"auto"`` (default for cnmf).
    name
        Variable prefix (default: the method).
    dims
        The map's dims.

    Raises
    ------
    InputError
        Unknown method, references for pca/nmf, a reference pixel outside the map or the mask
        (or given twice), fewer references than components allow, more components than pixels.
    StoreError
        No ``var`` or mask in the store.
    """
    if options is not None and fields:
        raise TypeError("give a DecomposeOptions or its fields, not both")
    o = options if options is not None else DecomposeOptions(**{"store": "the store", **fields})
    method, var, mask, references, seed, store = o.method, o.var, o.mask, o.references, o.seed, o.store
    if method not in DECOMPOSITIONS:
        raise InputError(None, f"unknown method '{method}'; choose {', '.join(METHODS[:-1])} or {METHODS[-1]}")
    how = DECOMPOSITIONS[method]()
    given = references not in (None, "auto")  # reference pixels given, not chosen
    if given and not how.takes_references:
        raise InputError(None, f"`references` is for {', '.join(m for m in METHODS if DECOMPOSITIONS[m].takes_references)}, "
                               f"not {method}")
    components = parse_components(o.components)
    auto_n = isinstance(components, str)
    o.check()
    name = o.name or method
    cdim = f"{name}_component"
    mask = auto_mask(ds.data_vars, mask) if isinstance(mask, str) else mask
    mask_name = mask if isinstance(mask, str) else "none"
    px = MaskedPixels(ds, var, mask, dims=dims, store=store)
    if given:
        _check_references(px, references, mask_name)
        if not auto_n and int(components) < len(references):
            raise InputError(None, f"{components} components is fewer than the {len(references)} references given")
    if not auto_n and int(components) > px.n:
        raise InputError(None, f"{components} components is more than the {px.n} pixels in mask '{mask_name}'")
    if px.n < 2:
        raise InputError(None, f"mask '{mask_name}' has {px.n} pixel(s); a decomposition needs at least 2")

    sample = px.sample(o.max_fit, seed)
    attrs: dict = {"method": method, "var": var, "in_mask": mask_name, "n_pixels": px.n, "n_fit": int(sample.x.shape[0]),
                   "seed": seed, "components_auto": bool(auto_n)}
    n = None if auto_n else int(components)
    scree = None
    if auto_n and not given:
        scree, n, dist = _scree(sample, o.max_components, seed)
        attrs.update(components_rule=f"elbow of the log10 PCA scree (up to {scree.n_components_} components): "
                                     f"{n} components",
                     explained_variance_ratio_scree=[float(v) for v in scree.explained_variance_ratio_],
                     elbow_distance=dist)
    shift = 0.0
    if how.nonnegative:
        shift = 0.0 if sample.minimum >= 0 else -float(sample.minimum)
        attrs["shift"] = shift
        attrs["nonnegative"] = ("raw intensities (minimum over the mask ≥ 0, no shift)" if shift == 0 else
                                f"intensities shifted by {shift:g} (minus their minimum over the mask) to be non-negative")
    else:
        attrs["nonnegative"] = how.intensities
    shift32 = np.float32(shift)
    fit = Fit(px=px, sample=sample, x_fit=sample.x + shift32 if shift else sample.x, n=n, scree=scree, attrs=attrs,
              references=references, k_range=o.k_range, seed=seed, component_dim=cdim, var=var,
              transform=(lambda x: x + shift32) if shift else None)
    comps, proj, n = how.fit(fit)
    attrs["n_components"] = int(n)
    attrs["reconstruction_error"] = float(proj.relative_error)
    attrs["reconstruction_error_kind"] = "relative Frobenius ‖X − X̂‖/‖X‖ over every pixel of the mask"
    how.finish(attrs)
    weights = proj.scores.assign_attrs(attrs)
    comp_da = px.components(comps, cdim).assign_attrs(attrs)
    return DecomposeResult(name=name, method=method, weights=weights, components=comp_da, attrs=attrs)


def write_decomposition(store: str | os.PathLike, options: DecomposeOptions | None = None, /,
                        **fields: Any) -> DecomposeResult:
    """:func:`decompose` and write ``{name}_weights`` and ``{name}_components`` in one transaction.

    ``options`` (a :class:`~vaearr.maps.options.DecomposeOptions`) or its fields (``store`` aside)
    say what to do. Everything is checked (names, reference pixels, component count) before any
    work, and the store is written only at the end, so bad input leaves it as it was.
    """
    if options is not None and fields:
        raise TypeError("give a DecomposeOptions or its fields, not both")
    o = options if options is not None else DecomposeOptions(store=os.fspath(store), **fields)
    references, components = o.references, parse_components(o.components)
    if references is None and o.method in DECOMPOSITIONS and DECOMPOSITIONS[o.method].takes_references:
        references = "auto"  # recorded as the choice made
    name = check_name(o.name or o.method, "variable prefix (`name`)")
    ds = open_store(store)
    refuse_inputs(ds, [f"{name}_weights", f"{name}_components"], store)
    for v in (f"{name}_weights", f"{name}_components"):
        if v in ds and not o.overwrite:
            raise StoreError(store, f"variable '{v}' exists; pass `overwrite=True` to replace it")
    o = dataclasses.replace(o, store=store, name=name, references=references, components=components)
    result = decompose(ds, o)
    config = {"method": o.method, "var": o.var, "mask": result.attrs["in_mask"], "components": components,
              "references": references if isinstance(references, (str, type(None))) else [list(r) for r in references],
              "k_range": list(o.k_range), "max_components": o.max_components, "seed": o.seed, "max_fit": o.max_fit}
    # the weights are NaN outside the mask already (projected on the mask's pixels only); one
    # transaction for both variables, the mask named in the attrs
    write_variables(store, result.variables, source=[o.var], config=config, overwrite=o.overwrite)
    return result
