"""The pixels of a variable inside a mask, chunk by chunk (:mod:`vaearr.maps.decomposition.masked`): rows, the fit
sample, the projection into a map, the components, the one-line errors of a missing variable or mask."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import StoreError
from vaearr.maps.decomposition.masked import MaskedPixels, mask_array


def _ds(chunks: int | None = 2) -> xr.Dataset:
    data = np.arange(5 * 4 * 3, dtype=np.float64).reshape(5, 4, 3)
    roi = np.ones((5, 4), bool)
    roi[0, :] = roi[:, 0] = False  # 12 pixels in the mask
    ds = xr.Dataset({"p": (("y", "x", "f"), data), "roi": (("y", "x"), roi)},
                    coords={"y": np.arange(5) * 0.5, "x": np.arange(4) * 0.5, "f": ["a", "b", "c"]})
    return ds.chunk({"y": chunks}) if chunks else ds


def test_the_masked_pixels_row_block_by_row_block() -> None:
    px = MaskedPixels(_ds(), "p", "roi")
    assert px.n == 12 and px.feat_shape == (3,) and px.feat_dims == ["f"]
    assert px.blocks == [slice(0, 2), slice(2, 4), slice(4, 5)]
    rows = np.concatenate([px.rows(b) for b in px.blocks])
    data = _ds(None).p.values
    assert rows.dtype == np.float32 and np.array_equal(rows, data[1:, 1:].reshape(-1, 3))
    assert px.pixel(2, 3).tolist() == data[2, 3].tolist()
    assert px.positions(np.array([0, 3, 11])).tolist() == [[1, 1], [2, 1], [4, 3]]


def test_the_sample_is_seeded_in_raster_order_and_knows_the_minimum() -> None:
    px = MaskedPixels(_ds(), "p", "roi")
    s = px.sample(5, seed=3)
    assert s.x.shape == (5, 3) and (np.diff(s.index) > 0).all()
    assert np.array_equal(s.x, np.concatenate([px.rows(b) for b in px.blocks])[s.index])
    assert s.minimum == float(_ds(None).p.values[1:, 1:].min())
    assert np.array_equal(px.sample(5, seed=3).index, s.index)
    assert px.sample(100, seed=0).x.shape == (12, 3)  # fewer pixels than asked: all


def test_the_projection_is_nan_outside_the_mask_and_measures_its_error() -> None:
    px = MaskedPixels(_ds(), "p", "roi")
    proj = px.project(lambda x: x[:, :2], 2, component_dim="k", reconstruct=lambda s: np.c_[s, np.zeros(len(s))])
    scores = proj.scores
    assert scores.dims == ("y", "x", "k") and scores.x.values.tolist() == [0.0, 0.5, 1.0, 1.5]
    assert np.isnan(scores.values[0]).all() and np.isnan(scores.values[:, 0]).all()
    data = _ds(None).p.values[1:, 1:]
    assert np.array_equal(scores.values[1:, 1:], data[..., :2].astype(np.float32))
    assert proj.relative_error == pytest.approx(np.sqrt((data[..., 2] ** 2).sum() / (data ** 2).sum()))
    # a shift applied first; no reconstruction: no error
    shifted = px.project(lambda x: x[:, :1], 1, transform=lambda x: x + 100)
    assert shifted.relative_error is None and np.nanmin(shifted.scores.values) == data[..., 0].min() + 100


def test_components_are_shaped_like_a_pixel() -> None:
    px = MaskedPixels(_ds(), "p", None)
    assert px.n == 20
    c = px.components(np.eye(3)[:2], component_dim="k")
    assert c.dims == ("k", "f") and c.dtype == np.float32 and c.f.values.tolist() == ["a", "b", "c"]


def test_a_missing_variable_or_mask_is_one_line() -> None:
    with pytest.raises(StoreError, match=r"^m\.zarr: no variable 'q' in the store"):
        MaskedPixels(_ds(), "q", None, store="m.zarr")
    with pytest.raises(StoreError, match=r"^m\.zarr: no mask variable 'rois' in the store; did you mean 'roi'\?"):
        MaskedPixels(_ds(), "p", "rois", store="m.zarr")
    given = xr.DataArray(np.ones((4, 5), bool), dims=("x", "y"))  # transposed to the map's dims
    assert mask_array(_ds(), given, ("y", "x"), "m.zarr").dims == ("y", "x")
