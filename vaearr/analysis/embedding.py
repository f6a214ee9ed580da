"""2D embeddings of latents (PCA, t-SNE, UMAP) and sampling in them by nearest neighbour.

Sampling is by nearest neighbour among the encoded samples, so every decoded image comes from
a real latent.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE as SkTSNE

from vaearr.errors import require
from vaearr.registry import Registry

# --------------------------------------------------------------------------------------------
# embeddings


@dataclass
class Embedding:
    """A 2D embedding of latents.

    Attributes
    ----------
    method
        ``"pca"``, ``"tsne"`` or ``"umap"``.
    coords
        (N, 2) embedded points, row-aligned with the latents.
    explained_variance_ratio
        PCA only: fraction of variance per component (all components).
    loadings
        PCA only: (components, latent_dim) principal axes.
    """

    method: str
    coords: np.ndarray
    explained_variance_ratio: np.ndarray | None = None
    loadings: np.ndarray | None = None


Embedder = Callable[..., Embedding]

#: Embedding methods by name: ``(x, seed, **options) -> Embedding`` of the (N, D) latents.
EMBEDDERS: Registry[Embedder] = Registry("embedding")


@EMBEDDERS.register("pca")
def pca_embedding(x: np.ndarray, seed: int, **options: Any) -> Embedding:
    """The first two principal components (all components' variance ratios and axes kept)."""
    pca = PCA(n_components=min(x.shape), **options).fit(x)
    coords = pca.transform(x)[:, :2]
    if coords.shape[1] < 2:  # one latent dim: pad so every embedding is (N, 2)
        coords = np.c_[coords, np.zeros(len(coords))]
    return Embedding("pca", coords, pca.explained_variance_ratio_, pca.components_)


@EMBEDDERS.register("tsne")
def tsne_embedding(x: np.ndarray, seed: int, **options: Any) -> Embedding:
    """t-SNE: openTSNE when installed, else scikit-learn; perplexity at most 30 and (N − 1) / 3."""
    perplexity = options.pop("perplexity", min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    try:
        from openTSNE import TSNE
    except ImportError:
        coords = SkTSNE(2, perplexity=perplexity, random_state=seed, **options).fit_transform(x)
    else:
        coords = np.asarray(TSNE(n_components=2, perplexity=perplexity, random_state=seed, n_jobs=1,
                                 **options).fit(x))
    return Embedding("tsne", np.asarray(coords))


@EMBEDDERS.register("umap")
def umap_embedding(x: np.ndarray, seed: int, **options: Any) -> Embedding:
    """UMAP (umap-learn, the 'analysis' extra); ``n_neighbors`` at most 15 and N − 1."""
    umap = require("umap", "analysis")
    options.setdefault("n_neighbors", min(15, len(x) - 1))

    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": we want repeatable
        warnings.simplefilter("ignore", UserWarning)
        coords = umap.UMAP(n_components=2, random_state=seed, **options).fit_transform(x)
    return Embedding("umap", np.asarray(coords))


#: Embedding methods :func:`embed` knows.
EMBEDDINGS = EMBEDDERS.names()


def embed(latents: np.ndarray, method: str = "pca", *, seed: int = 0, **options: Any) -> Embedding:
    """Embed latents (N, D) in 2D with a method of :data:`EMBEDDERS`: PCA, t-SNE (openTSNE, else
    scikit-learn) or UMAP (umap-learn).

    Parameters
    ----------
    latents
        (N, D); spatial latents should be flattened first.
    method
        One of :data:`EMBEDDINGS`.
    seed
        Random state of t-SNE and UMAP.
    **options
        Passed to the method (``perplexity``, ``n_neighbors``, ``min_dist``...).
    """
    x = np.asarray(latents, np.float64).reshape(len(latents), -1)
    if method not in EMBEDDERS:
        raise ValueError(f"unknown embedding {method!r}; use one of {', '.join(EMBEDDINGS)}")
    return EMBEDDERS[method](x, seed, **options)


def nearest(coords: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the embedded sample nearest to each point: (len(points),) int.

    Examples
    --------
    >>> nearest(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([[9.0, 1.0], [1.0, 0.0]])).tolist()
    [1, 0]
    """

    return cKDTree(np.asarray(coords, np.float64)).query(np.atleast_2d(points))[1].astype(np.int64)


def line_points(start: Sequence[float], end: Sequence[float], n: int) -> np.ndarray:
    """``n`` evenly spaced points from ``start`` to ``end`` (both included): (n, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * np.asarray(start, np.float64) + t * np.asarray(end, np.float64)


def sample_embedding(
    embedding: Embedding,
    *,
    points: np.ndarray | None = None,
    line: tuple[Sequence[float], Sequence[float]] | None = None,
    n: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick samples in an embedding: nearest neighbours of given points, or of ``n`` points along a line.

    With neither ``points`` nor ``line``, the line runs between the embedding's 5th and 95th
    percentile corners along its first axis (through the bulk of the data).

    Returns
    -------
    tuple of numpy.ndarray
        The sample indices (into the latents) and the query points (k, 2).
    """
    if points is None:
        if line is None:
            c = embedding.coords
            lo, hi = np.percentile(c, [5, 95], axis=0)
            mid = np.median(c[:, 1])
            line = ((lo[0], mid), (hi[0], mid))
        points = line_points(line[0], line[1], n)
    points = np.atleast_2d(np.asarray(points, np.float64))
    return nearest(embedding.coords, points), points
