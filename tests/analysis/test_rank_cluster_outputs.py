"""What `vaearr rank` and `vaearr cluster` write as the lab scripts did: per-dim scatters, NPY/CSV exports, chosen
dims and paged maps; the clustering defaults (tag, cluster_TAG, k by silhouette, eps at the elbow, HDBSCAN, colours)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import cli, tree_hash
from vaearr.analysis.cluster_choices import kdistance_eps
from vaearr.analysis.clustering import cluster_colors, cluster_points, joint_cluster
from vaearr.analysis.ranking import rank_latents
from vaearr.errors import InputError
from vaearr.maps.decomposition.references import adjusted_rand_index
from vaearr.store import open_store

PNG = b"\x89PNG\r\n\x1a\n"


def _invoke(*args):
    from typer.testing import CliRunner

    from vaearr.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _one_error_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    return lines[0]


# --------------------------------------------------------------------------------------------
# rank


def test_rank_exports_scatters_and_pages_for_chosen_dims(planted: Path, tmp_path: Path) -> None:
    from vaearr.viz.ranking import rank_figures

    r = rank_latents(planted, against=["bandcontrast", "elements"], out=tmp_path, top=2, metrics=["pearson"],
                     dims=[3, 0, 2], partitions=False)
    assert r.dims == [3, 0, 2] and set(r.dim_files) == {0, 2, 3}
    ds = open_store(planted).load()
    roi = ds.roi.values
    # each dim's map as a (y, x) NPY, NaN outside the mask, and a CSV of x, y, value on the mask
    npy, csv_path = r.dim_files[2]
    assert npy == tmp_path / "dims" / "latent_d2.npy" and csv_path.suffix == ".csv"
    grid = np.load(npy)
    assert grid.shape == (40, 60) and grid.dtype == np.float32 and np.isnan(grid[~roi]).all()
    np.testing.assert_allclose(grid[roi], ds.latent.sel(latent_dim=2).values[roi], rtol=1e-6)
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["x", "y", "value"] and len(rows) == roi.sum()
    iy, ix = np.argwhere(roi)[5]
    assert float(rows[5]["x"]) == pytest.approx(ds.x.values[ix]) and float(rows[5]["y"]) == pytest.approx(ds.y.values[iy])
    assert float(rows[5]["value"]) == pytest.approx(float(ds.latent.values[iy, ix, 2]), rel=1e-6)
    doc = json.loads(r.files["association_json"].read_text())
    assert doc["dims_shown"] == [3, 0, 2] and set(doc["dim_exports"]) == {"0", "2", "3"}

    figs = rank_figures(planted, r, tmp_path, top=2, per_page=2)
    names = {p.name for p in figs}
    assert {"scatter_latent_d0.html", "scatter_latent_d2.html", "scatter_latent_d3.html"} <= names
    assert {"maps_page1.html", "maps_page2.html"} <= names and "maps_page3.html" not in names  # 3 dims, 2 a page
    assert all(p.with_suffix(".png").read_bytes()[:8] == PNG for p in figs)
    # the scatter of dim 2 against Cr says how closely it follows (Pearson r in the panel's title)
    cr = r.references.sel(reference="Cr").values[roi]
    expect = np.corrcoef(ds.latent.sel(latent_dim=2).values[roi], cr)[0, 1]
    assert expect > 0.7 and f"Cr (r = {expect:.3f})" in (tmp_path / "figures" / "scatter_latent_d2.html").read_text()
    # page 2 holds the third dim only
    page2 = (tmp_path / "figures" / "maps_page2.html").read_text()
    assert "latent_dim=2" in page2 and "latent_dim=3" not in page2


def test_rank_default_dims_are_the_top_of_each_reference(planted: Path, tmp_path: Path) -> None:
    r = rank_latents(planted, against=["elements", "bandcontrast"], out=tmp_path, top=3, metrics=["pearson"],
                     partitions=False)
    # --top dims taken in turn from each reference's ranking: every reference's best, then the second bests
    strength = np.abs(r.association.sel(metric="pearson").values)  # (latent_dim, reference)
    turns = [int(d) for d in np.argsort(-strength, axis=0, kind="stable").ravel()]
    assert r.dims == list(dict.fromkeys(turns))[:3]
    cr = list(r.association.reference.values).index("Cr")
    assert strength[:, cr].argmax() == 2 and 2 in r.dims  # dim 2 follows Cr
    assert sorted(p.name for p in (tmp_path / "dims").iterdir()) == sorted(
        [f"latent_d{d}.npy" for d in r.dims] + [f"latent_d{d}.csv" for d in r.dims])
    assert "as .npy (y × x) and .csv" in r.summary()
    before = tree_hash(planted)
    with pytest.raises(InputError, match="`dims`"):
        rank_latents(planted, against=["elements"], out=tmp_path / "bad", dims=[1, 7], partitions=False)
    assert tree_hash(planted) == before and not (tmp_path / "bad").exists()


def test_rank_command_dims_all_pages_and_bad_options(planted: Path, tmp_path: Path) -> None:
    res = _invoke("rank", planted, "--against", "bandcontrast", "--metric", "pearson", "--out", tmp_path / "r",
                  "--dims", "all", "--per-page", "3")
    assert res.exit_code == 0, res.output
    figs = tmp_path / "r" / "figures"
    assert (figs / "maps_page1.png").is_file() and (figs / "maps_page2.html").is_file()  # 4 dims, 3 a page
    assert len(list(figs.glob("scatter_latent_d*.html"))) == 4 and len(list((tmp_path / "r" / "dims").glob("*.npy"))) == 4
    assert "latent_d" in res.output
    before = tree_hash(planted)
    for bad, word in ((["--dims", "0,9"], "--dims"), (["--dims", "1.5"], "--dims"), (["--per-page", "0"], "--per-page")):
        res = _invoke("rank", planted, "--against", "bandcontrast", "--out", tmp_path / "x", *bad)
        assert isinstance(res.exception, InputError) and word in str(res.exception)
    # the real command prints it as one line
    line = _one_error_line(cli("rank", planted, "--against", "bandcontrast", "--out", tmp_path / "x", "--dims", "0,9"))
    assert "--dims" in line and "9" in line
    assert tree_hash(planted) == before and not (tmp_path / "x").exists()


# --------------------------------------------------------------------------------------------
# cluster: defaults


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat([0, 1, 2], 300)
    return np.array([[0, 0], [5, 5], [0, 8]])[truth] + rng.normal(scale=0.5, size=(900, 2)), truth


def test_kmeans_without_k_chooses_by_silhouette_and_tag_names_the_variable(planted: Path, tmp_path: Path) -> None:
    x, truth = _blobs()
    labels, p = cluster_points(x, "kmeans", k_range=(2, 6))
    assert p["k"] == 3 and max(p["scores"], key=p["scores"].get) == "3" and set(p["scores"]) == {"2", "3", "4", "5", "6"}
    assert adjusted_rand_index(labels, truth) > 0.95

    r = joint_cluster(planted, dim=2, method="kmeans", k_range=(2, 4), out=tmp_path)
    assert r.tag == "kmeans_dim2" and r.variable == "cluster_kmeans_dim2"
    assert (tmp_path / "cluster_report__kmeans_dim2.json").is_file()
    da = open_store(planted)["cluster_kmeans_dim2"]
    assert da.attrs["k"] == r.params["k"] and "silhouette" in da.attrs["auto_k"]
    assert f"chose k = {r.params['k']} (highest silhouette" in r.summary()
    # --name still overrides
    r2 = joint_cluster(planted, dim=2, method="kmeans", k=2, out=tmp_path, tag="mine", name="labels_a")
    assert r2.variable == "labels_a" and "labels_a" in open_store(planted) and "cluster_mine" not in open_store(planted)


def test_dbscan_eps_at_the_k_distance_elbow(planted: Path, tmp_path: Path) -> None:
    x, truth = _blobs(1)
    z = (x - x.mean(0)) / x.std(0)
    eps, info = kdistance_eps(z, 10)
    nn_within = 0.5 / x.std(0).mean()  # about the blobs' spread, standardised
    assert 0.2 * nn_within < eps < 1.5  # above the points' spacing, below the gap between blobs
    labels, p = cluster_points(x, "dbscan")
    assert p["eps"] == pytest.approx(eps) and p["min_samples"] == 10 and "elbow" in p["auto"]["eps"]
    kept = labels >= 0
    assert kept.mean() > 0.9 and adjusted_rand_index(labels[kept], truth[kept]) > 0.95
    r = joint_cluster(planted, dim=2, method="dbscan", out=tmp_path)
    attrs = open_store(planted)["cluster_dbscan_dim2"].attrs
    assert attrs["eps"] == pytest.approx(r.params["eps"]) and "elbow" in attrs["auto_eps"]
    assert "chose eps = " in r.summary()


def test_hdbscan_defaults_and_selection_epsilon() -> None:
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [1.2, 0.0], [12.0, 0.0]])  # two close blobs, one far
    x = np.repeat(centres, 200, 0) + rng.normal(scale=0.15, size=(600, 2))
    labels, p = cluster_points(x, "hdbscan", standardize=False)
    assert p["min_cluster_size"] == 20 and p["min_samples"] is None and p["cluster_selection_epsilon"] == 0.0
    assert labels.max() + 1 == 3
    merged, p2 = cluster_points(x, "hdbscan", standardize=False, cluster_selection_epsilon=3.0)
    assert merged.max() + 1 == 2 and p2["cluster_selection_epsilon"] == 3.0
    with pytest.raises(InputError, match="^cluster_selection_epsilon must be at least 0"):
        cluster_points(x, "hdbscan", cluster_selection_epsilon=-1)


def test_gmm_criterion_aic_or_bic() -> None:
    x, _ = _blobs(3)
    _, pb = cluster_points(x, "gmm", k_range=(2, 4))
    _, pa = cluster_points(x, "gmm", k_range=(2, 4), criterion="aic")
    assert pa["criterion"] == "aic" and pb["criterion"] == "bic" and pa["scores"]["3"] < pb["scores"]["3"]
    assert "AIC" in pa["auto"]["k"]
    with pytest.raises(InputError, match="^criterion must be one of bic, aic"):  # the field (CLI: --criterion)
        cluster_points(x, "gmm", criterion="icl")


# --------------------------------------------------------------------------------------------
# cluster: colours and shading


def test_custom_colors_and_shade_clip(planted: Path, tmp_path: Path) -> None:
    r = joint_cluster(planted, dim=2, method="kmeans", k=3, out=tmp_path, tag="c", colors=["red", "#00ff00", "blue"])
    m = open_store(planted).roi.values
    lab = open_store(planted).cluster_c.values
    for c, channel in ((0, 0), (1, 1), (2, 2)):  # cluster 0 red, 1 green, 2 blue
        px = r.map_rgb[(lab == c) & m]
        assert (px.argmax(1) == channel).mean() > 0.95
    assert json.loads(r.files["report_json"].read_text())["parameters"]["colors"] == ["red", "#00ff00", "blue"]

    # one outlier: with the 2–98 % clip the other values keep their spread from dark to light
    labels = np.zeros(101, int)
    values = np.r_[np.arange(100.0), 1e4]
    clipped = cluster_colors(labels, values)[:100].sum(1)
    full = cluster_colors(labels, values, clip=(0, 100))[:100].sum(1)
    assert np.ptp(clipped) > 5 * np.ptp(full)


def test_bad_colors_clip_tag_and_k_leave_the_store_alone(planted: Path, tmp_path: Path) -> None:
    before = tree_hash(planted)
    n = int(open_store(planted).roi.sum())
    cases = [
        (dict(method="kmeans", k=3, colors=["red", "notacolour"]), "not a colour"),
        (dict(method="kmeans", k=3, colors=["red"]), "1 colours for 3 clusters"),
        (dict(method="kmeans", k=2, shade_clip=(98, 2)), "^shade_clip 98:2"),  # the field (the command line: --shade-clip)
        (dict(method="kmeans", k=2, tag="a/b"), "`tag`"),
        (dict(method="kmeans", k=n + 1), f"has {n} pixels to cluster; give 1 to {n}"),
        (dict(method="gmm", k=n + 5), "`k`"),
    ]
    for kwargs, match in cases:
        with pytest.raises(InputError, match=match):
            joint_cluster(planted, dim=2, out=tmp_path / "o", **kwargs)
    assert tree_hash(planted) == before and not (tmp_path / "o").exists()


def test_cluster_command_defaults_and_one_line_errors(planted: Path, tmp_path: Path) -> None:
    res = _invoke("cluster", planted, "--dim", "2", "--method", "kmeans", "--k-range", "2:4", "--out", tmp_path / "cl",
                  "--colors", "red,#00ff00,blue,orange")
    assert res.exit_code == 0, res.output
    assert "chose k = " in res.output and (tmp_path / "cl" / "cluster_map__kmeans_dim2.png").read_bytes()[:8] == PNG
    assert "cluster_kmeans_dim2" in open_store(planted)
    before = tree_hash(planted)
    for bad, word in ((["--colors", "red,nope"], "nope"), (["--shade-clip", "2"], "--shade-clip"),
                      (["--criterion", "icl"], "--criterion")):
        res = _invoke("cluster", planted, "--dim", "2", "--out", tmp_path / "bad", "--tag", "bad", *bad)
        assert isinstance(res.exception, InputError) and word in str(res.exception), res.output
    # the real command: k above the pixels is one line, not a traceback
    line = _one_error_line(cli("cluster", planted, "--dim", "2", "--method", "kmeans", "--k", "100000",
                                   "--out", tmp_path / "bad", "--tag", "bad"))
    assert "--k 100000" in line
    assert tree_hash(planted) == before and not (tmp_path / "bad").exists()


def test_every_mask_option_takes_a_missing_roi_as_every_pixel_in_one_line(planted: Path, tmp_path: Path) -> None:
    """rank, cluster and decompose (as index and segment): no ``roi`` in the store is every pixel, said once."""
    import shutil

    from vaearr.store import delete_variable

    store = tmp_path / "noroi.zarr"
    shutil.copytree(planted, store)
    delete_variable(store, "roi")
    said = "mask: the store has no 'roi', so every pixel"
    runs = {
        "cluster": ["cluster", store, "--dim", "2", "--method", "kmeans", "--k", "3", "--out", tmp_path / "cl"],
        "rank": ["rank", store, "--against", "bandcontrast", "--no-figures", "--out", tmp_path / "rk"],
        "decompose": ["decompose", store, "--method", "pca", "--components", "3"],
    }
    for command, args in runs.items():
        res = _invoke(*args)
        assert res.exit_code == 0, (command, res.output)
        assert res.output.count(said) == 1, (command, res.output)
    ds = open_store(store)
    finite = int(np.isfinite(ds["latent"].values).all(-1).sum())  # the latent was written inside the old roi
    assert int((ds["cluster_kmeans_dim2"] >= 0).sum()) == finite  # every pixel with a latent clustered
    assert ds["pca_weights"].attrs["in_mask"] == "none" and not np.isnan(ds["pca_weights"].values).any()
    assert int(ds["association"].attrs["n_pixels"]) == finite
    # a mask named and missing is still an error, not every pixel
    res = _invoke("cluster", store, "--dim", "2", "--mask", "roi", "--out", tmp_path / "c2", "--tag", "c2")
    assert res.exit_code != 0 and "no mask variable 'roi'" in str(res.exception)


def test_rank_shows_its_progress_over_latent_dims_when_asked(planted: Path, tmp_path: Path) -> None:
    proc = cli("rank", planted, "--against", "bandcontrast", "--no-figures", "--out", tmp_path / "rk",
                   env={"VAEARR_PROGRESS": "on"}, check=True)
    assert "rank: latent dims" in proc.stderr
