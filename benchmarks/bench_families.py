"""Do the defaults hold on maps they were not tuned on? The README's EBSD path on two families of simulated maps.

Question: settings chosen on one simulator broke on another (issue 37: low-angle F1 0.29 where the
first family read 0.95; every sub-grain a grain without a mask). Two families built differently
(:func:`benchmarks.data.science_map`: straight sub-grain cuts, kikuchipy's detector and background,
uint8 grey levels, 1 µm step; :func:`benchmarks.data.patchwork_map`: patchy sub-grains, another
detector, background and contrast model, per-pixel gain, 50/50 boundary mixing, a band-contrast ROI
with holes, uint16 counts, 0.5 µm step), each with sub-grain maps and deformed maps (bent grains
beside recrystallised ones), tuning seeds and held-out seeds apart. The worst case is the figure.

Run (each map once: simulate, ROI, train, encode, index, decompose; then cheap scoring):

    python benchmarks/bench_families.py prepare --family all --split all   # hours on 2 cores
    python benchmarks/bench_families.py score                               # minutes: segment, boundaries, spread
    python benchmarks/bench_families.py boundaries                          # minutes: boundaries --from patterns only
    python benchmarks/bench_families.py readme --kind subgrains             # the README path's rows only (after
                                                                            # a change of segment; anchors stand)
    python benchmarks/bench_families.py table                               # BENCHMARKS.md tables
    python benchmarks/bench_families.py prepare --train-seeds 0 1 2 --only science_subgrains_2024   # three draws

A trained model is one draw of its seed (:mod:`benchmarks.train_seeds`): ``prepare --train-seeds`` trains the README
path's models at each seed (seed 0 as before: ``latent``, ``<tag>.run``; seed 1: ``latent_s1``, ``<tag>_s1.run``),
``score`` scores every seed a store holds (the README path's rows carry ``train_seed``; the anchors, the sweeps and
the spreads of the anchors stay on seed 0's regions) and the tables give a map trained at several seeds its median
over them and the worst draw.

The README path, its defaults: ``roi --bc-otsu`` where the map has band contrast (the patchwork
family; the first family's maps have no band contrast, every pixel is in), ``train`` with no
options, ``encode``. A patchwork map is trained a second time on every pixel (a patterns-only
file: no ROI), encoded as ``latent_all``; ``segment`` of ``latent_all`` with the ROI and without
it measures how much the mask changes the regions, and with the ROI less a seeded 1 % of its pixels how much a
small change of the mask does (the segmenter's own reproducibility); the same two for the segmentations of the
indexed orientations and of PCA(16) (how far the mask moves the regions of the anchors). Anchors on the same
pixels: the true orientations (the ceiling), ``vaearr index --method dictionary --refine`` (kikuchipy) and its
segmentation and KAM/GOS, PCA(16) of the raw patterns (``decompose --method pca``), cNMF; for KAM also the true
bend rate (the most a measure blind to each pixel's own orientation scatter can reach).
Scores are on pixels away from the planted grain boundaries (one pixel), and outside holes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): the tables from the stored rows (the measurement is hours: prepare, score).
QUICK = ("table",)
#: Writes its own result rows (one per measurement, with the machine record): no run line from the harness.
ROWS = "own"

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

#: Threads the study's models train with (``TrainConfig.threads``), given here: the variables above act only when
#: nothing loaded torch or numpy before this module, and where something had (pytest, a session), the same map,
#: seed and code trained on every core, into another model. One: what the tables' rows were trained with.
TRAIN_THREADS = 1

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from sklearn.metrics import adjusted_rand_score, roc_auc_score  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from science_lib import append_row, machine, mixture_ari, orientation_features  # noqa: E402

from benchmarks.train_seeds import seeded  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "_data" / "families"
OUT = ROOT / "benchmarks" / "results" / "families.jsonl"


@dataclass(frozen=True)
class MapSpec:
    """One map of the study: family, kind, seed, split and the physics that differs from the family's default."""

    family: str  # "science" (benchmarks.data.science_map), "patchwork" (.patchwork_map) or "bimodal" (.bimodal_map)
    kind: str  # "subgrains" or "deformed"
    seed: int
    split: str  # "tuning" or "held-out"
    physics: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        extra = "".join(f"_{k}{v:g}" if isinstance(v, float) else f"_{k}{v}" for k, v in sorted(self.physics.items()))
        return f"{self.family}_{self.kind}_{self.seed}{extra}"

    @property
    def label(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.physics.items())) or "default"


