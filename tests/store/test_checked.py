"""Chunks read with their checksums checked (:mod:`vaearr.store.checked`): chunk keys of zarr v3 and v2, a flipped
byte or a lost chunk of what vaearr wrote raised as one :class:`ChunkError` naming the variable and the chunk (and
picklable for dask workers), a lost chunk of another program's store read as zarr reads it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xarray as xr
import zarr

from vaearr.store import write_variables, zarr_internals
from vaearr.store.checked import ABSENT, ChunkError, chunk_of, is_checksum_error, store_name

pytestmark = pytest.mark.skipif(not zarr_internals.enabled(), reason="the checked pipeline needs a tested zarr release")


@pytest.mark.parametrize(("key", "where"), [
    ("latent/c/0/3", ("latent", (0, 3))), ("g/bc/1.2", ("g/bc", (1, 2))), ("a/c/7", ("a", (7,))),
    ("grp/sub/c/1/0/2", ("grp/sub", (1, 0, 2))), ("a/c/x", ("a", ())), ("zarr.json", ("zarr.json", ())),
])
def test_the_variable_and_chunk_of_a_key(key, where) -> None:
    assert chunk_of(key) == where


def test_a_chunk_error_is_one_line_and_survives_pickling() -> None:
    err = ChunkError("s.zarr", "latent", (0, 3), "its crc32c checksum does not match its bytes")
    assert str(err) == ("s.zarr: variable 'latent', chunk (0, 3) is corrupt (its crc32c checksum does not match its "
                        "bytes); 'vaearr verify s.zarr' lists every broken chunk")
    again = pickle.loads(pickle.dumps(err))
    assert (again.store, again.variable, again.chunk, again.detail, str(again)) == (
        err.store, err.variable, err.chunk, err.detail, str(err))
    assert is_checksum_error(ValueError("Stored and computed checksum do not match"))
    assert not is_checksum_error(OSError("checksum")) and not is_checksum_error(ValueError("other"))


def _store(path):
    write_variables(path, {"a": xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x"))}, chunks={"a": (2, 4)})
    return path


def test_a_flipped_byte_is_named(store_path) -> None:
    chunk = _store(store_path) / "a" / "c" / "1" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    chunk.write_bytes(bytes(raw))
    array = zarr.open_group(store_path, mode="r")["a"]
    np.testing.assert_array_equal(array[:2], np.arange(8.0).reshape(2, 4))  # the whole chunk reads
    with pytest.raises(ChunkError, match=r"variable 'a', chunk \(1, 0\) is corrupt \(its crc32c checksum") as err:
        array[:]
    assert err.value.store == store_name(array.store) == str(store_path)  # the folder a user knows


def test_a_lost_chunk_of_vaearrs_is_named_another_programs_is_the_fill(store_path, tmp_path) -> None:
    (_store(store_path) / "a" / "c" / "0" / "0").unlink()
    with pytest.raises(ChunkError, match=r"chunk \(0, 0\)") as err:
        zarr.open_group(store_path, mode="r")["a"][:]
    assert err.value.detail == ABSENT
    foreign = tmp_path / "f.zarr"
    xr.Dataset({"v": (("y",), np.ones(4))}).to_zarr(foreign, encoding={"v": {"chunks": (2,)}}, consolidated=False)
    (foreign / "v" / "c" / "0").unlink()
    assert np.isnan(zarr.open_array(foreign / "v", mode="r")[:2]).all()
