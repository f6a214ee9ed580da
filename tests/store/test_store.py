"""The store: codecs, masks and fills, provenance, refusal to overwrite, locking, transactions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr import store as st
from vaearr.errors import StoreBusyError, StoreError


def _grid(ny: int = 4, nx: int = 5) -> dict:
    return {"y": np.arange(ny) * 0.5, "x": np.arange(nx) * 0.5}


def _bc(ny: int = 4, nx: int = 5, seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.random((ny, nx), dtype=np.float32), dims=("y", "x"), coords=_grid(ny, nx))


def _all_array_metadata(path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in path.rglob("zarr.json") if p.parent != path]


def test_roundtrip_codecs_and_provenance(store_path: Path) -> None:
    bc = _bc()
    st.write_variable(store_path, "bandcontrast", bc, source=["bc.csv"], config={"k": 1}, run="r1")
    ds = st.open_store(store_path)
    np.testing.assert_array_equal(ds.bandcontrast.values, bc.values)
    np.testing.assert_array_equal(ds.x.values, bc.x.values)
    attrs = ds.bandcontrast.attrs
    for key in st.PROVENANCE_KEYS:
        assert key in attrs, key
    assert json.loads(attrs["source"]) == ["bc.csv"]
    assert json.loads(attrs["config"]) == {"k": 1}
    assert attrs["run"] == "r1"
    # every array, coordinates included, has zstd then crc32c
    metas = _all_array_metadata(store_path)
    assert {m["node_type"] for m in metas} == {"array"} and len(metas) == 3
    for m in metas:
        names = [c["name"] for c in m["codecs"]]
        assert names[-2:] == ["zstd", "crc32c"], names


def test_flipped_byte_raises_on_read(store_path: Path) -> None:
    st.write_variable(store_path, "bandcontrast", _bc(40, 50))
    chunk = next(p for p in (store_path / "bandcontrast").rglob("*") if p.is_file() and p.name != "zarr.json")
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    chunk.write_bytes(bytes(raw))
    with pytest.raises(st.ChunkError, match=r"variable 'bandcontrast', chunk \(\d+, \d+\) is corrupt.*crc32c"):
        _ = st.open_store(store_path).bandcontrast.values


def test_mask_fills_by_dtype(store_path: Path) -> None:
    bc = _bc()
    roi = bc > 0.5
    st.write_variable(store_path, "roi", roi)
    lat = xr.DataArray(np.ones((4, 5, 3), np.float32), dims=("y", "x", "latent_dim"))
    lab = xr.DataArray(np.zeros((4, 5), np.int32), dims=("y", "x"))
    flag = xr.DataArray(np.ones((4, 5), bool), dims=("y", "x"))
    st.write_variables(store_path, {"latent": lat, "cluster": lab, "flag": flag}, mask="roi")
    ds = st.open_store(store_path).load()
    inside = roi.values
    assert np.isnan(ds.latent.values[~inside]).all() and (ds.latent.values[inside] == 1).all()
    assert (ds.cluster.values[~inside] == st.INT_FILL).all() and (ds.cluster.values[inside] == 0).all()
    assert ds.cluster.dtype == np.int32
    assert (ds.flag.values == inside).all()
    assert ds.latent.attrs["mask"] == "roi"
    assert ds.cluster.attrs["fill_outside_mask"] == st.INT_FILL


def test_existing_variable_refused_without_overwrite(store_path: Path) -> None:
    st.write_variable(store_path, "bandcontrast", _bc(seed=0))
    before = tree_hash(store_path)
    with pytest.raises(StoreError, match="exists.*overwrite"):
        st.write_variable(store_path, "bandcontrast", _bc(seed=1))
    assert tree_hash(store_path) == before
    st.write_variable(store_path, "bandcontrast", _bc(seed=1), overwrite=True)
    np.testing.assert_array_equal(st.open_store(store_path).bandcontrast.values, _bc(seed=1).values)
    assert not Path(str(store_path) + ".vaearr-tx").exists()


def test_coordinate_mismatch_refused(store_path: Path) -> None:
    st.write_variable(store_path, "bandcontrast", _bc())
    before = tree_hash(store_path)
    shifted = _bc().assign_coords(x=_bc().x + 0.25)
    with pytest.raises(StoreError, match="other 'x' coordinates"):
        st.write_variable(store_path, "other", shifted)
    with pytest.raises(StoreError, match="along 'y'"):
        st.write_variable(store_path, "other", _bc(ny=3))
    assert tree_hash(store_path) == before


def test_error_inside_the_commit_is_rolled_back_at_once(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write whose commit fails after swapping arrays in, before rewriting metadata, rolls back
    before the error leaves it: the store is as it was, no staging area is left (kills: test_faults)."""
    st.write_variable(store_path, "bandcontrast", _bc())
    before = tree_hash(store_path)
    import zarr

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # stands for an error at the last step

    for name, overwrite in (("other", False), ("bandcontrast", True)):
        monkeypatch.setattr(zarr, "consolidate_metadata", crash)
        with pytest.raises(KeyboardInterrupt):
            st.write_variable(store_path, name, _bc(seed=3), overwrite=overwrite)
        monkeypatch.undo()
        assert not Path(str(store_path) + ".vaearr-tx").exists()
        assert tree_hash(store_path) == before
        np.testing.assert_array_equal(st.open_store(store_path).bandcontrast.values, _bc().values)


