"""The clustering registry's own checks: renumbering by size, settings checks, the parameters each method records,
HDBSCAN's memory check (tests/analysis/test_clustering.py runs each method on planted clusters)."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.analysis.cluster_methods import (
    CLUSTERERS, KNN_BYTES, METHODS, check_hdbscan_memory, check_settings, cluster_points, renumber,
)
from vaearr.analysis.options import ClusterSettings
from vaearr.errors import InputError, OptionError


def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (60, 2))]


def test_methods_are_the_registry() -> None:
    assert set(METHODS) == {"gmm", "kmeans", "dbscan", "hdbscan"} == set(CLUSTERERS)


def test_renumber_orders_by_decreasing_size_and_keeps_noise() -> None:
    labels = np.array([7, 3, 3, -1, 7, 3, 0])
    assert renumber(labels).tolist() == [1, 0, 0, -1, 1, 0, 2]
    assert renumber(np.array([-1, -1])).tolist() == [-1, -1]


def test_labels_are_numbered_by_size() -> None:
    labels, params = cluster_points(blobs(), "kmeans", k=2)
    assert np.bincount(labels).tolist() == [60, 30]
    assert labels.dtype == np.int64
    assert params == {"method": "kmeans", "standardize": True, "auto": {}, "k": 2, "seed": 0}


def test_gmm_without_k_says_how_k_was_chosen() -> None:
    _, params = cluster_points(blobs(), "gmm", k_range=(2, 3), criterion="aic")
    assert params["k"] == 2 and params["criterion"] == "aic" and set(params["scores"]) == {"2", "3"}
    assert params["auto"] == {"k": "lowest AIC over k=2..3"}


def test_dbscan_chooses_eps_at_the_elbow() -> None:
    labels, params = cluster_points(blobs(), "dbscan", min_samples=5)
    assert params["auto"] == {"eps": "elbow of the sorted 5-distances"}
    assert params["min_samples"] == 5 and params["eps"] > 0
    # two clusters, one per blob; the few points past the elbow are noise
    assert set(labels[:30]) <= {1, -1} and set(labels[30:]) <= {0, -1} and (labels >= 0).mean() > 0.9


def test_one_dimensional_features_are_a_column() -> None:
    labels, _ = cluster_points(np.r_[np.zeros(10), np.ones(5) * 9], "kmeans", k=2, standardize=False)
    assert labels.tolist() == [0] * 10 + [1] * 5


def test_check_settings_errors() -> None:
    with pytest.raises(InputError, match=r"unknown method 'kmean'; choose one of \['gmm'"):
        check_settings("kmean", ClusterSettings())
    with pytest.raises(OptionError, match="k must be at most 3, the number of points to cluster, got 4"):
        check_settings("kmeans", ClusterSettings(k=4), 3)
    with pytest.raises(OptionError, match="k"):
        check_settings("kmeans", ClusterSettings(k=0))
    check_settings("kmeans", ClusterSettings(k=3), 3)


@pytest.mark.parametrize("x", [np.zeros((1, 2)), np.array([[0.0, 1.0], [np.nan, 2.0]])])
def test_too_few_or_nan_points(x: np.ndarray) -> None:
    with pytest.raises(InputError, match="need at least 2 finite points to cluster"):
        cluster_points(x, "kmeans", k=1)


def test_hdbscan_memory_check_at_the_80_percent_line() -> None:
    need = 1000 * 10 * KNN_BYTES
    check_hdbscan_memory(1000, 10, available=int(need / 0.8))
    with pytest.raises(InputError, match="HDBSCAN on 1000 points with min_samples 10 needs about 0.0 GB"):
        check_hdbscan_memory(1000, 10, available=int(need / 0.8) - 10)
