"""Pixels set aside while a map without a mask is segmented: patterns that resemble none of their neighbours.

A band-contrast ROI leaves out the pixels whose patterns are weak: the mixed patterns along grain boundaries (a
pixel there records both grains) and the blank ones of pits and scratches. Segmented on every pixel, those pixels
enter the regions and move the sub-grains beside them: on the patchwork family's sub-grain maps the same latents
segmented in the ROI and on every pixel agree at regions ARI 0.87–0.90, and on every pixel but the ROI's left-out
pixels within one pixel of a grain boundary at 0.92–0.98 (BENCHMARKS "Science: two families").

The patterns tell those pixels without band contrast: a pixel inside a grain (or on a sub-grain boundary) correlates
with at least one of its four neighbours about as its grain's pixels do, a mixed or blank one with none of them. So,
on a store with patterns and no mask, :func:`set_aside` takes the pixels whose best neighbour correlation is under
the lower of Otsu's threshold of that map and its median less 3 robust standard deviations (a map without such pixels
has one mode: then only its far tail goes), the regions form without them, and :func:`fill_set_aside` gives each to
the region of the neighbour its pattern correlates with best, from the edge of each gap inwards. Every pixel is still
labelled. Where the mixing fades over a few pixels (the first family's boundaries), the partly mixed pixels left beside
the set-aside band can form a region of their own, a strip of 8–29 pixels along the grain boundary that would be drawn
as a low-angle boundary; :func:`absorb_small` joins a region that touches a set-aside pixel and is small (under
:data:`SMALL` pixels) or a strip along them (under :data:`THIN` of its pixels have all four neighbours in it, and at
least :data:`ALONG` of them lie next to a set-aside pixel) to the region of its grain it shares most edges with
(science sub-grain map 2024: low-angle F1 0.915 → 1.000 by size; held-out map 3, a strip of 42 pixels with 2 core
pixels, 95 % of them next to the band: 0.932 → 1.000 as a strip; thinness alone also took a thin patch of a
patchwork sub-grain, 34 pixels, 18 % next to the band: tuning map 1's ROI vs every pixel 0.911 → 0.893).
On the benchmark maps the rule takes about 10–15 % of the pixels, 85–99 % of them within a pixel of a true grain
boundary, most of the rest in holes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from vaearr.maps.segmentation.merging import grid_pairs

#: Regions under this many pixels beside the set-aside pixels are joined to their grain's neighbour region.
SMALL = 32
#: ... and so are strips along them: regions of which fewer than this share of the pixels are core pixels (all 4
#: neighbours in the region; 1/4 took thin patches of the patchwork family's sub-grains, 1/8 and 1/16 did not) ...
THIN = 1 / 8
#: ... and at least this share lie next to (8-neighbours) a set-aside pixel.
ALONG = 0.5
#: Robust standard deviations under the median of the best neighbour correlation below which a pixel may be set aside.
SPREAD = 3.0


def best_neighbour(right: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Each pixel's highest correlation with a 4-neighbour, from the right and lower neighbour dot products of
    :func:`~vaearr.maps.segmentation.grain_cuts.neighbour_dots` (NaN: no neighbour measured)."""
    ny, nx = down.shape[0] + 1, right.shape[1] + 1
    best = np.full((ny, nx), -np.inf)
    for values, here, there in ((right, np.s_[:, :-1], np.s_[:, 1:]), (down, np.s_[:-1, :], np.s_[1:, :])):
        v = np.where(np.isfinite(values), values, -np.inf)
        best[here] = np.maximum(best[here], v)
        best[there] = np.maximum(best[there], v)
    return np.where(np.isfinite(best), best, np.nan)


