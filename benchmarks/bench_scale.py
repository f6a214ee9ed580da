"""Does a million-pixel map go through the whole path on one machine, in what wall time, CPU time and peak memory?

A simulated ``--size`` × ``--size`` map of 60×60 uint8 patterns (default 1000 × 1000, 3.6 GB raw) is
written chunk by chunk by :func:`benchmarks.data.make_big_hdf5` (never whole in memory), with a
band-contrast table, and then taken through the path a user types, one ``vaearr`` command per
step, each in its own process (issue 39's path)::

    ingest ebsd → roi --bc-otsu → train --window auto → encode → segment → spread → rank → cluster → report

``train --window auto`` chooses a training window from the data (:mod:`vaearr.maps.roi.window`: about
twice the mean linear intercept of the pattern-similarity boundaries, grown until it holds every
kind of region), fits the similarity weights and the static background on the map, writes the
window's averaged patterns into the run folder and trains there with the EBSD defaults; the
store is not written. ``encode`` (the README's defaults: the latents and the reconstruction error, which
decodes every pattern) then averages every pattern with its neighbours as it reads it and writes the latents of
the whole map; an ``encode --no-recon-error`` (the latents alone) runs beside it, labelled and left out of the
path's time (``--no-beside``: not). Encode's ROI patterns a second are set against the compute bound of both
networks (:func:`encode_bound`). The row
"neighbour averaging" is that averaging pass alone (run once more on its own after encode: inside
encode it overlaps the encoder in a thread of its own). ``--subset N`` trains on a seeded subset of
N patterns of the whole map instead (the path before issue 39, writing ``patterns_sim3`` for the
whole map), and ``--workers 1 2`` adds encodes on a dask ``LocalCluster`` of 1 and 2 workers.

Each step's CPU time is the user + system time of its process tree (``getrusage`` of the reaped
children); memory is the peak of the summed RSS and of the summed PSS of the step's whole process
tree (the command, its DataLoader workers, and for ``--scheduler`` runs the cluster's scheduler,
nannies and workers), sampled every 0.1 s. Summing RSS counts pages that processes share (forked
workers, the torch libraries) once per process, so it is an upper bound on what the step holds;
PSS divides each shared page among the processes that map it. The goal is ≤ 2 GB for every step,
and ≤ 15 minutes for the path from ingest to report. The load average of the machine is recorded
at the start and end of each step: on a shared machine the times are only as good as it.

The report is then opened in Chromium (``/usr/bin/chromium``, through playwright, when both are
there): the seconds to its ``load`` event and to the first drawn map.

Run::

    python benchmarks/bench_scale.py                       # 1000 × 1000 (about 15 min on 2 idle cores)
    python benchmarks/bench_scale.py --size 316            # 10⁵ pixels
    python benchmarks/bench_scale.py --size 200            # a quick look
    # spread alone after segment, and again beside it with commit REV's package: the ratio, the same degrees?
    python benchmarks/bench_scale.py --size 160 --analysis spread --spread-against REV
    # on a GPU box without kikuchipy or the viz extra: save the tiled pool here, carry it there
    python -c "from benchmarks.data.bench import big_pool; big_pool().save('pool64.npz')"
    python benchmarks/bench_scale.py --device cuda --pool pool64.npz --path-only --no-figures

Prints a table and writes ``benchmarks/results/scale.jsonl`` (``--out``). The map and the
store are deleted at the end unless ``--keep-data``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): a 16 × 16 map, the path to segment.
QUICK = ("--size", "16", "--path-only")

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOAL_RSS_MB = 2048
GOAL_SECONDS = 900
BIN = Path(sys.executable).parent


#: Seconds between two samples of a step's RSS (``/proc/PID/statm``: a read of counters) and of its PSS
#: (``smaps_rollup``: a walk of every page table, holding the process's memory-map lock, so that its page faults wait:
#: sampled every 0.1 s it took 17 % of a core and slowed encode's 10⁶ pass from 302 to 362 s).
RSS_EVERY, PSS_EVERY = 0.1, 5.0


def _tree_memory(procs: list[psutil.Process], pss: bool = True) -> tuple[float, float]:
    """Summed RSS and summed PSS (MB) of the processes and all their children (``pss=False``: RSS alone, PSS 0).

    RSS counts a page shared by several processes (the torch libraries, forked workers) once per
    process; PSS splits it among them, so the PSS sum is what the tree holds of the machine."""
    rss = shared = 0
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
                info = p.memory_full_info() if pss else p.memory_info()
            except psutil.Error:
                continue
            rss += info.rss
            shared += getattr(info, "pss", info.rss) if pss else 0
    return rss / 2**20, shared / 2**20


def run_step(name: str, argv: list[str], log: Path, also: list[psutil.Process] = ()) -> dict:
    """Run one command, sampling the memory of its process tree (and of ``also``) until it ends; its wall
    time, the CPU time of its reaped process tree and the load average before and after."""
    print(f"[{_dt.datetime.now():%H:%M:%S}] {name}: {' '.join(argv)}", flush=True)
    env = {**os.environ, "VAEARR_PROGRESS": os.environ.get("VAEARR_PROGRESS", "off")}
    load0 = os.getloadavg()[0]
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(argv)}\n")
        f.flush()
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        root = psutil.Process(proc.pid)
        peak = peak_pss = 0.0
        last_pss = -PSS_EVERY
        while proc.poll() is None:
            with_pss = time.perf_counter() - last_pss >= PSS_EVERY
            rss, pss = _tree_memory([root, *also], pss=with_pss)
            if with_pss:
                last_pss = time.perf_counter()
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(RSS_EVERY)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime - usage0.ru_utime) + (usage.ru_stime - usage0.ru_stime)
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        raise SystemExit(f"{name} failed (exit {proc.returncode}); the end of {log}:\n" + "\n".join(tail))
    print(f"    {seconds:8.1f} s   CPU {cpu:8.1f} s   peak RSS {peak:7.0f} MB   peak PSS {peak_pss:7.0f} MB   "
          f"load {load0:.1f} → {os.getloadavg()[0]:.1f}", flush=True)
    return {"step": name, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(peak, 1),
            "peak_pss_mb": round(peak_pss, 1), "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
            "command": " ".join(argv)}


#: The neighbour-averaging pass of a windowed run alone: every pattern of the map averaged as encode reads it.
AVERAGE = """
import sys, time
from vaearr.run import Run
from vaearr.store import open_store
from vaearr.store.schema import MAP_DIMS
store, run = sys.argv[1], Run.open(sys.argv[2])
d = run.data
ds = open_store(store)
raw = open_store(store, chunks=None)[d.var].transpose(*MAP_DIMS, *d.feature_dims)
mask = ds[d.mask].transpose(*MAP_DIMS).values if d.mask else None
n = 0
for _, block in run.preprocess.neighbours.stream(lambda ys: raw[{MAP_DIMS[0]: ys}].values, raw.shape[:2], mask, rows=8):
    n += block.shape[0] * block.shape[1]
