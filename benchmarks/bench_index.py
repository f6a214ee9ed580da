"""Does ``vaearr index`` index as fast as kikuchipy / PyEBSDIndex called directly on the same patterns?

For each method (Hough: PyEBSDIndex's ``EBSDIndexer.index_pats``; dictionary: kikuchipy's
``get_patterns`` + ``EBSD.dictionary_indexing`` + ``EBSD.refine_orientation``) two programs run in
this process on the same store, alternating, after one warm-up Hough call that loads (or, once
per install, compiles) PyEBSDIndex's numba code:

*direct*
    what a user's own script does: read ``patterns`` from the store into memory, the mean
    pattern as the static background, kikuchipy's ``remove_static_background`` +
    ``remove_dynamic_background`` on the whole map, then the indexing calls, all patterns at once.
*vaearr*
    :func:`vaearr.maps.indexing.indexing.index_store` (what ``vaearr index`` runs): the same steps
    block by block of rows, the static background streamed over the mask, the results written
    to the store in one transaction.

Speed = patterns / wall seconds (median over ``--repeats``); the ratio vaearr / direct is the
number that matters (goal ≥ 0.9). Both solutions are compared pixel by pixel (misorientation
with m-3m symmetry) and with the truth (each pixel's sub-grain orientation; the map's per-pixel
spread is 0.1° per axis). Data: ``benchmarks.data.write_science_map`` (SIMULATED Ni, default the
``subgrains`` map: 48 × 64 patterns of 60 × 60, 60 counts per pixel). Results go to
``benchmarks/results/index.jsonl``.

    python benchmarks/bench_index.py                              # the issue's map, both methods
    python benchmarks/bench_index.py --shape 12 16 --resolution 4 # a quick run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): an 8 × 8 map, Hough only.
QUICK = ("--shape", "8", "8", "--methods", "hough", "--repeats", "1", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from science_lib import write_results  # noqa: E402


@contextlib.contextmanager
def _quiet():
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


def direct(store: Path, method: str, pc, tilt: float, resolution: float) -> np.ndarray:
    """The user's own script: kikuchipy / PyEBSDIndex on the whole map at once. Returns (n, 4) quaternions."""
    import kikuchipy as kp
    import xarray as xr
    from orix.crystal_map import CrystalMap, PhaseList
    from orix.quaternion import Rotation
    from orix.sampling import get_sample_fundamental

    with _quiet():
        pats = xr.open_zarr(store).patterns.values
        n = pats.shape[0] * pats.shape[1]
        pats = pats.reshape(n, *pats.shape[2:])
        s = kp.signals.EBSD(pats)
        bg = np.rint(pats.mean(axis=0)).astype(pats.dtype)
        s.remove_static_background(static_bg=bg)
        s.remove_dynamic_background()
        mp = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")
        det = kp.detectors.EBSDDetector(shape=pats.shape[1:], pc=pc, sample_tilt=tilt)
        if method == "hough":
            indexer = det.get_indexer(PhaseList(mp.phase), [[1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1]],
                                      nBands=10, tSigma=2, rSigma=2)
            data, _, _, _ = indexer.index_pats(s.data, verbose=0)
            return np.asarray(data[-1]["quat"], float)
        rot = get_sample_fundamental(resolution=resolution, point_group=mp.phase.point_group)
        sim = mp.get_patterns(rotations=rot, detector=det, energy=20, compute=True)
        xmap = s.dictionary_indexing(sim, metric="ncc", keep_n=1)
        q = np.asarray(xmap.rotations.data).reshape(n, 4)
        xmap = CrystalMap(rotations=Rotation(q), phase_id=np.zeros(n, int), phase_list=PhaseList(mp.phase))
        t = max(1.0, resolution)
        ref = s.refine_orientation(xmap, detector=det, master_pattern=mp, energy=20, trust_region=[t, t, t])
        return np.asarray(ref.rotations.data, float).reshape(n, 4)


