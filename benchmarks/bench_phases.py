"""Maps of several phases: does ``vaearr phases`` find the phases with no crystallography, and does ``vaearr index`` index
two phases as fast as PyEBSDIndex / kikuchipy called directly?

Part 1, phase ARI per map family (:data:`benchmarks.data.multiphase.FAMILIES`: FCC/BCC and FCC/HCP of different
structure; two FCC phases differing in pattern sharpness or in lattice parameter; one FCC phase), on the tuning seeds
the thresholds of :mod:`vaearr.maps.phases.phases` were chosen on and on held-out seeds never looked at while choosing. Each map:
24 × 32 pixels, 12 grains, 60 × 60 kinematical patterns, 40 counts (``benchmarks.data.phase_map``). The regions are those of
``vaearr segment`` on the map's PCA weights (``vaearr decompose --method pca``: no model). Compared on the same pixels:

- ``phases auto`` (the default), ``phases features`` (a mixture of the regions' mean PCA weights: the model side),
  ``phases lattice`` (each region's lattice fitted at the orientations of Hough indexing with the family's generic
  structures, :data:`GENERIC_PHASES`: no lattice given);
- PCA (16 components) of the background-divided patterns + a two-component Gaussian mixture, per pixel;
- Hough indexing (PyEBSDIndex) and dictionary indexing (kikuchipy, 4°) with both phases named, where they can be
  named apart (the structure families; the lattice family's two FCC cells by their structures);
- Otsu thresholds of band contrast and of image quality (``vaearr quality``), per pixel (the same-structure families).

Part 2, single-phase maps of the science benchmark (``benchmarks.data.science_map``: dynamical Ni patterns, 48 × 64, every
kind and the tuning and held-out seeds of ``benchmarks/science_lib.py``): how many phases ``phases`` finds, by default and with
``--method lattice`` (Hough with the generic ``fcc``).

Part 4, the sharpness rule on maps built unlike part 1's (a family it was not tuned on): two science maps of one seed
(dynamical Ni, the science detector, Poisson noise, boundary mixing), one drawn sharp and one with its patterns blurred
(``blur`` σ px), grains of odd id taken from the blurred one; ``phases`` (auto) on the mixed map and on the sharp map
alone (one phase expected). Seeds 21–23, kinds ``subgrains`` and ``noisy``, σ 1.5 and 1.0 px.

Part 3, time of two-phase indexing (FCC + BCC map, 48 × 64 pixels): ``vaearr index --phase fcc --phase bcc`` against
PyEBSDIndex's indexer with the same phase list (Hough) and kikuchipy's dictionary indexing of both phases + its
``merge_crystal_maps`` (dictionary), each called directly on the same patterns, alternating (goal: ratio ≥ 0.9).

    python benchmarks/bench_phases.py                 # everything (~25 min on 2 cores)
    python benchmarks/bench_phases.py --parts 1 --seeds 0 1   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): one map of one family, no dictionary.
QUICK = ("--parts", "1", "--seeds", "1", "--families", "fcc-bcc", "--no-dictionary")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from science_lib import write_results  # noqa: E402

from vaearr.crystals.master_patterns import quiet  # noqa: E402

#: Seeds the thresholds were chosen on, and seeds kept apart to check them.
TUNING_SEEDS = tuple(range(6))
HELD_OUT_SEEDS = tuple(range(6, 12))
#: What each family's two phases are named to the indexers (None: one structure, indexing cannot tell them apart).
INDEX_PHASES = {"fcc-bcc": ["fcc", "bcc"], "fcc-hcp": ["fcc", "hcp"], "lattice": ["ni=fcc", "al:225:4.05:Al"],
                "sharpness": None, "single": None}
#: The structures (built-in, no lattice of the map's) Hough indexes each family with for ``phases --method lattice``.
GENERIC_PHASES = {"fcc-bcc": ["fcc", "bcc"], "fcc-hcp": ["fcc", "hcp"], "lattice": ["fcc"], "sharpness": ["fcc"],
                  "single": ["fcc"]}


def _ari(truth: np.ndarray, labels: np.ndarray, single: bool) -> float | None:
    from sklearn.metrics import adjusted_rand_score

    return None if single else round(float(adjusted_rand_score(truth.ravel(), labels.ravel())), 4)


def pca_mixture(patterns: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """PCA(16) + a two-component Gaussian mixture per pixel, on the raw and on the background-divided patterns."""
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    x = patterns.reshape(patterns.shape[0] * patterns.shape[1], -1).astype(np.float64)
    out = {}
    for key, z in (("raw", x), ("background-divided", x / np.maximum(x.mean(0), 1.0))):
        s = PCA(16, random_state=seed).fit_transform(z - z.mean(0))
        out[key] = GaussianMixture(2, random_state=seed, n_init=3).fit_predict(s).reshape(patterns.shape[:2])
    return out


def one_map(family: str, seed: int, tmp: Path, dictionary: bool) -> dict:
    """Every method's phase ARI (or phases found) on one map of ``family``."""
    from skimage.filters import threshold_otsu

    from benchmarks.data.multiphase import write_phase_map
    from vaearr.maps.decomposition.decompose import write_decomposition
    from vaearr.maps.indexing.indexing import index_store
    from vaearr.maps.roi.pattern_quality import quality_store
    from vaearr.maps.phases.phases import phases_store
    from vaearr.maps.segmentation.segment import segment_store
    from vaearr.store import open_store

    store = tmp / f"{family}_{seed}.zarr"
    single = family == "single"
    row: dict = {"family": family, "seed": seed}
    with quiet():
        ds = write_phase_map(store, family, seed=seed, shape=(24, 32), n_grains=12)
        truth = ds.phase_true.values
        t = time.perf_counter()
        write_decomposition(store, method="pca")
        segment_store(store, var="pca_weights", name="seg")
        row["segment_s"] = round(time.perf_counter() - t, 2)
        for method in ("auto", "features"):
            t = time.perf_counter()
            res = phases_store(store, regions="seg", method=method, var="pca_weights", name=f"ph_{method}",
                               progress=False)
            row[f"phases_{method}"] = {"n_phases": res.variable.attrs["n_phases"],
                                       "ari": _ari(truth, res.variable.values, single),
                                       "seconds": round(time.perf_counter() - t, 2)}
        t = time.perf_counter()
        pc = ",".join(map(str, ds.attrs["phase_map"]["pc"]))
        index_store(store, phase=GENERIC_PHASES[family], pc=pc, sample_tilt=70, method="hough", name="generic",
                    progress=False)
        res = phases_store(store, regions="seg", method="lattice", var="generic", name="ph_lattice",
                           progress=False)
        row["phases_lattice"] = {"n_phases": res.variable.attrs["n_phases"],
                                 "ari": _ari(truth, res.variable.values, single),
                                 "lattice_a": [p["lattice_a"] for p in res.variable.attrs["phase_list"]],
                                 "splits": [{k: x[k] for k in ("statistic", "margin", "accepted")}
                                            for x in res.grouping.splits],
                                 "seconds": round(time.perf_counter() - t, 2)}
        for key, lab in pca_mixture(ds.patterns.values, seed).items():
            row[f"pca_mixture_{key}"] = {"ari": _ari(truth, lab, single)}
        phases = INDEX_PHASES[family]
        if phases:
            for method in ("hough", *(("dictionary",) if dictionary else ())):
                t = time.perf_counter()
                index_store(store, phase=phases, pc=pc, sample_tilt=70, method=method, resolution=4, name=method,
                            progress=False)
                pid = open_store(store)[f"{method}_phase_id"].values
                row[f"index_{method}"] = {"ari": _ari(truth, pid, single),
                                          "accuracy": round(float((pid == truth).mean()), 4),
                                          "seconds": round(time.perf_counter() - t, 2)}
        quality_store(store, progress=False)
        o = open_store(store)
        for var in ("bandcontrast", "iq"):
            v = o[var].values
            row[f"otsu_{var}"] = {"ari": _ari(truth, (v >= threshold_otsu(v[np.isfinite(v)])).astype(int), single)}
    shutil.rmtree(store, ignore_errors=True)
    return row


