"""Boundary lines classed in degrees (:mod:`vaearr.maps.boundaries.line_angles`): lines between band patterns turned
1° and 5° by hand take those angles, a line that cuts out no piece is not measured, and nothing is measured where the
lines leave no piece big enough to read."""

from __future__ import annotations

import numpy as np

import pytest

from tests.helpers import BAND_PC, BAND_SHAPE, band_patterns
from vaearr.maps.boundaries.line_angles import MIN_PIECE, classify_lines
from vaearr.maps.patterns.misorientation import Geometry


def test_lines_take_the_angle_across_them() -> None:
    """Columns 0-4 at 0°, 6-10 turned 1°, 12-16 turned 6° about one axis; lines drawn on columns 5 and 11, and an open
    line (it cuts out nothing) on part of row 3 of the first piece."""
    axis = np.array([0.6, 0.0, 0.8])
    turns = np.repeat(np.array([0.0, 1.0, 6.0]), 6)[None, :17, None] * axis * np.ones((8, 1, 1))
    lines = np.zeros((8, 17), bool)
    lines[:, 5] = lines[:, 11] = True
    lines[3, 1:3] = True
    angles, regions, info = classify_lines(lines, np.ones((8, 17), bool), band_patterns(turns), np.ones(BAND_SHAPE),
                                           Geometry(BAND_PC, BAND_SHAPE), grain_angle=2.0, low_angle=0.2)
    assert angles[:, 5] == pytest.approx(np.full(8, 1.0), abs=0.15)
    assert angles[:, 11] == pytest.approx(np.full(8, 5.0), abs=0.15)
    assert np.isnan(angles[3, 1:3]).all() and np.isnan(angles[~lines]).all()  # inside one piece: nothing across
    assert info["angle_pieces"] == 3 and info["angle_pairs"] == 2 and info["line_pixels_unmeasured"] == 2
    assert len(np.unique(regions)) == 3 and (regions >= 0).all()  # every line pixel given to a piece


def test_lines_that_leave_no_piece_big_enough_measure_nothing() -> None:
    # a 3 × 3 map cut by a cross: four pieces of one pixel each, under MIN_PIECE
    lines = np.zeros((3, 3), bool)
    lines[1, :] = lines[:, 1] = True
    assert MIN_PIECE > 1
    data = np.zeros((3, 3, 4, 4))
    angles, regions, info = classify_lines(lines, np.ones((3, 3), bool), data, np.ones((4, 4)),
                                           Geometry((0.5, 0.5, 0.6), (4, 4)), grain_angle=10.0, low_angle=1.0)
    assert np.isnan(angles).all() and angles.dtype == np.float32
    assert (regions == -1).all() and info == {"angle_pieces": 0}
    # outside the valid pixels nothing is a piece either
    angles, _, info = classify_lines(np.zeros((3, 3), bool), np.zeros((3, 3), bool), data, np.ones((4, 4)),
                                     Geometry((0.5, 0.5, 0.6), (4, 4)), grain_angle=10.0, low_angle=1.0)
    assert np.isnan(angles).all() and info == {"angle_pieces": 0}