def _writer_script(store: Path, n: int) -> str:
    # each chunk takes 0.1 s to compute, so the write lasts long enough to be interrupted
    return textwrap.dedent(
        f"""
        import time
        import numpy as np, xarray as xr, dask.array as da
        from vaearr.store import write_variable

        def slow(block):
            time.sleep(0.1)
            return block

        data = da.random.random(({n}, 100, 100), chunks=(1, 100, 100)).astype("float32").map_blocks(slow)
        write_variable({str(store)!r}, "big", xr.DataArray(data, dims=("sample", "row", "col")),
                       chunks={{"big": (1, 100, 100)}})
        """
    )


def _start_writer(store: Path, n: int = 1000) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _writer_script(store, n)], stderr=subprocess.PIPE, text=True)
    staging = Path(str(store) + ".vaearr-tx", "new.zarr", "big")
    deadline = time.time() + 60
    while time.time() < deadline:
        if staging.exists() and sum(1 for _ in staging.rglob("*")) > 20:
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"writer ended early: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("writer did not start writing chunks in 60 s")


def test_second_concurrent_writer_gets_clear_error(store_path: Path) -> None:
    st.write_variable(store_path, "bandcontrast", _bc())
    writer = _start_writer(store_path)
    try:
        proc = cli("roi", store_path, "--min", "0.5")
        assert proc.returncode != 0
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, proc.stderr
        assert str(store_path) in lines[0] and "another process" in lines[0]
        with pytest.raises(StoreBusyError, match=f"pid {writer.pid}"):
            st.write_variable(store_path, "x2", _bc())
    finally:
        writer.kill()
        writer.wait()


def test_sigkill_mid_write_leaves_store_identical(store_path: Path) -> None:
    st.write_variable(store_path, "bandcontrast", _bc())
    before = tree_hash(store_path)
    writer = _start_writer(store_path)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert tree_hash(store_path) == before
    assert "big" not in st.open_store(store_path)
    # the next writer cleans the leftover staging copy and succeeds
    st.write_variable(store_path, "roi", _bc() > 0.5)
    assert not Path(str(store_path) + ".vaearr-tx").exists()
    assert set(st.open_store(store_path).data_vars) == {"bandcontrast", "roi"}


def test_fsspec_memory_store() -> None:
    url = "memory://vaearr-test/s.zarr"
    st.write_variable(url, "bandcontrast", _bc())
    st.write_variable(url, "roi", _bc() > 0.2)
    with pytest.raises(StoreError, match="exists"):
        st.write_variable(url, "roi", _bc() > 0.2)
    st.write_variable(url, "roi", _bc() > 0.7, overwrite=True)
    ds = st.open_store(url)
    np.testing.assert_array_equal(ds.roi.values, (_bc() > 0.7).values)
    np.testing.assert_array_equal(ds.bandcontrast.values, _bc().values)


