"""Every pixel's rotation from its region's reference pattern, in degrees, read from the patterns: KAM, GROD and GOS
with no indexing (what ``vaearr spread`` reports from the patterns).

For each region (a grain of a segmentation, say) a **reference pattern** is the mean of the 3 × 3 pixels of the region
around its most interior pixel (the farthest from its edge). Every pixel's pattern is registered on it
(:func:`vaearr.maps.patterns.misorientation.register`: the rotation ``Q`` with ``pixel(d) ≈ reference(Q d)``), as high-resolution
EBSD measures lattice rotations against a reference point of a grain:

1. **from the identity**, the map read in row blocks (a rotation of up to several degrees is within reach);
2. **from a neighbour**: a pixel whose fit did not hold (a bent grain turns more than that from its reference) is
   registered again from the rotation of a 4-neighbour of its region that did, round after round, so the fit walks
   along the grain's bending.

The rotations are then taken from each region's mean orientation (the mean of its pixels' rotations), as MTEX's GROD
and GOS are: ``(y, x, 3)`` rotation vectors in degrees, NaN where a pixel did not register. Their noise is a single
pattern's (:func:`vaearr.maps.patterns.misorientation.register`; ``BENCHMARKS.md`` "Misorientation from the patterns").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from vaearr.maps.patterns.blocks import read_ahead, spans
from vaearr.maps.patterns.misorientation import flattened
from vaearr.maps.patterns.misorientation import (
    Geometry,
    matrix_rotvec,
    prepared,
    Pyramid,
    register,
    rotvec_matrix,
    RIM_PX,
    smooth_background,
)
from vaearr.numba_cache import lazy_njit
from vaearr.progress import bar

#: Scan pixels registered at a time in the first pass.
BLOCK_PIXELS = 2048
#: Rounds of the second pass (each reaches one pixel further into a bent grain from where the fits hold).
MAX_ROUNDS = 200
#: A fit from the identity is taken when under this (degrees); further ones are checked from a neighbour.
FIRST_PASS_DEG = 8.0
#: Registrations of the whole map: on the 3 × 3 reference, then on the references each pass turned back.
PASSES = 3


@lazy_njit(nogil=True, cache=True)
def _warp_sum(patterns, q, group, dirs, r0, c0, scale, rim, sums, weights):  # pragma: no cover - compiled
    """``sums[group[k]] += patterns[k](q[k]ᵀ d)`` over the detector directions ``dirs`` (the pattern turned back into
    the frame ``q`` was measured from), ``weights`` counting the directions that fell on the detector."""
    nrow, ncol = patterns.shape[1], patterns.shape[2]
    for k in range(patterns.shape[0]):
        img = patterns[k]
        g = group[k]
        for p in range(dirs.shape[0]):
            # qᵀ d
            vx = q[k, 0, 0] * dirs[p, 0] + q[k, 1, 0] * dirs[p, 1] + q[k, 2, 0] * dirs[p, 2]
            vy = q[k, 0, 1] * dirs[p, 0] + q[k, 1, 1] * dirs[p, 1] + q[k, 2, 1] * dirs[p, 2]
            vz = q[k, 0, 2] * dirs[p, 0] + q[k, 1, 2] * dirs[p, 1] + q[k, 2, 2] * dirs[p, 2]
            if vz <= 1e-6:
                continue
            c = c0 + scale * vx / vz
            r = r0 - scale * vy / vz
            if c < rim or r < rim or c > ncol - 1 - rim or r > nrow - 1 - rim:
                continue
            ri = int(r)
            ci = int(c)
            fr = r - ri
            fc = c - ci
            sums[g, p] += ((1 - fr) * (1 - fc) * img[ri, ci] + (1 - fr) * fc * img[ri, ci + 1]
                           + fr * (1 - fc) * img[ri + 1, ci] + fr * fc * img[ri + 1, ci + 1])
            weights[g, p] += 1.0
    return 0


def warp_sums(patterns: np.ndarray, rotations: np.ndarray, group: np.ndarray, geometry: Geometry,
              sums: np.ndarray, weights: np.ndarray) -> None:
    """Add every pattern ``(n, rows, cols)``, turned back by its rotation ``(n, 3, 3)`` (``pattern(d) ≈ ref(Q d)``,
    so ``ref(e) ≈ pattern(Qᵀ e)``), to ``sums[group]`` ``(g, rows·cols)``; ``weights`` counts what fell on the
    detector (in place; one thread: the sums are shared)."""
    rows, cols = np.mgrid[0:geometry.shape[0], 0:geometry.shape[1]]
    dirs = geometry.directions(rows.ravel(), cols.ravel())
    r0, c0 = geometry.centre
    _warp_sum(np.ascontiguousarray(patterns, np.float32), np.ascontiguousarray(rotations, float),
              np.ascontiguousarray(group, np.int64), dirs, r0, c0, geometry.scale, RIM_PX, sums, weights)


def _references(regions: np.ndarray, data: Any, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each region's reference pattern (prepared) and its centre pixel (flat index)."""
    n = int(regions.max()) + 1
    ny, nx = regions.shape
    inner = np.zeros(regions.shape)
    for r in range(n):  # the distance to the region's edge, region by region on its bounding box
        sl = ndi.find_objects((regions == r).astype(np.int8))
        if not sl or sl[0] is None:
            continue
        box = sl[0]
        inner[box] = np.where(regions[box] == r, ndi.distance_transform_cdt(np.pad(regions[box] == r, 1))[1:-1, 1:-1],
                              inner[box])
    centre = np.full(n, -1)
    for r, box in enumerate(ndi.find_objects(regions + 1)):
        if box is None:
            continue
        sub = np.where(regions[box] == r, inner[box], -1)
        iy, ix = np.unravel_index(int(np.argmax(sub)), sub.shape)
        centre[r] = (iy + box[0].start) * nx + ix + box[1].start
    refs = np.zeros((n, *data.shape[-2:]), np.float32)
    for r in range(n):
        if centre[r] < 0:
            continue
        cy, cx = divmod(int(centre[r]), nx)
        y0, y1, x0, x1 = max(cy - 1, 0), min(cy + 2, ny), max(cx - 1, 0), min(cx + 2, nx)
        window = flattened(np.asarray(data[y0:y1, x0:x1]), background)
        keep = regions[y0:y1, x0:x1] == r
        refs[r] = window[keep].mean(0)
    return prepared(refs, np.ones(refs.shape[1:], np.float32)), centre


