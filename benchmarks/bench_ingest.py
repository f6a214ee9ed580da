"""How fast, and in how much memory, does ``ingest_ebsd`` stream a multi-GB pattern file?

For each size (default 1 GB and 4 GB of raw pattern bytes, N×60×60 uint8, gzip'd HDF5 made by
:func:`benchmarks.data.make_big_hdf5` into ``--data-dir`` and reused if present) two programs run,
each in a fresh subprocess so peak RSS is their own:

* **baseline**: the least any ingest must do — h5py reads the file in slabs of whole HDF5
  chunks, each slab is compressed with numcodecs ``Zstd(level=3)`` and thrown away;
* **ingest**: ``vaearr.io.ebsd.ingest_ebsd(file, store, dataset="patterns")`` into a
  scratch store (deleted afterwards): grid inference from ``/x``, ``/y``, reads, zstd +
  crc32c, writing and the store's transaction.

Throughput is raw pattern bytes (N·60·60) per second of wall time of the work alone
(imports excluded on both sides); the goal is ingest/baseline ≥ 0.8. Peak RSS is the child's
``VmHWM``; the goal is ≤ 1.5 GB and flat from 1 GB to 4 GB. Both read a warm page cache
(the file is read once before the first run). ``--repeats`` runs baseline and ingest
alternately and reports the median, because other work on the machine moves single runs.

Run::

    python benchmarks/bench_ingest.py                    # 1 GB and 4 GB, then delete the files
    python benchmarks/bench_ingest.py --sizes 0.05 --keep-data   # a quick look

Prints a table and writes ``benchmarks/results/ingest.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): 10 MB once.
QUICK = ("--sizes", "0.01", "--repeats", "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PATTERN_SHAPE = (60, 60)
GOAL_RATIO = 0.8
GOAL_RSS_MB = 1536


# --------------------------------------------------------------------------------------------
# the two measured programs (run in a child process)


def _peak_rss_mb() -> float:
    """Peak RSS of this process since it started (VmHWM).

    Not ``ru_maxrss``: Linux carries that over from the parent across fork + exec, so a child
    of a big parent would report the parent's size.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child_baseline(path: str) -> dict:
    import h5py
    from numcodecs import Zstd

    codec = Zstd(level=3)
    t0 = time.perf_counter()
    raw = packed = 0
    with h5py.File(path, "r") as f:
        ds = f["patterns"]
        slab = (ds.chunks[0] if ds.chunks else 1024) * 4  # whole HDF5 chunks, ~15 MB
        for a in range(0, ds.shape[0], slab):
            block = ds[a : a + slab]
            raw += block.nbytes
            packed += len(codec.encode(block))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "raw_bytes": raw, "compressed_bytes": packed}


def _child_ingest(path: str, store: str) -> dict:
    from vaearr.io.ebsd import ingest_ebsd

    t0 = time.perf_counter()
    ds = ingest_ebsd(path, store, dataset="patterns")
    seconds = time.perf_counter() - t0
    stored = sum(p.stat().st_size for p in Path(store).rglob("*") if p.is_file())
    return {"seconds": seconds, "raw_bytes": int(ds.patterns.nbytes), "compressed_bytes": stored,
            "chunks": list(ds.patterns.encoding["chunks"]), "shape": list(ds.patterns.shape)}


def _child(argv: list[str]) -> None:
    kind, path = argv[0], argv[1]
    import h5py  # noqa: F401 - imports are not part of the measured time
    cpu0 = time.process_time()
    if kind == "ingest":
        # what ingest_ebsd imports on first use: import time is not ingest time
        import dask.array  # noqa: F401
        import xarray  # noqa: F401
        import zarr  # noqa: F401

        import vaearr.io.ebsd  # noqa: F401
        import vaearr.io.grid  # noqa: F401

        cpu0 = time.process_time()
        out = _child_ingest(path, argv[2])
    else:
        import numcodecs  # noqa: F401

        cpu0 = time.process_time()
        out = _child_baseline(path)
    # CPU seconds of all threads: on a shared machine the fairer measure of the work done
    out["cpu_seconds"] = time.process_time() - cpu0
    out["peak_rss_mb"] = _peak_rss_mb()
    out["mb_per_s"] = out["raw_bytes"] / 1e6 / out["seconds"]
    print("RESULT " + json.dumps(out), flush=True)


