"""Edges between neighbouring pixels of a map (no masks, no figures): the numbers :mod:`vaearr.maps.boundaries.boundaries` thresholds.

* :func:`neighbour_map` — per pixel, the mean over its 4 nearest neighbours of a pair value:
  kikuchipy's average neighbour dot product of normalised patterns, or the distance between latents.
* :func:`edge_maps` — per edge between a pixel and its right / lower neighbour, the two
  ``along × deep`` boxes either side compared (``1 −`` correlation of their mean patterns, or
  the distance of their mean latents).
* :func:`welch_edges` — per edge, the Welch t² of the boxes' means (their squared difference
  over the noise variance the boxes themselves show).
* :func:`ridge_strength` — edges that are a local maximum across themselves.

Pattern maps are read row block by row block with a halo, so they never have to fit in memory.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from vaearr.maps.patterns.blocks import read_ahead
from vaearr.progress import bar

#: Offsets (dy, dx) of half the window: kikuchipy's default 3×3 circular window, the four
#: nearest neighbours; each pair is counted for both of its pixels.
_HALF_WINDOW = ((0, 1), (1, 0))


# --------------------------------------------------------------------------------------------
# features of one row block


def prepare_patterns(block: np.ndarray, background: np.ndarray | None = None, sigma: float = 0.0) -> np.ndarray:
    """(..., py, px) patterns → (..., py·px) float32, zero mean and unit norm per pattern.

    Divided by ``background`` (the static background) when given, blurred by a Gaussian of
    ``sigma`` detector pixels when > 0. A flat pattern becomes all zeros. Each pattern is prepared on
    its own, so a large block is prepared in parts on every core (:data:`PREPARE_PART` patterns a
    part; numpy releases the GIL), with the same numbers.
    """
    shape = np.shape(block)
    n = int(np.prod(shape[:-2], dtype=np.int64))
    workers = min(os.cpu_count() or 1, n // PREPARE_PART)
    if workers < 2:
        return _prepared_part(block, background, sigma)
    flat = np.reshape(block, (n, *shape[-2:]))
    out = np.empty((n, shape[-2] * shape[-1]), np.float32)

    def part(s: int) -> None:
        out[s:s + PREPARE_PART] = _prepared_part(flat[s:s + PREPARE_PART], background, sigma)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(part, range(0, n, PREPARE_PART)))
    return out.reshape(*shape[:-2], -1)


#: Patterns :func:`prepare_patterns` prepares at a time on one core.
PREPARE_PART = 2048


def _prepared_part(block: np.ndarray, background: np.ndarray | None, sigma: float) -> np.ndarray:
    p = np.asarray(block, dtype=np.float32)
    if background is not None:
        bg = np.maximum(np.asarray(background, np.float32), 1e-6)
        # in place where asarray made a copy (integer counts): the same quotient, one array less to fault in
        p = np.divide(p, bg, out=p) if not np.may_share_memory(p, block) else p / bg
    if sigma > 0:
        p = ndi.gaussian_filter(p, (0,) * (p.ndim - 2) + (sigma, sigma))
    p = p.reshape(*p.shape[:-2], -1)
    p = p - p.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(p, axis=-1, keepdims=True)
    return np.divide(p, norm, out=np.zeros_like(p), where=norm > 0)


def _row_blocks(features: Any, ny: int, rows: int, halo: int):
    """``(r0, r1, h0, h1, block)`` of each block of ``rows`` rows: ``block`` the rows ``h0:h1`` (``halo`` more either
    side), read one block ahead (:func:`~vaearr.maps.patterns.blocks.read_ahead`)."""
    parts = [(r0, min(ny, r0 + rows)) for r0 in range(0, ny, rows)]
    halos = [(max(0, r0 - halo), min(ny, r1 + halo)) for r0, r1 in parts]
    blocks = bar(read_ahead(features, halos), desc="edges: row blocks", unit="block", total=len(halos))
    for ((h0, h1), block), (r0, r1) in zip(blocks, parts):
        yield r0, r1, h0, h1, block


def _pairs(f: np.ndarray, valid: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count over the valid 4 nearest neighbours (kikuchipy's 3×3 circular window) of each pixel of one block (y, x, d)."""
    ny, nx = valid.shape
    total = np.zeros((ny, nx), np.float64)
    count = np.zeros((ny, nx), np.int32)
    for dy, dx in _HALF_WINDOW:
        ys, yd = slice(0, ny - dy), slice(dy, ny)
        xs, xd = (slice(0, nx - dx), slice(dx, nx)) if dx >= 0 else (slice(-dx, nx), slice(0, nx + dx))
        a, b = f[ys, xs], f[yd, xd]
        # two metrics, not a family: cosine-like for patterns, Euclidean for latents (boundaries' choice)
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
    for r0, r1, h0, h1, block in _row_blocks(features, ny, max(1, int(rows)), 1):
        f = prepare(block) if prepare is not None else block.reshape(h1 - h0, nx, -1)
        total, count = _pairs(f, valid_all[h0:h1], metric)
        t, c = total[r0 - h0 : r1 - h0], count[r0 - h0 : r1 - h0]
        out[r0:r1] = np.where(valid_all[r0:r1] & (c > 0), t / np.maximum(c, 1), np.nan)
    return out


