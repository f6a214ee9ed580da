"""vaearr.train.trainer: the optimiser, schedule and KL multiplier each option gives, the state a resume puts back,
the trainer a model with a discriminator gets, the seeding and thread pinning a run's numbers depend on, and the
device a process trains on.

A Trainer only keeps its run for the callbacks; these tests drive no epoch, so it is given none.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vaearr.models import ConvVAEConfig, build_model
from vaearr.train.config import TrainConfig, TrainingError
from vaearr.train.trainer import (
    AdversarialTrainer,
    Trainer,
    distributed_setup,
    pinned_threads,
    seed_everything,
    trainer_class,
)

CPU = torch.device("cpu")


def trainer(**options) -> Trainer:
    torch.manual_seed(0)
    model = build_model(ConvVAEConfig(input_shape=(1, 8, 8), latent_dim=2, channels=(4,)))
    return Trainer(None, TrainConfig(store="s.zarr", run="r", **options), model, device=CPU)


def test_optimizer_follows_the_options():
    adam = trainer(lr=0.01).optimizer
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["lr"] == 0.01
    adamw = trainer(optimizer="adamw", weight_decay=0.1).optimizer
    assert type(adamw) is torch.optim.AdamW and adamw.param_groups[0]["weight_decay"] == 0.1


def test_total_steps_and_the_schedules():
    t = trainer(epochs=4)
    assert t.total_steps(10) == 40
    assert trainer(epochs=4, max_steps=25).total_steps(10) == 25
    assert trainer(epochs=4, max_steps=100).total_steps(10) == 40
    cosine = t.make_scheduler(10)
    assert isinstance(cosine, torch.optim.lr_scheduler.CosineAnnealingLR) and cosine.T_max == 40
    assert t.steps_per_epoch == 10
    assert trainer(epochs=4, max_steps=25, schedule_per="epoch").make_scheduler(10).T_max == 3  # ceil(25 / 10)
    restarts = trainer(lr_schedule="cosine-restarts", cosine_t0=2, cosine_t_mult=3).make_scheduler(10)
    assert isinstance(restarts, torch.optim.lr_scheduler.CosineAnnealingWarmRestarts)
    assert (restarts.T_0, restarts.T_mult) == (20, 3)
    assert trainer(lr_schedule="none").make_scheduler(10) is None


def test_kl_weight_warm_up_and_cycles():
    assert trainer().kl_weight(0, 0) == 1.0
    warm = trainer(kl_warmup_epochs=2.0)
    warm.steps_per_epoch = 4
    assert [warm.kl_weight(e, i) for e, i in ((0, 0), (0, 2), (1, 0), (1, 2), (2, 0), (5, 3))] == [
        0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    cycles = trainer(epochs=4, kl_cycles=2)  # two cycles of 2 epochs, each ramping over its first epoch
    cycles.steps_per_epoch = 2
    got = [cycles.kl_weight(e, i) for e in range(4) for i in range(2)]
    assert got == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0]


def test_state_dict_round_trip():
    t = trainer()
    t.scheduler = t.make_scheduler(5)
    t.step, t.history, t.best_val_loss, t.best_epoch = 7, [{"epoch": 1, "train_loss": 2.0}], 2.0, 1
    state = {**t.state_dict(), "epoch": 1}
    again = trainer()
    again.scheduler = again.make_scheduler(5)
    again.load_state_dict(state)
    assert (again.start_epoch, again.step, again.history, again.best_val_loss, again.best_epoch) == (
        1, 7, [{"epoch": 1, "train_loss": 2.0}], 2.0, 1)
    assert again.scheduler.state_dict() == t.scheduler.state_dict()
    assert again.callback_state == {}


def test_trainer_class_by_model():
    pytest.importorskip("monai", reason="needs the 'models' extra (monai)")
    conv = build_model(ConvVAEConfig(input_shape=(1, 8, 8), latent_dim=2, channels=(4,)))
    assert trainer_class(conv) is Trainer
    vae3d = {"name": "vae3d", "input_shape": [1, 8, 8, 8], "channels": [8, 8], "norm_num_groups": 4,
             "backbone": "monai"}
    assert trainer_class(build_model(vae3d)) is Trainer  # no discriminator: trains as any VAE
    gan = build_model({**vae3d, "adversarial_weight": 0.1, "discriminator_layers": 1, "discriminator_channels": 4,
                       "adversarial_warmup_epochs": 1})
    assert trainer_class(gan) is AdversarialTrainer
    t = AdversarialTrainer(None, TrainConfig(store="s", run="r", model="vae3d"), gan, device=CPU)
    assert {id(p) for p in t.params}.isdisjoint(id(p) for p in gan.discriminator.parameters())
    assert t.loss_options(0) == {} and t.loss_options(1) == {"adversarial": 1.0}
    assert "optimizer_d" in t.state_dict()


def test_seed_everything_repeats_every_generator():
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(3)
    first = draws()
    seed_everything(3)
    assert draws() == first
    seed_everything(2**32 + 3)  # numpy takes the seed modulo 2**32
    assert draws()[1] == first[1]


def test_pinned_threads_sets_and_restores_torchs_count():
    before = torch.get_num_threads()
    with pinned_threads(None) as n:
        assert n == before
    with pinned_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_distributed_setup_on_one_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed_setup("cpu") == (0, 1, CPU)
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="^`device` cuda:1: CUDA is not available on this machine$"):
            distributed_setup("cuda:1")
