"""Tables of ``benchmarks/results/science.jsonl`` (``bench_science.py``): means per method, tuning and held-out apart;
a method trained at several seeds (``--train-seeds``) gives each map's median over them and the worst draw."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks.train_seeds import median_worst, seeds_label, train_seed  # noqa: E402

STRUCTURE = [("pixel_subgrains", "sub-grain ARI, per pixel"),
             ("pca_same_subgrains", "PCA(16) of the same input, per pixel"),
             ("seg_subgrains", "sub-grain ARI, segmented"), ("seg_regions", "regions (20 true)"),
             ("pixel_grains", "grain ARI, per pixel"), ("seg_grains", "grain ARI, segmented"),
             ("median_error_deg", "median error (°)"), ("active_dims", "active dims"), ("cpu_s", "CPU-s")]
BOUNDARIES = [("seg_lagb_f1", "low-angle F1 (segment)"), ("seg_lagb_ratio", "marked ×"),
              ("bnd_lagb_f1", "low-angle F1 (boundaries --from latent)"), ("bnd_lagb_ratio", "marked ×"),
              ("bnd_gb_f1", "grain-boundary F1 (from latent)"),
              ("lagb_f1", "low-angle F1 (boundaries from patterns)"), ("lagb_ratio", "marked ×"),
              ("gb_f1", "grain-boundary F1 (patterns)")]
INTEGER = {"cpu_s", "seg_regions", "active_dims"}
#: Whether a column's worst draw is its smallest (scores), its largest (costs, errors) or its farthest from 1 (None:
#: the ratio of boundary pixels marked); counts have no worst (their range is given).
LOW_IS_WORSE = {"median_error_deg": False, "cpu_s": False, "seg_lagb_ratio": None, "bnd_lagb_ratio": None,
                "lagb_ratio": None}


def _latest(path: Path) -> dict:
    """The last row of each (split, physics, map seed, method, training seed): a run again replaces it."""
    rows = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        if "legacy" in r:  # a run before the rows (science.json, science_index.json): history, not this table
            continue
        rows[(r["split"], r["physics"], r["seed"], r["method"], train_seed(r))] = r
    return rows


def science_table(path: Path) -> str:
    groups: dict = defaultdict(list)
    for (split, physics, _, method, _), r in _latest(path).items():
        groups[(split, physics, method)].append(r)
    out = []
    for split, physics in sorted({(k[0], k[1]) for k in groups}, key=lambda k: (k[0] != "tuning", k[1])):
        seeds = sorted({r["seed"] for (s, ph, _), rs in groups.items() if (s, ph) == (split, physics) for r in rs})
        several = any(len({train_seed(r) for r in rs}) > 1 for (s, ph, _), rs in groups.items() if (s, ph) == (split, physics))
        out.append(f"\n**{split} seeds {', '.join(map(str, seeds))} — {physics}** (means over the seeds each row names"
                   + ("; a row trained at several seeds: the mean of each map's median over them, and the worst draw)"
                      if several else ")"))
        for columns in (STRUCTURE, BOUNDARIES):
            out.extend(_table(groups, split, physics, columns))
    return "\n".join(out)


def spread_of(rs: list[dict], key: str) -> str:
    """A cell of one method's rows: the mean over the maps of ``key`` (of each map's median over its training
    seeds), and where some map has several draws the worst of them all (the range, for a count)."""
    by_map: dict = defaultdict(list)
    for r in rs:
        if r.get(key) is not None:
            by_map[r["seed"]].append(r[key])
    if not by_map:
        return "–"
    fmt = ".0f" if key in INTEGER else ".3f"
    mean = format(float(np.mean([median(v) for v in by_map.values()])), fmt)
    draws = [x for v in by_map.values() for x in v]
    if max(len(v) for v in by_map.values()) == 1:
        return mean
    if key in {"seg_regions", "active_dims"}:
        return f"{mean} ({min(draws):g}–{max(draws):g})"
    _, worst = median_worst(draws, LOW_IS_WORSE.get(key, True))
    return f"{mean} (worst {format(worst, fmt)})"


def _table(groups: dict, split: str, physics: str, columns: list) -> list[str]:
    mine = {m: rs for (s, ph, m), rs in groups.items() if (s, ph) == (split, physics)}
    cols = [c for c in columns if any(c[0] in r for rs in mine.values() for r in rs)]
    out = ["", "| method | seeds | " + " | ".join(label for _, label in cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for method, rs in sorted(mine.items()):
        if not any(c[0] in r for c in cols for r in rs):
            continue
        seeds = ", ".join(str(s) for s in sorted({r["seed"] for r in rs}))
        trains = {train_seed(r) for r in rs}
        if len(trains) > 1:
            seeds += f" × training seeds {seeds_label(trains)}"
        out.append(f"| {method} | {seeds} | " + " | ".join(spread_of(rs, key) for key, _ in cols) + " |")
    return out


def median_row(rs: list[dict]) -> dict:
    """One row for a method's draws on one map: each number's median over them (the one row where there is one)."""
    if len(rs) == 1:
        return rs[0]
    keys = {k for r in rs for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    keys -= {"seed", "train_seed"}
    return {**rs[-1], **{k: median([r[k] for r in rs if r.get(k) is not None]) for k in keys
                         if any(r.get(k) is not None for r in rs)}, "train_seeds": sorted(train_seed(r) for r in rs)}


def targets(path: Path) -> str:
    """The issue's targets, map by map, for the held-out seeds (the VAE path is ``vae:default``; trained at several
    seeds, each number is its median over them)."""
    draws: dict = defaultdict(list)
    for (split, physics, seed, method, _), r in _latest(path).items():
        draws[(split, physics, seed, method)].append(r)
    rows = {k: median_row(rs) for k, rs in draws.items()}
    maps = sorted({(k[0], k[1], k[2]) for k in rows if k[3] == "vae:default"}, key=lambda k: (k[0] != "tuning", k[1], k[2]))
    out = ["| map | VAE path, segmented ≥ dictionary (per pixel / segmented) | grains ≥ 0.99 | per pixel ≥ PCA same + 0.05 "
           "| low-angle F1 ≥ 0.7 at ≤ 1.5× (patterns; latents) | grain-boundary F1 ≥ 0.95 (patterns; latents) |",
           "|---|---|---|---|---|---|"]
    for split, physics, seed in maps:
        v, d, p = (rows.get((split, physics, seed, m), {}) for m in ("vae:default", "dictionary", "patterns"))

        def mark(ok: bool) -> str:
            return "met" if ok else "**not met**"
        seg_ok = v["seg_subgrains"] >= max(d.get("pixel_subgrains", 0), d.get("seg_subgrains", 0))
        gains = v["pixel_subgrains"] - v["pca_same_subgrains"]
        lagb = [(p.get("lagb_f1"), p.get("lagb_ratio")), (v.get("bnd_lagb_f1"), v.get("bnd_lagb_ratio"))]
        lagb_ok = all(f is not None and f >= 0.7 and r <= 1.5 for f, r in lagb)
        gb = [p.get("gb_f1"), v.get("bnd_gb_f1")]
        out.append(
            f"| {split} {seed}, {physics.split(',')[0]} | {v['seg_subgrains']:.3f} vs {d.get('pixel_subgrains', float('nan')):.3f} / "
            f"{d.get('seg_subgrains', float('nan')):.3f}: {mark(seg_ok)} | {min(v['seg_grains'], v['pixel_grains']):.3f}: "
            f"{mark(min(v['seg_grains'], v['pixel_grains']) >= 0.99)} | {v['pixel_subgrains']:.3f} vs "
            f"{v['pca_same_subgrains']:.3f} ({gains:+.3f}): {mark(gains >= 0.05)} | "
            + "; ".join(f"{f:.3f} at {r:.2f}×" if f is not None else "–" for f, r in lagb) + f": {mark(lagb_ok)} | "
            + "; ".join(f"{g:.3f}" if g is not None else "–" for g in gb)
            + f": {mark(all(g is not None and g >= 0.95 for g in gb))} |")
    return "\n".join(out)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent / "results" / "science.jsonl"
    print(science_table(here))
    print("\n**Targets**\n")
    print(targets(here))
