"""Decoder layer analysis on real digits: zero differences for identical inputs, hooks, files, folder mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import DIGITS_MODEL as SMALL
from tests.helpers import REPO, cli, make_run
from vaearr.analysis import layers as L
from vaearr.errors import InputError
from vaearr.run import Run
from vaearr.viz.layers import compare_folder

PIL = pytest.importorskip("PIL.Image", reason="needs pillow")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A briefly trained 8×8 conv-vae run and digit images written as PNG files."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * 15).astype(np.uint8)
    root = tmp_path_factory.mktemp("layers")
    net = make_run(root / "run", root / "unused.zarr", model=SMALL, sample_dims=("sample",),
                   feature_dims=("row", "col"), train_on=images[:, None] / 255.0, steps=40)
    return root, net, images


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.fromarray(array).save(path)
    return path


def test_identical_inputs_give_zero_in_every_layer(setup) -> None:
    _, net, images = setup
    x = images[:1, None] / 255.0
    cmp = L.compare_layers(net, x, x.copy())
    assert cmp.layers[0] == "fc_decode" and cmp.layers[-1] == "to_pixels"
    assert len(cmp.layers) == len(set(cmp.layers)) == 10  # linear + 2 × (upsample, conv, norm, act) + head conv
    assert (cmp.l2 == 0).all() and (cmp.cosine == 0).all()
    np.testing.assert_array_equal(cmp.recon1, cmp.recon2)


def test_perturbed_input_differs_in_every_layer(setup) -> None:
    _, net, images = setup
    x1 = images[:1, None] / 255.0
    x2 = np.clip(x1 + np.random.default_rng(0).normal(0, 0.05, x1.shape), 0, 1)
    cmp = L.compare_layers(net, x1, x2)
    assert (cmp.l2 > 0).all() and (cmp.cosine > 0).all() and (cmp.cosine <= 2).all()
    # the numbers are the plain definitions on the hooked activations
    outs1, _ = L.layer_outputs(net, x1)
    outs2, _ = L.layer_outputs(net, x2)
    a, b = outs1["decoder.2"].numpy().ravel().astype(np.float64), outs2["decoder.2"].numpy().ravel().astype(np.float64)
    k = cmp.layers.index("decoder.2")
    assert cmp.l2[k] == pytest.approx(np.linalg.norm(a - b))
    assert cmp.cosine[k] == pytest.approx(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert cmp.top(3) == [cmp.layers[i] for i in np.argsort(-cmp.cosine)[:3]]
    # hooks are removed afterwards; encoder layers are never recorded
    assert all(not m._forward_hooks for m in net.modules())  # noqa: SLF001 - torch keeps the hooks there, no public view
    assert not any(n.startswith(("encoder", "fc_mu", "fc_logvar")) for n in L.decoder_layers(net))


def test_distances_edge_cases() -> None:
    assert L.distances(np.zeros(4), np.zeros(4)) == (0.0, 0.0)
    assert L.distances(np.zeros(2), np.array([3.0, 4.0])) == (5.0, 1.0)
    assert L.distances(np.array([1.0, 1.0]), np.array([-1.0, -1.0]))[1] == pytest.approx(2.0)


def test_layers_command_two_images(setup, tmp_path: Path) -> None:
    root, net, images = setup
    a, b = _png(tmp_path / "a.png", images[0]), _png(tmp_path / "b.png", images[1])
    np.testing.assert_allclose(L.load_input(a, Run.open(root / "run").preprocess)[0, 0], images[0] / 255.0, atol=1e-6)
    out = tmp_path / "out"
    res = cli("layers", "--run", root / "run", "--img1", a, "--img2", b, "--out", out, "--top", "3")
    assert res.returncode == 0, res.stderr
    data = json.loads((out / "layer_differences.json").read_text())
    assert data["inputs"] == ["a.png", "b.png"] and len(data["layers"]) == 10
    assert len(data["top_layers"]["cosine_dissimilarity"]) == 3
    for stem in ("layer_differences", "reconstructions"):
        assert (out / f"{stem}.html").stat().st_size > 10_000 and (out / f"{stem}.png").stat().st_size > 1_000
    assert "most different layers" in res.stdout
    res = cli("layers", "--run", root / "run", "--img1", a, "--out", out)
    assert res.returncode != 0


def test_folder_mode_pairs_unmatched_and_aggregate(setup, tmp_path: Path) -> None:
    root, net, images = setup
    folder = tmp_path / "pairs"
    for i in range(2):
        _png(folder / "positive" / f"d{i}.png", images[i])
        _png(folder / "negative" / f"d{i}.png", images[10 + i])
    _png(folder / "positive" / "only_pos.png", images[20])
    _png(folder / "negative" / "only_neg.png", images[21])
    out = tmp_path / "out"
    agg = compare_folder(root / "run", folder, out)
    assert sorted(agg.pairs) == ["d0.png", "d1.png"]
    assert agg.unmatched == {"positive": ["only_pos.png"], "negative": ["only_neg.png"]}
    data = json.loads((out / "aggregated_results.json").read_text())
    assert data["n_pairs"] == 2 and data["unmatched"]["negative"] == ["only_neg.png"]
    per_pair = [json.loads((out / "pairs" / f"d{i}" / "layer_differences.json").read_text()) for i in range(2)]
    l2 = np.array([[row["l2"] for row in p["layers"]] for p in per_pair])
    got = np.array([row["l2_mean"] for row in data["layers"]])
    np.testing.assert_allclose(got, l2.mean(0), rtol=1e-9)
    np.testing.assert_allclose([row["l2_std"] for row in data["layers"]], l2.std(0), rtol=1e-9)
    assert (out / "aggregated_differences.png").stat().st_size > 1_000


def test_bad_inputs_are_one_line_errors(setup, tmp_path: Path) -> None:
    root, _, images = setup
    (tmp_path / "f" / "positive").mkdir(parents=True)
    with pytest.raises(InputError, match="no 'negative/' folder"):
        compare_folder(root / "run", tmp_path / "f", tmp_path / "o")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        L.load_input(bad, Run.open(root / "run").preprocess)
    assert not (tmp_path / "o").exists()  # nothing written before the inputs were checked


@pytest.mark.slow
def test_flows_in_prefect_harness(setup, tmp_path: Path) -> None:
    """flows/explore.py: compare-layers, explore-latents and explore-files run as Prefect flows (a local test server)."""
    pytest.importorskip("prefect", reason="needs the 'flows' extra")
    import sys

    import xarray as xr
    from prefect.testing.utilities import prefect_test_harness

    from tests.helpers import make_run
    from vaearr.store import write_variable

    sys.path.insert(0, str(REPO))
    from flows.explore import compare_layers, explore_image_files, explore_latents

    root, _, images = setup
    a, b = _png(tmp_path / "a.png", images[0]), _png(tmp_path / "b.png", images[5])
    store = tmp_path / "d.zarr"
    write_variable(store, "images", xr.DataArray(images[:300], dims=("sample", "row", "col")))
    make_run(tmp_path / "run", store, model={"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": 2,
                                             "channels": [8]}, sample_dims=("sample",), feature_dims=("row", "col"))
    with prefect_test_harness(server_startup_timeout=180):  # a busy CI machine starts the server slowly
        res = compare_layers(run=str(root / "run"), out=str(tmp_path / "lay"), img1=str(a), img2=str(b), top=2)
        summary = explore_latents(store=str(store), run=str(tmp_path / "run"), out=str(tmp_path / "ex"), n=100,
                                  parts=["prototypes", "embeddings"], embeddings=["pca"])
        files = explore_image_files(run=str(tmp_path / "run"), images=[str(a), str(b)], out=str(tmp_path / "files"),
                                    steps=3)
    assert len(res["top_layers"]["l2"]) == 2 and (tmp_path / "lay" / "layer_differences.json").exists()
    assert summary["n_samples"] == 100 and "pca.html" in summary["figures"]
    assert summary["skipped"] == {"prototypes": "no labels"}
    assert [Path(r["file"]).name for r in files["per_file"]] == ["a.png", "b.png"]
    assert all(np.isfinite(r["psnr_uint8"]) for r in files["per_file"])
    assert (tmp_path / "files" / "files_quality.csv").exists()
