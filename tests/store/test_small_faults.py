"""The small ones (issue 42, part 5): output folders made by concurrent commands under one new parent, a failing
command's folders, a folder another process holds, symbolic-link loops as the store or an output folder.
Object-storage failures between compute and commit and a missing bucket are in tests/e2e/test_object_storage.py."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from tests.helpers import run_cli, tree_hash
from vaearr.errors import InputError
from vaearr.options import writable_folders
from vaearr.store import write_variables

_CTX = multiprocessing.get_context("fork")


def _make_and_use(folder: str, go, out) -> None:
    """A command: prove its output folder writable, then (after the others started too) write its file there."""
    try:
        go.wait(10)
        writable_folders(out=folder)
        for _ in range(50):  # meanwhile the others make and probe their own folders beside it
            Path(folder, "result.txt").write_text("mine")
        out.put(("ok", folder))
    except BaseException as exc:  # noqa: BLE001 - whatever the race did is the result
        out.put((f"{type(exc).__name__}: {exc}", folder))


def test_commands_making_folders_under_one_new_parent_never_remove_each_others(tmp_path):
    """Four processes at once, each with its output folder under one parent that does not exist yet, 15 times:
    each proves its folder writable and then writes into it; none fails, every file is there. Today the probe
    removes the folders it made again, the parent included, under the others' feet ('Directory not empty',
    'No such file or directory')."""
    for round_ in range(15):
        parent = tmp_path / f"new{round_}" / "shared"
        go, out = _CTX.Event(), _CTX.Queue()
        procs = [_CTX.Process(target=_make_and_use, args=(str(parent / f"out{i}"), go, out)) for i in range(4)]
        for p in procs:
            p.start()
        go.set()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert all(r == "ok" for r, _ in results), (round_, results)
        assert all((Path(f) / "result.txt").read_text() == "mine" for _, f in results)


def _hold_then_write(folder: str, held, failed, out) -> None:
    from vaearr import files

    files.writable_folder(folder)
    held.set()
    failed.wait(30)
    Path(folder, "late.txt").write_text("still here")
    out.put("ok")


def test_a_failing_command_removes_its_empty_folders_but_not_one_another_process_holds(tmp_path):
    """Command A makes new/x and new/a; command B proves new/x writable too (it holds it) and writes there later;
    A fails: new/a (A's alone, empty) goes, new/x (held by B) stays, and B's late write succeeds."""
    from vaearr import files

    shared, own = tmp_path / "new" / "x", tmp_path / "new" / "a"
    held, failed, out = _CTX.Event(), _CTX.Event(), _CTX.Queue()
    with pytest.raises(RuntimeError):
        with files.command_outputs():
            files.writable_folder(shared)
            files.writable_folder(own)
            b = _CTX.Process(target=_hold_then_write, args=(str(shared), held, failed, out))
            b.start()
            assert held.wait(30)
            raise RuntimeError("the command fails")
    failed.set()
    assert out.get(timeout=30) == "ok"
    b.join(30)
    assert not own.exists() and (shared / "late.txt").read_text() == "still here"


@pytest.mark.parametrize("line", [
    "segment {none} --out {new}/figs",
    "rank {none} --out {new}/rank",
    "report {none} --out {new}/report",
    "train {none} --run {new}/run --epochs 1",
    "roi {none} --otsu --out {new}/figs --export {new}/export",
])
def test_a_failing_command_leaves_no_folder(tmp_path, line):
    """Today ``segment none.zarr --out new/figs`` leaves ``new/figs`` behind."""
    new = tmp_path / "new"
    proc = run_cli(*line.format(none=tmp_path / "none.zarr", new=new).split())
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not new.exists(), sorted(new.rglob("*"))


@pytest.fixture
def small_store(tmp_path) -> Path:
    store = tmp_path / "s.zarr"
    grid = {"y": np.arange(4.0), "x": np.arange(5.0)}
    write_variables(store, {"bandcontrast": xr.DataArray(np.random.default_rng(0).random((4, 5)), dims=("y", "x"),
                                                         coords=grid)}, group_attrs={"kind": "ebsd-map"})
    return store


@pytest.mark.parametrize("line", [
    "info {loop}",
    "roi {loop} --min 0.5",
    "ingest tables {loop} --bandcontrast {csv}",
    "ingest ebsd {h5} --dataset patterns {loop}",
    "ingest tables {looped}/s.zarr --bandcontrast {csv}",
    "roi {store} --var bandcontrast --out {looped}/figs",
    "export {store} --out {looped}/x.csv --vars bandcontrast",
    "report {store} --out {looped}/report",
])
def test_a_loop_of_symbolic_links_is_one_line_and_leaves_nothing(small_store, tmp_path, line):
    """A store path, or a folder above an output, that is a symbolic link to itself: one line naming the loop,
    exit 2, the store unchanged and nothing written beside anything (today: 'unexpected' lines, and an ingest
    leaves its staging area beside the loop)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "loop.zarr").symlink_to("loop.zarr")
    (work / "looped").symlink_to("looped")
    csv = tmp_path / "bc.csv"
    csv.write_text("x,y,bandcontrast\n" + "".join(f"{x},{y},0.5\n" for y in range(4) for x in range(5)))
    before, listing = tree_hash(small_store), sorted(os.listdir(work))
    h5 = tmp_path / "p.h5"
    with h5py.File(h5, "w") as f:
        f["patterns"] = np.random.default_rng(0).integers(0, 255, (20, 8, 8), dtype=np.uint8)
        f["x"], f["y"] = np.tile(np.arange(5.0), 4), np.repeat(np.arange(4.0), 5)
    proc = run_cli(*line.format(loop=work / "loop.zarr", looped=work / "looped", store=small_store, csv=csv,
                                h5=h5).split())
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "is a loop of symbolic links" in lines[0] and "unexpected" not in lines[0], lines[0]
    assert tree_hash(small_store) == before and sorted(os.listdir(work)) == listing
    assert sorted(os.listdir(tmp_path)) == sorted(["bc.csv", "p.h5", "s.zarr", "work"])


def test_no_loop_names_the_link_that_loops(tmp_path):
    from vaearr import files

    (tmp_path / "a").symlink_to("a")
    with pytest.raises(InputError, match=r"`out`: .*/a is a loop of symbolic links"):
        files.no_loop(tmp_path / "a" / "b" / "c", "`out`")
    files.no_loop(tmp_path / "missing" / "b", "`out`")  # absent is not a loop
    shutil.rmtree(tmp_path / "missing", ignore_errors=True)
