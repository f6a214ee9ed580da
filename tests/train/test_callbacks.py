"""vaearr.train.callbacks: the EMA's warm-up and update, early stopping's count (rebuilt from the history on a
resume), the curves' units and panels, and the preview's views of a volume.

The callbacks read a handful of a trainer's attributes; a :class:`SimpleNamespace` holding just those (and a real
model) stands in for a Trainer, whose run folder and loaders these hooks never touch.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from vaearr.train.callbacks import (
    EMA,
    Checkpointer,
    EarlyStopping,
    curve_units,
    curves_figure,
    ema_decay,
    latent_split,
    preview_figure,
    volume_views,
)
from vaearr.train.config import TrainingError


def stand_in(**attrs) -> SimpleNamespace:
    return SimpleNamespace(**{"cfg": SimpleNamespace(epochs=10), "history": [], "stop": False, "notes": [],
                              "is_main": True, "callback_state": {}, "eval_model": None, **attrs})


def test_ema_decay_warms_up_then_holds():
    assert [ema_decay(0.999, s) for s in (0, 1, 8)] == pytest.approx([0.1, 2 / 11, 0.5])
    assert ema_decay(0.9, 1000) == 0.9
    assert ema_decay(0.999, 100_000) == 0.999


def test_ema_moves_the_average_towards_the_trained_weights_and_copies_buffers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    trainer = stand_in(model=net, step=0)
    ema = EMA(0.5)
    ema.on_fit_start(trainer)
    assert trainer.eval_model is ema.model and not ema.model.training
    start = {k: v.clone() for k, v in ema.model.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(3.0)
    trainer.step = 1  # the step just taken: decay min(0.5, 1/10) = 0.1
    ema.on_batch_end(trainer, torch.zeros(1), 0.0)
    torch.testing.assert_close(ema.model[0].weight, start["0.weight"] + 0.9)
    assert ema.model[1].running_mean.tolist() == [3.0, 3.0]
    saved = ema.state_dict(trainer)
    assert saved["decay"] == 0.5 and torch.equal(saved["trained"]["0.weight"], net[0].weight)
    # a resume: the checkpoint's model file holds the average, the training state the trained weights
    resumed_net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    resumed_net.load_state_dict(ema.model.state_dict())
    resumed = stand_in(model=resumed_net, callback_state={"ema": saved})
    again = EMA(0.5)
    again.on_fit_start(resumed)
    assert torch.equal(resumed_net[0].weight, net[0].weight)
    assert torch.equal(again.model[0].weight, ema.model[0].weight)


def test_early_stopping_counts_epochs_without_improvement():
    said: list[str] = []
    stopper = EarlyStopping(2, min_delta=0.1, report=said.append)
    trainer = stand_in(best_epoch=1, best_val_loss=1.0)
    stopper.on_fit_start(trainer)
    rows = [{"train_loss": 9.0, "val_loss": 1.0}, {"train_loss": 8.0, "val_loss": 0.95}, {"train_loss": 7.0, "val_loss": 0.5}]
    stopper.on_epoch_end(trainer, 1, rows[0])
    stopper.on_epoch_end(trainer, 2, rows[1])  # 0.95 is not below 1.0 - 0.1: one epoch without
    assert not trainer.stop and stopper.wait == 1
    row = {"train_loss": 7.0, "val_loss": 0.92}
    stopper.on_epoch_end(trainer, 3, row)
    assert trainer.stop and row["early_stop"] is True
    assert said == trainer.notes == [
        "early stopping after epoch 3 of 10: the validation loss has not fallen by more than 0.1 for 2 epochs "
        "(best: epoch 1, 1)"]
    # a resumed run rebuilds the count from its history: it stops where the uninterrupted one would
    resumed = stand_in(history=[rows[0], rows[1]], best_epoch=1, best_val_loss=1.0)
    again = EarlyStopping(2, min_delta=0.1)
    again.on_fit_start(resumed)
    assert (again.best, again.wait) == (1.0, 1)
    again.on_epoch_end(resumed, 3, {"train_loss": 7.0, "val_loss": 0.92})
    assert resumed.stop


def test_early_stopping_follows_the_training_loss_without_validation_and_never_after_the_last_epoch():
    stopper = EarlyStopping(1)
    trainer = stand_in(cfg=SimpleNamespace(epochs=2), best_epoch=1, best_val_loss=2.0)
    stopper.on_fit_start(trainer)
    stopper.on_epoch_end(trainer, 1, {"train_loss": 2.0})
    stopper.on_epoch_end(trainer, 2, {"train_loss": 3.0})  # the last epoch: nothing to stop
    assert stopper.wait == 1 and not trainer.stop and not trainer.notes


def test_checkpoint_every_must_be_positive():
    with pytest.raises(TrainingError, match="^checkpoint_every must be >= 1, got 0$"):
        Checkpointer(0)


def test_curve_units_and_latent_split():
    assert curve_units("nats per sample") == {"loss": "loss (nats per sample)",
                                              "recon_loss": "reconstruction (nats per sample)",
                                              "kl": "KL (nats per sample)"}
    assert curve_units("squared error summed per sample")["loss"] == "loss (reconstruction + β·KL)"
    assert curve_units(None)["recon_loss"] == "reconstruction"
    assert latent_split({"val_active_units": 2, "train_active_units": 3}) == "val"
    assert latent_split({"train_active_units": 3}) == "train"


def test_curves_figure_has_latent_panels_only_with_vector_latents():
    rows = [{"epoch": e, "train_loss": 3.0 - e, "val_loss": 3.5 - e, "train_recon_loss": 2.0, "train_kl": 1.0,
             "val_kl_per_dim": [0.5, 0.1 * e], "val_active_units": e} for e in (1, 2)]
    fig = curves_figure(rows, "nats per sample")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "recon_loss", "kl", "KL per latent dim (val)", "active units (val, of 2)"]
    loss_axis = fig.axes[0]
    assert [line.get_label() for line in loss_axis.get_lines()] == ["train", "val"]
    assert loss_axis.get_lines()[1].get_ydata().tolist() == [2.5, 1.5]
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == ["loss (nats per sample)", "reconstruction (nats per sample)",
                                                        "KL (nats per sample)"]
    spatial = curves_figure([{k: v for k, v in r.items() if "per_dim" not in k} for r in rows])
    assert len(spatial.axes) == 3


def test_volume_views_and_the_preview_grid():
    vol = np.arange(2 * 4 * 5 * 6).reshape(2, 4, 5, 6)
    (title, middle), = volume_views(vol, None)
    assert title == "" and np.array_equal(middle, vol[:, 2])
    views = volume_views(vol, (1, 2, 3))
    assert [t for t, _ in views] == ["axial z=1", "coronal y=2", "sagittal x=3"]
    assert all(np.array_equal(a, b) for (_, a), b in zip(views, (vol[:, 1], vol[:, :, 2], vol[:, :, :, 3]), strict=True))
    x = torch.rand(3, 1, 4, 5, 6)
    fig = preview_figure(x, x * 0.5, slices=(1, 2, 3))
    assert len(fig.axes) == 2 * 3 * 3  # inputs over reconstructions, per view, per sample
    assert fig.axes[0].get_title(loc="left") == "input, axial z=1"
    images = preview_figure(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4))
    assert len(images.axes) == 4 and images.axes[0].get_images()[0].get_array().shape == (4, 4, 3)
