"""The segmentation of a feature map (:mod:`vaearr.maps.segmentation.regions`): the split of region pairs into
low-angle and grain boundaries by hand, the boundary codes, what a segmentation counts, and its one-line refusal
(segmentations of planted maps: ``test_segment.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.maps.segmentation.regions import (
    BOUNDARY_CODES,
    Segmentation,
    boundary_codes,
    segment_features,
    split_levels,
)


def test_grains_split_at_the_largest_gap_in_the_contrasts() -> None:
    # four regions on a line: 0–1 and 2–3 differ a little, 1–2 a lot
    mu = np.array([[0.0], [1.0], [11.0], [12.0]])
    i, j = np.array([0, 1, 2]), np.array([1, 2, 3])
    lv = split_levels(mu, i, j)
    assert lv.contrast.tolist() == [1.0, 100.0, 1.0] and lv.grains.tolist() == [0, 0, 1, 1]
    assert lv.threshold == pytest.approx(10.0) and lv.rule.startswith("largest gap in the sorted contrasts (100.0×)")
    # no gap of GAP× or more: over a neighbour pair's noise, 2·d (or `visible`)
    flat = split_levels(np.array([[0.0], [1.5], [3.0]]), np.array([0, 1]), np.array([1, 2]))
    assert flat.threshold == 2.0 and flat.grains.tolist() == [0, 1, 2] and "no gap of 4×" in flat.rule
    assert split_levels(np.array([[0.0], [1.5], [3.0]]), np.array([0, 1]), np.array([1, 2]),
                        visible=3.0).grains.tolist() == [0, 0, 0]
    given = split_levels(mu, i, j, fixed_grains=np.array([0, 1, 1, 1]))
    assert given.grains.tolist() == [0, 1, 1, 1] and math.isnan(given.threshold)


def test_boundary_codes_mark_the_pixel_before_a_change() -> None:
    regions = np.array([[0, 0, 1, 2],
                        [0, 0, 1, -1]])
    grains = np.array([[0, 0, 0, 1],
                       [0, 0, 0, -1]])
    codes = boundary_codes(regions, grains)
    low, grain = BOUNDARY_CODES["low_angle"], BOUNDARY_CODES["grain"]
    assert codes.tolist() == [[0, low, grain, 0], [0, low, 0, 0]]
    assert codes.dtype == np.int8


def test_what_a_segmentation_counts() -> None:
    s = Segmentation(np.array([[0, 1], [2, -1]]), np.array([[0, 0], [1, -1]]), np.zeros((2, 2), np.int8))
    assert (s.n_regions, s.n_grains) == (3, 2)
    empty = Segmentation(np.full((2, 2), -1), np.full((2, 2), -1), np.zeros((2, 2), np.int8))
    assert (empty.n_regions, empty.n_grains) == (0, 0)


def test_a_step_inside_given_grains_and_too_few_pixels() -> None:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(12, 16, 2))
    f[:, 8:, 0] += 6.0  # a step inside the one grain given
    seg = segment_features(f, np.ones((12, 16), bool), grains=np.zeros((12, 16), int))
    assert seg.n_grains == 1 and seg.n_regions == 2 and seg.info["levels_rule"] == "grains given"
    assert (seg.boundaries[:, 7] == BOUNDARY_CODES["low_angle"]).mean() > 0.8
    assert seg.regions[0, 0] != seg.regions[0, 15]
    with pytest.raises(InputError, match=r"^the mask leaves 1 pixel\(s\) with features: nothing to segment$"):
        segment_features(f, np.eye(12, 16, dtype=bool) & (np.arange(16) < 1))
