"""The README's main job, ``vaearr demo``, end to end on small settings: ingest → train → encode → analyse → maps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.helpers import run_cli


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    pytest.importorskip("holoviews", reason="needs the 'viz' extra")
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", out, "--epochs", "1", "--latent-dim", "4", check=True,
                   env={"COLUMNS": "400"})  # rich wraps at 80 columns when not on a terminal
    printed = proc.stdout + proc.stderr  # the steps are printed to stderr (rich), the store and report paths too

    from vaearr.store import open_store

    ds = open_store(out / "ni_demo.zarr")
    for var in ("patterns", "bandcontrast", "elements", "phase", "roi", "latent", "pca", "nmf", "association", "cluster_demo",
                "cnmf_weights", "cnmf_components", "boundary_strength", "grain_boundaries", "low_angle_boundaries",
                "latent_boundary_strength", "latent_grain_boundaries", "segments", "segments_grains",
                "segments_boundaries", "patterns_sim3"):
        assert var in ds, var
    assert ds.latent.sizes["latent_dim"] == 4
    # the latent's attrs say how many dims are active; the boundaries found the grain boundaries
    assert 0 <= ds.latent.attrs["active_units"] <= 4
    # boundaries over every pixel (they are where band contrast is low: the ROI would leave them out); the
    # demo map has no sub-grains, and the patterns show none
    assert ds.grain_boundaries.values[ds.roi.values].any() and ds.grain_boundaries.attrs.get("mask", "none") == "none"
    assert int(ds.low_angle_boundaries.values.sum()) == 0
    assert ds.segments.attrs["n_regions"] >= 1 and (ds.segments.values[~ds.roi.values] == -1).all()
    assert ds.latent.isnull().any("latent_dim").values[~ds.roi.values].all()  # NaN outside the ROI
    assert set(ds.association.metric.values) >= {"pearson", "kendall", "distance_correlation", "hsic"}
    scores = json.loads((out / "grain_recovery.json").read_text())
    assert 0.0 <= scores["pca_ari"] <= 1.0 and -1.0 <= scores["latent_ari"] <= 1.0
    assert -1.0 <= scores["segment_grain_ari"] <= 1.0
    doc = json.loads((out / "rank" / "association.json").read_text())
    assert "bandcontrast" in doc["references"] and doc["latent_dims"] == [0, 1, 2, 3]
    report = json.loads(next((out / "cluster").glob("cluster_report__demo.json")).read_text())
    assert report["method"] == "gmm" and sum(v for k, v in report["counts"].items() if k.startswith("cluster_")) > 0
    index = (out / "index.html").read_text()
    linked = [p for p in (out / "figures").rglob("*.html")] + list((out / "rank").rglob("*.html"))
    assert linked and all(p.with_suffix(".png").is_file() for p in linked)
    assert "rank/figures/top_latent__bandcontrast.html" in index and "cluster/" in index
    # what the demo prints is what its map is (the README quotes it): the simulated map has no sub-grains (one
    # orientation a grain, vaearr.data.build_demo_map) and no deformation, so 0 low-angle pixels and every grain at
    # its noise floor, decided in degrees read from the patterns with the projection centre the map was simulated at
    with h5py.File(out / "data" / "patterns.h5") as f:
        assert f["rotations"].shape[0] == int(np.unique(f["grain_id"][:]).size)  # one orientation per grain
    assert ", 0 low-angle boundary pixels (misorientations read from the patterns" in printed, printed
    assert all(" and 0 low-angle pixels" in line for line in printed.splitlines() if "boundaries from" in line)
    assert int((ds.segments_boundaries.values == 1).sum()) == 0
    floor = re.search(r"(\d+) of (\d+) grains at their noise floor", printed)
    assert floor and floor.group(1) == floor.group(2) == str(int(ds.segments_grains.max()) + 1), printed
    assert ds.recrystallised.values[ds.roi.values].all() and ds.pattern_kam.attrs["units"] == "degrees"
    assert ds.patterns.attrs["pc"] == pytest.approx([0.425, 0.213, 0.501])  # the file's, kept at ingest
    assert "projection centre 0.425/0.213/0.501 (Bruker)" in printed
    page = (out / "report.html").read_text()  # the main output: one page with every section
    assert 'href="report.html"' in index and all(f'id="{s}"' in page for s in ("store", "run", "maps", "analyses"))
