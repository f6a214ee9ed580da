"""vaearr.models.likelihoods: each output head's activation, its loss against the formula, its units, and the one
line it says when the data range does not suit it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as F

from vaearr.errors import InputError
from vaearr.models.base import VAEOutput
from vaearr.models.likelihoods import LIKELIHOODS, Gaussian, LinearMSE, SigmoidBCE, TanhMSE


def output(recon: torch.Tensor, **extras: torch.Tensor) -> VAEOutput:
    zeros = torch.zeros(recon.shape[0], 2)
    return VAEOutput(recon=recon, mu=zeros, logvar=zeros, z=zeros, extras=dict(extras))


def test_heads_by_name_with_their_activations_and_units():
    assert set(LIKELIHOODS.names()) == {"gaussian", "linear-mse", "sigmoid-bce", "tanh-mse"}
    assert LIKELIHOODS["sigmoid-bce"] is SigmoidBCE and LIKELIHOODS["gaussian"] is Gaussian
    logits = torch.tensor([-2.0, 0.0, 3.0])
    torch.testing.assert_close(SigmoidBCE.activation(logits), 1 / (1 + torch.exp(-logits)))
    torch.testing.assert_close(TanhMSE.activation(logits), torch.tanh(logits))
    assert LinearMSE.activation(logits) is logits and Gaussian.activation(logits) is logits
    assert SigmoidBCE.units == Gaussian.units == "nats per sample"
    assert TanhMSE.units == LinearMSE.units == "squared error summed per sample"
    assert Gaussian.has_sigma and not SigmoidBCE.has_sigma


def test_range_problems_name_the_head_and_the_range():
    assert SigmoidBCE.range_problem("sigmoid-bce", "[-1,1]") == (
        "output 'sigmoid-bce' needs data in [0,1] (BCE targets), but data_range is [-1,1]; use 'tanh-mse' or "
        "'linear-mse'")

    class Bounded(LinearMSE):
        data_ranges = ("[0,1]", "[-1,1]")

    assert Bounded.range_problem("bounded", "standardized") == (
        "output 'bounded' needs data in [0,1] or [-1,1], but data_range is standardized")


def test_squared_error_heads_sum_per_sample():
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    out = output(torch.tensor([[1.0, 1.0], [0.0, -1.0]]))
    # per sample: 1, 1 + 4; mean over the batch
    assert float(TanhMSE.loss(None, x, out)) == float(LinearMSE.loss(None, x, out)) == 3.0


def test_sigmoid_bce_uses_the_logits_when_it_has_them_and_refuses_targets_outside_0_1():
    x = torch.tensor([[0.0, 1.0, 0.25]])
    logits = torch.tensor([[-1.0, 2.0, 0.5]])
    by_hand = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    got = SigmoidBCE.loss(None, x, output(torch.sigmoid(logits), logits=logits))
    assert float(got) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(SigmoidBCE.loss(None, x, output(torch.sigmoid(logits)))) == pytest.approx(float(by_hand), rel=1e-5)
    with pytest.raises(InputError, match=r"needs inputs in \[0, 1\], got values in \[-0\.5, 1\]; normalise"):
        SigmoidBCE.loss(None, torch.tensor([[-0.5, 1.0]]), output(torch.zeros(1, 2)))


def test_gaussian_head_with_a_fixed_and_a_learned_sigma():
    x = torch.tensor([[1.0, 2.0]])
    recon = torch.tensor([[0.0, 2.0]])
    fixed = SimpleNamespace(config=SimpleNamespace(sigma=2.0))
    out = output(recon)
    expected = -torch.distributions.Normal(recon, 2.0).log_prob(x).sum()
    assert float(Gaussian.loss(fixed, x, out)) == pytest.approx(float(expected), rel=1e-6)
    assert float(out.extras["sigma"]) == pytest.approx(2.0)  # the σ it used, for the training log
    learned = SimpleNamespace(config=SimpleNamespace(sigma=None), log_sigma=torch.tensor(math.log(0.5)))
    out = output(recon)
    expected = -torch.distributions.Normal(recon, 0.5).log_prob(x).sum()
    assert float(Gaussian.loss(learned, x, out)) == pytest.approx(float(expected), rel=1e-6)
    assert float(out.extras["sigma"]) == pytest.approx(0.5)
