"""Training options from the scripts: early stopping, a weight average (EMA), cosine warm restarts, a random subset,
a step budget, wandb."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from safetensors.numpy import load_file

from tests.helpers import cli
from vaearr.batches import ZarrBatches
from vaearr.checkpoint import load_state
from vaearr.errors import VaearrError
from vaearr.progress import format_loss
from vaearr.run import Run
from vaearr.store import write_variable
from vaearr.train import TrainConfig, fit
from vaearr.train.loaders import build_loaders
from vaearr.train.step import evaluate

SMALL = {"channels": [8, 16]}


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """300 of sklearn's 8×8 digits (real scans of handwriting), uint8, in chunks of 60."""
    from sklearn.datasets import load_digits

    d = load_digits()
    path = tmp_path_factory.mktemp("digits") / "digits.zarr"
    images = xr.DataArray((d.images[:300] * 15).astype(np.uint8), dims=("sample", "row", "col"),
                          coords={"label": ("sample", d.target[:300])})
    write_variable(path, "images", images, chunks={"images": (60, 8, 8)})
    return path


def _cfg(store: Path, run: Path, **kw) -> TrainConfig:
    base = dict(store=str(store), run=str(run), var="images", epochs=2, batch_size=32, latent_dim=4,
                model_options=SMALL, lr=3e-3, tensorboard=False, previews=0, seed=3)
    return TrainConfig(**{**base, **kw})


def test_early_stopping_stops_says_so_and_records_it(digits: Path, tmp_path: Path) -> None:
    said: list[str] = []
    # a fall of 1e6 never counts: the loss "has not improved" after the first epoch
    result = fit(_cfg(digits, tmp_path / "r", epochs=6, patience=2, min_delta=1e6), progress=False, report=said.append)
    assert len(result.history) == 3
    assert [h.get("early_stop", False) for h in result.history] == [False, False, True]
    line = [s for s in said if s.startswith("early stopping")]
    assert line == ["early stopping after epoch 3 of 6: the validation loss has not fallen by more than 1e+06 for "
                    f"2 epochs (best: epoch {result.best_epoch}, {format_loss(result.best_val_loss)})"]
    assert line[0] in result.notes
    run = tmp_path / "r"
    assert json.loads((run / "history.json").read_text())[-1]["early_stop"] is True
    assert (run / "checkpoints" / "latest").read_text() == "epoch_0003"  # the stopping epoch is checkpointed
    assert json.loads((run / "config.json").read_text())["train"]["patience"] == 2


def test_early_stopping_off_and_patient_enough_trains_all_epochs(digits: Path, tmp_path: Path) -> None:
    result = fit(_cfg(digits, tmp_path / "r", epochs=3, patience=5), progress=False)
    assert len(result.history) == 3 and not any("early_stop" in h for h in result.history)


