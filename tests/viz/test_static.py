"""What every map shows the same way: which variables are labels, their categories and legend, units, the look of a
map, and the static files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.options import FigureOptions
from vaearr.viz.static import (
    CATEGORICAL, MASK_COLORS, MAX_LEGEND, NEUTRAL, Categories, axis_units, categories, draw_maps, label_kind, look_of,
    save_static, value_label, value_units,
)


def grid(values, name: str | None = "v", **attrs) -> xr.DataArray:
    values = np.asarray(values)
    return xr.DataArray(values, dims=("y", "x"), name=name, attrs=attrs,
                        coords={"y": np.arange(values.shape[0]) * 0.5, "x": np.arange(values.shape[1]) * 0.5})


@pytest.mark.parametrize(("da", "kind"), [
    (grid(np.zeros((2, 2), bool)), "mask"),
    (grid(np.zeros((2, 2), np.int8), "roi"), "mask"),
    (grid([[0, 2], [1, 1]], "roi"), "labels"),
    (grid(np.zeros((2, 2), int), "cluster_gmm_dim0"), "labels"),
    (grid(np.zeros((2, 2), int), "orientation_grains"), "labels"),
    (grid(np.zeros((2, 2), int), "my_segments"), "labels"),
    (grid(np.zeros((2, 2), int), "bands"), None),
    (grid(np.zeros((2, 2), int), "bands", noise=-1), "labels"),
    (grid(np.zeros((2, 2), int), "phase_id", categorical=False), None),
    (grid(np.zeros((2, 2)), "kam", categorical=True), "labels"),
    (grid(np.zeros((2, 2)), "phase_id"), None),
])
def test_label_kind(da: xr.DataArray, kind: str | None) -> None:
    assert label_kind(da) == kind


def test_categories_name_colour_and_leave_out_negative_and_nan() -> None:
    da = grid([[5.0, np.nan], [3.0, -1.0]], "phase_id", phase_names={"3": "ferrite", "5": "austenite"})
    codes, cats = categories(da)
    assert codes.tolist()[0][0] == 1.0 and codes.tolist()[1][0] == 0.0 and np.isnan(codes[[0, 1], [1, 1]]).all()
    assert cats == Categories((3, 5), ("3: ferrite", "5: austenite"), CATEGORICAL[:2], "not indexed")
    noise = categories(grid([[0, -1]], "cluster_x", noise=-1))[1]
    assert noise.missing == "noise / outside the mask" and noise.names == ("0",)
    flags = categories(grid([[0, 1]], "s", flag_values=[0, 1], flag_meanings="air tissue"))[1]
    assert flags.names == ("0: air", "1: tissue") and flags.missing is None
    listed = categories(grid([[0, 1]], "labels", labels=["a", "b"]))[1]
    assert listed.names == ("0: a", "1: b")


def test_masks_and_boundaries_name_their_two_values() -> None:
    assert categories(grid([[True, False]], "roi"))[1].names == ("outside", "inside")
    cats = categories(grid([[True, False]], "grain_boundaries"))[1]
    assert cats.names == ("no boundary", "boundary") and cats.colors == MASK_COLORS


def test_legend_lists_labels_then_the_missing_and_counts_beyond_the_palette() -> None:
    cats = categories(grid(np.arange(MAX_LEGEND + 1)[None], "grains"))[1]
    assert cats.legend == [(f"{MAX_LEGEND + 1} labels (cycled colours)", CATEGORICAL[0])]
    assert cats.colors[-1] == CATEGORICAL[0]  # colours cycle
    few = Categories((0,), ("0",), ("#000",), "not indexed")
    assert few.legend == [("0", "#000"), ("not indexed", NEUTRAL)]


def test_units() -> None:
    da = grid(np.zeros((2, 2)), "kam", units="degrees")
    assert axis_units(da, "x") == "µm"
    assert axis_units(da.assign_coords(x=da.x.assign_attrs(units="nm")), "x") == "nm"
    assert axis_units(da.assign_coords(x=da.x.assign_attrs(units="μm")), "x") == "µm"  # Greek mu
    assert axis_units(da.assign_coords(x=da.x.assign_attrs(units="s")), "x") is None
    assert axis_units(da.drop_vars("x"), "x") is None
    assert value_units(da) == "°" and value_label(da) == "kam (°)" and value_label(da, "KAM (°)") == "KAM (°)"
    assert value_units(grid([[0]], "c", units="rgb")) is None and value_units(grid([[0]], "c", units=" ")) is None
    assert value_units(grid([[0]], "c", units="counts")) == "counts" and value_label(grid([[0]], None)) == "value"


def test_look_of_a_value_map_and_a_label_map() -> None:
    da = grid([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]], "bc")
    look = look_of(da)
    assert look.extent == (-0.25, 1.25, 0.75, -0.25)  # pixel edges, y downward
    assert look.clim == (1.0, 6.0) and look.colorbar == "bc" and look.title == "bc"
    assert (look.xlabel, look.ylabel) == ("x (µm)", "y (µm)") and look.decor.units == "µm"
    labels = look_of(grid([[0, 1], [1, 1]], "phase_id"), title="phases")
    assert labels.colorbar is None and labels.clim == (-0.5, 1.5) and labels.nan_color == NEUTRAL
    assert labels.cmap == list(CATEGORICAL[:2]) and labels.title == "phases"
    bare = look_of(grid(np.full((2, 2), np.nan)).drop_vars(["x", "y"]), colorbar=None)
    assert bare.clim == (0.0, 1.0) and bare.colorbar is None and bare.xlabel == "x" and bare.decor.units is None


def test_draw_and_save_every_format(tmp_path: Path) -> None:
    looks = [look_of(grid([[0.0, 1.0], [2.0, 3.0]], "a")), look_of(grid([[0, 1], [1, 0]], "phase_id"))]
    fig = draw_maps(looks, cols=3)
    assert len(fig.axes) == 3  # two maps and the first one's colour bar
    paths = save_static(fig, tmp_path / "maps", FigureOptions("png,svg", 50))
    assert paths == [tmp_path / "maps.png", tmp_path / "maps.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in paths[1].read_bytes()[:400]
