"""Bounded hostile input (issue 42, part 3): a file's declared sizes are checked against its real size and a stated
memory budget before a reader allocates anything. Each case runs the real command in a process whose address
space is limited in the test (``RLIMIT_AS`` 2 GB: today's readers run out of it and end in an 'unexpected
MemoryError', or, unlimited, take 5.8 GB and more); the refusal is one line naming the file and what is wrong,
exit 2, the store as it was. NaN or infinite patterns are refused at ingest the same way."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.helpers import tree_hash

pytest.importorskip("orix", reason="needs the 'ebsd' extra")

#: the address space a command may take here (its imports take about 1 GB of it)
LIMIT = 2 * 2**30
_LIMITED = textwrap.dedent("""
    import resource, sys
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.argv = ["vaearr", *sys.argv[2:]]
    from vaearr.cli import main
    main()
""")


def _limited(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _LIMITED, str(LIMIT), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "VAEARR_PROGRESS": "off", **(env or {})})


def _refused(proc: subprocess.CompletedProcess, path: Path, *needles: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, proc.stderr[-2000:])
    assert lines[0].startswith(f"error: {path}: ") and "unexpected" not in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> Path:
    """A 4 × 5 scan of 8 × 8 float32 patterns in a plain HDF5 file (with x, y), ingested into a store."""
    root = tmp_path_factory.mktemp("hostile")
    src = root / "ok.h5"
    with h5py.File(src, "w") as f:
        f["patterns"] = (np.random.default_rng(0).random((20, 8, 8)) * 100).astype(np.float32)
        f["x"], f["y"] = np.tile(np.arange(5.0), 4), np.repeat(np.arange(4.0), 5)
    store = root / "map.zarr"
    proc = _limited("ingest", "ebsd", src, "--dataset", "patterns", store)
    assert proc.returncode == 0, proc.stderr  # the same command with good input works under the same limit
    return store


ANG_HEAD = "# NCOLS_ODD: 5\n# NCOLS_EVEN: 5\n# NROWS: 4\n"


@pytest.mark.parametrize("case", ["sparse", "no header", "rows", "budget", "ctf rows"])
def test_a_text_map_whose_header_and_size_disagree_is_refused_before_it_is_read(scan, tmp_path, case):
    """``.ang``/``.ctf``: a 2 GB sparse file (its header, then NUL bytes; or nothing but NULs), a header of 20
    points over 20 000 rows, a header of 9 × 10⁸ points beyond the budget. Today: 'unexpected MemoryError'."""
    store = tmp_path / "s.zarr"
    import shutil

    shutil.copytree(scan, store)
    before = tree_hash(store)
    env = {}
    if case in ("sparse", "no header"):
        path = tmp_path / "map.ang"
        path.write_text(ANG_HEAD if case == "sparse" else "")
        os.truncate(path, 2 * 10**9)
        needles = ("holds NUL bytes",)
    elif case == "rows":
        path = tmp_path / "map.ang"
        path.write_text(ANG_HEAD + "0 0 0 0 0 0 0 0 0 0\n" * 20000)
        needles = ("more than the 20 points its header announces can take", "its header and its size disagree")
    elif case == "budget":
        path = tmp_path / "map.ang"
        path.write_text("# NCOLS_ODD: 30000\n# NCOLS_EVEN: 30000\n# NROWS: 30000\n" + "0 0 0 0 0 0 0 0 0 0\n" * 50)
        env = {"VAEARR_MEMORY_BUDGET": "1G"}
        needles = ("its 900000000 points of 10 columns would take", "more than the budget of 1.07 GB")
    else:
        path = tmp_path / "map.ctf"
        path.write_text("Channel Text File\nXCells\t5\nYCells\t4\nXStep\t1\nYStep\t1\nPhases\t0\n"
                        "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS\n"
                        + "0\t0\t0\t0\t3\t0\t0\t0\t0\t0\t0\n" * 20000)
        needles = ("its header and its size disagree",)
    _refused(_limited("ingest", "orientations", path, store, env=env), path, *needles)
    assert tree_hash(store) == before


def test_a_csv_with_more_columns_than_the_limit_is_refused_before_it_is_read(scan, tmp_path):
    """A 10 MB element table of 10⁶ columns (one line), and one of 20 000: refused before pandas reads them (the
    limit is 10 000 columns). Today: more than 300 s and 3.3 GB for the first."""
    before = tree_hash(scan)
    for cols, needle in ((10**6, "has a line longer than 1048576 characters"),
                         (20000, "has 20002 columns, more than the 10000 vaearr reads")):
        path = tmp_path / f"wide{cols}.csv"
        path.write_text(",".join(["x", "y", *(f"e{i}" for i in range(cols))]) + "\n" + ",".join(["0"] * (cols + 2)) + "\n")
        _refused(_limited("ingest", "tables", scan, "--elements", path), path, needle)
    assert tree_hash(scan) == before


def test_an_hdf5_dataset_beyond_the_file_or_the_budget_is_refused_before_it_is_read(tmp_path):
    """A contiguous pattern dataset declaring 360 MB in a 2 kB file (never written: it reads as zeros), and x/y
    datasets of 10⁸ values (compressed, so the file is small) read whole beyond a budget of 256 MB. Today: the
    first is ingested, 10⁵ patterns of zeros streamed into a store; the second allocates 800 MB per dataset."""
    lie = tmp_path / "lie.h5"
    with h5py.File(lie, "w") as f:
        f.create_dataset("patterns", shape=(10**5, 60, 60), dtype="u1")
    _refused(_limited("ingest", "ebsd", lie, "--dataset", "patterns", "--scan-shape", "100x1000",
                      tmp_path / "a.zarr"), lie,
             "dataset /patterns declares 360 MB (100000 × 60 × 60 uint8) but the file holds 0 B of it")
    big = tmp_path / "big.h5"
    n = 10**8
    with h5py.File(big, "w") as f:
        f.create_dataset("patterns", shape=(n, 2, 2), dtype="u1", chunks=(2**20, 2, 2), compression="gzip")
        for name in ("x", "y"):
            f.create_dataset(name, shape=(n,), dtype="f4", chunks=(2**20,), compression="gzip", fillvalue=0)
    _refused(_limited("ingest", "ebsd", big, "--dataset", "patterns", tmp_path / "b.zarr",
                      env={"VAEARR_MEMORY_BUDGET": "256M"}), big,
             "dataset /x would take 800 MB of memory, more than the budget of 268 MB")
    assert not (tmp_path / "a.zarr").exists() and not (tmp_path / "b.zarr").exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_patterns_are_refused_at_ingest(scan, tmp_path, bad):
    """Float patterns with a NaN or an infinity: refused at ingest, naming the file and where, nothing written (a new
    store not made, an existing one as it was). Today they are ingested and 'train' then fails with 'unexpected …
    Input contains NaN'."""
    src = tmp_path / "bad.h5"
    p = (np.random.default_rng(1).random((20, 8, 8)) * 100).astype(np.float32)
    p[7, 3, 3] = bad
    with h5py.File(src, "w") as f:
        f["patterns"] = p
        f["x"], f["y"] = np.tile(np.arange(5.0), 4), np.repeat(np.arange(4.0), 5)
    new = tmp_path / "new.zarr"
    _refused(_limited("ingest", "ebsd", src, "--dataset", "patterns", new), src,
             "holds NaN or infinite values in 1 patterns", "scan row 1, column 2")
    assert not new.exists() and not any(tmp_path.glob("*.vaearr-tx"))
    before = tree_hash(scan)
    _refused(_limited("ingest", "ebsd", src, "--dataset", "patterns", scan, "--overwrite"), src,
             "holds NaN or infinite values")
    assert tree_hash(scan) == before