def test_a_cluster_writers_dead_branch_goes_and_a_live_one_gets_a_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write on a dask cluster works on a branch of its own (``vaearr-tx-<base>-<id>``). A writer killed
    before its end leaves that branch; the next commit to the store deletes it, since a branch whose base
    is no longer the store's snapshot can never commit. A writer still running on such a branch gets the
    one conflict line, not icechunk's "ref not found"."""
    from vaearr.errors import StoreConflictError
    from vaearr.store import remote

    url = "memory://vaearr-test/branches.zarr"
    st.write_variable(url, "bandcontrast", _bc())
    repo = remote.repository(url)
    tip = repo.lookup_branch(remote.BRANCH)
    killed = f"{remote.TX_PREFIX}{tip}-0123456789ab"  # what a killed cluster writer leaves: its branch, a commit on it
    repo.create_branch(killed, tip)
    session = repo.writable_session(killed)
    xr.Dataset({"half": _bc()}).to_zarr(session.store, mode="a", zarr_format=3, consolidated=False)
    session.commit("vaearr encode: half (metadata)")
    assert remote.drop_dead_branches(repo, tip) == []  # its base is the store's snapshot: it may be alive
    assert killed in repo.list_branches()

    monkeypatch.setattr(remote, "_on_dask_cluster", lambda: True)  # the next transaction as on a cluster
    live = remote.Transaction(url, repo, "vaearr cluster: c", tip)
    monkeypatch.undo()
    st.write_variable(url, "roi", _bc() > 0.5)  # another writer commits first, and cleans up
    assert repo.list_branches() == {remote.BRANCH}
    with pytest.raises(StoreConflictError, match="another writer committed to this store during this write"):
        live.commit()
    ds = st.open_store(url)
    assert set(ds.data_vars) == {"bandcontrast", "roi"}


def test_default_chunks_hold_whole_samples() -> None:
    assert st.default_chunks((1000, 1000, 60, 60), 1) == (1, 500, 60, 60)  # 2 equal parts, not 582 + 418
    c = st.default_chunks((200, 300, 60, 60), 1)
    assert c[2:] == (60, 60) and 1 * 2**20 <= np.prod(c) <= 16 * 2**20


def test_info_and_missing_store_cli(store_path: Path) -> None:
    proc = cli("info", store_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {store_path}: no vaearr store here (no zarr.json); create one with 'vaearr ingest'"]
    st.write_variable(store_path, "bandcontrast", _bc(), source=["bc.csv"])
    st.write_variable(store_path, "roi", _bc() > 0.5)
    out = cli("info", store_path, check=True).stdout
    assert "bandcontrast(y, x) float32" in out
    assert "roi(y, x) bool" in out and "[mask]" in out
    assert 'source=["bc.csv"]' in out


def test_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a vaearr store"):
        st.write_variable(folder, "bandcontrast", _bc())
    assert (folder / "keep.txt").read_text() == "mine"
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    st.write_variable(empty, "bandcontrast", _bc())
    assert "bandcontrast" in st.open_store(empty)


def test_cli_refuses_urls_where_no_store_goes_and_schemes_without_transactions(tmp_path: Path) -> None:
    """``--store s3://acc/ni.zarr`` used to become a local folder ``s3:`` and exit 0. Stores may be URLs
    now (tests/e2e/test_object_storage.py); other path arguments may not, and gs:// has no transactions."""
    cases = {("encode", "local.zarr", "--run", "s3://acc/run"): "s3://acc/run: only stores may be object-storage URLs",
             ("roi", "gs://bucket/x.zarr", "--min", "1"): "gs://bucket/x.zarr: ",
             ("ingest", "ebsd", "map.h5", "s3://acc/ni.zarr", "--storage-option", "nokey"):
                 "--storage-option takes key=value, got 'nokey'"}
    for args, start in cases.items():
        proc = cli(*args, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (args, proc.stderr)
        assert lines[0].startswith(f"error: {start}"), lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written where the command ran