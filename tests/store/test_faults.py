"""Faults beyond a SIGKILL at a random moment (issue 30): a kill after every step of a local commit,
read back before any recovery; a full disk; a flipped byte in a chunk and ``vaearr verify``; three
writers at once. Object-storage faults are in tests/e2e/test_object_storage.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import LIMITED, tree_hash
from vaearr import store as st
from vaearr.store.transaction import KILL_AT_STEP, tx_dir


def _map(seed: int, ny: int = 4, nx: int = 5) -> xr.DataArray:
    values = np.random.default_rng(seed).random((ny, nx), dtype=np.float32)
    return xr.DataArray(values, dims=("y", "x"), coords={"y": np.arange(ny) * 0.5, "x": np.arange(nx) * 0.5})


OLD, NEW, NEW_C, KEPT = _map(0), _map(1), _map(2), _map(3)
OLD_E = xr.DataArray(np.arange(3.0), dims="k", coords={"k": np.arange(3)})
NEW_E = xr.DataArray(np.arange(4.0) + 10, dims="k", coords={"k": np.arange(4)})

# the writer of the kill tests: 'a' replaced, 'c' added, a root attr set; or 'b' deleted
_WRITE = textwrap.dedent("""
    import sys
    import numpy as np, xarray as xr
    from vaearr import store as st

    def m(seed):
        v = np.random.default_rng(seed).random((4, 5), dtype=np.float32)
        return xr.DataArray(v, dims=("y", "x"), coords={"y": np.arange(4) * 0.5, "x": np.arange(5) * 0.5})

    if sys.argv[3:] == ["rename"]:  # a system without RENAME_EXCHANGE: two renames
        import vaearr.store.transaction as tx
        tx.exchange = lambda a, b: False
    if sys.argv[2] == "write":
        st.write_variables(sys.argv[1], {"a": m(1), "c": m(2)}, overwrite=True, group_attrs={"note": "new"})
    elif sys.argv[2] == "resize":  # 'e' and its coordinate 'k' from 3 to 4 long
        e = xr.DataArray(np.arange(4.0) + 10, dims="k", coords={"k": np.arange(4)})
        st.write_variables(sys.argv[1], {"e": e}, overwrite=True, group_attrs={"note": "new"})
    else:
        st.delete_variable(sys.argv[1], "b")
