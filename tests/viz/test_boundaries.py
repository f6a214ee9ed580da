"""Boundary figures: the strength map with grain and low-angle boundaries over it, counted in the legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.options import FigureOptions
from vaearr.viz.boundaries import angle_figure, boundary_figure


def grid(values, name: str) -> xr.DataArray:
    values = np.asarray(values)
    return xr.DataArray(values, dims=("y", "x"), name=name, coords={"y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]})


def test_boundaries_counted_in_the_legend(tmp_path: Path) -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws the figure")
    strength = grid(np.arange(6.0).reshape(2, 3), "boundary_strength")
    grains = grid([[True, True, False], [False, False, False]], "grain_boundaries")
    low = grid(np.zeros((2, 3), bool), "low_angle_boundaries")  # empty: no layer, still in the legend
    files = boundary_figure(strength, grains, low, tmp_path, figures=FigureOptions("png", 40))
    assert files == {"map_html": tmp_path / "boundaries.html", "map_png": tmp_path / "boundaries.png"}
    text = files["map_html"].read_text()
    assert "grain boundaries (2 px)" in text and "low-angle boundaries (0 px)" in text


def test_angles_drawn_up_to_the_grain_angle(tmp_path: Path) -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws the figure")
    angle = grid([[1.0, np.inf, np.nan], [30.0, 5.0, np.nan]], "boundary_angle")
    files = angle_figure(angle, tmp_path, name="a", grain_angle=10.0, figures=FigureOptions("png", 40))
    assert set(files) == {"angle_html", "angle_png"} and files["angle_png"].is_file()
    assert "10\\u00b0 and over: top colour" in files["angle_html"].read_text()