def pattern_rotations(regions: np.ndarray, data: Any, background: np.ndarray,
                      geometry: Geometry, passes: int = PASSES) -> tuple[np.ndarray, dict[str, Any]]:
    """Rotation vectors ``(ny, nx, 3)`` (degrees) of every pixel of ``regions`` (ny, nx; −1 outside, ids 0..R−1)
    from its region's mean orientation, read from the patterns ``data`` (y, x, py, px; numpy or dask) divided by the
    static ``background`` (module docstring); NaN outside the regions and where a pixel did not register. ``passes``:
    registrations of the whole map (1: on the 3 × 3 reference only)."""
    ny, nx = regions.shape
    background = smooth_background(background)
    refs, _ = _references(regions, data, background)
    previous: np.ndarray | None = None
    for it in range(passes):
        rot, holds, sums, weights, rounds, again = _one_pass(regions, data, background, geometry, refs, previous,
                                                              accumulate=it < passes - 1, sharp=it > 0)
        previous = rot
        if it < passes - 1:  # the region's patterns turned back onto its reference: a sharp, noise-free reference
            covered = weights >= 0.5 * weights.max(axis=1, keepdims=True)
            refs = prepared(np.where(covered, sums / np.maximum(weights, 1), 0).reshape(refs.shape),
                            np.ones(refs.shape[1:], np.float32))
    flat_regions = regions.ravel()
    inside = holds & (flat_regions >= 0)
    n = refs.shape[0]
    vec = np.full((ny * nx, 3), np.nan)
    if inside.any():  # from each region's mean orientation
        ids = flat_regions[inside]
        w = matrix_rotvec(rot[inside])
        mean = np.zeros((n, 3))
        np.add.at(mean, ids, w)
        mean /= np.maximum(np.bincount(ids, minlength=n), 1)[:, None]
        vec[inside] = np.degrees(matrix_rotvec(np.swapaxes(rotvec_matrix(mean[ids]), 1, 2) @ rot[inside]))
    registered = int(inside.sum())
    total = int((flat_regions >= 0).sum())
    return vec.reshape(ny, nx, 3), {
        "pattern_rotations": (f"each pixel's pattern registered on its region's reference (the 3 × 3 mean at its most "
                              f"interior pixel, then the region's patterns turned back onto it, {passes} pass(es)) from "
                              f"the identity, then from a registered neighbour ({rounds} round(s), {again} pixel(s) in "
                              "the last pass); rotations from the region's mean orientation"),
        "pattern_pixels_registered": registered, "pattern_pixels_not_registered": total - registered,
        "pc": list(geometry.pc), "pc_source": geometry.source}