def science_single(seeds: tuple[int, ...], kinds: tuple[str, ...], tmp: Path) -> list[dict]:
    """Phases found on the science benchmark's single-phase (Ni) maps."""
    from benchmarks.data.subgrains import write_science_map
    from vaearr.maps.decomposition.decompose import write_decomposition
    from vaearr.maps.indexing.indexing import index_store
    from vaearr.maps.phases.phases import phases_store
    from vaearr.maps.segmentation.segment import segment_store

    rows = []
    for kind in kinds:
        for seed in seeds:
            store = tmp / f"science_{kind}_{seed}.zarr"
            with quiet():
                ds = write_science_map(store, kind, seed=seed)
                write_decomposition(store, method="pca")
                segment_store(store, var="pca_weights", name="seg")
                res = phases_store(store, regions="seg", progress=False)
                geometry = ds.attrs["science_map"]
                index_store(store, phase=["fcc"], method="hough", name="generic", progress=False,
                            pc=",".join(map(str, geometry["pc"])), sample_tilt=geometry.get("sample_tilt", 70))
                lattice = phases_store(store, regions="seg", method="lattice", var="generic", name="ph_lattice",
                                       progress=False)
            rows.append({"kind": kind, "seed": seed, "n_phases": res.variable.attrs["n_phases"],
                         "n_phases_lattice": lattice.variable.attrs["n_phases"],
                         "lattice_splits": [{k: x[k] for k in ("statistic", "margin", "accepted")}
                                            for x in lattice.grouping.splits],
                         "regions": int(res.variable.attrs["phase_list"][0]["regions"]) if res.variable.attrs["phase_list"] else 0,
                         "splits": [{k: s[k] for k in ("rule", "statistic", "accepted") if k in s}
                                    for s in res.grouping.splits]})
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(store, ignore_errors=True)
    return rows