def study_maps() -> list[MapSpec]:
    """The maps, in the order they are prepared (the default physics first, variations after)."""
    maps = []
    for family, tuning, held in (("science", (2024, 7), (11, 3, 5)), ("patchwork", (1, 2), (3, 4, 5))):
        maps += [MapSpec(family, "subgrains", s, "tuning") for s in tuning]
        maps += [MapSpec(family, "subgrains", s, "held-out") for s in held]
        maps += [MapSpec(family, "deformed", 1, "tuning"), MapSpec(family, "deformed", 2, "held-out"),
                 MapSpec(family, "deformed", 3, "held-out"), MapSpec(family, "deformed", 4, "held-out")]
    low = {"science": 25.0, "patchwork": 20.0}
    for family, seed in (("science", 11), ("patchwork", 3)):
        maps += [MapSpec(family, "subgrains", seed, "held-out", {"counts": low[family]}),
                 MapSpec(family, "subgrains", seed, "held-out", {"counts": 100.0}),
                 MapSpec(family, "subgrains", seed, "held-out", {"subgrain_angle": 0.25}),
                 MapSpec(family, "subgrains", seed, "held-out", {"subgrain_angle": 1.0})]
    maps.append(MapSpec("patchwork", "subgrains", 3, "held-out", {"pattern_shape": (80, 80)}))
    # the third family (issue 60): built after the rules in degrees were chosen on the science family; all held out
    maps += [MapSpec("bimodal", "subgrains", s, "held-out") for s in (1, 2, 3)]
    maps += [MapSpec("bimodal", "deformed", s, "held-out") for s in (1, 2)]
    return maps


# --------------------------------------------------------------------------------------------
# prepare: the expensive part, once per map


#: The families whose maps have a band-contrast ROI: a second model is trained on every pixel (a patterns-only file).
WITH_ROI = ("patchwork", "bimodal")


def store_of(m: MapSpec) -> Path:
    return DATA / f"{m.tag}.zarr"


def _write(m: MapSpec, store: Path) -> None:
    from benchmarks.data import write_bimodal_map, write_science_map
    from benchmarks.data.patchwork import write_patchwork_map
    from vaearr.maps.roi.roi import create_roi

    if m.family == "science":
        write_science_map(store, m.kind, seed=m.seed, **m.physics)
    else:
        write = write_patchwork_map if m.family == "patchwork" else write_bimodal_map
        write(store, m.kind, seed=m.seed, **m.physics)
        create_roi(store, otsu=True)  # the README's --bc-otsu


def _train(store: Path, run: Path, *, name: str, mask: str | None = "auto", seed: int = 0) -> float:
    from vaearr.encoding import encode
    from vaearr.train import TrainConfig, fit

    shutil.rmtree(run, ignore_errors=True)
    t = time.process_time()
    fit(TrainConfig(store=str(store), run=str(run), mask=mask, tensorboard=False, previews=0, seed=seed,
                    threads=TRAIN_THREADS), progress=False)
    cpu = time.process_time() - t
    encode(store, run, name=name, overwrite=True, progress=False)
    return cpu


