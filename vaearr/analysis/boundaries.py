"""Grain and low-angle boundaries of a map: boundary strength, boundary masks, grain size (no figures).

From patterns the strength is kikuchipy's average neighbour dot product turned into a
dissimilarity: ``1 − mean over the 4 nearest neighbours (kikuchipy's 3×3 circular window) of the normalised dot product`` of the
(optionally background-corrected) patterns; from a latent it is the mean Euclidean distance to
the neighbours' latents. Both are computed row block by row block with a one-row halo, so a
pattern map never has to fit in memory.

The masks come from *edges* between neighbouring pixels, which are thinner and less noisy than
the pixel strength: for the edge between ``(i, j)`` and ``(i, j+1)`` (and likewise downward)
the mean of the ``along × deep`` box on one side is compared with that on the other (patterns:
``1 −`` their correlation; latents: their distance). Edges are kept where they are a local
maximum across themselves (non-maximum suppression), and a pixel is on a boundary when its
right or lower edge is kept and above the threshold: a one-pixel-wide line, like
:func:`vaearr.data.subgrains.one_sided_boundaries`. The grain-boundary threshold is Otsu's on
the log edge values of the ridge pixels; the low-angle threshold is Otsu's on the ridge pixels
below it, more than ``exclude`` pixels from a grain boundary and one pixel inside the map and the
mask (where the edge boxes are whole). Both can be given instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from vaearr.errors import InputError, StoreError
from vaearr.store import open_store, write_variables
from vaearr.store.schema import PATTERNS, X, Y

#: Offsets (dy, dx) of half the window: kikuchipy's default 3×3 circular window, the four
#: nearest neighbours; each pair is counted for both of its pixels.
_HALF_WINDOW = ((0, 1), (1, 0))

#: Variables :func:`find_boundaries` writes.
STRENGTH, GRAIN_BOUNDARIES, LOW_ANGLE_BOUNDARIES = "boundary_strength", "grain_boundaries", "low_angle_boundaries"


# --------------------------------------------------------------------------------------------
# features of one row block


def prepare_patterns(block: np.ndarray, background: np.ndarray | None = None, sigma: float = 0.0) -> np.ndarray:
    """(..., py, px) patterns → (..., py·px) float32, zero mean and unit norm per pattern.

    Divided by ``background`` (the static background) when given, blurred by a Gaussian of
    ``sigma`` detector pixels when > 0. A flat pattern becomes all zeros.
    """
    p = np.asarray(block, dtype=np.float32)
    if background is not None:
        p = p / np.maximum(np.asarray(background, np.float32), 1e-6)
    if sigma > 0:
        p = ndi.gaussian_filter(p, (0,) * (p.ndim - 2) + (sigma, sigma))
    p = p.reshape(*p.shape[:-2], -1)
    p = p - p.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(p, axis=-1, keepdims=True)
    return np.divide(p, norm, out=np.zeros_like(p), where=norm > 0)


def _row_blocks(ny: int, rows: int, halo: int):
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        h0, h1 = max(0, r0 - halo), min(ny, r1 + halo)
        yield r0, r1, h0, h1


def _pairs(f: np.ndarray, valid: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count over the valid 4 nearest neighbours (kikuchipy's 3×3 circular window) of each pixel of one block (y, x, d)."""
    ny, nx = valid.shape
    total = np.zeros((ny, nx), np.float64)
    count = np.zeros((ny, nx), np.int32)
    for dy, dx in _HALF_WINDOW:
        ys, yd = slice(0, ny - dy), slice(dy, ny)
        xs, xd = (slice(0, nx - dx), slice(dx, nx)) if dx >= 0 else (slice(-dx, nx), slice(0, nx + dx))
        a, b = f[ys, xs], f[yd, xd]
        if metric == "dot":
            v = np.einsum("ijk,ijk->ij", a, b, dtype=np.float64)
        else:
            v = np.sqrt(np.sum((a.astype(np.float64) - b) ** 2, axis=-1))
        ok = valid[ys, xs] & valid[yd, xd]
        v = np.where(ok, v, 0.0)
        total[ys, xs] += v
        total[yd, xd] += v
        count[ys, xs] += ok
        count[yd, xd] += ok
    return total, count


