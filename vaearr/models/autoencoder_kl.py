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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from types import MappingProxyType

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
from vaearr.models.losses import kl_divergence, loss_units, reconstruction_loss

#: Architecture presets. Fields a user leaves as ``None`` come from here (``"sd-v1"`` when no preset
#: is named); anything given explicitly wins.
PRESETS: Mapping[str, dict[str, Any]] = MappingProxyType({
    # The SD v1 first stage (ldm kl-f8): ch=128, ch_mult=(1, 2, 4, 4), 2 res blocks, z=4, mid attention.
    "sd-v1": {
                         "channels": (128, 256, 512, 512),
                         "num_res_blocks": 2,
                         "latent_channels": 4,
                         "with_mid_attention": True,
                         "norm_num_groups": 32,
    },
    # CPU-sized: f = 4, 2.7 M parameters (RGB), mid attention at H/4.
    "small": {
                         "channels": (32, 64, 128),
                         "num_res_blocks": 1,
                         "latent_channels": 4,
                         "with_mid_attention": True,
                         "norm_num_groups": 16,
    },
    # Smoke tests: f = 2, 0.33 M parameters (RGB), no attention.
    "tiny": {
                         "channels": (32, 64),
                         "num_res_blocks": 1,
                         "latent_channels": 4,
                         "with_mid_attention": False,
                         "norm_num_groups": 8,
    },
})
RECON_LOSSES = ("mse", "l1")
#: ``"monai"``: MONAI's network; ``"ldm"``: the original ldm / SD first stage exactly (see
#: :class:`AutoencoderKLConfig`'s ``layout``).
LAYOUTS = ("monai", "ldm")
RECON_REDUCTIONS = ("mean", "sum")


def spatial_axis_names(spatial_dims: int) -> tuple[str, ...]:
    """Names used for spatial axes in messages: ``("y", "x")`` or ``("z", "y", "x")``."""
    return ("z", "y", "x")[-spatial_dims:]


def validate_kl_architecture(config: Any) -> None:
    """Checks shared by the KL autoencoder configs (2D and 3D); raise ``config.problem(...)``.

    Widths positive and divisible by ``norm_num_groups``, block counts >= 1, one attention flag
    per level, a known loss, and every spatial size of ``input_shape`` a multiple of f.
    """
    c = config
    channels = c.channels or ()
    if not channels or any(w < 1 for w in channels):
        raise c.problem(f"channels must be one or more positive widths, got {c.channels!r}")
    for attr in ("num_res_blocks", "decoder_num_res_blocks", "latent_channels", "norm_num_groups"):
        value = getattr(c, attr, 1)
        if value < 1:
            raise c.problem(f"{attr} must be >= 1, got {value}")
    if len(c.attention_levels or ()) != len(channels):
        raise c.problem(f"attention_levels needs one entry per level ({len(channels)}), got {c.attention_levels!r}")
    bad = [w for w in channels if w % c.norm_num_groups]
    if bad:
        raise c.problem(f"every width must be a multiple of norm_num_groups={c.norm_num_groups}; {bad} are not")
    if c.kl_weight < 0:
        raise c.problem(f"kl_weight must be >= 0, got {c.kl_weight}")
    if c.recon_loss not in RECON_LOSSES:
        raise c.problem(f"recon_loss must be one of {', '.join(RECON_LOSSES)}; got {c.recon_loss!r}")
    if c.recon_reduction not in RECON_REDUCTIONS:
        raise c.problem(f"recon_reduction must be one of {', '.join(RECON_REDUCTIONS)}; got {c.recon_reduction!r}")
    f = 2 ** (len(channels) - 1)
    for axis, size in zip(spatial_axis_names(c.spatial_dims), c.input_shape[1:], strict=True):
        if size % f:
            raise c.problem(
                f"input_shape {fmt_shape(c.input_shape)} is not divisible by {f} along {axis} "
                f"({len(channels)} levels halve each spatial axis {len(channels) - 1} times); "
                f"crop or pad to a multiple of {f}, or use fewer levels"
            )


