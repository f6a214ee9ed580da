"""vaearr.models.losses: the KL terms, the reconstruction losses and their units, the reparameterised draw and the
adversarial objectives, each checked against the formula written out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from vaearr.models.losses import (
    ADVERSARIAL_LOSSES,
    NATS,
    discriminator_adversarial_loss,
    gaussian_nll,
    generator_adversarial_loss,
    kl_divergence,
    kl_per_dim,
    loss_units,
    reconstruction_loss,
    reparameterise,
)


def test_kl_is_summed_per_sample_and_averaged_over_the_batch():
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # sample 0: 0.5*(1) + 0.5*(2 - 1 - ln 2); sample 1: 0
    expected = (0.5 + 0.5 * (1 - math.log(2.0))) / 2
    assert float(kl_divergence(mu, logvar)) == pytest.approx(expected)
    # spatial latents: every element of a sample counts
    assert float(kl_divergence(torch.ones(3, 4, 2, 2), torch.zeros(3, 4, 2, 2))) == pytest.approx(0.5 * 16)


def test_kl_per_dim_sums_to_the_kl_and_stays_finite_in_half_precision():
    mu = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0), 0.0], [0.0, 0.0, math.log(0.5)]])
    per_dim = kl_per_dim(mu, logvar)
    by_hand = [(0.5 + 4.5) / 2, 0.5 * (1 - math.log(2.0)) / 2, (2.0 + 0.5 * (0.5 - 1 - math.log(0.5))) / 2]
    assert per_dim.tolist() == pytest.approx(by_hand)
    assert float(per_dim.sum()) == pytest.approx(float(kl_divergence(mu, logvar)))
    # exp(12) overflows float16 (max 65504): the KL is computed in float32
    big = kl_divergence(torch.zeros(1, 1, dtype=torch.float16), torch.full((1, 1), 12.0, dtype=torch.float16))
    assert big.dtype == torch.float32 and float(big) == pytest.approx(0.5 * (math.exp(12) - 13), rel=1e-5)


def test_gaussian_nll_is_the_normal_density_summed_per_sample():
    pred = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    target = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    sigma = 0.5
    normal = torch.distributions.Normal(pred, sigma)
    expected = -normal.log_prob(target).sum(dim=1).mean()
    got = gaussian_nll(pred, target, torch.tensor(math.log(sigma)))
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


def test_reconstruction_loss_reductions():
    x = torch.zeros(2, 1, 2, 2)
    pred = torch.ones(2, 1, 2, 2)
    assert float(reconstruction_loss(pred, x, "mse", "sum")) == 4.0  # per image
    assert float(reconstruction_loss(pred, x, "mse", "mean")) == 1.0  # per pixel
    # zero logits against a 0/1 target: ln 2 nats per pixel
    assert float(reconstruction_loss(torch.zeros(2, 1, 2, 2), x, "bce_logits")) == pytest.approx(4 * math.log(2))


def test_reconstruction_loss_kinds_against_torch():
    pred = torch.tensor([[0.2, 0.9, 0.5], [0.7, 0.1, 0.4]])
    target = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5]])
    assert float(reconstruction_loss(pred, target, "l1")) == pytest.approx((0.2 + 0.1 + 0.5 + 0.3 + 0.1 + 0.1) / 2)
    bce = F.binary_cross_entropy(pred, target, reduction="sum") / 2
    assert float(reconstruction_loss(pred, target, "bce")) == pytest.approx(float(bce), rel=1e-6)
    logits = torch.logit(pred)
    assert float(reconstruction_loss(logits, target, "bce_logits")) == pytest.approx(float(bce), rel=1e-5)
    # saturated probabilities stay finite (clamped to 1e-6 away from 0 and 1)
    assert math.isfinite(float(reconstruction_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]), "bce")))


def test_reconstruction_loss_refuses_unknown_kinds_and_reductions():
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match=r"unknown reconstruction loss 'huber'; use bce_logits, bce, mse, l1"):
        reconstruction_loss(x, x, "huber")
    with pytest.raises(ValueError, match=r"unknown reduction 'max'; use 'sum' or 'mean'"):
        reconstruction_loss(x, x, "mse", "max")


def test_loss_units():
    assert loss_units("bce") == NATS == "nats per sample"
    assert loss_units("bce_logits", "mean") == "nats per element"
    assert loss_units("mse") == "squared error summed per sample"
    assert loss_units("mse", "mean") == "squared error, mean per element"
    assert loss_units("perceptual") == "perceptual summed per sample"  # a kind it has no word for: its name


def test_reparameterise_draws_mu_plus_sigma_times_the_generators_normal():
    mu, logvar = torch.tensor([[1.0, -2.0, 0.0]]), torch.tensor([[0.0, math.log(4.0), math.log(0.25)]])
    eps = torch.randn(1, 3, generator=torch.Generator().manual_seed(7))
    z = reparameterise(mu, logvar, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(z, mu + torch.tensor([[1.0, 2.0, 0.5]]) * eps)
    # differentiable in both parameters
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    reparameterise(mu, logvar, generator=torch.Generator().manual_seed(7)).sum().backward()
    assert mu.grad.tolist() == [[1.0, 1.0, 1.0]]
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)


def test_adversarial_losses_by_hand():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    assert ADVERSARIAL_LOSSES == ("ls", "hinge", "ns")  # registration order: ls the default
    leaky = torch.tensor([0.5, -0.15])  # LeakyReLU(0.05) of fake
    assert float(generator_adversarial_loss(fake, "ls")) == pytest.approx(float(((leaky - 1) ** 2).mean()))
    assert float(generator_adversarial_loss(fake, "hinge")) == pytest.approx(1.25)
    assert float(generator_adversarial_loss(fake, "ns")) == pytest.approx(
        (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(3.0))) / 2)
    # discriminator: ½ (term on real + term on fake)
    ls = 0.5 * (((torch.tensor([2.0, -0.05]) - 1) ** 2).mean() + (leaky**2).mean())
    assert float(discriminator_adversarial_loss(real, fake, "ls")) == pytest.approx(float(ls))
    assert float(discriminator_adversarial_loss(real, fake, "hinge")) == pytest.approx(0.5 * (1.0 + 0.75))
    ns = 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())
    assert float(discriminator_adversarial_loss(real, fake, "ns")) == pytest.approx(float(ns))
    with pytest.raises(ValueError, match=r"unknown adversarial loss 'wgan'; use ls, hinge, ns"):
        generator_adversarial_loss(fake, "wgan")
    with pytest.raises(ValueError, match=r"unknown adversarial loss 'wgan'"):
        discriminator_adversarial_loss(real, fake, "wgan")