def neighbour_map(
    features: Any,
    mask: np.ndarray | None = None,
    *,
    metric: str = "dot",
    prepare: Any = None,
    rows: int | None = None,
) -> np.ndarray:
    """Mean over each pixel's 4 nearest neighbours (kikuchipy's 3×3 circular window) of a pair value, NaN outside ``mask``.

    Parameters
    ----------
    features
        (y, x, ...) array (numpy or dask): patterns (y, x, py, px) or latents (y, x, d).
    mask
        (y, x) bool; pixels outside are NaN and do not count as neighbours. Default all.
    metric
        ``dot``: the dot product of ``prepare``'d features (kikuchipy's average neighbour dot
        product when they are normalised); ``euclidean``: the distance between features.
    prepare
        Function applied to each row block (with its halo) before the pair values; default
        flattening the trailing dims.
    rows
        Rows per block (default: the dask array's chunk rows, or all rows).

    Returns
    -------
    numpy.ndarray
        (y, x) float64; NaN outside the mask and where a pixel has no valid neighbour.
    """
    ny, nx = features.shape[:2]
    valid_all = np.ones((ny, nx), bool) if mask is None else np.asarray(mask, bool)
    if rows is None:
        rows = features.chunks[0][0] if isinstance(features, da.Array) else ny
    out = np.full((ny, nx), np.nan)
    for r0, r1, h0, h1 in _row_blocks(ny, max(1, int(rows)), 1):
        block = np.asarray(features[h0:h1])
        f = prepare(block) if prepare is not None else block.reshape(h1 - h0, nx, -1)
        total, count = _pairs(f, valid_all[h0:h1], metric)
        t, c = total[r0 - h0 : r1 - h0], count[r0 - h0 : r1 - h0]
        out[r0:r1] = np.where(valid_all[r0:r1] & (c > 0), t / np.maximum(c, 1), np.nan)
    return out


def _side_edges(f: np.ndarray, w: np.ndarray, along: int, deep: int, metric: str) -> np.ndarray:
    """Edge value between (i, j) and (i, j+1) from the weighted means of the boxes either side."""
    ny, nx, d = f.shape
    fw = f * w[..., None]
    a = ndi.uniform_filter1d(fw, along, axis=0, mode="constant")
    aw = ndi.uniform_filter1d(w.astype(np.float32), along, axis=0, mode="constant")
    c = np.concatenate([np.zeros((ny, 1, d), np.float64), np.cumsum(a, axis=1, dtype=np.float64)], axis=1)
    cw = np.concatenate([np.zeros((ny, 1)), np.cumsum(aw, axis=1, dtype=np.float64)], axis=1)
    j = np.arange(nx - 1)
    lo, hi = np.maximum(0, j - deep + 1), np.minimum(nx, j + 1 + deep)
    left = (c[:, j + 1] - c[:, lo]) / np.maximum(cw[:, j + 1] - cw[:, lo], 1e-12)[..., None]
    right = (c[:, hi] - c[:, j + 1]) / np.maximum(cw[:, hi] - cw[:, j + 1], 1e-12)[..., None]
    if metric == "dot":
        left = left - left.mean(-1, keepdims=True)
        right = right - right.mean(-1, keepdims=True)
        den = np.sqrt(np.sum(left**2, -1) * np.sum(right**2, -1))
        e = 1 - np.sum(left * right, -1) / np.maximum(den, 1e-30)
    else:
        e = np.sqrt(np.sum((left - right) ** 2, -1))
    e = np.where(w[:, :-1] & w[:, 1:], e, np.nan)
    return np.concatenate([e, np.full((ny, 1), np.nan)], axis=1)