def _run_child(kind: str, path: Path, store: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, str(path)] + ([str(store)] if store else [])
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "VAEARR_PROGRESS": "off", "PYTHONPATH": pythonpath}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


# --------------------------------------------------------------------------------------------
# data, machine


def _data_file(data_dir: Path, size_gb: float) -> tuple[Path, dict]:
    """The benchmark file for ``size_gb`` GB of raw patterns, generated unless already there."""
    import h5py

    from benchmarks.data import big_scan_shape, make_big_hdf5

    n = int(round(size_gb * 1e9 / (PATTERN_SHAPE[0] * PATTERN_SHAPE[1])))
    ny, nx = big_scan_shape(n)
    path = data_dir / f"patterns_{ny}x{nx}.h5"
    if path.is_file():
        try:
            with h5py.File(path, "r") as f:
                if f["patterns"].shape == (ny * nx, *PATTERN_SHAPE) and "x" in f:
                    return path, {"generated": False, "scan_shape": [ny, nx]}
        except OSError:
            pass  # a half-written file from an interrupted run: make it again
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ({ny}×{nx} patterns, {ny * nx * 3600 / 1e9:.2f} GB raw)...", flush=True)
    info = make_big_hdf5(path, n, pattern_shape=PATTERN_SHAPE, progress=sys.stderr.isatty())
    return path, {"generated": True, "scan_shape": [ny, nx], "generate_seconds": round(info.seconds, 1)}


def _remove_store(store: Path) -> None:
    shutil.rmtree(store, ignore_errors=True)
    Path(str(store) + ".vaearr-lock").unlink(missing_ok=True)


def _has_libdeflate() -> bool:
    import importlib.util

    return importlib.util.find_spec("deflate") is not None


def _warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(64 * 2**20):
            pass


def _machine() -> dict:
    import psutil

    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import dask
    import h5py
    import numcodecs
    import zarr

    return {
        "cpu": model, "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(), "platform": platform.platform(),
        "versions": {"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version, "zarr": zarr.__version__,
                     "dask": dask.__version__, "numcodecs": numcodecs.__version__},
    }


