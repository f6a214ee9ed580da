"""A local store's transactions (:mod:`vaearr.store.transaction`): the write lock and who holds it, an atomic swap of
two folders, a staged array committed in place or by switching the whole store when it reshapes one, an array
removed, and a half-done commit rolled back by :func:`recover`."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import StoreBusyError
from vaearr.store import open_store, write_variables
from vaearr.store import transaction as tx
from vaearr.store.transaction import (
    LOCK_SUFFIX,
    commit,
    exchange,
    is_consolidated,
    is_url,
    local_path,
    recover,
    remove_array,
    store_lock,
    tx_dir,
)


def test_urls_and_local_paths() -> None:
    assert is_url("s3://b/s.zarr") and is_url("memory://s") and not is_url("file:///tmp/s.zarr")
    assert not is_url("/tmp/s.zarr")
    assert local_path("file:///tmp/s.zarr") == local_path("/tmp/s.zarr")
    assert str(tx_dir("/tmp/s.zarr")) == "/tmp/s.zarr.vaearr-tx"


def test_the_write_lock_is_one_holder_at_a_time(store_path) -> None:
    lock = store_path.parent / (store_path.name + LOCK_SUFFIX)
    with store_lock(store_path):
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(StoreBusyError, match=rf"another process \(pid {os.getpid()}\) is writing this store"):
            with store_lock(store_path):
                pass
    assert not lock.exists()  # the lock file exists only while held
    with store_lock(f"file://{store_path}"):
        pass


def test_two_folders_swap_in_one_step(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "from_a").write_text("")
    if not exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("no RENAME_EXCHANGE on this file system")
    assert os.listdir(tmp_path / "b") == ["from_a"] and os.listdir(tmp_path / "a") == []
    with pytest.raises(OSError):
        exchange(tmp_path / "a", tmp_path / "none")


def _store(path, values):
    write_variables(path, {"a": xr.DataArray(np.asarray(values, float), dims=("x",)),
                           "b": xr.DataArray(np.ones(3), dims=("x",))})
    return path


def _staged(store_path, other, values):
    """Stage array ``a`` with ``values`` as a transaction does: written elsewhere, inside the store's tx folder."""
    _store(other, values)
    staging = tx_dir(store_path) / "new.zarr"
    staging.mkdir(parents=True)
    shutil.copytree(other / "a", staging / "a")
    return staging


def test_a_staged_array_comes_in_and_the_rest_stays(store_path, tmp_path) -> None:
    _store(store_path, [1, 2, 3])
    staging = _staged(store_path, tmp_path / "o.zarr", [7, 8, 9])
    commit(store_path, staging, {"step": [2.0]})
    ds = open_store(store_path)
    np.testing.assert_array_equal(ds.a.values, [7, 8, 9])
    np.testing.assert_array_equal(ds.b.values, 1.0)
    assert ds.attrs["step"] == [2.0] and is_consolidated(store_path) and not tx_dir(store_path).exists()


def test_a_reshaping_array_switches_the_whole_store(store_path, tmp_path) -> None:
    _store(store_path, [1, 2, 3])
    other = tmp_path / "o.zarr"
    write_variables(other, {"a": xr.DataArray(np.arange(5.0), dims=("k",))})
    staging = tx_dir(store_path) / "new.zarr"
    staging.mkdir(parents=True)
    shutil.copytree(other / "a", staging / "a")
    b_chunk = next(p for p in (store_path / "b").rglob("*") if p.is_file() and p.name != "zarr.json")
    commit(store_path, staging, None)
    ds = open_store(store_path)
    assert ds.a.dims == ("k",) and ds.a.shape == (5,)
    np.testing.assert_array_equal(ds.b.values, 1.0)
    assert b_chunk.exists() and not tx_dir(store_path).exists()


def test_an_array_removed(store_path) -> None:
    _store(store_path, [1, 2, 3])
    remove_array(store_path, "b")
    assert set(open_store(store_path).data_vars) == {"a"} and not tx_dir(store_path).exists()


def test_an_error_inside_a_commit_rolls_it_back(store_path, tmp_path) -> None:
    _store(store_path, [1, 2, 3])
    staging = _staged(store_path, tmp_path / "o.zarr", [7, 8, 9])
    new = {"a": os.stat(staging / "a").st_ino}
    with pytest.raises(RuntimeError, match="power cut"):
        with tx._journalled(store_path, new, [], None):  # noqa: SLF001 - the frame every commit runs in
            assert exchange(staging / "a", store_path / "a") or pytest.skip("no RENAME_EXCHANGE")
            assert not is_consolidated(store_path)  # readers read each array's own metadata meanwhile
            raise RuntimeError("power cut")
    np.testing.assert_array_equal(open_store(store_path).a.values, [1, 2, 3])
    assert is_consolidated(store_path) and not tx_dir(store_path).exists()


def test_recover_finishes_a_store_switched_half_way(store_path, tmp_path) -> None:
    assert recover(store_path) is False  # nothing to do
    _store(store_path, [1, 2, 3])
    t = tx_dir(store_path)
    t.mkdir()
    os.rename(store_path, t / "store")  # killed between the two renames: the complete new store beside
    assert recover(store_path) is True
    np.testing.assert_array_equal(open_store(store_path).a.values, [1, 2, 3])
    assert not t.exists()
    # a journal of an older vaearr: the arrays it had moved in are removed, the trashed ones put back
    t.mkdir()
    (t / "trash").mkdir()
    shutil.copyfile(store_path / "zarr.json", t / "root.json")
    os.rename(store_path / "b", t / "trash" / "b")
    (t / "journal.json").write_text(json.dumps({"moved": [], "trashed": ["b"]}))
    assert recover(store_path) and (store_path / "b" / "zarr.json").exists()