def prepare(m: MapSpec, train_seeds: tuple[int, ...] | list[int] = (0,)) -> dict:
    """Simulate, ROI, train and encode (twice for a patchwork map) at each of ``train_seeds``, index and decompose;
    each step once. Seed 0 is ``latent`` and ``<tag>.run``, another seed ``latent_s<seed>`` and ``<tag>_s<seed>.run``."""
    from vaearr.maps.decomposition.decompose import write_decomposition
    from vaearr.maps.indexing.indexing import index_store

    store = store_of(m)
    done = set(xr.open_zarr(store).data_vars) if (store / "zarr.json").exists() else set()
    cost = {}
    if "patterns" not in done:
        shutil.rmtree(store, ignore_errors=True)
        _write(m, store)
    for seed in train_seeds:
        tag, of = seeded(m.tag, seed), "" if seed == 0 else f"_seed{seed}"
        if seeded("latent", seed) not in done:
            cost[f"train_cpu_s{of}"] = round(_train(store, DATA / f"{tag}.run", name=seeded("latent", seed),
                                                    seed=seed), 1)
        if m.family in WITH_ROI and seeded("latent_all", seed) not in done:
            cost[f"train_all_cpu_s{of}"] = round(_train(store, DATA / f"{tag}.all.run", name=seeded("latent_all", seed),
                                                        mask=None, seed=seed), 1)
    if "dictionary" not in done:
        sm = xr.open_zarr(store).attrs["science_map"]
        t = time.process_time()
        index_store(store, phase="ni", pc=tuple(sm["pc"]), sample_tilt=float(sm["sample_tilt"]), method="dictionary",
                    refine=True, mask=None, name="dictionary", overwrite=True, progress=False)
        cost["index_cpu_s"] = round(time.process_time() - t, 1)
    if "pca_weights" not in done:
        write_decomposition(store, method="pca", components=16, mask=None, overwrite=True)
    if m.kind == "deformed" and "cnmf_weights" not in done:
        write_decomposition(store, method="cnmf", mask=None, overwrite=True)
    return cost


def unprepared(m: MapSpec, readme_only: bool = False) -> list[str]:
    """What :func:`prepare` writes that the map's store lacks (all of it when there is no store); ``readme_only``: of
    what the README path's rows need."""
    need = ["patterns", "latent"] + ([] if readme_only else ["dictionary", "pca_weights"])
    need += ["latent_all"] if m.family in WITH_ROI else []
    need += ["cnmf_weights"] if m.kind == "deformed" and not readme_only else []
    store = store_of(m)
    have = set(xr.open_zarr(store).data_vars) if (store / "zarr.json").exists() else set()
    return [v for v in need if v not in have]


# --------------------------------------------------------------------------------------------
# score: cheap, after any change of the segmentation or spread defaults


@dataclass
class Truth:
    ds: xr.Dataset

    @property
    def inside(self) -> np.ndarray:
        keep = ~ndi.binary_dilation(self.ds.grain_boundaries_true.values, iterations=1)
        if "hole_true" in self.ds:
            keep &= ~self.ds.hole_true.values
        return keep

    def region_scores(self, regions: np.ndarray, grains: np.ndarray) -> dict:
        inside = self.inside & (regions >= 0)
        return {"subgrains": float(adjusted_rand_score(self.ds.subgrain_id.values[inside], regions[inside])),
                "grains": float(adjusted_rand_score(self.ds.grain_id.values[inside], grains[inside])),
                "n_regions": int(len(np.unique(regions[regions >= 0]))),
                "n_grains": int(len(np.unique(grains[grains >= 0])))}


def _f1(marked: np.ndarray, true: np.ndarray) -> dict:
    from benchmarks.data.scoring import boundary_f1

    r = boundary_f1(marked, true)
    return {"f1": round(r["f1"], 4), "x": round(r["ratio_marked"], 3)}


def _segment(store: Path, features: str, mask: str | None, name: str, truth: Truth, **options: float) -> dict:
    from vaearr.maps.segmentation.segment import segment_store

    seg = segment_store(store, var=features, name=name, mask=mask, overwrite=True, **options).segmentation
    out = truth.region_scores(seg.regions, seg.grains)
    out |= {f"lagb_{k}": v for k, v in _f1(seg.boundaries == 1, truth.ds.low_angle_boundaries_true.values).items()}
    out["gb_f1"] = _f1(seg.boundaries == 2, truth.ds.grain_boundaries_true.values)["f1"]
    out["regions_map"] = seg.regions
    return out