print(f"averaged {n} patterns")
"""


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


def analysis_steps(args: argparse.Namespace, n: int, d: Path, store: Path, run: Path, vaearr: list[str],
                   log: Path) -> list[dict]:
    """spread → rank → cluster → report, after segment (``--analysis report``: the report alone; ``spread``: spread
    alone). ``--spread-against REV``: spread once more beside the path, on the store as segment left it, with commit
    REV's package (:mod:`benchmarks.spread_against`)."""
    steps: list[dict] = []
    if args.analysis == "report":
        return [run_step("report", [*vaearr, "report", str(store), "--run", str(run), "--out", str(d / "report")], log)]
    before = d / "before-spread.zarr"
    if args.spread_against:
        shutil.copytree(store, before)
    steps.append(run_step("spread", [*vaearr, "spread", str(store), "--var", "latent", "--regions", "segments",
                                     "--out", str(d / "spread")], log))
    if args.spread_against:
        from benchmarks.spread_against import spread_against

        other = spread_against(args.spread_against, before, store, d, log, run_step, steps[-1])
        steps.append({**other.pop("step"), **other})
        print(f"    spread against {args.spread_against}: x {other['speedup_wall']} wall, x {other['speedup_cpu']} CPU; "
              f"the same: {other['same']}", flush=True)
    if args.analysis == "spread":
        return steps
    steps.append(run_step("rank", [*vaearr, "rank", str(store), "--against", "bandcontrast", "latent_domain_spread",
                                   "--out", str(d / "rank")], log))
    mcs = args.min_cluster_size or max(20, n // 500)
    steps.append(run_step("cluster hdbscan", [*vaearr, "cluster", str(store), "--method", "hdbscan",
                                              "--min-cluster-size", str(mcs),
                                              "--min-samples", str(args.min_samples), "--out", str(d / "cluster")], log))
    steps.append(run_step("report", [*vaearr, "report", str(store), "--run", str(run),
                                     "--out", str(d / "report")], log))
    return steps


_ANY_CANVAS = """(() => { const any = (root) => [...root.querySelectorAll('*')].some(
    (e) => e.tagName === 'CANVAS' || (e.shadowRoot && any(e.shadowRoot))); return any(document); })()"""


def planted_grains_ari(h5: Path, store: Path, var: str = "segments_grains") -> dict | None:
    """The segmentation's grains against the planted ones (connected pieces of the tiled pool's grain ids; mirror
    copies that touch are one grain), on ROI pixels not next to a planted boundary: how well ``segment`` holds at
    this size (not in the path's time)."""
    import h5py
    import numpy as np
    from scipy import ndimage as ndi
    from sklearn.metrics import adjusted_rand_score

    from vaearr.store import open_store

    ds = open_store(store)
    if var not in ds:
        return None
    with h5py.File(h5) as f:
        gid = np.asarray(f["grain_id"])
    shape = tuple(int(v) for v in ds[var].shape)
    gid = gid.reshape(shape)
    truth, n = np.zeros(shape, np.int64), 0
    for g in np.unique(gid):
        lab, k = ndi.label(gid == g)
        truth[lab > 0] = lab[lab > 0] + n
        n += k
    edge = np.zeros(shape, bool)
    for axis in (0, 1):
        step = np.diff(truth, axis=axis) != 0
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        edge[tuple(lo)] |= step
        edge[tuple(hi)] |= step
    seg = np.asarray(ds[var].values)
    keep = np.asarray(ds["roi"].values, bool) & ~edge & (seg >= 0) if "roi" in ds else ~edge & (seg >= 0)
    return {"planted": int(np.unique(truth[keep]).size), "found": int(np.unique(seg[keep]).size),
            "ari": round(float(adjusted_rand_score(truth[keep], seg[keep])), 3)}


def _encoded(log: Path) -> int | None:
    """The samples the last ``vaearr encode`` of ``log`` says it encoded."""
    import re

    found = re.findall(r"^encoded (\d+) samples", log.read_text(), re.M)
    return int(found[-1]) if found else None


def decoded_share(log: Path) -> float:
    """The share of the encoded samples whose error the last ``vaearr encode`` of ``log`` decoded (1: every one;
    less where it decoded the error on a grid)."""
    import re

    found = re.findall(r"reconstruction error on a grid.*?: (\d+) of (\d+)", log.read_text())
    return int(found[-1][0]) / int(found[-1][1]) if found else 1.0


def encode_bound(steps: list[dict], run: Path, decoded: float = 1.0) -> dict:
    """Encode's ROI patterns a second (with the error, the path's; and without, beside) against the compute bound of
    both networks: the run's encoder FLOPs a pattern and its decoder's on the ``decoded`` share the error needs
    (:mod:`benchmarks.bench_encoder`) at the machine's measured fp32 GEMM rate, now."""
    from benchmarks.bench_encoder import flops_per_pattern, gemm_rate
    from vaearr.run import Run

    r = Run.open(run)
    model, shape = r.model("best"), tuple(r.preprocess.input_shape)
    enc, dec = flops_per_pattern(model, shape), flops_per_pattern(model, shape, decoder=True)
    gemm = gemm_rate()
    rate = {s["step"]: round(s["encoded"] / s["seconds"]) for s in steps if s.get("encoded")}
    with_error = rate.get("encode (one process)")
    bound = gemm / (enc + decoded * dec)
    return {"encoder_mflop": round(enc / 1e6, 2), "decoder_mflop": round(dec / 1e6, 2), "gemm_gflops": round(gemm / 1e9, 1),
            "decoded_share": round(decoded, 4),
            "bound_both_patterns_per_s": round(bound), "bound_encoder_patterns_per_s": round(gemm / enc),
            "encode_roi_patterns_per_s": with_error, "encode_of_bound": round(with_error / bound, 3) if with_error else None,
            "encode_alone_roi_patterns_per_s": rate.get("encode --no-recon-error (beside; not in the path)")}


def open_report(page: Path) -> dict | None:
    """Seconds for Chromium to reach the report's ``load`` event and to draw its first map (None without
    playwright or ``/usr/bin/chromium``)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path("/usr/bin/chromium").exists():
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 900})
            t0 = time.perf_counter()
            pg.goto(page.as_uri(), wait_until="load", timeout=300_000)
            loaded = time.perf_counter() - t0
            # bokeh 3 draws in shadow roots: look for a canvas through them
            pg.wait_for_function(_ANY_CANVAS, timeout=300_000)
            drawn = time.perf_counter() - t0
        except Exception as exc:  # a page that never draws is a result, not a crash of the whole run
            return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                    "page_mb": round(page.stat().st_size / 1e6, 2)}
        finally:
            browser.close()
    return {"load_s": round(loaded, 2), "first_map_s": round(drawn, 2), "page_mb": round(page.stat().st_size / 1e6, 2)}


def _gpu() -> str | None:
    """The GPUs ``nvidia-smi -L`` lists (None where there is none)."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1000, help="map side in pixels (default 1000)")
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/vaearr-scale"))
    ap.add_argument("--workers", type=int, nargs="*", default=[],
                    help="dask worker counts for extra --scheduler encodes (default none; e.g. 1 2)")
    ap.add_argument("--min-cluster-size", type=int, default=None,
                    help="HDBSCAN's smallest cluster (default: 0.2 %% of the map's pixels)")
    ap.add_argument("--min-samples", type=int, default=20,
                    help="HDBSCAN's core size (default 20; its k-NN table is pixels x min-samples: at 1M pixels "
                         "and the CLI's default of --min-cluster-size it took 14.8 GB)")
    ap.add_argument("--no-beside", action="store_true",
                    help="skip the encode --no-recon-error beside the path's (the README's default) encode")
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--reuse-map", type=Path, default=None,
                    help="a folder with map.h5 and bandcontrast.csv of a run before (hard-linked: no simulation)")
    ap.add_argument("--subset", type=int, default=None,
                    help="train on a seeded subset of N patterns of the whole map (1 epoch) instead of --window")
    ap.add_argument("--window", default="auto", help="train --window (default auto)")
    ap.add_argument("--path-only", action="store_true",
                    help="only ingest → roi → train → encode → segment")
    ap.add_argument("--spread-against", default=None, metavar="REV",
                    help="time spread again beside the path with commit REV's package, on the same store, and compare "
                         "its KAM/GOS in degrees")
    ap.add_argument("--analysis", choices=("all", "report", "spread"), default="all",
                    help="after segment: spread, rank, cluster and report (all, the demo's), or the report alone "
                         "(the path issue 61 times: ingest → roi → train → encode → segment → report), or spread alone")
    ap.add_argument("--device", default=None,
                    help="train and encode on this device (e.g. cuda; default: the commands' own, cpu)")
    ap.add_argument("--pool", type=Path, default=None,
                    help="tile this saved pool (.npz of benchmarks.data.bench.BigPool) instead of simulating it: "
                         "a machine without kikuchipy (a GPU box) writes the same map")
    ap.add_argument("--no-figures", action="store_true",
                    help="segment writes no figures (a machine without the viz extra)")
    ap.add_argument("--no-segment", action="store_true",
                    help="with --path-only: stop after encode (the steps a GPU does; segment runs on the CPU)")
    ap.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = ap.parse_args()

    n = args.size * args.size
    d = args.data_dir / f"scale{args.size}"
    if args.reuse_map and args.reuse_map.resolve() == d.resolve():  # the folder is emptied first: the map would go
        ap.error(f"--reuse-map {args.reuse_map} is this run's own folder (emptied first); hard-link or copy it elsewhere")
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    log = d / "commands.log"
    h5, bc, store, run = d / "map.h5", d / "bandcontrast.csv", d / "map.zarr", d / "run"
    # the installed command; where the package is not installed (a GPU box: PYTHONPATH), the module
    vaearr = [str(BIN / "vaearr")] if (BIN / "vaearr").exists() else [sys.executable, "-m", "vaearr"]
    device = ["--device", args.device] if args.device else []
    steps: list[dict] = []

    pool = f", pool={str(args.pool.resolve())!r}" if args.pool else ""
    make = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.data.bench import make_big_hdf5; "
            f"b = make_big_hdf5({str(h5)!r}, {n}, scan_shape=({args.size}, {args.size}), "
            f"bandcontrast_csv={str(bc)!r}{pool}); print(b)")
    if args.reuse_map:
        for f in (h5, bc):
            os.link(args.reuse_map / f.name, f)
    else:
        steps.append(run_step("simulate the map (HDF5)", [sys.executable, "-c", make], log))
        steps[-1]["not_in_path"] = True
    t_path = time.perf_counter()
    steps.append(run_step("ingest ebsd", [*vaearr, "ingest", "ebsd", str(h5), "--dataset", "patterns",
                                          "--bandcontrast", str(bc), str(store)], log))
    steps.append(run_step("roi --bc-otsu", [*vaearr, "roi", str(store), "--otsu"], log))
    if args.subset:
        train = ["--epochs", "1", "--subset", str(args.subset), "--window", "all"]
        label = f"train 1 epoch on {args.subset} patterns (writes patterns_sim3)"
    else:
        train = ["--window", args.window]
        label = f"train --window {args.window}"
    steps.append(run_step(label, [*vaearr, "train", str(store), "--run", str(run), *train, *device], log))
    window = json.loads((run / "window.json").read_text()) if (run / "window.json").exists() else None
    steps.append(run_step("encode (one process)", [*vaearr, "encode", str(store), "--run", str(run), *device], log))
    steps[-1]["encoded"] = _encoded(log)
    decoded = decoded_share(log)
    if not args.no_beside:  # beside the path, labelled: the latents alone
        steps.append(run_step("encode --no-recon-error (beside; not in the path)",
                              [*vaearr, "encode", str(store), "--run", str(run), "--name", "latent_alone",
                               "--no-recon-error", *device], log))
        steps[-1].update(not_in_path=True, encoded=_encoded(log))
    rec: list[str] = []
    for k in args.workers:
        cluster, address = start_cluster(k)
        try:
            s = run_step(f"encode on {k} dask worker{'s' if k > 1 else ''}",
                         [*vaearr, "encode", str(store), "--run", str(run), "--name", f"latent_w{k}",
                          "--dask", address, *rec], log, also=[psutil.Process(cluster.pid)])
        finally:
            stop_cluster(cluster)
        s["workers"] = k
        steps.append(s)
    figures = [] if args.no_figures else ["--out", str(d / "segment")]
    if not (args.no_segment and args.path_only):
        steps.append(run_step("segment", [*vaearr, "segment", str(store), "--var", "latent", *figures], log))
    if not args.path_only:
        steps += analysis_steps(args, n, d, store, run, vaearr, log)
    # the path's time, less what ran beside it (the encode without the error)
    total = time.perf_counter() - t_path - sum(s["seconds"] for s in steps
                                               if s.get("not_in_path") and ("encoded" in s or "against" in s))
    trained_on = json.loads((run / "config.json").read_text())["train"].get("window") or ""
    if ":" in trained_on:  # a windowed run: encode averaged as it read
        s = run_step("neighbour averaging (alone; inside encode)", [sys.executable, "-c", AVERAGE, str(store), str(run)],
                     log)
        s["not_in_path"] = True
        steps.append(s)
    reported = not args.path_only and args.analysis != "spread"
    browser = open_report(d / "report" / "report.html") if reported else None
    grains = planted_grains_ari(h5, store)

    sizes = {
        "hdf5_bytes": h5.stat().st_size,
        "store_bytes": sum(f.stat().st_size for f in store.rglob("*") if f.is_file()),
        "report_bytes": (d / "report" / "report.html").stat().st_size if reported else None,
    }
    enc = {s["workers"]: s["seconds"] for s in steps if "workers" in s}
    path_steps = [s for s in steps if not s.get("not_in_path")]
    result = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "platform": platform.platform(), "gpu": _gpu()},
        "device": args.device or "cpu",
        "encode_patterns_per_s": next((round(n / s["seconds"]) for s in steps if s["step"] == "encode (one process)"), None),
        **encode_bound(steps, run, decoded),
        "size": args.size, "analysis": args.analysis, "pixels": n, "raw_pattern_bytes": n * 3600,
        "steps": steps, "path_seconds": round(total, 1), "path_cpu_seconds": round(sum(s["cpu_seconds"] for s in path_steps), 1),
        "goal_seconds": GOAL_SECONDS, **sizes, "window": window, "report_in_chromium": browser,
        "peak_rss_mb_max": max(s["peak_rss_mb"] for s in steps),
        "peak_pss_mb_max": max(s["peak_pss_mb"] for s in steps),
        "goal_rss_mb": GOAL_RSS_MB,
        "segment_grains_vs_planted": grains,
        "encode_speedup_2_over_1_workers": round(enc[1] / enc[2], 3) if 1 in enc and 2 in enc else None,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{args.size} × {args.size} map ({n} patterns, {n * 3600 / 1e9:.2f} GB raw), {os.cpu_count()} CPUs")
    if window is not None:
        print(f"window: {window['box']} ({window['how']}); grain size {window['info'].get('grain_size')}; "
              f"check {window.get('check', {}).get('ratio')}")
    print("| step | wall (s) | CPU (s) | peak RSS (MB) | peak PSS (MB) | load (1 min) |\n|---|---:|---:|---:|---:|---|")
    for s in steps:
        print(f"| {s['step']} | {s['seconds']:.1f} | {s['cpu_seconds']:.1f} | {s['peak_rss_mb']:.0f} | "
              f"{s['peak_pss_mb']:.0f} | {s['load_before']:.1f} → {s['load_after']:.1f} |")
    print(f"encode on {result['device']}: {result['encode_patterns_per_s']} map pixels/s, "
          f"{result.get('encode_roi_patterns_per_s')} ROI patterns/s (read, neighbours averaged, encoded, decoded, "
          f"the error) against both networks' bound {result.get('bound_both_patterns_per_s')} "
          f"({result.get('encode_of_bound')}); without the error {result.get('encode_alone_roi_patterns_per_s')}")
    last = ("spread" if args.analysis == "spread" else "report") if not args.path_only else \
        "encode" if args.no_segment else "segment"
    print(f"path ingest → {last}: {total:.0f} s (goal ≤ {GOAL_SECONDS}); "
          f"largest peak {result['peak_rss_mb_max']:.0f} MB RSS, {result['peak_pss_mb_max']:.0f} MB PSS "
          f"(goal ≤ {GOAL_RSS_MB}); store {sizes['store_bytes'] / 1e9:.2f} GB; report in Chromium: {browser}")
    if grains is not None:
        print(f"segment's grains against the planted ones: ARI {grains['ari']} ({grains['found']} grains for "
              f"{grains['planted']} planted; ROI pixels away from planted boundaries)")
    if not args.keep_data:
        shutil.rmtree(d)
    return result


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