def test_ema_weights_are_validated_and_saved_the_trained_ones_kept(digits: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    result = fit(_cfg(digits, run_dir, ema=0.9), progress=False)
    ckpt = run_dir / "checkpoints" / "epoch_0002"
    averaged = load_file(ckpt / "model.safetensors")
    trained = load_state(ckpt)["callbacks"]["ema"]["trained"]
    assert averaged.keys() == {k for k in trained if k in averaged}
    differ = [k for k in averaged if not np.array_equal(averaged[k], trained[k].numpy())]
    assert len(differ) > len(averaged) // 2, "the checkpoint's model is the average, not the trained weights"
    # the history's validation loss is the saved (averaged) model's
    run = Run.open(run_dir)
    cfg = TrainConfig.from_dict(run.train)
    _, val, on_device = build_loaders(run, cfg)
    model = run.model(2)
    val_loss = evaluate(model, val, torch.device("cpu"), on_device=on_device)["loss"]
    assert val_loss == pytest.approx(result.history[-1]["val_loss"], rel=1e-5)
    # and the trained weights, loaded instead, give another loss
    model.load_state_dict(trained)
    assert evaluate(model, val, torch.device("cpu"), on_device=on_device)["loss"] != pytest.approx(val_loss, rel=1e-5)


def test_ema_resume_is_exact(digits: Path, tmp_path: Path) -> None:
    kw = dict(ema=0.95, lr_schedule="none", patience=3)
    fit(_cfg(digits, tmp_path / "full", epochs=4, **kw), progress=False)
    fit(_cfg(digits, tmp_path / "cut", epochs=2, **kw), progress=False)
    fit(_cfg(digits, tmp_path / "cut", epochs=4, **kw), resume=True, progress=False)
    a = tmp_path / "full" / "checkpoints" / "epoch_0004"
    b = tmp_path / "cut" / "checkpoints" / "epoch_0004"
    ma, mb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert ma.keys() == mb.keys()
    for k in ma:
        np.testing.assert_array_equal(ma[k], mb[k], err_msg=k)
    ta, tb = (load_state(p)["callbacks"]["ema"]["trained"] for p in (a, b))
    for k in ta:
        torch.testing.assert_close(ta[k], tb[k], rtol=0, atol=0, msg=k)
    ha = json.loads((tmp_path / "full" / "history.json").read_text())
    hb = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [h["val_loss"] for h in ha] == [h["val_loss"] for h in hb]


def test_cosine_warm_restarts_follow_torch(digits: Path, tmp_path: Path) -> None:
    lr = 1e-3
    result = fit(_cfg(digits, tmp_path / "r", epochs=4, lr=lr, lr_schedule="cosine-restarts", schedule_per="epoch",
                      cosine_t0=1, cosine_t_mult=2), progress=False)
    # cycles of 1, 2 and 4 epochs: a restart after epochs 1 and 3
    half = lambda t, T: 0.5 * lr * (1 + math.cos(math.pi * t / T))  # noqa: E731
    assert [h["lr"] for h in result.history] == pytest.approx([lr, half(1, 2), lr, half(1, 4)])


def test_cosine_restarts_from_the_command_line(digits: Path, tmp_path: Path) -> None:
    proc = cli("train", digits, "--run", tmp_path / "r", "--var", "images", "--epochs", "2", "--latent-dim", "2",
                   "-o", "channels=[8,16]", "--lr-schedule", "cosine-restarts", "--cosine-t0", "1",
                   "--schedule-per", "epoch", "--subset", "40", "--no-tensorboard", "--previews", "0", check=True)
    assert "training subset (--subset): 40 of the 240 training samples, a random choice (seed 0)" in proc.stdout
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert [h["lr"] for h in history] == pytest.approx([1e-3, 1e-3])  # restarted after every epoch
    assert [h["samples"] for h in history] == [40, 40]


def test_subset_is_a_seeded_choice_of_training_samples(digits: Path, tmp_path: Path) -> None:
    notes: list[str] = []
    result = fit(_cfg(digits, tmp_path / "r", subset=50), progress=False, report=notes.append)
    assert [h["samples"] for h in result.history] == [50, 50]
    assert "training subset (`subset`): 50 of the 240 training samples, a random choice (seed 3)" in notes
    run = Run.open(tmp_path / "r")
    assert run.train["subset"] == 50
    # the choice: training samples only, the same for the same seed, another for another seed

    def chosen(seed: int) -> set[int]:
        cfg = TrainConfig.from_dict({**run.train, "seed": seed})
        train, val, _ = build_loaders(run, cfg)
        loader = ZarrBatches(run.data.store, train.spec, return_index=True, shuffle=False, transforms=())
        ids = set(torch.cat([i for _, i in loader]).tolist())
        val_ids = set(torch.cat([i for _, i in ZarrBatches(run.data.store, val.spec, return_index=True,
                                                           transforms=())]).tolist())
        assert len(ids) == 50 and not ids & val_ids
        return ids

    assert chosen(3) == chosen(3) != chosen(4)


def test_max_steps_cuts_the_last_epoch_short_and_the_cosine_spans_the_steps(digits: Path, tmp_path: Path) -> None:
    lr = 3e-3
    # 240 training samples in batches of 32: 8 steps an epoch; 19 steps end 3 steps into epoch 3
    result = fit(_cfg(digits, tmp_path / "r", epochs=6, max_steps=19, lr=lr), progress=False)
    assert [h["step"] for h in result.history] == [8, 16, 19]
    assert [h["samples"] for h in result.history] == [240, 240, 96]
    assert result.history[-1]["max_steps_reached"] is True
    half = lambda t, T: 0.5 * lr * (1 + math.cos(math.pi * t / T))  # noqa: E731
    assert [h["lr"] for h in result.history] == pytest.approx([half(8, 19), half(16, 19), 0.0], abs=1e-12)
    run = tmp_path / "r"
    assert (run / "checkpoints" / "latest").read_text() == "epoch_0003"  # the cut epoch is checkpointed
    assert json.loads((run / "config.json").read_text())["train"]["max_steps"] == 19
    with pytest.raises(VaearrError, match=r"has trained its 19 steps \(`max_steps`\) already"):
        fit(_cfg(digits, run, epochs=8, max_steps=19, lr=lr), resume=True, progress=False)


def test_max_steps_beyond_the_epochs_changes_nothing(digits: Path, tmp_path: Path) -> None:
    plain = fit(_cfg(digits, tmp_path / "a"), progress=False)
    capped = fit(_cfg(digits, tmp_path / "b", max_steps=1000), progress=False)
    assert [h["train_loss"] for h in capped.history] == [h["train_loss"] for h in plain.history]
    assert [h["lr"] for h in capped.history] == [h["lr"] for h in plain.history]
    assert not any("max_steps_reached" in h for h in capped.history)


def test_max_steps_from_the_command_line(digits: Path, tmp_path: Path) -> None:
    cli("train", digits, "--run", tmp_path / "r", "--var", "images", "--epochs", "4", "--latent-dim", "2",
            "-o", "channels=[8,16]", "--batch-size", "48", "--max-steps", "5", "--no-tensorboard", "--previews", "0",
            check=True)
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert [h["step"] for h in history] == [5]  # 240 / 48 = 5 steps: all of epoch 1, none of 2
    proc = cli("train", digits, "--run", tmp_path / "bad", "--var", "images", "--max-steps", "0")
    assert proc.returncode != 0 and proc.stderr.strip().splitlines() == ["error: --max-steps must be at least 1, got 0"]
    assert not (tmp_path / "bad").exists()


def test_bf16_autocast_on_a_cpu_only_when_asked(digits: Path, tmp_path: Path) -> None:
    none = fit(_cfg(digits, tmp_path / "none", amp="none"), progress=False)
    auto = fit(_cfg(digits, tmp_path / "auto"), progress=False)
    bf16 = fit(_cfg(digits, tmp_path / "bf16", amp="bf16"), progress=False)
    assert [h["train_loss"] for h in auto.history] == [h["train_loss"] for h in none.history]  # auto: none on a CPU
    losses = [h["train_loss"] for h in bf16.history]
    assert all(math.isfinite(v) for v in losses)
    assert losses != [h["train_loss"] for h in none.history]  # the forward ran in bfloat16
    assert abs(losses[-1] - none.history[-1]["train_loss"]) < 0.05 * abs(none.history[-1]["train_loss"])


@pytest.mark.parametrize("option, message", [
    (dict(patience=-1), "patience must be at least 0"),
    (dict(min_delta=-0.1), "min_delta must be at least 0"),
    (dict(ema=1.0), "ema must be in [0, 1)"),
    (dict(ema=-0.5), "ema must be in [0, 1)"),
    (dict(subset=0), "subset must be at least 1"),
    (dict(max_steps=0), "max_steps must be at least 1"),
    (dict(amp="fp32"), "amp must be one of auto, bf16, fp16, none, got 'fp32'"),
    (dict(amp="fp16"), "`amp='fp16'` is for CUDA; on a CPU use `amp='bf16'` (or none)"),
    (dict(subset=241), "subset must be 1..240 (the training samples), got 241"),
    (dict(lr_schedule="cosine-warm"), "lr_schedule must be one of cosine, cosine-restarts, none"),
    (dict(lr_schedule="cosine-restarts", cosine_t0=0), "cosine_t0 must be at least 1"),
])
def test_bad_values_are_refused_before_a_run_is_written(digits: Path, tmp_path: Path, option: dict,
                                                        message: str) -> None:
    with pytest.raises(VaearrError) as info:
        fit(_cfg(digits, tmp_path / "r", **option), progress=False)
    assert message in str(info.value) and "--" not in str(info.value)  # fields and keywords, not flags
    assert not (tmp_path / "r").exists()


def test_bad_values_on_the_command_line_are_one_line(digits: Path, tmp_path: Path) -> None:
    proc = cli("train", digits, "--run", tmp_path / "r", "--var", "images", "--ema", "1.5", "--patience", "-2")
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.splitlines() == [err] and "--patience must be at least 0" in err and "--ema" in err
    assert not (tmp_path / "r").exists()


def test_wandb_missing_is_one_clear_line(digits: Path, tmp_path: Path) -> None:
    # wandb made unimportable in the child process (as where the extra is not installed)
    code = ("import sys; sys.modules['wandb'] = None; from vaearr.cli import main; "
            f"sys.argv = ['vaearr', 'train', {str(digits)!r}, '--run', {str(tmp_path / 'r')!r}, '--var', 'images', "
            "'--wandb']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "VAEARR_PROGRESS": "off"})
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.splitlines() == [err] and "pip install 'vaearr[wandb]'" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="needs the 'wandb' extra")
def test_wandb_offline_logs_reconstruction_grids(digits: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    fit(_cfg(digits, tmp_path / "r", wandb=True, previews=4), progress=False)
    runs = list((tmp_path / "r" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    images = sorted((runs[0] / "files" / "media" / "images").glob("reconstructions_*.png"))
    assert len(images) == 2  # one grid per epoch
    from PIL import Image

    with Image.open(images[-1]) as im:
        assert im.size[0] > 200 and im.size[1] > 100
