"""Do the latents find what is in the map? Methods side by side on simulated Ni maps with known truth.

Run (about an hour on 2 cores; results in BENCHMARKS.md, "Science"):

    python benchmarks/bench_science_issue13.py --out benchmarks/results/science.json
    python benchmarks/bench_science_issue13.py --maps subgrains --methods pca vae-new --epochs 4   # a quick look

Maps (:func:`vaearr.data.simulate.science_map`, seed 2024, 48 × 64 pixels of 60 × 60 patterns,
10 grains): ``clean`` (the demo map's noise), ``noisy`` (Poisson, ~25 counts per detector
pixel) and ``subgrains`` (each grain cut into two halves 0.5° apart, 60 counts).

Methods, each giving per-pixel features over the whole map:

* ``raw``      the standardised patterns themselves (static background removed, per-pattern
               standardisation; 3 600 features), the mixture with spherical covariances;
* ``pca``, ``nmf``, ``cnmf``  ``vaearr decompose`` with 16 components (cNMF: automatic
               reference pixels and components), features = the weights;
* ``vae-old``  the conv-vae as the README trained it before issue 13: ``--preprocess none``
               (inputs scaled to [0, 1], sigmoid + BCE);
* ``vae-new``  the conv-vae with today's defaults (EBSD auto preprocessing: static background
               removal + standardisation, Gaussian head with a learned σ);
* ``vae-nav3`` the defaults plus 3 × 3 neighbour pattern averaging;
* ``vae-fb``   the defaults plus free bits (0.25 nats per dim) and a 3-epoch KL warm-up;
* ``vae-l32``  the defaults with 32 latent dims;
* ``vae-nav3-b05`` neighbour averaging and β = 0.5.
* ``hough``    ``vaearr index --method hough`` (PyEBSDIndex), the physics reference: features =
               each pixel's orientation as m-3m-invariant numbers (the sorted absolute crystal
               components of the three sample axes); boundaries from neighbour misorientations (> 5°: grain
               boundary; 0.3–5°: low-angle), not from ``vaearr boundaries``;
* ``dictionary`` ``vaearr index --method dictionary --refine`` (kikuchipy, 2° dictionary), the same.

Every VAE is trained for ``--epochs`` (default 15) at ``--resize`` (default 32 × 32, as the
study before it; ``--resize 0`` keeps 60 × 60) and encoded with ``vaearr encode``; beside each,
``pca-same``: PCA(16) of exactly the VAE's input (the run's own preprocessing applied to the
stored patterns), the fair baseline for "a model that learns".

Scores per method: active units (latent dims whose posterior mean varies by > 0.01 over the
map; PCA/NMF components count as active when their weight variance is > 0.01 of the largest),
ARI of a full-covariance Gaussian mixture with the true k (5 initialisations) and with k chosen
by BIC over a range, against the grains and against the sub-grains (all pixels), and the F1 of
``vaearr boundaries`` masks computed from the method's features (1-pixel tolerance) against the
planted grain and low-angle boundaries, with the ratio of marked to true pixels; fit time (wall s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vaearr.data import write_science_map  # noqa: E402
from vaearr.encode import encode  # noqa: E402
from vaearr.maps.boundaries import boundary_f1, find_boundaries  # noqa: E402
from vaearr.maps.decompose import write_decomposition  # noqa: E402
from vaearr.models import config_from_dict  # noqa: E402
from vaearr.run import Run  # noqa: E402
from vaearr.train import TrainConfig, fit  # noqa: E402

MAPS = ("clean", "noisy", "subgrains")
METHODS = ("raw", "pca", "nmf", "cnmf", "vae-old", "vae-new", "vae-nav3", "vae-fb", "vae-l32", "vae-nav3-b05",
           "hough", "dictionary")
#: Indexing methods: the orientations, not a representation, are the features.
INDEXING = ("hough", "dictionary")
GB_ANGLE, LAGB_ANGLE = 5.0, 0.3
VAES = {
    "vae-old": {"preprocess": "none"},
    "vae-new": {},
    "vae-nav3": {"average_neighbours": 3},
    "vae-fb": {"kl_warmup_epochs": 3.0, "model_options": {"free_bits": 0.25}},
    "vae-l32": {"latent_dim": 32},
    "vae-nav3-b05": {"average_neighbours": 3, "model_options": {"beta": 0.5}},
}
ACTIVE = 0.01
K_GRAINS = range(6, 17, 2)
K_SUB = range(10, 31, 4)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "load_average_start": list(os.getloadavg())}


# --------------------------------------------------------------------------------------------
# scores


def mixture(feats: np.ndarray, k: int, *, covariance: str = "full", n_init: int = 5, seed: int = 0):
    """A fitted Gaussian mixture; a collapsed component retries with a larger covariance floor."""
    try:
        return GaussianMixture(k, covariance_type=covariance, n_init=n_init, random_state=seed).fit(feats)
    except ValueError:
        reg = 1e-3 * float(feats.var(0).mean())
        return GaussianMixture(k, covariance_type=covariance, n_init=n_init, random_state=seed,
                               reg_covar=reg).fit(feats)


def ari_scores(feats: np.ndarray, truth: dict[str, np.ndarray], covariance: str = "full") -> dict:
    """ARI of the mixture with the true k and with the BIC k, against grains and sub-grains."""
    feats = np.asarray(feats, np.float64)
    out: dict = {}
    for key, ks in (("grains", K_GRAINS), ("subgrains", K_SUB)):
        labels = truth[key].ravel()
        k_true = len(np.unique(labels))
        if key == "subgrains" and k_true == len(np.unique(truth["grains"])):
            continue  # no sub-grains in this map
        gm = mixture(feats, k_true, covariance=covariance)
        out[f"ari_{key}"] = float(adjusted_rand_score(labels, gm.predict(feats)))
        best = None
        for k in ks:
            g = mixture(feats, k, covariance=covariance, n_init=2)
            b = g.bic(feats)
            if best is None or b < best[0]:
                best = (b, k, g.predict(feats))
        out[f"bic_k_{key}"] = int(best[1])
        out[f"ari_bic_{key}"] = float(adjusted_rand_score(labels, best[2]))
    return out


def active_units(feats: np.ndarray, relative: bool = False) -> int:
    var = np.nanvar(np.asarray(feats, np.float64), axis=0)
    threshold = ACTIVE * var.max() if relative else ACTIVE
    return int((var > threshold).sum())


def boundary_scores(store: Path, source: str, truth: dict[str, np.ndarray], name: str) -> dict:
    """F1 of the grain and low-angle boundary masks from ``source`` (patterns or a (y, x, dim) variable)."""
    t = time.perf_counter()
    res = find_boundaries(store, source=source, prefix=f"{name}_", overwrite=True)
    a = res.attrs
    out = {"boundaries_s": round(time.perf_counter() - t, 2), "gb_threshold": a.get("gb_threshold"),
           "lagb_threshold": a.get("lagb_threshold"), "grain_size_um": a.get("grain_size_um")}
    for key, true_key in (("grain_boundaries", "gb"), ("low_angle_boundaries", "lagb")):
        pred = np.asarray(getattr(res, key).values, bool)
        if not truth[true_key].any():
            out[f"{true_key}_marked"] = int(pred.sum())
            continue
        f = boundary_f1(pred, truth[true_key], tolerance=1)
        out.update({f"{true_key}_f1": f["f1"], f"{true_key}_precision": f["precision"],
                    f"{true_key}_recall": f["recall"], f"{true_key}_ratio": f["ratio_marked"]})
    return out


def run_indexing(store: Path, method: str, truth: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
    """Index the map (``vaearr index``); rotation-vector features and orientation-boundary F1."""
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    from vaearr.maps.indexing import index_store

    ds = xr.open_zarr(store)
    sm = ds.attrs["science_map"]
    t = time.perf_counter()
    index_store(store, phase="ni", pc=tuple(sm["pc"]), sample_tilt=float(sm["sample_tilt"]), method=method,
                refine=method == "dictionary", mask=None, name=method, overwrite=True, progress=False)
    fit_s = time.perf_counter() - t
    q = xr.open_zarr(store)[method].transpose("y", "x", "quaternion").values.astype(np.float64)
    ny, nx = q.shape[:2]
    feats = cubic_invariant(q.reshape(-1, 4))
    bad = ~np.isfinite(feats).all(1)  # not indexed: the mean feature, counted in the row
    feats[bad] = np.nanmean(feats[~bad], axis=0)
    right = np.full((ny, nx), np.nan)
    down = np.full((ny, nx), np.nan)
    oo = Orientation(q, symmetry=Oh)
    right[:, :-1] = np.degrees(oo[:, :-1].angle_with(oo[:, 1:]))
    down[:-1, :] = np.degrees(oo[:-1, :].angle_with(oo[1:, :]))
    row: dict = {"fit_s": round(fit_s, 2), "gb_angle": GB_ANGLE, "lagb_angle": LAGB_ANGLE,
                 "n_unindexed": int(bad.sum())}
    gb = (np.nan_to_num(right) > GB_ANGLE) | (np.nan_to_num(down) > GB_ANGLE)
    lagb = (((right > LAGB_ANGLE) & (right <= GB_ANGLE)) | ((down > LAGB_ANGLE) & (down <= GB_ANGLE))) & ~gb
    for key, pred in (("gb", gb), ("lagb", lagb)):
        f = boundary_f1(pred, truth[key], tolerance=1) if truth[key].any() else None
        if f is None:
            row[f"{key}_marked"] = int(pred.sum())
        else:
            row.update({f"{key}_f1": f["f1"], f"{key}_precision": f["precision"], f"{key}_recall": f["recall"],
                        f"{key}_ratio": f["ratio_marked"]})
    # pixels away from the planted grain boundaries (their patterns mix two grains)
    near = ndi_dilate(truth["gb"])
    interior = {k: v.ravel()[~near.ravel()] for k, v in truth.items() if k in ("grains", "subgrains")}
    scores = ari_scores(feats[~near.ravel()], interior)
    row.update({f"{k}_interior": v for k, v in scores.items()})
    return feats, row


def cubic_invariant(q: np.ndarray) -> np.ndarray:
    """Features of orientations that m-3m symmetry leaves alone, continuous everywhere: for each
    sample axis, the sorted absolute components of its crystal direction (9 numbers). A fundamental-
    zone reduction instead cuts grains that sit on the zone's edge into far-apart clusters."""
    from orix.quaternion import Rotation

    m = Rotation(q).to_matrix()  # (n, 3, 3), crystal <- sample
    return np.sort(np.abs(m), axis=1).reshape(len(q), -1)


