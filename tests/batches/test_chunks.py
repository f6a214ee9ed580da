"""Tests of vaearr.batches.chunks: whole chunks of a local zarr v3 array decoded straight from their files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from numcodecs import Zstd

from vaearr.batches import chunks
from vaearr.batches.chunks import ChunkFiles
from vaearr.batches.read import open_array
from vaearr.errors import StoreError
from vaearr.store import write_variables


def _array(path: Path, name: str):
    return zarr.open_group(str(path), mode="r")[name]


def test_chunk_reader_decodes_the_codecs_the_store_writes(tmp_path: Path) -> None:
    # batches.chunks owns a decoder for exactly the codecs write_variables uses (bytes, zstd,
    # crc32c): if the store's codecs change, this fails, instead of training falling back
    # without a word to zarr's slower read path
    path = tmp_path / "c.zarr"
    data = np.random.default_rng(0).integers(0, 256, (5, 4, 6, 6), dtype=np.uint8)
    write_variables(path, {"p": xr.DataArray(data, dims=("y", "x", "py", "px"))}, chunks={"p": (2, 4, 6, 6)})
    files = ChunkFiles.of(_array(path, "p"))
    assert files is not None, "the store's codecs are no longer the ones batches.chunks decodes"
    assert files.codecs == ["crc32c", "zstd"]
    for i in range(3):  # the last chunk is an edge chunk, stored whole
        out = np.empty((2, 4, 6, 6), np.uint8)
        files.decode((i, 0, 0, 0), out)
        want = data[2 * i: 2 * i + 2]
        np.testing.assert_array_equal(out[: len(want)], want)
    # a flipped byte is an error, not a wrong number
    chunk = next(p for p in (path / "p").rglob("*") if p.is_file() and p.name != "zarr.json")
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="crc32c"):
        files.decode(tuple(int(c) for c in chunk.relative_to(path / "p" / "c").parts), np.empty((2, 4, 6, 6), np.uint8))


def test_a_chunk_another_program_left_out_reads_as_the_fill_value_and_one_vaearr_wrote_is_damage(tmp_path: Path) -> None:
    v = np.arange(1, 1 + 4 * 6, dtype=np.int16).reshape(4, 6)
    v[:2, :3] = 7  # one whole chunk of the fill value: zarr writes no file for it
    other = tmp_path / "other.zarr"
    xr.Dataset({"v": (("y", "x"), v)}).to_zarr(other, zarr_format=3, consolidated=False,
                                               encoding={"v": {"chunks": (2, 3), "fill_value": 7}})
    files = ChunkFiles.of(_array(other, "v"))
    assert files is not None and not files.whole and files.codecs == ["zstd"]  # zarr's default: no checksum
    assert not (other / "v" / "c" / "0" / "0").exists()
    out = np.empty((2, 3), np.int16)
    files.decode((0, 0), out)
    np.testing.assert_array_equal(out, np.full((2, 3), 7))
    files.decode((1, 1), out)
    np.testing.assert_array_equal(out, v[2:, 3:])

    ours = tmp_path / "ours.zarr"
    write_variables(ours, {"v": xr.DataArray(v, dims=("y", "x"))}, chunks={"v": (2, 3)})
    files = ChunkFiles.of(_array(ours, "v"))
    assert files is not None and files.whole
    (ours / "v" / "c" / "1" / "0").unlink()
    with pytest.raises(StoreError, match=r"v/c/1/0: chunk file absent: vaearr writes every chunk"):
        files.decode((1, 0), out)


def test_a_chunk_of_the_wrong_size_is_an_error_not_a_short_read(tmp_path: Path) -> None:
    import crc32c

    path = tmp_path / "s.zarr"
    write_variables(path, {"v": xr.DataArray(np.ones((4, 4), np.float32), dims=("y", "x"))}, chunks={"v": (2, 4)})
    files = ChunkFiles.of(_array(path, "v"))
    short = Zstd().encode(np.zeros(5, np.float32).tobytes())  # 20 bytes where the chunk holds 32, checksum good
    (path / "v" / "c" / "0" / "0").write_bytes(short + crc32c.crc32c(short).to_bytes(4, "little"))
    with pytest.raises(StoreError, match="chunk holds 20 bytes, not the 32 of its shape"):
        files.decode((0, 0), np.empty((2, 4), np.float32))


def test_only_a_local_store_with_the_codecs_it_decodes_is_read_from_files(tmp_path: Path) -> None:
    url = "memory://vaearr-chunks/m.zarr"
    write_variables(url, {"v": xr.DataArray(np.zeros((2, 2), np.uint8), dims=("y", "x"))})
    assert ChunkFiles.of(open_array(url, "v", None)) is None  # as the loader opens it
    path = tmp_path / "b.zarr"
    xr.Dataset({"v": (("y", "x"), np.zeros((2, 2), np.uint8))}).to_zarr(
        path, zarr_format=3, consolidated=False,
        encoding={"v": {"compressors": [zarr.codecs.BloscCodec()]}})  # a codec it does not decode: zarr reads it
    assert ChunkFiles.of(_array(path, "v")) is None


def test_the_size_a_zstd_frame_declares() -> None:
    frame = Zstd().encode(bytes(1000))
    assert chunks._zstd_content_size(memoryview(frame)) == 1000  # noqa: SLF001 - the frame header parser itself
    assert chunks._zstd_content_size(memoryview(b"not a zstd frame")) is None  # noqa: SLF001 - as above
    assert chunks._zstd_content_size(memoryview(frame[:4])) is None  # noqa: SLF001 - as above