""")


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "base.zarr"
    st.write_variables(path, {"a": OLD, "b": KEPT, "e": OLD_E}, group_attrs={"kind": "map", "note": "old"})
    return path


def _kill_runs(base: Path, tmp: Path, action: str, steps: int, *extra: str) -> dict[int, tuple[Path, int]]:
    """Copies of ``base`` each written by a writer killed after commit step 1, 2, … ``steps`` (all at
    once: the cost is the interpreters' start); step → (copy, return code)."""
    procs = {}
    for step in range(1, steps + 1):
        where = tmp / f"{action}{step}.zarr"
        shutil.copytree(base, where)
        procs[step] = (where, subprocess.Popen([sys.executable, "-c", _WRITE, str(where), action, *extra],
                                               env={**os.environ, KILL_AT_STEP: str(step)},
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return {step: (where, proc.wait(timeout=300)) for step, (where, proc) in procs.items()}


def _state(ds: xr.Dataset) -> dict[str, str]:
    """Each variable as 'old', 'new' or 'absent'; anything else (an emptied or torn array) fails."""
    out = {}
    for name, old, new in (("a", OLD, NEW), ("b", KEPT, None), ("c", None, NEW_C), ("e", OLD_E, NEW_E)):
        if name not in ds:
            out[name] = "absent"
            continue
        values = ds[name].values
        matches = [label for label, ref in (("old", old), ("new", new))
                   if ref is not None and np.array_equal(values, ref.values)]
        assert matches, f"{name} is neither its old nor its new version: {values}"
        out[name] = matches[0]
    return out


_OLD = {"a": "old", "b": "old", "c": "absent", "e": "old"}
_NEW = {"write": {**_OLD, "a": "new", "c": "new"}, "delete": {**_OLD, "b": "absent"}, "resize": {**_OLD, "e": "new"}}


@pytest.mark.filterwarnings("ignore:Failed to open Zarr store with consolidated metadata")
@pytest.mark.parametrize(("action", "how", "steps"), [("write", "exchange", 6), ("delete", "exchange", 4),
                                                      ("resize", "exchange", 2), ("resize", "rename", 3)])
def test_a_kill_after_every_commit_step_leaves_old_or_new_for_readers(base_store: Path, tmp_path: Path,
                                                                       action: str, how: str, steps: int) -> None:
    """The writer is SIGKILLed after step 1, 2, … of its commit; after each kill the store is read, by
    vaearr and by plain xarray, before any recovery: every variable whole and its old or its new
    version; then the next writer recovers it: the old store, or the new one when the kill came after
    the commit point (the last step). One more run, past the last step, commits.

    A write or a delete swaps arrays one by one (journal, root metadata, each array, root attrs,
    consolidated metadata): a reader may see 'a' new and 'c' not yet there. A write that resizes 'e'
    and its coordinate builds the next store beside the old and switches it whole (the store built;
    the switch), since 'e' new with 'k' old would not open; without RENAME_EXCHANGE the switch is two
    renames, and a kill between them leaves no store until the next writer moves the new one in."""
    runs = _kill_runs(base_store, tmp_path, action, steps + 1, *(["rename"] if how == "rename" else []))
    assert runs[steps + 1][1] == 0 and not tx_dir(runs[steps + 1][0]).exists()
    seen = []
    for step in range(1, steps + 1):
        where, code = runs[step]
        assert code == -signal.SIGKILL, (step, code)
        assert tx_dir(where).exists()  # nothing has recovered it yet
        committed = step == steps
        if how == "rename" and step == 2:
            assert not where.exists()
            committed = True  # the complete new store is moved in
        else:
            mine, plain = _state(st.open_store(where)), _state(xr.open_zarr(where))
            assert mine == plain
            if action == "resize" or committed:
                assert mine == (_NEW[action] if committed else _OLD), (step, mine)
            seen.append(mine)
        st.write_variable(where, "d", KEPT)  # the next writer: recovers, then writes
        assert not tx_dir(where).exists()
        assert _state(st.open_store(where)) == (_NEW[action] if committed else _OLD), step
        assert st.open_store(where).attrs["note"] == ("new" if committed and action != "delete" else "old")
    if action == "write":  # the kill between swapping 'a' in and adding 'c': a mix, each variable whole
        assert {**_OLD, "a": "new"} in seen


# -- a full disk ----------------------------------------------------------------------------------



def test_a_full_disk_is_one_line_the_store_unchanged_and_no_staging_left(tmp_path: Path) -> None:
    """``ingest tables`` of a 64×64 map of random values under a limit that hits the staging area's
    first metadata file (100 B), or its first chunk (4 kB; the chunk is ~16 kB): one line each time,
    the store byte-identical, no staging area left."""
    store = tmp_path / "full.zarr"
    grid = {"y": np.arange(64.0), "x": np.arange(64.0)}
    st.write_variables(store, {"a": xr.DataArray(np.zeros((64, 64), np.float32), dims=("y", "x"), coords=grid)},
                       group_attrs={"kind": "ebsd-map"})
    values = np.random.default_rng(0).random((64, 64))
    csv = tmp_path / "bc.csv"
    csv.write_text("x,y,bandcontrast\n" + "".join(f"{x:.1f},{y:.1f},{values[y, x]:.6f}\n"
                                                   for y in range(64) for x in range(64)))
    before = tree_hash(store)
    for limit in (100, 4000):
        proc = subprocess.run([sys.executable, "-c", LIMITED, str(limit), "ingest", "tables", store,
                               "--bandcontrast", csv], capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"error: {store}: no room to write (File too large): nothing was written")
        assert tree_hash(store) == before and not tx_dir(store).exists()
    proc = subprocess.run([sys.executable, "-c", LIMITED, str(2**20), "ingest", "tables", store,
                           "--bandcontrast", csv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # with room, the same command writes it
    np.testing.assert_allclose(st.open_store(store)["bandcontrast"].values, values, atol=1e-6)


# -- a flipped byte ---------------------------------------------------------------------------------


def test_a_flipped_byte_is_named_on_read_and_found_by_verify(base_store: Path, tmp_path: Path, capsys) -> None:
    """crc32c on every chunk: reading the corrupt chunk raises one error naming the variable and the
    chunk (a command prints it as one line); ``vaearr verify`` reads every chunk, lists the broken
    one and exits 1; on a whole store it exits 0."""
    from tests.helpers import vaearr_cli

    store = tmp_path / "flip.zarr"
    shutil.copytree(base_store, store)
    code, out, _ = vaearr_cli("verify", store)
    assert code == 0 and "all whole" in out and "0 broken" not in out
    chunk = store / "a" / "c" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    chunk.write_bytes(bytes(raw))
    with pytest.raises(st.ChunkError, match=r"variable 'a', chunk \(0, 0\) is corrupt \(its crc32c checksum"):
        _ = st.open_store(store)["a"].values
    assert np.array_equal(st.open_store(store)["b"].values, KEPT.values)  # the other variables read
    code, out, err = vaearr_cli("roi", store, "--var", "a", "--min", "0.5")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "variable 'a', chunk (0, 0) is corrupt" in lines[0], err
    code, out, _ = vaearr_cli("verify", store)
    assert code == 1 and "1 broken" in out
    assert "broken: variable 'a', chunk (0, 0): its crc32c checksum does not match its bytes" in out
    # an emptied array (every chunk gone: what a commit with a window left) is broken too
    shutil.rmtree(store / "b" / "c")
    code, out, _ = vaearr_cli("verify", store)
    assert code == 1 and "broken: variable 'b': 1 of 1 chunk files absent (chunk (0, 0); vaearr writes every chunk" in out


# -- three writers at once --------------------------------------------------------------------------

_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np, xarray as xr, dask.array as da
    from vaearr import store as st
    from vaearr.errors import StoreBusyError

    def slow(block):
        time.sleep(0.05)
        return block

    data = da.from_array(np.full((4, 5), float(sys.argv[2]), np.float32), chunks=(1, 5)).map_blocks(slow)
    coords = {"y": np.arange(4) * 0.5, "x": np.arange(5) * 0.5}
    try:
        st.write_variable(sys.argv[1], "w" + sys.argv[2], xr.DataArray(data, dims=("y", "x"), coords=coords),
                          chunks={"w" + sys.argv[2]: (1, 5)})
    except StoreBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
""")


def test_three_writers_at_once_each_commits_or_gets_the_busy_line(base_store: Path, tmp_path: Path) -> None:
    """Three writers start together on one local store: each commits its variable or is told, in one
    line, that another process is writing; what was committed is whole, nothing else changed."""
    store = tmp_path / "three.zarr"
    shutil.copytree(base_store, store)
    procs = [subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(store), str(i)], stderr=subprocess.PIPE,
                              text=True) for i in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    won = [i for i, (rc, _) in enumerate(results) if rc == 0]
    assert won, results
    for rc, err in results:
        if rc != 0:
            lines = err.strip().splitlines()
            assert rc == 2 and len(lines) == 1 and "another process (pid" in lines[0], err
    ds = st.open_store(store)
    assert {f"w{i}" for i in range(3)} & set(ds.data_vars) == {f"w{i}" for i in won}
    for i in won:
        assert (ds[f"w{i}"].values == i).all()
    assert _state(ds) == _OLD and not tx_dir(store).exists()