def ndi_dilate(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=1)


# --------------------------------------------------------------------------------------------
# methods


def standardised(patterns: np.ndarray) -> np.ndarray:
    """Static background (the map's mean pattern) subtracted, each pattern to zero mean, unit std."""
    x = patterns.reshape(-1, patterns.shape[-2] * patterns.shape[-1]).astype(np.float64)
    x = x - x.mean(0)
    x -= x.mean(1, keepdims=True)
    x /= x.std(1, keepdims=True) + 1e-6
    return x


def flat(da: xr.DataArray) -> np.ndarray:
    da = da.transpose("y", "x", ...)
    return np.asarray(da.values, np.float64).reshape(da.sizes["y"] * da.sizes["x"], -1)


def run_decomposition(store: Path, method: str, n: int, seed: int) -> tuple[np.ndarray, float, dict]:
    t = time.perf_counter()
    kw = {"components": "auto", "references": "auto", "k_range": (8, 24)} if method == "cnmf" else {"components": n}
    res = write_decomposition(store, method=method, name=method, mask=None, seed=seed, overwrite=True, **kw)
    dt_s = time.perf_counter() - t
    keep = ("n_components", "n_fixed", "n_free", "reconstruction_error", "references_rule", "shift")
    info = {k: (v.item() if hasattr(v, "item") else v) for k, v in res.attrs.items() if k in keep}
    return flat(res.weights), dt_s, info


