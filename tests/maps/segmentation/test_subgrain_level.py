"""The sub-grain level of correlated features (:mod:`vaearr.maps.segmentation.subgrain_level`) on grids small enough
to work by hand: each grain's principal directions, the ring along grain boundaries, the ring filled from inside,
the noise correlation within regions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from vaearr.maps.segmentation.merging import grid_pairs
from vaearr.maps.segmentation.subgrain_level import (
    CORRELATED,
    beside_grain_boundary,
    fill_ring,
    grain_ring,
    kappa_within,
    principal_by_grain,
)


def test_each_grain_on_its_own_principal_directions() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 3)) * np.array([4.0, 1.0, 0.2])
    grain = np.repeat([0, 1], 20)
    fit = np.ones(40, bool)
    fit[0] = False  # left out of grain 0's fit, projected all the same
    out = principal_by_grain(z, grain, 2, fit)
    for g, rows in ((0, np.arange(1, 20)), (1, np.arange(20, 40))):
        f = z[rows]
        _, _, vt = np.linalg.svd(f - f.mean(0), full_matrices=False)
        every = np.arange(20 * g, 20 * g + 20)
        expected = (z[every] - f.mean(0)) @ vt[:2].T
        assert np.allclose(np.abs(out[every]), np.abs(expected))  # a direction up to its sign
    alone = principal_by_grain(z[:3], np.array([0, 1, 1]), 2, np.ones(3, bool))
    assert (alone[0] == 0).all()  # one row: no direction


def test_the_ring_along_grain_boundaries() -> None:
    grains = np.zeros((4, 8), int)
    grains[:, 4:] = 1
    valid = np.ones((4, 8), bool)
    ring = grain_ring(valid, grains, 1)
    assert ring[:, 3:5].all() and ring.sum() == 8
    assert grain_ring(valid, grains, 2)[:, 2:6].all()
    small = grains.copy()
    small[0, 0] = 2  # a grain of one pixel is all ring: read as it is
    assert not grain_ring(valid, small, 1)[0, 0]
    valid[:, 4] = False  # an invalid pixel is no other grain: columns 3 and 5 are 2 apart
    assert grain_ring(valid, grains, 1).sum() == 0 and grain_ring(valid, grains, 2)[:, [3, 5]].all()
    flat = np.flatnonzero(np.ones(32, bool))
    assert beside_grain_boundary(np.ones((4, 8), bool), flat, grains).reshape(4, 8)[:, 3:5].all()
    assert beside_grain_boundary(np.ones((4, 8), bool), flat, grains).sum() == 8


def test_the_ring_filled_step_by_step_from_the_nearest_mean() -> None:
    z = np.zeros((2, 5, 1))
    z[:, 3:] = 10.0
    z[0, 2], z[1, 2] = 9.0, 1.0  # the ring column: one pixel like the right, one like the left
    labels = np.array([[0, 0, -1, 1, 1], [0, 0, -1, 1, 1]]).ravel()
    a, b = grid_pairs(np.ones((2, 5), bool))
    out = fill_ring(z.reshape(-1, 1), labels, a, b).reshape(2, 5)
    assert out[:, 2].tolist() == [1, 0]
    # a piece no step reaches: a region of its own
    lone = np.array([0, 0, -1, -1, 0])
    a, b = np.array([0, 2]), np.array([1, 3])
    assert fill_ring(np.zeros((5, 1)), lone, a, b).tolist() == [0, 0, 1, 1, 0]


def test_averaged_noise_reads_as_correlated_and_white_noise_not() -> None:
    rng = np.random.default_rng(0)
    valid = np.ones((40, 40), bool)
    labels = (np.arange(40)[None] >= 20).repeat(40, 0).ravel()
    raw = rng.normal(size=(40, 40, 3))
    white = kappa_within(raw.reshape(-1, 3), valid, np.arange(1600), labels, seed=0)
    assert 1.0 <= white < CORRELATED
    raw[:, 20:] += 50.0  # a step between two regions is not taken for noise inside them
    assert kappa_within(raw.reshape(-1, 3), valid, np.arange(1600), labels, seed=0) == pytest.approx(white, rel=1e-6)
    averaged = ndi.uniform_filter(rng.normal(size=(40, 40, 3)), (3, 3, 0))  # a 3 × 3 average: κ about 9
    assert kappa_within(averaged.reshape(-1, 3), valid, np.arange(1600), labels, seed=0) > 4 * CORRELATED