#: The share of the ROI's pixels dropped at random for the segmentation's own reproducibility (:func:`_mask_stability`).
STABILITY_DROP = 0.01


def _mask_stability(store: Path, ds: xr.Dataset, truth: Truth, regions: np.ndarray,
                    features: str = "latent_all") -> float:
    """Regions ARI between ``segment`` of ``features`` in the ROI (``regions``) and in the ROI less a seeded
    random 1 % of its pixels, on the pixels both keep: how far the same features move the regions when the mask
    changes a little — the floor under "ROI vs every pixel", whose masks differ by ~10 % of the pixels."""
    from vaearr.store import write_variables

    roi = ds.roi.values.astype(bool)
    less = roi & (np.random.default_rng(0).random(roi.shape) >= STABILITY_DROP)
    write_variables(store, {"roi_less": xr.DataArray(less, dims=("y", "x"))}, source=["roi"],
                    config={"dropped_at_random": STABILITY_DROP, "seed": 0}, overwrite=True)
    c = _segment(store, features, "roi_less", "seg_all_roi_less", truth)["regions_map"]
    both = (regions >= 0) & (c >= 0) & truth.inside
    return round(float(adjusted_rand_score(regions[both], c[both])), 4)


def _anchor_mask_scores(store: Path, ds: xr.Dataset, truth: Truth, features: str, every: np.ndarray) -> dict:
    """An anchor's ROI vs every pixel and ROI vs ROI less 1 % (a map with a ROI): how far the mask moves the regions
    of indexed orientations and of PCA weights, read beside the latents'. ``every``: its regions without a mask."""
    if "roi" not in ds or bool(ds.roi.all()):
        return {}
    b = _segment(store, features, "roi", "seg_anchor_roi", truth)["regions_map"]
    both = (b >= 0) & truth.inside
    return {"roi_vs_all_ari": round(float(adjusted_rand_score(every[both], b[both])), 4),
            "roi_vs_roi_less_ari": _mask_stability(store, ds, truth, b, features)}


def score_subgrains(m: MapSpec, store: Path, truth: Truth) -> list[dict]:
    ds = truth.ds
    inside = truth.inside.ravel()
    sub = ds.subgrain_id.values.ravel()
    rows = []

    def pixel(values: np.ndarray) -> float | None:
        f = np.asarray(values, np.float64).reshape(inside.size, -1)
        ok = inside & np.isfinite(f).all(1)
        return round(mixture_ari(f[ok], sub[ok]), 4) if ok.any() else None

    q_true = ds.orientation_true.values.reshape(-1, 4)
    rows.append({"method": "true orientations", "pixel_subgrains": pixel(orientation_features(q_true))})
    q = ds.dictionary.values.reshape(-1, 4)
    d = _segment(store, "dictionary", None, "seg_dictionary", truth)
    rows.append({"method": "dictionary + refine", "pixel_subgrains": pixel(orientation_features(q)),
                 **{f"seg_{k}": v for k, v in d.items() if k != "regions_map"},
                 **_anchor_mask_scores(store, ds, truth, "dictionary", d["regions_map"])})
    p = _segment(store, "pca_weights", None, "seg_pca", truth)
    rows.append({"method": "PCA(16)", "pixel_subgrains": pixel(ds.pca_weights.values),
                 **{f"seg_{k}": v for k, v in p.items() if k != "regions_map"},
                 **_anchor_mask_scores(store, ds, truth, "pca_weights", p["regions_map"])})
    rows += [readme_row(store, truth, pixel, seed) for seed in trained_seeds(ds)]
    if "latent_all" in ds:  # a map of patterns only: the ROI from their quality (vaearr quality, roi --var adp --otsu)
        from vaearr.maps.roi.pattern_quality import quality_store
        from vaearr.maps.roi.roi import create_roi

        if "adp" not in ds:
            quality_store(store, overwrite=True, progress=False)
        create_roi(store, name="roi_adp", var="adp", otsu=True, overwrite=True)
        q = _segment(store, "latent_all", "roi_adp", "seg_adp", truth)
        rows.append({"method": "vaearr, patterns only (ROI of adp)", "mask": "roi_adp",
                     **{f"seg_{k}": x for k, x in q.items() if k != "regions_map"}})
    return rows + boundary_rows(store, ds)