# --------------------------------------------------------------------------------------------
# main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1.0, 4.0], help="GB of raw patterns (default 1 4)")
    ap.add_argument("--repeats", type=int, default=3, help="baseline/ingest pairs per size (median reported)")
    ap.add_argument("--data-dir", type=Path, default=HERE / "_data", help="where the generated files go")
    ap.add_argument("--keep-data", action="store_true", help="keep the generated files for the next run")
    ap.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = ap.parse_args(argv)

    machine = _machine()
    started = _dt.datetime.now().astimezone()
    rows = []
    made: list[Path] = []
    try:
        for size in args.sizes:
            path, info = _data_file(args.data_dir, size)
            if info["generated"]:
                made.append(path)
            _warm(path)
            runs: dict[str, list[dict]] = {"baseline": [], "ingest": []}
            loads = []
            # each run writes its own store; all are deleted after the last run. Deleting one
            # right before the next run would charge that run for it: for minutes after
            # thousands of files are deleted, ext4 makes creating new ones slow (its
            # "recently deleted" inode check, seen with perf in mkdir)
            stores = [args.data_dir / f"bench_{path.stem}_{r}.zarr" for r in range(args.repeats)]
            for store in stores:
                _remove_store(store)
            for r, store in enumerate(stores):
                loads.append(os.getloadavg()[0])
                runs["baseline"].append(_run_child("baseline", path))
                runs["ingest"].append(_run_child("ingest", path, store))
                b, i = runs["baseline"][-1], runs["ingest"][-1]
                print(f"  {size:g} GB run {r + 1}: baseline {b['mb_per_s']:.0f} MB/s, ingest {i['mb_per_s']:.0f} MB/s "
                      f"({i['mb_per_s'] / b['mb_per_s']:.2f}), CPU s {b['cpu_seconds']:.1f} / {i['cpu_seconds']:.1f}, "
                      f"peak RSS {i['peak_rss_mb']:.0f} MB, load {loads[-1]:.1f}", flush=True)
            for store in stores:
                _remove_store(store)
            med = {k: statistics.median(x["mb_per_s"] for x in v) for k, v in runs.items()}
            ratios = [i["mb_per_s"] / b["mb_per_s"] for b, i in zip(runs["baseline"], runs["ingest"])]
            rows.append({
                "size_gb": size,
                "file": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
                "file_bytes": path.stat().st_size,
                **info,
                "raw_bytes": runs["ingest"][0]["raw_bytes"],
                "store_bytes": runs["ingest"][0]["compressed_bytes"],
                "store_chunks": runs["ingest"][0]["chunks"],
                "baseline_mb_per_s": round(med["baseline"], 1),
                "ingest_mb_per_s": round(med["ingest"], 1),
                "ratio": round(statistics.median(ratios), 3),
                "ratio_runs": [round(r, 3) for r in ratios],
                "baseline_cpu_s_per_gb": round(statistics.median(x["cpu_seconds"] / x["raw_bytes"] * 1e9 for x in runs["baseline"]), 2),
                "ingest_cpu_s_per_gb": round(statistics.median(x["cpu_seconds"] / x["raw_bytes"] * 1e9 for x in runs["ingest"]), 2),
                "libdeflate": _has_libdeflate(),
                "ingest_peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs["ingest"]), 1),
                "baseline_peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs["baseline"]), 1),
                "load_avg_1min_before_runs": [round(x, 2) for x in loads],
                "runs": runs,
            })
    finally:
        if not args.keep_data:
            for p in made + ([args.data_dir / f"patterns_{r['scan_shape'][0]}x{r['scan_shape'][1]}.h5" for r in rows]):
                p.unlink(missing_ok=True)

    rss = [r["ingest_peak_rss_mb"] for r in rows]
    summary = {
        "goal_ratio": GOAL_RATIO, "goal_peak_rss_mb": GOAL_RSS_MB,
        "ratio_met": all(r["ratio"] >= GOAL_RATIO for r in rows),
        "rss_met": all(x <= GOAL_RSS_MB for x in rss),
        "rss_growth_mb": round(rss[-1] - rss[0], 1) if len(rss) > 1 else 0.0,
    }
    result = {
        "benchmark": "bench_ingest.py", "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": started.isoformat(timespec="seconds"), "machine": machine, "repeats": args.repeats,
        "sizes": rows, "summary": summary,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    head = (f"{'size':>6} {'patterns':>10} {'baseline MB/s':>14} {'ingest MB/s':>12} {'ratio':>6} "
            f"{'CPU s/GB base':>14} {'CPU s/GB ingest':>16} {'peak RSS MB':>12}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        n = r["scan_shape"][0] * r["scan_shape"][1]
        print(f"{r['size_gb']:>5g}G {n:>10,} {r['baseline_mb_per_s']:>14.1f} {r['ingest_mb_per_s']:>12.1f} "
              f"{r['ratio']:>6.2f} {r['baseline_cpu_s_per_gb']:>14.2f} {r['ingest_cpu_s_per_gb']:>16.2f} "
              f"{r['ingest_peak_rss_mb']:>12.0f}")
    print(f"\ngoals: ratio ≥ {GOAL_RATIO} {'met' if summary['ratio_met'] else 'MISSED'}; "
          f"peak RSS ≤ {GOAL_RSS_MB} MB {'met' if summary['rss_met'] else 'MISSED'} "
          f"(growth {summary['rss_growth_mb']:+.0f} MB)")
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":  # one measurement in its own process: no harness, no lock
        _child(sys.argv[2:])
    else:
        raise SystemExit(harness.script(__file__, main))
