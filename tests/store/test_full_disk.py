"""A full disk for every writer beside the store (issue 42, part 2): export in each format, the report, figures,
a run folder. Each is run with a file-size limit (``RLIMIT_FSIZE``, what a full disk does to a write, without root
to mount a small tmpfs; ``SIGXFSZ`` ignored, so a write past it fails with ``EFBIG``): one ``no room to write``
line naming the file, exit 2, the store byte-identical, no temporary file and no folder the command made left
behind; with room the same command writes. Temporary files killed writers left are removed by the next writer of
the same file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import LIMITED, run_cli, tree_hash

pytest.importorskip("orix", reason="needs the 'ebsd' extra")
from orix import io as orix_io  # noqa: E402


#: writer → (file-size limit in bytes, the command line: {s} store, {run} run, {new} a folder that does not exist
#: yet, the file or folder the line must name)
WRITERS = {
    "export .h5": (2000, "export {s} --out {new}/map.h5", "{new}/map.h5"),
    "export .ang": (2000, "export {s} --out {new}/map.ang", "{new}/map.ang"),
    "export .ctf": (2000, "export {s} --out {new}/map.ctf", "{new}/map.ctf"),
    "export .csv": (2000, "export {s} --out {new}/maps.csv --vars latent,bandcontrast", "{new}/maps.csv"),
    "report": (20000, "report {s} --run {run} --out {new}", "{new}/report.html"),
    "figures": (3000, "roi {s} --var bandcontrast --out {new}", "{new}/roi_bandcontrast_histogram.html"),
    "run folder": (3000, "train {s} --run {new}/run --epochs 1 --batch-size 64 --average-neighbours 0", "{new}/run/"),
}


def _limited(limit: int, line: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LIMITED, str(limit), *line.split()], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "VAEARR_PROGRESS": "off"})


def _left_behind(root: Path) -> list[Path]:
    """Temporary files and folders of a writer anywhere under ``root``."""
    return [p for p in root.rglob("*") if ".vaearr-tmp." in p.name or p.name.endswith(".tmp")]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_full_disk_is_one_line_and_leaves_nothing_behind(whole, tmp_path, writer):
    """Today: export .h5 dies of SIGSEGV after 18 h5py tracebacks and leaves its temporary file; .ang/.ctf/.csv,
    the report and figures print 'unexpected … File too large' (the report leaves report.html.tmp); a run folder
    'unexpected … SafetensorError'."""
    limit, line, names = WRITERS[writer]
    store = tmp_path / "s.zarr"
    shutil.copytree(whole[0], store)
    new = tmp_path / "new"
    args = line.format(s=store, run=whole[1], new=new)
    if writer.startswith("export"):  # numba's one-time cache files of orix's kernels (a cold cache, a fresh machine)
        warm = _limited(2**27, line.format(s=store, run=whole[1], new=tmp_path / "warm"))  # are not this test's writes
        assert warm.returncode == 0, warm.stderr[-3000:]
        shutil.rmtree(tmp_path / "warm")
    before = tree_hash(store)
    proc = _limited(limit, args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (writer, proc.returncode, proc.stderr[-3000:])
    named = names.format(new=new).rstrip("/")
    assert lines[0].startswith(f"error: {named}") and "no room to write (File too large)" in lines[0], lines[0]
    assert tree_hash(store) == before
    assert not _left_behind(tmp_path), _left_behind(tmp_path)
    if writer != "run folder":  # a run folder keeps its config: a run stopped before its first checkpoint
        assert not new.exists(), sorted(new.rglob("*"))
    else:
        assert not (new / "run" / "best").exists() and not (new / "run" / "checkpoints").exists()
    proc = _limited(2**27, args)  # with room, the same command writes
    assert proc.returncode == 0, proc.stderr[-3000:]
    if writer.startswith("export") and not writer.endswith("csv"):
        assert orix_io.load(named).size == 12 * 16


def test_stale_temporary_files_of_killed_writers_go_with_the_next_writer(whole, tmp_path):
    """Temporary files a killed writer left (its process gone: the names carry its pid) beside an export, a report
    and a checkpoint folder are removed by the next run of the same writer; those of a writer still running
    (this test's process) stay. Names vaearr used before (``report.html.tmp``, ``.map.PID.RANDOM.csv``,
    ``epoch_0001.tmp``) go too."""
    store, run = whole
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / f".maps.vaearr-tmp.{dead}.0123abcd.csv", out / f".maps.{dead}.89abcdef.csv",
             out / f".report.vaearr-tmp.{dead}.0123abcd.html", out / "report.html.tmp"]
    live = out / f".maps.vaearr-tmp.{os.getpid()}.0123abcd.csv"
    for p in [*stale, live]:
        p.write_text("half")
    run_cli("export", store, "--out", out / "maps.csv", "--vars", "latent", check=True)
    run_cli("report", store, "--run", run, "--out", out, check=True)
    assert not [p for p in stale if p.exists()] and live.exists()

    from vaearr.run import Run

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    r = Run.open(copy)
    folder = r.checkpoints_dir / f".epoch_0001.vaearr-tmp.{dead}.0123abcd"
    legacy = r.checkpoints_dir / "epoch_0001.tmp"
    for p in (folder, legacy):
        p.mkdir(parents=True)
        (p / "model.safetensors").write_bytes(b"half")
    r.save_checkpoint(1, r.model(), {"step": 1})
    assert not folder.exists() and not legacy.exists() and (r.checkpoints_dir / "epoch_0001" / "state.json").exists()


def test_a_full_disk_while_a_commit_writes_its_journal_leaves_no_staging(whole, tmp_path):
    """A store writer (``roi``) whose commit meets the limit while it copies the root metadata into its journal
    (limits below the root's size), or while it rewrites the root (just above it): one line, the store
    byte-identical and no staging area left beside it (today the first ones leave ``<store>.vaearr-tx``)."""
    from vaearr.store.transaction import tx_dir

    store = tmp_path / "s.zarr"
    shutil.copytree(whole[0], store)
    root = (store / "zarr.json").stat().st_size
    before = tree_hash(store)
    for limit in (1500, root // 2, root - 200, root + 100):
        proc = _limited(limit, f"roi {store} --x-index 0:4 --name r5")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (limit, proc.stderr[-2000:])
        assert lines[0].startswith(f"error: {store}: no room to write (File too large): nothing was written"), lines
        assert tree_hash(store) == before and not tx_dir(store).exists(), limit
