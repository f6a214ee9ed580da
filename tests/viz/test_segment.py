"""Segmentation figures: regions coloured apart from their neighbours, and the folder figures go to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.viz.segment import PALETTE, figure_folder, region_colours


def test_neighbouring_regions_take_different_colours() -> None:
    ids = np.array([[0, 0, 1, 1],
                    [2, 2, 1, -1],
                    [2, 3, 3, -1]])
    out = region_colours(xr.DataArray(ids, dims=("y", "x"), name="regions"))
    assert out.name == "regions" and np.isnan(out.values[ids < 0]).all()
    colour = {int(r): out.values[ids == r][0] for r in range(4)}
    assert colour == {0: 0.0, 1: 1.0, 2: 2.0, 3: 0.0}  # greedy in id order: 3 touches 1 and 2, not 0
    for a, b in ((ids[:, :-1], ids[:, 1:]), (ids[:-1], ids[1:])):
        touch = (a >= 0) & (b >= 0) & (a != b)
        assert (np.array([colour[i] for i in a[touch]]) != np.array([colour[j] for j in b[touch]])).all()


def test_more_neighbours_than_colours_cycle_and_empty_maps_stay_nan() -> None:
    n = len(PALETTE) + 1
    star = np.arange(1, n + 1)[None].repeat(3, 0)
    star[1, 1:-1] = 0  # region 0 in the middle touches many
    out = region_colours(xr.DataArray(star, dims=("y", "x"), name="r"))
    assert np.nanmax(out.values) < len(PALETTE)
    empty = region_colours(xr.DataArray(np.full((2, 2), -1), dims=("y", "x"), name="r"))
    assert np.isnan(empty.values).all()


def test_figure_folder_beside_the_store_or_given(tmp_path: Path) -> None:
    assert figure_folder(tmp_path / "map.zarr", None) == tmp_path / "map_segment"
    assert (tmp_path / "map_segment").is_dir()
    assert figure_folder(tmp_path / "map.zarr", None, "spread") == tmp_path / "map_spread"
    assert figure_folder(tmp_path / "map.zarr", tmp_path / "figs") == tmp_path / "figs"
