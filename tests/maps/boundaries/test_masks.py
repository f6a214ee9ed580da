"""Boundary masks from edge maps (:mod:`vaearr.maps.boundaries.masks`): grain boundaries over Otsu's threshold or a
given one, grain interiors, low-angle lines kept by hysteresis and length, Welch edges inside a grain."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vaearr.maps.boundaries.masks import (
    grain_boundary_mask,
    grain_interiors,
    low_angle_boundaries,
    low_angle_edges,
)


def _column_ridges() -> tuple[np.ndarray, np.ndarray]:
    """Right edges with a ridge at column 4: strong (5) in rows 0-1, weak (1.5) in rows 2-3, 0 elsewhere."""
    right = np.zeros((4, 10))
    right[:2, 4], right[2:, 4] = 5.0, 1.5
    right[:, -1] = np.nan
    return right, np.full((4, 10), np.nan)


def test_grain_boundaries_over_otsus_threshold_or_a_given_one() -> None:
    right, down = _column_ridges()
    gb, ridge, info = grain_boundary_mask(right, down)
    assert np.argwhere(ridge > 0).tolist() == [[0, 4], [1, 4], [2, 4], [3, 4]]
    assert np.argwhere(gb).tolist() == [[0, 4], [1, 4]]
    assert 1.5 <= info["gb_threshold"] < 5.0 and info["gb_threshold_rule"].startswith("Otsu on log ridge strength of 4")
    assert (info["ridge_pixels"], info["grain_boundary_pixels"]) == (4, 2)
    assert info["ridge_median"] == pytest.approx(np.median([5, 5, 1.5, 1.5]))
    gb, _, info = grain_boundary_mask(right, down, threshold=1.0)
    assert gb.sum() == 4 and info["gb_threshold_rule"] == "given"
    # out of the mask: no ridge
    mask = np.ones((4, 10), bool)
    mask[:2] = False
    gb, _, info = grain_boundary_mask(right, down, mask, threshold=1.0)
    assert np.argwhere(gb).tolist() == [[2, 4], [3, 4]]


def test_ridges_of_one_strength_have_no_threshold_and_no_boundary() -> None:
    right, down = _column_ridges()
    right[2:, 4] = 5.0
    gb, _, info = grain_boundary_mask(right, down)
    assert not gb.any() and math.isinf(info["gb_threshold"])
    gb, _, info = grain_boundary_mask(np.full((3, 3), np.nan), np.full((3, 3), np.nan))
    assert not gb.any() and info["ridge_pixels"] == 0 and math.isnan(info["ridge_median"])


def test_grain_interiors_keep_away_from_the_boundary_and_drop_small_ones() -> None:
    gb = np.zeros((10, 10), bool)
    gb[:, 4] = True  # interiors: columns 0-2 (30 pixels) and 6-9 (40)
    labels, n = grain_interiors(gb)
    assert n == 2 and (labels[:, :3] == 1).all() and (labels[:, 6:] == 2).all() and (labels[:, 3:6] == 0).all()
    labels, n = grain_interiors(gb, min_pixels=35)
    assert n == 1 and (labels[:, 6:] == 1).all() and (labels[:, :6] == 0).all()
    mask = np.ones((10, 10), bool)
    mask[5:] = False
    labels, n = grain_interiors(gb, mask, min_pixels=1)
    assert n == 2 and (labels[5:] == 0).all() and (labels[:5, :3] == 1).all()


def _row_ridge(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Down edges of t² 20 along row 5 over columns 2..2+length, 1 elsewhere (12 × 12)."""
    down = np.ones((12, 12))
    down[5, 2:2 + length] = 20.0
    return np.full((12, 12), np.nan), down


def test_low_angle_lines_are_kept_by_their_peak_and_length() -> None:
    right, down = _row_ridge(7)
    gb = np.zeros((12, 12), bool)
    lagb, info = low_angle_boundaries(right, down, gb)
    assert np.argwhere(lagb).tolist() == [[5, c] for c in range(2, 9)]
    assert (info["lagb_lines"], info["lagb_candidate_lines"], info["low_angle_boundary_pixels"]) == (1, 1, 7)
    assert not low_angle_boundaries(right, down, gb, min_length=8)[0].any()
    assert not low_angle_boundaries(right, down, gb, high=25.0)[0].any()
    # a low threshold above the high one is the high one
    assert low_angle_boundaries(right, down, gb, high=10.0, low=30.0)[1]["lagb_low"] == 10.0
    # pixels within `exclude` of a grain boundary are no candidates
    gb[5, 0] = True
    lagb, _ = low_angle_boundaries(right, down, gb, min_length=1)
    assert np.argwhere(lagb).tolist() == [[5, c] for c in range(3, 9)]


def test_welch_edges_inside_a_grain_peak_at_its_step() -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(0, 0.1, (8, 12, 3))
    feats[:, 6:, 0] += 2.0
    labels = np.ones((8, 12), int)
    labels[:, 0] = 0  # not in a grain: NaN
    right, down = low_angle_edges(feats, labels)
    assert np.isnan(right[:, 0]).all() and np.isnan(right[:, -1]).all()
    assert (np.nanargmax(right, axis=1) == 5).all()
    assert np.nanmax(down) < np.nanmin(right[:, 5])