def trained_seeds(ds: xr.Dataset) -> list[int]:
    """The training seeds of the README path's models encoded in a map's store: 0 (``latent``) and each other seed
    ``prepare --train-seeds`` trained (``latent_s1``…)."""
    extra = sorted(int(v[8:]) for v in map(str, ds.data_vars) if v.startswith("latent_s") and v[8:].isdigit())
    return ([0] if "latent" in ds else []) + extra


def readme_row(store: Path, truth: Truth, pixel: Callable[[np.ndarray], float | None], seed: int) -> dict:
    """The README path's scores on a sub-grain map with the model trained at ``seed``: per pixel and segmented in
    the ROI; where a model was trained on every pixel too, its segmentation without a mask, the ROI's against it
    and the ROI less 1 %."""
    ds = truth.ds
    latent, every = seeded("latent", seed), seeded("latent_all", seed)
    roi = "roi" if "roi" in ds and not bool(ds.roi.all()) else None
    v = _segment(store, latent, roi, seeded("seg", seed), truth)
    row = {"method": "vaearr (README path)", "mask": roi or "none", "train_seed": seed,
           "pixel_subgrains": pixel(ds[latent].values), **{f"seg_{k}": x for k, x in v.items() if k != "regions_map"}}
    if every in ds:
        a = _segment(store, every, None, seeded("seg_all", seed), truth)
        b = _segment(store, every, "roi", seeded("seg_all_roi", seed), truth)
        both = (b["regions_map"] >= 0) & truth.inside
        row |= {f"all_{k}": x for k, x in a.items() if k != "regions_map"}
        row["roi_vs_all_ari"] = round(float(adjusted_rand_score(a["regions_map"][both], b["regions_map"][both])), 4)
        row["roi_vs_roi_less_ari"] = _mask_stability(store, ds, truth, b["regions_map"], every)
    return row


def boundary_rows(store: Path, ds: xr.Dataset) -> list[dict]:
    """``vaearr boundaries`` from the patterns (no model), on every pixel and, where the map has one, in the ROI."""
    from vaearr.maps.boundaries.boundaries import find_boundaries

    roi = "roi" if "roi" in ds and not bool(ds.roi.all()) else None
    rows = []
    for mask in (None, roi) if roi else (None,):
        b = find_boundaries(store, prefix="pat_", overwrite=True, mask=mask)
        rows.append({"method": "boundaries --from patterns", "mask": mask or "none",
                     **{f"lagb_{k}": x for k, x in _f1(b.low_angle_boundaries.values,
                                                         ds.low_angle_boundaries_true.values).items()},
                     "gb_f1": _f1(b.grain_boundaries.values, ds.grain_boundaries_true.values)["f1"]})
    return rows


#: Grain pairs whose true GOS differ by more than this (degrees) are the ones a GOS analogue is asked to order: the
#: six recrystallised grains of a map differ by at most 0.01° (0.07–0.08°), which no feature map but the orientations
#: resolves, and their order is most of the Spearman's spread (BENCHMARKS "Science: two families").
GOS_RESOLVED = 0.25


def gos_pairs_wrong(per_grain: np.ndarray, gos: np.ndarray, resolved: float = GOS_RESOLVED) -> int:
    """Grain pairs whose true GOS differ by more than ``resolved`` degrees that ``per_grain`` orders the other way
    (or ties); grains without a value left out."""
    ok = np.flatnonzero(np.isfinite(per_grain))
    a, b = np.triu_indices(ok.size, 1)
    a, b = ok[a], ok[b]
    apart = np.abs(gos[a] - gos[b]) > resolved
    return int(((gos[a] - gos[b]) * (per_grain[a] - per_grain[b]) <= 0)[apart].sum())


