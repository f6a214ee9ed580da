"""How long do the latent analyses take on a 1,000,000-pixel map on this machine?

1. ``association`` (the xarray reduction ``vaearr rank`` runs, on dask blocks of latent dims): 64 latent dims × (3 elements + band contrast) × all seven metrics
   on 1,000,000 pixels (goal ≤ 60 s). HSIC is binned above ``hsic_exact_max`` pixels (an
   approximation); its error is measured against the exact O(n²) HSIC on a 5,000-pixel
   subsample (both computed on that subsample; the JSON gives max/median |error|). MI is the
   plug-in MI of equal-frequency bins at every size (no approximation to report).
2. HDBSCAN of 1,000,000 standardised (latent, band contrast) points through
   :func:`vaearr.analysis.cluster_methods.cluster_points` (goal ≤ 60 s), which runs fast_hdbscan (vaearr's one
   HDBSCAN); a tiny warm-up call first loads (or, once per install, compiles) its numba functions, timed
   apart. (``--compare-hdbscan`` timed the ``hdbscan`` package too while it was a dependency: 121 s against
   27 s, BENCHMARKS.md "Scale".)

The data are synthetic and seeded: 64 latent dims of smooth random fields plus noise on a
1000 × 1000 grid; "elements" are mixtures of a few latent dims plus noise; band contrast a
non-linear function of one dim. Results go to ``benchmarks/results/analysis.jsonl``.

    python benchmarks/bench_analysis.py                 # the full size
    python benchmarks/bench_analysis.py --side 300 --dims 16   # a quick run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): a 60 × 60 map of 8 latent dims (the fewest its planted references use).
QUICK = ("--side", "60", "--dims", "8", "--sub", "500", "--skip-per-metric")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _data(side: int, dims: int, seed: int):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    n = side * side
    lat = np.empty((n, dims), np.float32)
    for d in range(dims):
        field = gaussian_filter(rng.normal(size=(side, side)), sigma=1 + d % 8)
        lat[:, d] = (field / field.std()).ravel() + 0.3 * rng.normal(size=n)
    refs = np.empty((n, 4))
    for r in range(3):
        refs[:, r] = lat[:, [r, r + 5]].sum(1) + rng.normal(size=n)
    refs[:, 3] = np.tanh(lat[:, 7]) + 0.5 * rng.normal(size=n)
    yy, xx = np.divmod(np.arange(n), side)
    coords = np.stack([xx, yy], 1).astype(float)
    return lat, refs, coords


def main(argv: list[str] | None = None) -> dict:
    from vaearr.analysis.association import AssociationOptions, association_matrix
    from vaearr.analysis.cluster_methods import cluster_points

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1000, help="map side (pixels = side²)")
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--sub", type=int, default=5000, help="subsample for the exact-HSIC comparison")
    ap.add_argument("--skip-hdbscan", action="store_true")
    ap.add_argument("--skip-per-metric", action="store_true", help="skip the per-metric extrapolation")
    ap.add_argument("--out", default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = ap.parse_args(argv)

    lat, refs, coords = _data(args.side, args.dims, 0)
    n = lat.shape[0]
    res: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
                 "cpus": os.cpu_count(), "pixels": n, "latent_dims": args.dims, "references": 4,
                 "load_average_at_start": os.getloadavg()}
    opts = AssociationOptions(workers=os.cpu_count() or 1)
    association_matrix(lat[:1000, :2], refs[:1000, :1], coords[:1000], opts)  # JIT compile outside the timing
    # what `vaearr rank` runs: the xarray reduction over dask blocks of latent dims, on labeled maps
    import xarray as xr

    from vaearr.analysis.association import association

    side = args.side
    lat_da = xr.DataArray(lat.reshape(side, side, -1), dims=("y", "x", "latent_dim"),
                          coords={"y": np.arange(side), "x": np.arange(side), "latent_dim": np.arange(lat.shape[1])})
    ref_da = xr.DataArray(np.moveaxis(refs.reshape(side, side, -1), -1, 0), dims=("reference", "y", "x"),
                          coords={"reference": ["el0", "el1", "el2", "bandcontrast"], "y": lat_da.y, "x": lat_da.x})
    mask = xr.DataArray(np.ones((side, side), bool), dims=("y", "x"), coords={"y": lat_da.y, "x": lat_da.x})
    t = time.perf_counter()
    full = association(lat_da, ref_da, mask, options=opts).values
    res["association_seconds"] = round(time.perf_counter() - t, 2)
    res["association_path"] = "vaearr.analysis.association.association (xarray apply_ufunc over dask blocks of latent dims)"
    res["association_goal_seconds"] = 60
    per_metric = {}
    for m in [] if args.skip_per_metric else opts.metrics:
        one = AssociationOptions(metrics=(m,) if m not in ("kendall", "distance_correlation") else ("kendall", "distance_correlation"),
                                 workers=opts.workers)
        t = time.perf_counter()
        association_matrix(lat[:, :4], refs, coords, one)
        per_metric[m] = round((time.perf_counter() - t) * args.dims / 4, 1)
    res["association_seconds_per_metric_extrapolated_from_4_dims"] = per_metric
    # planted structure found: each element's best latent dims are its two sources
    res["element_top2_dims"] = [sorted(np.argsort(-np.abs(full[:, r, 0]))[:2].tolist()) for r in range(3)]

    rng = np.random.default_rng(1)
    pick = rng.choice(n, args.sub, replace=False)
    exact = association_matrix(lat[pick], refs[pick], coords[pick],
                               AssociationOptions(metrics=("hsic",), hsic_exact_max=args.sub, workers=opts.workers))
    binned = association_matrix(lat[pick], refs[pick], coords[pick],
                                AssociationOptions(metrics=("hsic",), hsic_exact_max=0, workers=opts.workers))
    err = np.abs(exact - binned).ravel()
    res["hsic_binned_vs_exact_on_subsample"] = {"pixels": args.sub, "max_abs_error": float(err.max()),
                                                "median_abs_error": float(np.median(err)),
                                                "max_exact_value": float(exact.max()),
                                                "same_top_dim_per_reference": bool((exact[:, :, 0].argmax(0) == binned[:, :, 0].argmax(0)).all())}
    if not args.skip_hdbscan:
        # (latent, band contrast) with four planted groups, as grains with their own contrast would give
        group = rng.integers(0, 4, n)
        feats = np.stack([lat[:, 3] + 4.0 * (group % 2), refs[:, 3] + 4.0 * (group // 2)], 1)
        t = time.perf_counter()
        cluster_points(feats[:60_000], "hdbscan", min_cluster_size=500, min_samples=50)  # load the compiled code
        res["hdbscan_warmup_seconds"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        labels, params = cluster_points(feats, "hdbscan", min_cluster_size=500, min_samples=50)
        res["hdbscan_seconds"] = round(time.perf_counter() - t, 2)
        res["hdbscan_backend"] = params["backend"]
        res["hdbscan_goal_seconds"] = 60
        res["hdbscan_clusters"] = int(labels.max() + 1)
        res["hdbscan_noise_fraction"] = round(float((labels == -1).mean()), 4)
        from vaearr.maps.decomposition.references import adjusted_rand_index

        kept = labels >= 0
        res["hdbscan_ari_vs_planted_groups_non_noise"] = round(adjusted_rand_index(labels[kept], group[kept]), 4) if kept.any() else None
    res["load_average_at_end"] = os.getloadavg()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
