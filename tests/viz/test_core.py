"""The figure core: pages that open offline (external tags dropped) and a figure saved as HTML and PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.options import FigureOptions
from vaearr.viz.core import drop_external_tags, save_figure


def test_external_scripts_and_stylesheets_are_dropped() -> None:
    html = ('<head><script type="text/javascript" src="https://cdn/x.js"></script>\n'
            '<LINK rel="stylesheet" href="a.css">\n<link rel="icon" href="i.png">'
            '<script>inline()</script></head>')
    assert drop_external_tags(html) == '<head><link rel="icon" href="i.png"><script>inline()</script></head>'


def test_save_figure_writes_an_offline_page_and_a_png(tmp_path: Path) -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws figures")
    from vaearr.viz.maps import image_map

    el = image_map(xr.DataArray(np.arange(4.0).reshape(2, 2), dims=("y", "x"), name="bc"), title="my map")
    html, png = save_figure(el, tmp_path / "sub" / "bc", figures=FigureOptions("png", 40))
    assert (html, png) == (tmp_path / "sub" / "bc.html", tmp_path / "sub" / "bc.png")
    text = html.read_text()
    assert "<script src=" not in text.replace("'", '"') and "my map" in text
    assert png.read_bytes()[:4] == b"\x89PNG"