def _deformation_scores(kernel: np.ndarray, domain: np.ndarray, rex: np.ndarray, ds: xr.Dataset) -> dict:
    gt, kam = ds.grain_id.values, ds.kam_true.values
    ok = np.isfinite(kernel) & np.isfinite(kam)
    grains = range(int(gt.max()) + 1)
    per_grain = np.array([np.nanmedian(np.where(gt == g, domain, np.nan)) for g in grains])
    gos = np.array([float(ds.gos_true.values[gt == g][0]) for g in grains])
    rex_true = np.array([bool(ds.recrystallised_true.values[gt == g][0]) for g in grains])
    inside = np.isfinite(domain)
    finite = np.isfinite(per_grain)
    bend = ds.bend_rate_true.values  # the bending alone: KAM without the per-pixel orientation scatter
    return {"kam_spearman": round(float(spearmanr(kernel[ok], kam[ok])[0]), 4),
            "bend_spearman": round(float(spearmanr(kernel[ok], bend[ok])[0]), 4),
            "auc_deformed": round(float(roc_auc_score(~rex_true[finite], per_grain[finite])), 4),
            "gos_spearman": round(float(spearmanr(per_grain[finite], gos[finite])[0]), 4),
            "gos_pairs_wrong": gos_pairs_wrong(per_grain, gos),
            "rex_fraction": round(float(rex[inside].mean()), 4),
            "rex_fraction_true": round(float(ds.recrystallised_true.values[inside].mean()), 4)}


def score_deformed(m: MapSpec, store: Path, truth: Truth) -> list[dict]:
    from vaearr.maps.deformation.spread import spread_store

    ds = truth.ds
    rows = []
    roi = "roi" if "roi" in ds and not bool(ds.roi.all()) else None
    for seed in trained_seeds(ds):
        rows += latent_segment_rows(store, truth, roi, seed)
    d = _segment(store, "dictionary", None, "seg_dictionary", truth)
    rows.append({"method": "segment (dictionary)", **{f"seg_{k}": x for k, x in d.items() if k != "regions_map"}})
    for seed in [s for s in trained_seeds(ds) if s != 0]:  # another model's regions, its own spreads (anchors: seed 0's)
        rows += spread_rows(store, ds, seeded("latent", seed), seeded("seg", seed), roi, "vaearr spread (latent)",
                            seed)
    for features, regions, label in (("latent", "seg", "vaearr spread (latent)"),
                                     ("pca_weights", "seg", "spread (PCA(16))"),
                                     ("cnmf_weights", "seg", "spread (cNMF)"),
                                     ("dictionary", "seg_dictionary", "dictionary + refine: KAM, GOS")):
        rows += spread_rows(store, ds, features, regions, roi if features == "latent" else None, label,
                            0 if features == "latent" else None)
    for radius in (1, 2, 3, 4, 5, 6):  # the kernel radius, chosen on the tuning maps (the default among them)
        r = spread_store(store, var="latent", regions="seg", mask=roi, radius=radius, name=f"latent_r{radius}",
                         recrystallised=f"rex_latent_r{radius}", patterns=False, overwrite=True)
        s = r.spread
        rows.append({"method": f"vaearr spread (latent), radius {radius}",
                     **_deformation_scores(s.kernel, s.domain, s.recrystallised, ds)})
    q = ds.orientation_true.values
    from vaearr.maps.indexing.grains import grain_rotation_vectors
    from vaearr.maps.indexing.orientations import phase_groups
    from vaearr.maps.deformation.measures import orientation_spreads

    groups = phase_groups(ds.dictionary.attrs.get("phases"))
    vec = grain_rotation_vectors(q.astype(np.float64), ds.grain_id.values, np.zeros(q.shape[:2], int), groups)
    s = orientation_spreads(vec, ds.grain_id.values)
    rows.append({"method": "true orientations: KAM, GOS", **_deformation_scores(s.kernel, s.domain,
                                                                               s.recrystallised, ds)})
    # the most any measure that reads the bending but not each pixel's own orientation scatter can reach (a 3 × 3
    # average removes that scatter): the true bend rate itself, ranked against the true KAM
    kam, bend = ds.kam_true.values, ds.bend_rate_true.values
    ok = np.isfinite(kam) & np.isfinite(bend)
    rows.append({"method": "true bend rate (no per-pixel scatter): KAM",
                 "kam_spearman": round(float(spearmanr(bend[ok], kam[ok])[0]), 4)})
    return rows


