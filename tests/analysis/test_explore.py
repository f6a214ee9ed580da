"""Latent exploration on real 8×8 digits: prototypes, traversals, manifold orientation, embeddings, CLI, explorer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import DIGITS_MODEL as SMALL
from tests.helpers import cli, make_run
from vaearr.analysis import embedding as EM
from vaearr.analysis import generate as G
from vaearr.analysis import latents as LT
from vaearr.errors import InputError
from vaearr.store import write_variable
from vaearr.viz.explore import explore
from vaearr.viz.latent_explorer import Explorer


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """sklearn's digits (real handwriting scans) as an image store with labels, and a briefly trained run."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * 15).astype(np.uint8)
    root = tmp_path_factory.mktemp("explore")
    store = root / "digits.zarr"
    write_variable(store, "images", xr.DataArray(images, dims=("sample", "row", "col"),
                                                 coords={"label": ("sample", d.target)}),
                   chunks={"images": (512, 8, 8)})
    make_run(root / "run", store, model=SMALL, sample_dims=("sample",), feature_dims=("row", "col"),
             train_on=images[:, None] / 255.0, steps=60)
    return store, root / "run", images, d.target


@pytest.fixture(scope="module")
def encoded(digits):
    store, run, _, _ = digits
    return LT.encode_samples(store, run, n=400, seed=1)


def test_encode_samples_is_a_seeded_subset_with_labels_and_inputs(digits, encoded) -> None:
    store, run, images, target = digits
    lr, enc = encoded
    assert enc.mu.shape == (400, 3) and enc.logvar.shape == (400, 3) and enc.x.shape == (400, 1, 8, 8)
    assert (np.diff(enc.index) > 0).all() and enc.label_name == "label"
    np.testing.assert_array_equal(enc.labels, target[enc.index])
    # the run's own scaling: uint8 → [0, 1] by the dtype range
    np.testing.assert_allclose(enc.x[:, 0], images[enc.index] / 255.0, atol=1e-6)
    _, again = LT.encode_samples(store, lr, n=400, seed=1, keep_inputs=False)
    np.testing.assert_array_equal(again.index, enc.index)
    np.testing.assert_allclose(again.mu, enc.mu, atol=1e-6)
    assert again.x is None
    _, other = LT.encode_samples(store, lr, n=400, seed=2, label=None)
    assert not np.array_equal(other.index, enc.index) and other.labels is None


def test_prototypes_equal_per_label_means(encoded) -> None:
    _, enc = encoded
    protos = LT.prototypes(enc.mu, enc.labels)
    assert protos.dims == ("label", "latent_dim") and protos.sizes["label"] == 10
    for lab in range(10):
        np.testing.assert_allclose(protos.sel(label=lab).values, enc.mu[enc.labels == lab].mean(0), rtol=1e-5, atol=1e-6)
    assert sum(protos.attrs["count"]) == 400
    table = LT.activations(enc.mu, enc.labels, sample=enc.index)
    assert table.columns.tolist() == ["sample", "label", "z0", "z1", "z2"]
    summary = LT.describe(table)
    assert summary.index.tolist() == ["z0", "z1", "z2"] and summary["count"].tolist() == [400] * 3
    np.testing.assert_allclose(summary["mean"].to_numpy(), enc.mu.mean(0), rtol=1e-5, atol=1e-6)


def test_traversal_grid_shape_and_content(encoded) -> None:
    lr, enc = encoded
    base = enc.mu.mean(0)
    values = np.linspace(-2, 2, 5)
    grid = G.traversal(lr.model, base, [0, 2], values)
    assert grid.shape == (2, 5, 1, 8, 8)
    z = base.copy()
    z[2] = values[3]
    np.testing.assert_allclose(grid[1, 3], G.decode(lr.model, z[None])[0], atol=1e-6)
    # a swept dim changes the image, the others stay fixed
    assert np.abs(grid[0, 0] - grid[0, -1]).max() > 1e-4
    with pytest.raises(ValueError, match="out of range"):
        G.traversal(lr.model, base, [3], values)


def test_manifold_is_cartesian_y_upward(encoded) -> None:
    lr, enc = encoded
    base = np.zeros(3, np.float32)
    xs, ys = [-1.0, 0.0, 1.0, 2.0], [3.0, -3.0, 0.0]  # any order: sorted inside
    grid = G.manifold(lr.model, base, (0, 1), xs, ys)
    assert grid.shape == (3, 4, 1, 8, 8)

    def at(x: float, y: float) -> np.ndarray:
        return G.decode(lr.model, np.array([[x, y, 0.0]], np.float32))[0]

    np.testing.assert_allclose(grid[0, 0], at(-1.0, 3.0), atol=1e-6)  # top-left: smallest x, largest y
    np.testing.assert_allclose(grid[-1, 0], at(-1.0, -3.0), atol=1e-6)  # bottom-left: smallest y
    np.testing.assert_allclose(grid[0, -1], at(2.0, 3.0), atol=1e-6)  # top-right: largest x
    with pytest.raises(ValueError):
        G.manifold(lr.model, base, (1, 1), xs, ys)


