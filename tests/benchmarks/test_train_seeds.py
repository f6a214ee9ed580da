"""The science tables over training seeds (issue 61): a trained model is one draw, a row reads several."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import harness
from benchmarks.science_table import science_table, targets
from benchmarks.train_seeds import median_worst, seeded, seeds_label, spread_cell

PHYSICS = "60 counts, spread 0.1°, step 0.5°"


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_median_and_worst_by_the_column_s_sense() -> None:
    assert median_worst([0.9, None, 0.8, 0.95]) == (0.9, 0.8)
    assert median_worst([12.0, 30.0, 20.0], low_is_worse=False) == (20.0, 30.0)
    assert median_worst([1.1, 0.75, 1.2], low_is_worse=None) == (1.1, 0.75)  # 0.75× is farther from 1 than 1.2×
    assert median_worst([None]) is None
    assert spread_cell([0.9]) == "0.900" and spread_cell([]) == "–"
    assert spread_cell([0.893, 0.929, 0.902]) == "0.902 (worst 0.893)"
    assert seeded("latent", 0) == "latent" and seeded("latent", 2) == "latent_s2"
    assert seeds_label([2, 0, 1]) == "0–2" and seeds_label([0, 3]) == "0, 3"


def test_science_table_reads_a_vae_row_over_its_training_seeds(tmp_path: Path) -> None:
    base = {"split": "tuning", "physics": PHYSICS}
    vae = [(2024, 0, 0.893, 0.960), (2024, 1, 0.929, 0.937), (2024, 2, 0.902, 0.950),
           (7, 0, 0.990, 0.999), (7, 1, 0.980, 0.998), (7, 2, 0.995, 0.997)]
    rows = [{**base, "seed": s, "method": "vae:default", "train_seed": t, "pixel_subgrains": p, "seg_subgrains": g,
             "pca_same_subgrains": 0.8, "seg_grains": 1.0, "pixel_grains": 1.0, "seg_regions": 19 + t}
            for s, t, p, g in vae]
    rows += [{**base, "seed": s, "method": "pca", "pixel_subgrains": 0.9, "seg_subgrains": 0.95} for s in (2024, 7)]
    rows.append({**base, "seed": 7, "method": "vae:default", "train_seed": 1, "pixel_subgrains": 0.970,
                 "seg_subgrains": 0.998, "pca_same_subgrains": 0.8, "seg_grains": 1.0, "pixel_grains": 1.0,
                 "seg_regions": 20})  # seed 1 on map 7 again: its last row counts
    text = science_table(write_rows(tmp_path / "science.jsonl", rows))
    line = next(x for x in text.splitlines() if x.startswith("| vae:default"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "7, 2024 × training seeds 0–2"
    # per pixel: medians 0.902 (2024) and 0.990 (7), their mean 0.946; the worst draw 0.893
    assert cells[2] == "0.946 (worst 0.893)"
    assert cells[4] == f"{(0.950 + 0.998) / 2:.3f} (worst 0.937)"
    assert cells[5] == "20 (19–21)"  # a count: its range
    assert "the mean of each map's median over them, and the worst draw" in text
    pca = next(x for x in text.splitlines() if x.startswith("| pca"))
    assert [c.strip() for c in pca.strip("|").split("|")][1:3] == ["7, 2024", "0.900"]  # one draw: as before
    row = next(x for x in targets(tmp_path / "science.jsonl").splitlines() if x.startswith("| tuning 2024"))
    assert "0.902 vs 0.800 (+0.102)" in row  # the VAE's median over its seeds


def test_one_draw_a_map_reads_as_the_table_before_the_seeds(tmp_path: Path) -> None:
    """Rows without a training seed (all of science.jsonl's before it) are seed 0's: the table is the one it was."""
    rows = [{"split": "held-out", "physics": PHYSICS, "seed": s, "method": "vae:default", "pixel_subgrains": v,
             "cpu_s": 100.0 + s} for s, v in ((3, 0.9), (5, 0.8))]
    text = science_table(write_rows(tmp_path / "science.jsonl", rows))
    assert "| vae:default | 3, 5 | 0.850 | 104 |" in text and "worst" not in text


@pytest.fixture
def window():
    return harness.load("window")


def test_window_table_gives_an_arm_s_median_and_worst_over_its_seeds(window, tmp_path: Path) -> None:
    base = {"map": "science_subgrains_2024", "family": "science", "split": "tuning", "arm": "auto",
            "window": [0, 46, 0, 46], "window_pixels": 2116, "map_pixels": 3072, "grain_size": 22.8,
            "active_units": 16}
    draws = [(None, 0.893, 0.960, 1.17, 114.0), (1, 0.930, 0.866, 1.15, 120.0), (2, 0.900, 0.937, 1.20, 110.0)]
    rows = [{**base, **({} if t is None else {"train_seed": t}), "pixel_subgrains": p, "seg_subgrains": g,
             "recon_ratio": r, "epochs_cpu_s": c} for t, p, g, r, c in draws]
    text = window.table(write_rows(tmp_path / "window.jsonl", rows))
    line = next(x for x in text.splitlines() if x.startswith("| science_subgrains_2024"))
    assert line == ("| science_subgrains_2024 | tuning | auto | 0, 1, 2 | 2116 of 3072 | 22.8 | 0.900 (worst 0.893) | "
                    "0.937 (worst 0.866) | 16 | 1.170 (worst 1.200) | 114 (worst 120) |")
    summary = next(x for x in text.splitlines() if x.startswith("| science | tuning | auto"))
    assert summary == "| science | tuning | auto | 1 | 0.900 | 0.937 | 0.866 | 1.170 | 114 |"


def test_families_tables_give_the_worst_map_s_median_and_the_worst_draw(tmp_path: Path) -> None:
    from benchmarks.families_table import degrees_summary, families_table

    base = {"family": "science", "kind": "subgrains", "split": "held-out", "physics": "default",
            "machine": {"date": "2026-11-29T10:00:00"}}
    readme = "vaearr (README path)"
    draws = {3: (0.95, 0.90, 0.97), 5: (0.85, 0.88, 0.80)}  # map 5 the worst: median 0.85, its worst draw 0.80
    rows = [{**base, "seed": s, "method": readme, "mask": "none", "seg_lagb_f1": f, "seg_lagb_x": 1.0,
             "seg_grains": 1.0, **({"train_seed": t} if t else {})} for s, fs in draws.items() for t, f in enumerate(fs)]
    # an anchor on both masks of a map: two rows, not two draws (the worst of them, as before)
    rows += [{**base, "seed": s, "method": "boundaries --from patterns", "mask": m, "lagb_f1": f, "lagb_x": 0.8}
             for s in (3, 5) for m, f in (("none", 0.70), ("roi", 0.75))]
    path = write_rows(tmp_path / "families.jsonl", rows)
    line = next(x for x in families_table(path).splitlines() if x.startswith(f"| {readme}"))
    assert "| 0.850 (worst draw 0.800) |" in line and "| 1.000 |" in line  # the grains: the same every draw
    assert "the models trained at seeds 0–2" in families_table(path)
    assert "worst draw: the worst of them all" in degrees_summary(path)
    summary = next(x for x in degrees_summary(path).splitlines() if x.startswith("| science, held-out"))
    assert summary.startswith("| science, held-out (3, 5) | 1.000 | 0.850 (worst draw 0.800) | 1.00–1.00 |")
    assert "| 0.700 | 0.80–0.80 |" in summary


def test_a_families_store_says_which_seeds_it_was_trained_at() -> None:
    import numpy as np
    import xarray as xr

    families = harness.load("families")
    var = xr.DataArray(np.zeros((2, 2, 1), np.float32), dims=("y", "x", "latent"))
    ds = xr.Dataset({"latent": var, "latent_s2": var, "latent_s1": var, "latent_scale": var, "latent_all_s1": var})
    assert families.trained_seeds(ds) == [0, 1, 2]
    assert families.trained_seeds(ds.drop_vars("latent")) == [1, 2]
