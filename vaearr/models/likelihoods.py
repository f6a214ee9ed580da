"""Output heads by name (:data:`LIKELIHOODS`): the decoder's last activation and the reconstruction loss that goes with it.

A head is a :class:`Likelihood` subclass registered with ``@LIKELIHOODS.register("name")``:
:meth:`~Likelihood.activation` turns the decoder's logits into the reconstruction, and
:meth:`~Likelihood.loss` is the reconstruction term of the loss (per-image sums, batch mean:
see :mod:`vaearr.models.base`). :class:`~vaearr.models.conv_vae.ConvVAE` takes its ``output``
choices from here, so a new head is one class in this file.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from vaearr.errors import InputError
from vaearr.models.losses import NATS, gaussian_nll, loss_units, reconstruction_loss
from vaearr.registry import Registry


class Likelihood:
    """An output head (subclass it and register the subclass)."""

    #: The data ranges the head is meant for (None: any).
    data_ranges: ClassVar[tuple[str, ...] | None] = None
    #: The head has a scale σ (learned when the model's config gives none).
    has_sigma: ClassVar[bool] = False
    #: The unit of its reconstruction loss in a training log (a negative log-likelihood: nats).
    units: ClassVar[str] = loss_units("mse")

    @staticmethod
    def activation(logits: Tensor) -> Tensor:
        """The reconstruction from the decoder's logits (identity by default)."""
        return logits

    @classmethod
    def range_problem(cls, name: str, data_range: str) -> str:
        """The message when the config's ``data_range`` is not one the head is meant for."""
        return f"output '{name}' needs data in {' or '.join(cls.data_ranges or ())}, but data_range is {data_range}"

    @staticmethod
    def loss(model: Any, x: Tensor, out: Any) -> Tensor:
        """The reconstruction term for the batch ``x`` and the model's output ``out`` (a ``VAEOutput``)."""
        return reconstruction_loss(out.recon, x, "mse")


#: Output heads by name.
LIKELIHOODS: Registry[type[Likelihood]] = Registry("output head")


@LIKELIHOODS.register("sigmoid-bce")
class SigmoidBCE(Likelihood):
    """Bernoulli likelihood: sigmoid of the logits, binary cross-entropy (nats per image) against targets in [0, 1]."""

    data_ranges = ("[0,1]",)
    units = NATS

    @staticmethod
    def activation(logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)

    @classmethod
    def range_problem(cls, name: str, data_range: str) -> str:
        return (f"output '{name}' needs data in [0,1] (BCE targets), but data_range is {data_range}; "
                "use 'tanh-mse' or 'linear-mse'")

    @staticmethod
    def loss(model: Any, x: Tensor, out: Any) -> Tensor:
        lo, hi = torch.aminmax(x.detach())
        if lo < 0 or hi > 1:
            raise InputError(
                None,
                f"model 'conv-vae' with output 'sigmoid-bce' needs inputs in [0, 1], got values in "
                f"[{float(lo):.4g}, {float(hi):.4g}]; normalise to [0, 1] or use data_range '[-1,1]'",
            )
        logits = out.extras.get("logits")
        return reconstruction_loss(logits, x, "bce_logits") if logits is not None else reconstruction_loss(out.recon, x, "bce")


@LIKELIHOODS.register("tanh-mse")
class TanhMSE(Likelihood):
    """tanh of the logits, sum of squares."""

    @staticmethod
    def activation(logits: Tensor) -> Tensor:
        return torch.tanh(logits)


@LIKELIHOODS.register("linear-mse")
class LinearMSE(Likelihood):
    """Unbounded output, sum of squares."""


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    """Gaussian likelihood N(recon, σ²) with one σ (the model's learned ``log_sigma``, or its config's ``sigma``)."""

    has_sigma = True
    units = NATS

    @staticmethod
    def loss(model: Any, x: Tensor, out: Any) -> Tensor:
        sigma = model.config.sigma
        log_sigma = model.log_sigma if sigma is None else torch.tensor(math.log(sigma), device=x.device)
        recon_loss = gaussian_nll(out.recon, x, log_sigma)
        out.extras["sigma"] = log_sigma.detach().exp()
        return recon_loss
