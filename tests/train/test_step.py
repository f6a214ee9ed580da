"""vaearr.train.step: the autocast each ``amp`` gives, one optimisation step (clipped, stopped on a non-finite loss),
the batch onto the device, and an evaluation pass whose means are the per-sample means of its batches."""

from __future__ import annotations

import contextlib

import pytest
import torch

from vaearr.models import ConvVAEConfig, build_model
from vaearr.train.config import TrainingError
from vaearr.train.step import allreduce_mean, allreduce_sum, autocast_for, evaluate, to_device, train_step, unwrap


def small_model():
    torch.manual_seed(0)
    return build_model(ConvVAEConfig(input_shape=(1, 8, 8), latent_dim=2, channels=(4,)))


def test_autocast_for_each_amp():
    cpu = torch.device("cpu")
    for amp in ("auto", "none"):
        context, scaler = autocast_for(cpu, amp)
        assert isinstance(context, contextlib.nullcontext) and scaler is None
    context, scaler = autocast_for(cpu, "bf16")
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16 and scaler is None
    assert isinstance(autocast_for(torch.device("meta"), "bf16")[0], contextlib.nullcontext)


def test_train_step_moves_the_weights_and_clips_the_gradient():
    model = small_model()
    x = torch.rand(4, 1, 8, 8)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    losses, value = train_step(model, x, optimizer, list(model.parameters()), grad_clip=1e-3)
    assert value == float(losses.loss.detach())
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)])
    assert float(moved.norm()) == pytest.approx(1e-3, rel=1e-3)  # lr 1 × a gradient clipped to norm 1e-3


def test_a_non_finite_loss_stops_training_naming_where():
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    x = torch.rand(2, 1, 8, 8)
    x[0, 0, 0, 0] = float("nan")  # one bad pixel
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(TrainingError, match=r"^loss became nan at epoch 3, batch 7; lower `lr` or check the inputs "
                                            r"for NaN$"):
        train_step(model, x, optimizer, [], where="epoch 3, batch 7")
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))  # no step taken


def test_to_device_applies_the_transform_left_for_it_and_makes_floats():
    batch = torch.tensor([[0, 255]], dtype=torch.uint8)
    assert to_device(batch, torch.device("cpu")).dtype == torch.float32
    scaled = to_device(batch, torch.device("cpu"), on_device=lambda t: t.float() / 255)
    assert scaled.tolist() == [[0.0, 1.0]]


def test_sums_and_means_on_one_process():
    assert allreduce_sum(2.5, distributed=False) == 2.5
    assert allreduce_mean(9.0, 3, distributed=False) == 3.0
    assert allreduce_mean(0.0, 0, distributed=False) == 0.0
    model = small_model()
    wrapped = torch.nn.Module()
    wrapped.module = model
    assert unwrap(wrapped) is model and unwrap(model) is model


def test_evaluate_weights_each_batch_by_its_samples():
    model = small_model()
    batches = [torch.rand(3, 1, 8, 8), torch.rand(1, 1, 8, 8)]
    got = evaluate(model, batches, torch.device("cpu"), prefix="val_")
    assert not model.training
    with torch.no_grad():
        outs = [model(x) for x in batches]
    for key in ("loss", "recon_loss", "kl"):
        expected = (3 * float(getattr(outs[0], key)) + float(getattr(outs[1], key))) / 4
        assert got[f"val_{key}"] == pytest.approx(expected, rel=1e-6)
    assert len(got["val_kl_per_dim"]) == 2 and 0 <= got["val_active_units"] <= 2
    assert evaluate(model, [], torch.device("cpu")) == {} and evaluate(model, None, torch.device("cpu")) == {}
