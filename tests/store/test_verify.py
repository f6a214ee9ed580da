"""Every chunk of a store read and checked (:mod:`vaearr.store.verify`): a whole store, a flipped byte, a lost chunk
file, a store another program wrote, and no store at all."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import StoreError
from vaearr.store import write_variables
from vaearr.store.options import VerifyOptions
from vaearr.store.verify import Verification, verify, verify_store


def _store(path):
    write_variables(path, {"a": xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x")),
                           "m": xr.DataArray(np.ones((3, 4), bool), dims=("y", "x"))},
                    chunks={"a": (2, 4), "m": (3, 4)})
    return path


def test_a_whole_store(store_path) -> None:
    found = verify(_store(store_path))
    assert found.ok and found.arrays >= 2 and found.notes == []
    assert found.chunks >= 3  # a's two chunks and m's one, and the coordinates'
    assert found.summary().startswith(f"{store_path}: {found.arrays} arrays, {found.chunks} chunks read: all whole")


def test_a_flipped_byte_and_a_lost_chunk_are_named(store_path) -> None:
    _store(store_path)
    chunk = store_path / "a" / "c" / "1" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    (store_path / "m" / "c" / "0" / "0").unlink()
    found = verify(store_path)
    assert not found.ok and len(found.broken) == 2
    text = found.summary()
    assert "  broken: variable 'a', chunk (1, 0): its crc32c checksum does not match its bytes" in text.splitlines()
    assert "variable 'm': 1 of 1 chunk files absent (chunk (0, 0)" in text and "2 broken" in text.splitlines()[0]


def test_a_store_another_program_wrote_gets_notes_not_breaks(tmp_path) -> None:
    path = tmp_path / "foreign.zarr"
    xr.Dataset({"v": (("y",), np.zeros(4))}).to_zarr(path, encoding={"v": {"chunks": (2,)}}, consolidated=False)
    (path / "v" / "c" / "0").unlink()  # zarr reads it as the fill value
    found = verify(path)
    assert found.ok and any("no crc32c checksum" in n for n in found.notes)
    assert any("1 of 2 chunks absent" in n for n in found.notes)


def test_no_store_is_refused_in_one_line(tmp_path) -> None:
    with pytest.raises(StoreError, match=r"none.zarr: no zarr store here \(no zarr.json\)"):
        verify_store(VerifyOptions(store=str(tmp_path / "none.zarr")))
    (tmp_path / "bad.zarr").mkdir()
    (tmp_path / "bad.zarr" / "zarr.json").write_text("{not json")
    found = verify(tmp_path / "bad.zarr")
    assert not found.ok and found.arrays == 0
    assert Verification("s", broken=["x"]).summary() == "s: 0 arrays, 0 chunks read: 1 broken\n  broken: x"
