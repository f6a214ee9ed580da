"""Is a training window as good as the whole map? ``train --window auto`` against training on the whole ROI (issue 39).

On the science benchmark's sub-grain maps of both families (:mod:`bench_families`: tuning and
held-out seeds apart), three runs of the README path per map, all with the EBSD defaults:

* **whole**: trained on every pixel of the ROI (the families benchmark's own run, ``<tag>.run``
  beside its store, when it is there; else trained here the same way);
* **auto**: ``--window auto`` (:mod:`vaearr.maps.roi.window`: twice the mean linear intercept of the
  pattern-similarity boundaries, grown until it holds every kind of region);
* **bare**: a window of twice the grain size alone (``--window N``, N = ⌈2 L̄⌉, placed by the same
  chooser but never grown): what the kinds' cover adds.

Each run encodes the whole map (with the reconstruction error). Scores, on the pixels away from the
planted grain boundaries and outside holes (as the families benchmark): sub-grain ARI of a
Gaussian mixture on the latents per pixel, and of ``vaearr segment``'s regions; active units; the
mean reconstruction error inside the auto window and outside it (its ratio, for each run); the
epochs' CPU seconds.

Run::

    python benchmarks/bench_window.py run      # each map's runs (hours on 2 shared cores)
    python benchmarks/bench_window.py run --seed 0 1 2   # each arm at three training seeds: the spread
    python benchmarks/bench_window.py table    # BENCHMARKS.md rows

A trained arm is one draw of its training seed (:mod:`benchmarks.train_seeds`); an arm trained at several
(``--seed``) is one row of the table, its median over the seeds and its worst draw. Seed 0 keeps the names it had
(``latent_auto``, ``<tag>.auto.run``); another seed adds ``_s<seed>`` to them and trains its own whole arm (the
families benchmark's run is seed 0's).

The stores are copied from ``benchmarks/_data/families`` of ``--families`` (read only) into
``benchmarks/_data/window``; rows go to ``benchmarks/results/window.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): the table from the stored rows (the measurement trains every map twice).
QUICK = ("table",)
#: Writes its own result rows (one per measurement, with the machine record): no run line from the harness.
ROWS = "own"

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_families import TRAIN_THREADS, Truth, study_maps  # noqa: E402
from science_lib import append_row, machine, mixture_ari  # noqa: E402

from benchmarks.train_seeds import seeded, spread_cell, train_seed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "_data" / "window"
OUT = ROOT / "benchmarks" / "results" / "window.jsonl"
ARMS = ("whole", "auto", "bare")


def train_arm(store: Path, run: Path, window: str | None, seed: int = 0) -> float:
    """Train with the EBSD defaults (``window``: the --window) at ``seed``; the epochs' CPU s."""
    from vaearr.train import TrainConfig, fit

    shutil.rmtree(run, ignore_errors=True)
    result = fit(TrainConfig(store=str(store), run=str(run), window=window, tensorboard=False, previews=0,
                             seed=seed, threads=TRAIN_THREADS),
                 progress=False)
    return sum(float(r.get("cpu_seconds", 0)) for r in result.history)


def encode_arm(store: Path, run: Path, name: str) -> None:
    from vaearr.encoding import encode

    encode(store, run, name=name, overwrite=True, progress=False)


def window_of(run: Path) -> dict | None:
    path = run / "window.json"
    return json.loads(path.read_text()) if path.exists() else None


def run_of(tag: str, arm: str, seed: int = 0) -> Path:
    """The run folder of ``arm`` trained here at ``seed`` (``<tag>.<arm>.run``; another seed ``<tag>.<arm>_s1.run``)."""
    return DATA / f"{seeded(f'{tag}.{arm}', seed)}.run"


