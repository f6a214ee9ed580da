"""Clustering methods by name (:data:`CLUSTERERS`), and :func:`cluster_points`, which runs one on rows of features.

A clusterer is a function ``(x, settings, params) -> labels``: ``x`` the standardised ``(n, d)``
features, ``settings`` the :class:`ClusterSettings` given, ``params`` the dict of parameters
used that it fills (``params["auto"]`` names the choices it made and how). Labels are any ints,
−1 noise; :func:`cluster_points` renumbers the clusters by size. A new method is one function
here registered with ``@CLUSTERERS.register("name")``: ``vaearr cluster --method name``, the
``cluster-latents`` flow and the checks take their choices from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import psutil
from sklearn.cluster import DBSCAN, KMeans

from vaearr.analysis.cluster_choices import kdistance_eps, silhouette_k
from vaearr.analysis.options import ClusterSettings
from vaearr.errors import InputError, OptionError, require
from vaearr.options import check_declared
from vaearr.maps.decomposition.references import gmm_partition
from vaearr.registry import Registry


Clusterer = Callable[[np.ndarray, ClusterSettings, dict], np.ndarray]

#: Clustering methods by name.
CLUSTERERS: Registry[Clusterer] = Registry("clustering method")


@CLUSTERERS.register("gmm")
def gmm(x: np.ndarray, s: ClusterSettings, params: dict) -> np.ndarray:
    """Gaussian mixture: ``k`` components, or k in ``k_range`` with the lowest BIC/AIC."""
    part = gmm_partition(x, (s.k, s.k) if s.k else s.k_range, criterion=s.criterion, seed=s.seed, standardize=False)
    params.update(k=part.k, k_range=None if s.k else list(s.k_range), criterion=s.criterion,
                  scores={str(kk): v for kk, v in part.scores.items()}, seed=s.seed)
    if not s.k:
        params["auto"]["k"] = f"lowest {s.criterion.upper()} over k={s.k_range[0]}..{s.k_range[1]}"
    return part.labels


@CLUSTERERS.register("kmeans")
def kmeans(x: np.ndarray, s: ClusterSettings, params: dict) -> np.ndarray:
    """k-means: ``k`` clusters, or k in ``k_range`` with the highest silhouette."""
    if s.k:
        params.update(k=int(s.k), seed=s.seed)
        return KMeans(int(s.k), n_init=4, random_state=s.seed).fit_predict(x)
    kk, labels, scores = silhouette_k(x, s.k_range, seed=s.seed)
    params.update(k=kk, k_range=list(s.k_range), criterion="silhouette", scores=scores, seed=s.seed)
    params["auto"]["k"] = f"highest silhouette over k={s.k_range[0]}..{s.k_range[1]}"
    return labels


@CLUSTERERS.register("dbscan")
def dbscan(x: np.ndarray, s: ClusterSettings, params: dict) -> np.ndarray:
    """DBSCAN: ``eps`` given, or at the elbow of the sorted k-distances; core size ``min_samples`` (10)."""
    ms = 10 if s.min_samples is None else int(s.min_samples)
    eps = s.eps
    if eps is None:
        eps, info = kdistance_eps(x, ms)
        params["auto"]["eps"] = info["rule"]
        params["eps_k_distance_quantile"] = info["k_distance_quantile"]
    labels = DBSCAN(eps=eps, min_samples=ms).fit_predict(x)
    params.update(eps=float(eps), min_samples=ms)
    return labels


@CLUSTERERS.register("hdbscan")
def hdbscan(x: np.ndarray, s: ClusterSettings, params: dict) -> np.ndarray:
    """HDBSCAN (:func:`hdbscan_labels`): ``min_cluster_size``, ``min_samples``, ``cluster_selection_epsilon``."""
    labels = hdbscan_labels(x, s.min_cluster_size, s.min_samples, cluster_selection_epsilon=s.cluster_selection_epsilon)
    params.update(min_cluster_size=s.min_cluster_size, min_samples=s.min_samples,
                  cluster_selection_epsilon=s.cluster_selection_epsilon, backend="fast_hdbscan")
    return labels


def check_settings(method: str, s: ClusterSettings, n: int | None = None) -> None:
    """One :class:`InputError` line for an unknown method, a setting out of the range its field declares
    (:func:`~vaearr.options.check_declared`, the one check of them) or, with ``n`` (points to cluster, when
    known), a ``k`` above ``n``."""
    if method not in CLUSTERERS:
        raise InputError(None, f"unknown method {method!r}; choose one of {list(CLUSTERERS)}")
    check_declared(s)
    if n is not None and s.k is not None and int(s.k) > n:
        raise OptionError(type(s), [("k", f"must be at most {n}, the number of points to cluster, got {s.k}")])


def cluster_points(features: np.ndarray, method: str = "gmm", *, standardize: bool = True,
                   **settings: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Cluster the rows of ``features``; noise (DBSCAN/HDBSCAN) is −1.

    Parameters
    ----------
    features
        ``(n, d)`` finite values.
    method
        A name in :data:`CLUSTERERS`: ``gmm``, ``kmeans``, ``dbscan`` or ``hdbscan``.
    standardize
        Zero mean, unit variance per feature first.
    **settings
        Fields of :class:`ClusterSettings`:

    k, k_range, criterion
        Clusters for ``gmm``/``kmeans`` (at most n). Without ``k``, ``gmm`` chooses k in
        ``k_range`` by ``criterion`` (``bic``/``aic``) and ``kmeans`` by the highest silhouette.
    eps, min_samples
        DBSCAN's neighbourhood radius (in standard deviations when standardised; None: the
        elbow of the k-distances, see :func:`kdistance_eps`) and core size (None: 10);
        ``min_samples`` is also HDBSCAN's (None: ``min_cluster_size``).
    min_cluster_size, cluster_selection_epsilon
        HDBSCAN's smallest cluster, and the distance below which its clusters are merged.
    seed
        Seeds the mixtures and k-means.

    Returns
    -------
    labels : numpy.ndarray
        ``(n,)`` int64, clusters numbered 0.. by decreasing size, −1 noise.
    params : dict
        The parameters used; ``auto`` says which were chosen here and how (``scores`` holds
        the criterion or silhouette of every k tried).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, .1, (50, 2)), rng.normal(3, .1, (50, 2))]
    >>> labels, p = cluster_points(x, "kmeans", k=2)
    >>> sorted(np.bincount(labels).tolist())
    [50, 50]
    >>> cluster_points(x, "kmeans")[1]["k"]
    2
    """
    x = np.asarray(features, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    settings = ClusterSettings(**settings)
    check_settings(method, settings)
    if x.shape[0] < 2 or not np.isfinite(x).all():
        raise InputError(None, f"need at least 2 finite points to cluster, got {x.shape[0]} (or NaN values)")
    check_settings(method, settings, x.shape[0])
    if standardize:
        sd = x.std(0)
        x = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    params: dict[str, Any] = {"method": method, "standardize": standardize, "auto": {}}
    labels = CLUSTERERS[method](x, settings, params)
    return renumber(np.asarray(labels, dtype=np.int64)), params


def renumber(labels: np.ndarray) -> np.ndarray:
    """Clusters 0.. by decreasing size (so colours are stable across runs), noise stays −1.

    Examples
    --------
    >>> renumber(np.array([5, 5, -1, 2, 5, 2, 9])).tolist()
    [0, 0, -1, 1, 0, 1, 2]
    """
    out = np.full_like(labels, -1)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    for new, old in enumerate(ids[np.argsort(-counts, kind="stable")]):
        out[labels == old] = new
    return out


# --------------------------------------------------------------------------------------------
# HDBSCAN's implementations


#: Bytes per (point, neighbour) of HDBSCAN's nearest-neighbour table, measured: 919 376 points with
#: min_samples 2 000 took 14.8 GB (BENCHMARKS.md "Scale").
KNN_BYTES = 8


def check_hdbscan_memory(n: int, min_samples: int, available: int | None = None) -> None:
    """One clear line, before any work, when HDBSCAN's neighbour table (``n`` × ``min_samples``
    entries) would take more than 80 % of the memory free now (``available`` bytes; default
    what the machine reports).

    Examples
    --------
    >>> check_hdbscan_memory(1_000_000, 20, available=16 * 2**30)
    >>> check_hdbscan_memory(1_000_000, 2000, available=16 * 2**30)
    Traceback (most recent call last):
    ...
    vaearr.errors.InputError: HDBSCAN on 1000000 points with min_samples 2000 needs about 16.0 GB for its neighbour table, more than the 17.2 GB free can hold; pass a smaller `min_samples` (memory grows as points × min-samples; 20 takes 0.2 GB here)
    """
    need = n * min_samples * KNN_BYTES
    free = psutil.virtual_memory().available if available is None else available
    if need > 0.8 * free:
        raise InputError(None, f"HDBSCAN on {n} points with min_samples {min_samples} needs about {need / 1e9:.1f} GB "
                               f"for its neighbour table, more than the {free / 1e9:.1f} GB free can hold; pass a "
                               "smaller `min_samples` (memory grows as points × min-samples; 20 takes "
                               f"{n * 20 * KNN_BYTES / 1e9:.1f} GB here)")


def hdbscan_labels(x: np.ndarray, min_cluster_size: int, min_samples: int | None, *,
                   cluster_selection_epsilon: float = 0.0) -> np.ndarray:
    """HDBSCAN labels (−1 noise) of the rows of ``x``: fast_hdbscan (the ``analysis`` extra), the one
    implementation vaearr runs.

    Borůvka's minimum spanning tree on a KD-tree, in parallel and compiled with numba (its first use after an
    install compiles for about a minute, then the cache is reused), the mutual-reachability tree and clusters
    chosen by excess of mass as the ``hdbscan`` package and scikit-learn choose them; ``min_samples`` None means
    ``min_cluster_size``. Why this one: it clusters 1,000,000 points in 27 s where the ``hdbscan`` package took
    121 s (BENCHMARKS.md "Scale"), and scikit-learn's (1.9) fails with ``cluster_selection_epsilon`` on NumPy 2
    (scikit-learn issue 33219).
    """
    fast_hdbscan = require("fast_hdbscan", "analysis")
    check_hdbscan_memory(x.shape[0], int(min_cluster_size if min_samples is None else min_samples))
    return fast_hdbscan.HDBSCAN(min_cluster_size=int(min_cluster_size),
                                min_samples=None if min_samples is None else int(min_samples),
                                cluster_selection_epsilon=float(cluster_selection_epsilon)).fit_predict(x)


#: The clustering methods' names (for choices and help).
METHODS = CLUSTERERS.names()