def latent_segment_rows(store: Path, truth: Truth, roi: str | None, seed: int) -> list[dict]:
    """``segment`` of the latents of the model trained at ``seed`` (in the ROI), and of the model trained on every
    pixel without a mask where there is one."""
    rows = []
    v = _segment(store, seeded("latent", seed), roi, seeded("seg", seed), truth)
    rows.append({"method": "vaearr segment (latent)", "train_seed": seed,
                 **{f"seg_{k}": x for k, x in v.items() if k != "regions_map"}})
    if seeded("latent_all", seed) in truth.ds:  # the model trained on every pixel, no ROI (a patterns-only file)
        a = _segment(store, seeded("latent_all", seed), None, seeded("seg_all", seed), truth)
        rows.append({"method": "vaearr segment (latent, every pixel)", "train_seed": seed,
                     **{f"seg_{k}": x for k, x in a.items() if k != "regions_map"}})
    return rows


def spread_rows(store: Path, ds: xr.Dataset, features: str, regions: str, mask: str | None, label: str,
                seed: int | None) -> list[dict]:
    """``spread`` of ``features`` over ``regions`` (from the patterns in degrees too, for the latents), scored;
    ``seed``: the training seed of the model the regions came from (None: an anchor's features)."""
    from vaearr.maps.deformation.spread import spread_store

    latent = features.startswith("latent")
    r = spread_store(store, var=features, regions=regions, mask=mask, recrystallised=f"rex_{features}",
                     patterns=latent, overwrite=True)
    s = r.spread
    of = {} if seed is None else {"train_seed": seed}
    rows = [{"method": label, **of, **_deformation_scores(s.kernel, s.domain, s.recrystallised, ds),
             "recrystallised_regions": s.info["recrystallised_regions"], "regions": s.info["regions_measured"]}]
    if r.degrees is not None:  # the README path's KAM, GOS in degrees from the patterns, on the same regions
        d = r.degrees
        rows.append({"method": "vaearr spread (patterns, degrees)", **of,
                     **_deformation_scores(d.kernel, d.domain, d.recrystallised, ds),
                     "recrystallised_regions": d.info["recrystallised_regions"], "regions": d.info["regions_measured"]})
    return rows


#: Low-angle thresholds (``segment --low-angle``, degrees) and boundary costs scored on every map, to choose on one
#: family and read the others.
LOW_ANGLES = (0.05, 0.1, 0.15, 0.2, 0.3)
BOUNDARY_COSTS = (1.0986, 2.0, 4.0, 8.0)


def score_settings(store: Path, truth: Truth) -> list[dict]:
    """``segment`` of the latents at each low angle and boundary cost (the others at their defaults)."""
    ds = truth.ds
    roi = "roi" if "roi" in ds and not bool(ds.roi.all()) else None
    rows = []
    for t in LOW_ANGLES:
        r = _segment(store, "latent", roi, "seg_sweep", truth, low_angle=t)
        rows.append({"method": f"segment, low angle {t:g}", **{f"seg_{k}": v for k, v in r.items()
                                                               if k != "regions_map"}})
    for c in BOUNDARY_COSTS:
        r = _segment(store, "latent", roi, "seg_sweep", truth, boundary_cost=c)
        rows.append({"method": f"segment, boundary cost {c:g}", **{f"seg_{k}": v for k, v in r.items()
                                                                   if k != "regions_map"}})
    return rows


