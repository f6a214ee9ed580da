"""Steps 1–3 of a segmentation (:mod:`vaearr.maps.segmentation.regions`): the pixel grid's pairs, the noise read from the map, and the merging.

Hand-written because scikit-image's region adjacency graphs merge by a fixed threshold on mean
distance and scikit-learn's Ward clustering with a connectivity graph takes a fixed distance or
number of clusters: neither chooses the threshold from the noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import chi2

from vaearr.errors import InputError
from vaearr.progress import bar

#: Neighbour-difference pairs the noise covariance is estimated from (a seeded subsample).
NOISE_PAIRS = 20000
#: Pixels a masked pixel may lie from a measured one for its cell to join its measured neighbours (:func:`gap_pairs`):
#: gaps up to twice this wide are closed.
MAX_GAP = 3.0


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


def gap_owners(valid: np.ndarray, max_gap: float = MAX_GAP) -> np.ndarray:
    """The measured pixel that stands for every pixel of the grid (flat index): itself where ``valid``, else the
    nearest valid pixel when it lies within ``max_gap`` pixels (the pixel's Voronoi cell), else −1."""
    if valid.all() or not valid.any():
        return np.where(valid.ravel(), np.arange(valid.size), -1)
    dist, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
    owner = (iy * valid.shape[1] + ix).ravel()
    owner[dist.ravel() > max_gap] = -1
    return owner


def gap_pairs(valid: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of valid pixels that are neighbours across masked pixels: their cells (:func:`gap_owners`) touch.

    A mask hole or the speckle a band-contrast threshold leaves in a dim grain parts pixels that the
    sample holds together; as in MTEX's ``calcGrains``, whose Voronoi cells of the measured points close
    such gaps, they count as neighbours (pairs already on the grid are not repeated)."""
    ny, nx = valid.shape
    o, v = owner.reshape(ny, nx), valid
    lo_, hi_ = [], []
    for sa, sb in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                   ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        oa, ob = o[sa], o[sb]
        keep = ~(v[sa] & v[sb]) & (oa >= 0) & (ob >= 0) & (oa != ob)
        lo_.append(np.minimum(oa[keep], ob[keep]))
        hi_.append(np.maximum(oa[keep], ob[keep]))
    lo, hi = np.concatenate(lo_).astype(np.int64), np.concatenate(hi_).astype(np.int64)
    key = np.unique(lo * valid.size + hi)
    lo, hi = key // valid.size, key % valid.size
    d = hi - lo
    on_grid = (d == nx) | ((d == 1) & (hi % nx != 0))
    return lo[~on_grid], hi[~on_grid]


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


def group_sums(ids: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``out[g] = values[ids == g].sum(0)`` for ``g < n`` (``values (m, k)``, ``ids (m,)`` in ``0..n-1``), in float64.

    A sparse (groups × rows) product: the sums of :func:`numpy.add.at`, in the same order (so to the last bit),
    ~8× faster on a block of patterns (``add.at`` takes one row at a time).
    """
    ids = np.asarray(ids, np.int64).ravel()
    values = np.asarray(values, np.float64)
    values = values.reshape(ids.size, int(np.prod(values.shape[1:])))
    if not ids.size:
        return np.zeros((n, values.shape[1]))
    by_group = sparse.csr_matrix((np.ones(ids.size), (ids, np.arange(ids.size))), shape=(n, ids.size))
    return np.asarray(by_group @ values)


def region_means(z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean feature vector and pixel count of every region."""
    r = int(labels.max()) + 1
    sums = group_sums(labels, z, r)
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


def join_labels(labels: np.ndarray, i: np.ndarray, j: np.ndarray, n_regions: int) -> np.ndarray:
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
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - the rounds run are returned after the loop
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
        labels = join_labels(labels, i[m], j[m], size.size)
    shown.close()
    return labels, rounds


def absorb_small(z: np.ndarray, a: np.ndarray, b: np.ndarray, labels: np.ndarray, min_size: int,
                 hops: int = 2, *, islands: bool = False) -> np.ndarray:
    """Regions with fewer than ``min_size`` core pixels (pixels whose 4 neighbours are all in the region;
    the map's and the mask's edges do not count against it) join the region whose mean is nearest among
    those up to ``hops`` steps away on the region graph, round by round. Thin strips go too: the mixed
    patterns along a grain boundary, which at a high signal-to-noise differ significantly from both sides,
    are not a sub-grain. Looking two steps away lets a small patch of one sub-grain, enclosed by the other,
    join its own sub-grain's nearest patch rather than the region around it. ``islands``: a small region with
    no neighbour at all (an island of the mask) joins the nearest region that is not small, wherever it lies —
    only where the pairs are all the map's pairs (inside given grains a region without pairs is a grain's own)."""
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
        r = size.size
        adj = sparse.coo_matrix((np.ones(2 * i.size), (np.r_[i, j], np.r_[j, i])), shape=(r, r)).tocsr()
        reach = adj.copy()
        for _ in range(hops - 1):
            reach = reach + reach @ adj
        reach = reach.tocoo()
        src, dst = reach.row, reach.col
        keep = small[src] & (src != dst)
        src, dst = src[keep], dst[keep]
        # a small island of the mask (no neighbour at all) is no region either: it joins the nearest region that
        # is not small, wherever it lies (never another island, so scattered islands cannot chain into one)
        island = small & (np.bincount(np.r_[i, j], minlength=r) == 0) & islands
        if island.any() and (~small).any():
            src = np.r_[src, np.repeat(np.flatnonzero(island), int((~small).sum()))]
            dst = np.r_[dst, np.tile(np.flatnonzero(~small), int(island.sum()))]
        if not src.size:
            break  # only small regions without a neighbour, and no region that is not small: they stay
        dist = pair_distances(mu, src, dst)
        first = np.lexsort((dist, src))
        head = np.r_[True, src[first][1:] != src[first][:-1]]
        labels = join_labels(labels, src[first][head], dst[first][head], size.size)
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
                    correlation: float | None = None,
                    within: np.ndarray | None = None) -> tuple[np.ndarray, float, dict[str, Any]]:
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
    read as correlation). ``within`` (a (ny, nx) label map): only pairs of pixels with one label
    count, so steps between regions found in a first pass are not taken for noise (on a map of
    small patches a third of the pairs three apart straddle a boundary).
    """
    flat = np.flatnonzero(valid.ravel())
    d = z.shape[1]

    def diffs(dy: int, dx: int) -> np.ndarray:
        a, b = grid_pairs(valid, dy, dx)
        if within is not None:
            same = within.ravel()[a] == within.ravel()[b]
            a, b = a[same], b[same]
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
            "noise_estimator": f"robust covariance (χ² 97.5 % reweighting) of differences {lag} pixel(s) apart"
                               + (", inside the regions of a first pass" if within is not None else "") + ", halved",
            "noise_correlation_factor": round(kappa, 3),
            "noise_correlation": "given" if correlation is not None else "estimated"}
    return whiten, kappa, info
