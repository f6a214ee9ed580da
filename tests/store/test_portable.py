"""Install anywhere (issue 41): vaearr where ``fcntl`` is missing (Windows), and only public zarr API on the read path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO

#: Runs in a fresh interpreter in which vaearr's own modules cannot import ``fcntl``, as on Windows. Only vaearr's
#: imports are refused: the libraries under it keep theirs (on Windows each takes its own path, e.g. locket, under
#: dask.distributed, takes msvcrt), so what this proves is that vaearr itself needs no fcntl.
NO_FCNTL = textwrap.dedent('''
    import builtins, os, sys
    from pathlib import Path

    _import = builtins.__import__

    def no_fcntl_for_vaearr(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "fcntl" and str((globals or {}).get("__name__", "")).startswith("vaearr"):
            raise ImportError("No module named 'fcntl'")
        return _import(name, globals, locals, fromlist, level)

    builtins.__import__ = no_fcntl_for_vaearr

    import vaearr
    from vaearr import files
    from vaearr.cli import run
    from vaearr.errors import StoreBusyError
    from vaearr.store import open_store, store_lock, transaction

    assert transaction.fcntl is None and files.fcntl is None, "vaearr imported fcntl"
    store, source = sys.argv[1], sys.argv[2]
    run(f"ingest ebsd {source} {store}")      # writes through the store lock
    run(f"roi {store} --x 0:3 --out {store}_figures")  # a second write, and an output folder made
    assert bool(open_store(store)["roi"].all()), "no roi written"
    lock = Path(store + transaction.LOCK_SUFFIX)
    assert not lock.exists(), "a lock file was left beside the store"
    with store_lock(store):  # held, a second writer is refused, naming the holder
        assert lock.exists()
        try:
            with store_lock(store):
                raise SystemExit("a second writer took the lock")
        except StoreBusyError as exc:
            assert f"pid {os.getpid()}" in str(exc), str(exc)
    assert not lock.exists(), "the lock file outlived its release"
    print("OK", vaearr.__version__)
''')


def test_vaearr_writes_stores_where_fcntl_is_missing(kikuchipy_data_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "no_fcntl.py"
    script.write_text(NO_FCNTL)
    store = tmp_path / "ni.zarr"
    proc = subprocess.run([sys.executable, str(script), str(store),
                           str(kikuchipy_data_dir / "kikuchipy_h5ebsd" / "patterns.h5")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "VAEARR_PROGRESS": "off",
                               "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr
    assert "roi: kept 9 of 9 pixels" in proc.stdout, proc.stdout


# -- zarr internals: taken only on the zarr releases vaearr is tested with, the public path otherwise -------


def _blosc_store(path: Path) -> Path:
    """A (y, x, py, px) map in a zarr v3 store with blosc chunks: read through zarr (not vaearr's own chunk-file
    reader, which takes only the codecs vaearr writes), where the internals are used."""
    import numpy as np
    import zarr

    rng = np.random.default_rng(5)
    group = zarr.open_group(path, mode="w", zarr_format=3)
    a = group.create_array("patterns", shape=(12, 10, 6, 5), chunks=(4, 5, 6, 5), dtype="uint16",
                           compressors=zarr.codecs.BloscCodec(cname="lz4"), dimension_names=("y", "x", "py", "px"))
    a[...] = rng.integers(0, 4000, a.shape, dtype=np.uint16)
    m = group.create_array("roi", shape=(12, 10), chunks=(4, 5), dtype="bool", dimension_names=("y", "x"))
    m[...] = rng.random((12, 10)) < 0.8
    zarr.consolidate_metadata(path)
    return path


def _batches(store: Path, **kw) -> list:
    from vaearr.batches import ZarrBatches

    loader = ZarrBatches(store, var="patterns", sample_dims=("y", "x"), feature_dims=("py", "px"), batch_size=7,
                         seed=3, return_index=True, **kw)
    with loader:
        return [(x.numpy().copy(), i.numpy().copy()) for x, i in loader]


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_the_public_zarr_path_reads_the_same_batches(tmp_path: Path, monkeypatch) -> None:
    import numpy as np
    import zarr

    from vaearr.batches.read import Source
    from vaearr.maps.patterns.background import static_background
    from vaearr.store import zarr_internals

    store = _blosc_store(tmp_path / "blosc.zarr")
    assert zarr_internals.zarr_release() in zarr_internals.TESTED and zarr_internals.enabled()
    # the stored dtype and layout (each chunk straight into its rows), a cast, a mask, a shuffle
    cases = [dict(dtype=None, shuffle=False), dict(dtype="float32", mask="roi", shuffle=True)]
    private = [_batches(store, **kw) for kw in cases]
    background = static_background(store, "patterns", ("y", "x"), mask="roi")
    reads = []
    original = Source.read_into
    monkeypatch.setattr(Source, "read_into", lambda self, *a, **k: (reads.append(self.files), original(self, *a, **k))[1])
    monkeypatch.setenv(zarr_internals.ENVIRONMENT, "off")  # as a zarr outside TESTED gets it
    assert not zarr_internals.enabled() and zarr_internals.runner() is None
    public = [_batches(store, **kw) for kw in cases]
    assert reads and all(f is None for f in reads), "the batches were not read through zarr"
    for got, want in zip(public, private, strict=True):
        assert len(got) == len(want) > 1
        for (x, i), (x0, i0) in zip(got, want, strict=True):
            np.testing.assert_array_equal(i, i0)
            np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(static_background(store, "patterns", ("y", "x"), mask="roi"), background)
    # a zarr release vaearr has not been tested with takes the public path too
    monkeypatch.delenv(zarr_internals.ENVIRONMENT)
    monkeypatch.setattr(zarr, "__version__", "3.9.0")
    assert zarr_internals.zarr_release() == (3, 9) and not zarr_internals.enabled()


def test_the_set_up_says_which_torch_build_it_has_and_its_size() -> None:
    """`.ci/torch.sh` (the Makefile's torch step) on this venv: the build and its size in one line, nothing
    installed (the other branches install a wheel; they were run by hand: see CHANGELOG, issue 41)."""
    import torch

    root = REPO
    version = torch.__version__.split("+")[0]
    proc = subprocess.run(["bash", str(root / ".ci" / "torch.sh"), sys.executable, version],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    size = sum(f.stat().st_size for f in Path(torch.__file__).parent.rglob("*") if f.is_file()) / 1e9
    line = proc.stdout.strip()
    assert line.startswith(f"torch: {torch.__version__}, the {build} build, {size:.2f} GB installed"), line
    assert line.endswith("; from the venv (already installed)"), line  # (+ its CUDA libraries' size, if any)
