"""Latents that see what indexing sees? The VAE path against PCA, indexing and the true orientations.

Run (about 20 min a map on 2 cores; results in BENCHMARKS.md, "Science: sub-grains"):

    python benchmarks/bench_science.py --seeds tuning                 # the seeds settings were chosen on
    python benchmarks/bench_science.py --seeds held-out               # never looked at while choosing
    python benchmarks/bench_science.py --seeds held-out --physics 1   # a harder map: 25 counts
    python benchmarks/bench_science.py --seeds tuning --train-seeds 0 1 2   # each model three times: the spread
    python benchmarks/bench_science.py --table

Each map is a simulated sub-grain map (:func:`benchmarks.data.science_map`: 48 × 64 patterns of
60 × 60, 10 grains each cut into two sub-grains 0.5° apart, 0.1° per-axis spread, 60 counts;
the simulator calibrated on kikuchipy's real Ni scan) written as a store. Scores are on the
pixels away from the planted grain boundaries:

* ``ceiling``: the true per-pixel orientations (the limit the per-pixel spread sets), a per-pixel
  Gaussian mixture with the true k (full covariance, 5 starts);
* ``dictionary``: ``vaearr index --method dictionary --refine`` (kikuchipy), its median error
  against the true orientations, the per-pixel mixture, and ``vaearr segment`` of its orientations;
* ``pca``: PCA(16) of the standardised patterns (static background subtracted), per pixel, and
  segmented;
* ``vae:<variant>``: ``vaearr train`` → ``encode`` → the per-pixel mixture on the latent means
  and ``vaearr segment`` of them (regions against sub-grains, grains against grains), PCA(16) of
  exactly the VAE's input (``pca-same``), and ``vaearr boundaries --from <latent>`` (low-angle
  boundaries from the latents); CPU-seconds of training;
* ``patterns``: ``vaearr boundaries`` from the patterns (grain and low-angle boundary F1).

Rows go to ``benchmarks/results/science.jsonl`` (one per map and method, and per training seed of a ``vae:``
method: ``--train-seeds``, 0 alone by default). A trained model is one draw of its seed (:mod:`train_seeds`):
with several, the table gives each VAE row's median over the seeds and its worst draw.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): the table from the stored rows (the measurement is 20 min a map).
QUICK = ("--table",)
#: Writes its own result rows (one per measurement, with the machine record): no run line from the harness.
ROWS = "own"

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # the mixtures and segmentation: tiny matrices (torch sets its own threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from science_lib import (  # noqa: E402
    HELD_OUT_SEEDS,
    PHYSICS,
    ROOT,
    TUNING_SEEDS,
    ScienceMap,
    append_row,
    load_map,
    machine,
    orientation_features,
    pca_features,
    pixel_scores,
    recipe,
    region_scores,
)

from benchmarks.data.scoring import boundary_f1  # noqa: E402
from benchmarks.train_seeds import seeded, train_seed  # noqa: E402
from vaearr.maps.boundaries.boundaries import find_boundaries  # noqa: E402
from vaearr.maps.segmentation.regions import segment_features  # noqa: E402
from vaearr.maps.segmentation.segment import segment_store  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "science.jsonl"
DATA = ROOT / "benchmarks" / "_data" / "science_stores"

#: VAE variants: TrainConfig fields and model options (the README's EBSD path: ``vaearr train`` with no options).
VAES = {
    "default": {},
    "former-default": {"average_neighbours": 0, "background_operation": "subtract",
                       "model_options": {"decoder": "upsample"}},
    "uniform-average": {"neighbour_weights": "uniform"},
    "upsample": {"model_options": {"decoder": "upsample"}},  # the decoder before issue 32
    "transpose-narrow": {"model_options": {"channels": [16, 32, 64]}},
}


def last_row(path: Path, seed: int, physics: str, method: str, train: int = 0) -> dict:
    """The newest row of a method on a map, trained at ``train`` (for ``--rescore``: its training cost)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    rows = [r for r in rows if (r["seed"], r["physics"], r["method"], train_seed(r)) == (seed, physics, method, train)]
    return rows[-1] if rows else {}


def write_store(m: ScienceMap, kind: str = "subgrains") -> Path:
    from benchmarks.data import write_science_map

    p = m.physics
    store = DATA / f"{kind}_{m.seed}_{p.counts:g}_{p.spread:g}_{p.subgrain_angle:g}.zarr"
    if not store.exists():
        write_science_map(store, kind, seed=m.seed, counts=p.counts, spread=p.spread, subgrain_angle=p.subgrain_angle)
    return store


