"""The map probe's click → grid cell rule (tests/viz/test_explore_map.py reads pixels and boxes of a trained run's
map through the explorer MapProbe serves)."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.analysis import map_probe

X = np.array([0.0, 0.5, 1.0, 1.5])  # cell centres, 0.5 µm apart: cells span ±0.25 µm


@pytest.mark.parametrize(("value", "index"), [(0.0, 0), (0.24, 0), (0.26, 1), (1.74, 3), (-0.25, 0), (1.75, 3)])
def test_a_click_lands_in_the_cell_that_holds_it(value: float, index: int) -> None:
    assert map_probe._index(X, value) == index  # noqa: SLF001 - the cell rule, without a store and a run


@pytest.mark.parametrize("value", [-0.26, 1.76, np.inf])
def test_a_click_outside_the_map_is_none(value: float) -> None:
    assert map_probe._index(X, value) is None  # noqa: SLF001 - the cell rule, without a store and a run


def test_a_single_cell_holds_every_click() -> None:
    assert map_probe._index(np.array([3.0]), -100.0) == 0  # noqa: SLF001 - the cell rule, without a store and a run
