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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import chi2

from vaearr.errors import InputError
from vaearr.maps.options import BOUNDARY_COST, MIN_CONTRAST
from vaearr.progress import bar

#: Smallest ratio between neighbouring sorted contrasts that counts as the low-angle/grain gap.
GAP = 4.0
#: Neighbour-difference pairs the noise covariance is estimated from (a seeded subsample).
NOISE_PAIRS = 20000
#: Pixels of patterns read at a time by the pattern-space floor (4096 patterns of 60 × 60 in float64: 118 MB).
BLOCK_PIXELS = 4096
#: Boundary codes of ``{name}_boundaries``.
BOUNDARY_CODES = {"none": 0, "low_angle": 1, "grain": 2}


# --------------------------------------------------------------------------------------------
# the grid and its regions


def grid_pairs(valid: np.ndarray, dy: int = 0, dx: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of pixel pairs ``(p, p + (dy, dx))`` whose two pixels are valid.

    The default (no offset) gives the 4-neighbour pairs: right, then down.
    """
    ny, nx = valid.shape
    if dy == 0 and dx == 0:
        ra, rb = grid_pairs(valid, 0, 1)
        da_, db = grid_pairs(valid, 1, 0)
        return np.concatenate([ra, da_]), np.concatenate([rb, db])
    idx = np.arange(ny * nx).reshape(ny, nx)
    ys_a, ys_b = slice(max(-dy, 0), ny - max(dy, 0)), slice(max(dy, 0), ny - max(-dy, 0))
    xs_a, xs_b = slice(max(-dx, 0), nx - max(dx, 0)), slice(max(dx, 0), nx - max(-dx, 0))
    a, b = idx[ys_a, xs_a].ravel(), idx[ys_b, xs_b].ravel()
    flat = valid.ravel()
    ok = flat[a] & flat[b]
    return a[ok], b[ok]


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..R−1 in order of their values."""
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


def region_pairs(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent region pairs ``i < j`` and the length of their shared boundary (pixel edges)."""
    la, lb = labels[a], labels[b]
    cross = la != lb
    lo, hi = np.minimum(la[cross], lb[cross]), np.maximum(la[cross], lb[cross])
    r = int(labels.max()) + 1 if labels.size else 0
    key, length = np.unique(lo.astype(np.int64) * r + hi, return_counts=True)
    return key // r, key % r, length


def region_means(z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean feature vector and pixel count of every region."""
    r = int(labels.max()) + 1
    sums = np.zeros((r, z.shape[1]))
    np.add.at(sums, labels, z)
    n = np.bincount(labels, minlength=r).astype(np.float64)
    return sums / n[:, None], n


def pair_distances(mu: np.ndarray, i: np.ndarray, j: np.ndarray, block: int = 1 << 18) -> np.ndarray:
    """Squared distances ``|mu[i] − mu[j]|²``, a block of pairs at a time (a million-pixel map has
    two million pixel pairs: their differences at once would take ~800 MB)."""
    out = np.empty(i.size)
    for s in range(0, i.size, block):
        d = mu[i[s:s + block]] - mu[j[s:s + block]]
        out[s:s + block] = np.einsum("kd,kd->k", d, d)
    return out


def _best_pair(ends: np.ndarray, pair: np.ndarray, rank: np.ndarray, n_regions: int) -> np.ndarray:
    """For every region, its cheapest pair (by ``rank``); −1 for a region without pairs."""
    by_end = np.lexsort((rank, ends))
    ends, pair = ends[by_end], pair[by_end]
    first = np.r_[True, ends[1:] != ends[:-1]]
    best = np.full(n_regions, -1)
    best[ends[first]] = pair[first]
    return best


def paying_merges(i: np.ndarray, j: np.ndarray, cost: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The merges of one round: every region whose cheapest merge pays joins that neighbour when the
    neighbour is larger (ties: the higher id) and is not itself joining another this round.

    Pairs that are each other's cheapest merge (reciprocal nearest neighbours, the classic exact
    step for Ward's criterion) are among them; letting a region take several smaller neighbours in
    one round keeps the rounds few on big maps (a grain would otherwise take one pixel a round).
    """
    n_regions = size.size
    order = np.lexsort((np.arange(cost.size), cost))
    ends = np.concatenate([i[order], j[order]])
    pair = np.concatenate([order, order])
    rank = np.concatenate([np.arange(order.size), np.arange(order.size)])
    best = _best_pair(ends, pair, rank, n_regions)
    r = np.flatnonzero(best >= 0)
    e = best[r]
    other = np.where(i[e] == r, j[e], i[e])
    wants = (cost[e] < 0) & ((size[other] > size[r]) | ((size[other] == size[r]) & (other > r)))
    child, target, e = r[wants], other[wants], e[wants]
    receiving = np.zeros(n_regions, bool)
    receiving[target] = True
    keep = ~receiving[child]
    return e[keep]


def _join(labels: np.ndarray, i: np.ndarray, j: np.ndarray, n_regions: int) -> np.ndarray:
    graph = sparse.coo_matrix((np.ones(i.size, np.int8), (i, j)), shape=(n_regions, n_regions))
    _, comp = connected_components(graph, directed=False)
    return relabel(comp[labels])


def merge_regions(z: np.ndarray, a: np.ndarray, b: np.ndarray, *, boundary_cost: float,
                  labels: np.ndarray | None = None, max_rounds: int = 100000) -> tuple[np.ndarray, int]:
    """Minimum-description-length merging of whitened features ``z (n, d)`` over pairs ``a``–``b``.

    Returns the labels and the number of rounds run (see the module docstring, step 2).
    """
    n, d = z.shape
    labels = np.arange(n) if labels is None else relabel(labels)
    region_price = d / 2 * math.log(max(n, 2))
    rounds = 0
    shown = bar(total=None, desc="segment: merge rounds", unit="round")
    for rounds in range(1, max_rounds + 1):
        shown.update(1)
        mu, size = region_means(z, labels)
        i, j, length = region_pairs(labels, a, b)
        if not i.size:
            break
        cost = (size[i] * size[j] / (size[i] + size[j]) * pair_distances(mu, i, j) / 2
                - region_price - boundary_cost * length)
        m = paying_merges(i, j, cost, size)
        if not m.size:
            break
        labels = _join(labels, i[m], j[m], size.size)
    shown.close()
    return labels, rounds


def absorb_small(z: np.ndarray, a: np.ndarray, b: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Regions with fewer than ``min_size`` core pixels (pixels whose 4 neighbours are all in the region;
    the map's and the mask's edges do not count against it) join the adjacent region whose mean is nearest,
    round by round. Thin strips go too: the mixed patterns along a grain boundary, which at a high
    signal-to-noise differ significantly from both sides, are not a sub-grain."""
    for _ in range(100000):
        mu, size = region_means(z, labels)
        edge = np.zeros(labels.size, bool)
        cross = labels[a] != labels[b]
        edge[a[cross]] = True
        edge[b[cross]] = True
        core = np.bincount(labels[~edge], minlength=size.size)
        small = core < min_size
        if not small.any() or size.size == 1:
            break
        i, j, _ = region_pairs(labels, a, b)
        src, dst = np.concatenate([i, j]), np.concatenate([j, i])
        keep = small[src]
        if not keep.any():
            break  # the small regions have no neighbour (islands of the mask): they stay
        src, dst = src[keep], dst[keep]
        dist = pair_distances(mu, src, dst)
        first = np.lexsort((dist, src))
        head = np.r_[True, src[first][1:] != src[first][:-1]]
        labels = _join(labels, src[first][head], dst[first][head], size.size)
    return labels


# --------------------------------------------------------------------------------------------
# noise, levels, boundaries


def robust_covariance(diff: np.ndarray, *, quantile: float = 0.975, steps: int = 5) -> np.ndarray:
    """Covariance of the bulk of zero-mean vectors ``diff`` (n, d), outliers left out.

    Start from a diagonal of each coordinate's median absolute value (a robust scale, so that a
    tenth of the vectors far out along one direction — pairs across a boundary — cannot hide in
    the start, as they would in the plain covariance); then, ``steps`` times, keep the vectors
    whose Mahalanobis distance² is under the χ²_d ``quantile`` and take their covariance, scaled
    up by the truncated normal's consistency factor P(χ²_{d+2} < q) / P(χ²_d < q) so that a clean
    Gaussian sample gives back its covariance. (scikit-learn's MinCovDet does the same job 10–100×
    slower at 24–32 dims.)
    """
    d = diff.shape[1]
    q = chi2.ppf(quantile, d)
    scale = chi2.cdf(q, d + 2) / chi2.cdf(q, d)
    mad = np.median(np.abs(diff), axis=0) * 1.4826
    cov = np.diag(np.maximum(mad, 1e-12 * max(float(mad.max()), 1e-30)) ** 2)
    for _ in range(steps):
        inv = np.linalg.pinv(cov)
        m2 = np.einsum("kd,de,ke->k", diff, inv, diff)
        keep = diff[m2 < q]
        if keep.shape[0] <= d:
            break
        cov = keep.T @ keep / keep.shape[0] / scale
    return cov


def _sample_pairs(a: np.ndarray, b: np.ndarray, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if a.size > pairs:
        keep = np.random.default_rng(seed).choice(a.size, pairs, replace=False)
        return a[keep], b[keep]
    return a, b


def noise_whitening(z: np.ndarray, valid: np.ndarray, *, seed: int = 0, pairs: int = NOISE_PAIRS,
                    correlation: float | None = None) -> tuple[np.ndarray, float, dict[str, Any]]:
    """The matrix that whitens ``z`` by its per-pixel noise, and the noise's spatial correlation factor.

    ``z`` holds the features of the ``valid`` pixels (raster order). The noise covariance is the
    robust covariance of differences between pixels three apart (halved): beyond the reach of a
    3 × 3 smoothing, so a feature map made from neighbour-averaged patterns is not taken for a
    quieter one. The correlation factor κ = Σ_h ρ(h) over the lags |h| ≤ 2 (ρ from the
    whitened differences at each lag; 1 for independent noise, about 8 after a 3 × 3 similarity
    average) is how many pixels count as one independent measurement: the merge costs are
    divided by it. Structure that the robust covariance keeps (steps of a few noise σ, which more
    pairs straddle at lag 3 than at lag 1) reads as some correlation too: 1.0–1.1 on the science
    maps' PCA weights and latents, 1.5 on a small map cut by a 3 σ step. ``correlation`` gives κ instead of estimating it (1 for orientations indexed
    pixel by pixel, whose within-grain structure — sub-grain steps larger than the noise — would
    read as correlation).
    """
    flat = np.flatnonzero(valid.ravel())
    d = z.shape[1]

    def diffs(dy: int, dx: int) -> np.ndarray:
        a, b = grid_pairs(valid, dy, dx)
        a, b = _sample_pairs(a, b, pairs // 2, seed)
        return z[np.searchsorted(flat, a)] - z[np.searchsorted(flat, b)]

    far = np.concatenate([diffs(0, 3), diffs(3, 0)])
    lag = 3
    if far.shape[0] < 4 * d + 4:  # a map too small for lag 3: neighbours
        far, lag = np.concatenate([diffs(0, 1), diffs(1, 0)]), 1
    if far.shape[0] < 2 * d + 2:
        raise InputError(None, f"too few neighbouring pixels ({far.shape[0]} pairs) to estimate the noise of "
                               f"{d} feature dims")
    cov = robust_covariance(far) / 2
    w, v = np.linalg.eigh(cov)
    whiten = v / np.sqrt(np.maximum(w, 1e-9 * max(float(w.max()), 1e-30)))
    if correlation is not None:
        kappa = float(correlation)
    elif lag == 3:
        rho = [1 - float(np.trace(robust_covariance(diffs(dy, dx) @ whiten))) / (2 * d)
               for dy in range(0, 3) for dx in range(-2, 3) if (dy, dx) > (0, 0)]
        kappa = max(1.0, 1 + 2 * sum(rho))
    else:
        kappa = 1.0
    info = {"noise_pairs": int(far.shape[0]), "noise_lag": lag,
            "noise_std_per_dim": np.sqrt(np.clip(np.diag(cov), 0, None)).tolist(),
            "noise_estimator": f"robust covariance (χ² 97.5 % reweighting) of differences {lag} pixel(s) apart, "
                               "halved",
            "noise_correlation_factor": round(kappa, 3),
            "noise_correlation": "given" if correlation is not None else "estimated"}
    return whiten, kappa, info


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


# --------------------------------------------------------------------------------------------
# one map


@dataclass
class Segmentation:
    """Regions, grains and boundaries of one feature map, and how they were chosen."""

    regions: np.ndarray  # (ny, nx) int, −1 outside
    grains: np.ndarray  # (ny, nx) int, −1 outside
    boundaries: np.ndarray  # (ny, nx) int8 codes
    info: dict[str, Any] = field(default_factory=dict)

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
) -> Segmentation:
    """Segment a feature map ``(ny, nx, d)`` over the ``valid`` pixels (module docstring, steps 1–4).

    With ``grains`` (a (ny, nx) id map, −1 outside) regions never cross a grain boundary and the
    grains are taken as given. ``correlation``: the noise's spatial correlation factor κ when it
    is known (None: estimated, see :func:`noise_whitening`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(20, 30, 3)); f[:, 15:, 0] += 3.0   # two halves, 3 noise σ apart
    >>> seg = segment_features(f, np.ones((20, 30), bool))
    >>> left = seg.regions[0, 0]
    >>> seg.n_regions, int((seg.regions[:, :15] != left).sum() + (seg.regions[:, 15:] == left).sum()) <= 3
    (2, True)
    """
    ny, nx, d = features.shape
    valid = np.asarray(valid, bool) & np.isfinite(features).all(-1)
    if grains is not None:
        valid &= grains >= 0
    if valid.sum() < 2:
        raise InputError(None, f"the mask leaves {int(valid.sum())} pixel(s) with features: nothing to segment")
    a, b = grid_pairs(valid)
    if grains is not None:  # never across a grain boundary
        same = grains.ravel()[a] == grains.ravel()[b]
        a, b = a[same], b[same]
    flat = np.flatnonzero(valid.ravel())
    ai, bi = np.searchsorted(flat, a), np.searchsorted(flat, b)
    z = features.reshape(-1, d)[flat].astype(np.float64)
    whiten, kappa, info = noise_whitening(z, valid, seed=seed, correlation=correlation)
    z = (z - z.mean(0)) @ whiten / math.sqrt(kappa)  # merge costs in independent measurements
    min_size = int(min_size or d)
    labels, rounds = merge_regions(z, ai, bi, boundary_cost=boundary_cost)
    merged = int(labels.max()) + 1
    labels = absorb_small(z, ai, bi, labels, min_size)
    pixel_grains = None if grains is None else grains.ravel()[flat]
    labels, levels = _levels_with_floor(z, ai, bi, labels, min_contrast, pixel_grains, 2.0 * d / kappa)
    regions = np.full(ny * nx, -1)
    regions[flat] = labels
    grain_map = np.full(ny * nx, -1)
    grain_map[flat] = levels.grains[labels]
    regions, grain_map = regions.reshape(ny, nx), grain_map.reshape(ny, nx)
    info.update({"feature_dims": d, "pixels": int(flat.size), "boundary_cost": float(boundary_cost),
                 "min_size": min_size, "min_contrast": float(min_contrast), "merge_rounds": rounds,
                 "regions_before_small": merged, "levels_rule": levels.rule,
                 "grain_contrast_threshold": levels.threshold})
    return Segmentation(regions, grain_map, boundary_codes(regions, grain_map), info)


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
        labels = _join(labels, i[weak], j[weak], mu.shape[0])


# --------------------------------------------------------------------------------------------
# a floor in pattern space


def _region_moments(features: Any, ids: np.ndarray, prepare: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per id ≥ 0: sum of the (prepared) features, sum of their squared norms, count — one pass in row blocks."""
    n = int(ids.max()) + 1
    sums, sq, count = None, np.zeros(n), np.zeros(n)
    step = max(1, BLOCK_PIXELS // max(ids.shape[1], 1))  # rows a block: its patterns, not the map's width, bound memory
    for r0 in range(0, ids.shape[0], step):
        rows = slice(r0, min(r0 + step, ids.shape[0]))
        sel = ids[rows] >= 0
        if not sel.any():
            continue
        block = np.asarray(features[rows])
        f = prepare(block) if prepare is not None else block.reshape(*sel.shape, -1)
        f = np.asarray(f, np.float64)[sel]
        k = ids[rows][sel]
        if sums is None:
            sums = np.zeros((n, f.shape[1]))
        np.add.at(sums, k, f)
        np.add.at(sq, k, np.einsum("ij,ij->i", f, f))
        count += np.bincount(k, minlength=n)
    return sums, sq, count


def _unbiased_contrast(sums, sq, count, i, j) -> np.ndarray:
    """|μ_i − μ_j|² less the noise of the two means (each region's scatter over its pixel count)."""
    mu = sums / np.maximum(count, 1)[:, None]
    var = sq / np.maximum(count, 1) - np.einsum("ij,ij->i", mu, mu)
    d = mu[i] - mu[j]
    return np.einsum("ij,ij->i", d, d) - var[i] / np.maximum(count[i], 1) - var[j] / np.maximum(count[j], 1)


def merge_by_pattern_contrast(features: Any, regions: np.ndarray, grains: np.ndarray, prepare: Any,
                              min_contrast: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Merge the regions of a grain whose mean patterns differ by less than ``min_contrast`` × the neighbouring
    grains' (squared differences of the means, less their noise).

    ``features`` is the ``(y, x, ...)`` pattern map (numpy or dask, read in row blocks through ``prepare``),
    ``regions`` and ``grains`` the (y, x) ids (−1 outside). Significant is not enough at a high
    signal-to-noise (the mixing zone beside a grain boundary, a brightness drift): a floor on the pattern
    difference, relative to the map's own grain boundaries, is what an angle threshold is to MTEX.
    """
    sums, sq, count = _region_moments(features, grains, prepare)
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
    scale = float(np.median(_unbiased_contrast(sums, sq, count, gi, gj)))
    rsums, rsq, rcount = _region_moments(features, regions, prepare)
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
    c = _unbiased_contrast(rsums, rsq, rcount, key[:, 0], key[:, 1])
    weak = c < min_contrast * scale
    n = int(regions.max()) + 1
    graph = sparse.coo_matrix((np.ones(int(weak.sum())), (key[weak, 0], key[weak, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    merged = np.where(regions >= 0, comp[np.clip(regions, 0, None)], -1)
    return merged, {"lagb_contrast_floor": float(min_contrast * scale), "lagb_grain_contrast": scale,
                    "lagb_pairs_merged_by_floor": int(weak.sum())}
