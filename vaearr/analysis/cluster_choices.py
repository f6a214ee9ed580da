"""Automatic choices of clustering parameters: DBSCAN's eps at the k-distance elbow, k-means' k by silhouette."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from vaearr.errors import InputError
from vaearr.progress import bar


def kdistance_eps(x: np.ndarray, k: int) -> tuple[float, dict[str, Any]]:
    """DBSCAN's ``eps`` at the elbow of the sorted distances to each point's k-th neighbour.

    The sorted k-distances rise slowly inside clusters and steeply among outliers; the elbow is
    the point farthest below the chord from the first to the last (axes scaled to [0, 1]), the
    "knee" of Satopää et al. (2011) written out here (kneed is not a dependency). ``k`` counts the
    point itself, as DBSCAN's ``min_samples`` does.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 0.1, (300, 2)), rng.uniform(-3, 3, (30, 2))]
    >>> eps, info = kdistance_eps(x, 5)
    >>> 0.02 < eps < 1.0, info["rule"]
    (True, 'elbow of the sorted 5-distances')
    """
    n = x.shape[0]
    kk = max(1, min(int(k), n))
    d = np.sort(NearestNeighbors(n_neighbors=kk).fit(x).kneighbors(x)[0][:, -1])
    if d[-1] > d[0]:
        t = np.linspace(0.0, 1.0, n)
        i = int(np.argmax(t - (d - d[0]) / (d[-1] - d[0])))
    else:
        i = n - 1
    eps = float(d[i])
    if eps <= 0:  # duplicates: the smallest distance that separates anything
        eps = float(d[d > 0].min()) if (d > 0).any() else 1e-6
    return eps, {"rule": f"elbow of the sorted {kk}-distances", "k_distance_quantile": round((i + 1) / n, 4)}


def silhouette_k(x: np.ndarray, k_range: tuple[int, int], *, seed: int = 0,
                 sample: int = 5000) -> tuple[int, np.ndarray, dict[str, float]]:
    """k-means for each k in ``k_range`` (from 2, at most n − 1); keep the highest silhouette.

    The silhouette is computed on a seeded sample of at most ``sample`` points (it is O(n²)).
    Returns the chosen k, its labels and the score of every k tried.
    """
    n = x.shape[0]
    ks = list(range(max(2, int(k_range[0])), min(int(k_range[1]), n - 1) + 1))
    if not ks:
        raise InputError(None, f"`k_range` {k_range[0]}:{k_range[1]} leaves no k between 2 and {n - 1} "
                               f"(the points to cluster, minus one) for the silhouette")
    best, scores = None, {}
    for k in bar(ks, desc="cluster: k (silhouette)", unit="k"):
        labels = KMeans(k, n_init=4, random_state=seed).fit_predict(x)
        if len(np.unique(labels)) < 2:
            continue
        scores[str(k)] = float(silhouette_score(x, labels, sample_size=min(n, sample), random_state=seed))
        if best is None or scores[str(k)] > scores[str(best[0])]:
            best = (k, labels)
    if best is None:
        raise InputError(None, "k-means found fewer than 2 distinct groups for every k; give `k`")
    return best[0], best[1], scores
