"""Quick Bokeh figures: a map as a panel (placement, orientation, range), the page built once and written with
other values, the static twins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.options import FigureOptions
from vaearr.viz.quickfig import MapPanel, forget_pages, look, map_panel, maps_figure, palette, scatter_static


def grid(values, x, y, name: str = "bc") -> xr.DataArray:
    return xr.DataArray(np.asarray(values), dims=("y", "x"), coords={"x": x, "y": y}, name=name)


def test_map_panel_places_pixel_centres() -> None:
    p = map_panel(grid([[1, 2, 3], [4, 5, 6]], [0.0, 0.5, 1.0], [10.0, 11.0]), title="t")
    assert (p.x0, p.y0, p.dx, p.dy) == (-0.25, 9.5, 0.5, 1.0)
    assert p.z.dtype == np.float64 and p.clim == (1.0, 6.0) and p.units == "µm" and p.name == "bc"
    assert p.aspect == pytest.approx(1.5 / 2.0)


def test_map_panel_turns_descending_coordinates_around() -> None:
    p = map_panel(grid([[1.0, 2.0], [3.0, 4.0]], [1.0, 0.0], [5.0, 4.0]), title="t", clim=(0, 10), name="n")
    assert p.z.tolist() == [[4.0, 3.0], [2.0, 1.0]] and (p.x0, p.y0, p.dx, p.dy) == (-0.5, 3.5, 1.0, 1.0)
    assert p.clim == (0, 10) and p.name == "n"


def test_map_panel_of_uneven_or_empty_maps() -> None:
    assert map_panel(grid(np.zeros((1, 3)), [0.0, 1.0, 3.0], [0.0]), title="t") is None
    p = map_panel(grid(np.full((1, 1), np.nan), [2.0], [3.0]), title="t")
    assert (p.dx, p.dy, p.clim) == (1.0, 1.0, (0.0, 1.0))


def test_palette_and_look() -> None:
    colours = palette("gray", 3)
    assert colours == ("#000000", "#808080", "#ffffff")
    p = MapPanel(np.zeros((2, 4)), 0.0, 0.0, 0.5, 0.5, "title", "bc", units="µm")
    lk = look(p)
    assert lk.extent == (0.0, 2.0, 1.0, 0.0) and (lk.xlabel, lk.ylabel) == ("x (µm)", "y (µm)")
    assert lk.colorbar == "bc" and lk.decor.units == "µm"


def test_a_page_built_once_writes_each_figure_with_its_own_values(tmp_path: Path) -> None:
    pytest.importorskip("bokeh", reason="the viz extra writes the HTML")
    forget_pages()
    png = FigureOptions("png", 40)
    first = map_panel(grid([[1.0, 2.0]], [0.0, 1.0], [0.0]), title="first map")
    second = map_panel(grid([[7.0, 9.0]], [0.0, 1.0], [0.0]), title="second map")
    a = maps_figure([first], tmp_path / "a", cols=1, frame=80, figures=png)
    b = maps_figure([second], tmp_path / "b", cols=1, frame=80, figures=png)
    ta, tb = a.read_text(), b.read_text()
    assert "first map" in ta and "second map" not in ta and "second map" in tb and "first map" not in tb
    assert "<title>b</title>" in tb and (tmp_path / "b.png").is_file()
    forget_pages()


def test_scatter_static_drops_non_finite_points() -> None:
    x = np.array([0.0, 1.0, np.nan, 3.0])
    fig = scatter_static(x, {"a": np.array([1.0, np.nan, 2.0, 3.0]), "b": x}, ["A", "B"], "dim 0", cols=5)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "A" and fig.axes[1].get_ylabel() == "b"
    assert len(fig.axes[0].collections[0].get_offsets()) == 2 and len(fig.axes[1].collections[0].get_offsets()) == 3
