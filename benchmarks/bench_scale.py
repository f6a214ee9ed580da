"""A million-pixel map on one machine: every step of the path, its time and its peak memory.

A simulated ``--size`` × ``--size`` map of 60×60 uint8 patterns (default 1000 × 1000, 3.6 GB raw)
is written chunk by chunk by :func:`vaearr.data.make_big_hdf5` (never whole in memory), with a
band-contrast table, and then taken through the path a user types, one ``vaearr`` command per
step, each in its own process::

    ingest ebsd → roi --bc-otsu → train (1 epoch on a 10 % subset) → encode → segment
    → decompose pca → rank → cluster hdbscan → report

``train`` runs with the EBSD defaults, so it also fits the similarity weights and writes the
neighbour-averaged patterns (``patterns_sim3``, a pass over the whole map) before training.

``encode`` writes the latents only (``--no-recon-error``: the reconstruction-error map decodes
every pattern, about nine tenths of encode's time with the default conv-vae; ``--recon-error``
puts it back). It runs three times: in one process (the ``latent`` the later steps use), and on a
dask ``LocalCluster`` of 1 and then 2 worker processes (``--scheduler``; the latents go to
``latent_w1`` / ``latent_w2``), which gives the scaling from 1 to 2 workers.

Memory is the peak of the summed RSS and of the summed PSS of the step's whole process tree
(the command, its DataLoader workers, and for ``--scheduler`` runs the cluster's scheduler,
nannies and workers), sampled every 0.1 s. Summing RSS counts pages that processes share
(forked workers, the torch libraries) once per process, so it is an upper bound on what the
step holds; PSS divides each shared page among the processes that map it, so its sum is the
memory the tree takes from the machine. The goal is ≤ 2 GB for every step; for one-process
steps the two agree to a few MB.

Run::

    python benchmarks/bench_scale.py                  # 1000 × 1000 (about 40 min on 2 cores)
    python benchmarks/bench_scale.py --size 200       # a quick look

Prints a table and writes ``benchmarks/results/scale.json`` (``--out``). The map and the
store are deleted at the end unless ``--keep-data``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOAL_RSS_MB = 2048
BIN = Path(sys.executable).parent


def _tree_memory(procs: list[psutil.Process]) -> tuple[float, float]:
    """Summed RSS and summed PSS (MB) of the processes and all their children.

    RSS counts a page shared by several processes (the torch libraries, forked workers) once per
    process; PSS splits it among them, so the PSS sum is what the tree holds of the machine."""
    rss = pss = 0
    seen: set[int] = set()
    for root in procs:
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in family:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                info = p.memory_full_info()
            except psutil.Error:
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def run_step(name: str, argv: list[str], log: Path, also: list[psutil.Process] = ()) -> dict:
    """Run one command, sampling the RSS of its process tree (and of ``also``) until it ends."""
    print(f"[{_dt.datetime.now():%H:%M:%S}] {name}: {' '.join(argv)}", flush=True)
    env = {**os.environ, "VAEARR_PROGRESS": os.environ.get("VAEARR_PROGRESS", "off")}
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(argv)}\n")
        f.flush()
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        root = psutil.Process(proc.pid)
        peak = peak_pss = 0.0
        while proc.poll() is None:
            rss, pss = _tree_memory([root, *also])
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(0.1)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        raise SystemExit(f"{name} failed (exit {proc.returncode}); the end of {log}:\n" + "\n".join(tail))
    print(f"    {seconds:8.1f} s   peak RSS {peak:7.0f} MB   peak PSS {peak_pss:7.0f} MB", flush=True)
    return {"step": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1), "peak_pss_mb": round(peak_pss, 1),
            "command": " ".join(argv)}


CLUSTER = """
import sys, time
from dask.distributed import LocalCluster
n = int(sys.argv[1])
with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                  host="127.0.0.1") as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()   # until the benchmark closes stdin
"""


def start_cluster(n: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", CLUSTER, str(n)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    address = proc.stdout.readline().strip()
    if not address.startswith("tcp://"):
        proc.kill()
        raise SystemExit(f"the LocalCluster did not start (it printed {address!r})")
    return proc, address


def stop_cluster(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def later_steps(args: argparse.Namespace, n: int, d: Path, store: Path, run: Path, vaearr: str,
                log: Path) -> list[dict]:
    """decompose → rank → cluster → report, after the EBSD path."""
    steps: list[dict] = []
    steps.append(run_step("decompose pca", [vaearr, "decompose", str(store), "--method", "pca"], log))
    steps.append(run_step("rank", [vaearr, "rank", str(store), "--against", "pca", "bandcontrast",
                                   "--out", str(d / "rank")], log))
    mcs = args.min_cluster_size or max(20, n // 500)
    steps.append(run_step("cluster hdbscan", [vaearr, "cluster", str(store), "--method", "hdbscan",
                                              "--min-cluster-size", str(mcs),
                                              "--min-samples", str(args.min_samples), "--out", str(d / "cluster")], log))
    steps.append(run_step("report", [vaearr, "report", str(store), "--run", str(run),
                                     "--out", str(d / "report")], log))
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1000, help="map side in pixels (default 1000)")
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/vaearr-scale"))
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                    help="dask worker counts for the --scheduler encodes (default 1 2; none: skip)")
    ap.add_argument("--min-cluster-size", type=int, default=None,
                    help="HDBSCAN's smallest cluster (default: 0.2 %% of the map's pixels)")
    ap.add_argument("--min-samples", type=int, default=20,
                    help="HDBSCAN's core size (default 20; its k-NN table is pixels x min-samples: at 1M pixels "
                         "and the CLI's default of --min-cluster-size it took 14.8 GB)")
    ap.add_argument("--recon-error", action="store_true",
                    help="encode also writes latent_recon_error (decodes every pattern: ~10x the time)")
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--reuse-map", type=Path, default=None,
                    help="a folder with map.h5 and bandcontrast.csv of a run before (hard-linked: no simulation)")
    ap.add_argument("--subset", type=int, default=None, help="patterns in the training epoch (default 10 %% of the map)")
    ap.add_argument("--path-only", action="store_true",
                    help="only ingest → roi → train → encode (one process) → segment: the README's EBSD path")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    args = ap.parse_args()

    n = args.size * args.size
    d = args.data_dir / f"scale{args.size}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    log = d / "commands.log"
    h5, bc, store, run = d / "map.h5", d / "bandcontrast.csv", d / "map.zarr", d / "run"
    vaearr = str(BIN / "vaearr")
    steps: list[dict] = []
    t_all = time.perf_counter()

    make = ("from vaearr.data import make_big_hdf5; "
            f"b = make_big_hdf5({str(h5)!r}, {n}, scan_shape=({args.size}, {args.size}), "
            f"bandcontrast_csv={str(bc)!r}); print(b)")
    if args.reuse_map:
        for f in (h5, bc):
            os.link(args.reuse_map / f.name, f)
    else:
        steps.append(run_step("simulate the map (HDF5)", [sys.executable, "-c", make], log))
    steps.append(run_step("ingest ebsd", [vaearr, "ingest", "ebsd", str(h5), "--dataset", "patterns",
                                          "--bandcontrast", str(bc), "--store", str(store)], log))
    steps.append(run_step("roi --bc-otsu", [vaearr, "roi", str(store), "--bc-otsu"], log))
    subset = args.subset or max(1000, n // 10)
    steps.append(run_step(f"train 1 epoch on {subset} patterns",
                          [vaearr, "train", str(store), "--run", str(run), "--epochs", "1",
                           "--subset", str(subset)], log))
    rec = [] if args.recon_error else ["--no-recon-error"]
    steps.append(run_step("encode (one process)", [vaearr, "encode", str(store), "--run", str(run), *rec], log))
    for k in ([] if args.path_only else args.workers):
        cluster, address = start_cluster(k)
        try:
            s = run_step(f"encode on {k} dask worker{'s' if k > 1 else ''}",
                         [vaearr, "encode", str(store), "--run", str(run), "--name", f"latent_w{k}",
                          "--scheduler", address, *rec], log, also=[psutil.Process(cluster.pid)])
        finally:
            stop_cluster(cluster)
        s["workers"] = k
        steps.append(s)
    steps.append(run_step("segment", [vaearr, "segment", str(store), "--features", "latent",
                                      "--figures", str(d / "segment")], log))
    if not args.path_only:
        steps += later_steps(args, n, d, store, run, vaearr, log)
    total = time.perf_counter() - t_all

    sizes = {
        "hdf5_bytes": h5.stat().st_size,
        "store_bytes": sum(f.stat().st_size for f in store.rglob("*") if f.is_file()),
        "report_bytes": (d / "report" / "report.html").stat().st_size if not args.path_only else None,
    }
    enc = {s["workers"]: s["seconds"] for s in steps if "workers" in s}
    result = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "platform": platform.platform()},
        "size": args.size, "pixels": n, "raw_pattern_bytes": n * 3600,
        "steps": steps, "total_seconds": round(total, 1), **sizes,
        "peak_rss_mb_max": max(s["peak_rss_mb"] for s in steps),
        "peak_pss_mb_max": max(s["peak_pss_mb"] for s in steps),
        "goal_rss_mb": GOAL_RSS_MB,
        "encode_speedup_2_over_1_workers": round(enc[1] / enc[2], 3) if 1 in enc and 2 in enc else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{args.size} × {args.size} map ({n} patterns, {n * 3600 / 1e9:.2f} GB raw), "
          f"{os.cpu_count()} CPUs")
    print("| step | time (s) | peak RSS of the process tree (MB) | peak PSS (MB) |\n|---|---:|---:|---:|")
    for s in steps:
        print(f"| {s['step']} | {s['seconds']:.1f} | {s['peak_rss_mb']:.0f} | {s['peak_pss_mb']:.0f} |")
    print(f"total {total:.0f} s; largest peak {result['peak_rss_mb_max']:.0f} MB RSS, "
          f"{result['peak_pss_mb_max']:.0f} MB PSS (goal ≤ {GOAL_RSS_MB}); "
          f"encode 2 workers vs 1: {result['encode_speedup_2_over_1_workers']}×; "
          f"store {sizes['store_bytes'] / 1e9:.2f} GB")
    print(f"wrote {args.out}")
    if not args.keep_data:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
