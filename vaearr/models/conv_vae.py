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
from types import MappingProxyType
from typing import ClassVar, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from vaearr.models.base import (
    LOGVAR_RANGE,
    ModelConfig,
    VAEBase,
    VAEOutput,
    register,
)
from vaearr.models.likelihoods import LIKELIHOODS
from vaearr.models.losses import kl_per_dim

#: Output heads (:data:`~vaearr.models.likelihoods.LIKELIHOODS`) and the data ranges they are meant for
#: (see the table in the module docstring).
OUTPUT_HEADS = LIKELIHOODS.names()
DATA_RANGES = ("[0,1]", "[-1,1]", "standardized")
AUTO_OUTPUT = MappingProxyType({"[0,1]": "sigmoid-bce", "[-1,1]": "tanh-mse", "standardized": "gaussian"})
ACTIVATIONS = MappingProxyType({"leaky_relu": lambda: nn.LeakyReLU(0.2), "silu": nn.SiLU, "relu": nn.ReLU})
NORMS = MappingProxyType({
    # GroupNorm with up to 8 groups: independent of batch size, so a last batch of 1 trains fine.
    "group": lambda c: nn.GroupNorm(math.gcd(8, c), c),
    "batch": nn.BatchNorm2d,
    "none": None,  # no module at all, so a plain conv/act stack keeps its script's indices
})
#: Layout choices (see ConvVAEConfig): how the decoder grows, where it stops, how it meets the input size.
DECODERS = ("upsample", "transpose")
UPSAMPLE_TO = ("double", "encoder")
UPSAMPLE_MODES = ("nearest", "bilinear")
OUTPUT_LAYERS = ("conv", "last")
FITS = ("crop", "resize")


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
        ``"leaky_relu"`` (slope 0.2), ``"silu"`` or ``"relu"``.

    The fields below change the layout; their defaults give the one described in the module
    docstring. They exist so that other scripts' VAEs can be rebuilt exactly and their weights
    loaded (:mod:`vaearr.models.imports`).

    kernel_sizes, strides, paddings
        Per encoder level (``None``: 3, 2, 1 at every level).
    hidden_dims
        Fully connected layers (each followed by the activation) between the flattened
        features and the ``mu``/``logvar`` heads; the decoder mirrors them, reversed.
    decoder
        ``"upsample"`` (interpolate, then a 3×3 conv block) or ``"transpose"`` (transposed
        convolutions with ``decoder_kernel_sizes``/``strides``/``paddings``/``output_paddings``,
        default 3, 2, 1, 1).
    decoder_channels
        Widths of the decoder's conv blocks (``None``: the encoder's, reversed). With
        ``"upsample"`` it may have one entry fewer than the levels: the last upsampling then goes
        straight to the output conv.
    decoder_in_channels
        Channels the decoder's first linear layer is reshaped to (``None``: the encoder's last width).
    decoder_fc_activation
        Apply the activation after the decoder's first linear layer too.
    upsample_to
        ``"double"`` (×2 per level) or ``"encoder"`` (back to each encoder level's exact size).
    upsample_mode
        ``"nearest"`` or ``"bilinear"``.
    output_layer
        ``"conv"``: a 3×3 conv to the input channels ends the decoder; ``"last"``: the last
        decoder block is the output (its width must be the input channels; no norm/activation).
    fit
        ``"crop"`` (centre crop to the input size) or ``"resize"`` (bilinear, when the sizes differ).
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
    kernel_sizes: tuple[int, ...] | None = None
    strides: tuple[int, ...] | None = None
    paddings: tuple[int, ...] | None = None
    hidden_dims: tuple[int, ...] = ()
    decoder: str = "upsample"
    decoder_channels: tuple[int, ...] | None = None
    decoder_in_channels: int | None = None
    decoder_fc_activation: bool = False
    decoder_kernel_sizes: tuple[int, ...] | None = None
    decoder_strides: tuple[int, ...] | None = None
    decoder_paddings: tuple[int, ...] | None = None
    decoder_output_paddings: tuple[int, ...] | None = None
    upsample_to: str = "double"
    upsample_mode: str = "nearest"
    output_layer: str = "conv"
    fit: str = "crop"

    @property
    def output_head(self) -> str:
        """The head actually used: ``output`` with ``"auto"`` resolved by ``data_range``."""
        return AUTO_OUTPUT.get(self.data_range, "linear-mse") if self.output == "auto" else self.output

    def recon_units(self) -> str | None:
        """The output head's unit (:attr:`~vaearr.models.likelihoods.Likelihood.units`)."""
        return LIKELIHOODS[self.output_head].units if self.output_head in LIKELIHOODS else None

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
            ("decoder", DECODERS),
            ("upsample_to", UPSAMPLE_TO),
            ("upsample_mode", UPSAMPLE_MODES),
            ("output_layer", OUTPUT_LAYERS),
            ("fit", FITS),
        ):
            if getattr(self, attr) not in allowed:
                raise self.problem(f"{attr} must be one of {', '.join(allowed)}; got {getattr(self, attr)!r}")
        self._validate_layout()
        head = LIKELIHOODS[self.output_head]
        if head.data_ranges is not None and self.data_range not in head.data_ranges:
            raise self.problem(head.range_problem(self.output_head, self.data_range))


    def _validate_layout(self) -> None:
        levels = len(self.channels)
        for attr in ("kernel_sizes", "strides", "paddings"):
            value = getattr(self, attr)
            if value is not None and (len(value) != levels or any(v < (0 if attr == "paddings" else 1) for v in value)):
                raise self.problem(f"{attr} needs one value per level ({levels}), got {value!r}")
        if any(h < 1 for h in self.hidden_dims):
            raise self.problem(f"hidden_dims must be positive widths, got {self.hidden_dims!r}")
        widths = self.decoder_channels
        if widths is not None and (not widths or any(w < 1 for w in widths)):
            raise self.problem(f"decoder_channels must be positive widths, got {widths!r}")
        if self.decoder_in_channels is not None and self.decoder_in_channels < 1:
            raise self.problem(f"decoder_in_channels must be >= 1, got {self.decoder_in_channels}")
        if self.decoder == "upsample" and widths is not None and len(widths) not in (levels, levels - 1):
            raise self.problem(f"decoder_channels needs {levels} (or {levels - 1}) widths with decoder "
                               f"'upsample', got {len(widths)}")
        if self.decoder == "transpose":
            n = len(widths) if widths is not None else levels
            for attr in ("decoder_kernel_sizes", "decoder_strides", "decoder_paddings", "decoder_output_paddings"):
                value = getattr(self, attr)
                if value is not None and len(value) != n:
                    raise self.problem(f"{attr} needs one value per decoder layer ({n}), got {value!r}")
        elif self.output_layer == "last":
            raise self.problem("output_layer 'last' needs decoder 'transpose' (an upsampling decoder ends in a conv)")
        if self.output_layer == "last":
            if widths is None or widths[-1] != self.input_shape[0]:
                raise self.problem(f"output_layer 'last' needs decoder_channels ending in the input channels "
                                   f"({self.input_shape[0]}), got {widths!r}")


