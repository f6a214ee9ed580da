"""Tests of vaearr.transforms_geometry: centre crops, resizing, flips and affine maps of a batch (the random
patches of volumes: tests/batches/test_loader.py, on a real volume); each against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaearr import transforms as T
from vaearr.errors import InputError


def test_center_crop_and_resize():
    x = torch.arange(2 * 1 * 7 * 8, dtype=torch.float32).reshape(2, 1, 7, 8)
    assert torch.equal(T.center_crop(4)(x), x[:, :, 1:5, 2:6])
    assert torch.equal(T.center_crop((3, 2))(x), x[:, :, 2:5, 3:5])
    v = torch.arange(1 * 1 * 6 * 6 * 6, dtype=torch.float32).reshape(1, 1, 6, 6, 6)
    assert torch.equal(T.center_crop(2)(v), v[:, :, 2:4, 2:4, 2:4])
    with pytest.raises(InputError):
        T.center_crop(9)(x)

    img = np.random.default_rng(0).random((3, 1, 8, 6)).astype(np.float32)
    half = T.resize((4, 3))(torch.from_numpy(img)).numpy()  # bilinear halving = 2x2 block means
    assert np.allclose(half, img.reshape(3, 1, 4, 2, 3, 2).mean((3, 5)), atol=1e-6)
    up = T.resize((16, 12), mode="nearest")(torch.from_numpy(img)).numpy()
    assert np.array_equal(up, img.repeat(2, axis=2).repeat(2, axis=3))
    vol = np.random.default_rng(1).random((1, 1, 4, 4, 4)).astype(np.float32)
    assert np.allclose(T.resize(2)(torch.from_numpy(vol)).numpy(), vol.reshape(1, 1, 2, 2, 2, 2, 2, 2).mean((3, 5, 7)),
                       atol=1e-6)


def test_random_flip():
    x = torch.from_numpy(np.random.default_rng(0).random((64, 1, 5, 4)).astype(np.float32))
    assert torch.equal(T.random_flip((-1,), p=1.0)(x), torch.from_numpy(np.flip(x.numpy(), -1).copy()))
    assert torch.equal(T.random_flip((-1, -2), p=0.0)(x), x)
    out = T.random_flip((-2,), p=0.5)(x, generator=torch.Generator().manual_seed(1)).numpy()
    flipped = np.flip(x.numpy(), -2)
    hit = np.array([np.array_equal(o, f) for o, f in zip(out, flipped)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x.numpy())])
    assert np.all(hit | kept) and 10 < hit.sum() < 54
    again = T.random_flip((-2,), p=0.5)(x, generator=torch.Generator().manual_seed(1)).numpy()
    assert np.array_equal(out, again)


def test_affine_matches_numpy_and_random_affine():
    img = np.random.default_rng(0).random((2, 1, 6, 6)).astype(np.float32)
    x = torch.from_numpy(img)
    assert np.allclose(T.affine(x, 90.0, (0.0, 0.0)).numpy(), np.rot90(img, 1, axes=(-2, -1)), atol=1e-5)
    assert np.allclose(T.affine(x, 0.0, (0.0, 0.0)).numpy(), img, atol=1e-6)
    shifted = T.affine(x, 0.0, (0.0, 2 / 6)).numpy()  # two columns to the right, zeros come in
    ref = np.zeros_like(img)
    ref[..., 2:] = img[..., :-2]
    assert np.allclose(shifted, ref, atol=1e-5)
    rect = np.random.default_rng(1).random((1, 1, 4, 8)).astype(np.float32)
    shifted = T.affine(torch.from_numpy(rect), 0.0, (1 / 4, 0.0)).numpy()
    ref = np.zeros_like(rect)
    ref[..., 1:, :] = rect[..., :-1, :]
    assert np.allclose(shifted, ref, atol=1e-5)
    vol = np.random.default_rng(2).random((1, 1, 4, 4, 4)).astype(np.float32)
    v = torch.from_numpy(vol)
    assert np.allclose(T.affine(v, (90.0, 0.0, 0.0), (0, 0, 0)).numpy(), np.rot90(vol, 1, axes=(-2, -1)), atol=1e-5)
    assert np.allclose(T.affine(v, (0.0, 90.0, 0.0), (0, 0, 0)).numpy(), np.rot90(vol, 1, axes=(-3, -1)), atol=1e-5)
    assert np.allclose(T.affine(v, (0.0, 0.0, 90.0), (0, 0, 0)).numpy(), np.rot90(vol, 1, axes=(-3, -2)), atol=1e-5)

    t = T.random_affine(max_rotate_deg=0.0, max_translate=0.0)
    assert np.allclose(t(x).numpy(), img, atol=1e-6) and np.allclose(t(v).numpy(), vol, atol=1e-6)
    t = T.random_affine(10.0, 0.1)
    a = t(x, generator=torch.Generator().manual_seed(3))
    b = t(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.allclose(a, x)
    assert T.random_affine(5.0, 0.02, seed=1)(v).shape == v.shape
    assert t.for_eval() is None and T.scale().for_eval() is not None
