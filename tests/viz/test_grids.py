"""Image grids as one mosaic: model outputs made displayable, tiles laid out with NaN gaps, labels in natural order."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.viz import grids
from vaearr.viz.grids import displayable, image_grid, tile


def test_displayable_gray_rgb_and_volume_slices() -> None:
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    rgb = displayable(x)
    assert rgb.shape == (2, 2, 2, 3) and rgb[1, 0, 1, 2] == x[1, 2, 0, 1]
    gray = displayable(x[:, :2])  # two channels: the first is shown
    np.testing.assert_array_equal(gray, x[:, 0])
    vol = np.arange(5 * 2 * 2, dtype=np.float32).reshape(1, 1, 5, 2, 2)
    np.testing.assert_array_equal(displayable(vol, spatial_dims=3), vol[:, 0, 2])
    np.testing.assert_array_equal(displayable(vol, spatial_dims=3, z=4), vol[:, 0, 4])


def test_tile_places_each_image_with_nan_between() -> None:
    images = np.arange(2 * 3).reshape(2, 3, 1, 1) * np.ones((2, 3, 2, 2))
    out = tile(images, pad=1)
    assert out.shape == (5, 8)
    assert out[3, 6] == 5.0 and out[0, 3] == 1.0 and np.isnan(out[2]).all() and np.isnan(out[:, 2]).all()
    assert tile(np.ones((1, 2, 2, 2, 3)), pad=0).shape == (2, 4, 3)


def test_labels_sort_naturally() -> None:
    names, per_sample = grids._label_colors(np.array([10, 2, "b", 2, "a"], dtype=object))  # noqa: SLF001 - legend order
    assert names == ["2", "10", "a", "b"] and per_sample.tolist() == ["10", "2", "b", "2", "a"]
    names, per_sample = grids._label_colors(None)  # noqa: SLF001 - legend order
    assert names == ["all"] and per_sample.size == 0


def test_image_grid_is_one_mosaic() -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws the grid")
    el = image_grid(np.zeros((2, 3, 1, 4, 4)), title="t", row_labels=["a", "b"], col_labels=[1, 2, 3])
    assert type(el).__name__ == "Image" and el.data.shape == (9, 14)
