"""Grains and sub-grains as connected regions of any feature map (the method of ``vaearr segment``).

The features of a pixel (latents, decomposition weights, or orientations) are compared with its
neighbours' the way MTEX's ``calcGrains`` compares misorientations, except that the threshold is
not an angle given by the user but a cost computed from the map itself:

1. **Noise, from the map.** Differences between 4-neighbours are mostly noise (most pairs lie
   inside one region). Their robust covariance (:func:`robust_covariance` of up to 20 000
   pairs: pairs across boundaries are left out as outliers) halved is the per-pixel noise
   covariance; the features are whitened by it, so one unit is one noise standard deviation in
   every direction.
2. **Regions by minimum description length.** Starting from single pixels, neighbouring regions
   are merged while merging shortens the map's description: a merge costs the rise in the sum
   of squares, ``n_a n_b / (n_a + n_b) · |μ_a − μ_b|² / 2`` nats (Ward's criterion), and saves
   one region's mean (``d/2 · log N`` nats, the BIC's price of ``d`` parameters) and its shared
   boundary (``boundary_cost`` nats per pixel edge). Each round, every region whose cheapest
   merge pays joins that neighbour when it is the larger one (:func:`paying_merges`; all
   vectorised), until no merge pays.
3. **Small and thin regions join their nearest neighbour** (regions with fewer than ``min_size``
   core pixels, default the number of feature dims: too few to estimate a mean of that many dims;
   a strip one or two pixels wide has none).
4. **Two levels.** For every pair of adjacent regions the per-pixel contrast ``|μ_a − μ_b|²``
   is computed. Grain boundaries are visible pixel to pixel, low-angle ones only over many
   pixels: the largest gap (at least ``gap``×) in the sorted log contrasts splits them; without
   such a gap a boundary is a grain boundary when its contrast exceeds ``2d`` (a neighbour pair's
   noise). Regions joined by low-angle boundaries form the grains. Pairs inside a grain whose
   contrast is under ``min_contrast`` × the median grain-boundary contrast are merged (differences
   too small to be sub-grains: brightness drift, the mixing zone beside a grain boundary at
   high signal-to-noise).

**Sub-grains inside each grain** (the second merging, steps 2–3 again with the grains fixed): features whose
noise is correlated pixel to pixel inside the regions found (neighbour-averaged patterns: the README path's latents)
are merged again on each grain's first principal directions, the ring along grain boundaries left out and filled
after (:mod:`vaearr.maps.segmentation.subgrain_level`, where the reasons and the choices are).

**Gaps of the mask.** Pixels either side of a masked gap up to ``2 × max_gap`` pixels wide (a scratch, a pit,
the speckle a band-contrast threshold leaves in a dim grain) are neighbours for steps 2–4, as MTEX's
``calcGrains`` closes such gaps with the Voronoi cells of the measured points (:func:`~vaearr.maps.segmentation.merging.gap_pairs`):
a grain the mask cuts or thins to speckle stays one grain, and a bent grain's two sides, alike across the gap,
are not split by the gradient between their means. Sub-grains (the second merging) are read from pixels that
touch; their pieces either side of a gap join in step 5.

**Grains are connected pixels** (:func:`~vaearr.maps.segmentation.pieces.connected_grains`), as MTEX's ``calcGrains`` defines them: a grain in
two pieces that touch neither on the grid nor across a closed gap is two grains; a piece too small or too thin to
be a grain joins the region beside it.

Orientations (``(y, x, quaternion)``) are segmented in two steps: grains as connected pixels
below ``grain_angle`` (as ``vaearr orientation-maps`` does), then each pixel's rotation from its
grain's mean orientation (a 3-vector in degrees, symmetry-reduced) is the feature, and regions
never cross a grain boundary.

Hand-written because scikit-image's region adjacency graphs merge by a fixed threshold on mean
distance and scikit-learn's Ward clustering with a connectivity graph takes a fixed distance or
number of clusters: neither chooses the threshold from the noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from types import MappingProxyType

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from vaearr.errors import InputError
from vaearr.maps.segmentation.merging import (
    MAX_GAP,
    absorb_small,
    gap_owners,
    gap_pairs,
    grid_pairs,
    join_labels,
    merge_regions,
    noise_whitening,
    region_means,
    region_pairs,
    relabel,
)
from vaearr.maps.options import BOUNDARY_COST, GRAIN_BOUNDARY_COST, MIN_CONTRAST
from vaearr.maps.segmentation.refine import RADIUS as GRAIN_RADIUS
from vaearr.maps.segmentation.refine import REFINE_ROUNDS, refine_boundaries, refine_grain_boundaries
from vaearr.maps.segmentation.subgrain_level import (
    CORRELATED,
    RING,
    SUBGRAIN_COMPONENTS,
    beside_grain_boundary,
    fill_ring,
    principal_by_grain,
    grain_ring,
    kappa_within,
)
from vaearr.maps.segmentation.pieces import absorb_slivers, connected_grains, join_patches

#: Smallest ratio between neighbouring sorted contrasts that counts as the low-angle/grain gap.
GAP = 4.0
#: A rule giving the grain of every region from the region map (ny, nx; −1 outside) and, as keyword ``source``, the
#: pixel whose pattern stands for each pixel (None: its own): (grain per region, info).
LevelRule = Callable[..., tuple[np.ndarray, dict[str, Any]]]
#: Passes of noise estimate and merging: the second reads the noise inside the first pass's regions.
NOISE_PASSES = 2
#: Boundary codes of ``{name}_boundaries``.
BOUNDARY_CODES = MappingProxyType({"none": 0, "low_angle": 1, "grain": 2})


@dataclass
class Levels:
    """Region pairs split into low-angle and grain boundaries (see the module docstring, step 4)."""

    grains: np.ndarray  # (R,) grain of every region
    threshold: float
    rule: str
    contrast: np.ndarray  # per adjacent pair
    pairs: tuple[np.ndarray, np.ndarray]


def split_levels(mu: np.ndarray, i: np.ndarray, j: np.ndarray, *, gap: float = GAP,
                 fixed_grains: np.ndarray | None = None, visible: float | None = None) -> Levels:
    """Grain of every region from the contrasts of adjacent pairs (or the given grains)."""
    r, d = mu.shape
    contrast = np.einsum("kd,kd->k", mu[i] - mu[j], mu[i] - mu[j])
    if fixed_grains is not None:
        return Levels(fixed_grains, float("nan"), "grains given (orientation grains)", contrast, (i, j))
    s = np.sort(np.log(np.maximum(contrast, 1e-300)))
    steps = np.diff(s)
    if steps.size and math.exp(steps.max()) >= gap:
        k = int(np.argmax(steps))
        threshold = float(math.exp((s[k] + s[k + 1]) / 2))
        rule = f"largest gap in the sorted contrasts ({math.exp(steps[k]):.1f}×)"
    else:  # a grain boundary is one seen pixel to pixel: over a neighbour pair's noise
        threshold = 2.0 * d if visible is None else float(visible)
        rule = (f"no gap of {gap:g}× or more: a boundary is a grain boundary when its contrast exceeds a "
                f"neighbour pair's noise ({threshold:.3g})")
    low = contrast < threshold
    graph = sparse.coo_matrix((np.ones(int(low.sum()), np.int8), (i[low], j[low])), shape=(r, r))
    _, grains = connected_components(graph, directed=False)
    return Levels(relabel(grains), threshold, rule, contrast, (i, j))


def boundary_codes(regions: np.ndarray, grains: np.ndarray) -> np.ndarray:
    """0 inside regions, 1 low-angle, 2 grain boundary: a pixel whose right or lower neighbour differs."""
    out = np.zeros(regions.shape, np.int8)
    for sl_a, sl_b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                       ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        ra, rb = regions[sl_a], regions[sl_b]
        both = (ra >= 0) & (rb >= 0) & (ra != rb)
        code = np.where(grains[sl_a] != grains[sl_b], 2, 1).astype(np.int8)
        view = out[sl_a]
        view[both] = np.maximum(view[both], code[both])
    return out


def filled_within_grains(regions: np.ndarray, grains: np.ndarray) -> np.ndarray:
    """Pixels of a grain without a region (−1) take the region of a 4-neighbour of the same grain that has one, step by
    step inward (the first in the order up, down, left, right); a grain with no region at all becomes one region.
    Renumbered 0..R−1, −1 outside the grains."""
    regions = np.where(grains >= 0, regions, -1)
    for _ in range(regions.size):
        todo = (grains >= 0) & (regions < 0)
        if not todo.any():
            break
        took = regions.copy()
        for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1)):
            nb_r = np.roll(regions, step, axis=axis)
            nb_g = np.roll(grains, step, axis=axis)
            edge = [slice(None)] * 2
            edge[axis] = slice(0, 1) if step == 1 else slice(-1, None)
            nb_r[tuple(edge)] = -1
            take = todo & (took < 0) & (nb_r >= 0) & (nb_g == grains)
            took[take] = nb_r[take]
        if (took == regions).all():
            break
        regions = took
    rest = (grains >= 0) & (regions < 0)
    if rest.any():  # a grain none of whose pixels registered
        regions[rest] = regions.max() + 1 + relabel(grains[rest])
    return np.where(regions >= 0, relabel(np.where(regions >= 0, regions, regions.max() + 1)), -1)

# --------------------------------------------------------------------------------------------
# one map


@dataclass
class Segmentation:
    """Regions, grains and boundaries of one feature map, and how they were chosen."""

    regions: np.ndarray  # (ny, nx) int, −1 outside
    grains: np.ndarray  # (ny, nx) int, −1 outside
    boundaries: np.ndarray  # (ny, nx) int8 codes
    info: dict[str, Any] = field(default_factory=dict)
    angles: np.ndarray | None = None  # (ny, nx) degrees across the boundary a pixel is on, NaN elsewhere (patterns)

    @property
    def n_regions(self) -> int:
        return int(self.regions.max()) + 1 if (self.regions >= 0).any() else 0

    @property
    def n_grains(self) -> int:
        return int(self.grains.max()) + 1 if (self.grains >= 0).any() else 0


def segment_features(
    features: np.ndarray,
    valid: np.ndarray,
    *,
    boundary_cost: float = BOUNDARY_COST,
    min_size: int | None = None,
    min_contrast: float = MIN_CONTRAST,
    grains: np.ndarray | None = None,
    correlation: float | None = None,
    seed: int = 0,
    level_rule: LevelRule | None = None,
    join: bool = True,
    noise_passes: int = NOISE_PASSES,
    grain_boundary_cost: float = GRAIN_BOUNDARY_COST,
    refine: int = REFINE_ROUNDS,
    max_gap: float = MAX_GAP,
    ring: int = RING,
    components: int | None = SUBGRAIN_COMPONENTS,
    grain_radius: int = GRAIN_RADIUS,
) -> Segmentation:
    """Segment a feature map ``(ny, nx, d)`` over the ``valid`` pixels (module docstring, steps 1–5).

    With ``grains`` (a (ny, nx) id map, −1 outside) regions never cross a grain boundary and the
    grains are taken as given. ``correlation``: the noise's spatial correlation factor κ when it
    is known (None: estimated, see :func:`noise_whitening`). ``level_rule``: the grain of every
    region from the region map (e.g. :func:`vaearr.maps.segmentation.pattern_levels.pattern_grains` on the
    store's patterns) instead of the contrasts of the features (step 4). ``join``: regions of one
    grain whose features do not differ are given one label even when they do not touch (step 5).
    ``max_gap``: pixels on either side of a masked gap up to twice this wide are neighbours
    (:func:`~vaearr.maps.segmentation.merging.gap_pairs`; 0: only the grid's neighbours). ``grain_radius``: the window whose
    pixels of each grain stand for it where its boundaries are refined (:mod:`vaearr.maps.segmentation.refine`; 0: not).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(20, 30, 3)); f[:, 15:, 0] += 3.0   # two halves, 3 noise σ apart
    >>> seg = segment_features(f, np.ones((20, 30), bool))
    >>> left = seg.regions[0, 0]
    >>> seg.n_regions, int((seg.regions[:, :15] != left).sum() + (seg.regions[:, 15:] == left).sum())  # misplaced
    (2, 5)
    """
    ny, nx, d = features.shape
    given = grains
    valid = np.asarray(valid, bool) & np.isfinite(features).all(-1)
    if grains is not None:
        valid &= grains >= 0
    if valid.sum() < 2:
        raise InputError(None, f"the mask leaves {int(valid.sum())} pixel(s) with features: nothing to segment")
    flat = np.flatnonzero(valid.ravel())
    raw = features.reshape(-1, d)[flat].astype(np.float64)
    given_min_size, min_size = min_size, int(min_size or d)
    owner = gap_owners(valid, max_gap) if max_gap > 0 else np.where(valid.ravel(), np.arange(valid.size), -1)
    gaps = gap_pairs(valid, owner)
    info: dict[str, Any] = {"max_gap": float(max_gap), "gap_pairs": int(gaps[0].size)}
    if grains is None:  # step 4 first, on coarse regions: their boundaries are long enough to measure
        coarse = _merged(raw, valid, flat, None, gaps, boundary_cost=grain_boundary_cost, min_size=min_size,
                         correlation=correlation, seed=seed, passes=noise_passes)
        grains, level_info = _grain_map(coarse, valid, flat, level_rule, min_contrast,
                                        owner if gaps[0].size else None)
        grains, moved = refine_grain_boundaries(coarse.z, grains, flat, boundary_cost=grain_boundary_cost,
                                                radius=grain_radius)  # vaearr.maps.segmentation.refine
        info.update({**level_info, "grain_refine_radius": int(grain_radius), "grain_boundary_pixels_moved": moved})
    # sub-grains from pixels that touch: across a gap a sub-grain boundary cannot be placed (the hole may hide it);
    # the regions of one grain on both sides of a gap join in step 5 when their features do not differ
    no_gaps = (gaps[0][:0], gaps[1][:0])
    fine = _merged(raw, valid, flat, grains, no_gaps, boundary_cost=boundary_cost, min_size=min_size,
                   correlation=correlation if correlation is not None else info.get("noise_correlation_factor"),
                   seed=seed, passes=noise_passes)
    noise_info, z, inner, projected = fine.info, fine.z, valid, False
    if components and given is None:  # the sub-grain level of correlated features (vaearr.maps.segmentation.subgrain_level)
        fine, z, inner, projected = _correlated_level(raw, valid, flat, grains, fine, int(components), ring,
                                                      boundary_cost, int(given_min_size or components), seed, info)
    inner_flat = np.flatnonzero(inner.ravel())
    a, b = grid_pairs(valid)
    same = grains.ravel()[a] == grains.ravel()[b]
    a, b = np.searchsorted(flat, a[same]), np.searchsorted(flat, b[same])
    labels = np.full(flat.size, -1)
    labels[np.searchsorted(flat, inner_flat)] = fine.labels
    if inner_flat.size < flat.size:
        labels = fill_ring(z, labels, a, b)
        info.update({"ring_px": int(ring), "ring_pixels": int(flat.size - inner_flat.size)})
    if refine > 0 and not projected:
        yx = np.divmod(flat, nx)
        labels = refine_boundaries(z, labels, a, b, boundary_cost, (yx[0] + yx[1]) % 2, rounds=refine)
    labels = absorb_slivers(labels, a, b, beside_grain_boundary(valid, flat, grains))
    region_grain = _region_grain(labels, grains.ravel()[flat])
    joined = 0
    if join:
        # the price of a mean in the dims the regions were merged on (2 on the sub-grain level of correlated features:
        # 16's price joined touching sub-grains of one grain, tuning maps' worst low-angle F1 0.814 → 0.867)
        join_price = z.shape[1] / 2 * math.log(max(flat.size, 2))
        labels, region_grain, joined = join_patches(z, labels, region_grain, join_price)
        info["patches_join_price"] = round(join_price, 3)
    regions = np.full(ny * nx, -1)
    regions[flat] = labels
    grain_map = np.full(ny * nx, -1)
    grain_map[flat] = relabel(region_grain)[labels]
    pieces: dict[str, int] = {}
    if given is None:  # grains read here (given grains, of orientations, are connected pixels already)
        regions, grain_map, pieces = connected_grains(regions, grain_map, valid, gaps, min_size)
    regions, grain_map = regions.reshape(ny, nx), grain_map.reshape(ny, nx)
    info.update(noise_info)
    info.update({"feature_dims": d, "pixels": int(flat.size), "boundary_cost": float(boundary_cost),
                 "grain_boundary_cost": float(grain_boundary_cost), "min_size": min_size,
                 "min_contrast": float(min_contrast), "merge_rounds": fine.rounds,
                 "regions_before_small": fine.merged, "patches_joined": joined, **pieces,
                 "regions_are": ("orientation classes of a grain: regions of one grain whose features do not differ "
                                 "share a label even where a mask hole or another region parts them")
                                if join else "connected regions"})
    info.setdefault("levels_rule", "grains given")
    return Segmentation(regions, grain_map, boundary_codes(regions, grain_map), info)


def _correlated_level(raw: np.ndarray, valid: np.ndarray, flat: np.ndarray, grains: np.ndarray, fine: _Merged,
                      components: int, ring: int, boundary_cost: float, min_size: int, seed: int,
                      info: dict[str, Any]) -> tuple[_Merged, np.ndarray, np.ndarray, bool]:
    """Where the noise inside ``fine``'s regions is correlated (κ ≥ :data:`CORRELATED`), the sub-grains merged again on
    each grain's first ``components`` principal directions of ``fine.z``, on the grain's interior (the ``ring`` along
    grain boundaries left out): the merging, the projections of every valid pixel (the features the rest of the
    segmentation reads), the pixels merged and whether it ran. ``min_size``: the core pixels a region needs on this
    level (by default ``components``, the dims of its features, as the first levels need ``d``: with 16, the patches
    of the second family's sub-grains, thin or of a few pixels, were absorbed). Records κ and the level in ``info``."""
    kappa = kappa_within(raw, valid, flat, fine.labels, seed)
    info["noise_correlation_inside_regions"] = round(kappa, 3)
    if kappa < CORRELATED:
        return fine, fine.z, valid, False
    inner = valid & ~grain_ring(valid, grains, ring) if ring > 0 else valid
    at_inner = np.searchsorted(flat, np.flatnonzero(inner.ravel()))
    fit = np.zeros(flat.size, bool)
    fit[at_inner] = True
    z = principal_by_grain(fine.z, grains.ravel()[flat], components, fit)
    merged = _merged(z[at_inner], inner, flat[at_inner], grains, (flat[:0], flat[:0]), boundary_cost=boundary_cost,
                     min_size=min_size, correlation=None, seed=seed, passes=1, whitened=True)
    info.update({"subgrain_components": components, "subgrain_min_size": int(min_size), "subgrain_level": (
        f"each grain's first {components} principal directions of the whitened features (noise correlation inside "
        f"the regions {kappa:.1f} ≥ {CORRELATED:g}), its {ring}-pixel ring along grain boundaries filled after")})
    return merged, z, inner, True


@dataclass
class _Merged:
    """Regions of one merging (steps 1–3) and the whitened features they were merged on."""

    labels: np.ndarray  # (n,) over the valid pixels
    z: np.ndarray  # (n, d) whitened, in independent measurements
    a: np.ndarray  # pixel pairs (indices into the valid pixels) the merging used
    b: np.ndarray
    kappa: float
    rounds: int
    merged: int
    info: dict[str, Any]


def _merged(raw: np.ndarray, valid: np.ndarray, flat: np.ndarray, grains: np.ndarray | None,
            gaps: tuple[np.ndarray, np.ndarray], *, boundary_cost: float,
            min_size: int, correlation: float | None, seed: int, passes: int, whitened: bool = False) -> _Merged:
    """Steps 1–3 over the valid pixels and their pairs (the grid's and ``gaps``, across masked pixels), never across
    ``grains`` when given; the noise is estimated again from the grid pairs inside the regions of the pass before
    (the first pass: inside the grains, or all pairs)."""
    ny, nx = valid.shape
    a, b = grid_pairs(valid)
    a, b = np.concatenate([a, gaps[0]]), np.concatenate([b, gaps[1]])
    if grains is not None:  # never across a grain boundary
        same = grains.ravel()[a] == grains.ravel()[b]
        a, b = a[same], b[same]
    ai, bi = np.searchsorted(flat, a), np.searchsorted(flat, b)
    within = grains
    info: dict[str, Any] = {}
    for _ in range(1 if whitened else max(1, passes)):
        if whitened:  # in noise units already
            whiten, kappa = np.eye(raw.shape[1]), 1.0
        else:
            whiten, kappa, info = noise_whitening(raw, valid, seed=seed, correlation=correlation, within=within)
        z = (raw - raw.mean(0)) @ whiten / math.sqrt(kappa)  # merge costs in independent measurements
        labels, rounds = merge_regions(z, ai, bi, boundary_cost=boundary_cost)
        merged = int(labels.max()) + 1
        labels = absorb_small(z, ai, bi, labels, min_size, islands=grains is None)
        within = np.full(ny * nx, -1)
        within[flat] = labels
        within = within.reshape(ny, nx)
    return _Merged(labels, z, ai, bi, kappa, rounds, merged, info)


def _grain_map(coarse: _Merged, valid: np.ndarray, flat: np.ndarray, level_rule: LevelRule | None,
               min_contrast: float, owner: np.ndarray | None) -> tuple[np.ndarray, dict[str, Any]]:
    """The grain of every valid pixel (−1 elsewhere) from the coarse regions: by ``level_rule`` (pattern space)
    or, without one, by the contrasts of the regions' features (step 4). ``owner``: the measured pixel standing
    for every pixel (:func:`~vaearr.maps.segmentation.merging.gap_owners`) where gaps of the mask are closed: the rule reads
    the region map with each masked pixel given its owner's region, and the owner's pattern."""
    ny, nx = valid.shape
    labels = coarse.labels
    info: dict[str, Any] = {f"grain_{k}" if not k.startswith("noise") else k: v for k, v in coarse.info.items()}
    if level_rule is not None:
        region_map = np.full(ny * nx, -1)
        region_map[flat] = labels
        if owner is not None:
            region_map = np.where(owner >= 0, region_map[np.maximum(owner, 0)], -1)
        region_grain, level_info = level_rule(region_map.reshape(ny, nx), source=owner)
        info.update(level_info)
        info["levels_rule"] = level_info.get("grain_rule", "given")
    else:
        d = coarse.z.shape[1]
        labels, levels = _levels_with_floor(coarse.z, coarse.a, coarse.b, labels, min_contrast, None,
                                            2.0 * d / coarse.kappa)
        region_grain = levels.grains
        info.update({"levels_rule": levels.rule, "grain_contrast_threshold": levels.threshold})
    grain_map = np.full(ny * nx, -1)
    grain_map[flat] = relabel(np.asarray(region_grain))[labels]
    info["grain_regions"] = int(labels.max()) + 1
    return grain_map.reshape(ny, nx), info


def _region_grain(labels: np.ndarray, pixel_grains: np.ndarray) -> np.ndarray:
    """The grain of every region, when no region crosses a grain (orientations)."""
    out = np.zeros(int(labels.max()) + 1, np.int64)
    out[labels] = pixel_grains
    return out


def _levels_with_floor(z: np.ndarray, a: np.ndarray, b: np.ndarray, labels: np.ndarray, min_contrast: float,
                       pixel_grains: np.ndarray | None, visible: float) -> tuple[np.ndarray, Levels]:
    """Split the levels, merge sub-grain pairs under the contrast floor, and split again."""
    while True:  # each pass merges at least one pair, so this ends
        mu, _ = region_means(z, labels)
        i, j, _ = region_pairs(labels, a, b)
        fixed = None if pixel_grains is None else relabel(_region_grain(labels, pixel_grains))
        if not i.size:
            grains = np.zeros(mu.shape[0], np.int64) if fixed is None else fixed
            return labels, Levels(grains, float("nan"), "one region per grain", np.zeros(0), (i, j))
        levels = split_levels(mu, i, j, fixed_grains=fixed, visible=visible)
        high = levels.grains[i] != levels.grains[j]
        if not high.any() or min_contrast <= 0:
            return labels, levels
        floor = min_contrast * float(np.median(levels.contrast[high]))
        weak = ~high & (levels.contrast < floor)
        if not weak.any():
            return labels, levels
        labels = join_labels(labels, i[weak], j[weak], mu.shape[0])