def score(m: MapSpec, boundaries_only: bool = False, readme_only: bool = False) -> list[dict]:
    store = store_of(m)
    if readme_only:  # the README path's rows and `boundaries --from patterns` alone: the anchors' rows stand
        if m.kind != "subgrains":
            return []
        truth = Truth(xr.open_zarr(store).load())
        inside = truth.inside.ravel()
        sub = truth.ds.subgrain_id.values.ravel()

        def pixel(values: np.ndarray) -> float | None:
            f = np.asarray(values, np.float64).reshape(inside.size, -1)
            ok = inside & np.isfinite(f).all(1)
            return round(mixture_ari(f[ok], sub[ok]), 4) if ok.any() else None

        rows = [readme_row(store, truth, pixel, seed) for seed in trained_seeds(truth.ds)]
        rows += boundary_rows(store, truth.ds)
    elif boundaries_only:  # the patterns are enough: simulate the map if it is not there (prepare goes on from it)
        if m.kind != "subgrains":
            return []
        if not (store / "zarr.json").exists():
            _write(m, store)
        rows = boundary_rows(store, xr.open_zarr(store).load())
    else:
        truth = Truth(xr.open_zarr(store).load())
        rows = score_subgrains(m, store, truth) if m.kind == "subgrains" else score_deformed(m, store, truth)
        rows += score_settings(store, truth)
    base = {"family": m.family, "kind": m.kind, "seed": m.seed, "split": m.split, "physics": m.label}
    return [{**base, **r} for r in rows]


# --------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=("prepare", "score", "readme", "boundaries", "table"),
                   help="readme: score only the README path's rows and `boundaries --from patterns` (needs the "
                        "trained latents, not the anchors: their rows stand); boundaries: score only `boundaries "
                        "--from patterns` (needs no model; simulates missing maps)")
    p.add_argument("--family", choices=("science", "patchwork", "bimodal", "all"), default="all")
    p.add_argument("--split", choices=("tuning", "held-out", "all"), default="all")
    p.add_argument("--kind", choices=("subgrains", "deformed", "all"), default="all")
    p.add_argument("--only", nargs="*", help="map tags to run (default: all that match)")
    p.add_argument("--train-seeds", type=int, nargs="+", default=[0],
                   help="prepare: train the README path's models at each of these seeds (default 0; `0 1 2`: the "
                        "tables' median and worst draw); score reads every seed a store holds")
    args = p.parse_args(argv)
    if args.step == "table":
        from families_table import families_table, sweep_table

        print(families_table(OUT))
        print(sweep_table(OUT))
        return 0
    DATA.mkdir(parents=True, exist_ok=True)
    maps = [m for m in study_maps() if args.family in ("all", m.family) and args.split in ("all", m.split)
            and args.kind in ("all", m.kind) and (not args.only or m.tag in args.only)]
    skipped = []
    for m in maps:
        t = time.perf_counter()
        if args.step in ("score", "readme") and (missing := unprepared(m, readme_only=args.step == "readme")):  # a map prepare has not finished: say so, go on
            skipped.append(m.tag)
            print(json.dumps({"map": m.tag, "skipped": f"not prepared (no {', '.join(missing)}): "
                                                      f"`families prepare --only {m.tag}` first"}), flush=True)
            continue
        if args.step == "prepare":
            cost = prepare(m, args.train_seeds)
            print(json.dumps({"map": m.tag, "prepared": cost, "wall_s": round(time.perf_counter() - t, 1)}), flush=True)
            continue
        for row in score(m, boundaries_only=args.step == "boundaries", readme_only=args.step == "readme"):
            row = {**row, "wall_s": round(time.perf_counter() - t, 1), "machine": machine()}
            append_row(OUT, row)
            print(json.dumps({k: v for k, v in row.items() if k != "machine"}), flush=True)
    if skipped:
        print(f"scored {len(maps) - len(skipped)} of {len(maps)} maps; not prepared: {', '.join(skipped)}", flush=True)
    return 1 if skipped and len(skipped) == len(maps) else 0


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
