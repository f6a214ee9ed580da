"""Install anywhere (issue 41): vaearr where ``fcntl`` is missing (Windows), and only public zarr API on the read path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
    run(f"ingest ebsd {source} --store {store}")      # writes through the store lock
    run(f"roi {store} --x 0:3 --figures {store}_figures")  # a second write, and an output folder made
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
                               "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr
    assert "roi: kept 9 of 9 pixels" in proc.stdout, proc.stdout
