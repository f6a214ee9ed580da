"""Edges between neighbouring pixels (:mod:`vaearr.maps.patterns.edges`) worked by hand on small maps: prepared
patterns, the neighbour mean, the boxes either side of an edge, ridges (kikuchipy's neighbour dot product and the Welch
t² formula: ``tests/maps/boundaries/test_boundaries.py``)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from vaearr.maps.patterns.edges import PREPARE_PART, edge_maps, neighbour_map, prepare_patterns, ridge_strength


def test_prepared_patterns_have_zero_mean_and_unit_norm() -> None:
    rng = np.random.default_rng(0)
    block = rng.integers(1, 500, (2, 3, 4, 5)).astype(np.uint16)
    p = prepare_patterns(block)
    assert p.shape == (2, 3, 20) and p.dtype == np.float32
    assert np.allclose(p.mean(-1), 0, atol=1e-6) and np.allclose(np.linalg.norm(p, axis=-1), 1, atol=1e-5)
    v = block[1, 2].astype(np.float64).ravel()
    assert np.allclose(p[1, 2], (v - v.mean()) / np.linalg.norm(v - v.mean()), atol=1e-6)
    # divided by the background first; a flat pattern is all zeros
    bg = rng.uniform(1, 2, (4, 5))
    w = block[0, 0] / bg
    assert np.allclose(prepare_patterns(block, bg)[0, 0], ((w - w.mean()) / np.linalg.norm(w - w.mean())).ravel(),
                       atol=1e-6)
    assert (prepare_patterns(np.full((1, 4, 5), 7.0)) == 0).all()


def test_a_large_block_prepared_in_parts_gives_the_same_numbers() -> None:
    rng = np.random.default_rng(1)
    block = rng.integers(0, 255, (2 * PREPARE_PART + 5, 3, 3)).astype(np.uint8)
    one = np.concatenate([prepare_patterns(block[s:s + 100], sigma=1.0) for s in range(0, len(block), 100)])
    assert np.array_equal(prepare_patterns(block, sigma=1.0), one)


def test_the_neighbour_mean_by_hand_and_by_row_blocks() -> None:
    f = np.arange(12.0).reshape(3, 4, 1)  # each row +1 along x, +4 down y
    out = neighbour_map(f, metric="euclidean")
    assert out[1, 1] == pytest.approx((1 + 1 + 4 + 4) / 4) and out[0, 0] == pytest.approx((1 + 4) / 2)
    mask = np.ones((3, 4), bool)
    mask[1, 2] = False
    masked = neighbour_map(f, mask, metric="euclidean")
    assert np.isnan(masked[1, 2]) and masked[1, 1] == pytest.approx((1 + 4 + 4) / 3)
    assert np.allclose(neighbour_map(da.from_array(f, chunks=(1, 4, 1)), mask, metric="euclidean"), masked,
                       equal_nan=True)
    # dot products of unit vectors: 1 between equal ones
    assert np.allclose(neighbour_map(np.ones((3, 3, 1))), 1.0)


def test_edge_boxes_either_side_of_a_step() -> None:
    f = np.zeros((6, 10, 1))
    f[:, 5:] = 1.0
    right, down = edge_maps(f, metric="euclidean", along=3, deep=2)
    # the edge (4, 5): boxes of columns 3-4 and 5-6, means 0 and 1; the edge (3, 4): columns 2-3 and 4-5, 0 and ½
    assert np.allclose(right[:, 4], 1.0) and np.allclose(right[:, 3], 0.5) and np.allclose(right[:, 5], 0.5)
    assert np.allclose(right[:, :2], 0.0) and np.isnan(right[:, -1]).all()
    assert np.allclose(down[:-1], 0.0) and np.isnan(down[-1]).all()
    assert np.allclose(edge_maps(f, metric="euclidean", rows=2)[0], right, equal_nan=True)
    mask = np.ones((6, 10), bool)
    mask[:, 5] = False
    r, _ = edge_maps(f, mask, metric="euclidean")
    assert np.isnan(r[:, 4:6]).all()


def test_ridges_are_edges_over_their_neighbours_across_them() -> None:
    right = np.array([[0.1, 0.5, 0.2, 0.3, 0.1, np.nan]])
    down = np.full((1, 6), np.nan)
    # 0.5 and 0.3 are over both sides; the first edge has none on its left: never a ridge
    assert ridge_strength(right, down).tolist() == [[0.0, 0.5, 0.0, 0.3, 0.0, 0.0]]
    assert ridge_strength(np.array([[0.9, 0.5, 0.1, np.nan]]), np.full((1, 4), np.nan)).max() == 0.0
    down = np.array([[1.0], [3.0], [2.0]])
    assert ridge_strength(np.full((3, 1), np.nan), down).ravel().tolist() == [0.0, 3.0, 0.0]
