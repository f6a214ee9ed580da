"""The two levels of a segmentation read in pattern space: which boundaries are grain boundaries, and the sub-grain floor.

**Grain boundaries: a rule that holds on any map (no gap, no tuning).**

Two Kikuchi patterns of one orientation are the same picture; of two unrelated orientations they
do not correlate at all once the static background is divided out (Ni at 20 kV: the correlation
of noise-free patterns is 0.00 ± 0.02 for random and Σ3-twin pairs; it falls to half at 2–3°).
So the correlation of the mean patterns on the two sides of a boundary, freed of the noise, says
what the boundary is on a scale the physics fixes: 1 inside a grain, 0 across a grain boundary,
whatever the counts, gain, background, pattern size or feature space the regions came from.

Two things blur that near a boundary, and the rule is built around both:

* **mixing**: a pixel on a boundary records both sides (its interaction volume straddles it), so
  the rows next to the boundary correlate with both;
* **orientation gradients**: in a bent grain the pattern drifts pixel by pixel, so sides two
  pixels apart differ by the gradient however smooth it is (1.5°/µm at a 0.5 µm step: 1.5° over
  two pixels, a correlation near 0.6).

For every pair of adjacent regions ``i``, ``j`` the pixels at depth 1, 2 and 3 from their shared
boundary (``i1, i2, i3`` along the line through each boundary edge, likewise ``j``) are averaged,
and the noise-free correlation of two such means is ``m_A·m_B / √(|μ_A|² |μ_B|²)`` with ``|μ|²`` the
unbiased squared norm of the mean (its scatter over the pixel count subtracted). The boundary's
**excess dissimilarity** is

    max(δ(i2, j1), δ(i1, j2)) − min(δ(i1, i3), δ(j1, j3)),    δ = 1 − correlation,

the dissimilarity across the boundary over two pixels (one side's mixed row left out either way),
less the dissimilarity over two pixels inside either region (what a gradient alone gives). A
grain boundary reads about 1, a gradient about 0 and a sub-grain step of 0.25–1° 0.01–0.3; a
boundary is a grain boundary when its excess is over :data:`GRAIN_EXCESS`.

**A side whose first rows are not its own.** Where a region's boundary was drawn a pixel or two
into its neighbour (mixed boundary patterns, on a map segmented without a mask), its rows at depth
1–2 are a mixture of both grains and the comparison above reads a grain boundary as small, while
the side's rows 2 → 4 read as a steep gradient. Along a gradient the pseudo-angle adds up (the path
``i2 → j2 → j4`` is as long as ``i2 → j4``); through a mixture it does not (a 50/50 row is 0.83
from either grain, the grains 2.15 apart). Where the path through ``j2`` is shorter than direct by
more than :data:`MIXED_ROWS`, or where ``j2`` is nearer ``i2`` than ``j``'s own row ``j4`` (the rows are
``i``'s pixels), the side is also read from its row at depth 3:
``δ(i2, j3)`` less 1.5 pixels of ``i``'s gradient and 2.5 of ``j``'s, read from ``j3, j4``; the
larger excess counts. On the tuning maps of both families the paths of boundaries inside a grain
were at most 0.001 shorter through ``j2``, those of the mixed sides 0.85–0.91 (the threshold is near the
middle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from vaearr.maps.patterns.background import static_background
from vaearr.maps.patterns.edges import prepare_patterns
from vaearr.maps.segmentation.merging import group_sums
from vaearr.maps.options import GRAIN_EXCESS
from vaearr.maps.patterns.blocks import holds, read_ahead, spans
from vaearr.progress import bar
from vaearr.store.schema import PATTERNS, PX, PY, X, Y

#: Depth (pixels) of the rows either side of a boundary the rule reads.
DEPTH = 4
#: Pixels a side row needs for its mean to count (fewer: the row is left out; a boundary with no row left is unmeasured).
MIN_ROW_PIXELS = 8
#: Floats a side-row's sums may take in all before the patterns are binned 2 × 2 (256 MB of float64).
SUM_BUDGET = 32 * 1024 * 1024
#: The grain rule's bar for a region of fewer than MIN_ROW_PIXELS × DEPTH pixels with no measured link: it joins
#: its least dissimilar neighbour below this (the rule's first bar, 0.7, kept where the noise is large).
FEW_PIXELS_EXCESS = 0.7
#: Pattern rows read at a time.
BLOCK_PIXELS = 4096
#: How much shorter (pseudo-angle) the path from one side's row at depth 2 to the other side's row at depth 4 is
#: through that other side's row at depth 2 than direct, for the rule to read that side from its row at depth 3:
#: about 0 or less along an orientation gradient (the pseudo-angle adds up along a path), 0.5 through a row of
#: 50/50 mixed patterns and more through rows of the near side's pixels. Chosen on the tuning maps of both families (module docstring).
MIXED_ROWS = 0.4


class PatternSpace:
    """A store's patterns, static background divided and normalised: where the grain rule and the sub-grain floor
    are read (in a latent space the distances between grains and sub-grains depend on the model, in pattern
    space on physics). The static background is the mean pattern inside ``mask_name`` (streamed)."""

    def __init__(self, store: Any, ds: Any, mask_name: str | None):
        self.bg = static_background(store, PATTERNS, (Y, X), mask_name, feature_dims=(PY, PX)).astype(np.float32)
        self.data = ds[PATTERNS].transpose(Y, X, PY, PX).data
        self.size = int(ds.sizes[PY] * ds.sizes[PX])

    @staticmethod
    def available(ds: Any) -> bool:
        """Whether the store has a (y, x, py, px) pattern map."""
        return PATTERNS in ds.data_vars and set(ds[PATTERNS].dims) == {Y, X, PY, PX}

    def prepare(self, block: np.ndarray) -> np.ndarray:
        return prepare_patterns(block, self.bg, 0.0)

    def grains(self, regions: np.ndarray, threshold: float = GRAIN_EXCESS, sum_budget: int = SUM_BUDGET,
               source: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """:func:`pattern_grains` of ``regions`` on these patterns."""
        return pattern_grains(regions, self.data, self.prepare, self.size, threshold=threshold, sum_budget=sum_budget,
                              source=source)


@dataclass
class BoundaryRows:
    """The pixels at depth 1..:data:`DEPTH` either side of every adjacent region pair's boundary."""

    i: np.ndarray  # (P,) first region of each pair (i < j)
    j: np.ndarray  # (P,) second region
    row: np.ndarray  # (M,) row id: (pair · 2 + side) · DEPTH + depth − 1
    pixel: np.ndarray  # (M,) flat pixel index of each member (unique per row)

    @property
    def n_rows(self) -> int:
        return self.i.size * 2 * DEPTH


