"""Boundary lines classed in degrees (:mod:`vaearr.maps.boundaries.line_angles`): what is measured when the lines cut
out no piece of the map big enough to read (the angles themselves are checked on simulated patterns in
``tests/maps/segmentation/test_degrees.py``)."""

from __future__ import annotations

import numpy as np

from vaearr.maps.boundaries.line_angles import MIN_PIECE, classify_lines
from vaearr.maps.patterns.misorientation import Geometry


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