def _one_pass(regions: np.ndarray, data: Any, background: np.ndarray, geometry: Geometry, refs: np.ndarray,
              previous: np.ndarray | None, *, accumulate: bool, sharp: bool
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Every pixel registered on its region's reference, from its previous rotation where it had one (else the
    identity), then from its neighbours; with ``accumulate``, the sums of the registered patterns turned back.
    ``sharp``: the references are free of noise (turned back from a pass before)."""
    ny, nx = regions.shape
    py, px = refs.shape[1:]
    rot = np.full((ny * nx, 3, 3), np.nan)
    holds = np.zeros(ny * nx, bool)
    sums = np.zeros((refs.shape[0], py * px))
    weights = np.zeros((refs.shape[0], py * px))
    flat_regions = regions.ravel()
    ones = np.ones((py, px), np.float32)
    moving = Pyramid(refs)  # the references blurred once for the whole pass
    step = max(1, BLOCK_PIXELS // max(nx, 1))
    needed = [(r0, r1) for r0, r1 in spans(ny, step) if (flat_regions[r0 * nx:r1 * nx] >= 0).any()]
    for (r0, r1), raw in bar(read_ahead(data, needed), desc="pattern rotations", unit="block",
                                         total=len(needed)):
        pix = np.flatnonzero(flat_regions[r0 * nx:r1 * nx] >= 0)
        block = prepared(flattened(raw, background).reshape(-1, py, px)[pix], ones)
        at = r0 * nx + pix
        known = np.zeros(pix.size, bool) if previous is None else np.isfinite(previous[at, 0, 0])
        for sel, first in ((~known, 0), (known, 1)):
            if not sel.any():
                continue
            k = np.flatnonzero(sel)
            start = None if first == 0 or previous is None else previous[at[k]]
            reg = register(moving, block[k], geometry, pairs=(flat_regions[at[k]], np.arange(k.size)), start=start,
                           first=first, weights=background, sharp=sharp)
            ok = np.isfinite(reg.angle) & ((reg.angle < FIRST_PASS_DEG) if first == 0 else True)
            rot[at[k[ok]]] = reg.rotation[ok]
            holds[at[k[ok]]] = True
            if accumulate and ok.any():
                warp_sums(block[k[ok]], reg.rotation[ok], flat_regions[at[k[ok]]], geometry, sums, weights)
    rounds, again = _from_neighbours(regions, data, background, geometry, refs, rot, holds, sharp)
    return rot, holds, sums, weights, rounds, again


def _from_neighbours(regions: np.ndarray, data: Any, background: np.ndarray, geometry: Geometry, refs: np.ndarray,
                     rot: np.ndarray, holds: np.ndarray, sharp: bool) -> tuple[int, int]:
    """The second pass (module docstring), in place: returns the rounds run and the pixels registered in them."""
    ny, nx = regions.shape
    flat_regions = regions.ravel()
    todo = np.flatnonzero((flat_regions >= 0) & ~holds)
    if not todo.size:
        return 0, 0
    patterns = prepared(flattened(_gather(data, todo, nx), background), np.ones(refs.shape[1:], np.float32))
    index = np.full(ny * nx, -1)
    index[todo] = np.arange(todo.size)
    done = 0
    rounds = 0
    tried_from = np.full(todo.size, -1)
    moving = Pyramid(refs)
    while rounds < MAX_ROUNDS:
        left = todo[~holds[todo]]
        if not left.size:
            break
        rounds += 1
        start, source = _neighbour_starts(left, regions, rot, holds)
        fresh = (source >= 0) & (tried_from[index[left]] != source)
        if not fresh.any():
            break
        px = left[fresh]
        tried_from[index[px]] = source[fresh]
        # only this round's patterns blurred (a pattern's levels are its own: the same numbers)
        reg = register(moving, patterns[index[px]], geometry, pairs=(flat_regions[px], np.arange(px.size)),
                       start=start[fresh], weights=background, sharp=sharp)
        ok = np.isfinite(reg.angle)
        rot[px[ok]] = reg.rotation[ok]
        holds[px[ok]] = True
        done += int(ok.sum())
    return rounds, done


def _gather(data: Any, pixels: np.ndarray, nx: int) -> np.ndarray:
    """The patterns of flat pixel indices ``pixels`` (sorted) from a (y, x, py, px) map, read row by row."""
    ys, xs = np.divmod(pixels, nx)
    out = np.empty((pixels.size, *data.shape[-2:]), data.dtype)
    for y in np.unique(ys):
        sel = ys == y
        row = np.asarray(data[int(y)])
        out[sel] = row[xs[sel]]
    return out


def _neighbour_starts(pixels: np.ndarray, regions: np.ndarray, rot: np.ndarray,
                      holds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel, the rotation of a registered 4-neighbour of its region (the first found) and that neighbour's
    index (−1: none)."""
    ny, nx = regions.shape
    flat = regions.ravel()
    ys, xs = np.divmod(pixels, nx)
    source = np.full(pixels.size, -1)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        qy, qx = ys + dy, xs + dx
        inside = (qy >= 0) & (qy < ny) & (qx >= 0) & (qx < nx)
        q = np.where(inside, qy * nx + qx, 0)
        ok = inside & (source < 0) & holds[q] & (flat[q] == flat[pixels])
        source[ok] = q[ok]
    start = np.repeat(np.eye(3)[None], pixels.size, 0)
    start[source >= 0] = rot[source[source >= 0]]
    return start, source
