"""The one write path of every reader (:mod:`vaearr.io.write`): a store's kind from its attr or its dims, data of
another kind refused before anything is written, per-sample coords kept covered, inputs recorded as such, and an
error a reader raises while the arrays stream in reported as the file's, the store left as it was."""

from __future__ import annotations

import dask.array as da
import h5py
import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.io.write import check_kind, check_sample_coords, raised_while_reading, store_kind, write_ingested


def _map(value: float = 1.0) -> dict[str, xr.DataArray]:
    return {"bandcontrast": xr.DataArray(np.full((2, 3), value, np.float32), dims=("y", "x"),
                                         coords={"y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]})}


def _images(labels: bool = True) -> dict[str, xr.DataArray]:
    coords = {"sample": [0, 1]} | ({"label": ("sample", ["a", "b"])} if labels else {})
    return {"images": xr.DataArray(np.zeros((2, 4, 4), np.uint8), dims=("sample", "h", "w"), coords=coords)}


def test_a_new_store_is_written_once_with_its_kind(store_path) -> None:
    assert store_kind(store_path) is None
    ds = write_ingested(store_path, _map(), source=["bc.csv"], config={"a": 1}, kind="ebsd-map",
                        group_attrs={"step": [1.0, 1.0]})
    assert ds.attrs["kind"] == "ebsd-map" and ds.attrs["step"] == [1.0, 1.0]
    np.testing.assert_array_equal(ds.bandcontrast.values, 1.0)
    assert store_kind(store_path) == "ebsd-map"
    check_kind(store_path, "ebsd-map")
    with pytest.raises(StoreError, match=r"is a ebsd-map store; images data go into a store of their own"):
        write_ingested(store_path, _images(), source=["imgs"], config={}, kind="images")
    with pytest.raises(StoreError, match="exist"):  # an input is not replaced without overwrite
        write_ingested(store_path, _map(2.0), source=["bc.csv"], config={}, expects="ebsd-map")
    again = write_ingested(store_path, _map(2.0), source=["bc.csv"], config={}, expects="ebsd-map", overwrite=True)
    np.testing.assert_array_equal(again.bandcontrast.values, 2.0)


def test_a_store_without_the_kind_attr_is_told_by_its_dims(store_path, tmp_path) -> None:
    write_ingested(store_path, _images(), source=["imgs"], config={})
    assert store_kind(store_path) == "images"
    foreign = tmp_path / "foreign.zarr"
    xr.Dataset({"v": ("x", [1.0])}).to_zarr(foreign, consolidated=False)
    assert store_kind(foreign) is None  # not vaearr's: the write refuses it in its own line


def test_a_write_must_cover_the_stores_per_sample_coords(store_path) -> None:
    write_ingested(store_path, _images(), source=["imgs"], config={}, kind="images")
    check_sample_coords(store_path, xr.Dataset(_images()))
    with pytest.raises(StoreError, match="has a 'label' coord this input lacks; write to a new store"):
        write_ingested(store_path, _images(labels=False), source=["imgs"], config={}, kind="images", overwrite=True,
                       sample_coords=xr.Dataset(_images(labels=False)))
    check_sample_coords(store_path.parent / "none.zarr", xr.Dataset(_images(labels=False)))


def test_a_reader_error_while_streaming_names_the_file_and_leaves_the_store(store_path, tmp_path) -> None:
    write_ingested(store_path, _map(), source=["bc.csv"], config={}, kind="ebsd-map")
    bad = tmp_path / "bad.h5"

    def read(block):
        with h5py.File(bad, "r"):  # the file is not HDF5: h5py raises from inside its own code
            return block

    lazy = xr.DataArray(da.zeros((2, 3), chunks=1).map_blocks(read, dtype=float), dims=("y", "x"),
                        coords={"y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]})
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match=r"bad.h5: cannot read patterns, truncated or corrupt file\? \("):
        write_ingested(store_path, {"patterns2": lazy}, source=["bad.h5"], config={}, src=bad, what="patterns")
    assert "patterns2" not in xr.open_zarr(store_path).data_vars
    try:
        h5py.File(bad, "r")
    except OSError as exc:
        assert raised_while_reading(exc)
    try:
        raise ValueError("mine")
    except ValueError as exc:
        assert not raised_while_reading(exc)
