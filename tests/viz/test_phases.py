"""Phase maps: fractions and names, which variables are phase maps, and the figure written from a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import StoreError
from vaearr.store import write_variable
from vaearr.viz.phases import phase_figure, phase_fractions, phase_maps, phase_names


def phase_id(values, **attrs) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, np.int8), dims=("y", "x"), name="phase_id", attrs=attrs)


def test_fractions_of_the_indexed_pixels() -> None:
    da = phase_id([[1, 1, 2], [-1, 1, 2]], phases=[{"id": 1, "name": "fcc"}, {"id": 2}])
    assert phase_fractions(da) == [(1, "fcc", 0.6, 3), (2, "phase 2", 0.4, 2)]
    assert phase_names(da) == {"1": "fcc 60.0 %", "2": "phase 2 40.0 %"}
    assert phase_fractions(phase_id([[-1, -1]])) == []


def test_phase_maps_are_integer_maps_that_say_so() -> None:
    ds = xr.Dataset({
        "phase_id": phase_id([[0, 1]], phases=[{"id": 0}]),
        "orientation_phase_id": phase_id([[0, 1]], phases=[{"id": 0}]),
        "phases": phase_id([[0, 1]], phase_list=[]),
        "bare_phase_id": phase_id([[0, 1]]),  # no phases recorded
        "float_map": (("y", "x"), np.zeros((1, 2)), {"phase_list": []}),
    })
    assert phase_maps(ds) == ["phase_id", "orientation_phase_id", "phases"]


def test_phase_figure_names_the_phase_maps_a_store_has(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    da = phase_id([[0, 1], [1, 1]]).assign_coords(y=[0.0, 0.5], x=[0.0, 0.5])
    write_variable(store, "phases", da, attrs={"phase_list": [{"id": 0, "name": "a"}]})
    with pytest.raises(StoreError, match="phases"):
        phase_figure(store, tmp_path, name="nope")
    assert not list(tmp_path.glob("*.html"))
