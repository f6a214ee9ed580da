"""A map's decor: the round scale-bar length, ticks on pixel centres, the legend and the hooks that draw them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from vaearr.viz.decor import MapDecor, decor_of, pixel_ticks, scale_length, scale_text
from vaearr.viz.static import Categories


@pytest.mark.parametrize(("width", "length"), [(100.0, 20.0), (37.0, 10.0), (0.9, 0.2), (24.0, 5.0), (3e4, 5000.0),
                                               (0.0, 1.0), (np.inf, 1.0), (-5.0, 1.0)])
def test_scale_length_is_the_round_length_nearest_a_fifth(width: float, length: float) -> None:
    assert scale_length(width) == length


def test_scale_text() -> None:
    assert scale_text(20.0, "µm") == "20 µm" and scale_text(0.5, "mm") == "0.5 mm"


def test_ticks_fall_on_pixel_centres() -> None:
    ax = Figure().add_subplot()
    pixel_ticks(ax, (0.0, 10.0, 5.0, 0.0), (10, 20))  # 20 columns 0.5 wide, 10 rows 0.5 tall
    x = np.asarray(ax.xaxis.get_major_locator()())
    y = np.asarray(ax.yaxis.get_major_locator()())
    for ticks in (x, y):
        assert len(ticks) >= 2
        np.testing.assert_allclose((ticks - 0.25) / 0.5 % 1, 0, atol=1e-9)  # centres: 0.25 + 0.5 k
    assert ax.xaxis.get_major_formatter()(0.25, 0) == "0.25"


def test_ticks_skip_an_empty_axis() -> None:
    ax = Figure().add_subplot()
    before = ax.xaxis.get_major_locator()
    pixel_ticks(ax, (1.0, 1.0, 0.0, 2.0), (2, 2))
    assert ax.xaxis.get_major_locator() is before


def test_legend_and_hooks() -> None:
    cats = Categories((0, 2), ("0", "2"), ("#0072B2", "#E69F00"), missing="not indexed")
    decor = MapDecor("µm", cats, extra=(("boundaries", "black"),))
    assert decor.legend == [("0", "#0072B2"), ("2", "#E69F00"), ("not indexed", "#d9d9d9"), ("boundaries", "black")]
    hooks = decor.hooks()
    assert hooks == {"bokeh": [decor.bokeh_hook], "matplotlib": [decor.mpl_hook]}
    assert decor_of([print, decor.mpl_hook]) is decor
    assert decor_of(None) is None and decor_of([print]) is None
    assert MapDecor().hooks() == {"bokeh": [], "matplotlib": []} and MapDecor().legend == []


def test_draw_adds_the_scale_bar_and_legend() -> None:
    ax = Figure().add_subplot()
    ax.imshow(np.zeros((4, 5)), extent=(0, 50, 40, 0))
    MapDecor("µm", extra=(("boundary", "red"),)).draw(ax, (0, 50, 40, 0))
    texts = [t.get_text() for a in ax.artists for t in a.findobj(lambda o: hasattr(o, "get_text"))]
    assert "10 µm" in texts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["boundary"]
