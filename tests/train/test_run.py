"""A trained run: one preprocessing path for every use, the training store's background everywhere, no pickles.

Data: the simulated Ni demo map (kikuchipy's master pattern, conftest's ``demo_store``) and a
second map simulated with another seed; a conv-vae trained for one epoch with
``--subtract-background --standardize`` (the run whose inputs once differed between paths).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import cli
from vaearr.batches import ZarrBatches
from vaearr.maps.patterns.background import static_background
from vaearr.run import Run, RunError
from vaearr.store import open_store
from vaearr.train import TrainConfig, build_loaders, fit, to_device

OPTS = dict(epochs=1, batch_size=128, latent_dim=3, model_options={"channels": [8, 16], "output": "linear-mse"},
            subtract_background=True, background_operation="subtract", average_neighbours=0,
            standardize=True, seed=3)  # the run this file describes (the EBSD defaults also average and divide)


@pytest.fixture(scope="module")
def bg_run(demo_store_master: Path, tmp_path_factory) -> Path:
    """A run trained with static background subtraction and standardisation."""
    run = tmp_path_factory.mktemp("bgrun") / "run"
    fit(TrainConfig(store=str(demo_store_master), run=str(run), **OPTS), progress=False)
    return run


@pytest.fixture(scope="module")
def other_store(tmp_path_factory) -> Path:
    """A second simulated map (other seed: other grains, other pore), ingested with its ROI."""
    from vaearr.data import build_demo_map
    from vaearr.io.ebsd import ingest_ebsd
    from vaearr.maps.roi.roi import create_roi

    files = build_demo_map(tmp_path_factory.mktemp("other"), shape=(12, 16), seed=11, n_grains=4)
    store = files.out_dir / "other.zarr"
    ingest_ebsd(files.patterns, store, dataset="patterns", bandcontrast=files.bandcontrast)
    create_roi(store, otsu=True)
    return store


def _raw_pattern(store: Path, iy: int, ix: int) -> np.ndarray:
    return np.asarray(open_store(store).patterns.isel(y=iy, x=ix).values)


def test_one_sample_is_the_same_model_input_on_all_five_paths(bg_run: Path, demo_store_master: Path,
                                                            tmp_path: Path) -> None:
    from vaearr.analysis.latents import encode_samples
    from vaearr.analysis.layers import load_input
    from vaearr.analysis.quality import evaluate_quality

    run = Run.open(bg_run)
    cfg = TrainConfig.from_dict(run.train)
    # the sample: one that quality's seeded subset holds
    report = evaluate_quality(demo_store_master, bg_run, n=64, seed=0)
    flat = int(report.per_sample["sample"].iloc[7])
    roi = open_store(demo_store_master).roi.values
    iy, ix = divmod(flat, roi.shape[1])
    assert roi[iy, ix]
    # the reference: the stored pattern through the run's own Preprocess
    raw = _raw_pattern(demo_store_master, iy, ix)
    want = run.preprocess(torch.from_numpy(raw[None, None])).numpy()[0]

    # 1. training: the loader vaearr train builds (here: with indices), then the step's transform
    train_loader, val_loader, on_device = build_loaders(run, cfg)
    found = {}
    for loader in (train_loader, val_loader):
        indexed = ZarrBatches(loader.store, loader.spec, return_index=True)
        for x, idx in indexed:
            hit = np.flatnonzero(idx.numpy() == flat)
            if hit.size:
                found["train"] = to_device(x, torch.device("cpu"), on_device)[hit[0]].numpy()
    # 2. encode (what `vaearr encode` iterates)
    found["encode"] = next(b.x[list(b.index).index(flat)].numpy() for b in run.encode(demo_store_master)
                           if flat in set(b.index.tolist()))
    # 3. explore
    _, enc = encode_samples(demo_store_master, bg_run, label=None)
    found["explore"] = enc.x[np.flatnonzero(enc.index == flat)[0]]
    # 4. layers: the stored pattern exported as a file
    np.save(tmp_path / "p.npy", raw)
    found["layers"] = load_input(tmp_path / "p.npy", run.preprocess)[0]
    for path, x in found.items():
        np.testing.assert_array_equal(x, want, err_msg=path)
    assert set(found) == {"train", "encode", "explore", "layers"}
    # 5. quality: its metrics are those of the same inputs and their reconstructions
    model = run.model()
    row = report.per_sample.set_index("sample").loc[flat]
    with torch.no_grad():
        recon = model.decode(model.encode(torch.from_numpy(want[None]))[0]).numpy()[0]
    assert row["mse"] == pytest.approx(float(np.mean((recon.astype(np.float64) - want) ** 2)), rel=1e-6)


def test_a_second_store_is_encoded_with_the_training_stores_background(bg_run: Path, demo_store_master: Path,
                                                                      other_store: Path, tmp_path: Path) -> None:
    from vaearr.encoding import encode

    run = Run.open(bg_run)
    trained_bg = static_background(demo_store_master, "patterns", ("y", "x"), "roi")
    other_bg = static_background(other_store, "patterns", ("y", "x"), "roi")
    saved = run.preprocess.steps[0].background.reshape(trained_bg.shape)
    np.testing.assert_allclose(saved, trained_bg, rtol=1e-6)
    assert not np.allclose(trained_bg, other_bg, rtol=1e-3), "the two maps must differ for this test to mean anything"

    store = tmp_path / "other.zarr"
    shutil.copytree(other_store, store)
    encode(store, bg_run, progress=False)
    ds = open_store(store)
    iy, ix = (int(v[0]) for v in np.nonzero(ds.roi.values))
    raw = torch.from_numpy(_raw_pattern(store, iy, ix)[None, None])
    model = run.model()
    with torch.no_grad():
        mu_trained = model.encode(run.preprocess(raw))[0].numpy()[0]
        # what refitting the background on the store being encoded (the old behaviour) would give
        refit = run.preprocess.steps[0].__class__(other_bg.astype(np.float32), run.preprocess.steps[0].out_range)
        x_refit = run.preprocess.steps[1](refit(raw))
        mu_refit = model.encode(x_refit)[0].numpy()[0]
    np.testing.assert_allclose(ds.latent.isel(y=iy, x=ix).values, mu_trained, rtol=1e-5, atol=1e-6)
    assert not np.allclose(mu_trained, mu_refit, rtol=1e-4, atol=1e-5)


def test_layers_command_feeds_the_decoder_what_it_was_trained_on(bg_run: Path, demo_store_master: Path,
                                                               tmp_path: Path) -> None:
    from vaearr.analysis.layers import compare_layers

    run = Run.open(bg_run)
    roi = open_store(demo_store_master).roi.values
    pts = list(zip(*np.nonzero(roi), strict=True))[:2]
    files = []
    for k, (iy, ix) in enumerate(pts):
        files.append(tmp_path / f"p{k}.npy")
        np.save(files[-1], _raw_pattern(demo_store_master, int(iy), int(ix)))
    proc = cli("layers", "--run", bg_run, "--img1", files[0], "--img2", files[1], "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "out" / "layer_differences.json").read_text())
    flats = [int(iy) * roi.shape[1] + int(ix) for iy, ix in pts]
    x = {int(i): xb for idx, xb in run.inputs(demo_store_master, samples=np.array(flats))
         for i, xb in zip(idx, xb, strict=True)}
    want = compare_layers(run.model(), x[flats[0]][None].numpy(), x[flats[1]][None].numpy())
    assert [row["layer"] for row in got["layers"]] == want.layers
    np.testing.assert_allclose([row["l2"] for row in got["layers"]], want.l2, rtol=1e-6)


def test_resume_refuses_a_pickled_state(bg_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(bg_run, run_dir)
    ckpt = Run.open(run_dir).last_state()[0]
    for name in ("state.json", "state.safetensors"):
        (ckpt / name).unlink()
    marker = tmp_path / "pwned"

    class Payload:  # unpickling this runs code: it creates the marker file
        def __reduce__(self):
            return (Path.touch, (marker,))

    (ckpt / "state.pt").write_bytes(pickle.dumps({"epoch": 0, "optimizer": Payload()}))
    proc = cli("train", "unused.zarr", "--run", run_dir, "--epochs", "2", "--resume")
    assert proc.returncode == 2
    assert "refusing to unpickle" in proc.stderr and "state.pt" in proc.stderr
    assert not marker.exists(), "the pickle was loaded"


def test_run_folder_api(bg_run: Path, tmp_path: Path) -> None:
    run = Run.open(bg_run)
    assert run.data.store == str(Path(run.data.store).resolve()) and run.data.mask == "roi"
    assert run.checkpoints() == ["epoch_0001"]
    assert run.checkpoint_path("last") == run.checkpoint_path(1) == bg_run / "checkpoints" / "epoch_0001"
    assert run.checkpoint_path("best") == bg_run / "best"
    assert [h["epoch"] for h in run.history] == [1]
    assert run.preprocess.output_range is None and not run.preprocess.in_step  # background subtraction
    assert tuple(run.model(1).config.input_shape) == run.preprocess.input_shape == (1, 60, 60)
    with pytest.raises(RunError, match="no model.safetensors"):
        run.checkpoint_path(7)
    with pytest.raises(RunError, match="not a training run"):
        Run.open(tmp_path)


def test_every_checkpoint_folder_restores_on_its_own(bg_run: Path, demo_store_master: Path, tmp_path: Path) -> None:
    """best/ and checkpoints/epoch_N hold the run's config and preprocessing: moved anywhere, each encodes
    exactly as the run does, and ``vaearr encode --run RUN/best`` works."""
    run = Run.open(bg_run)
    for folder in (bg_run / "best", bg_run / "checkpoints" / "epoch_0001"):
        assert {"model.safetensors", "config.json", "run.json", "preprocess.json"} <= {p.name for p in folder.iterdir()}
    alone = tmp_path / "alone"
    shutil.copytree(bg_run / "best", alone)  # no run folder above it
    moved = Run.open(alone)
    assert moved.checkpoint_path() == alone and moved.preprocess == run.preprocess and moved.data == run.data
    want = [(b.index, b.mu.numpy()) for b in run.encode(demo_store_master, reconstruct=False)]
    got = [(b.index, b.mu.numpy()) for b in moved.encode(demo_store_master, reconstruct=False)]
    for (i, a), (j, b) in zip(want, got, strict=True):
        np.testing.assert_array_equal(i, j)
        np.testing.assert_array_equal(a, b)

    store = tmp_path / "s.zarr"
    shutil.copytree(demo_store_master, store)
    cli("encode", store, "--run", bg_run, "--name", "whole", check=True)
    cli("encode", store, "--run", bg_run / "best", "--name", "from_best", check=True)
    ds = open_store(store)
    np.testing.assert_array_equal(ds.from_best.values, ds.whole.values)
    # a checkpoint of a run written before checkpoints held run.json: read from the run folder above it
    old = tmp_path / "old"
    shutil.copytree(bg_run, old)
    (old / "best" / "run.json").unlink()
    assert Run.open(old / "best").checkpoint_path() == old / "best" and Run.open(old / "best").data == run.data
    (alone / "run.json").unlink()
    with pytest.raises(RunError, match="without its run's config"):
        Run.open(alone)


@pytest.mark.parametrize("weights", ["uniform", "similarity"])
def test_fitting_the_preprocessing_writes_nothing_into_the_store(demo_store: Path, weights: str) -> None:
    from tests.helpers import tree_hash
    from vaearr.preprocess import PreprocessOptions, averaged_variable, fit_neighbours
    from vaearr.run import DataSpec, fit_preprocess

    data = DataSpec.resolve(demo_store, "patterns", mask="roi")
    options = PreprocessOptions(average_neighbours=3, neighbour_weights=weights, subtract_background=True,
                                standardize=True, scale=None)
    name = "patterns_avg3" if weights == "uniform" else "patterns_sim3"
    before = tree_hash(demo_store)
    with pytest.raises(Exception, match=name):
        fit_preprocess(data, options)  # the derived variable is the command's to write
    assert tree_hash(demo_store) == before
    neighbours = fit_neighbours(demo_store, "patterns", options, mask="roi", sample_dims=("y", "x"),
                                feature_dims=("py", "px"))
    assert tree_hash(demo_store) == before  # fitting the similarity weights reads only
    averaged_variable(demo_store, "patterns", neighbours, mask="roi", sample_dims=("y", "x"))
    written = tree_hash(demo_store)
    pre = fit_preprocess(data, options)
    assert tree_hash(demo_store) == written and pre.average_neighbours == 3 and pre.source_variable("patterns") == name