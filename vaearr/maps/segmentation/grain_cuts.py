"""Grains cut where the patterns say so: a grain of a segmentation that holds two unrelated orientations.

The grain level reads the boundaries between regions (:mod:`vaearr.maps.segmentation.pattern_levels`). A region that straddles
a grain boundary — the coarse clustering can put the strip along a short boundary, and some of each grain, in one
region when the two grains' features lie close in the latent space — links the two grains, and no rule on regions
can part them (the patchwork family's deformed map 1 segmented on every pixel: two grains 38° apart, touching along
nine pixels, read as one; BENCHMARKS "Science: two families").

Pixel to pixel the patterns tell, on a scale the physics fixes: the correlation of two neighbouring patterns (static
background divided), over the grain's median of it, is about 1 inside a grain — 0.9 at the steepest bending of the
benchmark maps, 0.75° a pixel — and about 0 between unrelated orientations; a pixel on the boundary, recording both
sides, reads about 0.7 to either. So, per grain:

1. neighbour pairs under :data:`CUT` × the grain's median are cut; the pixels the other pairs connect are its pieces;
2. two pieces of at least :data:`MIN_PIECE` pixels are two grains when their pixels within :data:`REACH` pixels of each
   other correlate under :data:`APART` × the median. A scratch or a row of blank patterns through one grain cuts
   it into pieces too, but across it the pieces still correlate (0.73–1.04 on the benchmark maps where that
   happened; across the hidden boundary, 0.08);
3. every other pixel of the grain (the boundary's mixed pixels, blank ones, small pieces) joins the piece it
   correlates with best, growing out from the pieces; regions are cut along the new grain boundary.
4. on every grain, cut or not: a piece of fewer than :data:`MIN_PIECE` pixels whose pixels correlate under
   :data:`APART` × the median with the rest of their grain within :data:`REACH` pixels, and at or over it with another
   grain's, moves to that grain (:func:`move_pieces`): a boundary drawn a few pixels into the wrong grain, as a tongue
   at a triple junction, leaves such a piece (science deformed map 2: 12 pixels 2–3 from the true boundary, which
   correlate at 0.74–0.80 × the median with their own grain, 0.09–0.38 × with the one they had been given).

MTEX's ``calcGrains`` joins neighbours closer than an angle the same way; here the "angle" is the patterns'
correlation, which needs no indexing, and only a grain that holds two such pieces is touched.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from vaearr.maps.patterns.blocks import read_ahead, spans
from vaearr.maps.segmentation.merging import grid_pairs, relabel

#: A neighbour pair is cut when its patterns correlate under this × the grain's median neighbour correlation.
CUT = 0.8
#: Two pieces are two grains when their pixels within REACH of each other correlate under this × the median.
APART = 0.5
#: Pixels a piece needs to count as a possible grain (as the grain rule's side rows: 8 pixels × 4 deep).
MIN_PIECE = 32
#: Pixels (Chebyshev) between the pixels of two pieces compared across what parts them.
REACH = 3
#: Pattern rows read at a time.
BLOCK_PIXELS = 4096


def neighbour_dots(data: Any, prepare: Callable[[np.ndarray], np.ndarray],
                   valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dot products of each pixel's prepared pattern with its right and its lower neighbour's ((ny, nx − 1) and
    (ny − 1, nx); NaN where either is not ``valid``): one pass over the pattern map ``data`` (y, x, py, px) in row
    blocks."""
    ny, nx = valid.shape
    right = np.full((ny, max(nx - 1, 0)), np.nan)
    down = np.full((max(ny - 1, 0), nx), np.nan)
    step = max(1, BLOCK_PIXELS // max(nx, 1))
    last = None
    for (r0, r1), block in read_ahead(data, spans(ny, step)):
        f = np.asarray(prepare(block), np.float32).reshape(r1 - r0, nx, -1)
        right[r0:r1] = np.einsum("yxk,yxk->yx", f[:, :-1], f[:, 1:])
        down[r0:r1 - 1] = np.einsum("yxk,yxk->yx", f[:-1], f[1:])
        if last is not None:
            down[r0 - 1] = np.einsum("xk,xk->x", last, f[0])
        last = f[-1]
    right[~(valid[:, :-1] & valid[:, 1:])] = np.nan
    down[~(valid[:-1] & valid[1:])] = np.nan
    return right, down


def _pairs(grains: np.ndarray, right: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat pixel pairs inside one grain with their dot products."""
    ny, nx = grains.shape
    a, b = grid_pairs(np.ones((ny, nx), bool))  # every 4-neighbour pair, right then down
    dot = np.r_[right.ravel(), down.ravel()]
    g = grains.ravel()
    keep = (g[a] >= 0) & (g[a] == g[b]) & np.isfinite(dot)
    return a[keep], b[keep], dot[keep]


def _median_by(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n + 1))
    for k in range(n):
        if bounds[k + 1] > bounds[k]:
            out[k] = np.median(values[order[bounds[k]:bounds[k + 1]]])
    return out


def _across(block: np.ndarray, pieces: np.ndarray, first: int, second: int) -> float:
    """Mean dot product of the prepared patterns ``block`` (h, w, k) over pixel pairs, one in piece ``first`` and one
    in ``second`` (ids of ``pieces``, h × w), at most :data:`REACH` pixels apart; NaN when none are."""
    h, w = pieces.shape
    one, two = pieces == first, pieces == second
    total, count = 0.0, 0
    for dy in range(-REACH, REACH + 1):
        for dx in range(-REACH, REACH + 1):
            src = (slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0)))
            dst = (slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0)))
            both = one[src] & two[dst]
            if both.any():
                total += float(np.einsum("nk,nk->", block[src][both], block[dst][both], dtype=np.float64))
                count += int(both.sum())
    return total / count if count else float("nan")


def _across_pieces(pieces: np.ndarray, first: int, second: int, data: Any,
                   prepare: Callable[[np.ndarray], np.ndarray]) -> float:
    """:func:`_across` for two pieces of the (ny, nx) ``pieces`` map, reading only the patterns of the box where they
    come within :data:`REACH` of each other (a scratch across a large grain: a thin band, not the grain)."""
    one = pieces == first
    near = one & ndi.binary_dilation(pieces == second, np.ones((3, 3), bool), iterations=REACH)
    if not near.any():
        return float("nan")
    ys, xs = np.nonzero(near)
    ny, nx = pieces.shape
    box = (slice(max(ys.min() - REACH, 0), min(ys.max() + REACH + 1, ny)),
           slice(max(xs.min() - REACH, 0), min(xs.max() + REACH + 1, nx)))
    h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
    block = np.asarray(prepare(np.asarray(data[box])), np.float32).reshape(h, w, -1)
    return _across(block, pieces[box], first, second)


def _grow(labels: np.ndarray, a: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Unlabelled pixels (−1) take the label of the labelled neighbour they correlate with best (``r`` per pair
    ``a``, ``b``), round by round out from the labelled ones, until none is left that touches one."""
    labels = labels.copy()
    while True:
        la, lb = labels[a], labels[b]
        src = np.r_[a[(la < 0) & (lb >= 0)], b[(lb < 0) & (la >= 0)]]
        lab = np.r_[lb[(la < 0) & (lb >= 0)], la[(lb < 0) & (la >= 0)]]
        val = np.r_[r[(la < 0) & (lb >= 0)], r[(lb < 0) & (la >= 0)]]
        if not src.size:
            return labels
        order = np.lexsort((-val, src))
        first = order[np.r_[True, src[order][1:] != src[order][:-1]]]
        labels[src[first]] = lab[first]


def _pieces(grains: np.ndarray, right: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pairs inside grains (``a``, ``b``), their correlation over the grain's median ``r``, the median per grain, and
    the pieces the pairs of at least :data:`CUT` connect (flat, −1 outside) with their sizes."""
    g = grains.ravel()
    a, b, dot = _pairs(grains, right, down)
    median = _median_by(g[a], dot, int(g.max()) + 1)
    r = dot / np.where(median[g[a]] > 0, median[g[a]], np.nan)
    keep = r >= CUT
    graph = sparse.coo_matrix((np.ones(int(keep.sum()), np.int8), (a[keep], b[keep])), shape=(g.size, g.size))
    piece = np.where(g >= 0, connected_components(graph, directed=False)[1], -1)
    size = np.bincount(piece[piece >= 0], minlength=int(piece.max()) + 1)
    return a, b, r, median, piece, size


def cut_grains(regions: np.ndarray, grains: np.ndarray, right: np.ndarray, down: np.ndarray, data: Any,
               prepare: Callable[[np.ndarray], np.ndarray], min_size: int = 1) -> tuple[np.ndarray, np.ndarray, dict]:
    """Grains that hold two unrelated orientations, cut (module docstring). ``regions``, ``grains`` (ny, nx; −1
    outside), ``right``, ``down`` from :func:`neighbour_dots`; ``data`` the pattern map, read again only around the
    grains with two pieces. Region pieces of fewer than ``min_size`` pixels the cut leaves join the region of their
    grain they share most edges with. Returns regions, grains and what was done."""
    ny, nx = grains.shape
    g = grains.ravel()
    n_grains = int(g.max()) + 1 if (g >= 0).any() else 0
    info: dict[str, Any] = {"grain_cut_rule": (
        f"pattern space: a grain whose neighbour pairs under {CUT:g} × its median pattern correlation part pieces of "
        f"{MIN_PIECE}+ pixels that correlate under {APART:g} × it within {REACH} pixels is cut in two"),
        "grains_cut": 0}
    if n_grains == 0:
        return regions, grains, info
    a, b, r, median, piece, size = _pieces(grains, right, down)
    big = (g >= 0) & (size[np.maximum(piece, 0)] >= MIN_PIECE)
    grain_of_piece = np.full(size.size, -1)
    grain_of_piece[piece[big]] = g[big]
    counts = np.bincount(grain_of_piece[grain_of_piece >= 0], minlength=n_grains)
    new_grain = g.copy()
    next_id, cut = n_grains, 0
    for k in np.flatnonzero(counts >= 2):
        mine = np.flatnonzero(grain_of_piece == k)
        joined = np.eye(mine.size, dtype=bool)
        for i in range(mine.size):
            for j in range(i + 1, mine.size):
                c = _across_pieces(piece.reshape(ny, nx), mine[i], mine[j], data, prepare) / median[k]
                joined[i, j] = joined[j, i] = not c < APART  # no pixels within reach: not read apart
        n_parts, part = connected_components(sparse.csr_matrix(joined), directed=False)
        if n_parts < 2:
            continue
        cut += n_parts - 1
        labels = np.full(g.size, -1)
        for i, p in enumerate(mine):
            labels[piece == p] = part[i]
        inside = g == k
        sel = inside[a] & inside[b]
        labels = _grow(np.where(inside, labels, -2), a[sel], b[sel], np.nan_to_num(r[sel], nan=-1.0))
        ids = np.r_[k, np.arange(next_id, next_id + n_parts - 1)]
        new_grain[inside & (labels >= 0)] = ids[labels[inside & (labels >= 0)]]
        next_id += n_parts - 1
    info["grains_cut"] = int(cut)
    if not cut:
        return regions, grains, info
    cut_map = new_grain.reshape(ny, nx)
    inside = cut_map >= 0
    keyed = np.full(regions.shape, -1)
    keyed[inside] = relabel(regions[inside].astype(np.int64) * (next_id + 1) + cut_map[inside])
    out = np.full(regions.shape, -1)
    out[inside] = relabel(cut_map[inside])
    return _absorb_pieces(keyed, out, min_size), out, info


def _absorb_pieces(regions: np.ndarray, grains: np.ndarray, min_size: int) -> np.ndarray:
    """Regions of fewer than ``min_size`` pixels join the region (of at least that many) of their grain they share
    most edges with; one without such a neighbour stays."""
    flat, g = regions.ravel().copy(), grains.ravel()
    ny, nx = regions.shape
    a, b = grid_pairs(np.ones((ny, nx), bool))  # every 4-neighbour pair, right then down
    size = np.bincount(flat[flat >= 0], minlength=int(flat.max()) + 1)
    edge = (flat[a] >= 0) & (flat[b] >= 0) & (flat[a] != flat[b]) & (g[a] == g[b])
    src = np.r_[flat[a[edge]], flat[b[edge]]]
    dst = np.r_[flat[b[edge]], flat[a[edge]]]
    small = (size[src] < min_size) & (size[dst] >= min_size)
    if small.any():
        width = size.size
        key, n = np.unique(src[small].astype(np.int64) * width + dst[small], return_counts=True)
        order = np.lexsort((-n, key // width))
        first = order[np.r_[True, (key // width)[order][1:] != (key // width)[order][:-1]]]
        target = np.arange(width)
        target[key[first] // width] = key[first] % width
        flat = np.where(flat >= 0, target[np.maximum(flat, 0)], -1)
    out = np.full(flat.shape, -1)
    out[flat >= 0] = relabel(flat[flat >= 0])
    return out.reshape(ny, nx)


def move_pieces(regions: np.ndarray, grains: np.ndarray, right: np.ndarray, down: np.ndarray, data: Any,
                prepare: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Small pieces of a grain that belong to the grain beside it, moved there: a piece of fewer than
    :data:`MIN_PIECE` pixels (the pairs under :data:`CUT` part it from the rest of its grain) whose pixels correlate
    with that other grain's pixels within :data:`REACH` at :data:`APART` × its median or more, and with their own
    grain's under that. A boundary drawn a few pixels into the wrong grain (a tongue of one grain at a triple
    junction) leaves such a piece; a boundary pixel that records both sides correlates with both and stays, a blank
    one with neither and stays. A piece moves only to a grain it touches (grains stay connected pixels) and takes the
    region of that grain it shares most edges with.
    One pass over the pattern rows that hold such pieces. Returns regions, grains and the pixels moved."""
    ny, nx = grains.shape
    g = grains.ravel()
    info: dict[str, Any] = {"grain_piece_pixels_moved": 0}
    if not (g >= 0).any():
        return regions, grains, info
    _, _, _, median, piece, size = _pieces(grains, right, down)
    small = (piece >= 0) & (size[np.maximum(piece, 0)] < MIN_PIECE)
    touching = np.zeros((ny, nx), bool)  # a 4-neighbour in another grain: a piece moves only to a grain it touches
    for src, dst in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                     ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        differ = (grains[src] >= 0) & (grains[dst] >= 0) & (grains[src] != grains[dst])
        touching[src] |= differ
        touching[dst] |= differ
    candidate = small & np.isin(piece, np.unique(piece[small & touching.ravel()]))
    if not candidate.any():
        return regions, grains, info
    pc, gm = piece.reshape(ny, nx), grains
    keys, values = [], []
    cy, cx = np.divmod(np.flatnonzero(candidate), nx)
    step = max(1, BLOCK_PIXELS // max(nx, 1))
    needed = [r0 for r0 in range(0, ny, step) if ((cy >= r0) & (cy < r0 + step)).any()]
    halos = [(max(0, r0 - REACH), min(ny, r0 + step + REACH)) for r0 in needed]
    for ((h0, h1), block), r0 in zip(read_ahead(data, halos), needed):
        here = (cy >= r0) & (cy < min(ny, r0 + step))
        f = np.asarray(prepare(block), np.float32).reshape(h1 - h0, nx, -1)
        y0, x0 = cy[here], cx[here]
        for dy in range(-REACH, REACH + 1):
            for dx in range(-REACH, REACH + 1):
                y1, x1 = y0 + dy, x0 + dx
                ok = (y1 >= 0) & (y1 < ny) & (x1 >= 0) & (x1 < nx)
                ya, xa, yb, xb = y0[ok], x0[ok], y1[ok], x1[ok]
                ok = (gm[yb, xb] >= 0) & (pc[yb, xb] != pc[ya, xa])
                ya, xa, yb, xb = ya[ok], xa[ok], yb[ok], xb[ok]
                dot = np.einsum("nk,nk->n", f[ya - h0, xa], f[yb - h0, xb])
                keys.append(pc[ya, xa].astype(np.int64) * (int(g.max()) + 1) + gm[yb, xb])
                values.append(dot / median[gm[yb, xb]])
    key, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    mean = np.bincount(inverse, np.concatenate(values)) / np.bincount(inverse)
    width = int(g.max()) + 1
    p, other = key // width, key % width
    first_pixel = np.zeros(int(piece.max()) + 1, np.int64)
    first_pixel[piece[candidate]] = np.flatnonzero(candidate)
    own_grain = g[first_pixel[p]]
    own = np.full(int(piece.max()) + 1, np.nan)
    own[p[other == own_grain]] = mean[other == own_grain]
    # the grains each candidate piece touches (4-neighbours): only those can take it, so grains stay connected
    a, b = grid_pairs(np.ones((ny, nx), bool))  # every 4-neighbour pair, right then down
    src, dst = np.r_[a, b], np.r_[b, a]
    cross = candidate[src] & (g[dst] >= 0) & (g[dst] != g[src])
    touches = np.unique(piece[src[cross]].astype(np.int64) * width + g[dst[cross]])
    away = (other != own_grain) & np.isin(key, touches)
    order = np.lexsort((-mean[away], p[away]))
    pa, ga, ma = p[away][order], other[away][order], mean[away][order]
    best = np.r_[True, pa[1:] != pa[:-1]] if pa.size else np.zeros(0, bool)
    pa, ga, ma = pa[best], ga[best], ma[best]
    go = (ma >= APART) & ~(own[pa] >= APART)
    if not go.any():
        return regions, grains, info
    target = np.full(int(piece.max()) + 1, -1)
    target[pa[go]] = ga[go]
    move = (piece >= 0) & (target[np.maximum(piece, 0)] >= 0)
    new_grain = np.where(move, target[np.maximum(piece, 0)], g)
    new_regions = regions.ravel().copy()
    # each moved piece takes the region of its new grain it shares most edges with
    edge = move[src] & ~move[dst] & (new_grain[dst] == new_grain[src]) & (new_regions[dst] >= 0)
    rwidth = int(new_regions.max()) + 1
    pair, count = np.unique(piece[src[edge]].astype(np.int64) * rwidth + new_regions[dst[edge]], return_counts=True)
    order = np.lexsort((pair % rwidth, -count, pair // rwidth))  # per piece: most edges, then the lowest region id
    first = order[np.r_[True, (pair // rwidth)[order][1:] != (pair // rwidth)[order][:-1]]] if pair.size else order
    region_of = np.full(int(piece.max()) + 1, -1)
    region_of[pair[first] // rwidth] = pair[first] % rwidth
    moved_ids = np.flatnonzero(target >= 0)
    lonely = moved_ids[region_of[moved_ids] < 0]  # it touches only other pieces moved to the same grain
    region_of[lonely] = rwidth + np.arange(lonely.size)
    new_regions = np.where(move, region_of[np.maximum(piece, 0)], new_regions)
    out_regions = np.full(ny * nx, -1)
    out_regions[new_regions >= 0] = relabel(new_regions[new_regions >= 0])
    out_grains = np.full(ny * nx, -1)
    out_grains[new_grain >= 0] = relabel(new_grain[new_grain >= 0])
    info["grain_piece_pixels_moved"] = int(move.sum())
    return out_regions.reshape(ny, nx), out_grains.reshape(ny, nx), info
