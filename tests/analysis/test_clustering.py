"""Joint clustering: each method, the figure files, the CSV and JSON, the store variable, length errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import tree_hash
from vaearr.analysis.cluster_methods import METHODS, cluster_points
from vaearr.analysis.clustering import cluster_colors, joint_cluster, read_vector
from vaearr.errors import InputError, StoreError
from vaearr.maps.decomposition.references import adjusted_rand_index
from vaearr.store import open_store, write_variable
from vaearr.viz.clustering import cluster_figure_files


@pytest.fixture
def latent_store(demo_store: Path) -> Path:
    """The demo store with a 3-dim latent: dim 1 follows the true phase/element structure (Cr map)."""
    ds = open_store(demo_store)
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(40, 60, 3)).astype(np.float32)
    lat[..., 1] = ds.elements.sel(element="Cr").values
    write_variable(demo_store, "latent", xr.DataArray(lat, dims=("y", "x", "latent_dim"),
                                                      coords={"y": ds.y, "x": ds.x, "latent_dim": [0, 1, 2]}), mask="roi")
    return demo_store


@pytest.mark.parametrize("method", METHODS)
def test_each_method_finds_planted_clusters(method: str) -> None:
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 300)
    x = np.array([[0, 0], [5, 5], [0, 8]])[truth] + rng.normal(scale=0.5, size=(900, 2))
    labels, params = cluster_points(x, method, k=3 if method in ("gmm", "kmeans") else None, eps=0.3,
                                    min_samples=10, min_cluster_size=50)
    assert params["method"] == method
    kept = labels >= 0
    assert kept.mean() > 0.8 and adjusted_rand_index(labels[kept], truth[kept]) > 0.95
    # clusters are numbered by decreasing size
    counts = np.bincount(labels[kept])
    assert (np.diff(counts) <= 0).all()


def test_gmm_auto_k_and_kmeans_auto_k() -> None:
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))]
    labels, params = cluster_points(x, "gmm", k_range=(1, 5))
    assert params["k"] == 2 and set(params["scores"]) == {"1", "2", "3", "4", "5"}
    # k-means without k chooses it (by silhouette) as the mixture does
    _, params = cluster_points(x, "kmeans")
    assert params["k"] == 2 and params["criterion"] == "silhouette" and "k" in params["auto"]
    with pytest.raises(InputError, match="unknown method"):
        cluster_points(x, "spectral")


def test_cluster_colors_fixed_hue_dark_to_light() -> None:
    rgb = cluster_colors(np.array([0, 0, 0, 1, 1, -1]), np.array([0.0, 1.0, 2.0, 5.0, 6.0, 3.0]))
    assert (np.diff(rgb[:3].sum(1)) > 0).all()  # brighter with the latent value within a cluster
    hue = rgb[:3] / rgb[:3].sum(1, keepdims=True)
    assert not np.allclose(rgb[0], rgb[3])  # another cluster, another hue
    assert rgb[5].tolist() == pytest.approx([0.62] * 3)  # noise grey
    assert hue.std(0).max() < 0.2


def test_joint_cluster_outputs(latent_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = joint_cluster(latent_store, dim=1, method="gmm", k=3, out=out, tag="t1")
    assert "figure_html" not in r.files  # the analysis draws nothing; viz does
    cluster_figure_files(r)
    for key in ("figure_html", "figure_png", "assignments_csv", "report_json"):
        assert r.files[key].is_file() and r.files[key].stat().st_size > 0
    assert r.files["figure_html"].name == "cluster_map__t1.html" and "<script src=" not in r.files["figure_html"].read_text()
    assert r.files["figure_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "cluster_assignments__t1.csv") as f:
        rows = list(csv.DictReader(f))
    ds = open_store(latent_store).load()
    roi = ds.roi.values
    assert list(rows[0]) == ["x", "y", "latent", "bandcontrast", "cluster"] and len(rows) == roi.sum()
    first = np.argwhere(roi)[0]
    assert float(rows[0]["x"]) == ds.x.values[first[1]] and float(rows[0]["y"]) == ds.y.values[first[0]]
    assert float(rows[0]["bandcontrast"]) == pytest.approx(float(ds.bandcontrast.values[tuple(first)]))
    report = json.loads((out / "cluster_report__t1.json").read_text())
    assert {"method", "parameters", "counts", "outputs"} <= set(report)
    assert report["parameters"]["k"] == 3 and report["counts"]["clusters"] == 3
    assert sum(report["counts"][f"cluster_{c}"] for c in range(3)) == roi.sum()
    assert set(report["outputs"]) >= {"figure_html", "figure_png", "assignments_csv", "report_json", "store_variable"}
    lab = ds.cluster_t1.values
    assert (lab[~roi] == -2).all() and set(np.unique(lab[roi])) == {0, 1, 2}
    assert [int(r_["cluster"]) for r_ in rows] == lab[roi].tolist()
    assert json.loads(ds.cluster_t1.attrs["source"]) == ["latent", "bandcontrast"]


def test_joint_cluster_window_and_hdbscan_noise(latent_store: Path, tmp_path: Path) -> None:
    r = joint_cluster(latent_store, dim=1, method="hdbscan", x_range=(10, 39), y_range=(5, 30), out=tmp_path,
                      tag="win", min_cluster_size=20, min_samples=5, name="cluster_win")
    lab = open_store(latent_store).cluster_win.values
    inside = np.zeros((40, 60), bool)
    inside[5:31, 10:40] = True
    assert (lab[~inside] == -2).all() and r.counts["pixels"] == inside.sum()
    assert r.counts["noise"] == int((lab == -1).sum())


def test_vector_lengths_must_equal_the_mask(latent_store: Path, tmp_path: Path) -> None:
    n = int(open_store(latent_store).roi.sum())
    lat, bc = tmp_path / "lat.npy", tmp_path / "bc.csv"
    np.save(lat, np.arange(n - 3, dtype=float))
    bc.write_text("bandcontrast\n" + "\n".join(str(i) for i in range(n)) + "\n")
    before = tree_hash(latent_store)
    with pytest.raises(InputError) as err:
        joint_cluster(latent_store, latent_vector=lat, bc_vector=bc, out=tmp_path / "o", tag="bad")
    msg = str(err.value)
    assert str(lat) in msg and f"{n - 3}" in msg and f"{n}" in msg and "roi" in msg
    assert tree_hash(latent_store) == before and not (tmp_path / "o").exists()
    # right lengths: the vectors are used instead of the store's values
    np.save(lat, np.linspace(0, 1, n))
    r = joint_cluster(latent_store, latent_vector=lat, bc_vector=bc, method="kmeans", k=2, out=tmp_path / "o",
                      tag="ok", write=False)
    assert r.counts["clustered"] == n and r.variable is None
    assert read_vector(bc, column="bandcontrast")[:3].tolist() == [0.0, 1.0, 2.0]


def test_existing_variable_needs_overwrite(latent_store: Path, tmp_path: Path) -> None:
    joint_cluster(latent_store, dim=1, method="kmeans", k=2, out=tmp_path, tag="a")
    before = tree_hash(latent_store)
    with pytest.raises(StoreError, match="exists"):
        joint_cluster(latent_store, dim=1, method="kmeans", k=2, out=tmp_path, tag="a")
    assert tree_hash(latent_store) == before


def test_hdbscan_is_fast_hdbscan_and_says_so() -> None:
    """One HDBSCAN implementation: fast_hdbscan (the `hdbscan` package is no longer a dependency)."""
    pytest.importorskip("fast_hdbscan", reason="needs the 'analysis' extra")
    from vaearr.analysis.cluster_methods import cluster_points

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 0.2, (300, 2)), rng.normal(3, 0.2, (300, 2))]
    labels, params = cluster_points(x, "hdbscan", min_cluster_size=30, min_samples=5)
    assert params["backend"] == "fast_hdbscan"
    assert labels.max() == 1 and (labels[:300] == labels[0]).mean() > 0.95
    with pytest.raises(TypeError):
        cluster_points(x, "hdbscan", hdbscan_backend="hdbscan")  # the choice of implementation is gone


@pytest.mark.parametrize("settings, said", [
    (dict(min_cluster_size=1), "min_cluster_size must be at least 2, got 1"),  # HDBSCAN's own rule (sklearn, hdbscan)
    (dict(k=0), "k must be at least 1, got 0"),
    (dict(eps=0.0), "eps must be above 0, got 0"),
    (dict(criterion="xyz"), "criterion must be one of bic, aic, got 'xyz'"),
    (dict(k=11), "k must be at most 10, the number of points to cluster, got 11"),
])
def test_a_setting_out_of_its_declared_range_is_said_by_its_field(settings: dict, said: str) -> None:
    """The ranges are those the fields of ClusterSettings declare, checked in one place; the Python error names the
    field (the command line says the flag: tests/cli/test_bad_input.py)."""
    from vaearr.errors import OptionError

    with pytest.raises(OptionError) as info:
        cluster_points(np.random.default_rng(0).normal(size=(10, 2)), "hdbscan" if "min" in str(settings) else "gmm",
                       **settings)
    assert str(info.value) == said
