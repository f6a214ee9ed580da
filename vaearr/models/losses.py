"""The loss terms every family shares: KL of a diagonal Gaussian posterior, reconstruction losses, the reparameterised draw.

Reductions (the numbers a user reads in a training log) are documented in :mod:`vaearr.models.base`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from vaearr.registry import Registry


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent elements, averaged over the batch.

    Parameters
    ----------
    mu, logvar
        (B, ...) posterior parameters; everything after the batch dim is one sample's latent.

    Returns
    -------
    Tensor
        Scalar, nats per sample.

    Examples
    --------
    >>> import torch
    >>> float(kl_divergence(torch.zeros(4, 8), torch.zeros(4, 8)))
    0.0
    >>> round(float(kl_divergence(torch.ones(2, 3), torch.zeros(2, 3))), 4)  # 0.5 * 3 * 1²
    1.5
    """
    # Computed in float32 even under autocast: exp(logvar) of a half tensor overflows at 11.
    mu, logvar = mu.float(), logvar.float()
    per_element = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return per_element.flatten(1).sum(dim=1).mean()


def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL of each latent element from N(0, 1), averaged over the batch: ``(*latent_shape,)``, nats.

    Its sum is :func:`kl_divergence`.

    Examples
    --------
    >>> kl_per_dim(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2)).tolist()
    [0.5, 0.0]
    """
    mu, logvar = mu.float(), logvar.float()
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(dim=0)


def gaussian_nll(prediction: Tensor, target: Tensor, log_sigma: Tensor) -> Tensor:
    """Negative log-likelihood of ``target`` under N(``prediction``, σ²) with one σ = exp(``log_sigma``):
    summed over a sample's elements, averaged over the batch (nats per sample).

    Examples
    --------
    >>> round(float(gaussian_nll(torch.zeros(1, 4), torch.zeros(1, 4), torch.tensor(0.0))), 4)  # 4 · ½ log 2π
    3.6758
    """
    prediction, target, log_sigma = prediction.float(), target.float(), log_sigma.float()
    per_element = 0.5 * ((target - prediction) * torch.exp(-log_sigma)).pow(2) + log_sigma + 0.5 * math.log(2 * math.pi)
    return per_element.flatten(1).sum(dim=1).mean()


#: Reconstruction losses by name: ``(prediction, target) -> per-element loss``.
RECONSTRUCTION_LOSSES: Registry[Callable[[Tensor, Tensor], Tensor]] = Registry("reconstruction loss")


@RECONSTRUCTION_LOSSES.register("bce_logits")
def _bce_logits(prediction: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(prediction, target, reduction="none")


@RECONSTRUCTION_LOSSES.register("bce")
def _bce(prediction: Tensor, target: Tensor) -> Tensor:
    eps = 1e-6  # keeps log() finite where a probability saturates
    return F.binary_cross_entropy(prediction.clamp(eps, 1 - eps), target, reduction="none")


@RECONSTRUCTION_LOSSES.register("mse")
def _squares(prediction: Tensor, target: Tensor) -> Tensor:
    return (prediction - target).pow(2)


@RECONSTRUCTION_LOSSES.register("l1")
def _absolute(prediction: Tensor, target: Tensor) -> Tensor:
    return (prediction - target).abs()


def reconstruction_loss(prediction: Tensor, target: Tensor, kind: str, reduction: str = "sum") -> Tensor:
    """Reconstruction loss between a prediction and the input.

    Parameters
    ----------
    prediction
        (B, C, ...) model output; for ``kind="bce_logits"`` the pre-sigmoid logits.
    target
        (B, C, ...) the input batch; in [0, 1] for the BCE kinds.
    kind
        A name in :data:`RECONSTRUCTION_LOSSES`: ``"bce_logits"`` (numerically stable BCE on
        logits), ``"bce"`` (on probabilities), ``"mse"`` or ``"l1"``.
    reduction
        ``"sum"``: sum over a sample's elements, mean over the batch (nats per image for BCE).
        ``"mean"``: mean over all elements.

    Returns
    -------
    Tensor
        Scalar.
    """
    prediction, target = prediction.float(), target.float()
    if kind not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"unknown reconstruction loss {kind!r}; use {', '.join(RECONSTRUCTION_LOSSES)}")
    per_element = RECONSTRUCTION_LOSSES[kind](prediction, target)
    if reduction == "sum":
        return per_element.flatten(1).sum(dim=1).mean()
    if reduction == "mean":
        return per_element.mean()
    raise ValueError(f"unknown reduction {reduction!r}; use 'sum' or 'mean'")


#: The unit of a KL term (and of a likelihood's negative log) in a training log.
NATS = "nats per sample"


def loss_units(kind: str, reduction: str = "sum") -> str:
    """The unit of :func:`reconstruction_loss` of ``kind`` and ``reduction`` as a training log's axes write it.

    Examples
    --------
    >>> loss_units("bce_logits"), loss_units("mse"), loss_units("l1", "mean")
    ('nats per sample', 'squared error summed per sample', 'absolute error, mean per element')
    """
    if kind.startswith("bce"):
        return NATS if reduction == "sum" else "nats per element"
    what = {"mse": "squared error", "l1": "absolute error"}.get(kind, kind)
    return f"{what} summed per sample" if reduction == "sum" else f"{what}, mean per element"


def reparameterise(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``, differentiable in mu and logvar."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


#: MONAI's least-squares loss passes the logits through LeakyReLU(0.05) first (MAISI trains so); kept, so
#: ``ls`` gives the numbers vaearr's vae3d gave before the choice existed.
LS_SLOPE = 0.05


class Adversarial:
    """An adversarial objective: the generator's term and the discriminator's two terms (on real, on fake)."""

    @staticmethod
    def generator(fake: Tensor) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def discriminator(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


#: Adversarial objectives of a patch discriminator by name: least squares (LSGAN, MONAI's and
#: MAISI's choice), hinge (as in VQGAN / the LDM autoencoders) and the non-saturating logistic loss.
ADVERSARIAL: Registry[type[Adversarial]] = Registry("adversarial loss")


@ADVERSARIAL.register("ls")
class LeastSquares(Adversarial):
    """(a(D(x̂)) − 1)²; (a(D(x)) − 1)² and a(D(x̂))², with a = LeakyReLU(0.05) (MONAI's convention)."""

    @staticmethod
    def generator(fake: Tensor) -> Tensor:
        return (F.leaky_relu(fake, LS_SLOPE) - 1).pow(2).mean()

    @staticmethod
    def discriminator(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        return (F.leaky_relu(real, LS_SLOPE) - 1).pow(2).mean(), F.leaky_relu(fake, LS_SLOPE).pow(2).mean()


@ADVERSARIAL.register("hinge")
class Hinge(Adversarial):
    """−D(x̂); relu(1 − D(x)) and relu(1 + D(x̂))."""

    @staticmethod
    def generator(fake: Tensor) -> Tensor:
        return -fake.mean()

    @staticmethod
    def discriminator(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        return F.relu(1 - real).mean(), F.relu(1 + fake).mean()


@ADVERSARIAL.register("ns")
class NonSaturating(Adversarial):
    """softplus(−D(x̂)) = −log σ(D(x̂)); −log σ(D(x)) and −log(1 − σ(D(x̂)))."""

    @staticmethod
    def generator(fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()

    @staticmethod
    def discriminator(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        return F.softplus(-real).mean(), F.softplus(fake).mean()


#: The adversarial objectives' names.
ADVERSARIAL_LOSSES = ADVERSARIAL.names()


def generator_adversarial_loss(fake_logits: Tensor, kind: str = "ls") -> Tensor:
    """The generator's term on the discriminator's logits of reconstructions: push them to "real".

    ``ls``: mean (a(D(x̂)) − 1)² with a = LeakyReLU(0.05) (MONAI's convention); ``hinge``: −mean D(x̂); ``ns``: mean softplus(−D(x̂)) = −log σ(D(x̂)).

    Examples
    --------
    >>> logits = torch.tensor([0.0, 2.0])
    >>> [round(float(generator_adversarial_loss(logits, k)), 4) for k in ("ls", "hinge", "ns")]
    [1.0, -1.0, 0.41]
    """
    if kind not in ADVERSARIAL:
        raise ValueError(f"unknown adversarial loss {kind!r}; use {', '.join(ADVERSARIAL_LOSSES)}")
    return ADVERSARIAL[kind].generator(fake_logits.float())


def discriminator_adversarial_loss(real_logits: Tensor, fake_logits: Tensor, kind: str = "ls") -> Tensor:
    """The discriminator's loss: ½ (term on real + term on fake).

    ``ls``: (a(D(x)) − 1)² and a(D(x̂))² (a: LeakyReLU(0.05)); ``hinge``: relu(1 − D(x)) and relu(1 + D(x̂));
    ``ns``: −log σ(D(x)) and −log(1 − σ(D(x̂))); each a mean over patches and batch.
    """
    if kind not in ADVERSARIAL:
        raise ValueError(f"unknown adversarial loss {kind!r}; use {', '.join(ADVERSARIAL_LOSSES)}")
    terms = ADVERSARIAL[kind].discriminator(real_logits.float(), fake_logits.float())
    return 0.5 * (terms[0] + terms[1])
