"""Low-angle boundaries between the regions of one grain (:mod:`vaearr.maps.boundaries.low_angle`): the principal
projection, the regions carried into the ring beside a grain boundary, the ring's choice by features, the boundaries
found in a grain with a step."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.maps.boundaries.low_angle import (
    _same_grain_boundaries,  # noqa: PLC2701 - the rule that makes the mask, checked by hand
    extend_regions,
    low_angle_segments,
    principal_projection,
    ring_by_features,
)


def test_the_projection_is_numpys_first_principal_component() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    ours = principal_projection(x, 2)
    for k in range(2):  # a direction is found up to its sign
        assert abs(np.corrcoef(ours[:, k], xc @ vt[k])[0, 1]) == pytest.approx(1.0, abs=1e-9)
    # other rows projected on x's directions and x's mean
    y = rng.normal(size=(7, 5))
    on = principal_projection(x, 2, apply_to=y)
    assert np.allclose(np.abs(on), np.abs((y - x.mean(0)) @ vt[:2].T))
    # more components than the data has: as many as it has
    assert principal_projection(x[:3], 10).shape == (3, 3)


def test_dropping_the_mean_direction_ignores_a_gain() -> None:
    # rows that differ only by a gain along the mean pattern project onto nothing once that direction is dropped
    rng = np.random.default_rng(1)
    pattern = rng.normal(size=16) + 3.0
    x = np.outer(rng.uniform(0.5, 1.5, 40), pattern)
    assert np.abs(principal_projection(x, 1)).max() > 1.0
    assert np.abs(principal_projection(x, 1, drop_mean_direction=True)).max() < 1e-9


def test_regions_reach_the_ring_but_never_across_a_grain_boundary() -> None:
    labels = np.zeros((3, 8), int)
    labels[:, 1:3], labels[:, 5:7] = 1, 2
    regions = np.where(labels > 0, labels - 1, -1)
    reach = np.ones((3, 8), bool)
    reach[:, 4] = False  # the grain boundary
    out, grains = extend_regions(regions, labels, reach)
    assert out.tolist() == [[0, 0, 0, 0, -1, 1, 1, 1]] * 3
    assert grains.tolist() == [[1, 1, 1, 1, 0, 2, 2, 2]] * 3
    # nothing to carry: unchanged
    none = np.full((3, 8), -1)
    assert extend_regions(none, np.zeros((3, 8), int), reach)[0] is none


def test_a_boundary_is_where_a_right_or_lower_neighbour_is_another_region_of_the_grain() -> None:
    regions = np.array([[0, 0, 1, 2],
                        [0, 0, 1, 2],
                        [3, 3, 3, -1]])
    grains = np.array([[1, 1, 1, 2],
                       [1, 1, 1, 2],
                       [1, 1, 1, 0]])
    lagb = _same_grain_boundaries(regions, grains)
    # 1 | 2 is between grains, 2 over -1 is off the map: not low-angle
    assert lagb.astype(int).tolist() == [[0, 1, 0, 0],
                                         [1, 1, 1, 0],
                                         [0, 0, 0, 0]]


def test_a_ring_pixel_takes_the_region_its_features_are_nearest() -> None:
    # one grain, two interior regions (columns 0-1: feature 0, columns 3-4: feature 1) and a ring column 2 whose rows
    # look like one or the other
    labels = np.zeros((4, 5), int)
    labels[:, [0, 1, 3, 4]] = 1
    inner = np.where(labels > 0, np.array([0, 0, -1, 1, 1])[None], -1)
    feats = np.zeros((4, 5, 2))
    feats[:, 3:, 0] = 1.0
    feats[:, :, 1] = np.arange(4)[:, None] * 0.01  # a second direction, so two components exist
    feats[[0, 2], 2, 0] = 0.9  # like the right region
    regions = np.where(labels > 0, inner, 0)  # extend_regions gave the ring region 0
    grains = np.ones((4, 5), int)
    out = ring_by_features(feats, None, 1, labels, inner, regions, grains)
    assert out[:, 2].tolist() == [1, 0, 1, 0]
    assert (out[:, [0, 1, 3, 4]] == inner[:, [0, 1, 3, 4]]).all()


def test_a_step_inside_a_grain_is_a_low_angle_boundary() -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(0, 0.05, (12, 16, 4))
    feats[:, 8:, 0] += 1.0
    labels = np.ones((12, 16), int)
    lagb, info = low_angle_segments(feats, labels, min_contrast=0.0)
    assert lagb[:, 7].all() and lagb.sum() == 12, lagb.astype(int)
    assert info["lagb_regions"] == 2 and info["low_angle_boundary_pixels"] == 12
    # no grain interior: nothing to segment
    empty, info = low_angle_segments(feats, np.zeros((12, 16), int))
    assert not empty.any() and info["low_angle_boundary_pixels"] == 0


def _nearest_region_by_pixel(z: np.ndarray, own: np.ndarray, ry: np.ndarray, rx: np.ndarray, radius: int) -> np.ndarray:
    """The ring's choice as first written: pixel by pixel, the window's regions (sorted), the nearest mean (reference)."""
    ids = np.unique(own[own >= 0])
    means = np.stack([z[own == r].mean(axis=0) for r in ids])
    out = np.full(ry.size, -1)
    for k, (y, x) in enumerate(zip(ry, rx)):
        near = np.unique(own[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1])
        near = near[near >= 0]
        if len(near) > 1:
            out[k] = near[int(np.argmin(((means[np.searchsorted(ids, near)] - z[y, x]) ** 2).sum(axis=1)))]
    return out


def test_the_rings_choice_is_the_per_pixel_one() -> None:
    """The ring's nearest region, taken one window offset at a time over all its pixels, is the choice made pixel by
    pixel (ties to the lower id, windows with one region or none left alone), on maps with ties and holes."""
    from vaearr.maps.boundaries.low_angle import _nearest_region_in_window  # noqa: PLC2701 - the helper under test

    rng = np.random.default_rng(0)
    for _ in range(20):
        ny, nx = rng.integers(6, 30, 2)
        own = rng.integers(-1, 5, (ny, nx))
        own[rng.random((ny, nx)) < 0.3] = -1
        own[0, 0] = 0
        z = np.round(rng.normal(size=(ny, nx, 3)), 1)  # rounded: ties between means happen
        ry, rx = np.nonzero(own < 0)
        for radius in (1, 3):
            got = _nearest_region_in_window(z, own, ry, rx, radius)
            assert np.array_equal(got, _nearest_region_by_pixel(z, own, ry, rx, radius))
