"""Markdown tables of benchmarks/results/science.json (bench_science_issue13.py), one per map, and of boundaries_seeds.json (bench_boundaries.py).

Run: python benchmarks/science_table_issue13.py [benchmarks/results/science.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = [
    ("active units", "active_units"), ("ARI grains (true k)", "ari_grains"), ("ARI grains (BIC k)", "ari_bic_grains"),
    ("BIC k", "bic_k_grains"), ("ARI sub-grains (true k)", "ari_subgrains"), ("ARI sub-grains (BIC k)", "ari_bic_subgrains"),
    ("BIC k (sub)", "bic_k_subgrains"), ("GB F1", "gb_f1"), ("GB marked/true", "gb_ratio"), ("LAGB F1", "lagb_f1"),
    ("LAGB marked/true", "lagb_ratio"), ("LAGB marked (none true)", "lagb_marked"), ("fit s", "fit_s"),
]


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)


def tables(report: dict) -> str:
    out = []
    for kind, rows in report["maps"].items():
        cols = [(h, k) for h, k in COLUMNS if any(k in r for r in rows.values())]
        out.append(f"**{kind}**\n")
        out.append("| method | " + " | ".join(h for h, _ in cols) + " |")
        out.append("|---|" + "---|" * len(cols))
        for name, r in rows.items():
            label = "boundaries from the patterns" if name == "patterns" else name
            out.append(f"| {label} | " + " | ".join(fmt(r.get(k)) for _, k in cols) + " |")
        out.append("")
    return "\n".join(out)


def seeds_table(report: dict) -> str:
    """One row per seed: grain-boundary F1, low-angle F1 and marked/true on the sub-grain map, false marks without sub-grains."""
    by_seed: dict = {}
    for r in report["rows"]:
        by_seed.setdefault(r["seed"], {})[r["map"]] = r
    out = ["| seed | GB F1 (sub-grain / clean / noisy) | LAGB F1 | LAGB marked/true | LAGB precision / recall "
           "| LAGB px marked, clean / noisy (none true) | s per map |", "|---|---|---|---|---|---|---|"]
    for seed, m in by_seed.items():
        s, c, n = m["subgrains"], m["clean"], m["noisy"]
        tag = " (tuned on)" if seed in report.get("tuned_on", []) else " (held out)"
        out.append(f"| {seed}{tag} | {s['gb_f1']:.3f} / {c['gb_f1']:.3f} / {n['gb_f1']:.3f} | {s['lagb_f1']:.3f} | "
                   f"{s['lagb_ratio']:.2f} | {s['lagb_precision']:.2f} / {s['lagb_recall']:.2f} | "
                   f"{c['lagb_marked']} / {n['lagb_marked']} | {s['boundaries_s']:.1f} |")
    return "\n".join(out)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "science.json")
    print(tables(json.loads(path.read_text())))
    seeds = path.parent / "boundaries_seeds.json"
    if seeds.exists():
        print(seeds_table(json.loads(seeds.read_text())))
