"""Ranking: ranks and top-N, CSV/JSON exports, partition agreement, full-field maps, the rank/cluster commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli
from vaearr.analysis.ranking import (
    aggregated_rank,
    export_association,
    full_field,
    partition_agreement,
    rank_latents,
    rank_table,
    top_n,
)
from vaearr.store import open_store
from vaearr.viz.ranking import rank_figures


def _assoc() -> xr.DataArray:
    v = np.array([[[0.1, 0.2], [0.5, 0.0]], [[-0.9, 0.8], [0.2, 0.1]], [[0.5, 0.3], [0.3, 0.9]]])
    return xr.DataArray(v, dims=("latent_dim", "reference", "metric"),
                        coords={"latent_dim": [0, 1, 2], "reference": ["Ni", "bc"], "metric": ["pearson", "hsic"]},
                        attrs={"n_pixels": 10})


def test_ranks_top_n_and_exports(tmp_path: Path) -> None:
    a = _assoc()
    r = rank_table(a)
    assert r.sel(reference="Ni", metric="pearson").values.tolist() == [3, 1, 2]  # |−0.9| is strongest
    assert aggregated_rank(a).sel(reference="Ni").values.tolist() == [3.0, 1.0, 2.0]
    t = top_n(a, 2)
    assert [d["latent_dim"] for d in t["per_metric"]["bc"]["hsic"]] == [2, 1]
    assert t["aggregated"]["Ni"][0] == {"latent_dim": 1, "mean_rank": 1.0}
    csv_path, json_path = export_association(a, tmp_path, top=2)
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["latent_dim", "reference", "metric", "value", "rank"] and len(rows) == 12
    doc = json.loads(json_path.read_text())
    assert {"metrics", "references", "latent_dims", "n_pixels", "values", "top", "top_n"} <= set(doc)
    assert doc["values"]["Ni"]["pearson"] == [0.1, -0.9, 0.5] and doc["top"]["aggregated"]["Ni"][0]["latent_dim"] == 1


def test_partition_agreement_scores_planted_partition() -> None:
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 200)
    z = rng.normal(size=(600, 3))
    z[:, 2] += 6 * truth  # dim 2 carries the partition
    agree, info = partition_agreement(z, {"truth": truth}, k_range=(2, 4))
    assert agree.dims == ("latent_set", "partition", "score") and list(agree.latent_set.values) == ["0", "1", "2", "all"]
    ari = agree.sel(partition="truth", score="ari").values
    assert ari.argmax() in (2, 3) and ari[2] > 0.9 and ari[:2].max() < 0.2
    assert info["k"]["2"] == 3
    assert ari[3] == pytest.approx(adjusted_rand_score(truth, info["labels_all"]))


def test_full_field_puts_values_back() -> None:
    m = xr.DataArray(np.array([[True, False, True]]), dims=("y", "x"), coords={"y": [0.0], "x": [0.0, 1.0, 2.0]})
    f = full_field(np.array([[1.0, 2.0], [3.0, 4.0]]), m, extra_dim="latent_dim", extra_coords=[0, 1])
    assert f.dims == ("y", "x", "latent_dim") and np.isnan(f.values[0, 1]).all()
    assert f.values[0, 2].tolist() == [3.0, 4.0]


def test_rank_latents_end_to_end(planted: Path, tmp_path: Path) -> None:
    from vaearr.maps.decomposition.references import write_references

    write_references(planted, methods=("pca",), n_components=2, k_range=(2, 3), max_fit=600)
    r = rank_latents(planted, against=["elements", "pca"], out=tmp_path, top=2, k_range=(2, 3))
    assert r.figures == [] and r.references.sizes["reference"] == r.association.sizes["reference"]
    rank_figures(planted, r, tmp_path, top=2, nan_color="magenta")
    ds = open_store(planted)
    a = ds.association
    assert a.dims == ("latent_dim", "reference", "metric") and "Cr" in a.reference.values
    assert (np.abs(a.sel(reference="Cr").values).argmax(0) == 2).all()
    assert ds.partition_agreement.dims == ("latent_set", "partition", "score")
    assert {"association_csv", "association_json", "partition_json"} <= set(r.files)
    tops = [p for p in r.figures if p.name.startswith("top_")]  # the others: per-dim scatters and map pages
    assert len(tops) == a.sizes["reference"] and all(p.is_file() and p.with_suffix(".png").is_file() for p in r.figures)
    assert "magenta" in tops[0].read_text().lower() or "#ff00ff" in tops[0].read_text().lower()
    doc = json.loads(r.files["association_json"].read_text())
    assert doc["top"]["aggregated"]["Cr"][0]["latent_dim"] == 2
    assert "best latent dim 2" in r.summary()


def test_commands_registered_on_an_app(planted: Path, tmp_path: Path) -> None:
    res = cli("rank", planted, "--against", "bandcontrast", "elements", "--out", tmp_path / "rank", "--top", "2",
              "--no-figures", "--metric", "pearson", "--metric", "kendall")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "rank" / "association.csv").is_file()
    assert list(open_store(planted).association.metric.values) == ["pearson", "kendall"]
    res = cli("cluster", planted, "--dim", "2", "--method", "kmeans", "--k", "2", "--out", tmp_path / "cl",
              "--tag", "cli")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "cl" / "cluster_report__cli.json").is_file() and "cluster_cli" in open_store(planted)


def test_rank_and_cluster_commands_in_a_subprocess(planted: Path, tmp_path: Path) -> None:
    """The real ``vaearr rank`` / ``vaearr cluster`` commands, and a bad vector that leaves the store as it was."""
    import numpy as np

    from tests.helpers import run_cli, tree_hash

    proc = run_cli("rank", planted, "--against", "bandcontrast", "elements", "--out", tmp_path / "rank",
                   "--top", "2", "--metric", "pearson", "--metric", "spearman", check=True)
    assert "best latent dim" in proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "rank" / "association.json").read_text())
    assert doc["metrics"] == ["pearson", "spearman"] and doc["top"]["aggregated"]["Cr"][0]["latent_dim"] == 2
    assert any(p.suffix == ".png" for p in (tmp_path / "rank" / "figures").iterdir())
    run_cli("cluster", planted, "--dim", "2", "--method", "gmm", "--k", "3", "--out", tmp_path / "cl",
            "--tag", "sub", check=True)
    with open(tmp_path / "cl" / "cluster_assignments__sub.csv") as f:
        assert f.readline().strip() == "x,y,latent,bandcontrast,cluster"
    before = tree_hash(planted)
    short = tmp_path / "short.npy"
    np.save(short, np.zeros(7))
    bad = run_cli("cluster", planted, "--dim", "2", "--latent-vector", short, "--out", tmp_path / "cl2",
                  "--tag", "bad", "--overwrite")
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert bad.returncode == 2 and len(lines) == 1 and str(short) in lines[0] and "7" in lines[0], bad.stderr
    assert tree_hash(planted) == before
