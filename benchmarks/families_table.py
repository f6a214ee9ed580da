"""Tables of ``benchmarks/results/families.jsonl`` (``bench_families.py``): per family and split, the worst map of each row."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks.train_seeds import median_worst, seeds_label, train_seed  # noqa: E402


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
    ("roi_vs_roi_less_ari", "ROI vs ROI less 1 % at random", True),
    ("lagb_f1", "boundaries: low-angle F1", True),
    ("lagb_x", "marked ×", False),
    ("gb_f1", "boundaries: grain-boundary F1", True),
]
DEFORMED_COLUMNS = [
    ("seg_grains", "segment: grain ARI", True),
    ("seg_n_grains", "grains found", None),
    ("kam_spearman", "KAM Spearman", True),
    ("bend_spearman", "bending's KAM, Spearman", True),
    ("auc_deformed", "deformed vs recrystallised AUC", True),
    ("gos_spearman", "GOS Spearman", True),
    ("gos_pairs_wrong", "GOS: grain pairs > 0.25° apart ordered wrong", False),
    ("rex_error", "recrystallised fraction error (points)", False),
]


def _rows(path: Path) -> list[dict]:
    latest = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        key = (r["family"], r["kind"], r["seed"], r["physics"], r["method"], r.get("mask"), train_seed(r))
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


def worst_map(rows: list[dict], key: str, low_is_worse: bool | None) -> str:
    """A cell of one method's rows over maps: the worst map, and where a map was trained at several seeds (each a
    draw, :mod:`benchmarks.train_seeds`), the worst map's median over them and the worst draw of all."""
    by_map: dict = defaultdict(list)
    for r in rows:
        if r.get(key) is not None:
            by_map[(r["seed"], r["physics"], r.get("mask"))].append(r[key])  # a map's draws differ in seed alone
    if low_is_worse is None or max((len(v) for v in by_map.values()), default=0) <= 1:
        return _worst([x for v in by_map.values() for x in v], low_is_worse)
    medians = _worst([median(v) for v in by_map.values()], low_is_worse)
    _, draw = median_worst([x for v in by_map.values() for x in v], low_is_worse)
    return medians if _worst([draw], low_is_worse) == medians else f"{medians} (worst draw {_worst([draw], low_is_worse)})"


