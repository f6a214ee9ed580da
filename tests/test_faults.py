"""Faults beyond a SIGKILL at a random moment (issue 30): a kill after every step of a local commit,
read back before any recovery; a full disk; a flipped byte in a chunk and ``vaearr verify``; three
writers at once. Object-storage faults are in tests/test_object_storage.py."""

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

from tests.conftest import tree_hash
from vaearr import store as st
from vaearr.store.transaction import KILL_AT_STEP, tx_dir


def _map(seed: int, ny: int = 4, nx: int = 5) -> xr.DataArray:
    values = np.random.default_rng(seed).random((ny, nx), dtype=np.float32)
    return xr.DataArray(values, dims=("y", "x"), coords={"y": np.arange(ny) * 0.5, "x": np.arange(nx) * 0.5})


OLD, NEW, NEW_C, KEPT = _map(0), _map(1), _map(2), _map(3)

# the writer of the kill tests: 'a' replaced, 'c' added, a root attr set; or 'b' deleted
_WRITE = textwrap.dedent("""
    import sys
    import numpy as np, xarray as xr
    from vaearr import store as st

    def m(seed):
        v = np.random.default_rng(seed).random((4, 5), dtype=np.float32)
        return xr.DataArray(v, dims=("y", "x"), coords={"y": np.arange(4) * 0.5, "x": np.arange(5) * 0.5})

    if sys.argv[2] == "write":
        st.write_variables(sys.argv[1], {"a": m(1), "c": m(2)}, overwrite=True, group_attrs={"note": "new"})
    else:
        st.delete_variable(sys.argv[1], "b")
""")


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "base.zarr"
    st.write_variables(path, {"a": OLD, "b": KEPT}, group_attrs={"kind": "map", "note": "old"})
    return path


def _kill_runs(base: Path, tmp: Path, action: str, steps: int) -> dict[int, tuple[Path, int]]:
    """Copies of ``base`` each written by a writer killed after commit step 1, 2, … ``steps`` (all at
    once: the cost is the interpreters' start); step → (copy, return code)."""
    procs = {}
    for step in range(1, steps + 1):
        where = tmp / f"{action}{step}.zarr"
        shutil.copytree(base, where)
        procs[step] = (where, subprocess.Popen([sys.executable, "-c", _WRITE, str(where), action],
                                               env={**os.environ, KILL_AT_STEP: str(step)},
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return {step: (where, proc.wait(timeout=300)) for step, (where, proc) in procs.items()}


def _state(ds: xr.Dataset) -> dict[str, str]:
    """Each variable as 'old', 'new' or 'absent'; anything else (an emptied or torn array) fails."""
    out = {}
    for name, old, new in (("a", OLD, NEW), ("b", KEPT, None), ("c", None, NEW_C)):
        if name not in ds:
            out[name] = "absent"
            continue
        values = ds[name].values
        matches = [label for label, ref in (("old", old), ("new", new))
                   if ref is not None and np.array_equal(values, ref.values)]
        assert matches, f"{name} is neither its old nor its new version: {values}"
        out[name] = matches[0]
    return out


@pytest.mark.filterwarnings("ignore:Failed to open Zarr store with consolidated metadata")
@pytest.mark.parametrize(("action", "steps"), [("write", 6), ("delete", 4)])
def test_a_kill_after_every_commit_step_leaves_old_or_new_for_readers(base_store: Path, tmp_path: Path,
                                                                       action: str, steps: int) -> None:
    """The writer is SIGKILLed after step 1, 2, … of its commit (journal, root metadata, each array's
    swap, root attrs, consolidated metadata); after each kill the store is read (by vaearr and by plain
    xarray) before any recovery, then the next writer recovers it: back to the old store, or the new one
    when the kill came after the commit point. One more run, past the last step, commits."""
    runs = _kill_runs(base_store, tmp_path, action, steps + 1)
    assert runs[steps + 1][1] == 0 and not tx_dir(runs[steps + 1][0]).exists()
    seen = []
    for step in range(1, steps + 1):
        where, code = runs[step]
        assert code == -signal.SIGKILL, (step, code)
        assert tx_dir(where).exists()  # nothing has recovered it yet
        mine, plain = _state(st.open_store(where)), _state(xr.open_zarr(where))
        assert mine == plain
        seen.append(mine)
        st.write_variable(where, "d", KEPT)  # the next writer: recovers, then writes
        assert not tx_dir(where).exists()
        after = _state(st.open_store(where))
        committed = after == ({"a": "new", "b": "old", "c": "new"} if action == "write" else
                              {"a": "old", "b": "absent", "c": "absent"})
        assert committed == (step == steps), (step, after)  # the last step is the commit point
        assert committed or after == {"a": "old", "b": "old", "c": "absent"}, after
        assert st.open_store(where).attrs["note"] == ("new" if committed and action == "write" else "old")
    if action == "write":  # the kill between swapping 'a' in and adding 'c': a mix, each variable whole
        assert {"a": "new", "b": "old", "c": "absent"} in seen
    else:
        assert {"a": "old", "b": "absent", "c": "absent"} in seen