def prepare(tag: str, families: Path, arms: tuple[str, ...] | list[str] = ARMS,
            retrain: tuple[str, ...] | list[str] = (), seed: int = 0) -> dict:
    """The map's store copied, its runs (``arms``; auto always) trained at ``seed`` and encoded (each once, or again
    for the arms in ``retrain``: what the code of today trains); what they were."""
    src, store = families / f"{tag}.zarr", DATA / f"{tag}.zarr"
    if not store.exists():
        shutil.copytree(src, store)
    name = {arm: seeded(f"latent_{arm}", seed) for arm in ARMS}
    done = set(xr.open_zarr(store).data_vars) - {name[arm] for arm in retrain}
    # the families benchmark's own run is the whole arm at seed 0
    runs = {arm: run_of(tag, arm, seed) for arm in ARMS} | ({"whole": families / f"{tag}.run"} if seed == 0 else {})
    cpu = {}
    if "whole" in arms and (not (runs["whole"] / "best").exists() or "whole" in retrain):
        runs["whole"] = run_of(tag, "whole", seed)
        if name["whole"] not in done:
            cpu["whole"] = train_arm(store, runs["whole"], None, seed)
    if "whole" in arms and name["whole"] not in done:
        if runs["whole"].parent == families and "latent" in done:  # the families benchmark's own encode
            ds = xr.open_zarr(store)
            keep = {f"latent_whole{s}": ds[f"latent{s}"].load() for s in ("", "_recon_error")}
            from vaearr.store import write_variables

            write_variables(store, keep, source=["latent"], overwrite=True)
        else:
            encode_arm(store, runs["whole"], name["whole"])
    if name["auto"] not in done:
        cpu["auto"] = train_arm(store, runs["auto"], "auto", seed)
        encode_arm(store, runs["auto"], name["auto"])
    auto = window_of(runs["auto"])
    side = math.ceil(2 * auto["info"]["grain_size"]) if auto and auto["info"].get("grain_size") else None
    if side is not None and name["bare"] not in done and "bare" in arms:
        cpu["bare"] = train_arm(store, runs["bare"], str(side), seed)
        encode_arm(store, runs["bare"], name["bare"])
    return {"runs": {k: str(v) for k, v in runs.items()}, "cpu": cpu, "auto_window": auto,
            "bare_window": window_of(runs["bare"]), "seed": seed}


def _cpu(run: Path) -> float | None:
    h = run / "history.json"
    return round(sum(float(r.get("cpu_seconds", 0)) for r in json.loads(h.read_text())), 1) if h.exists() else None


def score(tag: str, prepared: dict) -> list[dict]:

    from vaearr.maps.segmentation.segment import segment_store

    store = DATA / f"{tag}.zarr"
    ds = xr.open_zarr(store).load()
    truth = Truth(ds)
    inside = truth.inside
    roi = "roi" if "roi" in ds and not bool(ds.roi.all()) else None
    in_roi = ds.roi.values.astype(bool) if "roi" in ds else np.ones(inside.shape, bool)
    auto = prepared["auto_window"]
    region = np.zeros(inside.shape, bool)
    if auto is not None:
        y0, y1, x0, x1 = auto["box"]
        region[y0:y1, x0:x1] = True
    rows = []
    seed = prepared.get("seed", 0)
    for arm in ARMS:
        name = seeded(f"latent_{arm}", seed)
        if name not in ds:
            continue
        lat = ds[name].values
        f = lat.reshape(inside.size, -1)
        ok = inside.ravel() & np.isfinite(f).all(1)
        seg = segment_store(store, var=name, name=seeded(f"seg_{arm}", seed), mask=roi, overwrite=True).segmentation
        err = ds[f"{name}_recon_error"].values
        e_in = float(np.nanmean(err[region & in_roi])) if region.any() else None
        e_out = float(np.nanmean(err[~region & in_roi])) if (~region & in_roi).any() else None
        run = Path(prepared["runs"][arm])
        w = window_of(run)
        rows.append({
            "arm": arm, "train_seed": seed, "window": None if w is None else w["box"], "window_pixels": None if w is None else
            int(np.prod([w["box"][1] - w["box"][0], w["box"][3] - w["box"][2]])),
            "map_pixels": int(inside.size), "grain_size": None if w is None else w["info"].get("grain_size"),
            "pixel_subgrains": round(mixture_ari(f[ok], ds.subgrain_id.values.ravel()[ok]), 4),
            **{f"seg_{k}": v for k, v in truth.region_scores(seg.regions, seg.grains).items()},
            "active_units": ds[name].attrs.get("active_units"),
            "recon_in_auto_window": e_in, "recon_outside": e_out,
            "recon_ratio": round(e_out / e_in, 4) if e_in and e_out else None,
            "check": None if w is None else w.get("check"), "epochs_cpu_s": _cpu(run),
        })
    return rows