def boundary_rows(regions: np.ndarray, depth: int = DEPTH, source: np.ndarray | None = None) -> BoundaryRows:
    """Side rows of every boundary edge: for an edge ``p | q`` (right or down) between regions
    ``a = regions[p]`` and ``b = regions[q]``, the pixels ``p − k·d`` (k < depth) while they stay in
    ``a`` and ``q + k·d`` while they stay in ``b``; ``regions`` (ny, nx) with −1 outside.

    The rows at depth 2, the ones the rule compares across the boundary, leave out a pixel that touches
    a third region: it lies on that region's boundary and records it too. Where a region is a thin strip
    (boundary pixels of several grains that the clustering put in one region) the row would otherwise
    compare the other side with a mixture, which can read alike to a grain the strip only touches and
    join two grains through it. A pair with a region of fewer than ``MIN_ROW_PIXELS × depth`` pixels
    keeps every pixel: such a region is all edge, and the few-pixel rule reads it. ``source`` (flat, or None): the
    pixel read for each pixel of ``regions`` (a masked pixel of a closed gap reads its owner, counted once a row)."""
    ny, nx = regions.shape
    flat = regions.ravel()
    idx = np.arange(ny * nx).reshape(ny, nx)
    size = np.bincount(flat[flat >= 0], minlength=int(flat.max()) + 1 if flat.size else 0)
    padded = np.pad(regions, 1, constant_values=-1)
    near = np.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]], -1).reshape(-1, 4)
    parts = []
    for step in ((0, 1), (1, 0)):
        dy, dx = step
        p = idx[: ny - dy, : nx - dx].ravel()
        q = idx[dy:, dx:].ravel()
        ra, rb = flat[p], flat[q]
        edge = (ra >= 0) & (rb >= 0) & (ra != rb)
        p, q, ra, rb = p[edge], q[edge], ra[edge], rb[edge]
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        py_, px_ = np.divmod(p, nx)
        qy, qx = np.divmod(q, nx)
        for sign, (sy, sx), own in ((-1, (py_, px_), ra), (1, (qy, qx), rb)):
            alive = np.ones(p.size, bool)
            for k in range(depth):
                yy, xx = sy + sign * k * dy, sx + sign * k * dx
                inside = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
                pix = np.where(inside, yy * nx + xx, 0)
                alive &= inside & (flat[pix] == own)
                keep = alive
                if k == 1:  # a pixel on a third region's boundary records it too: out of the rows compared across
                    third = near[pix]
                    keep = alive & ~(((third >= 0) & (third != lo[:, None]) & (third != hi[:, None])).any(1)
                                     & (np.minimum(size[lo], size[hi]) >= MIN_ROW_PIXELS * depth))
                sel = np.flatnonzero(keep)
                parts.append((lo[sel], hi[sel], (own[sel] == hi[sel]).astype(np.int64), np.full(sel.size, k),
                              pix[sel]))
    lo, hi, side, k, pix = (np.concatenate(c) if parts else np.zeros(0, np.int64) for c in zip(*parts))
    if source is not None:
        pix = source[pix]
    r = int(regions.max()) + 1 if regions.size else 0
    key, pair = np.unique(lo.astype(np.int64) * r + hi, return_inverse=True)
    row = (pair * 2 + side) * depth + k
    both = np.unique(np.stack([row, pix], 1), axis=0) if row.size else np.zeros((0, 2), np.int64)
    return BoundaryRows(i=key // max(r, 1), j=key % max(r, 1), row=both[:, 0], pixel=both[:, 1])


def row_moments(features: Any, shape: tuple[int, int], rows: BoundaryRows,
                prepare: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum of the prepared patterns, of their squared norms, and the count of every side row; one pass
    over the pattern map in row blocks (``features`` (y, x, py, px), numpy or dask)."""
    ny, nx = shape
    n_rows = rows.n_rows
    count = np.bincount(rows.row, minlength=n_rows).astype(np.float64)
    sq = np.zeros(n_rows)
    sums = None
    order = np.argsort(rows.pixel, kind="stable")
    pix, row = rows.pixel[order], rows.row[order]
    step = max(1, BLOCK_PIXELS // max(nx, 1))
    needed = [(r0, r1) for r0, r1 in spans(ny, step) if holds(pix, r0 * nx, r1 * nx)]
    for (r0, r1), block in bar(read_ahead(features, needed), desc="segment: grain boundaries",
                                            unit="block", total=len(needed)):
        lo, hi = np.searchsorted(pix, [r0 * nx, r1 * nx])
        f = np.asarray(prepare(block), np.float64).reshape((r1 - r0) * nx, -1)
        f = f[pix[lo:hi] - r0 * nx]
        if sums is None:
            sums = np.zeros((n_rows, f.shape[1]))
        sums += group_sums(row[lo:hi], f, n_rows)
        sq += np.bincount(row[lo:hi], weights=np.einsum("ij,ij->i", f, f), minlength=n_rows)
    if sums is None:
        sums = np.zeros((n_rows, 1))
    return sums, sq, count


def _correlation(sums: np.ndarray, sq: np.ndarray, count: np.ndarray, a: np.ndarray, b: np.ndarray,
                 min_count: int = MIN_ROW_PIXELS) -> np.ndarray:
    """Noise-free correlation of the mean patterns of rows ``a`` and ``b`` (NaN where a row has < ``min_count`` pixels)."""
    n_a, n_b = count[a], count[b]
    m_a = sums[a] / np.maximum(n_a, 1)[:, None]
    m_b = sums[b] / np.maximum(n_b, 1)[:, None]

    def signal(m: np.ndarray, s: np.ndarray, n: np.ndarray) -> np.ndarray:
        norm2 = np.einsum("ij,ij->i", m, m)
        scatter = s / np.maximum(n, 1) - norm2
        return norm2 - scatter / np.maximum(n - 1, 1)

    s_a, s_b = signal(m_a, sq[a], n_a), signal(m_b, sq[b], n_b)
    rho = np.einsum("ij,ij->i", m_a, m_b) / np.sqrt(np.maximum(s_a, 1e-12) * np.maximum(s_b, 1e-12))
    ok = (n_a >= max(min_count, 2)) & (n_b >= max(min_count, 2)) & (s_a > 0) & (s_b > 0)
    return np.where(ok, np.clip(rho, -1.0, 1.0), np.nan)


def pseudo_angle(delta: np.ndarray) -> np.ndarray:
    """``√(−ln(1 − δ))``: a dissimilarity made to grow like the angle between two orientations (δ of a small
    rotation grows as its square and saturates at 1 as the patterns decorrelate; this undoes both)."""
    return np.sqrt(-np.log(np.clip(1.0 - np.asarray(delta, np.float64), 0.01, 1.0)))


def excess_dissimilarity(sums: np.ndarray, sq: np.ndarray, count: np.ndarray, n_pairs: int,
                         min_count: int = MIN_ROW_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Excess pseudo-angle of every pair's boundary (module docstring) and the dissimilarity δ across it.

    Across: the rows at depth 2 (three pixels apart; both first rows, where a boundary pixel records
    both sides, left out). What a continuous gradient gives over those three pixels: 1.5 pixels of
    each side's own gradient, read from its rows at depths 2 and 4 (or 2 and 3, doubled). Without rows
    at depth 2 on both sides the boundary is unmeasured (NaN)."""
    base = np.arange(n_pairs) * 2 * DEPTH

    def row(side: int, k: int) -> np.ndarray:
        return base + side * DEPTH + k - 1

    def phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return pseudo_angle(1.0 - _correlation(sums, sq, count, a, b, min_count))

    def per_pixel(side: int) -> np.ndarray:
        two, one = phi(row(side, 2), row(side, 4)) / 2, phi(row(side, 2), row(side, 3))
        return np.nan_to_num(np.where(np.isnan(two), one, two), nan=0.0)

    across = 1.0 - _correlation(sums, sq, count, row(0, 2), row(1, 2), min_count)
    excess = pseudo_angle(across) - 1.5 * (per_pixel(0) + per_pixel(1))
    for near, far in ((0, 1), (1, 0)):
        # the far side's first two rows a mixture of both sides, or the near side's pixels (module docstring): read it
        # from its row at depth 3 too
        to_far, inside_far = phi(row(near, 2), row(far, 2)), phi(row(far, 2), row(far, 4))
        shortcut = phi(row(near, 2), row(far, 4)) - to_far - inside_far
        deeper = (phi(row(near, 2), row(far, 3)) - 1.5 * per_pixel(near)
                  - 2.5 * phi(row(far, 3), row(far, 4)))
        mixed = ((shortcut > MIXED_ROWS) | (to_far < inside_far)) & np.isfinite(deeper) & np.isfinite(excess)
        excess = np.where(mixed, np.maximum(excess, deeper), excess)
    return excess, across


def binned(prepare: Callable[[np.ndarray], np.ndarray], factor: int) -> Callable[[np.ndarray], np.ndarray]:
    """``prepare``'s vectors binned ``factor`` × ``factor`` (sums over blocks of the detector; a partial edge block
    dropped), centred and normalised again.

    Binned after ``prepare``, not before: ``prepare`` divides by the static background, which has the detector's
    full size. Where ``prepare`` is linear up to its centring and normalisation (no background, no blur) this is
    ``prepare`` of the binned patterns exactly; with a background it divides each detector pixel by its own
    background value before summing (a flat field at full resolution)."""
    if factor <= 1:
        return prepare

    def apply(block: np.ndarray) -> np.ndarray:
        py, px = block.shape[-2:]
        v = prepare(block).reshape(*block.shape[:-2], py, px)
        by, bx = (py // factor) * factor, (px // factor) * factor
        v = v[..., :by, :bx].reshape(*v.shape[:-2], by // factor, factor, bx // factor, factor).sum(axis=(-3, -1))
        v = v.reshape(*v.shape[:-2], -1)
        v = v - v.mean(axis=-1, keepdims=True)
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
        return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)

    return apply


def strip_sides(count: np.ndarray, rows: BoundaryRows, tiny: np.ndarray) -> np.ndarray:
    """Pairs where one side is a strip along the boundary: its row at depth 2 holds fewer than half the pixels of its
    row at depth 1 (the region ends one pixel in, for most of the boundary's length), and the region is not tiny.

    Such a side's row at depth 2 is its far edge, on another boundary, and records what lies beyond: a strip of
    boundary pixels of several grains (the clustering of a map can put them in one region) reads alike to a grain it
    only touches, and would join grains through it. A tiny region is all edge and keeps the few-pixel rule."""
    base = np.arange(rows.i.size) * 2 * DEPTH
    out = np.zeros(rows.i.size, bool)
    for side, region in ((0, rows.i), (1, rows.j)):
        first, second = count[base + side * DEPTH], count[base + side * DEPTH + 1]
        out |= (second < 0.5 * first) & ~tiny[region]
    return out


def pattern_grains(regions: np.ndarray, features: Any, prepare: Callable[[np.ndarray], np.ndarray],
                   pattern_size: int, *, threshold: float = GRAIN_EXCESS,
                   sum_budget: int = SUM_BUDGET, source: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The grain of every region of ``regions`` (ny, nx; −1 outside, ids 0..R−1) from the patterns
    ``features`` (y, x, py, px) by the excess-dissimilarity rule, and what was measured.

    ``prepare`` turns a block of raw patterns into zero-mean unit-norm vectors (static background
    divided, :func:`vaearr.maps.patterns.edges.prepare_patterns`); ``pattern_size`` is py·px. Patterns are
    binned 2 × 2 (4 × 4, 8 × 8) when the side rows' sums would pass ``sum_budget`` floats (:data:`SUM_BUDGET`).
    """
    n_regions = int(regions.max()) + 1
    rows = boundary_rows(regions, source=source)
    if not rows.i.size:
        return np.arange(n_regions), {"grain_rule": "no adjacent regions", "grain_pairs": 0}
    factor = 1
    while rows.n_rows * pattern_size / factor**2 > sum_budget and factor < 8:
        factor *= 2
    sums, sq, count = row_moments(features, regions.shape, rows, binned(prepare, factor))
    excess, across = excess_dissimilarity(sums, sq, count, rows.i.size)
    # a region left on its own (no boundary measured as inside a grain) whose other boundaries are too short to
    # measure well takes the grain of the neighbour least dissimilar on the few pixels there are, unless that reads
    # as another grain; for a region of a few pixels (too few for one set of side rows) the rule tells a grain from
    # an unrelated one (about 1) but not from a mixed row (0.6), so its bar is FEW_PIXELS_EXCESS
    rough, _ = excess_dissimilarity(sums, sq, count, rows.i.size, min_count=2)
    size = np.bincount(regions[regions >= 0], minlength=n_regions)
    tiny = size < MIN_ROW_PIXELS * DEPTH
    known = np.isfinite(excess)
    same = known & (excess <= threshold)
    linked = np.zeros(n_regions, bool)
    linked[rows.i[same]] = linked[rows.j[same]] = True
    bar = np.where((~linked[rows.i] & tiny[rows.i]) | (~linked[rows.j] & tiny[rows.j]),
                   max(threshold, FEW_PIXELS_EXCESS), threshold)
    lonely = ~known & (~linked[rows.i] | ~linked[rows.j]) & (rough <= bar)
    best = np.full(n_regions, np.inf)
    for end in (rows.i, rows.j):
        np.minimum.at(best, end, np.where(lonely, rough, np.inf))
    lonely &= ((~linked[rows.i]) & (rough == best[rows.i])) | ((~linked[rows.j]) & (rough == best[rows.j]))
    same |= lonely
    graph = sparse.coo_matrix((np.ones(int(same.sum()), np.int8), (rows.i[same], rows.j[same])),
                              shape=(n_regions, n_regions))
    _, grains = connected_components(graph, directed=False)
    gb = known & ~same
    info = {
        "grain_rule": (f"pattern space: a boundary is a grain boundary when the noise-free dissimilarity of the mean "
                       f"patterns across it (two pixels apart) exceeds that inside its regions by more than "
                       f"{threshold:g} (1 = unrelated orientations)"),
        "grain_excess_threshold": float(threshold), "grain_pairs": int(rows.i.size),
        "grain_boundary_pairs": int(gb.sum()), "grain_pairs_unmeasured": int((~known).sum()),
        "grain_pairs_joined_on_few_pixels": int(lonely.sum()),
        "grain_excess_median_grain_boundary": float(np.median(excess[gb])) if gb.any() else None,
        "grain_excess_median_inside": float(np.median(excess[same])) if same.any() else None,
        "grain_patterns_binned": int(factor),
    }
    return grains, info


# --------------------------------------------------------------------------------------------
# the sub-grain floor


def _region_moments(features: Any, id_maps: list[np.ndarray],
                    prepare: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per id ≥ 0 of each map of ``id_maps``: sum of the (prepared) features, sum of their squared norms, count — one
    pass over the features in row blocks for all the maps (each pass reads and prepares every pattern of the map)."""
    shape = id_maps[0].shape
    sizes = [int(ids.max()) + 1 for ids in id_maps]
    sums: list[np.ndarray | None] = [None] * len(id_maps)
    sqs = [np.zeros(n) for n in sizes]
    counts = [np.zeros(n) for n in sizes]
    step = max(1, BLOCK_PIXELS // max(shape[1], 1))  # rows a block: its patterns, not the map's width, bound memory
    needed = [(r0, r1) for r0, r1 in spans(shape[0], step) if any((ids[r0:r1] >= 0).any() for ids in id_maps)]
    for (r0, r1), block in read_ahead(features, needed):
        rows = slice(r0, r1)
        sels = [ids[rows] >= 0 for ids in id_maps]
        f_all = np.asarray(prepare(block) if prepare is not None else block.reshape(*sels[0].shape, -1), np.float64)
        for m, (ids, sel) in enumerate(zip(id_maps, sels)):
            if not sel.any():
                continue
            f = f_all[sel]
            k = ids[rows][sel]
            total = sums[m]
            if total is None:
                total = sums[m] = np.zeros((sizes[m], f.shape[1]))
            total += group_sums(k, f, sizes[m])
            sqs[m] += np.bincount(k, weights=np.einsum("ij,ij->i", f, f), minlength=sizes[m])
            counts[m] += np.bincount(k, minlength=sizes[m])
    return [(np.zeros((n, 1)) if total is None else total, sq, count)  # no pixel: as row_moments
            for total, sq, count, n in zip(sums, sqs, counts, sizes)]


def _mean_dissimilarity(sums: np.ndarray, sq: np.ndarray, count: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """1 − the noise-free correlation of the mean patterns of ids ``i`` and ``j`` (:func:`_correlation`): blind to
    how much of a pattern is signal (a pit, a dim pixel), as an angle is."""
    return 1.0 - _correlation(sums, sq, count, i, j, min_count=2)


def merge_by_pattern_contrast(features: Any, regions: np.ndarray, grains: np.ndarray, prepare: Any,
                              min_contrast: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Merge the regions of a grain whose mean patterns differ by less than ``min_contrast`` × the neighbouring
    grains' (1 − the noise-free correlation of the means: a region of dim or poor patterns — a pit, a scratch — of
    the surrounding orientation is not a sub-grain).

    ``features`` is the ``(y, x, ...)`` pattern map (numpy or dask, read in row blocks through ``prepare``),
    ``regions`` and ``grains`` the (y, x) ids (−1 outside). Significant is not enough at a high
    signal-to-noise (the mixing zone beside a grain boundary, a brightness drift): a floor on the pattern
    difference, relative to the map's own grain boundaries, is what an angle threshold is to MTEX.
    """
    # one pass over the patterns for both (they are read and prepared once)
    (sums, sq, count), (rsums, rsq, rcount) = _region_moments(features, [grains, regions], prepare)
    # neighbouring grains: interiors that come within 3 pixels of each other
    pairs = set()
    for dy in range(0, 4):
        for dx in range(-3, 4):
            if (dy, dx) <= (0, 0):
                continue
            a = grains[max(-dy, 0):grains.shape[0] - max(dy, 0), max(-dx, 0):grains.shape[1] - max(dx, 0)]
            b = grains[max(dy, 0):, max(dx, 0):][: a.shape[0], : a.shape[1]]
            sel = (a >= 0) & (b >= 0) & (a != b)
            pairs.update(zip(np.minimum(a[sel], b[sel]).tolist(), np.maximum(a[sel], b[sel]).tolist()))
    if not pairs:
        return regions, {"lagb_contrast_floor": None}
    gi, gj = np.array(sorted(pairs)).T
    scale = float(np.nanmedian(_mean_dissimilarity(sums, sq, count, gi, gj)))
    ids = regions
    ri, rj = [], []
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        sel = (ids[a] >= 0) & (ids[b] >= 0) & (ids[a] != ids[b]) & (grains[a] == grains[b])
        ri.append(ids[a][sel])
        rj.append(ids[b][sel])
    ri, rj = np.concatenate(ri), np.concatenate(rj)
    if not ri.size:
        return regions, {"lagb_contrast_floor": min_contrast * scale}
    key = np.unique(np.stack([np.minimum(ri, rj), np.maximum(ri, rj)], 1), axis=0)
    c = _mean_dissimilarity(rsums, rsq, rcount, key[:, 0], key[:, 1])
    weak = np.nan_to_num(c, nan=np.inf) < min_contrast * scale
    n = int(regions.max()) + 1
    graph = sparse.coo_matrix((np.ones(int(weak.sum())), (key[weak, 0], key[weak, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    merged = np.where(regions >= 0, comp[np.clip(regions, 0, None)], -1)
    return merged, {"lagb_contrast_floor": float(min_contrast * scale), "lagb_grain_contrast": scale,
                    "lagb_pairs_merged_by_floor": int(weak.sum())}
