"""2D embeddings of latents and sampling in them by nearest neighbour."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.analysis.embedding import EMBEDDINGS, Embedding, embed, line_points, nearest, sample_embedding


def test_pca_embedding_matches_the_svd() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)) * [5.0, 2.0, 1.0, 0.5]
    emb = embed(x, "pca")
    assert emb.method == "pca" and emb.coords.shape == (50, 2)
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    np.testing.assert_allclose(emb.explained_variance_ratio, s**2 / (s**2).sum())
    np.testing.assert_allclose(np.abs(emb.loadings), np.abs(vt))
    np.testing.assert_allclose(np.abs(emb.coords), np.abs(xc @ vt[:2].T), atol=1e-10)


def test_one_latent_dim_is_padded_and_spatial_latents_flattened() -> None:
    emb = embed(np.arange(6.0)[:, None], "pca")
    assert emb.coords.shape == (6, 2) and (emb.coords[:, 1] == 0).all()
    assert embed(np.ones((5, 2, 3)) * np.arange(5)[:, None, None], "pca").loadings.shape[1] == 6


def test_tsne_is_repeatable_with_a_seed() -> None:
    x = np.random.default_rng(0).normal(size=(20, 3))
    a, b = embed(x, "tsne", seed=3), embed(x, "tsne", seed=3)
    assert a.coords.shape == (20, 2)
    np.testing.assert_allclose(a.coords, b.coords)


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match=f"unknown embedding 'tnse'; use one of {', '.join(EMBEDDINGS)}"):
        embed(np.zeros((4, 2)), "tnse")


def test_nearest_and_line_points() -> None:
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    assert nearest(coords, np.array([1.9, 0.4])).tolist() == [2]
    np.testing.assert_allclose(line_points((0, 0), (2, 4), 3), [[0, 0], [1, 2], [2, 4]])


def test_sample_embedding_by_points_line_and_default_line() -> None:
    coords = np.c_[np.arange(101.0), np.zeros(101)]
    emb = Embedding("pca", coords)
    idx, pts = sample_embedding(emb, points=[[10.2, 3.0], [49.6, 0.0]])
    assert idx.tolist() == [10, 50] and pts.shape == (2, 2)
    idx, pts = sample_embedding(emb, line=((0, 0), (100, 0)), n=5)
    assert idx.tolist() == [0, 25, 50, 75, 100]
    idx, pts = sample_embedding(emb, n=3)  # 5th to 95th percentile of the first axis
    np.testing.assert_allclose(pts, [[5, 0], [50, 0], [95, 0]])
    assert idx.tolist() == [5, 50, 95]
