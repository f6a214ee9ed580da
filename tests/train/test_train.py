"""Training from the store: a few epochs on real data, exact resume after SIGKILL, NaN guard, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli
from vaearr.store import write_variable
from vaearr.train import TrainConfig, TrainingError, fit

SMALL = {"channels": [8, 16]}


@pytest.fixture(scope="module")
def digits_store(tmp_path_factory) -> Path:
    """sklearn's 8×8 digits (real scans of handwriting) as an image store, uint8 0..240."""
    from sklearn.datasets import load_digits

    d = load_digits()
    path = tmp_path_factory.mktemp("digits") / "digits.zarr"
    images = xr.DataArray((d.images * 15).astype(np.uint8), dims=("sample", "row", "col"),
                          coords={"label": ("sample", d.target)})
    write_variable(path, "images", images, chunks={"images": (128, 8, 8)})
    return path


def _state(run: Path, ckpt: str = "best") -> dict:
    from safetensors.numpy import load_file

    folder = run / ckpt if ckpt == "best" else run / "checkpoints" / ckpt
    return load_file(folder / "model.safetensors")


def test_digits_few_epochs_loss_falls(digits_store: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(store=str(digits_store), run=str(tmp_path / "run"), var="images", epochs=3, batch_size=64,
                      latent_dim=4, model_options=SMALL, lr=3e-3)
    result = fit(cfg, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    run = tmp_path / "run"
    for name in ("config.json", "history.json", "history.csv", "curves.png", "best/model.safetensors"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.is_dir()) == [
        "epoch_0001", "epoch_0002", "epoch_0003"]
    assert (run / "previews" / "epoch_0003.png").stat().st_size > 1000
    assert list((run / "tb").iterdir()), "tensorboard logs"
    history = json.loads((run / "history.json").read_text())
    assert history[-1]["val_loss"] == pytest.approx(result.history[-1]["val_loss"])
    # every training sample is seen once per epoch
    assert {h["samples"] for h in history} == {history[0]["samples"]}


def test_demo_map_trains_inside_roi(demo_store: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(store=str(demo_store), run=str(tmp_path / "run"), epochs=2, batch_size=128, latent_dim=4,
                      resize=32, model_options=SMALL, lr=3e-3)
    result = fit(cfg, progress=False)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    data = config["data"]
    assert data["mask"] == "roi" and data["sample_dims"] == ["y", "x"] and data["feature_dims"] == ["py", "px"]
    assert data["store"] == str(demo_store.resolve())
    assert config["model"]["input_shape"] == [1, 32, 32]
    from vaearr.store import open_store

    n_roi = int(open_store(demo_store).roi.sum())
    seen = result.history[0]["samples"]
    assert 0.5 * n_roi < seen < n_roi  # the rest is the validation split
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def _train_cmd(store: Path, run: Path, epochs: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vaearr", "train", str(store), "--run", str(run), "--var", "images",
            "--epochs", str(epochs), "--latent-dim", "4", "--batch-size", "32", "-o", "channels=[8,16]",
            "--lr", "3e-3", "--seed", "7", *extra]


def test_sigkill_after_checkpoint_then_resume_is_exact(digits_store: Path, tmp_path: Path) -> None:
    env = {**os.environ, "VAEARR_PROGRESS": "off", "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run(_train_cmd(digits_store, full, 4), check=True, env=env, capture_output=True)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(_train_cmd(digits_store, cut, 4), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not (cut / "checkpoints" / "epoch_0002" / "state.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut / "checkpoints" / "epoch_0004").exists(), "killed too late to test a resume"
    resumed = subprocess.run(_train_cmd(digits_store, cut, 4, "--resume"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a, b = _state(full, "epoch_0004"), _state(cut, "epoch_0004")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ha = json.loads((full / "history.json").read_text())
    hb = json.loads((cut / "history.json").read_text())
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]


def test_nan_guard_names_the_step(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((64, 8, 8), dtype=np.float32)
    data[40, 3, 3] = np.nan
    store = tmp_path / "nan.zarr"
    write_variable(store, "images", xr.DataArray(data, dims=("sample", "row", "col")), chunks={"images": (64, 8, 8)})
    cfg = TrainConfig(store=str(store), run=str(tmp_path / "run"), var="images", epochs=1, batch_size=16,
                      latent_dim=2, model_options=SMALL, val_fraction=0.0, scale="[0,1]", seed=0)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, step \d+"):
        fit(cfg, progress=False)


def test_cli_errors_are_one_line(digits_store: Path, tmp_path: Path) -> None:
    proc = cli("train", digits_store, "--run", tmp_path / "r", "--var", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "no variable 'nope'" in proc.stderr
    proc = cli("train", digits_store, "--run", tmp_path / "r", "--var", "images", "--model", "nope")
    assert proc.returncode == 2 and "unknown model 'nope'" in proc.stderr
    proc = cli("train", digits_store, "--run", tmp_path / "r2", "--var", "images", "--resume")
    assert proc.returncode == 2 and "no checkpoint to resume from" in proc.stderr


def test_torchrun_ddp_two_gloo_processes(digits_store: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "vaearr",
           "train", str(digits_store), "-r", str(run), "--var", "images", "--epochs", "2", "--latent-dim", "4",
           "--batch-size", "32", "-o", "channels=[8,16]"]
    env = {**os.environ, "VAEARR_PROGRESS": "off", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 2
    single = fit(TrainConfig(store=str(digits_store), run=str(tmp_path / "one"), var="images", epochs=1,
                             batch_size=32, latent_dim=4, model_options=SMALL), progress=False)
    # the two ranks together see the training split once per epoch (each its own shard)
    assert history[0]["samples"] == pytest.approx(single.history[0]["samples"], rel=0.1)
    assert (run / "checkpoints" / "epoch_0002" / "model.safetensors").exists()


def test_vae3d_two_stages_on_a_real_volume(tmp_path: Path) -> None:
    """MAISI-style 3D VAE on random 16³ patches of a real MRI (nibabel's anatomical.nii), warm-up then adversarial."""
    import nibabel as nib
    import nibabel.testing

    img = nib.load(Path(nibabel.testing.data_path) / "anatomical.nii")
    vol = np.asarray(img.dataobj, dtype=np.float32).transpose(2, 1, 0)  # (z, y, x)
    store = tmp_path / "vol.zarr"
    vols = np.stack([vol, vol[:, :, ::-1].copy()])
    write_variable(store, "volumes", xr.DataArray(vols, dims=("subject", "z", "y", "x")), chunks={"volumes": (1, *vol.shape)})
    cfg = TrainConfig(store=str(store), run=str(tmp_path / "run"), var="volumes", model="vae3d", epochs=2,
                      batch_size=2, patch=(16, 16, 16), val_fraction=0.0, lr=1e-3,
                      model_options={"channels": [8, 16], "num_res_blocks": 1, "latent_channels": 2,
                                     "norm_num_groups": 4, "adversarial_weight": 0.1, "adversarial_warmup_epochs": 1,
                                     "backbone": "monai", "discriminator_channels": 8, "discriminator_layers": 2})
    result = fit(cfg, progress=False)
    h = result.history
    assert "train_discriminator" not in h[0]  # stage 1: reconstruction only
    assert np.isfinite(h[1]["train_discriminator"])  # stage 2: adversarial
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["input_shape"] == [1, 16, 16, 16]


def test_autoencoder_kl_tiny_on_digits(digits_store: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(store=str(digits_store), run=str(tmp_path / "run"), var="images", model="autoencoder-kl",
                      epochs=1, batch_size=64, scale="[-1,1]", resize=16, model_options={"preset": "tiny"})
    result = fit(cfg, progress=False)
    assert np.isfinite(result.history[0]["train_loss"])
    from vaearr.models import load_model

    model = load_model(tmp_path / "run" / "best")
    assert model.config.name == "autoencoder-kl" and tuple(model.config.input_shape) == (1, 16, 16)


@pytest.mark.parametrize("options", [dict(), dict(crop=6), dict(standardize=True), dict(scale="[-1,1]"),
                                     dict(augment=True)])
def test_loaders_leave_scaling_to_the_step_and_give_the_same_batches(digits_store: Path, tmp_path: Path,
                                                                      options) -> None:
    """The loaders vaearr train builds hand out uint8 and the scaling runs in the step, after the
    copy to the device (cuda, or the CPU as here); the batches the model gets are the ones the
    loaders make when they transform on the host (defer=False)."""
    import torch

    from vaearr.train import build_loaders, open_or_create_run, to_device

    common = dict(store=str(digits_store), run=str(tmp_path / "run"), var="images", batch_size=50, **options)

    def loaders(device: str, defer: bool = True):
        run, cfg, _ = open_or_create_run(TrainConfig(device=device, **common), resume=False, write=False)
        return build_loaders(run, cfg, 0, 1, defer=defer)

    host, cuda, cpu = loaders("cpu", defer=False), loaders("cuda"), loaders("cpu")
    assert (cpu[2] is None) == (cuda[2] is None)
    assert host[2] is None
    deferred = not options.get("augment")  # random augmentations stay on the host
    assert (cuda[2] is not None) == deferred
    for h_loader, c_loader in ((host[0], cuda[0]), (host[1], cuda[1])):
        h_batches = list(h_loader)
        c_batches = list(c_loader)
        assert len(h_batches) == len(c_batches) > 1
        for h, c in zip(h_batches, c_batches):
            assert h.dtype == torch.float32
            assert c.dtype == (torch.uint8 if deferred else torch.float32)
            got = to_device(c, torch.device("cpu"), cuda[2])
            assert got.dtype == torch.float32 and got.shape == h.shape
            torch.testing.assert_close(got, h, rtol=1e-6, atol=1e-6)
