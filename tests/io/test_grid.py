"""Scan grids from point coordinates (:mod:`vaearr.io.grid`): square grids in any row order, float noise within the
tolerance, the one-line errors for off-grid, duplicated and missing coordinates, hexagonal and irregular scans
assembled with a warning, and points matched to a known grid."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError, VaearrWarning
from vaearr.io.grid import Grid, infer_grid, place_on_grid


def _square(ny: int, nx: int, step: float, x0: float = 0.0, y0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    iy, ix = np.divmod(np.arange(ny * nx), nx)
    return x0 + ix * step, y0 + iy * step


def test_a_square_grid_in_any_order_gives_every_row_its_node() -> None:
    x, y = _square(3, 4, 0.5, x0=10.0, y0=-1.0)
    order = np.random.default_rng(0).permutation(12)
    g = infer_grid(x[order], y[order])
    assert g.kind == "square" and g.shape == (3, 4) and g.missing == 0
    np.testing.assert_allclose(g.x, 10.0 + 0.5 * np.arange(4))
    np.testing.assert_allclose(g.y, -1.0 + 0.5 * np.arange(3))
    # the node of each input row is where that row's coordinates are
    iy, ix = np.unravel_index(np.argsort(g.index.ravel()), g.shape)
    np.testing.assert_allclose(g.x[ix], x[order])
    np.testing.assert_allclose(g.y[iy], y[order])


def test_float_noise_within_the_tolerance_and_holes_are_missing_nodes() -> None:
    x, y = _square(4, 5, 1.5)
    noisy = infer_grid(x + np.random.default_rng(1).uniform(-1e-7, 1e-7, 20), y)  # a CSV's rounding
    np.testing.assert_array_equal(noisy.index, np.arange(20).reshape(4, 5))
    # on a known grid, noise up to the tolerance (5 % of the step)
    shaken = x + np.random.default_rng(1).uniform(-0.07, 0.07, 20)
    np.testing.assert_array_equal(place_on_grid(shaken, y, np.arange(5) * 1.5, np.arange(4) * 1.5),
                                  np.arange(20).reshape(4, 5))
    keep = np.ones(20, bool)
    keep[[6, 13]] = False
    g = infer_grid(x[keep], y[keep])
    assert g.shape == (4, 5) and g.missing == 2 and g.index[1, 1] == -1 and g.index[2, 3] == -1


@pytest.mark.parametrize(("x", "y", "words"), [
    ([0, 1, "a"], [0, 0, 0], "x/y coordinates are not numeric"),
    ([0, 1, np.nan], [0, None, 0], "missing or not numeric in 2 rows (first: row 2)"),
    ([[0, 1]], [[0, 0]], "x and y must be two columns of the same length"),
    ([], [], "no scan points"),
    ([0, 1, 1, 0], [0, 0, 0, 1], "duplicated coordinate x=1, y=0 (rows 2 and 3)"),
])
def test_bad_coordinates_are_one_line_naming_the_file(x, y, words) -> None:
    with pytest.raises(InputError, match="scan.csv") as err:
        infer_grid(np.array(x, dtype=object), np.array(y, dtype=object), path="scan.csv")
    assert words in str(err.value)


def test_one_point_off_a_grid_the_rest_fit_is_named() -> None:
    x, y = _square(5, 5, 1.0)
    x[7] += 0.4
    with pytest.raises(InputError, match=r"off-grid coordinate x=2.4, y=1 \(row 8\) on a 1 × 1 µm grid \(1 such rows\)"):
        infer_grid(x, y, path="s.csv")
    assert infer_grid(x, y, tol=0.5).shape == (5, 5)  # a looser tolerance takes it


def test_a_hexagonal_scan_is_assembled_onto_a_square_grid_with_a_warning() -> None:
    rows = [(np.arange(4) * 1.0 + (0.5 if r % 2 else 0.0), np.full(4, r * 0.866)) for r in range(4)]
    x, y = (np.concatenate(v) for v in zip(*rows))
    with pytest.warns(VaearrWarning, match=r"hex.csv: hexagonal scan grid assembled onto a square 4×4 grid"):
        g = infer_grid(x, y, path="hex.csv")
    assert g.kind == "hexagonal" and g.shape == (4, 4)
    np.testing.assert_allclose(g.x, np.arange(4.0))
    np.testing.assert_allclose(g.y, 0.866 * np.arange(4))
    # each node takes the nearest point, ties towards lower x: odd rows take the point half a step right of the node
    np.testing.assert_array_equal(g.index[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(g.index[1], [4, 4, 5, 6])


def test_an_irregular_scan_is_assembled_at_its_point_spacing() -> None:
    rng = np.random.default_rng(0)
    x, y = _square(6, 6, 1.0)
    x = x + rng.uniform(-0.3, 0.3, 36)
    with pytest.warns(VaearrWarning, match="irregular scan grid"):
        g = infer_grid(x, y)
    assert g.kind == "irregular" and g.missing < 6
    assert isinstance(g, Grid) and np.all(np.diff(g.x) > 0)


def test_points_placed_on_a_known_grid() -> None:
    gx, gy = np.arange(3) * 2.0, np.arange(2) * 2.0
    np.testing.assert_array_equal(place_on_grid([4.0, 0.0, 2.01], [2.0, 0.0, 0.0], gx, gy),
                                  [[1, 2, -1], [-1, -1, 0]])
    with pytest.raises(InputError, match=r"x=1, y=0 \(row 1\) is between grid nodes \(1 such rows; grid 2×3"):
        place_on_grid([1.0], [0.0], gx, gy, path="t.csv")
    with pytest.raises(InputError, match=r"x=6, y=0 \(row 2\) is outside the scan"):
        place_on_grid([0.0, 6.0], [0.0, 0.0], gx, gy, path="t.csv")
    with pytest.raises(InputError, match=r"duplicated coordinate x=2, y=2 \(rows 1 and 2\)"):
        place_on_grid([2.0, 2.0], [2.0, 2.0], gx, gy, path="t.csv")
    with pytest.warns(VaearrWarning, match="non-square scan grid assembled"):
        near = place_on_grid([0.9, 3.2], [0.1, 1.9], gx, gy, nearest=True)
    np.testing.assert_array_equal(near, [[0, 0, -1], [-1, 1, 1]])  # a node farther than a step from every point: none
