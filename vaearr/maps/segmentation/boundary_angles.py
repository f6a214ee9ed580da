"""The misorientation across every boundary of a segmentation, in degrees, read from the patterns: what decides which
boundaries are grain boundaries, which low-angle ones, and which are no boundary at all.

A segmentation's regions come from a feature map (the latents: what they do best); what the regions *are* is decided
here in the units users think in, as MTEX's ``calcGrains`` decides it: a boundary is a grain boundary above
``grain_angle`` (2° by default, the middle of the gap the tuning maps leave between sub-grain boundaries and
grains; MTEX users often take 10–15° on measured maps), a low-angle boundary above ``low_angle`` (0.2°), and two
regions less than ``low_angle`` apart are one — joined the closest pair first, and never two regions whose own boundary
reads over it (:func:`decide`: a small region within the noise of two sub-grains joins one, not both through it).

**The angle across a boundary** (:func:`boundary_angles`). For every pair of adjacent regions ``i``, ``j``, the pixels
at depth 2, 3 and 4 from their shared boundary (``i2``… along the line through each boundary edge, as
:func:`~vaearr.maps.segmentation.pattern_levels.boundary_rows` draws them; the first rows, where a pixel records both sides, left
out) are averaged into mean patterns, and each pair of means is registered (:mod:`vaearr.maps.patterns.misorientation`):

* ``w`` = the rotation from ``i2`` to ``j2`` (three pixels apart), as a rotation vector;
* the gradient of each side, one pixel's worth: from ``i4`` to ``i2`` over two, and from ``j2`` to ``j4``;
* the angle across the boundary is ``|w − g_i − g_j|`` (or ``|w|`` where that is smaller: a gradient explains a
  difference, it does not add one): the rotation between the two pixels that touch at the boundary, with the noise of
  single patterns averaged out along the boundary. Inside a bent grain that is one
  pixel's worth of bending (the misorientation MTEX reads between neighbouring pixels), at a sub-grain boundary its
  step, at a grain boundary the misorientation of the two grains.

A side with no rows at depth 3–4 (a region two pixels thick) counts no gradient; a pair whose rows at depth 2 have
too few pixels is read from the two regions' means, and, where those read a grain boundary, from its rows however few
their pixels: the means of two pieces of a bent grain lie as far apart as the pieces are long (:meth:`PairAngles.decisive`). Two means that do not register (more than
:data:`~vaearr.maps.patterns.misorientation.SEARCH_DEG` apart, or unrelated: a grain boundary), or that registered are not alike
enough to be one crystal turned (:data:`LIKENESS`: a region of mixed patterns) read ``inf``. Every angle comes with
its standard error from the patterns' noise (:attr:`PairAngles.noise`); one under :data:`SIGNIFICANCE` times it is no
boundary, whatever its size (:meth:`PairAngles.decisive`): two small pieces of one grain read from a few patterns.

**One search a pair of grains.** A rotation over :data:`NO_SEARCH_DEG` is out of reach from the identity and is looked for
from the starting rotations (:func:`~vaearr.maps.patterns.misorientation.register` with ``search``): 15–35 ms a pair,
the most of what the angles cost on a map of many grains, and over a grain boundary of random orientations it mostly
finds nothing within :data:`~vaearr.maps.patterns.misorientation.SEARCH_DEG`. Given the grain of every region
(``grains``), the pairs across one boundary of two grains whose registration from the identity did not hold are
searched once, on the pair read from the most pixels, and the others take what it found (:attr:`PairAngles.shared`):
a grain boundary cut into many region pairs by the regions of its two grains (on the 10⁶-pixel benchmark map 9 971
pairs of regions, 5 767 of grains) is the misorientation of the same two crystals. Under ``NO_SEARCH_DEG`` every pair
reads its own angle, so what is decided under ``grain_angle`` is read as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from vaearr.maps.patterns.blocks import holds, read_ahead, spans
from vaearr.maps.patterns.misorientation import (
    Geometry,
    Registration,
    flattened,
    matrix_rotvec,
    prepared,
    register,
    smooth_background,
)
from vaearr.maps.segmentation.pattern_levels import DEPTH, boundary_rows
from vaearr.progress import bar

#: Pixels a side row needs for its mean to be registered (fewer: the pair is read from the regions' means).
MIN_ROW_PIXELS = 4
#: Bytes the side rows' and regions' sums may take at once (float32); more pairs are read in further passes.
SUM_BUDGET = 512 * 1024 * 1024
#: Pattern rows (scan pixels) read at a time.
BLOCK_PIXELS = 4096
#: The rows read, by depth from the boundary (1: the mixed row, left out).
DEPTHS = (2, 3, 4)
#: Two means are one crystal a little turned when, registered, they correlate at least this share of what their noise
#: allows (:attr:`~vaearr.maps.patterns.misorientation.Registration.likeness`); under it the pair is a grain boundary (``inf``)
#: whatever the rotation found. A region of mixed boundary patterns (half of each grain) registers on either grain at a
#: small angle with 0.50–0.57 of it, and linked two grains of the demo map through a 1° "low-angle" boundary; one crystal
#: on both sides reads 0.98–1.01 there (1.02–1.10 on the benchmark maps, whose noise the estimate overstates), a grain
#: boundary of 12.6° 0.78.
LIKENESS = 0.9
#: An angle is a boundary only when it is over this many times its standard error (:attr:`PairAngles.noise`, from the
#: patterns' noise; an upper bound: 2–6× the median error of simulated pairs,
#: BENCHMARKS "Misorientation from the patterns"); under it the two sides are one crystal whatever ``low_angle`` says. Pairs of small pieces of one demo
#: grain, read from 8–50 patterns, reached 0.21–0.22° at 0.13–0.15° of error, over a ``low_angle`` of 0.2°; the science
#: maps' sub-grain boundaries read 7–10 times their error, their same-sub-grain splits 1–3 times.
SIGNIFICANCE = 2.0


@dataclass
class PairAngles:
    """The misorientation (degrees) across the boundary of every pair of adjacent regions ``i < j``."""

    i: np.ndarray
    j: np.ndarray
    angle: np.ndarray  # across the boundary, gradients taken out; inf: beyond the registration's reach
    across: np.ndarray  # between the rows at depth 2, as measured
    from_means: np.ndarray  # bool: read from the regions' means (the rows too thin)
    edges: np.ndarray  # boundary edges of the pair
    likeness: np.ndarray | None = None  # the registered pair's correlation over what its noise allows
    noise: np.ndarray | None = None  # degrees: the standard error of the registration across (the patterns' noise)
    # a pair read from the means: the angle between its rows at depth 2 however few their pixels (NaN: none), and its
    # standard error (:meth:`decisive` with ``grain_angle``)
    touching: np.ndarray | None = None
    touching_noise: np.ndarray | None = None
    # bool: the pair's angle is the search of another pair across the same two grains (module docstring)
    shared: np.ndarray | None = None

    def decisive(self, grain_angle: float | None = None) -> np.ndarray:
        """The angles a rule reads: 0 where an angle is under :data:`SIGNIFICANCE` times its standard error (no
        boundary there: the noise can make it), the angle elsewhere.

        With ``grain_angle``, a pair read from the regions' means over it is read from the pixels that touch across
        it where they are under it: two regions' means compare points as far apart as the regions are long, and along
        a grain bent by 1° a pixel two pieces whose centres lie 10 pixels apart read 6–8° for one grain (the bimodal
        family's deformed map 1), where the pixels that touch read one pixel's bending. Under the grain angle the
        means decide (their many pixels read a small step more surely than a few touching ones)."""
        a = _significant(self.angle, self.noise)
        if self.touching is None or grain_angle is None:
            return a
        return np.where(self.touched(grain_angle), _significant(self.touching, self.touching_noise), a)

    def touched(self, grain_angle: float) -> np.ndarray:
        """The pairs :meth:`decisive` reads from the pixels that touch at ``grain_angle`` (bool)."""
        if self.touching is None:
            return np.zeros(self.i.size, bool)
        a = _significant(self.angle, self.noise)
        return ~(a < grain_angle) & (_significant(self.touching, self.touching_noise) < grain_angle)

    def read(self, grain_angle: float | None = None) -> np.ndarray:
        """The angles as measured (not zeroed where within noise), from the touching pixels where :meth:`decisive`
        reads them."""
        if self.touching is None or grain_angle is None:
            return self.angle
        return np.where(self.touched(grain_angle), self.touching, self.angle)


def _significant(angle: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
    if noise is None:
        return angle
    return np.where(angle < SIGNIFICANCE * np.nan_to_num(noise, nan=0.0), 0.0, angle)


def _pair_edges(regions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent region pairs ``(i < j)`` and their number of shared 4-neighbour edges."""
    r = int(regions.max()) + 1
    keys = []
    for a, b in ((regions[:, :-1], regions[:, 1:]), (regions[:-1], regions[1:])):
        sel = (a >= 0) & (b >= 0) & (a != b)
        keys.append(np.minimum(a[sel], b[sel]).astype(np.int64) * r + np.maximum(a[sel], b[sel]))
    key, n = np.unique(np.concatenate(keys), return_counts=True)
    return key // max(r, 1), key % max(r, 1), n


def _sums(data: Any, shape: tuple[int, int], ids: list[tuple[np.ndarray, np.ndarray, int]],
          flatten: Callable[[np.ndarray], np.ndarray], desc: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """One pass over the pattern map ``data`` (y, x, py, px) in row blocks: for each ``(pixel, group, n)`` of ``ids``,
    the float32 sum of the flattened patterns of every group and its pixel count."""
    ny, nx = shape
    py, px = data.shape[-2:]
    out = [(np.zeros((n, py * px), np.float32), np.zeros(n)) for _, _, n in ids]
    orders = [np.argsort(pix, kind="stable") for pix, _, _ in ids]
    step = max(1, BLOCK_PIXELS // max(nx, 1))
    pixels = [pix[order] for (pix, _, _), order in zip(ids, orders)]
    needed = [(r0, r1) for r0, r1 in spans(ny, step) if any(holds(p, r0 * nx, r1 * nx) for p in pixels)]
    for (r0, r1), block in bar(read_ahead(data, needed), desc=desc, unit="block", total=len(needed)):
        flat = flatten(block).reshape((r1 - r0) * nx, py * px)
        for (pix, grp, n), order, (total, count) in zip(ids, orders, out):
            p, g = pix[order], grp[order]
            lo, hi = np.searchsorted(p, [r0 * nx, r1 * nx])
            if lo == hi:
                continue
            sel = p[lo:hi] - r0 * nx
            m = sparse.csr_matrix((np.ones(hi - lo, np.float32), (g[lo:hi], np.arange(hi - lo))), shape=(n, hi - lo))
            total += np.asarray(m @ flat[sel], np.float32)
            count += np.bincount(g[lo:hi], minlength=n)
    return out


def boundary_angles(regions: np.ndarray, data: Any, background: np.ndarray, geometry: Geometry,
                    source: np.ndarray | None = None, grains: np.ndarray | None = None,
                    grain_angle: float | None = None) -> PairAngles:
    """The misorientation across the boundary of every pair of adjacent regions of ``regions`` (ny, nx; −1 outside,
    ids 0..R−1) from the patterns ``data`` (y, x, py, px; numpy or dask) (module docstring).

    ``source`` (flat, or None): the pixel read for each pixel of ``regions`` (a masked pixel of a closed gap reads its
    owner). ``grains`` (ny, nx, or None): the grain of every pixel of a region; the pairs across one boundary of two
    grains are searched once beyond the identity's reach (module docstring). ``grain_angle`` (degrees, or None): the
    rule's, when it is known; at most :data:`NO_SEARCH_DEG`, the rows of a thin pair that touch across it are not
    searched beyond the identity's reach (what they read there is never read: :meth:`PairAngles.touched`)."""
    shape = regions.shape
    n_regions = int(regions.max()) + 1 if regions.size else 0
    pi, pj, edges = _pair_edges(regions)
    empty = np.zeros(0)
    if not pi.size:
        return PairAngles(pi, pj, empty, empty, np.zeros(0, bool), edges)
    group = _grain_pairs(regions, grains, pi, pj)
    rows = boundary_rows(regions, DEPTH, source=source)
    # rows.row = (pair · 2 + side) · DEPTH + depth − 1, pairs in the order of rows.i, rows.j (== pi, pj)
    depth = rows.row % DEPTH + 1
    keep = np.isin(depth, DEPTHS)
    pair_of_row = rows.row[keep] // (2 * DEPTH)
    side = (rows.row[keep] // DEPTH) % 2
    slot = (pair_of_row * 2 + side) * len(DEPTHS) + (depth[keep] - DEPTHS[0])
    pixel = rows.pixel[keep]
    flat_regions = regions.ravel()
    own = np.flatnonzero(flat_regions >= 0)
    own_pix = own if source is None else source[own]
    py, px = geometry.shape
    per_pair = 2 * len(DEPTHS) * py * px * 4
    batch = max(1, (SUM_BUDGET - n_regions * py * px * 4) // per_pair)
    means_r: np.ndarray | None = None
    count_r = np.zeros(n_regions)
    parts: list[PairAngles] = []

    screen = smooth_background(background)

    def flatten(block: np.ndarray) -> np.ndarray:
        return flattened(block, screen)

    # a block of pairs a pass: its rows' sums, their means, its angles (every pair's from its own rows and the
    # regions' means), so no more than SUM_BUDGET of rows is held at once whatever the map's number of pairs
    for b0 in range(0, pi.size, batch):
        b1 = min(b0 + batch, pi.size)
        sel = (pair_of_row >= b0) & (pair_of_row < b1)
        ids = [(pixel[sel], slot[sel] - b0 * 2 * len(DEPTHS), (b1 - b0) * 2 * len(DEPTHS))]
        if means_r is None:
            ids.append((own_pix, flat_regions[own], n_regions))
        sums = _sums(data, shape, ids, flatten, "segment: angles across boundaries")
        row_means, row_count = sums[0]
        # divided in float64 and written as float32 over the sums in numpy's buffered blocks (as assigning the
        # quotient did), without a float64 copy of them: twice SUM_BUDGET at 10⁶ pixels
        np.divide(row_means, np.maximum(row_count, 1)[:, None], casting="unsafe", out=row_means)
        if means_r is None:
            means_r = (sums[1][0] / np.maximum(sums[1][1], 1)[:, None]).reshape(-1, py, px)
            count_r = sums[1][1]
        del sums
        parts.append(_angles(pi[b0:b1], pj[b0:b1], edges[b0:b1], row_means.reshape(-1, py, px), row_count, means_r,
                             count_r, geometry, group[b0:b1], grain_angle))
        del row_means
    return _joined(parts)


def _grain_pairs(regions: np.ndarray, grains: np.ndarray | None, pi: np.ndarray, pj: np.ndarray) -> np.ndarray:
    """A key of the two grains of every pair ``pi``–``pj`` of regions in different grains, −1 for a pair inside one
    grain (or with no ``grains``)."""
    if grains is None:
        return np.full(pi.size, -1, np.int64)
    n = int(regions.max()) + 1
    inside = (regions >= 0) & (grains >= 0)
    grain_of = np.full(n, -1, np.int64)
    grain_of[regions[inside]] = grains[inside]
    gi, gj = grain_of[pi], grain_of[pj]
    span = int(max(grain_of.max(), 0)) + 1
    apart = (gi >= 0) & (gj >= 0) & (gi != gj)
    return np.where(apart, np.minimum(gi, gj) * span + np.maximum(gi, gj), -1)


def _joined(parts: list[PairAngles]) -> PairAngles:
    """The blocks' :class:`PairAngles` as one, in order."""
    return parts[0] if len(parts) == 1 else PairAngles(**_concatenated(parts))


def _concatenated(items: list[Any]) -> dict[str, Any]:
    """The fields of dataclass instances of one type, each joined along its first axis (None kept)."""
    return {f.name: None if getattr(items[0], f.name) is None else np.concatenate([getattr(x, f.name) for x in items])
            for f in dataclasses.fields(items[0])}


def _angles(pi: np.ndarray, pj: np.ndarray, edges: np.ndarray, row_means: np.ndarray, row_count: np.ndarray,
            region_means: np.ndarray, region_count: np.ndarray, geometry: Geometry,
            group: np.ndarray | None = None, grain_angle: float | None = None) -> PairAngles:
    nd = len(DEPTHS)
    group = np.full(pi.size, -1, np.int64) if group is None else group

    def slot(side: int, d: int) -> np.ndarray:
        return (np.arange(pi.size) * 2 + side) * nd + (d - DEPTHS[0])

    rows = _prepared_in_place(row_means, geometry.shape)
    ok = (row_count[slot(0, 2)] >= MIN_ROW_PIXELS) & (row_count[slot(1, 2)] >= MIN_ROW_PIXELS)
    # a pair too thin for that is read from the regions' means; its rows, however few their pixels, are read too
    touching_ok = ~ok & (row_count[slot(0, 2)] >= 1) & (row_count[slot(1, 2)] >= 1)
    # the touching rows matter under grain_angle alone: beyond the identity's reach only for a rule that reads there
    search = ok | (grain_angle is None or grain_angle > NO_SEARCH_DEG)
    read = _across_rows(rows, row_count, ok | touching_ok, np.where(ok, MIN_ROW_PIXELS, 1), slot, geometry,
                        np.where(ok, group, -1), search)
    shared = read[4]
    across, likeness, noise = (np.where(ok, v, np.nan) for v in read[:3])
    angle = np.where(ok, read[3], np.nan)
    touching = np.where(touching_ok, read[3], np.nan)
    touching_noise = np.where(touching_ok, read[2], np.nan)
    # the pairs whose rows are too thin: the regions' means
    thin = ~ok & (region_count[pi] >= 1) & (region_count[pj] >= 1)
    if thin.any():
        k = np.flatnonzero(thin)
        ones = np.ones(geometry.shape, np.float32)
        reg, from_group = _rotations(region_means, (pi[k], pj[k]), geometry, group[k],
                                     np.minimum(region_count[pi[k]], region_count[pj[k]]),
                                     prepare=lambda p: prepared(p, ones))
        angle[k] = across[k] = np.where(np.asarray(reg.likeness) < LIKENESS, np.inf, reg.angle)
        likeness[k] = reg.likeness
        noise[k] = reg.noise
        shared[k] = from_group
    return PairAngles(pi, pj, angle, across, thin, edges, likeness, noise, touching, touching_noise,
                      shared & np.isfinite(angle))


def _across_rows(rows: np.ndarray, row_count: np.ndarray, ok: np.ndarray, need: np.ndarray,
                 slot: Callable[[int, int], np.ndarray], geometry: Geometry,
                 group: np.ndarray | None = None, search: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The registration across each pair ``ok`` of its rows at depth 2, with each side's gradient taken out (module
    docstring; a gradient row counts from ``need`` pixels): across, likeness, noise and the angle, NaN elsewhere, and
    whether the pair took the search of its two grains' pair (``group``; ``search``: the pairs searched beyond the
    identity's reach, every one by default: :func:`_rotations`)."""
    n = ok.size
    across, likeness, noise = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    shared = np.zeros(n, bool)
    w = np.zeros((n, 3))
    k = np.flatnonzero(ok)
    if k.size:
        near = (slot(0, 2)[k], slot(1, 2)[k])
        reg, shared[k] = _rotations(rows, near, geometry, None if group is None else group[k],
                                    np.minimum(row_count[near[0]], row_count[near[1]]),
                                    searched=None if search is None else search[k])
        across[k] = reg.angle
        likeness[k] = reg.likeness
        noise[k] = reg.noise
        w[k] = matrix_rotvec(reg.rotation)
    # one pixel's rotation inside each side, towards j: i from its row at depth 4 (or 3) to depth 2, j from 2 to 4 (3)
    steps = np.zeros((2, n, 3))
    for side in (0, 1):
        have = np.zeros(n, bool)
        for far, n_px in ((4, 2.0), (3, 1.0)):
            todo = np.flatnonzero(ok & np.isfinite(across) & ~have & (row_count[slot(side, far)] >= need))
            if not todo.size:
                continue
            near_row, far_row = slot(side, 2)[todo], slot(side, far)[todo]
            reg = _on_used(lambda p, pairs, g: register(p, p, g, pairs=pairs), rows,
                           (far_row, near_row) if side == 0 else (near_row, far_row), geometry)
            good = np.isfinite(reg.angle)
            steps[side, todo[good]] = matrix_rotvec(reg.rotation[good]) / n_px
            have[todo[good]] = True
    # a gradient explains part of a difference across a boundary, never adds to it: the pixels' own scatter in the rows
    # that measure it would otherwise raise the angle of a flat boundary
    angle = np.where(np.isfinite(across),
                     np.minimum(across, np.degrees(np.linalg.norm(w - steps[0] - steps[1], axis=1))), across)
    angle = np.where(likeness < LIKENESS, np.inf, angle)
    return across, likeness, noise, angle, shared


#: Side rows prepared for registration at a time (:func:`_prepared_in_place`).
PREPARE_ROWS = 1024


def _prepared_in_place(row_means: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """:func:`~vaearr.maps.patterns.misorientation.prepared` of the side rows' means (float32, (n, py, px)), written over them
    a block of rows at a time: each pattern is prepared on its own (a given background, a blur across its pixels
    only), so the numbers are the same, without the four whole copies ``prepared`` makes on the way (at 10⁶ pixels,
    thousands of pairs of six rows of 14 kB each)."""
    ones = np.ones(shape, np.float32)
    for s in range(0, len(row_means), PREPARE_ROWS):
        row_means[s:s + PREPARE_ROWS] = prepared(row_means[s:s + PREPARE_ROWS], ones)
    return row_means


#: Pairs registered at a time (:func:`_on_used`): each level of a registration holds about ten copies of its patterns.
PAIR_BLOCK = 1024


def _on_used(fn: Callable[..., Registration], patterns: np.ndarray, pairs: tuple[np.ndarray, np.ndarray],
             geometry: Geometry) -> Registration:
    """``fn(patterns, pairs, geometry)`` (a registration of pairs of patterns), :data:`PAIR_BLOCK` pairs at a time, each
    block on the patterns its pairs use alone: registration blurs, standardises and differentiates every pattern it
    is given at each level, one pattern at a time, and fits every pair on its own, so the result is the same, from
    copies of the used ones (a third of the rows for the pairs at depth 2) and its memory bounded by the block."""
    out = []
    for s in range(0, len(pairs[0]), PAIR_BLOCK):
        block = (pairs[0][s:s + PAIR_BLOCK], pairs[1][s:s + PAIR_BLOCK])
        used = np.unique(np.concatenate(block))
        out.append(fn(patterns[used], (np.searchsorted(used, block[0]), np.searchsorted(used, block[1])), geometry))
    return out[0] if len(out) == 1 else Registration(**_concatenated(out))


#: A rotation found from the identity is kept without a search when under this (degrees): well inside the reach of
#: Gauss–Newton's coarsest level; larger ones are looked for from the starting rotations.
NO_SEARCH_DEG = 6.0


def _rotations(patterns: np.ndarray, pairs: tuple[np.ndarray, np.ndarray], geometry: Geometry,
               group: np.ndarray | None, weight: np.ndarray,
               prepare: Callable[[np.ndarray], np.ndarray] | None = None,
               searched: np.ndarray | None = None) -> tuple[Registration, np.ndarray]:
    """:func:`~vaearr.maps.patterns.misorientation.register` of each pair of ``patterns`` from the identity, and with the
    search of starting rotations where that does not hold or finds more than :data:`NO_SEARCH_DEG`, the better fit kept
    (``prepare``: applied to the used ones; :data:`PAIR_BLOCK` pairs at a time, :func:`_on_used`); one search a
    ``group`` (≥ 0: the key of the two grains): of the group's pairs that did not hold from the identity, the one
    of the largest ``weight`` (its pixels) is searched and the others take what it found; ``searched`` (bool, default
    every pair): the pairs that may be searched at all. Returns the registration and which pairs took another's."""

    def fit(search: bool) -> Callable[..., Registration]:
        def run(p: np.ndarray, used: tuple[np.ndarray, np.ndarray], g: Geometry) -> Registration:
            p = p if prepare is None else prepare(p)
            return register(p, p, g, pairs=used, search=search)
        return run

    reg = _on_used(fit(False), patterns, pairs, geometry)
    taken = np.zeros(len(pairs[0]), bool)
    far = np.flatnonzero(~(reg.angle < NO_SEARCH_DEG) & (True if searched is None else searched))
    if not far.size:
        return reg, taken
    key = np.full(far.size, -1, np.int64) if group is None else group[far]
    lost = (key >= 0) & ~np.isfinite(reg.angle[far])  # out of reach from the identity, across two grains
    cand = far[lost]
    order = np.lexsort((-np.asarray(weight)[cand], key[lost]))  # by group, the most pixels first
    cand, ckey = cand[order], key[lost][order]
    first = np.r_[True, ckey[1:] != ckey[:-1]] if cand.size else np.zeros(0, bool)
    head = cand[first]
    lead = head[np.cumsum(first) - 1]  # each candidate's searched pair
    todo = np.sort(np.concatenate([far[~lost], head]))
    if todo.size:
        again = _on_used(fit(True), patterns, (pairs[0][todo], pairs[1][todo]), geometry)
        better = ~np.isfinite(reg.angle[todo]) | (again.correlation >= reg.correlation[todo])
        _take(reg, todo[better], again, np.flatnonzero(better))
    others = ~first
    found = others & np.isfinite(reg.angle[lead])
    _take(reg, cand[found], reg, lead[found])
    taken[cand[found]] = True
    return reg, taken


def _take(reg: Registration, into: np.ndarray, src: Registration, at: np.ndarray) -> None:
    """``reg``'s pairs ``into`` given ``src``'s pairs ``at`` (every field)."""
    for f in dataclasses.fields(reg):
        mine, theirs = getattr(reg, f.name), getattr(src, f.name)
        if mine is not None and theirs is not None:
            mine[into] = theirs[at]


def decide(regions: np.ndarray, pairs: PairAngles, *, grain_angle: float,
           low_angle: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Regions less than ``low_angle`` apart merged, the closest pair first, except where a join would put into one
    region two regions whose own boundary reads over it (as a connected component of such pairs did: on the patchwork
    maps a small region read within the noise of two sub-grains joined them, low-angle F1 of tuning map 1 0.874 → 0.920
    in the ROI when it no longer could); grains: regions joined by boundaries under ``grain_angle``. Returns the
    regions (renumbered 0..R−1, −1 kept), the grain of every pixel and what was decided."""
    n = int(regions.max()) + 1 if regions.size else 0
    a = np.nan_to_num(pairs.decisive(grain_angle), nan=np.inf)
    same = a < low_angle
    merged, refused = _joined_apart(n, pairs.i, pairs.j, a, same)
    inside = a < grain_angle
    graph = sparse.coo_matrix((np.ones(int(inside.sum())), (pairs.i[inside], pairs.j[inside])), shape=(n, n))
    _, grain_of = connected_components(graph, directed=False)
    new_regions = np.where(regions >= 0, merged[np.clip(regions, 0, None)], -1)
    grains = np.where(regions >= 0, grain_of[np.clip(regions, 0, None)], -1)
    finite = pairs.angle[np.isfinite(pairs.angle)]
    info = {
        "angle_rule": (f"degrees, from the patterns: a boundary over {grain_angle:g}° is a grain boundary, over "
                       f"{low_angle:g}° a low-angle one; regions under {low_angle:g}° apart, or under "
                       f"{SIGNIFICANCE:g} times the angle's standard error, are one (vaearr.maps.segmentation.boundary_angles)"),
        "grain_angle": float(grain_angle), "low_angle": float(low_angle),
        "angle_pairs": int(pairs.i.size), "angle_pairs_merged": int(same.sum()) - refused,
        "angle_pairs_kept_apart": refused,
        "angle_pairs_within_noise": int(((pairs.angle >= low_angle) & (a < low_angle)).sum()),
        "angle_pairs_low_angle": int((~same & inside).sum()), "angle_pairs_grain": int((~inside).sum()),
        "angle_pairs_beyond_search": int(np.isinf(pairs.angle).sum()),
        "angle_pairs_from_means": int(pairs.from_means.sum()),
        "angle_pairs_read_where_pixels_touch": int(pairs.touched(grain_angle).sum()),
        "angle_pairs_searched_once_for_their_grains": 0 if pairs.shared is None else int(pairs.shared.sum()),
        "angle_median_low_angle": float(np.median(finite[(finite >= low_angle) & (finite < grain_angle)]))
        if ((finite >= low_angle) & (finite < grain_angle)).any() else None,
    }
    return new_regions, grains, info


def _joined_apart(n: int, i: np.ndarray, j: np.ndarray, angle: np.ndarray,
                  same: np.ndarray) -> tuple[np.ndarray, int]:
    """Regions ``0..n−1`` joined along the pairs ``same`` (``i``–``j``), the smallest ``angle`` first, except where a
    join would put into one region two regions whose own boundary is not ``same`` (a boundary read over the low angle:
    a small region within the noise of both its neighbours must not join two sub-grains through it). Returns the
    label of every region and the joins refused."""
    parent = np.arange(int(n))
    apart: list[set[int]] = [set() for _ in range(int(n))]
    for p, q in zip(i[~same].tolist(), j[~same].tolist()):
        apart[p].add(q)
        apart[q].add(p)

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = int(parent[k])
        return k

    refused = 0
    for k in np.flatnonzero(same)[np.argsort(angle[same], kind="stable")].tolist():
        p, q = root(int(i[k])), root(int(j[k]))
        if p == q:
            continue
        if q in apart[p]:
            refused += 1
            continue
        if len(apart[p]) < len(apart[q]):
            p, q = q, p
        parent[q] = p  # q's members now answer to p: its boundaries over the low angle are p's
        for r in apart[q]:
            apart[r].discard(q)
            apart[r].add(p)
        apart[p] |= apart[q]
        apart[q] = set()
    return relabel_roots(np.array([root(k) for k in range(int(n))], np.int64)), refused


def relabel_roots(roots: np.ndarray) -> np.ndarray:
    """Labels 0..K−1 in the order their roots first appear."""
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def angle_map(regions: np.ndarray, pairs: PairAngles, values: np.ndarray | None = None) -> np.ndarray:
    """Per pixel, the angle (degrees) of the boundary it is on (a pixel is on a boundary when its right or lower
    neighbour is in another region; the larger of the two where both), NaN elsewhere. ``values``: one per pair instead
    of the angles (:meth:`PairAngles.decisive`)."""
    r = int(regions.max()) + 1 if regions.size else 0
    lookup = dict(zip((pairs.i.astype(np.int64) * r + pairs.j).tolist(),
                      (pairs.angle if values is None else values).tolist()))
    out = np.full(regions.shape, np.nan, np.float32)
    for a, b, target in ((regions[:, :-1], regions[:, 1:], (slice(None), slice(None, -1))),
                         (regions[:-1], regions[1:], (slice(None, -1), slice(None)))):
        sel = (a >= 0) & (b >= 0) & (a != b)
        key = np.minimum(a[sel], b[sel]).astype(np.int64) * r + np.maximum(a[sel], b[sel])
        vals = np.array([lookup.get(int(k), np.nan) for k in key], np.float32)
        view = out[target]
        cur = view[sel]
        view[sel] = np.where(np.isnan(cur), vals, np.fmax(cur, vals))
    return out
