"""Which preprocessing keeps the most of what is in the map? Every option, scored by what it keeps.

Run (about an hour on 2 cores; results in BENCHMARKS.md, "Preprocessing by what it keeps"):

    python benchmarks/bench_preprocess.py --seeds tuning      # the seeds the default is chosen on
    python benchmarks/bench_preprocess.py --seeds held-out    # checked on, never chosen on
    python benchmarks/bench_preprocess.py --real              # kikuchipy's real Ni scan (grains)
    python benchmarks/bench_preprocess.py --table             # the tables and the rule's choice

For every simulated sub-grain map (:func:`benchmarks.data.science_map`: 48 × 64 patterns of 60 × 60,
10 grains cut into two sub-grains; seeds × the issue's ranges, one factor at a time around 60
counts, 0.1° spread, 0.5° step: counts 25 / 100, spread 0.2 / 0.3°, step 0.25 / 1°) and every
option (static background subtract / divide, dynamic background subtract / divide over σ 4 and
8 px, their combinations, resizing, and 3 × 3 neighbour averaging, uniform or similarity-weighted
(:mod:`vaearr.maps.roi.neighbours`) before the per-pattern steps): PCA(16) of the result, then a
full-covariance Gaussian mixture with the true k; the score is the ARI against grains and
sub-grains over the pixels away from the planted grain boundaries. Rows go to
``benchmarks/results/preprocess.jsonl``.

The rule (``--table``): the option with the highest mean sub-grain ARI over the tuning maps among
those whose grain ARI is ≥ 0.99 on every tuning map; the held-out seeds show whether it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): the table from the stored rows (the measurement is an hour).
QUICK = ("--table",)
#: Writes its own result rows (one per measurement, with the machine record): no run line from the harness.
ROWS = "own"

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # tiny matrices: more threads only wait on each other (200x slower under load)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from science_lib import (  # noqa: E402
    HELD_OUT_SEEDS,
    PHYSICS,
    RECIPES,
    ROOT,
    TUNING_SEEDS,
    append_row,
    load_map,
    pca_features,
    pixel_scores,
    recipe,
)

from vaearr.maps.roi.neighbours import NeighbourAverage  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "preprocess.jsonl"
#: Per-pattern recipes tried after neighbour averaging.
AFTER_AVERAGING = ("none", "static subtract", "static divide", "static divide + dynamic subtract σ8",
                   "dynamic divide σ8")


def averaged(patterns: np.ndarray, weighting: str) -> np.ndarray:
    """3 × 3 neighbour averaging of a whole map (the similarity fitted on the map itself)."""
    if weighting == "uniform":
        return NeighbourAverage(3).average(patterns)
    bg = patterns.reshape(-1, *patterns.shape[2:]).astype(np.float64).mean(0)
    fitted = NeighbourAverage.fit(patterns, np.ones(patterns.shape[:2], bool), size=3, background=bg)
    return fitted.average(patterns)


def options() -> list[tuple[str, str | None, str]]:
    """(label, averaging, recipe) of every option."""
    out = [(name, None, name) for name in RECIPES]
    for weighting in ("uniform", "similarity"):
        out += [(f"{weighting} 3×3 average, then {name}", weighting, name) for name in AFTER_AVERAGING]
    return out


def score_map(seed: int, physics, split: str, only: str | None = None) -> None:
    m = load_map(seed, physics)
    inputs = {None: m.patterns}
    for label, avg, name in options():
        if only and only not in label:
            continue
        t = time.perf_counter()
        if avg not in inputs:
            inputs[avg] = averaged(m.patterns, avg)
        p = inputs[avg]
        x = RECIPES[name](p.reshape(-1, *p.shape[2:]))
        s = pixel_scores(pca_features(x, 16), m)
        row = {"seed": seed, "split": split, "physics": physics.label, "option": label, "pca": 16,
               "ari_grains": round(s["grains"], 4), "ari_subgrains": round(s["subgrains"], 4),
               "seconds": round(time.perf_counter() - t, 2)}
        append_row(OUT, row)
        print(json.dumps(row), flush=True)


def real_scan() -> None:
    """kikuchipy's real Ni scan: 3 × 3 patterns of two grains (the first column against the rest,
    by their orientations). PCA(8) (nine patterns) and a two-component mixture, every option."""
    import kikuchipy as kp
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture

    s = kp.data.nickel_ebsd_small()
    p = np.asarray(s.data)
    truth = np.array([[0, 1, 1]] * 3).ravel()
    inputs = {None: p}
    for label, avg, name in options():
        if avg not in inputs:
            inputs[avg] = averaged(p, avg)
        x = RECIPES[name](inputs[avg].reshape(-1, *p.shape[2:]))
        z = pca_features(x, 8)
        pred = GaussianMixture(2, covariance_type="spherical", n_init=5, random_state=0).fit_predict(z)
        row = {"real": "kikuchipy nickel_ebsd_small", "option": label, "ari_grains": round(
            float(adjusted_rand_score(truth, pred)), 4)}
        append_row(OUT, row)
        print(json.dumps(row), flush=True)


def paired_difference(sim: dict, option: str, top: str) -> tuple[float, float]:
    """Mean and standard error of ``option`` − ``top`` (sub-grain ARI) over the tuning maps both were scored on."""
    a = {(k[1], k[2]): r["ari_subgrains"] for k, r in sim.items() if k[0] == option and r["split"] == "tuning"}
    b = {(k[1], k[2]): r["ari_subgrains"] for k, r in sim.items() if k[0] == top and r["split"] == "tuning"}
    d = np.array([a[k] - b[k] for k in a.keys() & b.keys()])
    return (float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))) if len(d) > 1 else (float(d.mean()) if len(d) else 0.0, 0.0)


def n_steps(option: str) -> int:
    """How many preprocessing operations an option's label names (averaging, static, dynamic, resize)."""
    return len(re.findall(r"average|static|dynamic|\d+ × \d+", option))


