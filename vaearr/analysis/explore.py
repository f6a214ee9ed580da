"""Latent-space exploration of a trained run: prior samples, interpolation, prototypes, traversals, manifolds, embeddings.

The library functions work on plain arrays (latents ``(N, latent_dim)``, images
``(N, C, H, W)``) and a model with ``encode``/``decode``; :func:`explore` wires them to a store
and a run folder and writes every figure (HTML + PNG, see :func:`vaearr.plots.save_figure`),
table (CSV) and a ``summary.json`` into one folder. Images are drawn as one mosaic per figure
(one Bokeh/Matplotlib image, not hundreds of small plots), so a figure stays small and fast.

Conventions
-----------
* Latent dims are numbered from 0 and named ``latent_dim`` (as :func:`vaearr.encode.encode` writes).
* A 2D manifold is Cartesian: the first chosen dim grows to the right, the second **upward**
  (the top row of the grid holds the largest value).
* Sampling in an embedding is by nearest neighbour among the encoded samples, so every decoded
  image comes from a real latent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from vaearr.errors import InputError, VaearrError, require

#: Embedding methods :func:`embed` knows.
EMBEDDINGS = ("pca", "tsne", "umap")
#: Parts :func:`explore` can write, in the order it writes them.
PARTS = ("quality", "prior", "interpolation", "stats", "activations", "prototypes", "traversal", "manifold",
         "pairwise", "embeddings")


# --------------------------------------------------------------------------------------------
# a run and its samples


@dataclass
class LoadedRun:
    """A trained run, ready to encode and decode.

    Attributes
    ----------
    path
        The run folder.
    checkpoint
        The model folder that was loaded (``best/`` or a checkpoint).
    model
        The model, in eval mode.
    train
        The run's :class:`~vaearr.train.TrainConfig`.
    sample_dims, feature_dims, mask
        As the run was trained (from its ``config.json``).
    """

    path: Path
    checkpoint: Path
    model: Any
    train: Any
    sample_dims: tuple[str, ...]
    feature_dims: tuple[str, ...]
    mask: str | None

    @property
    def data_range(self) -> tuple[float, float]:
        """Range the network's inputs were scaled to (standardised runs: the 1st–99th percentile is used instead)."""
        return (-1.0, 1.0) if self.train.scale == "[-1,1]" else (0.0, 1.0)

    @property
    def vector_latent(self) -> bool:
        """Whether the latent is one vector per sample (conv-vae) rather than a spatial map."""
        return len(self.model.latent_shape) == 1


def load_run(run: str | os.PathLike, checkpoint: str = "best", device: str = "cpu") -> LoadedRun:
    """Load a run folder written by :func:`vaearr.train.fit`.

    Parameters
    ----------
    run
        The run folder (has ``config.json``).
    checkpoint
        ``"best"``, ``"latest"`` or a checkpoint folder (see :func:`vaearr.encode.run_checkpoint`).
    device
        Where the model goes.
    """
    from vaearr.encode import run_checkpoint
    from vaearr.models import load_model
    from vaearr.train import TrainConfig

    run = Path(run)
    ckpt = run_checkpoint(run, checkpoint)
    saved = json.loads((run / "config.json").read_text())
    model = load_model(ckpt, map_location=device).eval()
    return LoadedRun(path=run, checkpoint=ckpt, model=model, train=TrainConfig.from_dict(saved["train"]),
                     sample_dims=tuple(saved["sample_dims"]), feature_dims=tuple(saved["feature_dims"]),
                     mask=saved.get("mask"))


@dataclass
class Encoded:
    """Samples of a store pushed through a run's encoder.

    Attributes
    ----------
    index
        (N,) flat sample indices (C order over the run's sample dims), ascending.
    mu, logvar
        (N, *latent_shape) posterior parameters, float32.
    x
        (N, *input_shape) the network's inputs (after the run's scaling), or None.
    labels
        (N,) label per sample, or None.
    label_name
        Name of the label variable/coordinate, or None.
    positions
        Sample dim → (N,) positional index along it.
    """

    index: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray
    x: np.ndarray | None = None
    labels: np.ndarray | None = None
    label_name: str | None = None
    positions: dict[str, np.ndarray] = field(default_factory=dict)


def _label_values(ds: xr.Dataset, label: str | None, sample_dims: Sequence[str], store: Any) -> np.ndarray | None:
    """The label of every sample on the flat grid, or None (``label="auto"``: ``label`` when present)."""
    if label is None:
        return None
    if label == "auto":
        if "label" not in ds.variables:
            return None
        label = "label"
    if label not in ds.variables:
        raise InputError(store, f"no variable or coordinate '{label}' to label samples with")
    da = ds[label]
    if set(da.dims) != set(sample_dims):
        raise InputError(store, f"'{label}' has dims {da.dims}; labels must lie over the sample dims {tuple(sample_dims)}")
    return np.asarray(da.transpose(*sample_dims).values).reshape(-1)


def _resolve_label(ds: xr.Dataset, label: str | None) -> str | None:
    if label == "auto":
        return "label" if "label" in ds.variables else None
    return label