def science_sharpness(seeds: tuple[int, ...], kinds: tuple[str, ...], blurs: tuple[float, ...], tmp: Path) -> list[dict]:
    """Part 4: ``phases`` on science maps whose odd grains are blurred, and on the sharp map alone."""
    from sklearn.metrics import adjusted_rand_score

    from benchmarks.data.subgrains import write_science_map
    from vaearr.maps.decomposition.decompose import write_decomposition
    from vaearr.maps.phases.phases import phases_store
    from vaearr.maps.segmentation.segment import segment_store
    from vaearr.store import open_store, write_variables

    rows = []
    for kind in kinds:
        for seed in seeds:
            sharp, plain = tmp / f"sharp_{kind}_{seed}.zarr", tmp / f"plain_{kind}_{seed}.zarr"
            with quiet():
                write_science_map(sharp, kind, seed=seed)
                shutil.copytree(sharp, plain)  # the sharp map as written: each mixed map starts from a copy
                write_decomposition(sharp, method="pca")
                segment_store(sharp, var="pca_weights", name="seg")
                alone = phases_store(sharp, regions="seg", progress=False).variable.attrs["n_phases"]
            a = open_store(plain)
            odd = a.grain_id.values % 2 == 1
            for blur in blurs:
                blurred, mixed = tmp / f"blurred_{kind}_{seed}.zarr", tmp / f"mixed_{kind}_{seed}.zarr"
                with quiet():
                    b = write_science_map(blurred, kind, seed=seed, blur=blur)
                    shutil.copytree(plain, mixed)
                    write_variables(mixed, {"patterns": a.patterns.copy(data=np.where(odd[..., None, None],
                                                                                      b.patterns.values,
                                                                                      a.patterns.values)),
                                            "phase_true": a.grain_id.copy(data=odd.astype(np.int16))},
                                    source=["benchmarks.bench_phases"], overwrite=True,
                                    inputs=["patterns"])  # the map's patterns, made again
                    write_decomposition(mixed, method="pca")
                    segment_store(mixed, var="pca_weights", name="seg")
                    res = phases_store(mixed, regions="seg", progress=False)
                splits = [s for s in res.grouping.splits if s["rule"].startswith("sharpness")]
                rows.append({"kind": kind, "seed": seed, "blur": blur, "n_phases": res.variable.attrs["n_phases"],
                             "ari": round(float(adjusted_rand_score(odd.ravel(), res.variable.values.ravel())), 4),
                             "sharpness_ratio": splits[0]["statistic"] if splits else None,
                             "sharp_map_alone_n_phases": alone})
                print(json.dumps(rows[-1]), flush=True)
                shutil.rmtree(blurred, ignore_errors=True)
                shutil.rmtree(mixed, ignore_errors=True)
            shutil.rmtree(sharp, ignore_errors=True)
            shutil.rmtree(plain, ignore_errors=True)
    return rows


