"""The automatic choices of clustering parameters: DBSCAN's eps at the k-distance elbow, k-means' k by silhouette."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from vaearr.analysis.cluster_choices import kdistance_eps, silhouette_k
from vaearr.errors import InputError


def test_eps_is_one_of_the_k_distances_between_cluster_and_outlier_scales() -> None:
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 0.05, (200, 2)), rng.uniform(-5, 5, (20, 2))]
    eps, info = kdistance_eps(x, 4)
    kdist = np.sort(cdist(x, x), axis=1)[:, 3]  # the 4th nearest, the point itself first
    assert np.isclose(kdist, eps).any()
    assert np.quantile(kdist, 0.5) <= eps < kdist.max()
    assert info["rule"] == "elbow of the sorted 4-distances"
    assert 0 < info["k_distance_quantile"] <= 1


def test_k_is_clipped_to_the_points() -> None:
    x = np.array([[0.0], [1.0], [3.0]])
    eps, info = kdistance_eps(x, 10)
    assert info["rule"] == "elbow of the sorted 3-distances"
    assert eps in (2.0, 3.0)


def test_duplicate_points_give_the_smallest_positive_distance_or_a_floor() -> None:
    eps, _ = kdistance_eps(np.zeros((5, 2)), 2)
    assert eps == 1e-6
    x = np.r_[np.zeros((6, 1)), [[0.5]]]
    assert kdistance_eps(x, 2)[0] == 0.5


def test_silhouette_picks_the_planted_k() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    x = centres[np.repeat([0, 1, 2], 40)] + rng.normal(0, 0.3, (120, 2))
    k, labels, scores = silhouette_k(x, (2, 5))
    assert k == 3 and set(scores) == {"2", "3", "4", "5"}
    assert max(scores, key=scores.get) == "3"
    assert labels.shape == (120,) and len(np.unique(labels)) == 3


def test_silhouette_range_with_no_k_is_one_line() -> None:
    with pytest.raises(InputError, match=r"`k_range` 5:8 leaves no k between 2 and 3 \(the points to cluster"):
        silhouette_k(np.arange(8.0).reshape(4, 2), (5, 8))