def lagb_scores(mask: np.ndarray, gb_mask: np.ndarray, m: ScienceMap) -> dict:
    lo, gb = boundary_f1(mask, m.lagb), boundary_f1(gb_mask, m.gb)
    return {"lagb_f1": round(lo["f1"], 4), "lagb_ratio": round(lo["ratio_marked"], 3), "gb_f1": round(gb["f1"], 4)}


def seg_of(features: np.ndarray, m: ScienceMap, **kw) -> dict:
    seg = segment_features(features, np.ones(m.shape, bool), **kw)
    s = region_scores(seg.regions, seg.grains, m)
    return {"seg_subgrains": round(s["subgrains"], 4), "seg_grains": round(s["grains"], 4),
            "seg_regions": seg.n_regions, **{f"seg_{k}": v for k, v in lagb_scores(seg.boundaries == 1,
                                                                                   seg.boundaries == 2, m).items()}}


def run_ceiling(m: ScienceMap, store: Path) -> dict:
    s = pixel_scores(orientation_features(m.orientation), m)
    return {"pixel_grains": s["grains"], "pixel_subgrains": s["subgrains"]}


def run_pca(m: ScienceMap, store: Path) -> dict:
    z = pca_features(recipe("subtract")(m.patterns.reshape(-1, *m.patterns.shape[2:])), 16)
    s = pixel_scores(z, m)
    return {"pixel_grains": s["grains"], "pixel_subgrains": s["subgrains"], **seg_of(z.reshape(*m.shape, -1), m)}


def run_dictionary(m: ScienceMap, store: Path) -> dict:
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    from vaearr.maps.indexing.indexing import index_store

    ds = xr.open_zarr(store)
    sm = ds.attrs["science_map"]
    t = time.process_time()
    index_store(store, phase="ni", pc=tuple(sm["pc"]), sample_tilt=float(sm["sample_tilt"]), method="dictionary",
                refine=True, mask=None, name="dictionary", overwrite=True, progress=False)
    cpu = time.process_time() - t
    q = xr.open_zarr(store)["dictionary"].values.reshape(-1, 4).astype(np.float64)
    err = np.degrees(Orientation(q, symmetry=Oh).angle_with(Orientation(m.orientation.reshape(-1, 4), symmetry=Oh)))
    s = pixel_scores(orientation_features(q), m)
    seg = segment_store(store, var="dictionary", name="dictionary_seg", mask=None, overwrite=True).segmentation
    r = region_scores(seg.regions, seg.grains, m)
    return {"pixel_grains": s["grains"], "pixel_subgrains": s["subgrains"], "cpu_s": round(cpu, 1),
            "median_error_deg": round(float(np.median(err[m.interior.ravel()])), 4),
            "seg_subgrains": round(r["subgrains"], 4), "seg_grains": round(r["grains"], 4), "seg_regions": seg.n_regions,
            **{f"seg_{k}": v for k, v in lagb_scores(seg.boundaries == 1, seg.boundaries == 2, m).items()}}


def run_patterns(m: ScienceMap, store: Path) -> dict:
    r = find_boundaries(store, prefix="pat_", overwrite=True)
    return lagb_scores(r.low_angle_boundaries.values, r.grain_boundaries.values, m)


def vae_inputs(store: Path, run_dir: Path) -> np.ndarray:
    """The VAE's inputs for every pixel: the run's preprocessing applied to the store's (averaged) patterns."""
    from vaearr.run import Run

    run = Run.open(run_dir)
    ds = xr.open_zarr(store)
    raw = ds[run.preprocess.source_variable("patterns")].transpose("y", "x", "py", "px").values
    x = torch.from_numpy(raw.reshape(-1, 1, *raw.shape[2:]))
    return np.concatenate([run.preprocess(x[i:i + 512]).numpy() for i in range(0, len(x), 512)]).reshape(len(x), -1)


def run_dir_of(store: Path, variant: str, train: int = 0) -> Path:
    """The run folder of ``variant`` trained at seed ``train`` on ``store``."""
    return DATA / "runs" / seeded(f"{store.stem}_{variant}", train)


def run_vae(m: ScienceMap, store: Path, variant: str, epochs: int, train: int = 0) -> dict:
    """Train ``variant`` at seed ``train``, encode it as its own variable and score it."""
    from vaearr.encoding import encode
    from vaearr.train import TrainConfig, fit

    opts = json.loads(json.dumps(VAES[variant]))
    model_options = opts.pop("model_options", {})
    run_dir = run_dir_of(store, variant, train)
    shutil.rmtree(run_dir, ignore_errors=True)
    # every core, given (TrainConfig.threads) rather than left to what the process was started with: the count
    # is part of the model (the BLAS of the similarity fit then takes it too, where the import left one thread)
    cfg = TrainConfig(store=str(store), run=str(run_dir), epochs=epochs, seed=train, tensorboard=False, previews=0,
                      model_options=model_options, threads=max(1, os.cpu_count() or 1), **opts)
    t = time.process_time()
    result = fit(cfg, progress=False)
    cpu = time.process_time() - t
    encode(store, run_dir, name=vae_name(variant, train), overwrite=True, progress=False)
    return {"cpu_s": round(cpu, 1), "epochs": len(result.history), **score_vae(m, store, variant, train)}