def encode_samples(
    store: str | os.PathLike,
    run: str | os.PathLike | LoadedRun,
    *,
    n: int | None = None,
    seed: int = 0,
    label: str | None = "auto",
    keep_inputs: bool = True,
    batch_size: int = 256,
    device: str = "cpu",
    checkpoint: str = "best",
) -> tuple[LoadedRun, Encoded]:
    """Encode (a seeded random subset of) the samples a run was trained on.

    The samples are read chunk by chunk with the run's own evaluation transforms (scaling,
    crop, resize, background), inside the run's mask.

    Parameters
    ----------
    store
        The store the run was trained on (or one with the same variable and dims).
    run
        Run folder or a :class:`LoadedRun`.
    n
        Number of samples; None = all inside the mask. The subset depends only on ``seed``.
    seed
        Seeds the subset.
    label
        Variable or coordinate over the sample dims that labels samples (``"auto"``: ``label``
        when the store has it; None: no labels).
    keep_inputs
        Keep the network inputs (for reconstructions and quality metrics).
    batch_size, device, checkpoint
        Encoding settings.

    Returns
    -------
    tuple
        The :class:`LoadedRun` and the :class:`Encoded` samples.
    """
    import torch

    from vaearr import batches as B
    from vaearr.encode import _eval_transforms
    from vaearr.store import open_store

    lr = run if isinstance(run, LoadedRun) else load_run(run, checkpoint=checkpoint, device=device)
    ds = open_store(store)
    var = lr.train.var
    if var not in ds:
        raise InputError(store, f"no variable '{var}' (the run {lr.path} was trained on it)")
    if lr.mask is not None and lr.mask not in ds:
        raise InputError(store, f"no mask '{lr.mask}' (the run {lr.path} was trained inside it)")
    labels_all = _label_values(ds, label, lr.sample_dims, store)
    grid = tuple(int(ds.sizes[d]) for d in lr.sample_dims)
    inside = (np.flatnonzero(np.asarray(ds[lr.mask].transpose(*lr.sample_dims).values).reshape(-1))
              if lr.mask is not None else np.arange(int(np.prod(grid))))
    if n is not None and n < inside.size:
        chosen = np.sort(np.random.default_rng(seed).choice(inside, size=n, replace=False))
    else:
        chosen = inside
    loader = B.ZarrBatches(
        store, var=var, sample_dims=lr.sample_dims, feature_dims=lr.feature_dims, mask=lr.mask,
        batch_size=batch_size, shuffle=False, split="all", return_index=True,
        transforms=tuple(_eval_transforms(ds, lr.train, lr.sample_dims, lr.mask, store)),
    )
    want = np.zeros(int(np.prod(grid)), bool)
    want[chosen] = True
    idx_parts, mu_parts, lv_parts, x_parts = [], [], [], []
    model = lr.model
    dev = next(model.parameters()).device
    with torch.no_grad():
        for x, idx in loader:
            idx = idx.numpy()
            keep = want[idx]
            if not keep.any():
                continue  # chunks without chosen samples are read but never encoded
            x = x[torch.from_numpy(keep)]
            mu, lv = model.encode(x.to(dev))
            idx_parts.append(idx[keep])
            mu_parts.append(mu.float().cpu().numpy())
            lv_parts.append(lv.float().cpu().numpy())
            if keep_inputs:
                x_parts.append(x.float().numpy())
    loader.close()
    index = np.concatenate(idx_parts)
    order = np.argsort(index, kind="stable")
    enc = Encoded(
        index=index[order],
        mu=np.concatenate(mu_parts)[order],
        logvar=np.concatenate(lv_parts)[order],
        x=np.concatenate(x_parts)[order] if keep_inputs else None,
        labels=None if labels_all is None else labels_all[index[order]],
        label_name=_resolve_label(ds, label),
    )
    enc.positions = dict(zip(lr.sample_dims, np.unravel_index(enc.index, grid), strict=True))
    return lr, enc


# --------------------------------------------------------------------------------------------
# decoding, generation and interpolation


