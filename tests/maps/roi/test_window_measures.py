"""What the training window's chooser measures (:mod:`vaearr.maps.roi.window_measures`) on lines and grids small
enough to count by hand: the bands read, boundary steps and crossings, the mean intercept, the kinds and their
cover, the best place for a box."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.maps.roi.window_measures import (
    BOUNDARY_CORRELATION,
    KindGrid,
    centre_correlation,
    find_kinds,
    mean_intercept,
    place,
    read_bands,
    steps,
)


def test_bands_of_rows_spread_over_the_map() -> None:
    assert read_bands(10, 10) == [(0, 10)]  # the whole map when it fits the budget
    assert read_bands(100, 10, budget=200, rows=4) == [(0, 4), (24, 28), (48, 52), (72, 76), (96, 100)]
    assert read_bands(3, 1000, budget=10) == [(0, 3)]


def _line(values: list[float]) -> np.ndarray:
    """One line of one whitened feature (unit noise): ±3 are far apart (a boundary), equal signs alike."""
    return np.array(values, float)[None, :, None]


def test_steps_and_crossings_along_a_line() -> None:
    # noise-free correlation of 3 and −3 with unit noise: 1 − (36 − 2) / (9 + 9 − 2) < 0; of 3 and 3: above 1
    inside = np.ones((1, 5), bool)
    assert steps(_line([3, 3, -3, -3, 3]), inside) == (2, 4, 4)
    assert steps(_line([3, -3, 3, 3, 3]), inside) == (1, 4, 4)  # a run of boundary steps is one crossing
    # a masked pixel is stepped over (the step is 2 long); two masked ones too, three not
    assert steps(_line([3, 3, 0, -3, -3]), np.array([[True, True, False, True, True]])) == (1, 3, 4)
    gap3 = np.array([[True, False, False, False, True]])
    assert steps(_line([3, 0, 0, 0, -3]), gap3) == (0, 0, 0)
    assert steps(_line([3]), np.ones((1, 1), bool)) == (0, 0, 0)


def test_the_mean_intercept_over_rows_and_columns() -> None:
    f = np.full((4, 8, 1), 3.0)
    f[:, 4:] = -3.0  # a vertical boundary: each row crosses it once, no column does
    out = mean_intercept([(0, f, np.ones((4, 8), bool))])
    assert out["crossings"] == 4 and out["line_length"] == 4 * 7 + 8 * 3
    assert out["intercept_rows"] == 7.0 and out["intercept_columns"] is None and out["grain_size"] == 52 / 4
    assert mean_intercept([(0, np.full((2, 2, 1), 3.0), np.ones((2, 2), bool))])["grain_size"] is None


def test_kinds_are_as_many_distinct_clusters_as_there_are() -> None:
    centres = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.1]])
    r = centre_correlation(centres)
    assert np.allclose(np.diag(r), 1.0) and r[0, 1] == pytest.approx(0.0) and r[0, 2] > BOUNDARY_CORRELATION
    rng = np.random.default_rng(0)
    sample = np.concatenate([rng.normal(0, 0.1, (40, 2)) + c for c in ([5, 0], [0, 5], [-5, 0])])
    km = find_kinds(sample)
    assert km is not None and km.n_clusters == 3
    assert find_kinds(rng.normal(0, 0.1, (60, 2)) + 5) is None  # one kind


def _grid() -> KindGrid:
    """An 8 × 8 map read on every row: kind 0 left of column 4, kind 1 right, kind −1 (none) in row 0."""
    labels = np.zeros((8, 8), int)
    labels[:, 4:] = 1
    labels[0] = -1
    return KindGrid(np.arange(8), labels, 2, (8, 8))


def test_the_kinds_a_box_holds() -> None:
    g = _grid()
    assert g.share.tolist() == [0.5, 0.5]
    assert g.counts(1, 3, 2, 6).tolist() == [4, 4] and g.counts(0, 1, 0, 8).tolist() == [0, 0]
    assert g.cover(np.array([4, 4])) == 1.0 and g.cover(np.array([6, 2])) == 0.5 and g.cover(np.zeros(2)) == 0.0
    assert g.held(np.array([15, 1])) == 1 and g.held(np.array([6, 2])) == 2 and g.held(np.zeros(2)) == 0
    assert g.divergence(np.array([4, 4])) == pytest.approx(0.0) and g.divergence(np.array([8, 0])) == np.inf
    assert g.divergence(np.array([6, 2])) == pytest.approx(0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25))


def test_a_box_placed_where_its_kinds_cover_the_maps() -> None:
    g = _grid()
    box, cover = place(g, (4, 4), np.ones((8, 8), bool))
    assert cover == 1.0 and box[2] == 2 and box[3] == 6  # straddling the two kinds' border
    inside = np.ones((8, 8), bool)
    inside[:4] = False
    box, _ = place(g, (4, 4), inside)
    assert box == (4, 8, 2, 6)  # ties: the most pixels inside the mask