def table() -> str:
    rows = [json.loads(line) for line in OUT.read_text().splitlines()]
    sim = {}
    for r in rows:  # the last row of each (option, seed, physics) wins
        if "seed" in r:
            sim[(r["option"], r["seed"], r["physics"])] = r
    real = {r["option"]: r["ari_grains"] for r in rows if "real" in r}
    opts = list(dict.fromkeys(k[0] for k in sim))
    stats = {}
    for o in opts:
        for split in ("tuning", "held-out"):
            rs = [r for k, r in sim.items() if k[0] == o and r["split"] == split]
            if rs:
                stats[(o, split)] = (np.mean([r["ari_subgrains"] for r in rs]), min(r["ari_grains"] for r in rs),
                                     np.mean([r["ari_grains"] for r in rs]), len(rs))
    eligible = [o for o in opts if (o, "tuning") in stats and stats[(o, "tuning")][1] >= 0.99
                and real.get(o, 1.0) >= 0.99]
    top = max(eligible, key=lambda o: stats[(o, "tuning")][0]) if eligible else None
    delta = {o: paired_difference(sim, o, top) for o in eligible} if top else {}
    tied = [o for o in eligible if delta[o][0] + 2 * delta[o][1] >= 0]
    best = min(tied, key=lambda o: (n_steps(o), -stats[(o, "tuning")][0])) if tied else None
    lines = ["| option | sub-grain ARI, tuning (mean) | grain ARI, tuning (min) | paired Δ to the top ± 2 SE "
             "| sub-grain ARI, held-out (mean) | grain ARI, held-out (min) | real Ni scan, grain ARI |",
             "|---|---|---|---|---|---|---|"]
    order = sorted(opts, key=lambda o: -stats.get((o, "tuning"), (0,))[0])
    for o in order:
        t, h = stats.get((o, "tuning")), stats.get((o, "held-out"))
        cell = (lambda v, i: f"{v[i]:.3f}" if v else "–")
        name = f"**{o}**" if o == best else o
        d = f"{delta[o][0]:+.3f} ± {2 * delta[o][1]:.3f}" + (" (tied)" if o in tied else "") if o in delta else "–"
        lines.append(f"| {name} | {cell(t, 0)} ({t[3] if t else 0} maps) | {cell(t, 1)} | {d} | {cell(h, 0)} "
                     f"({h[3] if h else 0} maps) | {cell(h, 1)} | {real.get(o, '–')} |")
    lines.append(f"\nTop of the tuning maps: {top}; chosen by the rule (the fewest steps among those tied with it): "
                 f"**{best}**")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", choices=("tuning", "held-out"), default=None)
    p.add_argument("--physics", type=int, nargs="*", default=None, help="indices into science_lib.PHYSICS")
    p.add_argument("--real", action="store_true")
    p.add_argument("--table", action="store_true")
    p.add_argument("--only", help="the options whose label holds this text (a re-run replaces their rows)")
    args = p.parse_args(argv)
    if args.real:
        real_scan()
    if args.seeds:
        seeds = TUNING_SEEDS if args.seeds == "tuning" else HELD_OUT_SEEDS
        physics = [PHYSICS[i] for i in (args.physics if args.physics is not None else range(len(PHYSICS)))]
        for ph in physics:
            for seed in seeds:
                score_map(seed, ph, args.seeds, args.only)
    if args.table:
        print(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