def edge_maps(
    features: Any,
    mask: np.ndarray | None = None,
    *,
    metric: str = "dot",
    prepare: Any = None,
    along: int = 3,
    deep: int = 2,
    rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Right and down edge values (y, x) between each pixel and its right / lower neighbour.

    The mean of the in-mask features of the ``along × deep`` box on each side of the edge
    (``deep`` pixels away from it, ``along`` pixels along it, centred) are compared: ``dot``
    gives ``1 −`` their correlation, ``euclidean`` their distance. NaN where either pixel is
    outside the mask or there is no neighbour.
    """
    ny, nx = features.shape[:2]
    valid = np.ones((ny, nx), bool) if mask is None else np.asarray(mask, bool)
    if rows is None:
        rows = features.chunks[0][0] if isinstance(features, da.Array) else ny
    halo = max(deep, along // 2)
    right = np.full((ny, nx), np.nan)
    down = np.full((ny, nx), np.nan)
    for r0, r1, h0, h1 in _row_blocks(ny, max(int(rows), halo + 1), halo):
        block = np.asarray(features[h0:h1])
        f = prepare(block) if prepare is not None else block.reshape(h1 - h0, nx, -1).astype(np.float64)
        w = valid[h0:h1]
        right[r0:r1] = _side_edges(f, w, along, deep, metric)[r0 - h0 : r1 - h0]
        # downward edges: the same on the transposed block (needs `deep` rows beyond the block)
        dn = _side_edges(np.swapaxes(f, 0, 1), w.T, along, deep, metric).T
        down[r0:r1] = dn[r0 - h0 : r1 - h0]
    return right, down


# --------------------------------------------------------------------------------------------
# masks from edges


def _nms(e: np.ndarray, axis: int) -> np.ndarray:
    """Edges that are a local maximum across themselves (≥ the previous, > the next).

    Edges with no edge on one side (at the map's rim, where the boxes are cut short and
    noisier) are never ridges.
    """
    f = np.nan_to_num(e, nan=-np.inf)
    prev = np.full_like(f, np.inf)
    nxt = np.full_like(f, np.inf)
    if axis == 1:
        prev[:, 1:], nxt[:, :-1] = f[:, :-1], f[:, 1:]
    else:
        prev[1:], nxt[:-1] = f[:-1], f[1:]
    return np.isfinite(f) & (f >= prev) & (f > nxt)


def ridge_strength(right: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Per pixel, the larger of its right and lower edge where that edge is a ridge (else 0)."""
    r = np.where(_nms(right, 1), right, 0.0)
    d = np.where(_nms(down, 0), down, 0.0)
    return np.fmax(np.nan_to_num(r), np.nan_to_num(d))


def _otsu_log(values: np.ndarray) -> float | None:
    v = values[np.isfinite(values) & (values > 0)]
    if v.size < 2 or np.ptp(np.log(v)) == 0:
        return None
    return float(math.exp(threshold_otsu(np.log(v))))


@dataclass
class Boundaries:
    """What :func:`boundaries_from_edges` found: masks, thresholds and how they were chosen."""

    grain_boundaries: np.ndarray
    low_angle_boundaries: np.ndarray
    ridge: np.ndarray
    thresholds: dict[str, Any] = field(default_factory=dict)


def boundaries_from_edges(
    right: np.ndarray,
    down: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    gb_threshold: float | None = None,
    lagb_threshold: float | None = None,
    exclude: int = 2,
) -> Boundaries:
    """Grain-boundary and low-angle-boundary masks from edge maps (see the module docstring).

    Parameters
    ----------
    right, down
        Edge values (y, x) from :func:`edge_maps`.
    mask
        (y, x) bool; nothing is marked outside.
    gb_threshold, lagb_threshold
        Thresholds on the ridge strength; None: automatic (Otsu on the log of the ridge values
        for grain boundaries; for low-angle ones, Otsu on the log of the ridge values below the
        grain-boundary threshold more than ``exclude`` pixels from a grain boundary).
    exclude
        Low-angle boundaries are not marked within this many pixels of a grain boundary.
    """
    ridge = ridge_strength(right, down)
    inside = np.ones(ridge.shape, bool) if mask is None else np.asarray(mask, bool)
    ridge = np.where(inside, ridge, 0.0)
    info: dict[str, Any] = {}
    cand = ridge[ridge > 0]
    if gb_threshold is None:
        t = _otsu_log(cand)
        gb_threshold = float("inf") if t is None else t
        info["gb_threshold_rule"] = f"Otsu on log ridge strength of {cand.size} ridge pixels"
    else:
        info["gb_threshold_rule"] = "given"
    gb = ridge > gb_threshold
    near = ndi.binary_dilation(gb, np.ones((3, 3), bool), iterations=exclude) if exclude > 0 and gb.any() else gb
    # low-angle ridges need the full edge boxes on both sides: not on the map's rim or the mask's
    # edge, where the boxes are cut short and the edge values noisier (lines of false marks there)
    core = ndi.binary_erosion(inside, np.ones((3, 3), bool), border_value=0)
    if lagb_threshold is None:
        rest = ridge[(ridge > 0) & ~near & core & (ridge <= gb_threshold)]
        t = _otsu_log(rest)
        med = float(np.median(rest)) if rest.size else 0.0
        floor = med + 3 * 1.4826 * float(np.median(np.abs(rest - med))) if rest.size else 0.0
        lagb_threshold = gb_threshold if t is None else t
        info["lagb_noise_floor"] = floor  # median + 3 MAD: recorded, not used (see BENCHMARKS in the report)
        info["lagb_threshold_rule"] = (f"Otsu on log ridge strength of {rest.size} ridge pixels "
                                       f"below the grain-boundary threshold, more than {exclude} px from a grain boundary "
                                       "and 1 px inside the map and the mask")
    else:
        info["lagb_threshold_rule"] = "given"
    lagb = (ridge > lagb_threshold) & ~near & ~gb & core
    info.update({
        "gb_threshold": float(gb_threshold), "lagb_threshold": float(lagb_threshold),
        "ridge_pixels": int(cand.size), "ridge_median": float(np.median(cand)) if cand.size else float("nan"),
        "grain_boundary_pixels": int(gb.sum()), "low_angle_boundary_pixels": int(lagb.sum()),
    })
    return Boundaries(grain_boundaries=gb, low_angle_boundaries=lagb, ridge=ridge, thresholds=info)


# --------------------------------------------------------------------------------------------
# grain size and scoring


def mean_linear_intercept(gb: np.ndarray, step_y: float, step_x: float, mask: np.ndarray | None = None) -> float:
    """Mean linear intercept grain size (µm): total line length / number of boundary crossings.

    Lines are the rows and columns of the grid (inside ``mask``); a crossing is a step along
    a line from a pixel off a grain boundary onto one (a run of boundary pixels counts once).
    Line length is the number of in-mask pixels times the step. ``inf`` without crossings.

    Examples
    --------
    >>> gb = np.zeros((4, 10), bool); gb[:, 4] = True
    >>> mean_linear_intercept(gb, 1.0, 1.0)  # rows: 40 µm / 4 crossings; columns: none
    20.0
    """
    gb = np.asarray(gb, bool)
    inside = np.ones(gb.shape, bool) if mask is None else np.asarray(mask, bool)
    gb = gb & inside
    cross_x = int(np.sum(gb[:, 1:] & ~gb[:, :-1] & inside[:, :-1]))
    cross_y = int(np.sum(gb[1:, :] & ~gb[:-1, :] & inside[:-1, :]))
    length = float(inside.sum()) * (step_x + step_y)
    n = cross_x + cross_y
    return length / n if n else float("inf")


def boundary_f1(pred: Any, true: Any, tolerance: int = 1) -> dict[str, float]:
    """Precision, recall and F1 of a boundary mask against the truth, within ``tolerance`` pixels.

    A marked pixel is right when a true boundary pixel lies within ``tolerance`` pixels
    (Chebyshev distance: the (2·tol+1)² square); a true pixel is found when a marked one does.
    ``ratio_marked`` = marked pixels / true pixels.

    Examples
    --------
    >>> t = np.zeros((5, 5), bool); t[:, 2] = True
    >>> p = np.zeros((5, 5), bool); p[:, 3] = True; p[0, 0] = True
    >>> {k: round(v, 3) for k, v in boundary_f1(p, t).items()}
    {'precision': 0.833, 'recall': 1.0, 'f1': 0.909, 'ratio_marked': 1.2}
    """
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    if pred.shape != true.shape:
        raise ValueError(f"shapes differ: {pred.shape} and {true.shape}")
    st = np.ones((2 * tolerance + 1,) * 2, bool)
    near_true = ndi.binary_dilation(true, st) if tolerance > 0 else true
    near_pred = ndi.binary_dilation(pred, st) if tolerance > 0 else pred
    n_pred, n_true = int(pred.sum()), int(true.sum())
    precision = float((pred & near_true).sum() / n_pred) if n_pred else (1.0 if not n_true else 0.0)
    recall = float((true & near_pred).sum() / n_true) if n_true else (1.0 if not n_pred else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": float(f1),
            "ratio_marked": float(n_pred / n_true) if n_true else (0.0 if not n_pred else float("inf"))}


# --------------------------------------------------------------------------------------------
# the store-level command


@dataclass
class BoundaryResult:
    """What :func:`find_boundaries` wrote and how it chose its thresholds."""

    store: str
    source: str
    strength: xr.DataArray
    grain_boundaries: xr.DataArray
    low_angle_boundaries: xr.DataArray
    attrs: dict[str, Any]
    files: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        a = self.attrs
        lines = [
            f"boundaries of {self.store} from {self.source} (mask: {a['mask']}):",
            f"  grain-boundary threshold {a['gb_threshold']:.4g} ({a['gb_threshold_rule']}; "
            f"ridge median {a['ridge_median']:.4g}) → {a['grain_boundary_pixels']} pixels",
            f"  low-angle threshold {a['lagb_threshold']:.4g} ({a['lagb_threshold_rule']}) → "
            f"{a['low_angle_boundary_pixels']} pixels",
            f"  grain size (mean linear intercept): {a['grain_size_um']:.4g} µm",
            f"wrote {STRENGTH}, {GRAIN_BOUNDARIES}, {LOW_ANGLE_BOUNDARIES} (y, x)",
        ]
        lines += [f"  {k}: {v}" for k, v in self.files.items()]
        return "\n".join(lines)


def _grid_steps(ds: xr.Dataset) -> tuple[float, float]:
    def step(c: str) -> float:
        v = np.asarray(ds[c].values, float) if c in ds.coords else np.arange(ds.sizes[c], dtype=float)
        return float(np.median(np.abs(np.diff(v)))) if v.size > 1 else 1.0

    return step(Y), step(X)


def find_boundaries(
    store: Any,
    *,
    source: str = PATTERNS,
    mask: str | None = "roi",
    gb_threshold: float | None = None,
    lagb_threshold: float | None = None,
    background: bool = True,
    sigma: float = 1.0,
    along: int = 3,
    deep: int = 2,
    exclude: int = 2,
    prefix: str = "",
    overwrite: bool = False,
) -> BoundaryResult:
    """Boundary strength, grain and low-angle boundary masks and grain size; written to the store.

    Parameters
    ----------
    store
        Store path with a (y, x) grid.
    source
        ``patterns`` (y, x, py, px) or a latent variable (y, x, ...) of the store.
    mask
        Mask variable (``None`` or ``none``: every pixel); the default ``roi`` is used only
        when the store has it.
    gb_threshold, lagb_threshold
        Override the automatic thresholds (on the ridge strength, see :func:`boundaries_from_edges`).
    background
        From patterns: divide by the static background (mean pattern inside the mask) first.
    sigma
        From patterns: Gaussian blur (detector pixels) of each pattern before comparing.
    along, deep, exclude
        Edge boxes (:func:`edge_maps`) and the exclusion around grain boundaries.
    prefix
        Prefix of the written variable names.
    overwrite
        Replace variables written by an earlier run.

    Raises
    ------
    InputError
        No (y, x) grid, ``source`` missing or without it, a bad mask name.
    StoreError
        Variables exist and ``overwrite`` is false (checked before any computing).
    """
    ds = open_store(store)
    if Y not in ds.dims or X not in ds.dims:
        raise InputError(store, f"has no (y, x) grid (dims: {', '.join(map(str, ds.dims)) or 'none'}): "
                                "boundaries need a map")
    if source not in ds.data_vars:
        have = [str(n) for n, v in ds.data_vars.items() if v.dims[:2] == (Y, X) and v.ndim > 2]
        raise InputError(store, f"has no variable '{source}' (map variables with features: {', '.join(have) or 'none'})")
    var = ds[source]
    if var.dims[:2] != (Y, X) or var.ndim < 3:
        raise InputError(store, f"'{source}' has dims {var.dims}, not (y, x, ...)")
    names = {k: prefix + k for k in (STRENGTH, GRAIN_BOUNDARIES, LOW_ANGLE_BOUNDARIES)}
    exists = [n for n in names.values() if n in ds.data_vars]
    if exists and not overwrite:
        raise StoreError(store, f"has {', '.join(exists)} already: pass --overwrite to replace")
    if mask in (None, "none"):
        mask_name, valid = None, np.ones((ds.sizes[Y], ds.sizes[X]), bool)
    elif mask in ds.data_vars:
        m = ds[mask]
        if m.dtype != bool or m.dims != (Y, X):
            raise InputError(store, f"'{mask}' is not a (y, x) bool mask")
        mask_name, valid = mask, np.asarray(m.values, bool)
    elif mask == "roi":
        mask_name, valid = None, np.ones((ds.sizes[Y], ds.sizes[X]), bool)
    else:
        raise InputError(store, f"has no mask '{mask}'")

    data = var.data
    if source == PATTERNS:
        metric = "dot"
        bg = None
        if background:
            flat = data.reshape(-1, *data.shape[2:]) if isinstance(data, da.Array) else np.asarray(data).reshape(-1, *data.shape[2:])
            sel = flat[np.flatnonzero(valid.ravel())] if not valid.all() else flat
            bg = np.asarray(sel.astype(np.float64).mean(axis=0)) if isinstance(sel, da.Array) else sel.astype(np.float64).mean(axis=0)
            bg = np.asarray(bg, np.float32)

        def prepare(block: np.ndarray) -> np.ndarray:
            return prepare_patterns(block, bg, sigma)

        strength = 1.0 - neighbour_map(data, valid, metric="dot", prepare=prepare)
        right, down = edge_maps(data, valid, metric="dot", prepare=prepare, along=along, deep=deep)
        how = {"strength": "1 - mean normalised dot product with the 4 nearest neighbours", "background_divided": bool(background),
               "pattern_sigma": float(sigma)}
    else:
        metric = "euclidean"
        z = np.asarray(var.values, np.float64).reshape(ds.sizes[Y], ds.sizes[X], -1)
        valid = valid & np.all(np.isfinite(z), axis=-1)
        z = np.nan_to_num(z)
        strength = neighbour_map(z, valid, metric="euclidean")
        right, down = edge_maps(z, valid, metric="euclidean", along=along, deep=deep)
        how = {"strength": "mean Euclidean distance to the 4 nearest neighbours' latents"}
    found = boundaries_from_edges(right, down, valid, gb_threshold=gb_threshold, lagb_threshold=lagb_threshold,
                                  exclude=exclude)
    sy, sx = _grid_steps(ds)
    size = mean_linear_intercept(found.grain_boundaries, sy, sx, valid)
    attrs = {
        "source_variable": source, "mask": mask_name or "none", "metric": metric, **how,
        "edge_box_along": int(along), "edge_box_deep": int(deep), "exclude_px": int(exclude),
        **found.thresholds,
        "grain_size_um": float(size), "grain_size_method": "mean linear intercept along rows and columns",
        "step_um": [sy, sx],
    }
    coords = {Y: ds[Y], X: ds[X]} if Y in ds.coords and X in ds.coords else None

    def arr(v: np.ndarray, name: str) -> xr.DataArray:
        return xr.DataArray(v, dims=(Y, X), coords=coords, name=name)

    out = {
        names[STRENGTH]: arr(np.where(valid, strength, np.nan).astype(np.float32), names[STRENGTH]),
        names[GRAIN_BOUNDARIES]: arr(found.grain_boundaries & valid, names[GRAIN_BOUNDARIES]),
        names[LOW_ANGLE_BOUNDARIES]: arr(found.low_angle_boundaries & valid, names[LOW_ANGLE_BOUNDARIES]),
    }
    write_variables(store, out, mask=mask_name, source=[source] + ([mask_name] if mask_name else []),
                    config=_jsonable(attrs), attrs=_jsonable(attrs), overwrite=overwrite)
    return BoundaryResult(store=str(store), source=source, strength=out[names[STRENGTH]],
                          grain_boundaries=out[names[GRAIN_BOUNDARIES]],
                          low_angle_boundaries=out[names[LOW_ANGLE_BOUNDARIES]], attrs=attrs)


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
