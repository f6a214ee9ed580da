"""Tables of ``benchmarks/results/science.jsonl`` (``bench_science.py``): means per method, tuning and held-out apart."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

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


def science_table(path: Path) -> str:
    rows = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        rows[(r["split"], r["physics"], r["seed"], r["method"])] = r  # the last run of each wins
    groups: dict = defaultdict(list)
    for (split, physics, _, method), r in rows.items():
        groups[(split, physics, method)].append(r)
    out = []
    for split, physics in sorted({(k[0], k[1]) for k in groups}, key=lambda k: (k[0] != "tuning", k[1])):
        seeds = sorted({r["seed"] for (s, ph, _), rs in groups.items() if (s, ph) == (split, physics) for r in rs})
        out.append(f"\n**{split} seeds {', '.join(map(str, seeds))} — {physics}** (means over the seeds)")
        for columns in (STRUCTURE, BOUNDARIES):
            out.extend(_table(groups, split, physics, columns))
    return "\n".join(out)


def _table(groups: dict, split: str, physics: str, columns: list) -> list[str]:
    mine = {m: rs for (s, ph, m), rs in groups.items() if (s, ph) == (split, physics)}
    cols = [c for c in columns if any(c[0] in r for rs in mine.values() for r in rs)]
    out = ["", "| method | " + " | ".join(label for _, label in cols) + " |", "|---|" + "---:|" * len(cols)]
    for method, rs in sorted(mine.items()):
        if not any(c[0] in r for c in cols for r in rs):
            continue
        cells = []
        for key, _ in cols:
            v = [r[key] for r in rs if r.get(key) is not None]
            cells.append("–" if not v else f"{np.mean(v):.0f}" if key in INTEGER else f"{np.mean(v):.3f}")
        out.append(f"| {method} | " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    print(science_table(Path(__file__).resolve().parent / "results" / "science.jsonl"))
