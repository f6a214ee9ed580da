"""Variables made ready for one write (:mod:`vaearr.store.prepare`): chunks of whole samples in equal parts, the mask
and its fill for each data type, provenance in the attrs, the store's coordinates checked, and the one-line refusals
(an existing variable, another grid, a bad name, a mask that does not fit)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.store.prepare import INT_FILL, default_chunks, prepare_dataset


@pytest.mark.parametrize(("shape", "itemsize", "target", "chunks"), [
    ((40, 60, 60, 60), 1, 2**21, (8, 60, 60, 60)),
    ((1000, 1000, 60, 60), 1, 2**21, (1, 500, 60, 60)),  # a row of 1000 in 2 × 500, not 582 + 418
    ((3, 4), 8, 2**21, (3, 4)),  # all in one
    ((10, 7), 4, 28, (1, 7)),  # one row a chunk
    ((10, 7), 4, 12, (1, 3)),  # a row split in three equal parts (3, 3, 1 → 3 parts of 3)
    ((0, 5), 4, 8, (1, 2)),  # an empty dim: chunks of at least one
])
def test_default_chunks(shape, itemsize, target, chunks) -> None:
    assert default_chunks(shape, itemsize, target) == chunks


def _prepare(variables, existing=None, **kw):
    base = dict(existing=existing, store="s.zarr", dims=None, mask=None, fill=None, source=(), run=None, config=None,
                attrs=None, overwrite=False, chunks=None)
    return prepare_dataset(variables, **{**base, **kw})


GRID = {"y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]}


def test_provenance_chunks_and_codecs() -> None:
    v = xr.DataArray(np.ones((2, 3), np.float32), dims=("y", "x"), coords=GRID, attrs={"units": "a.u."})
    ds, enc = _prepare({"bc": v}, source=["bc.csv"], run="run1", config={"k": 2}, attrs={"kind": "x"},
                       command="vaearr x", chunks={"bc": (1, 3)})
    a = ds.bc.attrs
    assert a["units"] == "a.u." and a["kind"] == "x" and json.loads(a["source"]) == ["bc.csv"]
    assert (a["mask"], a["run"], a["command"]) == ("none", "run1", "vaearr x") and json.loads(a["config"]) == {"k": 2}
    assert enc["bc"]["chunks"] == (1, 3) and ds.bc.data.chunks == ((1, 1), (3,))
    assert [type(c).__name__ for c in enc["bc"]["compressors"]] == ["ZstdCodec", "Crc32cCodec"]
    assert "x" in enc and "y" in enc  # new coordinates are written with the data
    plain, _ = _prepare({"n": np.zeros((2, 3))}, dims={"n": ("y", "x")}, source={"n": ["a", "b"]})
    assert plain.n.dims == ("y", "x") and json.loads(plain.n.attrs["source"]) == ["a", "b"]
    with pytest.raises(StoreError, match="'n' is not a DataArray: give its dims"):
        _prepare({"n": np.zeros(3)})


@pytest.mark.parametrize(("dtype", "fill", "outside"), [
    (np.float32, None, np.nan), (np.int16, None, INT_FILL), (bool, None, False), (np.uint8, 7, 7), (np.float64, -1.0, -1.0),
])
def test_values_outside_the_mask_take_the_fill_of_their_type(dtype, fill, outside) -> None:
    mask = xr.DataArray(np.array([[True, False, True], [False, True, True]]), dims=("y", "x"), name="roi")
    ds, _ = _prepare({"v": xr.DataArray(np.ones((2, 3), dtype), dims=("y", "x"))}, mask=mask, fill=fill)
    v = ds.v.values
    assert ds.v.dtype == np.dtype(dtype) and (v[mask.values] == 1).all()
    np.testing.assert_array_equal(v[~mask.values], outside)
    assert ds.v.attrs["mask"] == "roi" and "fill_outside_mask" in ds.v.attrs


def test_masks_that_do_not_fit_are_refused() -> None:
    v = xr.DataArray(np.ones((2, 3), np.uint8), dims=("y", "x"))
    with pytest.raises(StoreError, match="'v' is unsigned: give a non-negative fill"):
        _prepare({"v": v}, mask=xr.DataArray(np.ones((2, 3), bool), dims=("y", "x")))
    with pytest.raises(StoreError, match="mask for 'v' must be boolean, got int64"):
        _prepare({"v": v}, mask=xr.DataArray(np.ones((2, 3), np.int64), dims=("y", "x")))
    with pytest.raises(StoreError, match=r"mask for 'v' has dims \['z'\] that 'v' lacks"):
        _prepare({"v": v}, mask=xr.DataArray(np.ones(2, bool), dims=("z",)))
    text = xr.DataArray(np.array([["a", "b", "c"]] * 2), dims=("y", "x"))
    with pytest.raises(StoreError, match="'t' has dtype <U1: give a fill for outside the mask"):
        _prepare({"t": text}, mask=xr.DataArray(np.ones((2, 3), bool), dims=("y", "x")))
    with pytest.raises(StoreError, match="no mask variable 'roi' in the store"):
        _prepare({"v": v}, mask="roi")


def test_what_the_store_has_is_checked() -> None:
    existing = xr.Dataset({"bc": (("y", "x"), np.zeros((2, 3)))}, coords=GRID)
    new = xr.DataArray(np.ones((2, 3)), dims=("y", "x"), coords=GRID)
    with pytest.raises(StoreError, match="variable 'bc' exists; pass `overwrite=True` to replace it"):
        _prepare({"bc": new}, existing)
    ds, enc = _prepare({"bc": new}, existing, overwrite=True)
    assert "x" not in ds.coords and "x" not in enc  # the store's own coordinates stay as they are
    with pytest.raises(StoreError, match="'w' has 4 along 'x' but the store has 3"):
        _prepare({"w": xr.DataArray(np.ones((2, 4)), dims=("y", "x"))}, existing)
    with pytest.raises(StoreError, match="'w' has other 'x' coordinates than the store"):
        _prepare({"w": xr.DataArray(np.ones((2, 3)), dims=("y", "x"), coords={"x": [0.0, 2.0, 4.0]})}, existing)
    # a dim only replaced variables use may change size
    ds, _ = _prepare({"bc": xr.DataArray(np.ones((2, 5)), dims=("y", "x"), coords={"x": np.arange(5.0)})}, existing,
                     overwrite=True)
    assert ds.sizes["x"] == 5
    with pytest.raises(InputError, match="variable name '../v' is not a safe name"):
        _prepare({"../v": new})
