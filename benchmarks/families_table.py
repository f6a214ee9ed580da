"""Tables of ``benchmarks/results/families.jsonl`` (``bench_families.py``): per family and split, the worst map of each row."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path


#: (column, label, worst is the minimum?) of the sub-grain rows.
SUBGRAIN_COLUMNS = [
    ("pixel_subgrains", "per pixel, sub-grain ARI", True),
    ("seg_subgrains", "segment: sub-grain ARI", True),
    ("seg_grains", "segment: grain ARI", True),
    ("seg_lagb_f1", "low-angle F1", True),
    ("seg_lagb_x", "marked ×", False),
    ("all_subgrains", "every pixel: sub-grain ARI", True),
    ("all_grains", "every pixel: grain ARI", True),
    ("all_lagb_f1", "every pixel: low-angle F1", True),
    ("all_lagb_x", "marked ×", False),
    ("roi_vs_all_ari", "ROI vs every pixel, regions ARI", True),
    ("lagb_f1", "low-angle F1", True),
    ("lagb_x", "marked ×", False),
    ("gb_f1", "grain-boundary F1", True),
]
DEFORMED_COLUMNS = [
    ("seg_grains", "segment: grain ARI", True),
    ("seg_n_grains", "grains found", None),
    ("kam_spearman", "KAM Spearman", True),
    ("auc_deformed", "deformed vs recrystallised AUC", True),
    ("gos_spearman", "GOS Spearman", True),
    ("rex_error", "recrystallised fraction error (points)", False),
]


def _rows(path: Path) -> list[dict]:
    latest = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        key = (r["family"], r["kind"], r["seed"], r["physics"], r["method"], r.get("mask"))
        if "rex_fraction" in r:
            r["rex_error"] = round(100 * abs(r["rex_fraction"] - r["rex_fraction_true"]), 1)
        latest[key] = r  # the last run of each wins
    return list(latest.values())


def _worst(values: list, low_is_worse: bool | None) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "–"
    if low_is_worse is None:
        return f"{min(v):g}–{max(v):g}"
    w = min(v) if low_is_worse else max(v)
    return f"{w:.3f}" if isinstance(w, float) else str(w)


def families_table(path: Path) -> str:
    """One table per (kind, family, split, physics group): each method's worst value over the maps, and the maps."""
    rows = _rows(path)
    groups: dict = defaultdict(list)
    for r in rows:
        physics = "default physics" if r["physics"] == "default" else "physics varied (held-out seed)"
        groups[(r["kind"], r["family"], r["split"], physics)].append(r)
    out = []
    for (kind, family, split, physics), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "subgrains", kv[0])):
        columns = SUBGRAIN_COLUMNS if kind == "subgrains" else DEFORMED_COLUMNS
        cols = [c for c in columns if any(c[0] in r for r in rs)]
        maps = sorted({(r["seed"], r["physics"]) for r in rs})
        out.append(f"\n**{kind}, {family} family, {split}, {physics}** — worst of {len(maps)} map(s): "
                   + "; ".join(f"seed {s}" + ("" if p == "default" else f" ({p})") for s, p in maps))
        out.append("\n| method | " + " | ".join(label for _, label, _ in cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        by_method: dict = defaultdict(list)
        for r in rs:
            by_method[(r["method"], r.get("mask"))].append(r)
        for (method, mask), mr in sorted(by_method.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            if not any(c[0] in r for c in cols for r in mr):
                continue
            label = method + (f" (mask {mask})" if mask not in (None, "none") else "")
            out.append(f"| {label} | " + " | ".join(_worst([r.get(k) for r in mr], w) for k, _, w in cols) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print(families_table(Path(__file__).resolve().parent / "results" / "families.jsonl"))
