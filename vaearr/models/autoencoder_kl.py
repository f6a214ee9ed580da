"""The latent-diffusion / Stable Diffusion first stage: a KL autoencoder with spatial latents (MONAI).

Wraps :class:`monai.networks.nets.AutoencoderKL` (``spatial_dims=2``, random init) behind the
vaearr surface. Each of the ``len(channels) - 1`` downsampling levels halves H and W, so the
latent of a (C, H, W) image is (latent_channels, H/f, W/f) with ``f = 2**(len(channels) - 1)``
(f = 8 for SD v1), and H, W must be multiples of f. The network is fully convolutional: it was
configured for ``input_shape`` but takes any multiple of f (SD v1 trains at 256, runs at 512).

Layout versus the original ldm / SD code (``ldm.modules.diffusionmodules.model``): the same
ResNet blocks, downsampling (asymmetric pad + stride-2 conv), nearest upsampling + conv and
mid-block attention; ldm's decoder has ``num_res_blocks + 1`` blocks per level, which
``decoder_num_res_blocks`` reproduces (MONAI alone uses the same count in both halves). One
difference is left: ldm's encoder ends in a conv to ``2 * z_channels`` followed by a 1×1
``quant_conv``, MONAI's in a conv to ``latent_channels`` followed by two 1×1 convs (mu, log σ²).
For SD v1 that makes MONAI's network 18,468 parameters smaller: 83,635,395 against ldm's
83,653,863 — the sd-v1 preset builds exactly the former. MONAI also has no SiLU between the
final GroupNorm and conv of either half. ``layout="ldm"`` builds ldm's network exactly (both
differences), which is what pretrained SD VAEs load into (:mod:`vaearr.models.sd_weights`).

Loss: ``recon_loss + kl_weight_config * kl_weight * kl`` with MSE (or L1) **averaged over
pixels** (``recon_reduction="mean"``, the MONAI/LDM tutorials' convention that ``kl_weight=1e-6``
is tuned for) and KL summed over latent elements, averaged over the batch
(:func:`vaearr.models.losses.kl_divergence`). ``recon_reduction="sum"`` gives per-image sums as in
ldm's ``LPIPSWithDiscriminator``. Outputs are linear: train on data scaled to [-1, 1] as SD does.

Memory switches: :meth:`AutoencoderKL.enable_gradient_checkpointing` (MONAI's
``use_checkpoint``: recompute encoder/decoder activations in backward) and
:meth:`AutoencoderKL.enable_slicing` (encode/decode one sample at a time, for inference on
large batches).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from vaearr.errors import InputError, require
from vaearr.models.base import (
    LOGVAR_RANGE,
    ModelConfig,
    VAEBase,
    VAEOutput,
    check_batch_rank,
    fmt_shape,
    register,
)
from vaearr.models.losses import kl_divergence, reconstruction_loss
# moved to vaearr.models.autoencoder_kl_config; importable from here too
from vaearr.models.autoencoder_kl_config import (  # noqa: F401
    PRESETS, RECON_LOSSES, LAYOUTS, RECON_REDUCTIONS, spatial_axis_names, validate_kl_architecture,
    AutoencoderKLConfig,
)


def _ldm_ends(net: nn.Module, c: AutoencoderKLConfig) -> None:
    """Turn MONAI's network into ldm's: SiLU before both final convs, an encoder conv to 2z, quant convs 2z → z."""
    conv_cls = type(net.post_quant_conv)  # monai.networks.blocks.Convolution
    dims, z = c.spatial_dims, c.latent_channels

    def conv(cin: int, cout: int, k: int) -> nn.Module:
        return conv_cls(spatial_dims=dims, in_channels=cin, out_channels=cout, strides=1, kernel_size=k,
                        padding=k // 2, conv_only=True)

    enc = list(net.encoder.blocks)
    net.encoder.blocks = nn.ModuleList([*enc[:-1], nn.SiLU(), conv(c.channels[-1], 2 * z, 3)])
    dec = list(net.decoder.blocks)
    net.decoder.blocks = nn.ModuleList([*dec[:-1], nn.SiLU(), dec[-1]])
    net.quant_conv_mu = conv(2 * z, z, 1)
    net.quant_conv_log_sigma = conv(2 * z, z, 1)


@register
class AutoencoderKL(VAEBase):
    """KL autoencoder with spatial latents (SD first stage), on MONAI's network.

    ``self.net`` is the MONAI module; its state dict keys are ``net.encoder...``,
    ``net.decoder...``, ``net.quant_conv_mu...``, ``net.quant_conv_log_sigma...`` (a log
    variance, despite the name), ``net.post_quant_conv...``.

    Examples
    --------
    >>> import torch
    >>> from vaearr.models import AutoencoderKLConfig, build_model
    >>> model = build_model(AutoencoderKLConfig(preset="tiny", input_shape=(1, 16, 16)))
    >>> out = model(torch.randn(2, 1, 16, 16))
    >>> tuple(out.mu.shape)  # (B, latent_channels, H/2, W/2)
    (2, 4, 8, 8)
    """

    config_class: ClassVar[type[ModelConfig]] = AutoencoderKLConfig
    config: AutoencoderKLConfig

    def __init__(self, config: AutoencoderKLConfig):
        super().__init__(config)
        self.net = self._build_net()
        self._slicing = False

    def _build_net(self) -> nn.Module:
        """MONAI's AutoencoderKL, with ldm's decoder depth when it differs from the encoder's."""
        nets = require("monai.networks.nets", "models")
        c = self.config
        common = {
            "spatial_dims": c.spatial_dims,
            "channels": c.channels,
            "norm_num_groups": c.norm_num_groups,
            "norm_eps": c.norm_eps,
            "attention_levels": c.attention_levels,
        }
        net = nets.AutoencoderKL(
            in_channels=c.input_shape[0],
            out_channels=c.input_shape[0],
            num_res_blocks=c.num_res_blocks,
            latent_channels=c.latent_channels,
            with_encoder_nonlocal_attn=c.with_mid_attention,
            with_decoder_nonlocal_attn=c.with_mid_attention,
            use_checkpoint=c.use_checkpointing,
            **common,
        )
        if c.decoder_num_res_blocks != c.num_res_blocks:
            from monai.networks.nets.autoencoderkl import Decoder

            net.decoder = Decoder(
                in_channels=c.latent_channels,
                out_channels=c.input_shape[0],
                num_res_blocks=(c.decoder_num_res_blocks,) * len(c.channels),
                with_nonlocal_attn=c.with_mid_attention,
                **common,
            )
        if getattr(c, "layout", "monai") == "ldm":
            _ldm_ends(net, c)
        return net

    # -- memory switches ------------------------------------------------------------------------

    def enable_gradient_checkpointing(self) -> None:
        """Recompute encoder/decoder activations during backward: less memory, ~30 % more time."""
        self.net.use_checkpoint = self.config.use_checkpointing = True

    def disable_gradient_checkpointing(self) -> None:
        """Keep activations for backward (the default)."""
        self.net.use_checkpoint = self.config.use_checkpointing = False

    def enable_slicing(self) -> None:
        """Encode and decode one sample at a time (bounded memory for large inference batches)."""
        self._slicing = True

    def disable_slicing(self) -> None:
        """Encode and decode whole batches (the default)."""
        self._slicing = False

    # -- the surface ----------------------------------------------------------------------------

    @property
    def latent_shape(self) -> tuple[int, ...]:
        f = self.config.downsampling_factor
        return (self.config.latent_channels, *(s // f for s in self.config.input_shape[1:]))

    def check_input(self, x: Tensor) -> None:
        """Channels must match; each spatial size must be a multiple of f (any size, not just input_shape)."""
        check_batch_rank(x, self.config)
        f = self.config.downsampling_factor
        axes = spatial_axis_names(self.config.spatial_dims)
        bad = [axis for axis, size in zip(axes, x.shape[2:], strict=True) if size % f]
        if bad:
            raise InputError(
                None,
                f"input {fmt_shape(x.shape[1:])} is not divisible by {f} along {', '.join(bad)} "
                f"(model {self.config.name!r} halves each spatial axis {len(self.config.channels) - 1} times); "
                f"crop or pad to a multiple of {f}",
            )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W[, ...]) → ``mu``, ``logvar``: (B, latent_channels, H/f, W/f[, ...]) each."""
        if self._slicing and x.shape[0] > 1:
            parts = [self._encode(xi) for xi in x.split(1)]
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        return self._encode(x)

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        net = self.net
        # MONAI's encode() returns sigma = exp(logvar / 2); going back through log() would lose
        # precision in half precision, so the three steps are repeated here.
        if net.use_checkpoint and torch.is_grad_enabled():
            h = checkpoint(net.encoder, x, use_reentrant=False)
        else:
            h = net.encoder(x)  # (B, latent_channels, H/f, W/f)
        return net.quant_conv_mu(h), net.quant_conv_log_sigma(h).clamp(*LOGVAR_RANGE)

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent_channels, h, w[, ...]) → (B, C, h*f, w*f[, ...]), linear output."""
        if self._slicing and z.shape[0] > 1:
            return torch.cat([self.net.decode(zi) for zi in z.split(1)])
        return self.net.decode(z)

    def loss_function(self, x: Tensor, out: VAEOutput, kl_weight: float = 1.0) -> VAEOutput:
        """``recon_loss + config.kl_weight * kl_weight * kl`` (reductions: module docstring)."""
        c = self.config
        out.recon_loss = reconstruction_loss(out.recon, x, c.recon_loss, c.recon_reduction)
        out.kl = kl_divergence(out.mu, out.logvar)
        out.loss = out.recon_loss + c.kl_weight * kl_weight * out.kl
        return out
