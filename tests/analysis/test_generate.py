"""Decoding latents: interpolations by hand, and traversals, manifolds, reconstructions through a small real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaearr.analysis.generate import (
    INTERPOLATIONS, decode, interpolate, linear_interpolation, manifold, prior_samples, reconstruct, slerp, traversal,
)
from vaearr.models import build_model, config_from_dict


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = build_model(config_from_dict({"name": "conv-vae", "input_shape": [1, 16, 16], "latent_dim": 3,
                                        "channels": [4, 8]}))
    return net.eval()


def test_linear_interpolation_by_hand() -> None:
    z = linear_interpolation(np.array([0.0, 2.0]), np.array([4.0, -2.0]), [0.0, 0.25, 1.0])
    np.testing.assert_allclose(z, [[0, 2], [1, 1], [4, -2]])
    assert linear_interpolation(np.zeros((2, 2)), np.ones((2, 2)), 0.5).shape == (1, 2, 2)


def test_slerp_keeps_the_norm_on_the_great_circle() -> None:
    z0, z1 = np.array([3.0, 0.0, 0.0]), np.array([0.0, 0.0, 3.0])
    z = slerp(z0, z1, np.linspace(0, 1, 7))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 3.0)
    angles = np.arctan2(z[:, 2], z[:, 0])
    np.testing.assert_allclose(angles, np.linspace(0, np.pi / 2, 7), atol=1e-12)


@pytest.mark.parametrize("z1", [np.array([2.0, 0.0]), np.array([-1.0, 0.0]), np.zeros(2)])
def test_slerp_falls_back_to_linear_when_parallel_or_zero(z1: np.ndarray) -> None:
    z0 = np.array([1.0, 0.0])
    np.testing.assert_allclose(slerp(z0, z1, [0.0, 0.5, 1.0]), linear_interpolation(z0, z1, [0.0, 0.5, 1.0]))


def test_decode_and_reconstruct_shapes(model) -> None:
    z = np.zeros((3, 3), np.float32)
    images = decode(model, z, batch_size=2)
    assert images.shape == (3, 1, 16, 16) and images.dtype == np.float32
    np.testing.assert_allclose(images[0], images[2], atol=1e-5)  # one latent, two batches
    assert decode(model, np.zeros((0, 3))).shape == (0, 1, 16, 16)
    x = np.random.default_rng(0).random((2, 1, 16, 16), np.float32)
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(x))
    np.testing.assert_allclose(reconstruct(model, x, batch_size=1), decode(model, mu.numpy()), atol=1e-5)


def test_prior_samples_repeat_with_the_seed(model) -> None:
    z, images = prior_samples(model, 4, seed=5)
    np.testing.assert_array_equal(z, np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32))
    assert images.shape == (4, 1, 16, 16)
    np.testing.assert_array_equal(prior_samples(model, 4, seed=5)[1], images)


def test_interpolate_includes_both_ends(model) -> None:
    z0, z1 = np.zeros(3), np.array([1.0, 2.0, 3.0])
    for method in INTERPOLATIONS:
        z, images = interpolate(model, z0, z1, steps=5, method=method)
        np.testing.assert_allclose(z[[0, -1]], [z0, z1], atol=1e-6)
        assert images.shape == (5, 1, 16, 16)
    with pytest.raises(ValueError, match="method must be 'linear' or 'slerp', got 'cubic'"):
        interpolate(model, z0, z1, method="cubic")


def test_traversal_varies_one_dim_per_row(model) -> None:
    base = np.array([0.5, -0.5, 0.0])
    images = traversal(model, base, [2, 0], [-1.0, 1.0])
    assert images.shape == (2, 2, 1, 16, 16)
    np.testing.assert_allclose(images[0, 1], decode(model, np.array([[0.5, -0.5, 1.0]]))[0], atol=1e-5)
    np.testing.assert_allclose(images[1, 0], decode(model, np.array([[-1.0, -0.5, 0.0]]))[0], atol=1e-5)
    with pytest.raises(ValueError, match=r"latent dims \[3\] out of range 0..2"):
        traversal(model, base, [3], [0.0])


def test_manifold_is_cartesian(model) -> None:
    grid = manifold(model, np.zeros(3), (0, 1), [1.0, -1.0], [-2.0, 2.0, 0.0])
    assert grid.shape == (3, 2, 1, 16, 16)
    # top-left: the largest y and the smallest x
    np.testing.assert_allclose(grid[0, 0], decode(model, np.array([[-1.0, 2.0, 0.0]]))[0], atol=1e-5)
    np.testing.assert_allclose(grid[2, 1], decode(model, np.array([[1.0, -2.0, 0.0]]))[0], atol=1e-5)
    with pytest.raises(ValueError, match=r"manifold needs two different dims in 0..2, got \(1, 1\)"):
        manifold(model, np.zeros(3), (1, 1), [0.0], [0.0])