@dataclass
class AutoencoderKLConfig(ModelConfig):
    """Config of :class:`AutoencoderKL`.

    Fields marked "preset" default to ``None`` and are filled from :data:`PRESETS` at
    construction (``preset`` or, when that is ``None``, ``"sd-v1"``); after construction every
    field holds a concrete value, which is what ``config.json`` records.

    Attributes
    ----------
    input_shape
        (C, H, W) the model is configured for; H and W multiples of ``2**(len(channels) - 1)``.
    channels
        Preset. Width of each level (ldm: ``ch * ch_mult``).
    num_res_blocks
        Preset. Residual blocks per encoder level.
    decoder_num_res_blocks
        Residual blocks per decoder level; ``None`` → ``num_res_blocks + 1``, ldm's layout. Set it
        equal to ``num_res_blocks`` for MONAI's symmetric layout.
    latent_channels
        Preset. Channels of the spatial latent (ldm ``embed_dim``).
    attention_levels
        Self-attention after each res block of a level; ``None`` → none (as in SD v1).
    with_mid_attention
        Preset. The attention block between two res blocks at the bottom of both halves.
    norm_num_groups
        Preset. GroupNorm groups; must divide every width.
    norm_eps
        GroupNorm epsilon (ldm: 1e-6).
    kl_weight
        β: weight of the KL term (ldm/MONAI: 1e-6, with mean-reduced reconstruction loss).
    recon_loss
        ``"mse"`` or ``"l1"``.
    recon_reduction
        ``"mean"`` (per pixel) or ``"sum"`` (per image); see the module docstring.
    use_checkpointing
        Gradient (activation) checkpointing of encoder and decoder.
    preset
        ``"sd-v1"``, ``"small"``, ``"tiny"`` or ``None``.
    layout
        ``"monai"`` (MONAI's network) or ``"ldm"``: the ldm / Stable Diffusion first stage
        exactly, so its pretrained weights load (:mod:`vaearr.models.sd_weights`) — the encoder
        ends GroupNorm → SiLU → conv to ``2 * latent_channels`` (MONAI's has no SiLU and a conv
        to ``latent_channels``), ``quant_conv_mu`` / ``quant_conv_log_sigma`` are the two halves
        of ldm's ``quant_conv`` (``2z → z`` each; the second gives ldm's log-variance as it
        is), and the decoder ends GroupNorm → SiLU → conv as ldm's does.
    """

    name: ClassVar[str] = "autoencoder-kl"
    spatial_dims: ClassVar[int] = 2

    input_shape: tuple[int, ...] = (3, 256, 256)
    channels: tuple[int, ...] | None = None
    num_res_blocks: int | None = None
    decoder_num_res_blocks: int | None = None
    latent_channels: int | None = None
    attention_levels: tuple[bool, ...] | None = None
    with_mid_attention: bool | None = None
    norm_num_groups: int | None = None
    norm_eps: float = 1e-6
    kl_weight: float = 1e-6
    recon_loss: str = "mse"
    recon_reduction: str = "mean"
    use_checkpointing: bool = False
    preset: str | None = None
    layout: str = "monai"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.preset is not None and self.preset not in PRESETS:
            raise self.problem(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        for key, value in PRESETS[self.preset or "sd-v1"].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.decoder_num_res_blocks is None and isinstance(self.num_res_blocks, int):
            self.decoder_num_res_blocks = self.num_res_blocks + 1
        if self.attention_levels is None and isinstance(self.channels, tuple | list):
            self.attention_levels = (False,) * len(self.channels)

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> AutoencoderKLConfig:
        """A config from a named preset, with any field overridden.

        Examples
        --------
        >>> AutoencoderKLConfig.from_preset("tiny", input_shape=(1, 28, 28)).channels
        (32, 64)
        """
        return cls(preset=preset, **overrides)

    @property
    def downsampling_factor(self) -> int:
        """f: how much each spatial axis shrinks from input to latent."""
        return 2 ** (len(self.channels or ()) - 1)

    def recon_units(self) -> str | None:
        """The unit of ``recon_loss`` (:func:`~vaearr.models.losses.loss_units` of ``recon_loss`` and its reduction)."""
        return loss_units(self.recon_loss, self.recon_reduction)

    def validate(self) -> None:
        """See :meth:`ModelConfig.validate`; also checks widths, groups and divisibility by f."""
        super().validate()
        validate_kl_architecture(self)

    # -- reading ldm / Stable Diffusion configs ---------------------------------------------------

    @classmethod
    def from_ldm_yaml(cls, path: str | Path, **overrides: Any) -> AutoencoderKLConfig:
        """The config giving the same network as an ldm / Stable Diffusion first-stage YAML.

        Accepts a full LDM/SD config (``model.params.first_stage_config.params.ddconfig``), an
        ldm autoencoder training config (``model.params.ddconfig``), a bare first-stage config
        (``params.ddconfig`` or ``ddconfig``) or a bare ``ddconfig``. Mapping: ``channels = ch *
        ch_mult``; ``num_res_blocks``; ``decoder_num_res_blocks = num_res_blocks + 1``;
        ``latent_channels = embed_dim`` (or ``z_channels``); ``attention_levels`` from
        ``attn_resolutions`` (level i runs at ``resolution / 2**i``); mid attention on; 32 groups;
        ``input_shape = (in_channels, resolution, resolution)``; ``kl_weight`` from
        ``lossconfig.params.kl_weight`` when present.

        Parameters
        ----------
        path
            The YAML file.
        **overrides
            Fields to set on top (e.g. ``input_shape=(3, 512, 512)``).

        Raises
        ------
        InputError
            Unreadable YAML, no first-stage section, a VQ (not KL) first stage, missing keys.
        """
        yaml = require("yaml", "models")
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "no such file")
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InputError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
        params, ddconfig = _find_first_stage(doc, path)

        target = str(params.get("target", "") or "")
        if not ddconfig.get("double_z", True) or "VQ" in target:
            raise InputError(path, "this first stage is a VQ autoencoder (double_z false), not a KL one")
        needed = ("ch", "ch_mult", "num_res_blocks", "z_channels", "in_channels", "out_ch", "resolution")
        missing = [k for k in needed if k not in ddconfig]
        if missing:
            raise InputError(path, f"ddconfig lacks {', '.join(missing)}")
        if ddconfig["out_ch"] != ddconfig["in_channels"]:
            raise InputError(
                path, f"out_ch {ddconfig['out_ch']} differs from in_channels {ddconfig['in_channels']}; "
                "vaearr's autoencoders reconstruct their input"
            )  # fmt: skip
        ch, mult, res = int(ddconfig["ch"]), [int(m) for m in ddconfig["ch_mult"]], int(ddconfig["resolution"])
        attn = {int(r) for r in ddconfig.get("attn_resolutions") or []}
        nrb = int(ddconfig["num_res_blocks"])
        loss_params = ((params.get("lossconfig") or {}).get("params")) or {}
        fields: dict[str, Any] = {
            "input_shape": (int(ddconfig["in_channels"]), res, res),
            "channels": tuple(ch * m for m in mult),
            "num_res_blocks": nrb,
            "decoder_num_res_blocks": nrb + 1,
            "latent_channels": int(params.get("embed_dim", ddconfig["z_channels"])),
            "attention_levels": tuple((res // 2**i) in attn for i in range(len(mult))),
            "with_mid_attention": True,  # ldm's Encoder/Decoder always have mid.attn_1
            "norm_num_groups": 32,  # ldm's Normalize() is GroupNorm(32, ...)
        }
        if "kl_weight" in loss_params:
            fields["kl_weight"] = float(loss_params["kl_weight"])
        fields.update(overrides)
        config = cls(**fields)
        try:
            config.validate()
        except InputError as exc:
            raise InputError(path, exc.problem) from None
        return config


def _find_first_stage(doc: Any, path: Path) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """(first-stage params with its ``target``, ddconfig) from the layouts :meth:`from_ldm_yaml` accepts."""

    def get(node: Any, *keys: str) -> Any:
        for key in keys:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return node

    # (the node holding "target" and "params", or the params themselves when no such node)
    candidates = [
        get(doc, "model", "params", "first_stage_config"),  # full LDM / SD config
        get(doc, "first_stage_config"),
        get(doc, "model"),  # ldm first-stage training config (models/first_stage_models/*)
        doc,  # a bare {target, params} first-stage config
    ]
    for node in candidates:
        params = get(node, "params")
        if isinstance(params, Mapping) and isinstance(params.get("ddconfig"), Mapping):
            return {**params, "target": node.get("target")}, params["ddconfig"]
    if isinstance(doc, Mapping) and isinstance(doc.get("ddconfig"), Mapping):
        return dict(doc), doc["ddconfig"]  # bare first-stage params {embed_dim, ddconfig, ...}
    if isinstance(doc, Mapping) and {"ch", "ch_mult", "z_channels"} <= set(doc):
        return {}, doc  # a bare ddconfig
    raise InputError(
        path,
        "no first-stage autoencoder found (looked for model.params.first_stage_config.params.ddconfig, "
        "model.params.ddconfig, params.ddconfig, ddconfig, or a bare ddconfig)",
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
