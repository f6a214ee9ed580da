"""Rotations read from the patterns (:mod:`vaearr.maps.patterns.rotations`): each pixel's rotation from its
region's mean on a band of patterns bent by hand, and the pieces checked by hand: each region's reference (the mean of
the 3 × 3 pixels round its most interior one), the patterns turned back and summed, the patterns gathered by pixel,
the neighbour a pixel starts from (simulated Ni maps: ``tests/maps/segmentation/test_degrees.py``)."""

from __future__ import annotations

import numpy as np

from tests.helpers import BAND_PC, BAND_SHAPE, band_patterns
from vaearr.maps.patterns.rotations import (
    _gather,  # noqa: PLC2701 - the row-by-row read, checked against fancy indexing
    _neighbour_starts,  # noqa: PLC2701 - the second pass's choice of start, checked by hand
    _references,  # noqa: PLC2701 - the reference patterns, checked against their definition
    pattern_rotations,
    warp_sums,
)
from vaearr.maps.patterns.misorientation import RIM_PX, Geometry, prepared
from vaearr.maps.patterns.misorientation import flattened


def test_a_bent_grain_reads_its_bending_from_its_mean() -> None:
    """One region whose columns turn 0.3° each about one axis: each pixel's rotation vector from the region's mean
    orientation runs along that axis, 0.3° × its column's distance from the middle."""
    axis = np.array([0.6, 0.0, 0.8])
    turns = (0.3 * np.arange(8))[None, :, None] * axis * np.ones((6, 1, 1))
    data = band_patterns(turns)
    vectors, info = pattern_rotations(np.zeros((6, 8), int), data, data.reshape(-1, *BAND_SHAPE).mean(0),
                                      Geometry(BAND_PC, BAND_SHAPE))
    assert vectors.shape == (6, 8, 3) and info["pattern_pixels_registered"] == 48
    expected = 0.3 * (np.arange(8) - 3.5) * np.ones((6, 1))
    along = vectors @ axis
    assert np.abs(along - expected).max() < 0.25, along.round(2)
    across = np.linalg.norm(vectors - along[..., None] * axis, axis=-1)
    assert np.median(across) < 0.1
    regions = np.zeros((6, 8), int)
    regions[:, 0] = -1  # outside the regions: NaN
    outside, _ = pattern_rotations(regions, data, data.reshape(-1, *BAND_SHAPE).mean(0), Geometry(BAND_PC, BAND_SHAPE))
    assert np.isnan(outside[:, 0]).all() and np.isfinite(outside[:, 1:]).all()


def test_each_region_references_the_3x3_mean_round_its_most_interior_pixel() -> None:
    rng = np.random.default_rng(0)
    data = rng.uniform(50, 100, (7, 9, 6, 6)).astype(np.float32)
    background = np.ones((6, 6), np.float32)
    regions = np.full((7, 9), -1)
    regions[:, :5] = 0  # a 7 × 5 block: (2..4, 2) are 3 from its edge; the first, (2, 2)
    regions[1:4, 6:9] = 1  # a 3 × 3 block: its centre (2, 7)
    regions[0, 8] = 2  # a region of one pixel at the map's corner
    refs, centre = _references(regions, data, background)
    assert centre.tolist() == [2 * 9 + 2, 2 * 9 + 7, 8]
    flat = flattened(data, background)
    expected = np.stack([flat[1:4, 1:4].reshape(-1, 6, 6).mean(0), flat[1:4, 6:9].reshape(-1, 6, 6).mean(0),
                         flat[0, 8]])
    assert np.allclose(refs, prepared(expected, np.ones((6, 6), np.float32)), atol=1e-5)


def test_unturned_patterns_sum_as_they_are_inside_the_rim() -> None:
    geometry = Geometry((0.5, 0.5, 0.7), (8, 8))
    rng = np.random.default_rng(1)
    patterns = rng.random((3, 8, 8)).astype(np.float32)
    sums, weights = np.zeros((2, 64)), np.zeros((2, 64))
    warp_sums(patterns, np.repeat(np.eye(3)[None], 3, 0), np.array([0, 1, 1]), geometry, sums, weights)
    rows, cols = np.mgrid[0:8, 0:8]
    inside = ((rows >= RIM_PX) & (rows <= 7 - RIM_PX) & (cols >= RIM_PX) & (cols <= 7 - RIM_PX)).ravel()
    assert np.array_equal(weights[0], inside.astype(float)) and np.array_equal(weights[1], 2 * inside)
    assert np.allclose(sums[0][inside], patterns[0].ravel()[inside], atol=1e-5)
    assert np.allclose(sums[1][inside], (patterns[1] + patterns[2]).ravel()[inside], atol=1e-5)
    assert (sums[:, ~inside] == 0).all()


def test_patterns_gathered_by_flat_pixel_index() -> None:
    data = np.arange(3 * 4 * 2 * 2).reshape(3, 4, 2, 2)
    pixels = np.array([1, 2, 7, 8, 11])
    assert np.array_equal(_gather(data, pixels, 4), data.reshape(12, 2, 2)[pixels])


def test_a_pixel_starts_from_a_registered_neighbour_of_its_region() -> None:
    regions = np.array([[0, 0, 1],
                        [0, 0, 1]])
    rot = np.stack([np.eye(3) * (k + 1) for k in range(6)])  # a rotation told apart by its scale
    holds = np.array([True, False, True, True, False, False])
    start, source = _neighbour_starts(np.array([1, 4, 5]), regions, rot, holds)
    # pixel 1: right neighbour 2 is another region, left 0 holds; pixel 4: right 5 fails, left 3 holds;
    # pixel 5: its left neighbour is another region, above it 2 holds
    assert source.tolist() == [0, 3, 2]
    assert [float(s[0, 0]) for s in start] == [1.0, 4.0, 3.0]
    start, source = _neighbour_starts(np.array([4]), regions, rot, np.zeros(6, bool))
    assert source.tolist() == [-1] and np.array_equal(start[0], np.eye(3))