def model_inputs(store: Path, run_dir: Path) -> np.ndarray:
    """The VAE's inputs for every pixel: the run's preprocessing applied to the stored patterns."""
    run = Run.open(run_dir)
    ds = xr.open_zarr(store)
    src = run.preprocess.source_variable("patterns")
    raw = ds[src].transpose("y", "x", "py", "px").values
    x = torch.from_numpy(raw.reshape(-1, 1, *raw.shape[2:]))
    out = [run.preprocess(x[i:i + 512]).numpy() for i in range(0, len(x), 512)]
    return np.concatenate(out).reshape(len(x), -1)


def run_vae(store: Path, runs: Path, method: str, args) -> tuple[np.ndarray, float, dict, np.ndarray]:
    opts = dict(VAES[method])
    model_options = opts.pop("model_options", {})
    run_dir = runs / method
    shutil.rmtree(run_dir, ignore_errors=True)
    latent_dim = opts.pop("latent_dim", 16)
    cfg = TrainConfig(store=str(store), run=str(run_dir), epochs=args.epochs, latent_dim=latent_dim, seed=args.seed,
                      resize=args.resize or None, tensorboard=False, previews=0, model_options=model_options,
                      **opts)
    t = time.perf_counter()
    result = fit(cfg, progress=False)
    fit_s = time.perf_counter() - t
    enc = encode(store, run_dir, name=method, overwrite=True, progress=False)
    ds = xr.open_zarr(store)
    last = result.history[-1]
    split = "val" if "val_kl_per_dim" in last else "train"
    extra = {"active_units_encode": enc.active_units[0] if enc.active_units else None,
             "kl_nats": float(np.sum(last[f"{split}_kl_per_dim"])),
             "train_loss": float(last["train_loss"]), "epochs": len(result.history),
             "output": config_from_dict(Run.open(run_dir).model_config).output_head}
    return flat(ds[method]), fit_s, extra, model_inputs(store, run_dir)