def direct_index(store: Path, method: str, pc: tuple, resolution: float) -> np.ndarray:
    """The user's own script on the whole map: backgrounds removed, then PyEBSDIndex (one indexer, both phases) or
    kikuchipy (a dictionary per phase, merged by score). Returns the phase ids."""
    import kikuchipy as kp
    import xarray as xr
    from orix.crystal_map import CrystalMap, PhaseList
    from orix.sampling import get_sample_fundamental

    from vaearr.crystals import band_families, resolve_phase

    with quiet():
        pats = xr.open_zarr(store).patterns.values
        n = pats.shape[0] * pats.shape[1]
        pats = pats.reshape(n, *pats.shape[2:])
        s = kp.signals.EBSD(pats)
        s.remove_static_background(static_bg=np.rint(pats.mean(axis=0)).astype(pats.dtype))
        s.remove_dynamic_background()
        det = kp.detectors.EBSDDetector(shape=pats.shape[1:], pc=pc, sample_tilt=70)
        phases = [resolve_phase(p).phase for p in ("fcc", "bcc")]
        if method == "hough":
            indexer = det.get_indexer(PhaseList(phases), [band_families(p) for p in phases], nBands=10, tSigma=2,
                                      rSigma=2)
            data, _, _, _ = indexer.index_pats(s.data, verbose=0)
            return np.asarray(data[-1]["phase"])
        maps = []
        for name in ("fcc", "bcc"):
            src = resolve_phase(name)
            mp = src.master_pattern(20)
            rot = get_sample_fundamental(resolution=resolution, point_group=src.phase.point_group)
            sim = mp.get_patterns(rotations=rot, detector=det, energy=20, compute=True)
            xmap = s.dictionary_indexing(sim, metric="ncc", keep_n=1)
            maps.append(CrystalMap(rotations=xmap.rotations[:, 0] if xmap.rotations.ndim > 1 else xmap.rotations,
                                   phase_id=np.zeros(n, int), phase_list=xmap.phases,
                                   prop={"scores": np.asarray(xmap.prop["scores"]).reshape(n, -1)[:, 0]}))
        merged = kp.indexing.merge_crystal_maps(maps)
        names = {int(i): p.name for i, p in merged.phases if int(i) >= 0}
        return np.array([["fcc", "bcc"].index(names[int(i)]) for i in merged.phase_id])


def timing(tmp: Path, repeats: dict[str, int], resolution: float) -> dict:
    from benchmarks.data.multiphase import write_phase_map
    from vaearr.maps.indexing.indexing import index_store
    from vaearr.store import open_store

    store = tmp / "timing.zarr"
    with quiet():
        ds = write_phase_map(store, "fcc-bcc", seed=20, shape=(48, 64), n_grains=40)
    truth = ds.phase_true.values.ravel()
    pc = tuple(ds.attrs["phase_map"]["pc"])
    n = truth.size
    out: dict = {"n_patterns": n}
    with quiet():  # warm-up: PyEBSDIndex's numba code, the master patterns' cache
        direct_index(store, "hough", pc, resolution)
    for method, reps in repeats.items():
        times: dict[str, list[float]] = {"direct": [], "vaearr": []}
        acc = {}
        for _ in range(reps):
            t = time.perf_counter()
            pid = direct_index(store, method, pc, resolution)
            times["direct"].append(time.perf_counter() - t)
            acc["direct"] = float((pid == truth).mean())
            t = time.perf_counter()
            with quiet():
                index_store(store, phase=["fcc", "bcc"], pc=",".join(map(str, pc)), sample_tilt=70, method=method,
                            resolution=resolution, mask=None, name=f"t_{method}", overwrite=True, progress=False)
            times["vaearr"].append(time.perf_counter() - t)
            acc["vaearr"] = float((open_store(store)[f"t_{method}_phase_id"].values.ravel() == truth).mean())
            print(f"{method}: direct {times['direct'][-1]:.1f} s, vaearr {times['vaearr'][-1]:.1f} s", flush=True)
        med = {k: float(np.median(v)) for k, v in times.items()}
        out[method] = {"seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
                       "patterns_per_second": {k: round(n / v, 1) for k, v in med.items()},
                       "ratio_vaearr_over_direct": round(med["direct"] / med["vaearr"], 3),
                       "phase_accuracy": {k: round(v, 4) for k, v in acc.items()}}
        print(json.dumps(out[method]), flush=True)
    return out


