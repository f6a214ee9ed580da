"""The splits that group regions into phases: by distance (average linkage), by value (Otsu's), applied again while
they pass; the pattern methods' grouping and where the small regions go.

The thresholds were chosen on the tuning seeds of the simulated families and checked on held-out seeds
(``benchmarks/bench_phases.py``, BENCHMARKS.md "Phases from the data").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

#: A band split passes when the parts' mean triangle distance is at least this (they share < 1 − this) ...
BANDS_SPLIT = 0.6
#: ... and at least this many times the mean distance within the parts.
BANDS_RATIO = 1.6
#: A sharpness split passes when the sharper part's mean sharpness is at least this many times the other's
#: (chosen on the tuning maps, seeds 0-5, drawn with bands down to 0.5 Å: two phases blurred apart split at 3.8-5.1,
#: one phase at most 1.70, the science maps' dynamical Ni at most 1.10; 2.5 is about the geometric middle).
SHARPNESS_SPLIT = 2.5

@dataclass
class Grouping:
    """Phase of every region (−1: none) and the splits that made them."""

    labels: np.ndarray
    splits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_phases(self) -> int:
        return int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0


def split_by_distance(d: np.ndarray, members: np.ndarray, min_regions: int) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """The average-linkage split of ``members`` into two; its statistics: the parts' mean distance (``statistic``)
    and that over the mean distance within the parts (``ratio``). None: too few regions on a side."""
    if len(members) < 2 * min_regions:
        return None
    sub = d[np.ix_(members, members)]
    lab = fcluster(linkage(squareform(sub, checks=False), "average"), 2, "maxclust")
    a, b = members[lab == 1], members[lab == 2]
    if min(len(a), len(b)) < min_regions:
        return None
    within = [d[np.ix_(g, g)][np.triu_indices(len(g), 1)].mean() for g in (a, b) if len(g) > 1]
    between = float(d[np.ix_(a, b)].mean())
    ratio = between / max(float(np.mean(within)) if within else 0.0, 1e-6)
    return a, b, {"statistic": round(between, 4), "ratio": round(ratio, 3),
                  "accepted": bool(between >= BANDS_SPLIT and ratio >= BANDS_RATIO)}


def split_by_value(v: np.ndarray, members: np.ndarray, min_regions: int,
                   threshold: float = SHARPNESS_SPLIT) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """The split of ``members`` by value that leaves the least variance within the parts (Otsu's, on the regions);
    its statistic: the ratio of the parts' means (high / low), accepted at ``threshold``."""
    if len(members) < 2 * min_regions:
        return None
    order = members[np.argsort(v[members])]
    x = v[order]
    best, cut = np.inf, None
    for k in range(min_regions, len(x) - min_regions + 1):
        within = x[:k].var() * k + x[k:].var() * (len(x) - k)
        if within < best:
            best, cut = within, k
    if cut is None:
        return None
    low, high = order[:cut], order[cut:]
    ratio = float(v[high].mean() / max(v[low].mean(), 1e-12))
    return high, low, {"statistic": round(ratio, 4), "accepted": bool(ratio >= threshold)}


def recursive_groups(members: np.ndarray, split: Callable, max_groups: int, min_regions: int, rule: str,
                     threshold: dict) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Split ``members`` while a split passes its test (largest group first, up to ``max_groups`` groups)."""
    groups, records, tried = [members], [], set()
    while len(groups) < max_groups:
        pending = [g for g in sorted(groups, key=len, reverse=True) if tuple(g) not in tried]
        if not pending:
            break
        g = pending[0]
        tried.add(tuple(g))
        res = split(g, min_regions)
        if res is None:
            continue
        a, b, stats = res
        records.append({"rule": rule, **stats, "threshold": threshold, "regions": [len(a), len(b)]})
        if stats["accepted"]:
            groups = [x for x in groups if x is not g] + [a, b]
    return groups, records


def features_grouping(z: np.ndarray, big: np.ndarray, max_phases: int, seed: int) -> Grouping:
    """The ``features`` method: a Gaussian mixture (diagonal, lowest BIC over 1…max) of the standardised region means."""
    x = z[big]
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
    x = PCA(n_components=min(3, len(x) - 1, x.shape[1]), random_state=seed).fit_transform(x) if len(x) > 2 else x
    fits = [GaussianMixture(k, covariance_type="diag", random_state=seed, n_init=3).fit(x)
            for k in range(1, min(max_phases, len(x)) + 1)]
    bics = [f.bic(x) for f in fits]
    best = fits[int(np.argmin(bics))]
    labels = np.full(len(z), -1)
    labels[big] = best.predict(x)
    return Grouping(labels, [{"rule": "features: Gaussian mixture, lowest BIC", "bic": [round(b, 2) for b in bics],
                              "accepted": best.n_components > 1}])


def pattern_grouping(dist: np.ndarray, sharp: np.ndarray, big: np.ndarray, max_phases: int, min_regions: int, *,
                     bands: bool, sharpness: bool) -> Grouping:
    """The large regions ``big`` (indices) split by their band triangles (``bands``), then each part by sharpness
    (``sharpness``); the others get −1."""
    def by_bands(members: np.ndarray, k: int):
        return split_by_distance(dist, members, k)

    def by_sharpness(members: np.ndarray, k: int):
        return split_by_value(sharp, members, k)

    records: list[dict[str, Any]] = []
    groups = [big]
    if bands:
        groups, rec = recursive_groups(big, by_bands, max_phases, min_regions,
                                       "bands: mean band-triangle distance between the parts",
                                       {"statistic": BANDS_SPLIT, "ratio": BANDS_RATIO})
        records += rec
    if sharpness:
        out = []
        for g in groups:
            sub, rec = recursive_groups(g, by_sharpness, max_phases - len(groups) + 1, min_regions,
                                        "sharpness: ratio of the parts' mean pattern sharpness",
                                        {"statistic": SHARPNESS_SPLIT})
            out += sub
            records += rec
        groups = out[:max_phases] if len(out) > max_phases else out
    labels = np.full(len(dist), -1)
    # phase 0 is the phase with the most regions, then by first region
    for k, g in enumerate(sorted(groups, key=lambda g: (-len(g), int(g.min())))):
        labels[g] = k
    return Grouping(labels, records)


def assign_small(grouping: Grouping, dist: np.ndarray, sharp: np.ndarray, z: np.ndarray | None = None, *,
                 by_sharpness: bool = False) -> np.ndarray:
    """Every region without a phase joins the phase its features are nearest: the mean feature vector (``z`` given:
    the features method), the mean sharpness (``by_sharpness``, or one phase), else the mean band-triangle distance to
    the phase's regions."""
    labels = grouping.labels.copy()
    have = labels >= 0
    k = grouping.n_phases
    if k == 0 or have.all():
        return labels
    rest = np.flatnonzero(~have)
    if z is not None:
        centres = np.stack([z[labels == p].mean(0) for p in range(k)])
        labels[rest] = np.argmin(((z[rest, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    elif by_sharpness or k == 1:
        centres = np.array([np.nanmean(sharp[labels == p]) for p in range(k)])
        labels[rest] = np.argmin(np.abs(np.nan_to_num(sharp[rest])[:, None] - centres[None]), axis=1)
    else:
        labels[rest] = np.argmin(np.stack([dist[np.ix_(rest, np.flatnonzero(labels == p))].mean(1)
                                           for p in range(k)], axis=1), axis=1)
    return labels
