"""vaearr decompose: PCA/NMF/cNMF weights and components, cNMF's fixed rows, auto choices, bad input, rank --against cnmf.

Data: a synthetic 12×16 map whose 8×8 "patterns" are a non-negative mixture of 3 random
positive patterns with planted weights; three pixels are pure (one pattern each) and serve as
cNMF references; a rectangular ROI leaves the left columns out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from tests.helpers import cli, tree_hash
from vaearr.errors import InputError, StoreError, VaearrWarning
from vaearr.maps.decomposition.cnmf import cnmf_fit, nn_weights
from vaearr.maps.decomposition.decompose import elbow, write_decomposition
from vaearr.maps.options import parse_references
from vaearr.store import open_store, write_variables

SHAPE = (12, 16)
PURE = [(2, 5), (6, 9), (10, 14)]  # pixel k holds pattern k alone


def _planted(seed: int = 0, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    h = (0.2 + rng.random((3, 64))).astype(np.float32)
    w = rng.random((*SHAPE, 3)).astype(np.float32)
    for k, (y, x) in enumerate(PURE):
        w[y, x] = np.eye(3)[k]
    p = np.einsum("yxk,kf->yxf", w, h)
    if noise:
        p = p + noise * rng.random(p.shape)
    return w, h, p.reshape(*SHAPE, 8, 8).astype(np.float32)


@pytest.fixture
def mix_store(tmp_path: Path) -> Path:
    w, _, p = _planted(noise=1e-4)
    coords = {"y": np.arange(SHAPE[0]) * 0.5, "x": np.arange(SHAPE[1]) * 0.5}
    roi = np.ones(SHAPE, bool)
    roi[:, :3] = False
    store = tmp_path / "mix.zarr"
    write_variables(store, {
        "patterns": xr.DataArray(p, dims=("y", "x", "py", "px"), coords=coords),
        "roi": xr.DataArray(roi, dims=("y", "x"), coords=coords),
    }, source="test")
    return store


def test_cnmf_keeps_fixed_components_and_recovers_planted_weights(tmp_path: Path) -> None:
    w, _, p = _planted()
    coords = {"y": np.arange(SHAPE[0]), "x": np.arange(SHAPE[1])}
    store = tmp_path / "exact.zarr"
    write_variables(store, {"patterns": xr.DataArray(p, dims=("y", "x", "py", "px"), coords=coords)}, source="test")
    res = write_decomposition(store, method="cnmf", mask=None, components=3, references=PURE)
    ds = open_store(store)
    comps = ds.cnmf_components.values
    for k, (y, x) in enumerate(PURE):  # bit-equal to the reference pixels' patterns
        assert comps[k].dtype == p.dtype and np.array_equal(comps[k], p[y, x])
    got = ds.cnmf_weights.transpose("y", "x", "cnmf_component").values
    assert np.abs(got - w).max() <= 1e-3 * w.max()
    assert res.attrs["references"] == [list(r) for r in PURE] and res.attrs["n_free"] == 0
    assert ds.cnmf_weights.attrs["component_kind"] == ["fixed"] * 3
    assert ds.cnmf_weights.attrs["reconstruction_error"] < 1e-4


def test_cnmf_free_component_finds_the_missing_pattern() -> None:
    w, h, p = _planted()
    x = p.reshape(-1, 64)
    fixed = np.stack([p[y, xx].ravel() for y, xx in PURE[:2]])
    weights, comps, info = cnmf_fit(x, fixed, 1)
    assert np.array_equal(comps[:2], fixed) and comps.shape == (3, 64)
    # the free row is identifiable only up to mixing with the fixed ones within non-negativity
    assert np.corrcoef(comps[2], h[2])[0, 1] > 0.95
    assert np.corrcoef(weights[:, 2], w.reshape(-1, 3)[:, 2])[0, 1] > 0.95
    assert info["relative_error"] < 1e-2
    # NNLS weights: exact for a non-negative solution, clipped otherwise
    assert nn_weights(np.array([[1.0, -1.0]]), np.eye(2)).tolist() == [[1.0, 0.0]]


def test_elbow_and_reference_parsing() -> None:
    n, dist = elbow([0.5, 0.3, 0.15, 1e-5, 1e-5, 9e-6, 8e-6, 8e-6])
    assert n == 3 and len(dist) == 8 and dist[3] == max(dist)
    assert parse_references("1,2; 3,4") == [(1, 2), (3, 4)] and parse_references("auto") == "auto"
    with pytest.raises(InputError, match="^references takes 'auto'"):  # the field (the command line: --references)
        parse_references("1,2,3")


def test_cli_pca_nmf_cnmf_auto_then_rank_against_cnmf(mix_store: Path, tmp_path: Path) -> None:
    from vaearr.cli import app

    runner = CliRunner()
    roi = open_store(mix_store).roi.values
    for method in ("pca", "nmf", "cnmf"):
        res = runner.invoke(app, ["decompose", str(mix_store), "--method", method, "--components", "auto"])
        assert res.exit_code == 0, res.output
        assert "components auto" in res.output and "scree" in res.output
        ds = open_store(mix_store)
        wts = ds[f"{method}_weights"]
        assert wts.dims == ("y", "x", f"{method}_component")
        v = wts.values
        assert np.isnan(v[~roi]).all() and np.isfinite(v[roi]).all()
        assert ds[f"{method}_components"].dims == (f"{method}_component", "py", "px")
        a = wts.attrs
        assert a["components_auto"] is True and "elbow" in a["components_rule"]
        assert len(a["explained_variance_ratio_scree"]) == len(a["elbow_distance"])
        # auto references are cluster medoids (mixtures themselves here): their cone misses some pixels
        assert a["in_mask"] == "roi" and a["reconstruction_error"] < (0.2 if method == "cnmf" else 0.01), method
    assert open_store(mix_store).pca_weights.sizes["pca_component"] == 3  # the planted rank
    a = open_store(mix_store).cnmf_weights.attrs
    assert a["references_auto"] is True and "BIC" in a["references_rule"] and len(a["bic"]) == len(a["bic_k"])
    assert "references (auto" in res.output
    for y, x in a["references"]:
        assert roi[y, x]
    comps = open_store(mix_store).cnmf_components.values
    pat = open_store(mix_store).patterns.values
    assert all(np.array_equal(comps[i], pat[y, x]) for i, (y, x) in enumerate(a["references"]))

    # given references plus one free component, another name
    res = runner.invoke(app, ["decompose", str(mix_store), "--method", "cnmf", "--references", "2,5;6,9",
                              "--components", "3", "--name", "cnmf2"])
    assert res.exit_code == 0, res.output
    a = open_store(mix_store).cnmf2_weights.attrs
    assert a["references"] == [[2, 5], [6, 9]] and a["n_free"] == 1 and a["references_auto"] is False

    # rank against the cnmf weights
    rng = np.random.default_rng(1)
    ds = open_store(mix_store)
    lat = rng.normal(size=(*SHAPE, 2)).astype(np.float32)
    lat[..., 1] = np.nan_to_num(ds.cnmf_weights.isel(cnmf_component=0).values) + 0.01 * rng.normal(size=SHAPE)
    write_variables(mix_store, {"latent": xr.DataArray(lat, dims=("y", "x", "latent_dim"),
                                                       coords={"y": ds.y, "x": ds.x, "latent_dim": [0, 1]})},
                    mask="roi", source="test")
    res = runner.invoke(app, ["rank", str(mix_store), "--against", "cnmf", "--out", str(tmp_path / "rank"),
                              "--no-figures", "--metric", "pearson", "--top", "1"])
    assert res.exit_code == 0, res.output
    assoc = open_store(mix_store).association
    assert list(assoc.reference.values)[:1] == ["cnmf_0"]
    assert abs(float(assoc.sel(reference="cnmf_0", metric="pearson", latent_dim=1))) > 0.9
    res = runner.invoke(app, ["rank", str(mix_store), "--against", "cnmf9", "--out", str(tmp_path / "r2"),
                              "--no-figures"])
    assert isinstance(res.exception, StoreError) and "cnmf9_weights" in str(res.exception)


@pytest.mark.parametrize("refs, components, message", [
    ([(2, 40)], "auto", "outside the 12×16 map"),
    ([(2, 1)], "auto", "outside the mask 'roi'"),
    ([(2, 5), (2, 5)], "auto", "given twice"),
    (None, 500, "more than the 156 pixels"),
])
def test_bad_input_changes_no_store(mix_store: Path, refs, components, message: str) -> None:
    before = tree_hash(mix_store)
    with pytest.raises(InputError, match=message):
        write_decomposition(mix_store, method="cnmf" if refs else "pca", references=refs, components=components)
    assert tree_hash(mix_store) == before
    write_decomposition(mix_store, method="pca", components=2)
    before = tree_hash(mix_store)
    with pytest.raises(StoreError, match="exists"):
        write_decomposition(mix_store, method="pca", components=2)
    assert tree_hash(mix_store) == before


def test_bad_reference_is_one_line_in_a_subprocess(mix_store: Path) -> None:
    before = tree_hash(mix_store)
    proc = cli("decompose", mix_store, "--method", "cnmf", "--references", "2,5;99,3")
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "99,3" in err[0], proc.stderr
    assert tree_hash(mix_store) == before


def test_ingest_pca_and_cnmf_weight_tables(mix_store: Path, tmp_path: Path) -> None:
    import warnings

    from vaearr.cli import app
    from vaearr.io.tables import ingest_tables

    ds = open_store(mix_store)
    yy, xx = np.meshgrid(ds.y.values, ds.x.values, indexing="ij")
    rng = np.random.default_rng(2)
    vals = rng.random((*SHAPE, 3)).round(4)
    order = rng.permutation(yy.size)[1:]  # shuffled rows, one pixel without a row
    pca_csv, cnmf_csv = tmp_path / "pca.csv", tmp_path / "cnmf.csv"
    # PCA_10 before PCA_2 in the header: components follow the numbers, not the column order
    with open(pca_csv, "w") as f:
        f.write("x,y,PCA_1,PCA_10,PCA_2\n")
        for i in order:
            v = vals.reshape(-1, 3)[i]
            f.write(f"{xx.ravel()[i]},{yy.ravel()[i]},{v[0]},{v[2]},{v[1]}\n")
    with open(cnmf_csv, "w") as f:
        f.write("X;Y;cNMF_1;cNMF_2\n")
        for i in order:
            f.write(f"{xx.ravel()[i]};{yy.ravel()[i]};{vals.reshape(-1, 3)[i, 0]};{vals.reshape(-1, 3)[i, 1]}\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ingest_tables(mix_store, pca_weights=pca_csv)
    assert any("1 of 192 grid nodes have no row" in str(w.message) for w in caught)
    got = open_store(mix_store).pca_weights
    assert got.dims == ("y", "x", "pca_component") and got.attrs["columns"] == ["PCA_1", "PCA_2", "PCA_10"]
    nan = np.isnan(got.values).all(-1)
    assert nan.sum() == 1 and np.allclose(got.values[~nan], vals[~nan].astype(np.float32))
    with pytest.warns(VaearrWarning, match="1 of 192 grid nodes have no row in this cnmf_weights table"):
        res = CliRunner().invoke(app, ["ingest", "tables", str(mix_store), "--cnmf-weights", str(cnmf_csv)])
    assert res.exit_code == 0, res.output
    got = open_store(mix_store).cnmf_weights
    assert got.dims == ("y", "x", "cnmf_component") and got.sizes["cnmf_component"] == 2
    assert np.allclose(got.values[~nan], vals[~nan][:, :2].astype(np.float32))
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,foo\n0,0,1\n")
    before = tree_hash(mix_store)
    with pytest.raises(InputError, match="missing weight columns"):
        ingest_tables(mix_store, cnmf_weights=bad, overwrite=True)
    assert tree_hash(mix_store) == before
