"""Low-angle boundaries over several seeds: does ``vaearr boundaries`` find the 0.5° sub-grain boundaries, and only them?

Run (about a minute per seed on 2 cores; results in BENCHMARKS.md, "Science"):

    python benchmarks/bench_boundaries.py --out out/boundaries_seeds.json

For each seed, the three science maps of one scene (:func:`benchmarks.data.write_science_map`:
``subgrains`` with every grain cut into two halves 0.5° apart, and ``clean`` / ``noisy`` without
sub-grains) are written and ``find_boundaries`` runs from the patterns with its defaults. Scores:
F1 (1-pixel tolerance) and marked / true pixels of the grain-boundary and low-angle-boundary
masks against the planted ones; on the maps without sub-grains, the low-angle pixels marked (all
false). The low-angle defaults (5 × 3 boxes, one principal direction per grain, hysteresis at
t² 16 / 5, lines ≥ 5 px) were chosen on seed 2024 only (the maps of bench_science.py); the other
seeds are held out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): one seed.
QUICK = ("--seeds", "2024")

import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import write_science_map  # noqa: E402
from benchmarks.data.scoring import boundary_f1  # noqa: E402
from vaearr.maps.boundaries.boundaries import find_boundaries  # noqa: E402

KINDS = ("subgrains", "clean", "noisy")


def score(store: Path) -> dict:
    t = time.perf_counter()
    r = find_boundaries(store, overwrite=True)
    seconds = time.perf_counter() - t
    ds = xr.open_zarr(store)
    gb = boundary_f1(r.grain_boundaries.values, ds["grain_boundaries_true"].values.astype(bool))
    true = ds["low_angle_boundaries_true"].values.astype(bool)
    lo = boundary_f1(r.low_angle_boundaries.values, true)
    row = {"gb_f1": gb["f1"], "gb_ratio": gb["ratio_marked"], "lagb_true": int(true.sum()),
           "lagb_marked": int(r.low_angle_boundaries.values.sum()), "lagb_lines": r.attrs.get("lagb_lines"),
           "boundaries_s": round(seconds, 2)}
    if true.any():
        row.update({"lagb_f1": lo["f1"], "lagb_precision": lo["precision"], "lagb_recall": lo["recall"],
                    "lagb_ratio": lo["ratio_marked"]})
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[2024, 7, 11, 3])
    p.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = p.parse_args(argv)
    report = {"command": "python benchmarks/bench_boundaries.py " + " ".join(argv or sys.argv[1:]),
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "tuned_on": [2024], "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for kind in KINDS:
                store = Path(tmp) / f"s{seed}_{kind}.zarr"
                write_science_map(store, kind, seed=seed)
                row = {"seed": seed, "map": kind, **score(store)}
                print(row, flush=True)
                report["rows"].append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
