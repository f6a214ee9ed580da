"""The grain rule's reading of every boundary between coarse regions, against the truth (how GRAIN_EXCESS was chosen).

For each prepared map of ``bench_families.py`` (``--only TAG …``; default the tuning maps), ``segment`` runs
as the README path does (latents, the ROI where there is one; on a patchwork map also every pixel with
``latent_all``) and every pair of adjacent coarse regions is listed with its excess pseudo-angle
(:mod:`vaearr.maps.segmentation.pattern_levels`) and whether the two regions' majority grains are the same. A pair is
*clean* when both regions are ≥ 90 % one grain and < 50 % hole. Prints, per split, the largest excess of a
clean same-grain pair, the smallest of a clean two-grain pair and the middle of the gap.

    python benchmarks/grain_pairs.py [--only TAG …]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_families import DATA, study_maps  # noqa: E402

import vaearr.maps.segmentation.pattern_levels as pl  # noqa: E402
from vaearr.maps.segmentation.segment import segment_store  # noqa: E402


def _purity(regions: np.ndarray, truth: xr.Dataset) -> list[tuple[int, float, float]]:
    grain = truth.grain_id.values
    hole = truth.hole_true.values if "hole_true" in truth else np.zeros(grain.shape, bool)
    out = []
    for r in range(int(regions.max()) + 1):
        inside = regions == r
        counts = np.bincount(grain[inside], minlength=int(grain.max()) + 1)
        out.append((int(counts.argmax()), counts.max() / max(inside.sum(), 1), float(hole[inside].mean())))
    return out


def pairs_of(tag: str) -> list[dict]:
    """Every measured pair of coarse regions of one map, each feature map and mask the README path uses."""
    store = DATA / f"{tag}.zarr"
    truth = xr.open_zarr(store).load()
    found: list[dict] = []
    original = pl.pattern_grains

    def reading(regions, features, prepare, pattern_size, threshold=pl.GRAIN_EXCESS):  # noqa: ANN001, ANN202
        rows = pl.boundary_rows(regions)
        sums, sq, count = pl.row_moments(features, regions.shape, rows, prepare)
        excess, _ = pl.excess_dissimilarity(sums, sq, count, rows.i.size)
        info = _purity(regions, truth)
        for k, (i, j) in enumerate(zip(rows.i, rows.j)):
            if np.isfinite(excess[k]):
                clean = min(info[i][1], info[j][1]) >= 0.9 and max(info[i][2], info[j][2]) < 0.5
                found.append({"map": tag, "excess": float(excess[k]), "same": info[i][0] == info[j][0],
                              "clean": clean})
        return original(regions, features, prepare, pattern_size, threshold=threshold)

    pl.pattern_grains = reading
    try:
        runs = [("latent", "roi" if "hole_true" in truth else None)] + ([("latent_all", None)]
                                                                         if "latent_all" in truth else [])
        for features, mask in runs:
            segment_store(store, var=features, name="seg_pairs", mask=mask, overwrite=True)
    finally:
        pl.pattern_grains = original
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", help="map tags (default: the tuning maps that are prepared)")
    args = p.parse_args(argv)
    maps = [m for m in study_maps() if (DATA / f"{m.tag}.zarr" / "zarr.json").exists()]
    maps = [m for m in maps if (m.tag in args.only if args.only else m.split == "tuning")]
    for split in sorted({m.split for m in maps}):
        rows = [r for m in maps if m.split == split for r in pairs_of(m.tag)]
        same = [r["excess"] for r in rows if r["clean"] and r["same"]]
        other = [r["excess"] for r in rows if r["clean"] and not r["same"]]
        hi, lo = max(same, default=float("nan")), min(other, default=float("nan"))
        print(f"{split}: {len(rows)} measured pairs on {sum(m.split == split for m in maps)} maps; clean pairs "
              f"of one grain: {len(same)}, largest excess {hi:.3f}; of two grains: {len(other)}, smallest {lo:.3f};"
              f" middle of the gap {(hi + lo) / 2:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