def set_aside(right: np.ndarray, down: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``valid`` pixels whose patterns resemble none of their neighbours (module docstring), and what was chosen."""
    best = best_neighbour(right, down)
    measured = valid & np.isfinite(best)
    values = best[measured]
    if values.size < 16 or np.ptp(values) <= 0:
        return np.zeros_like(valid), {"pixels_set_aside": 0}
    median = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - median)))
    threshold = min(float(threshold_otsu(values)), median - SPREAD * sigma)
    aside = measured & (best < threshold)
    return aside, {"pixels_set_aside": int(aside.sum()), "set_aside_threshold": round(threshold, 4),
                   "set_aside_rule": (f"pattern space, no mask: pixels whose best correlation with a 4-neighbour is "
                                      f"under min(Otsu, median − {SPREAD:g} robust σ) of the map's, left out while "
                                      "regions form, then given to the neighbour region they correlate with best")}


def fill_set_aside(regions: np.ndarray, grains: np.ndarray, aside: np.ndarray, right: np.ndarray,
                   down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``regions`` and ``grains`` with each ``aside`` pixel given the labels of the labelled 4-neighbour it correlates
    with best (NaN correlations count as the lowest), a round at a time from the edge of each gap inwards."""
    regions, grains = regions.copy(), grains.copy()
    ny, nx = regions.shape
    todo = aside & (regions < 0)
    # (neighbour offset, the pair's correlation as seen from this pixel)
    r = np.where(np.isfinite(right), right, -np.inf)
    d = np.where(np.isfinite(down), down, -np.inf)
    left_dot = np.full((ny, nx), -np.inf)
    left_dot[:, 1:] = r
    right_dot = np.full((ny, nx), -np.inf)
    right_dot[:, :-1] = r
    up_dot = np.full((ny, nx), -np.inf)
    up_dot[1:] = d
    down_dot = np.full((ny, nx), -np.inf)
    down_dot[:-1] = d
    moves = ((0, -1, left_dot), (0, 1, right_dot), (-1, 0, up_dot), (1, 0, down_dot))
    while todo.any():
        best = np.full((ny, nx), -np.inf)
        got = np.zeros((ny, nx), bool)
        new_r, new_g = regions.copy(), grains.copy()
        for dy, dx, dot in moves:
            shifted_r = np.full((ny, nx), -1)
            shifted_g = np.full((ny, nx), -1)
            ys = slice(max(dy, 0), ny + min(dy, 0))
            xs = slice(max(dx, 0), nx + min(dx, 0))
            yt = slice(max(-dy, 0), ny + min(-dy, 0))
            xt = slice(max(-dx, 0), nx + min(-dx, 0))
            shifted_r[yt, xt] = regions[ys, xs]
            shifted_g[yt, xt] = grains[ys, xs]
            take = todo & (shifted_r >= 0) & (~got | (dot > best))
            new_r[take], new_g[take] = shifted_r[take], shifted_g[take]
            best[take] = dot[take]
            got |= take
        if not got.any():  # pixels no labelled pixel reaches (a gap that is all of a piece of the map): left out
            break
        regions, grains = new_r, new_g
        todo &= ~got
    return regions, grains


def absorb_small(regions: np.ndarray, grains: np.ndarray, aside: np.ndarray, size: int,
                 thin: float = THIN, along: float = ALONG) -> tuple[np.ndarray, int]:
    """Regions that touch a set-aside pixel and have fewer than ``size`` pixels, or fewer than ``thin`` of their pixels
    core (all four neighbours in the region) and at least ``along`` of them next to a set-aside pixel (a strip along
    them), joined to the region of their grain they share most pixel edges with: the partly mixed pixels next to a
    set-aside band, which formed a region of their own. Returns the regions and the pixels moved."""
    ny, nx = regions.shape
    a, b = grid_pairs(np.ones((ny, nx), bool))
    r, g = regions.ravel(), grains.ravel()
    if not (r >= 0).any():
        return regions, 0
    sizes = np.bincount(r[r >= 0])
    near = aside.ravel().copy()
    near[a[aside.ravel()[b]]] = near[b[aside.ravel()[a]]] = True
    touched = np.bincount(r[(r >= 0) & near], minlength=sizes.size) > 0
    edge = r < 0  # core pixels: all four neighbours in the region (the map's edge does not count against it)
    cross = r[a] != r[b]
    edge[a[cross]] = edge[b[cross]] = True
    core = np.bincount(r[~edge], minlength=sizes.size)
    beside = ndi.binary_dilation(aside, structure=np.ones((3, 3), bool)).ravel()
    beside_share = np.bincount(r[r >= 0], weights=beside[r >= 0], minlength=sizes.size) / np.maximum(sizes, 1)
    strip = (core < thin * sizes) & (beside_share >= along)
    small = ((sizes < size) | strip) & (sizes > 0) & touched
    # every edge from a small region to another region of the same grain, both ways
    src, dst = np.r_[r[a], r[b]], np.r_[r[b], r[a]]
    keep = (src >= 0) & (dst >= 0) & (src != dst) & np.r_[g[a] == g[b], g[a] == g[b]]
    keep &= small[np.clip(src, 0, None)]
    if not keep.any():
        return regions, 0
    m = sizes.size
    key, length = np.unique(src[keep].astype(np.int64) * m + dst[keep], return_counts=True)
    s_, d_ = key // m, key % m
    order = np.lexsort((-length, s_))
    first = order[np.r_[True, s_[order][1:] != s_[order][:-1]]]
    target = np.arange(m)
    target[s_[first]] = d_[first]
    for _ in range(m):  # a small region whose neighbour is small too: follow to the end (a 2-cycle stops at one)
        nxt = target[target]
        if (nxt == target).all():
            break
        target = np.where(target[nxt] == target, np.minimum(target, nxt), nxt)
    out = np.where(r >= 0, target[np.clip(r, 0, None)], -1)
    return out.reshape(ny, nx), int((out != r).sum())