# --------------------------------------------------------------------------------------------


def truth_of(ds: xr.Dataset) -> dict[str, np.ndarray]:
    return {"grains": ds["grain_id"].values, "subgrains": ds["subgrain_id"].values,
            "gb": ds["grain_boundaries_true"].values.astype(bool),
            "lagb": ds["low_angle_boundaries_true"].values.astype(bool)}


def rescore(args) -> int:
    """Boundary scores again, from the variables the last full run left in the stores."""
    report = json.loads(args.out.read_text())
    for kind, rows in report["maps"].items():
        store = args.data_dir / f"{kind}.zarr"
        ds = xr.open_zarr(store)
        truth = truth_of(ds)
        rows["patterns"] = boundary_scores(store, "patterns", truth, "pat")
        for method, row in rows.items():
            source = f"{method}_weights" if method in ("pca", "nmf", "cnmf") else method
            if method == "patterns" or method in INDEXING or source not in ds:
                continue
            row.update(boundary_scores(store, source, truth, method))
        print(f"[{kind}] rescored boundaries", flush=True)
    report["boundaries_rescored"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--maps", nargs="+", default=list(MAPS), choices=MAPS)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--resize", type=int, default=32, help="VAE input size (0: the stored 60 × 60)")
    p.add_argument("--components", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / "data" / "science")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "science.json")
    p.add_argument("--rescore-boundaries", action="store_true",
                   help="only recompute the boundary scores of the maps and methods already in --out and --data-dir")
    args = p.parse_args(argv)
    if args.rescore_boundaries:
        return rescore(args)
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    args.data_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"command": "python benchmarks/bench_science_issue13.py " + " ".join(argv or sys.argv[1:]),
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                    "epochs": args.epochs, "resize": args.resize, "maps": {}}
    if args.out.exists():  # keep what other invocations measured
        old = json.loads(args.out.read_text())
        report["maps"] = old.get("maps", {})
    for kind in args.maps:
        store = args.data_dir / f"{kind}.zarr"
        t = time.perf_counter()
        write_science_map(store, kind, overwrite=True)
        print(f"[{kind}] map written in {time.perf_counter() - t:.0f} s", flush=True)
        ds = xr.open_zarr(store)
        truth = truth_of(ds)
        rows = report["maps"].setdefault(kind, {})
        patterns = ds["patterns"].transpose("y", "x", "py", "px").values
        rows["patterns"] = boundary_scores(store, "patterns", truth, "pat")
        print(f"[{kind}] boundaries from patterns: {rows['patterns']}", flush=True)
        for method in args.methods:
            t = time.perf_counter()
            row: dict = {}
            if method == "raw":
                feats = standardised(patterns)
                row.update(ari_scores(feats, truth, covariance="spherical"))
                row["fit_s"] = 0.0
            elif method in INDEXING:
                feats, info = run_indexing(store, method, truth)
                row.update(info)
                row.update(ari_scores(feats, truth))
            elif method in ("pca", "nmf", "cnmf"):
                feats, fit_s, info = run_decomposition(store, method, args.components, args.seed)
                row.update({"fit_s": round(fit_s, 2), "active_units": active_units(feats, relative=True),
                            "n_components": feats.shape[1], **info})
                row.update(ari_scores(feats, truth))
                row.update(boundary_scores(store, f"{method}_weights", truth, method))
            else:
                feats, fit_s, extra, inputs = run_vae(store, args.data_dir / f"runs-{kind}", method, args)
                row.update({"fit_s": round(fit_s, 1), "active_units": active_units(feats), **extra})
                row.update(ari_scores(feats, truth))
                row.update(boundary_scores(store, method, truth, method))
                same = PCA(16, random_state=0).fit_transform(inputs)
                rows[f"pca-same:{method}"] = {**ari_scores(same, truth), "input": "the VAE's input"}
            row["total_s"] = round(time.perf_counter() - t, 1)
            rows[method] = row
            print(f"[{kind}] {method}: {row}", flush=True)
            report["machine"]["load_average_end"] = list(os.getloadavg())
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
