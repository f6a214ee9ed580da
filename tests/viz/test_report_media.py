"""The report's building blocks: escaping, number formats, tables, embedded pictures, map subsampling, colours."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from PIL import Image

from vaearr.viz.report_media import (
    MAX_MAP_SIDE, REPORT_DPI, Fig, Section, categorical_colors, definitions, esc, fmt, image_rows, img, png_uri, small,
    stride_of, table,
)


def png_bytes(size: tuple[int, int], dpi: float) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


def decoded(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_fmt_and_esc() -> None:
    assert fmt(np.float32(0.123456)) == "0.1235" and fmt(1234567.0) == "1.235e+06"
    assert fmt(float("nan")) == "—" and fmt(np.inf) == "—" and fmt(7) == "7" and fmt("a") == "a"
    assert esc("<b> & 'q'") == "&lt;b&gt; &amp; &#x27;q&#x27;"


def test_table_sorts_numbers_as_numbers_and_escapes_text() -> None:
    html = table(["name", "value"], [("<a>", 2), ("b", 0.5), ("c", True)], sortable=True, id="t", caption="cap",
                 scroll=True)
    assert html.startswith('<div class="scroll"><table id="t" class="sortable"><caption>cap</caption>')
    assert "<th>name</th><th>value</th>" in html
    assert '<td>&lt;a&gt;</td><td data-v="2.0">2</td>' in html and '<td data-v="0.5">0.5</td>' in html
    assert "<td>True</td>" in html  # booleans are not numbers to sort
    assert table(["a"], []).startswith("<table><thead>")
    assert definitions({"k<": 0.25}) == '<table class="defs"><tbody><tr><th>k&lt;</th><td>0.25</td></tr></tbody></table>'


def test_png_uri_scales_print_resolution_down(tmp_path: Path) -> None:
    big = png_bytes((300, 150), 3 * REPORT_DPI)
    assert decoded(png_uri(big)).size == (100, 50)
    (tmp_path / "a.png").write_bytes(png_bytes((40, 20), REPORT_DPI))
    assert png_uri(tmp_path / "a.png") == "data:image/png;base64," + base64.b64encode((tmp_path / "a.png").read_bytes()).decode()
    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1])
    assert decoded(png_uri(fig)).format == "PNG"
    html = img(big, "a <map>", width=120)
    assert 'alt="a &lt;map&gt;" style="max-width:120px">' in html and "<figcaption>a &lt;map&gt;</figcaption>" in html


def test_section_counts_its_figures() -> None:
    sec = Section("s", "S")
    sec.html("<p>text</p>")
    sec.html('<figure><img src="x"></figure>')
    sec.fig(object())
    sec.tabs([])  # no pages: nothing added
    one = object()
    sec.tabs([("a", one)], linked=True)  # one page: the figure alone
    sec.tabs([("a", one), ("b", one)])
    assert sec.figures == 4
    assert sec.blocks[-2] == Fig(one, linked=True) and sec.blocks[-1] == Fig(None, tabs=[("a", one), ("b", one)])


def test_stride_brings_the_map_under_the_largest_side() -> None:
    ds = xr.Dataset({"v": (("y", "x"), np.zeros((2 * MAX_MAP_SIDE + 1, 10)))})
    assert stride_of(ds) == 3 and stride_of(xr.Dataset({"v": ("t", np.zeros(5))})) == 1
    da = xr.DataArray(np.arange(20).reshape(4, 5), dims=("y", "x"))
    assert small(da, 2).values.tolist() == [[0, 2, 4], [10, 12, 14]] and small(da, 1).shape == (4, 5)


def test_categorical_colors() -> None:
    assert categorical_colors(2) == ["#1f77b4", "#ff7f0e"] and len(categorical_colors(0)) == 1
    many = categorical_colors(25)
    assert len(many) == 25 and len(set(many)) == 20 and many[20] == many[0]


def test_image_rows_draws_one_row_per_label() -> None:
    fig = image_rows([("inputs", np.zeros((3, 4, 4))), ("recon", np.ones((2, 4, 4)))], title="t", clim=(0, 1))
    assert len(fig.axes) == 5 and fig.axes[0].get_ylabel() == "inputs" and fig.axes[3].get_ylabel() == "recon"