def vae_name(variant: str, train: int = 0) -> str:
    """The latents' variable of ``variant`` trained at seed ``train`` (seed 0: the name it always had)."""
    return seeded(f"vae_{variant.replace('-', '_')}", train)


def score_vae(m: ScienceMap, store: Path, variant: str, train: int = 0) -> dict:
    """Scores of a variant's encoded latents (trained at seed ``train``): per pixel, PCA of the same input,
    ``vaearr segment`` of the latents (the user's path: with the pattern-space floor) and ``vaearr boundaries --from``."""
    name = vae_name(variant, train)
    run_dir = run_dir_of(store, variant, train)
    z = xr.open_zarr(store)[name].transpose("y", "x", ...).values
    s = pixel_scores(z.reshape(-1, z.shape[-1]), m)
    same = pixel_scores(pca_features(vae_inputs(store, run_dir), 16), m)
    seg = segment_store(store, var=name, name=f"{name}_seg", mask=None, overwrite=True).segmentation
    r = region_scores(seg.regions, seg.grains, m)
    b = find_boundaries(store, var=name, prefix=f"{name}_", overwrite=True)
    return {"pixel_grains": s["grains"], "pixel_subgrains": s["subgrains"],
            "active_dims": int((np.nanvar(z.reshape(-1, z.shape[-1]), 0) > 0.01).sum()),
            "pca_same_grains": same["grains"], "pca_same_subgrains": same["subgrains"],
            "seg_subgrains": round(r["subgrains"], 4), "seg_grains": round(r["grains"], 4), "seg_regions": seg.n_regions,
            **{f"seg_{k}": v for k, v in lagb_scores(seg.boundaries == 1, seg.boundaries == 2, m).items()},
            **{f"bnd_{k}": v for k, v in lagb_scores(b.low_angle_boundaries.values,
                                                     b.grain_boundaries.values, m).items()}}


def measure(m: ScienceMap, store: Path, method: str, args: argparse.Namespace, train: int) -> dict:
    """One method's scores on one map (a ``vae:`` method trained at seed ``train``, or its latents scored again)."""
    if method.startswith("vae:") and args.rescore:
        last = last_row(OUT, m.seed, m.physics.label, method, train)
        return {"cpu_s": last.get("cpu_s"), "epochs": last.get("epochs"),
                **score_vae(m, store, method[4:], train), "rescored": True}
    if method.startswith("vae:"):
        return run_vae(m, store, method[4:], args.epochs, train)
    return {"ceiling": run_ceiling, "pca": run_pca, "dictionary": run_dictionary,
            "patterns": run_patterns}[method](m, store)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", choices=("tuning", "held-out"))
    p.add_argument("--seed", type=int, nargs="*", help="these seeds only (of the chosen split)")
    p.add_argument("--physics", type=int, nargs="*", default=[0], help="indices into science_lib.PHYSICS")
    p.add_argument("--methods", nargs="+", default=["ceiling", "pca", "patterns", "dictionary", "vae:default",
                                                    "vae:former-default", "vae:uniform-average"])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--train-seeds", type=int, nargs="+", default=[0],
                   help="train each vae: method at each of these seeds (default 0; `0 1 2` for the table's median "
                        "and worst: a trained model is one draw)")
    p.add_argument("--rescore", action="store_true",
                   help="score the latents already encoded in the stores again (segment, boundaries) without training")
    p.add_argument("--table", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.seeds:
        seeds = args.seed or (TUNING_SEEDS if args.seeds == "tuning" else HELD_OUT_SEEDS)
        for i in args.physics:
            for seed in seeds:
                m = load_map(seed, PHYSICS[i])
                store = write_store(m)
                for method in args.methods:
                    trained = method.startswith("vae:")
                    for train in args.train_seeds if trained else [0]:  # the other methods train nothing
                        t = time.perf_counter()
                        row = measure(m, store, method, args, train)
                        row = {"seed": seed, "split": args.seeds, "physics": PHYSICS[i].label, "method": method,
                               **({"train_seed": train} if trained else {}),
                               **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
                               "wall_s": round(time.perf_counter() - t, 1), "machine": machine()}
                        append_row(OUT, row)
                        print(json.dumps(row), flush=True)
    if args.table:
        from science_table import science_table

        print(science_table(OUT))
    return 0


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