def run_all(args: argparse.Namespace) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    maps = [m for m in study_maps() if m.kind == "subgrains" and not m.physics
            and (args.family in ("all", m.family)) and (not args.only or m.tag in args.only)]
    for m in maps:
        if not (args.families / f"{m.tag}.zarr" / "zarr.json").exists():
            print(json.dumps({"map": m.tag, "skipped": "not prepared by bench_families yet"}), flush=True)
            continue
        for seed in args.seed:
            t = time.perf_counter()
            prepared = prepare(m.tag, args.families, args.arms, args.retrain, seed)
            for row in score(m.tag, prepared):
                row = {"family": m.family, "seed": m.seed, "split": m.split, "map": m.tag, **row,
                       "wall_s": round(time.perf_counter() - t, 1), "machine": machine()}
                append_row(OUT, row)
                print(json.dumps({k: v for k, v in row.items() if k not in ("machine", "check")}), flush=True)


def table(path: Path = OUT) -> str:
    """The last row of each (map, arm, training seed) as a markdown table, an arm trained at several seeds one row
    (the median over them, and the worst draw), then the means per family, split and arm (of the medians)."""
    last: dict[tuple[str, str, int], dict] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        last[(r["map"], r["arm"], train_seed(r))] = r
    arms: dict[tuple[str, str], list[dict]] = {}
    for (tag, arm, _), r in sorted(last.items()):
        arms.setdefault((tag, arm), []).append(r)
    out = ["| map | split | arm | training seeds | window (px) | grain size | pixel sub-grain ARI | segmented sub-grain ARI | "
           "active units | recon error out / in the auto window | epochs' CPU s |",
           "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for (tag, arm), rs in sorted(arms.items(), key=lambda kv: (kv[0][0], ARMS.index(kv[0][1]))):
        r = rs[0]
        win = "whole ROI" if r["window"] is None else f"{r['window_pixels']} of {r['map_pixels']}"
        gs = f"{r['grain_size']:.1f}" if r.get("grain_size") else ""
        seeds = ", ".join(str(train_seed(x)) for x in rs)
        units = ", ".join(sorted({str(x["active_units"]) for x in rs}))
        cells = [spread_cell([x.get(k) for x in rs], low) for k, low in
                 (("pixel_subgrains", True), ("seg_subgrains", True), ("recon_ratio", False))]
        out.append(f"| {tag} | {r['split']} | {arm} | {seeds} | {win} | {gs} | {cells[0]} | {cells[1]} | {units} | "
                   f"{cells[2]} | {spread_cell([x.get('epochs_cpu_s') for x in rs], False, '.0f')} |")
    out += ["", "| family | split | arm | maps | pixel ARI (mean) | segmented ARI (mean) | worst segmented | "
                "recon ratio (mean) | epochs' CPU s (mean) |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str, str], list[list[dict]]] = {}
    for (_, arm), rs in arms.items():
        groups.setdefault((rs[0]["family"], rs[0]["split"], arm), []).append(rs)
    for (fam, split, arm), maps in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], ARMS.index(kv[0][2]))):
        def mean(k: str, maps: list[list[dict]] = maps) -> float:  # of each map's median over its seeds
            return float(np.mean([np.median(v) for rs in maps if (v := [x[k] for x in rs if x.get(k) is not None])]))
        worst = min(x["seg_subgrains"] for rs in maps for x in rs)
        out.append(f"| {fam} | {split} | {arm} | {len(maps)} | {mean('pixel_subgrains'):.3f} | "
                   f"{mean('seg_subgrains'):.3f} | {worst:.3f} | {mean('recon_ratio'):.3f} | {mean('epochs_cpu_s'):.0f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=("run", "table"))
    p.add_argument("--family", choices=("science", "patchwork", "all"), default="all")
    p.add_argument("--only", nargs="*", help="map tags to run (default: all prepared)")
    p.add_argument("--arms", nargs="*", choices=ARMS, default=list(ARMS),
                   help="which runs to train and score (default all three; 'whole auto' for the window question alone; "
                        "'auto' for its seeds' spread)")
    p.add_argument("--seed", type=int, nargs="+", default=[0],
                   help="training seeds of the arms trained, each a draw (default 0; `0 1 2`: the table's median and worst)")
    p.add_argument("--retrain", nargs="*", choices=ARMS, default=[],
                   help="arms to train again with the code of today (default: each trained once, then reused)")
    p.add_argument("--families", type=Path, default=ROOT / "benchmarks" / "_data" / "families",
                   help="where bench_families prepared its stores and runs (read only)")
    args = p.parse_args(argv)
    if args.step == "table":
        print(table())
        return 0
    run_all(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