def _box_sums(f: np.ndarray, w: np.ndarray, along: int, deep: int):
    """Weighted sums over the ``along × deep`` boxes left and right of each edge (i, j)–(i, j+1).

    Returns ``((sum, count, sum of squared norms) left, (...) right)``, each (y, x − 1[, d]).
    """
    ny, nx, d = f.shape
    wf = w.astype(np.float64)

    def cum(a: np.ndarray) -> np.ndarray:
        a = ndi.uniform_filter1d(a, along, axis=0, mode="constant") * along
        return np.concatenate([np.zeros((ny, 1, *a.shape[2:])), np.cumsum(a, axis=1, dtype=np.float64)], axis=1)

    c, cw, cq = cum(f * wf[..., None]), cum(wf), cum(np.einsum("ijk,ijk->ij", f, f) * wf)
    j = np.arange(nx - 1)
    lo, hi = np.maximum(0, j - deep + 1), np.minimum(nx, j + 1 + deep)
    return tuple((c[:, b] - c[:, a], cw[:, b] - cw[:, a], cq[:, b] - cq[:, a]) for a, b in ((lo, j + 1), (j + 1, hi)))


def _side_edges(f: np.ndarray, w: np.ndarray, along: int, deep: int, metric: str) -> np.ndarray:
    """Edge value between (i, j) and (i, j+1) from the weighted means of the boxes either side."""
    ny = f.shape[0]
    (sl, nl, _), (sr, nr, _) = _box_sums(f, w, along, deep)
    left = sl / np.maximum(nl, 1e-12)[..., None]
    right = sr / np.maximum(nr, 1e-12)[..., None]
    if metric == "dot":  # the two metrics of _pairs
        left = left - left.mean(-1, keepdims=True)
        right = right - right.mean(-1, keepdims=True)
        den = np.sqrt(np.sum(left**2, -1) * np.sum(right**2, -1))
        e = 1 - np.sum(left * right, -1) / np.maximum(den, 1e-30)
    else:
        e = np.sqrt(np.sum((left - right) ** 2, -1))
    e = np.where(w[:, :-1] & w[:, 1:], e, np.nan)
    return np.concatenate([e, np.full((ny, 1), np.nan)], axis=1)


def welch_edges(z: np.ndarray, w: np.ndarray, along: int, deep: int) -> np.ndarray:
    """Welch t² between the ``along × deep`` boxes either side of each edge (i, j)–(i, j+1).

    ``‖mean_L − mean_R‖² / (v_L/n_L + v_R/n_R)`` with ``v`` the boxes' own variance (summed over
    the feature dims); NaN where either pixel is outside ``w`` or a box has fewer than 2 pixels.
    """
    ny = z.shape[0]
    (sl, nl, ql), (sr, nr, qr) = _box_sums(z, w, along, deep)
    nl1, nr1 = np.maximum(nl, 1e-12), np.maximum(nr, 1e-12)
    ml, mr = sl / nl1[..., None], sr / nr1[..., None]
    vl = np.maximum(ql - nl * np.sum(ml**2, -1), 0) / np.maximum(nl - 1, 1e-12)
    vr = np.maximum(qr - nr * np.sum(mr**2, -1), 0) / np.maximum(nr - 1, 1e-12)
    t2 = np.sum((ml - mr) ** 2, -1) / np.maximum(vl / nl1 + vr / nr1, 1e-30)
    t2 = np.where(w[:, :-1] & w[:, 1:] & (nl >= 2) & (nr >= 2), t2, np.nan)
    return np.concatenate([t2, np.full((ny, 1), np.nan)], axis=1)


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
    for r0, r1, h0, h1, block in _row_blocks(features, ny, max(int(rows), halo + 1), halo):
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
