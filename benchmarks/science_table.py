"""Tables of ``benchmarks/results/science.jsonl`` (``bench_science.py``): means per method, tuning and held-out apart."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

COLUMNS = [("pixel_subgrains", "sub-grain ARI, per pixel"), ("pca_same_subgrains", "PCA(16) of the same input, per pixel"),
           ("seg_subgrains", "sub-grain ARI, segmented"), ("seg_grains", "grain ARI, segmented"),
           ("pixel_grains", "grain ARI, per pixel"), ("seg_lagb_f1", "low-angle F1 (segment)"),
           ("bnd_lagb_f1", "low-angle F1 (boundaries --from latent)"), ("lagb_f1", "low-angle F1 (boundaries, patterns)"),
           ("median_error_deg", "median error (°)"), ("cpu_s", "CPU-s")]


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
        out.append(f"\n**{split} seeds {', '.join(map(str, seeds))} — {physics}** (means over the seeds)\n")
        cols = [c for c in COLUMNS if any(c[0] in r for (s, ph, _), rs in groups.items()
                                          if (s, ph) == (split, physics) for r in rs)]
        out.append("| method | " + " | ".join(label for _, label in cols) + " |")
        out.append("|---|" + "---|" * len(cols))
        for (s, ph, method), rs in sorted(groups.items()):
            if (s, ph) != (split, physics):
                continue
            cells = []
            for key, _ in cols:
                v = [r[key] for r in rs if r.get(key) is not None]
                cells.append("–" if not v else f"{np.mean(v):.3f}" if key != "cpu_s" else f"{np.mean(v):.0f}")
            out.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print(science_table(Path(__file__).resolve().parent / "results" / "science.jsonl"))