def families_table(path: Path) -> str:
    """One table per (kind, family, split, physics group): each method's worst value over the maps, and the maps."""
    rows = [r for r in _rows(path) if not r["method"].startswith(tuple(SWEEPS))]  # the sweeps: sweep_table
    groups: dict = defaultdict(list)
    for r in rows:
        physics = "default physics" if r["physics"] == "default" else "physics varied (held-out seed)"
        groups[(r["kind"], r["family"], r["split"], physics)].append(r)
    out = []
    for (kind, family, split, physics), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "subgrains", kv[0])):
        columns = SUBGRAIN_COLUMNS if kind == "subgrains" else DEFORMED_COLUMNS
        cols = [c for c in columns if any(c[0] in r for r in rs)]
        maps = sorted({(r["seed"], r["physics"]) for r in rs})
        trains = {train_seed(r) for r in rs}
        out.append(f"\n**{kind}, {family} family, {split}, {physics}** — worst of {len(maps)} map(s): "
                   + "; ".join(f"seed {s}" + ("" if p == "default" else f" ({p})") for s, p in maps)
                   + ("" if len(trains) == 1 else f"; the models trained at seeds {seeds_label(trains)}: the worst "
                      "map's median over them (worst draw: the worst of them all)"))
        out.append("\n| method | " + " | ".join(label for _, label, _ in cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        by_method: dict = defaultdict(list)
        for r in rs:
            by_method[(r["method"], r.get("mask"))].append(r)
        for (method, mask), mr in sorted(by_method.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            if not any(c[0] in r for c in cols for r in mr):
                continue
            label = method + (f" (mask {mask})" if mask not in (None, "none") else "")
            out.append(f"| {label} | " + " | ".join(worst_map(mr, k, w) for k, _, w in cols) + " |")
    return "\n".join(out)


#: The settings swept on every map: the method label's prefix, the score that picks a value, whether the worst
#: value of it is the minimum, and a constraint on the rows a value may be picked by.
SWEEPS = {
    "segment, grain threshold": ("seg_grains", True, None),  # rows before issue 60 (pattern-space threshold)
    "segment, low angle": ("seg_lagb_f1", True, ("seg_lagb_x", 1.5)),
    "segment, boundary cost": ("seg_lagb_f1", True, ("seg_lagb_x", 1.5)),  # sub-grain maps: the deformed have none
    "vaearr spread (latent), radius": ("kam_spearman", True, None),
}


def _value(method: str, prefix: str) -> float:
    return float(method[len(prefix):].strip())


def sweep_table(path: Path) -> str:
    """For each swept setting: every value's worst score per family and split, and the value each family's tuning
    maps pick (best worst case; a plateau's middle) read on the other family's maps."""
    rows = _rows(path)
    out = []
    for prefix, (key, low_is_worse, limit) in SWEEPS.items():
        mine = [r for r in rows if r["method"].startswith(prefix) and key in r
                and not (key.startswith("seg_lagb") and r["kind"] != "subgrains")]
        if not mine:
            continue
        values = sorted({_value(r["method"], prefix) for r in mine})
        cells = sorted({(r["family"], r["split"]) for r in mine})
        out.append(f"\n**{prefix}** — worst {key} over the maps of each family and split"
                   + (f" (values marking over {limit[1]}× set aside)" if limit else ""))
        out.append("\n| value | " + " | ".join(f"{f} {s}" for f, s in cells) + " |")
        out.append("|---:|" + "---:|" * len(cells))
        worst: dict = {}
        for v in values:
            line = []
            for f, s in cells:
                rs = [r for r in mine if (r["family"], r["split"]) == (f, s) and _value(r["method"], prefix) == v]
                ok = all(limit is None or (r.get(limit[0]) or 0) <= limit[1] for r in rs)
                w = (min if low_is_worse else max)(r[key] for r in rs) if rs else None
                worst[(v, f, s)] = w if ok else None
                line.append("–" if w is None else f"{w:.3f}" + ("" if ok else " (×)"))
            out.append(f"| {v:g} | " + " | ".join(line) + " |")
        for family in sorted({f for f, _ in cells}):
            scores = [(worst.get((v, family, "tuning")), v) for v in values]
            scores = [(w, v) for w, v in scores if w is not None]
            if not scores:
                continue
            best = max(w for w, _ in scores) if low_is_worse else min(w for w, _ in scores)
            plateau = [v for w, v in scores if abs(w - best) <= 0.005]
            pick = plateau[len(plateau) // 2]
            other = [(f, s) for f, s in cells if f != family]
            read = "; ".join(f"{f} {s} {worst.get((pick, f, s)):.3f}" for f, s in other
                             if worst.get((pick, f, s)) is not None)
            out.append(f"\nchosen on the {family} tuning maps: {pick:g} (plateau {', '.join(f'{v:g}' for v in plateau)});"
                       f" on the other family: {read or '–'}")
    return "\n".join(out)


if __name__ == "__main__":
    results = Path(__file__).resolve().parent / "results" / "families.jsonl"
    print(families_table(results))
    print(sweep_table(results))


#: The rows of issue 60's runs (the rules in degrees): the first of them, 2026-11-28.
DEGREES_SINCE = "2026-11-28T12:07"


def _pick(rs: list[dict], method: str, key: str, mask_any: bool = True) -> list:
    return [r.get(key) for r in rs if r["method"] == method and r.get(key) is not None]


def degrees_summary(path: Path, since: str = DEGREES_SINCE) -> str:
    """Issue 60's figures, worst map of each family and split (rows of runs since ``since``): grains and low-angle
    boundaries of the README path's segmentation in a ROI and on every pixel, and KAM/GOS in degrees from the
    patterns, each beside dictionary indexing's on the same maps."""
    latest: dict = {}  # a map scored again: its latest row of each method and mask
    for r in _rows(path):
        if r.get("machine", {}).get("date", "") >= since and r["physics"] == "default":
            latest[(r["family"], r["kind"], r["seed"], r["split"], r["method"], r.get("mask"), train_seed(r))] = r
    rows = list(latest.values())
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["family"], r["split"], r["kind"])].append(r)

    def worst(rs: list[dict], method: str, key: str, low: bool = True) -> str:  # a map trained at several seeds:
        return worst_map([r for r in rs if r["method"] == method], key, low)  # its median, and the worst draw

    out = ["\n**Sub-grain maps** — worst map: grain ARI, low-angle F1 (marked ×: the largest and smallest), the README "
           "path's latents in a ROI (or every pixel where the map has no ROI) / on every pixel; dictionary indexing + "
           "refinement segmented with the same command"
           + ("; a map whose models were trained at several seeds: the worst map's median over them (worst draw: the "
              "worst of them all)" if len({train_seed(r) for r in rows}) > 1 else "") + "\n",
           "| family, split (maps) | grains | low-angle F1 | marked × | every pixel: grains | low-angle F1 | marked × "
           "| indexing: grains | low-angle F1 | boundaries --from patterns: low-angle F1 | marked × |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    readme, dic, bnd = "vaearr (README path)", "dictionary + refine", "boundaries --from patterns"
    for (family, split, kind), rs in sorted(groups.items()):
        if kind != "subgrains":
            continue
        seeds = sorted({r["seed"] for r in rs})
        xs = _pick(rs, readme, "seg_lagb_x")
        xa = _pick(rs, readme, "all_lagb_x")
        xb = [r["lagb_x"] for r in rs if r["method"] == bnd and r.get("mask", "none") == "none" and "lagb_x" in r]
        out.append(f"| {family}, {split} ({', '.join(map(str, seeds))}) | {worst(rs, readme, 'seg_grains')} | "
                   f"{worst(rs, readme, 'seg_lagb_f1')} | {min(xs):.2f}–{max(xs):.2f} | "
                   f"{worst(rs, readme, 'all_grains')} | {worst(rs, readme, 'all_lagb_f1')} | "
                   + (f"{min(xa):.2f}–{max(xa):.2f}" if xa else "–")
                   + f" | {worst(rs, dic, 'seg_grains')} | {worst(rs, dic, 'seg_lagb_f1')} | "
                   + f"{worst(rs, bnd, 'lagb_f1')} | " + (f"{min(xb):.2f}–{max(xb):.2f} |" if xb else "– |"))
    out += ["\n**Deformed maps** — each map: grain ARI of the README path's segmentation (in the ROI / on every "
            "pixel); KAM and GOS Spearman against the truth in degrees from the patterns, dictionary indexing + "
            "refinement, the latents' spreads; recrystallised fraction error (points) of the degrees\n",
            "| map | grains | KAM: patterns | indexing | latents | GOS: patterns | indexing | latents "
            "| recrystallised error |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    pat, ind, lat = "vaearr spread (patterns, degrees)", "dictionary + refine: KAM, GOS", "vaearr spread (latent)"
    maps: dict = defaultdict(list)  # deformed maps one by one: the anchor is of the same map
    for r in rows:
        if r["kind"] == "deformed":
            maps[(r["family"], r["split"], r["seed"])].append(r)
    for (family, split, seed), rs in sorted(maps.items()):
        every = worst(rs, "vaearr segment (latent, every pixel)", "seg_grains")
        out.append(f"| {family}, {split} {seed} | "
                   f"{worst(rs, 'vaearr segment (latent)', 'seg_grains')}"
                   + ("" if every == "–" else f" / {every}") + " | "
                   + " | ".join(worst(rs, m, "kam_spearman") for m in (pat, ind, lat)) + " | "
                   + " | ".join(worst(rs, m, "gos_spearman") for m in (pat, ind, lat)) + " | "
                   + worst(rs, pat, "rex_error", low=False) + " |")
    return "\n".join(out)