def _conv_block(c_in: int, c_out: int, stride: int, config: ConvVAEConfig, *, kernel: int = 3,
                padding: int = 1, transpose: bool = False, output_padding: int = 0) -> list[nn.Module]:
    """Conv (or transposed conv) → norm → activation; the default 3×3 stride-2 conv halves H and W (rounding up)."""
    conv: nn.Module = (
        nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, padding=padding, output_padding=output_padding)
        if transpose else nn.Conv2d(c_in, c_out, kernel_size=kernel, stride=stride, padding=padding)
    )
    norm = NORMS[config.norm]
    return [conv, *([norm(c_out)] if norm is not None else []), ACTIVATIONS[config.activation]()]


def _fc_stack(widths: tuple[int, ...], config: ConvVAEConfig) -> nn.Sequential:
    """Linear → activation for each consecutive pair of ``widths`` (empty for fewer than two)."""
    return nn.Sequential(*[m for a, b in zip(widths[:-1], widths[1:], strict=True)
                           for m in (nn.Linear(a, b), ACTIVATIONS[config.activation]())])


def single_channel_conv(h: Tensor, conv: nn.Conv2d, window: tuple[int, int, int, int]) -> Tensor:
    """``conv`` (one output channel, stride 1, no dilation or groups) of ``h`` (B, C, gh, gw), only its outputs in
    ``window`` (top, left, height, width): (B, 1, height, width), as ``conv(h)[..., window]`` to float rounding.

    One GEMM gives each kernel tap's sum over the channels, (taps, B, gh, gw), and the taps' planes are added,
    shifted: oneDNN's direct convolution pads a single output channel to 16 (at 64 × 64 × 32 inputs, 0.38 against
    0.10 CPU-ms a pattern), and the crop's rows and columns are never computed."""
    kh, kw = conv.kernel_size
    ph, pw = cast(tuple[int, int], conv.padding)  # to_pixels pads by a number, never 'same'
    top, left, height, width = window
    b, c, gh, gw = h.shape
    taps = conv.weight[0].permute(1, 2, 0).reshape(kh * kw, c)  # (taps, C), tap = dy * kw + dx
    # (taps, C) @ (C, B·gh·gw): a view of a channels-last h, read once
    p = torch.mm(taps, h.permute(0, 2, 3, 1).reshape(-1, c).t()).view(kh * kw, b, gh, gw)
    r0, c0 = top - ph, left - pw  # the input row and column the window's first output starts at
    if r0 < 0 or c0 < 0 or r0 + height + kh - 1 > gh or c0 + width + kw - 1 > gw:
        p, r0, c0 = F.pad(p, (pw, pw, ph, ph)), r0 + ph, c0 + pw
    out = p[0, :, r0:r0 + height, c0:c0 + width] + (conv.bias[0] if conv.bias is not None else 0.0)
    for t in range(1, kh * kw):
        dy, dx = divmod(t, kw)
        out += p[t, :, r0 + dy:r0 + dy + height, c0 + dx:c0 + dx + width]
    return out.unsqueeze(1)


