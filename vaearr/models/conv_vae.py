"""A convolutional VAE with a vector latent, for any input size (EBSD patterns, MNIST, photos).

Encoder: stride-2 3×3 convs (each halves H and W, rounding up) with GroupNorm or BatchNorm and
LeakyReLU or SiLU → flatten → two linear heads for ``mu`` and ``logvar``. Decoder: linear →
reshape to the encoder's output grid → (nearest ×2 upsample, 3×3 conv, norm, act) per level →
3×3 conv to the input channels → centre crop to exactly the input size → output head.

Why crop: with rounding-up halving, ``L`` levels take ``H`` to ``ceil(H / 2**L)``, and the
decoder's doublings give ``ceil(H / 2**L) * 2**L >= H``, over by less than ``2**L`` pixels. Cropping
the centre keeps every size (8, 28, 60, 61, 256...) exact without interpolating. The encoder's
output grid is found by a dry run at build time, so the two halves always agree.

Output heads, by the data's range (``data_range``):

==============  ===================  ====================================  ==========================
``output``      data range           ``recon``                             ``recon_loss``
==============  ===================  ====================================  ==========================
sigmoid-bce     [0,1]                sigmoid(logits), logits in extras     BCE, nats/image
tanh-mse        [-1,1] or [0,1]      tanh(...)                             sum of squares
linear-mse      any                  unbounded                             sum of squares
gaussian        any (standardized)   unbounded: the mean of N(recon, σ²)   Gaussian NLL, nats/image
==============  ===================  ====================================  ==========================

``output="auto"`` picks sigmoid-bce for [0,1], tanh-mse for [-1,1] and gaussian for
standardised inputs. The gaussian head's σ is one learned number (``sigma=None``, a
"calibrated decoder": it settles at the root mean squared error, which weighs the
reconstruction against the KL by how well the data can be reconstructed) or a fixed value.
``free_bits`` keeps a floor under each latent dim's KL in the loss (Kingma et al., 2016): a
dim that carries less information than that is not pushed further toward the prior, so the
latent does not collapse; the reported ``kl`` is the true KL. Loss reductions: see
:mod:`vaearr.models.base` (per-image sums, batch mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from vaearr.errors import InputError
from vaearr.models.base import (
    LOGVAR_RANGE,
    ModelConfig,
    VAEBase,
    VAEOutput,
    register,
)
from vaearr.models.losses import gaussian_nll, kl_per_dim, reconstruction_loss

#: Output heads and the data ranges they are meant for (see the table in the module docstring).
OUTPUT_HEADS = ("sigmoid-bce", "tanh-mse", "linear-mse", "gaussian")
DATA_RANGES = ("[0,1]", "[-1,1]", "standardized")
AUTO_OUTPUT = {"[0,1]": "sigmoid-bce", "[-1,1]": "tanh-mse", "standardized": "gaussian"}
ACTIVATIONS = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "silu": nn.SiLU}
NORMS = {
    # GroupNorm with up to 8 groups: independent of batch size, so a last batch of 1 trains fine.
    "group": lambda c: nn.GroupNorm(math.gcd(8, c), c),
    "batch": nn.BatchNorm2d,
}


def _identity(t: Tensor) -> Tensor:
    return t


HEAD_ACTIVATIONS = {"sigmoid-bce": torch.sigmoid, "tanh-mse": torch.tanh, "linear-mse": _identity,
                    "gaussian": _identity}


@dataclass
class ConvVAEConfig(ModelConfig):
    """Config of :class:`ConvVAE`.

    Attributes
    ----------
    input_shape
        (C, H, W) of one sample; any H, W >= 1.
    latent_dim
        Size of the latent vector.
    channels
        Encoder conv widths, one stride-2 level each (the decoder mirrors them).
    beta
        β-VAE weight on the KL term (1 = the plain ELBO).
    output
        ``"auto"``, ``"sigmoid-bce"``, ``"tanh-mse"``, ``"linear-mse"`` or ``"gaussian"`` (table in
        the module docstring).
    data_range
        ``"[0,1]"``, ``"[-1,1]"`` or ``"standardized"`` (zero mean, unit standard deviation per
        sample): what the training batches are normalised to.
    sigma
        The gaussian head's standard deviation: None learns it (one number), a value fixes it.
    free_bits
        Nats per latent dim under which a dim's KL no longer counts in the loss (0: off).
    norm
        ``"group"`` (default; batch-size independent) or ``"batch"``.
    activation
        ``"leaky_relu"`` (slope 0.2) or ``"silu"``.
    """

    name: ClassVar[str] = "conv-vae"
    spatial_dims: ClassVar[int] = 2

    input_shape: tuple[int, ...] = (1, 60, 60)
    latent_dim: int = 16
    channels: tuple[int, ...] = (32, 64, 128)
    beta: float = 1.0
    output: str = "auto"
    data_range: str = "[0,1]"
    norm: str = "group"
    activation: str = "leaky_relu"
    sigma: float | None = None
    free_bits: float = 0.0

    @property
    def output_head(self) -> str:
        """The head actually used: ``output`` with ``"auto"`` resolved by ``data_range``."""
        return AUTO_OUTPUT.get(self.data_range, "linear-mse") if self.output == "auto" else self.output

    def validate(self) -> None:
        """See :meth:`ModelConfig.validate`; also checks the choices and their combination."""
        super().validate()
        if self.latent_dim < 1:
            raise self.problem(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise self.problem(f"channels must be one or more positive widths, got {self.channels!r}")
        if self.beta < 0:
            raise self.problem(f"beta must be >= 0, got {self.beta}")
        if self.sigma is not None and self.sigma <= 0:
            raise self.problem(f"sigma must be > 0 (or None to learn it), got {self.sigma}")
        if self.free_bits < 0:
            raise self.problem(f"free_bits must be >= 0, got {self.free_bits}")
        for attr, allowed in (
            ("output", ("auto", *OUTPUT_HEADS)),
            ("data_range", DATA_RANGES),
            ("norm", tuple(NORMS)),
            ("activation", tuple(ACTIVATIONS)),
        ):
            if getattr(self, attr) not in allowed:
                raise self.problem(f"{attr} must be one of {', '.join(allowed)}; got {getattr(self, attr)!r}")
        if self.output_head == "sigmoid-bce" and self.data_range != "[0,1]":
            raise self.problem(
                f"output 'sigmoid-bce' needs data in [0,1] (BCE targets), but data_range is {self.data_range}; "
                "use 'tanh-mse' or 'linear-mse'"
            )


def _conv_block(c_in: int, c_out: int, stride: int, config: ConvVAEConfig) -> list[nn.Module]:
    """3×3 conv → norm → activation; stride 2 halves H and W (rounding up)."""
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1),
        NORMS[config.norm](c_out),
        ACTIVATIONS[config.activation](),
    ]


@register
class ConvVAE(VAEBase):
    """Convolutional VAE with a vector latent (see the module docstring for the layout).

    Examples
    --------
    >>> import torch
    >>> from vaearr.models import ConvVAEConfig, build_model
    >>> model = build_model(ConvVAEConfig(input_shape=(1, 61, 61), latent_dim=4, channels=(8, 16)))
    >>> out = model(torch.rand(2, 1, 61, 61))
    >>> tuple(out.recon.shape), tuple(out.mu.shape)
    ((2, 1, 61, 61), (2, 4))
    """

    config_class: ClassVar[type[ModelConfig]] = ConvVAEConfig
    config: ConvVAEConfig

    def __init__(self, config: ConvVAEConfig):
        super().__init__(config)
        c, h, w = config.input_shape
        widths = (c, *config.channels)
        self.encoder = nn.Sequential(
            *[m for c_in, c_out in zip(widths[:-1], widths[1:], strict=True) for m in _conv_block(c_in, c_out, 2, config)]
        )
        # Dry run to learn the encoder's output grid, in eval mode so BatchNorm accepts a batch of 1.
        self.encoder.eval()
        with torch.no_grad():
            feat = self.encoder(torch.zeros(1, c, h, w))  # (1, C_L, h_L, w_L)
        self.encoder.train()
        self.feature_shape: tuple[int, int, int] = tuple(feat.shape[1:])  # type: ignore[assignment]
        n_feat = feat.numel()

        self.fc_mu = nn.Linear(n_feat, config.latent_dim)
        self.fc_logvar = nn.Linear(n_feat, config.latent_dim)
        self.fc_decode = nn.Linear(config.latent_dim, n_feat)

        rev = tuple(reversed(config.channels))  # e.g. (128, 64, 32)
        outs = (*rev[1:], rev[-1])  # each level's output width: (64, 32, 32)
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(rev, outs, strict=True):
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv_block(c_in, c_out, 1, config)]
        self.decoder = nn.Sequential(*blocks)
        self.to_pixels = nn.Conv2d(outs[-1], c, kernel_size=3, padding=1)

        if config.output_head == "gaussian" and config.sigma is None:
            self.log_sigma = nn.Parameter(torch.zeros(()))  # the decoder's one learned σ

        grown = (self.feature_shape[1] * 2 ** len(rev), self.feature_shape[2] * 2 ** len(rev))
        self._crop = ((grown[0] - h) // 2, (grown[1] - w) // 2)  # top, left offsets of the centre crop

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    def _head(self, logits: Tensor) -> Tensor:
        """The output head's activation (looked up, not stored, so the model pickles)."""
        return HEAD_ACTIVATIONS[self.config.output_head](logits)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) → ``mu``, ``logvar``: (B, latent_dim) each."""
        feat = self.encoder(x).flatten(1)  # (B, C_L*h_L*w_L)
        return self.fc_mu(feat), self.fc_logvar(feat).clamp(*LOGVAR_RANGE)

    def decode_logits(self, z: Tensor) -> Tensor:
        """(B, latent_dim) → (B, C, H, W) before the output head's activation."""
        h = self.fc_decode(z).view(-1, *self.feature_shape)  # (B, C_L, h_L, w_L)
        h = self.to_pixels(self.decoder(h))  # (B, C, h_L*2^L, w_L*2^L), >= (H, W)
        top, left = self._crop
        _, height, width = self.config.input_shape
        return h[:, :, top : top + height, left : left + width]  # (B, C, H, W)

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent_dim) → (B, C, H, W) in the data range."""
        return self._head(self.decode_logits(z))

    def _decode_with_extras(self, z: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        logits = self.decode_logits(z)
        return self._head(logits), {"logits": logits}

    def loss_function(self, x: Tensor, out: VAEOutput, kl_weight: float = 1.0) -> VAEOutput:
        """``recon_loss + beta * kl_weight * kl`` (the KL with its free-bits floor); per-image sums
        averaged over the batch.

        For the sigmoid-bce head ``x`` must lie in [0, 1] (checked: BCE against other targets is
        not a likelihood and can go negative).
        """
        head = self.config.output_head
        if head == "sigmoid-bce":
            lo, hi = torch.aminmax(x.detach())
            if lo < 0 or hi > 1:
                raise InputError(
                    None,
                    f"model 'conv-vae' with output 'sigmoid-bce' needs inputs in [0, 1], got values in "
                    f"[{float(lo):.4g}, {float(hi):.4g}]; normalise to [0, 1] or use data_range '[-1,1]'",
                )
            logits = out.extras.get("logits")
            recon_loss = (
                reconstruction_loss(logits, x, "bce_logits")
                if logits is not None
                else reconstruction_loss(out.recon, x, "bce")
            )
        elif head == "gaussian":
            sigma = self.config.sigma
            log_sigma = self.log_sigma if sigma is None else torch.tensor(math.log(sigma), device=x.device)
            recon_loss = gaussian_nll(out.recon, x, log_sigma)
            out.extras["sigma"] = log_sigma.detach().exp()
        else:
            recon_loss = reconstruction_loss(out.recon, x, "mse")
        per_dim = kl_per_dim(out.mu, out.logvar)
        kl = per_dim.sum()
        # free bits: below the floor a dim's KL no longer pulls it toward the prior
        kl_term = per_dim.clamp(min=self.config.free_bits).sum() if self.config.free_bits > 0 else kl
        out.recon_loss, out.kl = recon_loss, kl
        out.extras["kl_per_dim"] = per_dim.detach()
        out.loss = recon_loss + self.config.beta * kl_weight * kl_term
        return out
