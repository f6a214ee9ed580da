"""The splits that group regions into phases (:mod:`vaearr.maps.phases.grouping`) on distances and values small enough
to split by hand: average linkage, Otsu's cut, the splits applied again while they pass, the mixture of features, where
the small regions go."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.maps.phases.grouping import (
    BANDS_SPLIT,
    SHARPNESS_SPLIT,
    Grouping,
    assign_small,
    features_grouping,
    pattern_grouping,
    recursive_groups,
    split_by_distance,
    split_by_value,
)


def _two_clusters() -> np.ndarray:
    """Distances between 6 regions: 0-2 and 3-5 are 0.1 apart within, 0.9 between."""
    d = np.full((6, 6), 0.9)
    d[:3, :3] = d[3:, 3:] = 0.1
    np.fill_diagonal(d, 0.0)
    return d


def test_the_average_linkage_split_and_its_statistics() -> None:
    a, b, stats = split_by_distance(_two_clusters(), np.arange(6), 2)
    assert sorted(map(sorted, (a.tolist(), b.tolist()))) == [[0, 1, 2], [3, 4, 5]]
    assert stats == {"statistic": 0.9, "ratio": 9.0, "accepted": True}
    assert split_by_distance(_two_clusters(), np.arange(6), 4) is None  # too few regions for two sides
    near = np.full((4, 4), 0.3)
    np.fill_diagonal(near, 0.0)
    near[:2, :2] = near[2:, 2:] = 0.25
    np.fill_diagonal(near, 0.0)
    assert split_by_distance(near, np.arange(4), 1)[2]["accepted"] is False  # under BANDS_SPLIT
    assert BANDS_SPLIT > 0.3


def test_otsus_cut_on_values() -> None:
    v = np.array([1.0, 1.2, 0.9, 5.0, 5.5, 1.1])
    high, low, stats = split_by_value(v, np.arange(6), 1)
    assert sorted(high.tolist()) == [3, 4] and sorted(low.tolist()) == [0, 1, 2, 5]
    assert stats["statistic"] == pytest.approx(5.25 / 1.05, abs=1e-4) and stats["accepted"]
    assert split_by_value(v, np.arange(6), 3)[0].tolist() == [1, 3, 4]  # each side at least three regions
    assert not split_by_value(v, np.arange(6), 1, threshold=10.0)[2]["accepted"]
    assert split_by_value(v, np.arange(3), 2) is None


def test_splits_applied_while_they_pass() -> None:
    v = np.array([1.0, 1.1, 10.0, 11.0, 100.0, 110.0])

    def split(members: np.ndarray, k: int):
        return split_by_value(v, members, k, threshold=SHARPNESS_SPLIT)

    groups, records = recursive_groups(np.arange(6), split, 4, 1, "sharpness", {"statistic": SHARPNESS_SPLIT})
    assert sorted(sorted(g.tolist()) for g in groups) == [[0, 1], [2, 3], [4, 5]]
    assert all(r["accepted"] for r in records[:2]) and records[0]["rule"] == "sharpness"
    assert len(recursive_groups(np.arange(6), split, 2, 1, "sharpness", {})[0]) == 2  # at most max_groups


def test_the_pattern_methods_grouping_and_the_small_regions() -> None:
    dist = np.pad(_two_clusters(), (0, 1), constant_values=0.9)  # region 6: small, left out of the splits
    dist[6, 3:6] = dist[3:6, 6] = 0.2
    dist[6, 6] = 0.0
    sharp = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    g = pattern_grouping(dist, sharp, np.arange(6), 4, 2, bands=True, sharpness=True)
    assert g.n_phases == 2 and g.labels[6] == -1 and g.labels[0] != g.labels[3]
    assert (g.labels[:3] == g.labels[0]).all() and (g.labels[3:6] == g.labels[3]).all()
    assert g.labels[0] == 0  # phase 0: the most regions, then the first region
    assert assign_small(g, dist, sharp)[6] == g.labels[3]  # the nearest by band-triangle distance
    # by sharpness: the nearest mean sharpness; by features: the nearest mean feature vector
    two = Grouping(np.array([0, 0, 1, 1, -1]))
    assert assign_small(two, np.zeros((5, 5)), np.array([1.0, 1.2, 5.0, 5.2, 4.0]), by_sharpness=True)[4] == 1
    z = np.array([[0.0], [0.1], [3.0], [3.1], [0.4]])
    assert assign_small(two, np.zeros((5, 5)), np.zeros(5), z)[4] == 0
    assert Grouping(np.full(3, -1)).n_phases == 0
    assert (assign_small(Grouping(np.full(3, -1)), np.zeros((3, 3)), np.zeros(3)) == -1).all()


def test_features_grouping_finds_two_clouds() -> None:
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 0.1, (12, 4)), rng.normal(3, 0.1, (12, 4))])
    g = features_grouping(z, np.arange(24), 4, seed=0)
    assert g.n_phases == 2 and len(set(g.labels[:12])) == 1 and len(set(g.labels[12:])) == 1
    assert g.labels[0] != g.labels[12] and g.splits[0]["accepted"] and len(g.splits[0]["bic"]) == 4