def _per_layer(value: tuple[int, ...] | None, default: int, n: int) -> tuple[int, ...]:
    return tuple(value) if value is not None else (default,) * n


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
        levels = len(config.channels)
        widths = (c, *config.channels)
        kernels = _per_layer(config.kernel_sizes, 3, levels)
        strides = _per_layer(config.strides, 2, levels)
        paddings = _per_layer(config.paddings, 1, levels)
        self.encoder = nn.Sequential(*[
            m for c_in, c_out, k, s, p in zip(widths[:-1], widths[1:], kernels, strides, paddings, strict=True)
            for m in _conv_block(c_in, c_out, s, config, kernel=k, padding=p)
        ])
        # Dry run to learn each level's output grid, in eval mode so BatchNorm accepts a batch of 1.
        self.encoder.eval()
        sizes = [(h, w)]
        with torch.no_grad():
            feat = torch.zeros(1, c, h, w)
            for m in self.encoder:
                feat = m(feat)  # (1, C_l, h_l, w_l)
                if isinstance(m, nn.Conv2d):
                    sizes.append(tuple(feat.shape[2:]))
        self.encoder.train()
        self.feature_shape: tuple[int, int, int] = tuple(feat.shape[1:])  # type: ignore[assignment]
        n_feat = feat.numel()

        hidden = tuple(config.hidden_dims)
        self.fc_hidden = _fc_stack((n_feat, *hidden), config)
        n_head = hidden[-1] if hidden else n_feat
        self.fc_mu = nn.Linear(n_head, config.latent_dim)
        self.fc_logvar = nn.Linear(n_head, config.latent_dim)
        self.fc_decode_hidden = _fc_stack((config.latent_dim, *reversed(hidden)), config)
        c0 = config.decoder_in_channels or self.feature_shape[0]
        self.decoder_shape = (c0, *self.feature_shape[1:])  # what the decoder's first layer is reshaped to
        self.fc_decode = nn.Linear(hidden[0] if hidden else config.latent_dim, math.prod(self.decoder_shape))
        self.fc_decode_act = ACTIVATIONS[config.activation]() if config.decoder_fc_activation else nn.Identity()

        self.decoder, c_last = self._build_decoder(config, c0, sizes)
        if config.output_layer == "conv":
            self.to_pixels = nn.Conv2d(c_last, c, kernel_size=3, padding=1)

        if LIKELIHOODS[config.output_head].has_sigma and config.sigma is None:
            self.log_sigma = nn.Parameter(torch.zeros(()))  # the decoder's one learned σ

        self.decoder.eval()
        with torch.no_grad():
            grown = tuple(self._grow(torch.zeros(1, *self.decoder_shape)).shape[2:])
        self.decoder.train()
        if config.fit == "crop" and (grown[0] < h or grown[1] < w):
            raise config.problem(f"the decoder grows {self.feature_shape[1]}×{self.feature_shape[2]} to "
                                 f"{grown[0]}×{grown[1]}, smaller than the input {h}×{w}; use fit 'resize'")
        self._grown = grown
        self._crop = ((grown[0] - h) // 2, (grown[1] - w) // 2)  # top, left offsets of the centre crop

    @staticmethod
    def _build_decoder(config: ConvVAEConfig, c0: int, sizes: list[tuple[int, ...]]) -> tuple[nn.Sequential, int]:
        """The decoder's blocks and the width they end with (see :class:`ConvVAEConfig` for the choices)."""
        levels = len(config.channels)
        rev = tuple(reversed(config.channels))  # e.g. (128, 64, 32)
        widths = config.decoder_channels or (*rev[1:], rev[-1])  # default: (64, 32, 32)
        blocks: list[nn.Module] = []
        c_prev = c0
        if config.decoder == "transpose":
            n = len(widths)
            kernels = _per_layer(config.decoder_kernel_sizes, 3, n)
            strides = _per_layer(config.decoder_strides, 2, n)
            paddings = _per_layer(config.decoder_paddings, 1, n)
            outpads = _per_layer(config.decoder_output_paddings, 1, n)
            for i, c_out in enumerate(widths):
                block = _conv_block(c_prev, c_out, strides[i], config, kernel=kernels[i], padding=paddings[i],
                                    transpose=True, output_padding=outpads[i])
                last_is_output = config.output_layer == "last" and i == n - 1
                blocks += block[:1] if last_is_output else block
                c_prev = c_out
            return nn.Sequential(*blocks), c_prev
        align = False if config.upsample_mode == "bilinear" else None
        for i in range(levels):
            if config.upsample_to == "encoder":
                up = nn.Upsample(size=sizes[levels - 1 - i], mode=config.upsample_mode, align_corners=align)
            else:
                up = nn.Upsample(scale_factor=2, mode=config.upsample_mode, align_corners=align)
            blocks.append(up)
            if i < len(widths):
                blocks += _conv_block(c_prev, widths[i], 1, config)
                c_prev = widths[i]
        return nn.Sequential(*blocks), c_prev

    def _grow(self, h: Tensor) -> Tensor:
        """(B, *decoder_shape) → the decoder's output logits before fitting them to the input size."""
        h = self.decoder(h)
        return self.to_pixels(h) if self.config.output_layer == "conv" else h

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    def _head(self, logits: Tensor) -> Tensor:
        """The output head's activation (looked up, not stored, so the model pickles)."""
        return LIKELIHOODS[self.config.output_head].activation(logits)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) → ``mu``, ``logvar``: (B, latent_dim) each."""
        feat = self.fc_hidden(self.encoder(x).flatten(1))  # (B, C_L*h_L*w_L), or the last hidden width
        return self.fc_mu(feat), self.fc_logvar(feat).clamp(*LOGVAR_RANGE)

    def decode_logits(self, z: Tensor) -> Tensor:
        """(B, latent_dim) → (B, C, H, W) before the output head's activation."""
        h = self.fc_decode_act(self.fc_decode(self.fc_decode_hidden(z))).view(-1, *self.decoder_shape)  # (B, C_0, h_L, w_L)
        _, height, width = self.config.input_shape
        if (not torch.is_grad_enabled() and self.config.output_layer == "conv" and self.config.fit == "crop"
                and self.to_pixels.out_channels == 1
                and not self.to_pixels._forward_hooks):  # noqa: SLF001 - a hooked layer (`vaearr layers`) runs as one
            # inference: the one-channel output layer as a GEMM, and only where the crop keeps (single_channel_conv)
            return single_channel_conv(self.decoder(h), self.to_pixels, (*self._crop, height, width))
        h = self._grow(h)  # (B, C, h_L*2^L, w_L*2^L) by default, >= (H, W)
        if self.config.fit == "resize":
            if tuple(h.shape[2:]) != (height, width):
                h = F.interpolate(h, size=(height, width), mode="bilinear", align_corners=False)
            return h
        top, left = self._crop
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
        recon_loss = LIKELIHOODS[self.config.output_head].loss(self, x, out)
        per_dim = kl_per_dim(out.mu, out.logvar)
        kl = per_dim.sum()
        # free bits: below the floor a dim's KL no longer pulls it toward the prior
        kl_term = per_dim.clamp(min=self.config.free_bits).sum() if self.config.free_bits > 0 else kl
        out.recon_loss, out.kl = recon_loss, kl
        out.extras["kl_per_dim"] = per_dim.detach()
        out.loss = recon_loss + self.config.beta * kl_weight * kl_term
        return out
