"""Tiles of a map at full resolution for the report's zoom: their colours, files, placement, and the hooks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.viz.zoom import TILE, Tiles, colours, map_hook, publish, rgb_hook


def grid(values, name: str = "v", step: float = 0.5) -> xr.DataArray:
    values = np.asarray(values)
    return xr.DataArray(values, dims=("y", "x"), name=name,
                        coords={"y": np.arange(values.shape[0]) * step, "x": np.arange(values.shape[1]) * step})


def test_colours_map_the_range_and_nan() -> None:
    rgba = colours(np.array([[0.0, 5.0, 10.0, np.nan, 20.0]]), cmap=["#000000", "#ffffff"], clim=(0, 10),  # two colours: halves
                   nan_color="red")
    assert rgba.dtype == np.uint8 and rgba.shape == (1, 5, 4)
    assert rgba[0, :3, 0].tolist() == [0, 255, 255] and rgba[0, 4].tolist() == [255, 255, 255, 255]  # clipped
    assert rgba[0, 3].tolist() == [255, 0, 0, 255]
    clear = colours(np.array([[np.nan, 1.0]]), cmap="viridis", clim=(1, 1), nan_color="transparent")
    assert clear[0, 0].tolist() == [0, 0, 0, 0] and clear[0, 1, 3] == 255


def test_tiles_cover_the_map_and_are_placed_by_coordinates(tmp_path: Path) -> None:
    tiles = Tiles(tmp_path)
    da = grid(np.zeros((TILE + 1, 3)), step=2.0)
    rgba = np.zeros((TILE + 1, 3, 4), np.uint8)
    meta = tiles.write("latent[0] / x", rgba, da)
    assert meta["root"] == "tiles/" and meta["limit"] == 2.0
    assert [t[0] for t in meta["tiles"]] == ["latent_0____x/0_0", "latent_0____x/1_0"]
    assert meta["tiles"][1][1:] == [-1.0, TILE * 2.0 - 1.0, 6.0, 2.0]  # left, top edge, width, height
    assert tiles.written == 2 and tiles.bytes > 0
    files = sorted((tmp_path / "tiles.new" / "latent_0____x").iterdir())
    assert [f.name for f in files] == ["0_0.js", "1_0.js"]
    assert "data:image/png;base64," in files[0].read_text()
    assert tiles.write("latent[0] / x", rgba, da) is meta  # written once
    publish(tiles)
    assert (tmp_path / "tiles" / "latent_0____x" / "0_0.js").is_file() and not (tmp_path / "tiles.new").exists()


def test_irregular_or_tiny_grids_get_no_tiles(tmp_path: Path) -> None:
    tiles = Tiles(tmp_path)
    rgba = np.zeros((2, 3, 4), np.uint8)
    assert tiles.write("a", rgba, grid(np.zeros((2, 3))).assign_coords(x=[0.0, 1.0, 3.0])) is None
    assert tiles.write("b", rgba, grid(np.zeros((2, 3))).assign_coords(x=[2.0, 1.0, 0.0])) is None
    assert tiles.write("c", rgba[:1], grid(np.zeros((1, 3)))) is None
    assert tiles.hook("a", rgba, grid(np.zeros((2, 3))).assign_coords(x=[0.0, 1.0, 3.0])) is None
    assert tiles.written == 0


def test_map_hook_needs_tiles_and_matching_labels(tmp_path: Path) -> None:
    full = grid(np.array([[0, 1], [2, 2]]), "phase_id")
    assert map_hook(None, "phase_id", full, full) is None
    tiles = Tiles(tmp_path)
    assert map_hook(tiles, "phase_id", full, full[:1]) is None  # the overview misses label 2: colours would shift
    assert callable(map_hook(tiles, "phase_id", full, full))
    assert callable(map_hook(tiles, "bc", grid([[1.0, 2.0], [3.0, np.nan]], "bc"), grid([[1.0]], "bc")))
    assert set(tiles.maps) == {"phase_id", "bc"}
    assert callable(map_hook(tiles, "bc", full, full))  # written before: reused
    assert callable(rgb_hook(tiles, "ipf", grid(np.zeros((2, 2))).expand_dims(rgb=3, axis=-1)))
    assert rgb_hook(None, "ipf", full) is None
    assert json.loads(json.dumps(tiles.maps["ipf"]))["tiles"][0][0] == "ipf/0_0"
