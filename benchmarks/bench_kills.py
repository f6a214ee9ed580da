"""Kills inside and around the local commit, per command: is every variable old or new for a reader
before any recovery, and is the store old or new after the next writer recovers it?

For each command (``roi``, ``encode``, ``decompose``, ``boundaries``, each with ``--overwrite`` on a
store that already holds its result, so the commit replaces variables) on a simulated 10×12 map:

1. a SIGKILL after every step of its commit (the ``VAEARR_KILL_AT_STEP`` hook: journal, root metadata,
   each array's swap, consolidated metadata), until one run gets through;
2. ``--random`` SIGKILLs at a uniformly random moment of the command's run (start to end).

After each kill the store is opened with ``xarray.open_zarr`` (no recovery) and every variable
compared with its value before and after a clean run; then a writer takes the lock and recovers it,
and the store is compared again. Results → ``benchmarks/results/kills.jsonl``.

    python benchmarks/bench_kills.py               # 4 random kills per command
    python benchmarks/bench_kills.py --random 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): the kills after each commit step, no random ones.
QUICK = ("--random", "0")

import numpy as np
import xarray as xr

# a store in the middle of a commit has no consolidated metadata: that is the point here
warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated metadata")


def _values(store: Path) -> dict[str, np.ndarray]:
    with xr.open_zarr(store) as ds:
        return {str(n): np.asarray(v.values) for n, v in ds.data_vars.items()}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def _classify(got: dict, old: dict, new: dict) -> str:
    """'old', 'new', 'mixed' (each variable old or new) or 'broken' (a variable neither)."""
    kinds = set()
    for name in set(got) | set(old) | set(new):
        here = got.get(name)
        is_old = (here is None and name not in old) or (here is not None and name in old and _same(here, old[name]))
        is_new = (here is None and name not in new) or (here is not None and name in new and _same(here, new[name]))
        if not (is_old or is_new):
            return "broken"
        kinds |= {"old"} if is_old and not is_new else {"new"} if is_new and not is_old else set()
    return kinds.pop() if len(kinds) == 1 else "mixed" if kinds else "old"


def _run(args: list, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vaearr", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _recovered(store: Path) -> None:
    from vaearr.store import recover, store_lock

    with store_lock(store):
        recover(store)


def _trial(master: Path, work: Path, args: list, env: dict, old: dict, new: dict, *, step: int = 0,
           delay: float | None = None) -> dict:
    store = work / "s.zarr"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(master, store)
    argv = [a if a != "STORE" else store for a in args]
    proc = _run(argv, {**env, "VAEARR_KILL_AT_STEP": str(step)} if step else env)
    if delay is not None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    code = proc.wait()
    killed = code == -signal.SIGKILL
    before = _classify(_values(store), old, new)  # what a reader sees, nothing recovered
    _recovered(store)
    after = _classify(_values(store), old, new)
    return {"step": step, "delay_s": delay, "killed": killed, "reader_before_recovery": before,
            "after_recovery": after, "exit": code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=4, help="random-moment kills per command")
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args()
    from vaearr.data import build_demo_map
    from vaearr.encoding import encode
    from vaearr.io.ebsd import ingest_ebsd
    from vaearr.maps.roi.roi import create_roi
    from vaearr.train import TrainConfig, fit

    rng = random.Random(opts.seed)
    tmp = Path(tempfile.mkdtemp(prefix="vaearr-kills-"))
    src = build_demo_map(tmp / "map", shape=(10, 12), seed=0)
    master = tmp / "ni.zarr"
    ingest_ebsd(src.patterns, master, dataset="patterns", bandcontrast=src.bandcontrast, elements=src.elements)
    create_roi(master, otsu=True)
    run = tmp / "run"
    fit(TrainConfig(store=str(master), run=str(run), epochs=1, batch_size=32, latent_dim=2, resize=24,
                    model_options={"channels": [8, 16]}, previews=0, tensorboard=False), progress=False)
    encode(master, run, progress=False)
    env = {**os.environ, "VAEARR_PROGRESS": "off", "OMP_NUM_THREADS": "1"}
    # the first run (its result already in the store) and the overwriting run, whose result differs
    commands = {
        "roi": (None, ["roi", "STORE", "--top-percent", "40", "--overwrite"]),
        "encode": (None, ["encode", "STORE", "--run", run, "--overwrite", "--logvar"]),
        "decompose": (["decompose", "STORE", "--method", "pca", "--components", "2", "--name", "pca"],
                      ["decompose", "STORE", "--method", "pca", "--components", "3", "--name", "pca", "--overwrite"]),
        "boundaries": (["boundaries", "STORE"], ["boundaries", "STORE", "--sigma", "2", "--overwrite"]),
    }
    results: dict = {}
    for name, (first_args, args) in commands.items():
        # the store before (this command's result already in it, so the run replaces it) and after a clean run
        base = tmp / f"{name}.zarr"
        shutil.copytree(master, base)
        first = _run([a if a != "STORE" else base for a in first_args], env).wait() if first_args else 0
        old = _values(base)
        clean = tmp / f"{name}-clean"
        shutil.copytree(base, clean / "s.zarr")
        t0 = time.perf_counter()
        assert _run([a if a != "STORE" else clean / "s.zarr" for a in args], env).wait() == 0, name
        duration = time.perf_counter() - t0
        new = _values(clean / "s.zarr")
        trials, step = [], 1
        while True:  # a kill after every step of the commit
            t = _trial(base, tmp / "w", args, env, old, new, step=step)
            trials.append(t)
            if not t["killed"]:
                break
            step += 1
        for _ in range(opts.random):
            trials.append(_trial(base, tmp / "w", args, env, old, new, delay=rng.uniform(0.0, duration)))
        results[name] = {"first_exit": first, "clean_run_s": round(duration, 2), "trials": trials}
        kills = [t for t in trials if t["killed"]]
        bad = [t for t in kills if "broken" in (t["reader_before_recovery"], t["after_recovery"])
               or t["after_recovery"] == "mixed"]
        print(f"{name:10s} commit steps {step - 1}, random kills {sum(t['killed'] for t in trials[step:])}, "
              f"kills {len(kills)}, readers saw: "
              f"{sorted({t['reader_before_recovery'] for t in kills})}, after recovery: "
              f"{sorted({t['after_recovery'] for t in kills})}, broken {len(bad)}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return results


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