#: The methods of part 1, as the table names them.
COLUMNS = (("phases_auto", "phases (auto)"), ("phases_lattice", "phases (lattice; Hough of the generic structure)"), ("phases_features", "phases (features: mixture of region-mean PCA)"),
           ("pca_mixture_background-divided", "PCA(16) + mixture, bg-divided"), ("pca_mixture_raw", "PCA(16) + mixture, raw"),
           ("index_hough", "Hough, both phases named"), ("index_dictionary", "dictionary, both phases named"),
           ("otsu_bandcontrast", "Otsu of band contrast"), ("otsu_iq", "Otsu of IQ"))


def table(results: dict) -> str:
    """Part 1 as a Markdown table: per family and seed set, each method's mean (min) phase ARI, and how many maps
    ``phases`` gave the true number of phases."""
    rows = ["| family | seeds | phases found right (auto, lattice) | " + " | ".join(c for _, c in COLUMNS) + " |",
            "|---|---|---:|" + "---:|" * len(COLUMNS)]
    for family in dict.fromkeys(r["family"] for r in results["maps"]):
        for held in (False, True):
            maps = [r for r in results["maps"] if r["family"] == family and r["held_out"] == held]
            if not maps:
                continue
            k = 1 if family == "single" else 2
            right = f"{sum(r['phases_auto']['n_phases'] == k for r in maps)}/{len(maps)}"
            if any("phases_lattice" in r for r in maps):
                right += f", {sum(r['phases_lattice']['n_phases'] == k for r in maps if 'phases_lattice' in r)}/{len(maps)}"
            cells = []
            for key, _ in COLUMNS:
                v = [r[key]["ari"] for r in maps if key in r and r[key].get("ari") is not None]
                cells.append(f"{np.mean(v):.2f} ({min(v):.2f})" if v else "—")
            seeds = f"{'held out' if held else 'tuning'} {min(r['seed'] for r in maps)}–{max(r['seed'] for r in maps)}"
            rows.append(f"| {family} | {seeds} | {right} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", type=int, default=[1, 2, 4, 3])
    ap.add_argument("--seeds", nargs="+", type=int, default=[*TUNING_SEEDS, *HELD_OUT_SEEDS])
    ap.add_argument("--families", nargs="+", default=["fcc-bcc", "fcc-hcp", "sharpness", "lattice", "single"])
    ap.add_argument("--no-dictionary", action="store_true", help="part 1 without dictionary indexing")
    ap.add_argument("--science-seeds", nargs="+", type=int, default=[2024, 7, 11, 3, 5])
    ap.add_argument("--science-kinds", nargs="+", default=["clean", "noisy", "subgrains"])
    ap.add_argument("--out", default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    ap.add_argument("--table", metavar="JSONL", help="print part 1 of a results file (its last line's result, or a JSON "
                                                      "file --out wrote) as BENCHMARKS.md's table, run nothing")
    args = ap.parse_args(argv)
    if args.table:
        text = Path(args.table).read_text()
        results = json.loads(text.splitlines()[-1])["result"] if args.table.endswith(".jsonl") else json.loads(text)
        print(table(results))
        return results

    import kikuchipy
    import orix
    import pyebsdindex

    tmp = Path(tempfile.mkdtemp(prefix="bench_phases_"))
    os.environ.setdefault("VAEARR_CACHE", str(tmp / "cache"))
    out: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "kikuchipy": kikuchipy.__version__, "orix": orix.__version__,
                             "pyebsdindex": pyebsdindex.__version__},
                 "load_start": os.getloadavg()[0], "tuning_seeds": list(TUNING_SEEDS),
                 "held_out_seeds": list(HELD_OUT_SEEDS)}
    t0 = time.perf_counter()
    if 1 in args.parts:
        out["maps"] = []
        for family in args.families:
            for seed in args.seeds:
                row = one_map(family, seed, tmp, dictionary=not args.no_dictionary)
                row["held_out"] = seed in HELD_OUT_SEEDS
                out["maps"].append(row)
                print(json.dumps(row), flush=True)
    if 2 in args.parts:
        out["science_single_phase"] = science_single(tuple(args.science_seeds), tuple(args.science_kinds), tmp)
    if 4 in args.parts:
        out["science_sharpness"] = science_sharpness((21, 22, 23), ("subgrains", "noisy"), (1.5, 1.0), tmp)
    if 3 in args.parts:
        out["timing"] = timing(tmp, {"hough": 3, "dictionary": 1}, 4.0)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return write_results(out, args.out, tmp)


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
