"""Spread figures: the kernel and domain spreads and the recrystallised fraction, in their units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.options import FigureOptions
from vaearr.viz.spread import spread_figure


def grid(values, name: str, **attrs) -> xr.DataArray:
    return xr.DataArray(np.asarray(values), dims=("y", "x"), name=name, attrs=attrs,
                        coords={"y": [0.0, 1.0], "x": [0.0, 1.0]})


def test_spread_figure_titles(tmp_path: Path) -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws the figure")
    kernel = grid([[0.5, 1.0], [2.0, np.nan]], "kernel_spread", units="degrees")
    domain = grid([[0.1, 10.0], [100.0, np.nan]], "domain_spread")
    rex = grid([[True, False], [False, False]], "recrystallised")
    files = spread_figure(kernel, domain, rex, tmp_path, figures=FigureOptions("png", 40))
    text = files["map_html"].read_text()
    # titles as the page's JSON writes them (non-ASCII escaped): "kernel_spread (°)", "… (× noise)"
    assert "kernel_spread (\\u00b0)" in text and "log10 domain_spread (\\u00d7 noise)" in text
    assert "recrystallised: 33 % of the pixels" in text and files["map_png"].is_file()