def test_embedding_sampling_returns_the_nearest_stored_latent(encoded) -> None:
    lr, enc = encoded
    emb = EM.embed(enc.mu, "pca")
    # PCA: explained variance sums to 1, coordinates are projections on orthonormal loadings
    assert emb.coords.shape == (400, 2) and emb.explained_variance_ratio.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(emb.loadings @ emb.loadings.T, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(emb.coords, (enc.mu - enc.mu.mean(0)) @ emb.loadings[:2].T, atol=1e-4)
    idx, pts = EM.sample_embedding(emb, line=((-1.0, -0.5), (1.0, 0.5)), n=6)
    assert pts.shape == (6, 2) and np.allclose(pts[0], (-1, -0.5)) and np.allclose(pts[-1], (1, 0.5))
    brute = np.argmin(((emb.coords[None] - pts[:, None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(idx, brute)
    # a point placed on a stored sample returns that sample
    idx2, _ = EM.sample_embedding(emb, points=emb.coords[[17, 230]])
    assert idx2.tolist() == [17, 230]
    images = G.decode(lr.model, enc.mu[idx])
    assert images.shape == (6, 1, 8, 8)


def test_tsne_embedding_is_repeatable(encoded) -> None:
    pytest.importorskip("openTSNE", reason="needs the 'analysis' extra (openTSNE)")
    _, enc = encoded
    a = EM.embed(enc.mu[:150], "tsne", seed=3)
    b = EM.embed(enc.mu[:150], "tsne", seed=3)
    assert a.coords.shape == (150, 2) and np.isfinite(a.coords).all()
    np.testing.assert_allclose(a.coords, b.coords)


@pytest.mark.slow
def test_umap_embedding(encoded) -> None:
    pytest.importorskip("umap", reason="needs the 'analysis' extra (umap-learn)")
    _, enc = encoded
    emb = EM.embed(enc.mu, "umap", seed=0)
    assert emb.coords.shape == (400, 2) and np.isfinite(emb.coords).all()


def test_prior_interpolation_and_stats(encoded) -> None:
    from vaearr.models import kl_divergence

    lr, enc = encoded
    z, images = G.prior_samples(lr.model, 5, seed=4)
    z2, _ = G.prior_samples(lr.model, 5, seed=4)
    assert z.shape == (5, 3) and images.shape == (5, 1, 8, 8) and np.array_equal(z, z2)
    zl, il = G.interpolate(lr.model, enc.mu[0], enc.mu[1], steps=5, method="linear")
    np.testing.assert_allclose(zl[[0, -1]], enc.mu[:2], atol=1e-6)
    np.testing.assert_allclose(zl[2], (enc.mu[0] + enc.mu[1]) / 2, atol=1e-6)
    a, b = np.array([3.0, 0.0, 0.0]), np.array([0.0, 0.0, 3.0])
    zs = G.slerp(a, b, np.linspace(0, 1, 7))
    np.testing.assert_allclose(np.linalg.norm(zs, axis=1), 3.0)  # on the great circle
    stats = LT.latent_stats(enc.mu, enc.logvar)
    import torch

    total = float(kl_divergence(torch.from_numpy(enc.mu), torch.from_numpy(enc.logvar)))
    assert stats.attrs["kl_total"] == pytest.approx(total, rel=1e-4)
    np.testing.assert_allclose(stats["std"], enc.mu.std(0), rtol=1e-5)
    assert stats.attrs["active_units"] == int((enc.mu.var(0) > 0.01).sum())


def test_explorer_sliders_decode_the_current_vector(encoded) -> None:
    pytest.importorskip("panel", reason="needs the 'viz' extra (panel)")
    lr, enc = encoded
    app = Explorer(lr.model, enc.mu[0])
    assert len(app.sliders) == 3 and [s.name for s in app.sliders] == ["z0", "z1", "z2"]
    np.testing.assert_allclose(app.z, enc.mu[0], atol=1e-6)
    app.sliders[1].value = 2.5
    z = enc.mu[0].copy()
    z[1] = 2.5
    np.testing.assert_allclose(app.image(), G.decode(lr.model, z[None])[0, 0], atol=1e-6)
    assert app.panel() is not None


def test_explore_command_writes_named_figures(digits, tmp_path: Path) -> None:
    store, run, _, _ = digits
    out = tmp_path / "explore"
    res = cli("explore", store, "--run", run, "--out", out, "--n", "300",
              "--parts", "quality,stats,activations,prototypes,traversal,manifold,embeddings", "--embeddings", "pca",
              "--base", "3")
    assert res.returncode == 0, res.stderr
    for stem in ("reconstruction_grid", "latent_kl_per_dim", "prototypes_heatmap", "prototypes_decoded", "traversal",
                 "pca", "pca_samples", "pca_explained_variance", "pca_loadings"):
        assert (out / f"{stem}.html").stat().st_size > 10_000, stem
        assert (out / f"{stem}.png").stat().st_size > 1_000, stem
    assert len(list(out.glob("manifold_z*_z*.png"))) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_samples"] == 300 and summary["traversal"]["base"] == "prototype of 3"
    assert summary["quality"]["compression_ratio"] == pytest.approx(64 / 3)
    for name in ("reconstruction_quality.csv", "latent_stats.csv", "activations.csv", "prototypes.csv",
                 "embedding_samples.csv"):
        assert (out / name).exists(), name
    assert "active units" in res.stdout


def test_explore_rejects_unknown_parts_and_labels(digits, tmp_path: Path) -> None:
    store, run, _, _ = digits
    with pytest.raises(InputError, match="unknown part"):
        explore(store, run, tmp_path, parts=["nonsense"])
    with pytest.raises(InputError, match="no variable or coordinate 'grain'"):
        LT.encode_samples(store, run, label="grain")
    with pytest.raises(InputError, match="is not a label"):
        LT.base_vector("11", LT.prototypes(np.zeros((2, 3)), np.array([0, 1])), np.zeros((2, 3)))
