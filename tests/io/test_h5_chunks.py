"""Lazy reads of an HDF5 pattern dataset (:mod:`vaearr.io.h5_chunks`): the files opened or refused in one line,
gzip chunks inflated here, the read-block rule, and the dask array of a dataset (grid or rows placed by an index,
missing nodes zeros, crop and binning) equal to numpy's reading of the same file."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.io import h5_chunks
from vaearr.io.h5_chunks import lazy_patterns, open_h5


def test_open_refuses_a_missing_a_foreign_and_a_cut_file(tmp_path) -> None:
    with pytest.raises(InputError, match="none.h5: no such file"):
        open_h5(tmp_path / "none.h5")
    (tmp_path / "t.h5").write_text("text")
    with pytest.raises(InputError, match="t.h5: not an HDF5 file"):
        open_h5(tmp_path / "t.h5")
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["p"] = np.zeros((100, 100))
    (tmp_path / "cut.h5").write_bytes((tmp_path / "c.h5").read_bytes()[:3000])
    with pytest.raises(InputError, match="cut.h5: HDF5 file cannot be opened, truncated or corrupt"):
        open_h5(tmp_path / "cut.h5")
    with open_h5(tmp_path / "c.h5") as f:
        assert f["p"].shape == (100, 100)


def test_inflate_gives_zlibs_bytes_and_zlibs_error_on_damage() -> None:
    raw = np.arange(5000, dtype=np.uint16).tobytes()
    packed = zlib.compress(raw)
    assert bytes(h5_chunks._inflate(packed, len(raw))) == raw  # noqa: SLF001 - the inflater every gzip chunk goes through
    with pytest.raises(zlib.error):
        h5_chunks._inflate(packed[:20] + b"\0" * 20, len(raw))  # noqa: SLF001 - a damaged chunk is zlib's error


def test_only_deflate_and_shuffle_are_decoded_here(tmp_path) -> None:
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f.create_dataset("gz", data=np.zeros((4, 4)), chunks=(2, 4), compression="gzip", shuffle=True)
        f.create_dataset("lzf", data=np.zeros((4, 4)), chunks=(2, 4), compression="lzf")
        f.create_dataset("plain", data=np.zeros((4, 4)))
        direct = h5_chunks._DirectChunks  # noqa: SLF001 - its rule of what it decodes
        assert direct.filters_of(f["gz"]) == [2, 1] and direct.filters_of(f["lzf"]) is None
        assert direct.filters_of(f["plain"]) is None


@pytest.mark.parametrize(("chunks", "grid", "block"), [
    ((2, 40), (10, 40), (10, 40)),  # small chunks of whole rows: the whole grid in one block
    ((1, 5), (3, 100), (3, 100)),  # a row split in chunks: the block grows along x to whole rows
])
def test_a_read_block_is_whole_store_chunks(chunks, grid, block, monkeypatch) -> None:
    assert h5_chunks._read_blocks(chunks, grid, 1000) == block  # noqa: SLF001 - the block rule
    monkeypatch.setattr(h5_chunks, "_READ_BLOCK_BYTES", 10 * 1000)
    by, bx = h5_chunks._read_blocks(chunks, grid, 1000)  # noqa: SLF001 - a small budget: fewer chunks a block
    assert by % chunks[0] == 0 or by == grid[0]
    assert bx % chunks[1] == 0 or bx == grid[1]


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
def test_the_lazy_array_is_the_file_placed_on_the_grid(tmp_path, compression) -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 255, (5, 6, 8), dtype=np.uint8)
    kw = {"chunks": (2, 6, 8), "compression": compression} if compression else {}
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f.create_dataset("p", data=rows, **kw)
        f.create_dataset("grid", data=rows[:4].reshape(2, 2, 6, 8), **{**kw, "chunks": (1, 2, 6, 8)} if kw else {})
    index = np.array([[4, 0, -1], [1, 3, 2]])
    arr = lazy_patterns(str(tmp_path / "f.h5"), "p", index=index, box=(0, 0, 6, 8), binning=1, dtype=np.uint8,
                        grid_shape=(2, 3), pattern_shape=(6, 8))
    out = arr.compute()
    assert out.shape == (2, 3, 6, 8) and out.dtype == np.uint8
    for (iy, ix), row in np.ndenumerate(index):
        np.testing.assert_array_equal(out[iy, ix], rows[row] if row >= 0 else 0)
    binned = lazy_patterns(str(tmp_path / "f.h5"), "grid", index=None, box=(1, 0, 4, 8), binning=2, dtype=np.uint8,
                           grid_shape=(2, 2), pattern_shape=(6, 8)).compute()
    want = rows[:4].reshape(2, 2, 6, 8)[:, :, 1:5, :].reshape(2, 2, 2, 2, 4, 2).mean(axis=(3, 5))
    np.testing.assert_array_equal(binned, np.rint(want).astype(np.uint8))
    # the same file, the same dask name (a store write can tell the two reads are one)
    again = lazy_patterns(str(tmp_path / "f.h5"), "p", index=index, box=(0, 0, 6, 8), binning=1, dtype=np.uint8,
                          grid_shape=(2, 3), pattern_shape=(6, 8))
    assert again.name == arr.name
