"""Grain size by the mean linear intercept (:mod:`vaearr.maps.boundaries.grain_size`): the counts ISO 643 makes, the
attrs written, the line a summary prints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vaearr.maps.boundaries.grain_size import (
    describe_grain_size,
    grain_size_attrs,
    linear_intercepts,
    mean_linear_intercept,
)


def test_mean_linear_intercept() -> None:
    gb = np.zeros((4, 10), bool)
    gb[:, 4] = True
    # rows: 4 lines of 10 µm, one crossing each; columns: 10 lines of 4 µm meeting no boundary, one intercept each
    assert mean_linear_intercept(gb, 1.0, 1.0) == pytest.approx(80 / 14)
    assert mean_linear_intercept(gb, 0.5, 0.5) == pytest.approx(40 / 14)
    # no boundary at all: each line is one intercept; never more than the map (it was inf)
    assert mean_linear_intercept(np.zeros((3, 3), bool), 1.5, 1.5) == pytest.approx(4.5)
    # a mask cuts lines in two: each run inside it is a line of its own
    mask = np.ones((4, 10), bool)
    mask[:, 6] = False
    r = linear_intercepts(gb, 1.0, 1.0, mask)
    assert (r["lines"], r["crossings"], r["intercepts"], r["line_length_um"]) == (17, 4, 17, 72.0)


def test_grain_size_is_never_beyond_the_map_and_says_what_it_comes_from() -> None:
    """Random boundary maps of every aspect: the grain size stays within the map's larger side."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        ny, nx = rng.integers(1, 12, 2)
        gb = rng.random((ny, nx)) < rng.random() * 0.5
        mask = rng.random((ny, nx)) < 0.9 if rng.random() < 0.5 else None
        sy, sx = rng.uniform(0.1, 3.0, 2)
        r = linear_intercepts(gb, sy, sx, mask)
        if r["intercepts"]:
            assert 0 < r["grain_size_um"] <= max(ny * sy, nx * sx) + 1e-9, (ny, nx, sy, sx, r)
            assert r["intercepts"] == r["crossings"] + r["lines_without_boundary"]
    text = describe_grain_size({"grain_size_um": 4.5, "grain_size_intercepts": 6, "grain_size_lines": 6,
                                "grain_size_lines_without_boundary": 6})
    assert text == "4.5 µm from 6 intercepts on 6 lines (6 meet no boundary: the grains may be larger)"


def test_the_steps_of_rows_and_columns_weigh_their_own_lines() -> None:
    gb = np.zeros((4, 10), bool)
    gb[:, 4] = True
    # rows (x steps of 2 µm): 4 lines of 20 µm, one crossing each; columns (y steps of 0.5 µm): 10 lines of 2 µm
    r = linear_intercepts(gb, 0.5, 2.0)
    assert r["line_length_um"] == pytest.approx(4 * 20 + 10 * 2)
    assert (r["lines"], r["crossings"], r["intercepts"], r["lines_without_boundary"]) == (14, 4, 14, 10)
    # a run of boundary pixels along a line is crossed once
    thick = np.zeros((1, 10), bool)
    thick[0, 3:6] = True
    assert linear_intercepts(thick, 1.0, 1.0)["crossings"] == 1
    # a line that starts on the boundary has not crossed it
    edge = np.zeros((1, 5), bool)
    edge[0, 0] = True
    assert linear_intercepts(edge, 1.0, 1.0)["crossings"] == 0


def test_no_line_inside_the_mask_is_nan_and_said_so() -> None:
    r = linear_intercepts(np.ones((3, 3), bool), 1.0, 1.0, np.zeros((3, 3), bool))
    assert math.isnan(r["grain_size_um"]) and r["intercepts"] == r["lines"] == 0
    attrs = grain_size_attrs(np.ones((3, 3), bool), 1.0, 1.0, np.zeros((3, 3), bool))
    assert describe_grain_size(attrs) == "none measured (no line inside the mask)"


def test_the_attrs_and_their_summary() -> None:
    gb = np.zeros((4, 10), bool)
    gb[:, 4] = True
    attrs = grain_size_attrs(gb, 1.0, 1.0, np.ones((4, 10), bool))
    assert attrs["grain_size_um"] == pytest.approx(80 / 14)
    assert (attrs["grain_size_intercepts"], attrs["grain_size_lines"], attrs["grain_size_lines_without_boundary"]) == (
        14, 14, 10)
    assert "ISO 643" in attrs["grain_size_method"]
    assert describe_grain_size(attrs) == "5.714 µm from 14 intercepts on 14 lines (10 meet no boundary: the grains " \
                                         "may be larger)"
    # every line meets a boundary: no caveat; a store written before the counts were kept: the size alone
    assert describe_grain_size({"grain_size_um": 3.0, "grain_size_intercepts": 4, "grain_size_lines": 2,
                                "grain_size_lines_without_boundary": 0}) == "3 µm from 4 intercepts on 2 lines"
    assert describe_grain_size({"grain_size_um": 2.5}) == "2.5 µm"