def decode(model: Any, z: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Decode latents ``z`` (N, *latent_shape) to data space: (N, *input_shape), float32, no gradients."""
    import torch

    param = next(model.parameters())
    z = np.asarray(z, dtype=np.float32)
    out = []
    with torch.no_grad():
        for start in range(0, len(z), batch_size):
            t = torch.from_numpy(z[start:start + batch_size]).to(param.device, param.dtype)
            out.append(model.decode(t).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, *model.config.input_shape), np.float32)


def reconstruct(model: Any, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Reconstructions of inputs ``x`` (N, *input_shape) through the posterior mean."""
    import torch

    param = next(model.parameters())
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            t = torch.as_tensor(np.asarray(x[start:start + batch_size], np.float32)).to(param.device, param.dtype)
            mu, _ = model.encode(t)
            out.append(model.decode(mu).float().cpu().numpy())
    return np.concatenate(out)


def prior_samples(model: Any, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` latents from the prior N(0, I) and decode them.

    Returns
    -------
    tuple of numpy.ndarray
        ``z`` (n, *latent_shape) and the images (n, *input_shape). The same seed gives the same draws.
    """
    z = np.random.default_rng(seed).standard_normal((n, *model.latent_shape)).astype(np.float32)
    return z, decode(model, z)


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation between two latents (flattened), falling back to linear when they are parallel.

    Parameters
    ----------
    z0, z1
        Latents of the same shape.
    t
        Fractions in [0, 1]; 0 gives ``z0``, 1 gives ``z1``.

    Returns
    -------
    numpy.ndarray
        (len(t), *z0.shape).

    Examples
    --------
    >>> z = slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), [0.0, 0.5, 1.0])
    >>> np.round(z, 4).tolist()
    [[1.0, 0.0], [0.7071, 0.7071], [0.0, 1.0]]
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.atleast_1d(np.asarray(t, np.float64))
    a, b = z0.ravel(), z1.ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return linear_interpolation(z0, z1, t)
    omega = np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: the great circle is not defined, lerp is the limit
        return linear_interpolation(z0, z1, t)
    w0 = np.sin((1 - t) * omega) / np.sin(omega)
    w1 = np.sin(t * omega) / np.sin(omega)
    return (w0[:, None] * a + w1[:, None] * b).reshape(len(t), *z0.shape)


def linear_interpolation(z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """``(1 - t) z0 + t z1`` for each fraction ``t``: (len(t), *z0.shape)."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.atleast_1d(np.asarray(t, np.float64)).reshape(-1, *([1] * z0.ndim))
    return (1 - t) * z0 + t * z1


def interpolate(model: Any, z0: np.ndarray, z1: np.ndarray, *, steps: int = 8,
                method: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Decode ``steps`` latents between ``z0`` and ``z1`` (both ends included).

    Parameters
    ----------
    method
        ``"linear"`` or ``"slerp"`` (spherical: keeps the norm typical of Gaussian latents).

    Returns
    -------
    tuple of numpy.ndarray
        The latents (steps, *latent_shape) and their images (steps, *input_shape).
    """
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    t = np.linspace(0.0, 1.0, steps)
    z = (slerp if method == "slerp" else linear_interpolation)(z0, z1, t).astype(np.float32)
    return z, decode(model, z)


def latent_stats(mu: np.ndarray, logvar: np.ndarray, *, active_threshold: float = 0.01) -> pd.DataFrame:
    """Per-dim statistics of encoded samples.

    Parameters
    ----------
    mu, logvar
        (N, latent_dim) posterior parameters.
    active_threshold
        A dim is *active* when the variance of its posterior mean over the samples exceeds
        this (Burda et al., 2016: 0.01).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``latent_dim``: ``mean`` and ``std`` of mu over the samples, ``kl`` (mean
        over samples of the dim's KL from N(0, 1), nats), ``mean_var`` (mean posterior
        variance), ``activity`` (variance of mu), ``active`` (bool). ``attrs["active_units"]``
        counts the active dims; ``attrs["kl_total"]`` sums ``kl``.

    Examples
    --------
    >>> mu = np.array([[1.0, 0.0], [-1.0, 0.0]]); lv = np.zeros((2, 2))
    >>> s = latent_stats(mu, lv)
    >>> s["kl"].tolist(), s["active"].tolist(), s.attrs["active_units"]
    ([0.5, 0.0], [True, False], 1)
    """
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must both be (N, latent_dim), got {mu.shape} and {logvar.shape}")
    kl = 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)
    activity = mu.var(axis=0)
    df = pd.DataFrame({
        "mean": mu.mean(axis=0), "std": mu.std(axis=0), "kl": kl.mean(axis=0),
        "mean_var": np.exp(logvar).mean(axis=0), "activity": activity, "active": activity > active_threshold,
    }, index=pd.RangeIndex(mu.shape[1], name="latent_dim"))
    df.attrs["active_units"] = int(df["active"].sum())
    df.attrs["kl_total"] = float(df["kl"].sum())
    df.attrs["active_threshold"] = active_threshold
    return df


# --------------------------------------------------------------------------------------------
# activations and prototypes


def dim_names(n: int) -> list[str]:
    """Column names of latent dims: ``z0, z1, ...``."""
    return [f"z{i}" for i in range(n)]


def activations(mu: np.ndarray, labels: np.ndarray | None = None, *, sample: np.ndarray | None = None) -> pd.DataFrame:
    """Latents as a table: one row per sample, columns ``sample``, ``label`` (if given), ``z0..``.

    Examples
    --------
    >>> activations(np.eye(2), np.array(["a", "b"])).columns.tolist()
    ['sample', 'label', 'z0', 'z1']
    """
    mu = np.asarray(mu)
    table = pd.DataFrame({"sample": np.arange(len(mu)) if sample is None else np.asarray(sample)})
    if labels is not None:
        table["label"] = np.asarray(labels)
    for name, col in zip(dim_names(mu.shape[1]), mu.T, strict=True):
        table[name] = col
    return table


def describe(table: pd.DataFrame) -> pd.DataFrame:
    """Summary of an :func:`activations` table: one row per latent dim (count, mean, std, min, quartiles, max)."""
    cols = [c for c in table.columns if c.startswith("z") and c[1:].isdigit()]
    return table[cols].describe().T.rename_axis("latent_dim")


def prototypes(mu: np.ndarray, labels: np.ndarray) -> xr.DataArray:
    """Class prototypes: the mean latent of each label.

    Returns
    -------
    xarray.DataArray
        ``(label, latent_dim)``, labels sorted; attr ``count`` lists the samples per label.

    Examples
    --------
    >>> p = prototypes(np.array([[0.0, 2.0], [2.0, 4.0], [5.0, 5.0]]), np.array([1, 1, 0]))
    >>> p.sel(label=1).values.tolist(), p.attrs["count"]
    ([1.0, 3.0], [1, 2])
    """
    mu, labels = np.asarray(mu, np.float64), np.asarray(labels)
    if labels.shape[0] != mu.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {mu.shape[0]} latents")
    uniq = np.unique(labels)
    means = np.stack([mu[labels == u].mean(axis=0) for u in uniq])
    return xr.DataArray(means.astype(np.float32), dims=("label", "latent_dim"),
                        coords={"label": uniq, "latent_dim": np.arange(mu.shape[1])}, name="prototype",
                        attrs={"count": [int((labels == u).sum()) for u in uniq]})


# --------------------------------------------------------------------------------------------
# traversals and manifolds


def traversal(model: Any, base: np.ndarray, dims: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """Sweep each of ``dims`` over ``values`` from ``base`` with the other dims fixed, and decode.

    Returns
    -------
    numpy.ndarray
        (len(dims), len(values), *input_shape): row ``r`` varies ``dims[r]``.
    """
    base = np.asarray(base, np.float32).ravel()
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < base.size]
    if bad:
        raise ValueError(f"latent dims {bad} out of range 0..{base.size - 1}")
    values = np.asarray(values, np.float32)
    z = np.repeat(base[None, None], len(dims), 0).repeat(len(values), 1)  # (R, V, D)
    for r, d in enumerate(dims):
        z[r, :, d] = values
    images = decode(model, z.reshape(-1, base.size))
    return images.reshape(len(dims), len(values), *images.shape[1:])


def manifold(model: Any, base: np.ndarray, dims: tuple[int, int], x_values: Sequence[float],
             y_values: Sequence[float]) -> np.ndarray:
    """Decode a grid over two latent dims, laid out Cartesian: x to the right, y upward.

    Parameters
    ----------
    base
        (latent_dim,) values of the other dims.
    dims
        ``(i, j)``: dim ``i`` varies along x (columns), dim ``j`` along y (rows).
    x_values, y_values
        Values of dims ``i`` and ``j``, any order; they are sorted ascending.

    Returns
    -------
    numpy.ndarray
        (len(y_values), len(x_values), *input_shape); row 0 is the **largest** y value and
        column 0 the smallest x value, as on a plot with y growing upward.
    """
    base = np.asarray(base, np.float32).ravel()
    i, j = (int(d) for d in dims)
    if i == j or not (0 <= i < base.size and 0 <= j < base.size):
        raise ValueError(f"manifold needs two different dims in 0..{base.size - 1}, got {dims}")
    xs = np.sort(np.asarray(x_values, np.float32))
    ys = np.sort(np.asarray(y_values, np.float32))[::-1]  # top row = largest y
    z = np.repeat(base[None, None], len(ys), 0).repeat(len(xs), 1)
    z[:, :, i] = xs[None, :]
    z[:, :, j] = ys[:, None]
    images = decode(model, z.reshape(-1, base.size))
    return images.reshape(len(ys), len(xs), *images.shape[1:])


# --------------------------------------------------------------------------------------------
# embeddings


@dataclass
class Embedding:
    """A 2D embedding of latents.

    Attributes
    ----------
    method
        ``"pca"``, ``"tsne"`` or ``"umap"``.
    coords
        (N, 2) embedded points, row-aligned with the latents.
    explained_variance_ratio
        PCA only: fraction of variance per component (all components).
    loadings
        PCA only: (components, latent_dim) principal axes.
    """

    method: str
    coords: np.ndarray
    explained_variance_ratio: np.ndarray | None = None
    loadings: np.ndarray | None = None


def embed(latents: np.ndarray, method: str = "pca", *, seed: int = 0, **options: Any) -> Embedding:
    """Embed latents (N, D) in 2D with PCA, t-SNE (openTSNE, else scikit-learn) or UMAP (umap-learn).

    Parameters
    ----------
    latents
        (N, D); spatial latents should be flattened first.
    method
        One of :data:`EMBEDDINGS`.
    seed
        Random state of t-SNE and UMAP.
    **options
        Passed to the method (``perplexity``, ``n_neighbors``, ``min_dist``...).
    """
    x = np.asarray(latents, np.float64).reshape(len(latents), -1)
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(x.shape), **options).fit(x)
        coords = pca.transform(x)[:, :2]
        if coords.shape[1] < 2:  # one latent dim: pad so every embedding is (N, 2)
            coords = np.c_[coords, np.zeros(len(coords))]
        return Embedding("pca", coords, pca.explained_variance_ratio_, pca.components_)
    if method == "tsne":
        perplexity = options.pop("perplexity", min(30.0, max(2.0, (len(x) - 1) / 3.0)))
        try:
            from openTSNE import TSNE
        except ImportError:
            from sklearn.manifold import TSNE as SkTSNE

            coords = SkTSNE(2, perplexity=perplexity, random_state=seed, **options).fit_transform(x)
        else:
            coords = np.asarray(TSNE(n_components=2, perplexity=perplexity, random_state=seed, n_jobs=1,
                                     **options).fit(x))
        return Embedding("tsne", np.asarray(coords))
    if method == "umap":
        umap = require("umap", "analysis")
        options.setdefault("n_neighbors", min(15, len(x) - 1))
        import warnings

        with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": we want repeatable
            warnings.simplefilter("ignore", UserWarning)
            coords = umap.UMAP(n_components=2, random_state=seed, **options).fit_transform(x)
        return Embedding("umap", np.asarray(coords))
    raise ValueError(f"unknown embedding {method!r}; use one of {', '.join(EMBEDDINGS)}")


def nearest(coords: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the embedded sample nearest to each point: (len(points),) int.

    Examples
    --------
    >>> nearest(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([[9.0, 1.0], [1.0, 0.0]])).tolist()
    [1, 0]
    """
    from scipy.spatial import cKDTree

    return cKDTree(np.asarray(coords, np.float64)).query(np.atleast_2d(points))[1].astype(np.int64)


def line_points(start: Sequence[float], end: Sequence[float], n: int) -> np.ndarray:
    """``n`` evenly spaced points from ``start`` to ``end`` (both included): (n, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * np.asarray(start, np.float64) + t * np.asarray(end, np.float64)


def sample_embedding(
    embedding: Embedding,
    *,
    points: np.ndarray | None = None,
    line: tuple[Sequence[float], Sequence[float]] | None = None,
    n: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick samples in an embedding: nearest neighbours of given points, or of ``n`` points along a line.

    With neither ``points`` nor ``line``, the line runs between the embedding's 5th and 95th
    percentile corners along its first axis (through the bulk of the data).

    Returns
    -------
    tuple of numpy.ndarray
        The sample indices (into the latents) and the query points (k, 2).
    """
    if points is None:
        if line is None:
            c = embedding.coords
            lo, hi = np.percentile(c, [5, 95], axis=0)
            mid = np.median(c[:, 1])
            line = ((lo[0], mid), (hi[0], mid))
        points = line_points(line[0], line[1], n)
    points = np.atleast_2d(np.asarray(points, np.float64))
    return nearest(embedding.coords, points), points


# --------------------------------------------------------------------------------------------
# figures


def displayable(images: np.ndarray, spatial_dims: int = 2) -> np.ndarray:
    """Model outputs (..., C, H, W) or (..., C, D, H, W) → (..., H, W) gray or (..., H, W, 3) RGB.

    Volumes (``spatial_dims=3``) show their middle slice along D; other than three channels
    show the first.

    Examples
    --------
    >>> displayable(np.zeros((5, 1, 8, 6))).shape, displayable(np.zeros((2, 3, 8, 6))).shape
    ((5, 8, 6), (2, 8, 6, 3))
    >>> displayable(np.zeros((2, 1, 4, 8, 6)), spatial_dims=3).shape
    (2, 8, 6)
    """
    images = np.asarray(images, np.float32)
    if spatial_dims == 3:
        images = images[..., images.shape[-3] // 2, :, :]
    if images.shape[-3] == 3:
        return np.moveaxis(images, -3, -1)
    return images[..., 0, :, :]


def tile(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """Tile a (R, K, H, W[, 3]) grid of images into one mosaic, NaN between tiles.

    Returns
    -------
    numpy.ndarray
        (R·(H+pad) − pad, K·(W+pad) − pad[, 3]); tile ``(r, k)`` starts at row ``r·(H+pad)``.

    Examples
    --------
    >>> tile(np.ones((2, 3, 4, 5))).shape
    (9, 17)
    """
    images = np.asarray(images, np.float32)
    r, k, h, w = images.shape[:4]
    rest = images.shape[4:]
    out = np.full((r * (h + pad) - pad, k * (w + pad) - pad, *rest), np.nan, np.float32)
    for i in range(r):
        for j in range(k):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = images[i, j]
    return out


def image_grid(
    images: np.ndarray,
    *,
    title: str = "",
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    clim: tuple[float, float] | None = None,
    cmap: str = "gray",
    cell_px: int = 64,
):
    """A grid of images as one HoloViews image (gray) or RGB, with row and column labels as ticks.

    Parameters
    ----------
    images
        (R, K, C, H, W) or (R, K, C, D, H, W) model outputs (volumes show their middle slice).
    row_labels, col_labels
        Tick labels of rows (top to bottom) and columns.
    clim
        Colour range (the data range of the network); default the finite range.
    cell_px
        Screen pixels per tile side in the HTML figure.
    """
    from vaearr.viz import both as _both, holoviews as _hv

    hv = _hv()
    images = np.asarray(images, np.float32)
    if images.ndim not in (5, 6):
        raise ValueError(f"image_grid takes (rows, cols, C, H, W) or (rows, cols, C, D, H, W), got {images.shape}")
    images = displayable(images, images.ndim - 3)
    rgb = images.ndim == 5
    r, k, h, w = images.shape[:4]
    mosaic = tile(images)
    if clim is None:
        finite = mosaic[np.isfinite(mosaic)]
        clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    bounds = (0.0, 0.0, float(k), float(r))
    xticks = [(j + 0.5, str(v)) for j, v in enumerate(col_labels)] if col_labels is not None else []
    yticks = [(r - i - 0.5, str(v)) for i, v in enumerate(row_labels)] if row_labels is not None else []
    width = max(120, min(1400, cell_px * k))
    height = max(80, int(width * mosaic.shape[0] / mosaic.shape[1]))
    if rgb:
        lo, hi = clim
        scaled = np.clip((np.nan_to_num(mosaic, nan=hi) - lo) / max(hi - lo, 1e-12), 0, 1)
        element = hv.RGB(scaled, bounds=bounds)
    else:
        element = hv.Image(mosaic, bounds=bounds, vdims=["value"])
    common = dict(title=title, xlabel=xlabel, ylabel=ylabel, xticks=xticks or None, yticks=yticks or None,
                  xaxis="bottom" if xticks else None, yaxis="left" if yticks else None)
    if not rgb:
        common.update(cmap=cmap, clim=clim, clipping_colors={"NaN": "white"})
    inches = max(2.0, min(16.0, 0.9 * k))
    return _both(element, common,
                 bokeh=dict(frame_width=width, frame_height=height, toolbar="above", tools=["hover"] if not rgb else []),
                 mpl=dict(fig_inches=(inches + 1.0, max(1.5, inches * mosaic.shape[0] / mosaic.shape[1])),
                          aspect="equal"))


def heatmap(values: np.ndarray, *, rows: Sequence[Any], cols: Sequence[Any], title: str = "", xlabel: str = "latent_dim",
            ylabel: str = "", cmap: str = "RdBu_r", symmetric: bool = True, cell_px: int = 28):
    """A (rows × cols) table of numbers as a HoloViews HeatMap (prototypes, prior vectors, loadings)."""
    from vaearr.viz import both as _both, holoviews as _hv

    hv = _hv()
    values = np.asarray(values, np.float64)
    rows_s, cols_s = [str(v) for v in rows], [str(v) for v in cols]
    data = [(c, rw, float(values[i, j])) for i, rw in enumerate(rows_s) for j, c in enumerate(cols_s)]
    vmax = float(np.nanmax(np.abs(values))) if values.size else 1.0
    clim = (-vmax, vmax) if symmetric else (float(np.nanmin(values)), float(np.nanmax(values)))
    element = hv.HeatMap(data, kdims=[hv.Dimension("col", label=xlabel), hv.Dimension("row", label=ylabel)],
                         vdims=["value"])
    # categorical axes keep insertion order on Bokeh; rows listed top to bottom
    width = max(200, min(1200, cell_px * len(cols_s) + 120))
    height = max(150, min(1000, cell_px * len(rows_s) + 80))
    return _both(element, dict(cmap=cmap, clim=clim, colorbar=True, title=title, xlabel=xlabel, ylabel=ylabel,
                               invert_yaxis=True),
                 bokeh=dict(frame_width=width - 120, frame_height=height - 80, tools=["hover"], xrotation=0),
                 mpl=dict(fig_inches=(max(3.0, 0.4 * len(cols_s) + 2), max(2.5, 0.35 * len(rows_s) + 1.5)),
                          show_values=False))


def _label_colors(labels: np.ndarray | None) -> tuple[list[str], np.ndarray]:
    """Sorted unique labels (as strings) and each sample's label string."""
    if labels is None:
        return ["all"], np.array([])
    s = np.asarray(labels).astype(str)
    return sorted(set(s.tolist()), key=_natural), s


def _natural(v: str) -> tuple:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def scatter_by_label(coords: np.ndarray, labels: np.ndarray | None, *, title: str = "", xlabel: str = "",
                     ylabel: str = "", size: int = 420):
    """2D points coloured by label (categorical colours), as a HoloViews Scatter."""
    from vaearr.viz import both as _both, holoviews as _hv

    hv = _hv()
    coords = np.asarray(coords, np.float64)
    lab = np.asarray(labels).astype(str) if labels is not None else np.full(len(coords), "all")
    df = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "label": lab})
    # legend in label order (0, 1, ..., 9), not in order of first appearance
    df = df.iloc[sorted(range(len(lab)), key=lambda i: _natural(lab[i]))] if labels is not None else df
    element = hv.Scatter(df, kdims=[hv.Dimension("x", label=xlabel or "x")],
                         vdims=[hv.Dimension("y", label=ylabel or "y"), "label"])
    return _both(element, dict(color="label", cmap="Category10", title=title, xlabel=xlabel, ylabel=ylabel),
                 bokeh=dict(frame_width=size, frame_height=size, size=4, alpha=0.7, tools=["hover"],
                            legend_position="right", show_legend=labels is not None),
                 mpl=dict(fig_inches=(6, 5), s=6, alpha=0.7, show_legend=labels is not None))


def embedding_figure(embedding: Embedding, labels: np.ndarray | None, *, sampled: np.ndarray | None = None,
                     points: np.ndarray | None = None, title: str | None = None):
    """The embedding coloured by label, with the query points, the line through them and the sampled neighbours."""
    from vaearr.viz import both as _both, holoviews as _hv

    hv = _hv()
    names = {"pca": ("PC1", "PC2"), "tsne": ("t-SNE 1", "t-SNE 2"), "umap": ("UMAP 1", "UMAP 2")}[embedding.method]
    base = scatter_by_label(embedding.coords, labels, title=title or f"{embedding.method} of the latents",
                            xlabel=names[0], ylabel=names[1])
    layers = [base]
    if points is not None:
        pts = np.asarray(points)
        layers.append(_both(hv.Path([pts]), dict(color="black"), bokeh=dict(line_dash="dashed", line_width=1.5),
                            mpl=dict(linestyle="--", linewidth=1)))
        layers.append(_both(hv.Points(pts), dict(color="black"), bokeh=dict(size=10, marker="x"),
                            mpl=dict(s=40, marker="X")))
    if sampled is not None:
        nn = np.asarray(embedding.coords)[np.asarray(sampled)]
        layers.append(_both(hv.Points(nn), dict(color="red"), bokeh=dict(size=9, line_color="black"),
                            mpl=dict(s=30, edgecolors="black")))
        text = [(float(p[0]), float(p[1]), str(i)) for i, p in enumerate(nn)]
        layers.append(_both(hv.Labels(text), dict(), bokeh=dict(text_color="black", text_font_size="9pt"),
                            mpl=dict(color="black", fontsize=8)))
    if len(layers) == 1:
        return base
    from vaearr.viz import overlay

    return overlay(*layers)


def pairwise_scatter(mu: np.ndarray, labels: np.ndarray | None, dims: Sequence[int], *, title: str = "pairwise latents"):
    """Scatter plots of every pair of ``dims`` coloured by label, with per-label KDEs on the diagonal."""
    from vaearr.viz import both as _both, holoviews as _hv

    hv = _hv()
    dims = [int(d) for d in dims]
    names, lab = _label_colors(labels)
    cells = []
    palette = hv.Cycle("Category10").values
    for r in dims:
        for c in dims:
            if r == c:
                curves = []
                groups = [(n, mu[lab == n, r]) for n in names] if labels is not None else [("all", mu[:, r])]
                for k, (name, v) in enumerate(groups):
                    if len(v) < 2 or np.ptp(v) == 0:
                        continue  # a KDE needs spread
                    curves.append(_both(hv.Distribution(v, kdims=[f"z{r}"], label=name),
                                        dict(color=palette[k % len(palette)]),
                                        bokeh=dict(fill_alpha=0.15, line_width=1.5), mpl=dict(alpha=0.15)))
                cell = hv.Overlay(curves) if curves else hv.Distribution([], kdims=[f"z{r}"])
                cell = _both(cell, dict(title=f"z{r}", show_legend=False), bokeh=dict(frame_width=170, frame_height=170),
                             mpl=dict(fig_inches=(2.2, 2.2)))
            else:
                df = pd.DataFrame({f"z{c}": mu[:, c], f"z{r}": mu[:, r],
                                   "label": lab if labels is not None else "all"})
                cell = _both(hv.Scatter(df, kdims=[f"z{c}"], vdims=[f"z{r}", "label"]),
                             dict(color="label", cmap="Category10", title=f"z{r} vs z{c}", show_legend=False),
                             bokeh=dict(frame_width=170, frame_height=170, size=2, alpha=0.6),
                             mpl=dict(fig_inches=(2.2, 2.2), s=2, alpha=0.6))
            cells.append(cell)
    return _both(hv.Layout(cells).cols(len(dims)), dict(), mpl=dict(sublabel_format="", fig_size=80))


def bar_chart(values: pd.Series, *, title: str = "", xlabel: str = "", ylabel: str = "", highlight: Sequence[bool] | None = None):
    """One bar per entry of a Series (KL per dim, explained variance); highlighted bars in red."""
    from vaearr.viz import both as _both, holoviews as _hv

    hv = _hv()
    keys = [str(k) for k in values.index]
    hl = list(highlight) if highlight is not None else [False] * len(keys)
    df = pd.DataFrame({"key": keys, "value": values.to_numpy(np.float64),
                       "color": ["#c44e52" if h else "#4c72b0" for h in hl]})
    bars = hv.Bars(df, kdims=[hv.Dimension("key", label=xlabel)], vdims=[hv.Dimension("value", label=ylabel), "color"])
    width = max(300, min(1200, 28 * len(keys) + 100))
    rot = 45 if len(keys) > 12 or sum(len(k) for k in keys) > 60 else 0
    return _both(bars, dict(title=title, xlabel=xlabel, ylabel=ylabel, color=hv.dim("color"), show_legend=False,
                            axiswise=True, xrotation=rot),
                 bokeh=dict(frame_width=width, frame_height=300, tools=["hover"]),
                 mpl=dict(fig_inches=(max(4.0, 0.35 * len(keys) + 2), 3.5)))


def side_by_side(*figures: Any, cols: int | None = None):
    """A layout of figures (images beside their latent vectors, chart beside chart)."""
    from vaearr.viz import both as _both, holoviews as _hv

    hv = _hv()
    layout = hv.Layout(list(figures)).cols(cols or len(figures))
    return _both(layout, dict(), mpl=dict(sublabel_format=""))


# --------------------------------------------------------------------------------------------
# interactive explorer


def _label(widget: type, text: str) -> dict[str, str]:
    """A widget's caption: ``label`` from Panel 1.9 (``name`` is deprecated there), ``name`` before."""
    return {"label" if "label" in widget.param else "name": text}


class Explorer:
    """One slider per latent dim and the decoded image, live (Panel).

    In a notebook, display :meth:`panel`; as an app, :meth:`serve` (``vaearr explore STORE
    --run DIR --serve``). :meth:`image` is the decoded image at the current slider values, the
    same array the view draws.

    Parameters
    ----------
    model
        A vector-latent model.
    base
        Starting values, (latent_dim,); default zeros (the prior's mean).
    value_range
        Slider range of every dim.
    step
        Slider step.
    clim
        Colour range of the image (the run's data range).
    """

    def __init__(self, model: Any, base: np.ndarray | None = None, *, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.05, clim: tuple[float, float] = (0.0, 1.0), title: str = "decoded"):
        pn = require("panel", "viz")
        if len(model.latent_shape) != 1:
            raise InputError(None, f"the explorer needs a vector latent; this model's latent is {model.latent_shape}")
        self.model = model
        self.clim = clim
        self.title = title
        d = int(model.latent_shape[0])
        base = np.zeros(d, np.float32) if base is None else np.asarray(base, np.float32).ravel()
        lo, hi = value_range
        self.sliders = [
            pn.widgets.FloatSlider(**_label(pn.widgets.FloatSlider, f"z{i}"), start=float(min(lo, base[i])),
                                   end=float(max(hi, base[i])), step=step, value=float(base[i]), width=220)
            for i in range(d)
        ]

    @property
    def z(self) -> np.ndarray:
        """Current latent vector (latent_dim,)."""
        return np.array([s.value for s in self.sliders], np.float32)

    def image(self, *values: float) -> np.ndarray:
        """Decoded image (H, W) or (H, W, 3) at ``values`` (default: the sliders')."""
        z = np.asarray(values, np.float32) if values else self.z
        return displayable(decode(self.model, z[None]))[0]

    def _view(self, *values: float):
        z = np.asarray(values, np.float32) if values else self.z
        return image_grid(decode(self.model, z[None])[None], title=self.title, clim=self.clim, cell_px=320)

    def panel(self):
        """The app: sliders on the left, the image on the right (re-decoded whenever a slider moves)."""
        pn = require("panel", "viz")
        reset = pn.widgets.Button(**_label(pn.widgets.Button, "reset to zero"), width=220)

        def _reset(_event: Any) -> None:
            for s in self.sliders:
                s.value = 0.0

        reset.on_click(_reset)
        hv = require("holoviews", "viz")
        # a DynamicMap updates the one plot in place (its image data) when a slider moves; a
        # plain bound function would hand the pane a new element each time, and Bokeh's figure
        # would keep every earlier image as another renderer
        view = hv.DynamicMap(pn.bind(self._view, *self.sliders))
        return pn.Row(pn.Column(reset, *self.sliders, scroll=True, height=600), pn.pane.HoloViews(view, backend="bokeh"))

    def serve(self, port: int = 5006, *, show: bool = False, address: str = "127.0.0.1", **kwargs: Any):
        """Serve the app (blocks until stopped)."""
        pn = require("panel", "viz")
        return pn.serve(self.panel(), port=port, address=address, show=show, title="vaearr latent explorer",
                        **kwargs)


# --------------------------------------------------------------------------------------------
# the whole exploration


@dataclass
class ExploreResult:
    """What :func:`explore` wrote."""

    out: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"explored {self.summary.get('n_samples')} samples of {self.summary.get('store')} "
                 f"with {self.summary.get('run')} → {self.out}"]
        q = self.summary.get("quality")
        if q:
            lines.append(f"  reconstruction: MSE {q['mse']:.4g}, PSNR {q['psnr']:.3g} dB, SSIM {q['ssim']:.3g}, "
                         f"compression {q['compression_ratio']:.3g}×")
        s = self.summary.get("stats")
        if s:
            lines.append(f"  active units: {s['active_units']}/{s['latent_dim']}, KL {s['kl_total']:.4g} nats")
        lines += [f"  {p}" for p in self.figures]
        return "\n".join(lines)


def _parse_base(base: str | Sequence[float] | None, protos: xr.DataArray | None, mu: np.ndarray) -> tuple[np.ndarray, str]:
    """The traversal's base vector: given values, a prototype's label, or the mean latent."""
    if base is None or (isinstance(base, str) and base == "mean"):
        return mu.mean(axis=0).astype(np.float32), "mean latent"
    if isinstance(base, str):
        if protos is None:
            raise InputError(None, f"base '{base}' names a prototype, but the samples have no labels")
        labels = [str(v) for v in protos["label"].values]
        if base not in labels:
            raise InputError(None, f"base '{base}' is not a label; labels: {', '.join(labels)}")
        return protos.values[labels.index(base)].astype(np.float32), f"prototype of {base}"
    values = np.asarray(base, np.float32).ravel()
    if values.size != mu.shape[1]:
        raise InputError(None, f"base has {values.size} values, the latent has {mu.shape[1]} dims")
    return values, "given vector"


def explore(
    store: str | os.PathLike,
    run: str | os.PathLike,
    out: str | os.PathLike,
    *,
    n: int | None = 2000,
    seed: int = 0,
    label: str | None = "auto",
    parts: Sequence[str] = PARTS,
    embeddings: Sequence[str] = ("pca", "tsne", "umap"),
    n_prior: int = 8,
    steps: int = 9,
    traversal_dims: Sequence[int] | None = None,
    traversal_range: tuple[float, float] = (-3.0, 3.0),
    base: str | Sequence[float] | None = None,
    manifold_dims: tuple[int, int] | None = None,
    manifold_size: int = 9,
    pairwise_dims: Sequence[int] | None = None,
    line: tuple[Sequence[float], Sequence[float]] | None = None,
    n_line: int = 8,
    threshold: float = 0.5,
    n_grid: int = 8,
    checkpoint: str = "best",
    device: str = "cpu",
) -> ExploreResult:
    """Encode samples of a store with a run and write the exploration figures and tables into ``out``.

    Files (HTML + PNG for figures; names say what each is):

    * ``quality``: ``reconstruction_quality.csv`` (MSE, PSNR, SSIM per sample),
      ``reconstruction_quality.json`` (means, compression ratio), ``reconstruction_grid``
      (input | reconstruction | both binarised at ``threshold``); for volumes also
      ``volumes/`` (NIfTI with the input's affine, mid-slice views);
    * ``prior``: ``prior_samples`` (decoded draws beside their vectors);
    * ``interpolation``: ``interpolation`` (linear and spherical, between two samples);
    * ``stats``: ``latent_stats.csv``, ``latent_kl_per_dim`` (active units in red);
    * ``activations``: ``activations.csv``, ``activations_describe.csv``;
    * ``prototypes``: ``prototypes.csv``, ``prototypes_heatmap``, ``prototypes_decoded``;
    * ``traversal``: ``traversal`` (rows: dims; columns: values);
    * ``manifold``: ``manifold_z{i}_z{j}`` (the two most active dims by default; y upward);
    * ``pairwise``: ``pairwise_scatter`` (KDE diagonals);
    * ``embeddings``: per method ``{method}`` (embedding with the sampled line) and
      ``{method}_samples`` (decoded nearest neighbours); PCA also ``pca_explained_variance``
      and ``pca_loadings``; ``embedding_samples.csv``.

    Parts that need labels (prototypes) or a vector latent (stats, prototypes, traversal,
    manifold, pairwise) are skipped otherwise, and listed under ``skipped`` in ``summary.json``.

    Parameters
    ----------
    store, run, out
        Store, run folder, output folder.
    n, seed
        Number of samples to encode (None: all) and the seed that picks them (and the prior
        draws, the interpolation pair and the grid's samples).
    label
        Label variable/coordinate (see :func:`encode_samples`).
    parts
        Which of :data:`PARTS` to write.
    embeddings
        Which of :data:`EMBEDDINGS` to compute.
    base
        Traversal and manifold base: ``"mean"`` (default), a label (its prototype), or values.
    line
        Two points (start, end) in each embedding's coordinates; default through its bulk.
    threshold
        Binarisation threshold of the reconstruction grid, in data units.
    """
    from vaearr import viz as plots

    out = Path(out)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise InputError(None, f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    bad = sorted(set(embeddings) - set(EMBEDDINGS))
    if bad:
        raise InputError(None, f"unknown embedding(s) {', '.join(bad)}; known: {', '.join(EMBEDDINGS)}")
    lr, enc = encode_samples(store, run, n=n, seed=seed, label=label, device=device, checkpoint=checkpoint)
    model = lr.model
    clim = lr.data_range
    result = ExploreResult(out=out)
    out.mkdir(parents=True, exist_ok=True)
    skipped: dict[str, str] = {}
    summary: dict[str, Any] = {
        "store": str(store), "run": str(lr.path), "checkpoint": str(lr.checkpoint), "n_samples": int(len(enc.index)),
        "seed": seed, "label": enc.label_name, "latent_shape": list(model.latent_shape),
    }
    mu = enc.mu.reshape(len(enc.mu), -1)
    vector = lr.vector_latent
    rng = np.random.default_rng(seed)

    def save(obj: Any, stem: str) -> None:
        html, _ = plots.save_figure(obj, out / stem)
        result.figures.append(Path(html))

    def table(df: pd.DataFrame, name: str, index: bool = True) -> None:
        df.to_csv(out / name, index=index)
        result.tables.append(out / name)

    if "quality" in parts:
        from vaearr.analysis import quality as Q

        recon = reconstruct(model, enc.x)
        report = Q.reconstruction_quality(enc.x, recon, data_range=clim[1] - clim[0],
                                          latent_shape=tuple(model.latent_shape))
        per = report.per_sample.copy()
        per.insert(0, "sample", enc.index)
        table(per, "reconstruction_quality.csv", index=False)
        (out / "reconstruction_quality.json").write_text(json.dumps(report.summary(), indent=2) + "\n")
        result.tables.append(out / "reconstruction_quality.json")
        summary["quality"] = report.summary()
        fig, _ = Q.reconstruction_grid(enc.x, recon, n=n_grid, seed=seed, threshold=threshold, clim=clim,
                                       sample_labels=enc.index)
        save(fig, "reconstruction_grid")
        if len(lr.feature_dims) == 3 and "subject" in lr.sample_dims:
            written = Q.volume_reconstructions(store, lr, out / "volumes", encoded=enc, recon=recon)
            summary["volumes"] = [str(p) for p in written]

    if "prior" in parts:
        z, images = prior_samples(model, n_prior, seed=seed)
        grid = image_grid(images[:, None], title="samples from the prior", row_labels=[f"#{i}" for i in range(n_prior)],
                          clim=clim, cell_px=90)
        if vector:
            vec = heatmap(z, rows=[f"#{i}" for i in range(n_prior)], cols=dim_names(z.shape[1]),
                          title="their latent vectors", ylabel="sample")
            save(side_by_side(grid, vec), "prior_samples")
        else:
            save(grid, "prior_samples")

    if "interpolation" in parts and len(enc.index) >= 2:
        a, b = rng.choice(len(enc.index), 2, replace=False)
        rows = []
        for method in ("linear", "slerp"):
            _, images = interpolate(model, enc.mu[a], enc.mu[b], steps=steps, method=method)
            rows.append(images)
        fracs = [f"{t:.2f}" for t in np.linspace(0, 1, steps)]
        save(image_grid(np.stack(rows), title=f"interpolation: sample {enc.index[a]} → sample {enc.index[b]}",
                        row_labels=["linear", "spherical"], col_labels=fracs, xlabel="t", clim=clim),
             "interpolation")
        summary["interpolation"] = {"from": int(enc.index[a]), "to": int(enc.index[b]), "steps": steps}

    stats = None
    if vector:
        stats = latent_stats(enc.mu, enc.logvar)
    if "stats" in parts:
        if stats is None:
            skipped["stats"] = "spatial latent"
        else:
            table(stats, "latent_stats.csv")
            summary["stats"] = {"active_units": stats.attrs["active_units"], "latent_dim": int(len(stats)),
                                "kl_total": stats.attrs["kl_total"]}
            kl = stats["kl"].rename(index=lambda i: f"z{i}")
            save(bar_chart(kl, title=f"KL per latent dim (active units in red: {stats.attrs['active_units']})",
                           xlabel="latent dim", ylabel="KL (nats)", highlight=stats["active"].tolist()),
                 "latent_kl_per_dim")

    if "activations" in parts:
        if not vector:
            skipped["activations"] = "spatial latent"
        else:
            acts = activations(enc.mu, enc.labels, sample=enc.index)
            table(acts, "activations.csv", index=False)
            table(describe(acts), "activations_describe.csv")

    protos = prototypes(enc.mu, enc.labels) if (vector and enc.labels is not None) else None
    if "prototypes" in parts:
        if protos is None:
            skipped["prototypes"] = "no labels" if vector else "spatial latent"
        else:
            table(protos.to_pandas(), "prototypes.csv")
            labels = [str(v) for v in protos["label"].values]
            save(heatmap(protos.values, rows=labels, cols=dim_names(protos.sizes["latent_dim"]),
                         title="class prototypes (mean latent per label)", ylabel=enc.label_name or "label"),
                 "prototypes_heatmap")
            images = decode(model, protos.values)
            save(image_grid(images[None], title="decoded prototypes", col_labels=labels,
                            xlabel=enc.label_name or "label", clim=clim, cell_px=80), "prototypes_decoded")

    base_vec, base_name = (_parse_base(base, protos, enc.mu) if vector else (None, ""))
    order = (stats["activity"].sort_values(ascending=False).index.to_numpy() if stats is not None else np.array([]))
    if "traversal" in parts:
        if not vector:
            skipped["traversal"] = "spatial latent"
        else:
            dims = list(traversal_dims) if traversal_dims is not None else sorted(order[:min(10, len(order))].tolist())
            values = np.linspace(*traversal_range, steps)
            grid = traversal(model, base_vec, dims, values)
            save(image_grid(grid, title=f"traversal from the {base_name}", row_labels=[f"z{d}" for d in dims],
                            col_labels=[f"{v:.2g}" for v in values], xlabel="value", ylabel="latent dim", clim=clim),
                 "traversal")
            summary["traversal"] = {"dims": [int(d) for d in dims], "values": values.tolist(), "base": base_name}

    if "manifold" in parts:
        if not vector or enc.mu.shape[1] < 2:
            skipped["manifold"] = "needs a vector latent with 2+ dims"
        else:
            i, j = manifold_dims if manifold_dims is not None else (int(order[0]), int(order[1]))
            values = np.linspace(*traversal_range, manifold_size)
            grid = manifold(model, base_vec, (i, j), values, values)
            save(image_grid(grid, title=f"2D manifold over z{i} (→) and z{j} (↑) from the {base_name}",
                            row_labels=[f"{v:.2g}" for v in values[::-1]], col_labels=[f"{v:.2g}" for v in values],
                            xlabel=f"z{i}", ylabel=f"z{j}", clim=clim), f"manifold_z{i}_z{j}")
            summary["manifold"] = {"dims": [i, j]}

    if "pairwise" in parts:
        if not vector:
            skipped["pairwise"] = "spatial latent"
        else:
            dims = list(pairwise_dims) if pairwise_dims is not None else sorted(order[:min(4, len(order))].tolist())
            save(pairwise_scatter(enc.mu, enc.labels, dims), "pairwise_scatter")

    if "embeddings" in parts:
        rows = []
        for method in embeddings:
            if len(mu) < 5:
                skipped[method] = "fewer than 5 samples"
                continue
            try:
                emb = embed(mu, method, seed=seed)
            except ImportError as exc:  # an optional package (umap-learn) missing: skip with the reason
                skipped[method] = str(exc)
                continue
            idx, points = sample_embedding(emb, line=line, n=n_line)
            save(embedding_figure(emb, enc.labels, sampled=idx, points=points), method)
            images = decode(model, enc.mu[idx])
            save(image_grid(images[None], title=f"decoded nearest neighbours along the line in {method}",
                            col_labels=[f"{k}: #{enc.index[s]}" for k, s in enumerate(idx)], clim=clim),
                 f"{method}_samples")
            for k, (s, p) in enumerate(zip(idx, points, strict=True)):
                rows.append({"method": method, "point": k, "x": p[0], "y": p[1], "sample": int(enc.index[s]),
                             "label": None if enc.labels is None else enc.labels[s]})
            if method == "pca":
                evr = pd.Series(emb.explained_variance_ratio, index=[f"PC{k + 1}" for k in range(len(emb.explained_variance_ratio))])
                save(bar_chart(evr, title="PCA: explained variance ratio", xlabel="component", ylabel="fraction"),
                     "pca_explained_variance")
                k = min(len(emb.loadings), 10)
                save(heatmap(emb.loadings[:k], rows=[f"PC{c + 1}" for c in range(k)], cols=dim_names(mu.shape[1]),
                             title="PCA loadings", ylabel="component"), "pca_loadings")
                summary["pca"] = {"explained_variance_ratio": emb.explained_variance_ratio.tolist()}
        if rows:
            table(pd.DataFrame(rows), "embedding_samples.csv", index=False)

    summary["skipped"] = skipped
    summary["figures"] = [p.name for p in result.figures]
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    result.summary = summary
    return result


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def explorer_for_run(store: str | os.PathLike, run: str | os.PathLike, *, base: str | Sequence[float] | None = None,
                     n: int | None = 1000, seed: int = 0, label: str | None = "auto", device: str = "cpu") -> Explorer:
    """An :class:`Explorer` for a run, starting at the mean latent of ``n`` samples (or a prototype / given values)."""
    lr, enc = encode_samples(store, run, n=n, seed=seed, label=label, keep_inputs=False, device=device)
    if not lr.vector_latent:
        raise VaearrError(f"{lr.path}: the explorer needs a vector latent (model {lr.model.config.name})")
    protos = prototypes(enc.mu, enc.labels) if enc.labels is not None else None
    start, name = _parse_base(base, protos, enc.mu)
    return Explorer(lr.model, start, clim=lr.data_range, title=f"decoded ({name} at start)")