def via_vaearr(store: Path, method: str, pc, tilt: float, resolution: float) -> np.ndarray:
    from vaearr.maps.indexing.indexing import index_store
    from vaearr.store import open_store

    name = f"bench_{method}"
    index_store(store, phase="ni", pc=pc, sample_tilt=tilt, method=method, refine=method == "dictionary",
                resolution=resolution, mask=None, name=name, overwrite=True, progress=False)
    return open_store(store)[name].values.reshape(-1, 4).astype(float)


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    return np.degrees(Orientation(a, symmetry=Oh).angle_with(Orientation(b, symmetry=Oh)))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="subgrains", help="science map: clean, noisy or subgrains")
    ap.add_argument("--shape", type=int, nargs=2, default=(48, 64))
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--resolution", type=float, default=2.0, help="dictionary sampling (degrees)")
    ap.add_argument("--methods", nargs="+", default=["hough", "dictionary"])
    ap.add_argument("--repeats", type=int, nargs=2, default=(3, 1), help="repeats for hough, dictionary")
    ap.add_argument("--out", default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = ap.parse_args(argv)

    import kikuchipy
    import orix
    import pyebsdindex

    from benchmarks.data.subgrains import science_map, write_science_map

    tmp = Path(tempfile.mkdtemp(prefix="bench_index_"))
    store = tmp / "map.zarr"
    t0 = time.perf_counter()
    with _quiet():
        write_science_map(store, args.kind, seed=args.seed, shape=tuple(args.shape))
        truth_ds = science_map(args.kind, seed=args.seed, shape=(6, 8), pattern_shape=(8, 8))  # rotations only (shape-independent)
    sim_s = time.perf_counter() - t0
    from vaearr.store import open_store

    ds = open_store(store)
    attrs = ds.attrs["science_map"]
    pc, tilt = tuple(attrs["pc"]), float(attrs["sample_tilt"])
    n = int(ds.sizes["y"] * ds.sizes["x"])
    sub = ds.subgrain_id.values.ravel()
    q_sub = np.asarray(truth_ds.attrs.get("subgrain_rotations") or truth_ds.attrs["grain_rotations"])
    truth = q_sub[sub]

    out: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "kikuchipy": kikuchipy.__version__, "orix": orix.__version__,
                             "pyebsdindex": pyebsdindex.__version__},
                 "load_start": os.getloadavg()[0], "data": {"kind": args.kind, "shape": list(args.shape),
                                                            "n_patterns": n, "simulate_s": round(sim_s, 1)},
                 "resolution": args.resolution, "methods": {}}
    if "hough" in args.methods:  # warm-up: PyEBSDIndex's numba code (compiled once per install)
        t = time.perf_counter()
        with _quiet():
            direct(store, "hough", pc, tilt, args.resolution)
        out["hough_warmup_s"] = round(time.perf_counter() - t, 1)
    for method in args.methods:
        reps = args.repeats[0] if method == "hough" else args.repeats[1]
        times: dict[str, list[float]] = {"direct": [], "vaearr": []}
        sols = {}
        for _ in range(reps):
            for who, fn in (("direct", direct), ("vaearr", via_vaearr)):
                t = time.perf_counter()
                sols[who] = fn(store, method, pc, tilt, args.resolution)
                times[who].append(time.perf_counter() - t)
                print(f"{method} {who}: {times[who][-1]:.1f} s", flush=True)
        med = {k: float(np.median(v)) for k, v in times.items()}
        same = _angles(sols["direct"], sols["vaearr"])
        out["methods"][method] = {
            "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
            "patterns_per_second": {k: round(n / v, 2) for k, v in med.items()},
            "ratio_vaearr_over_direct": round(med["direct"] / med["vaearr"], 3),
            "vaearr_vs_direct_deg": {"median": float(np.median(same)), "max": float(same.max())},
            "error_vs_subgrain_deg": {k: float(np.median(_angles(v, truth))) for k, v in sols.items()},
        }
        print(json.dumps(out["methods"][method]), flush=True)
    return write_results(out, args.out, tmp)


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
