"""The config of the KL autoencoder (:class:`AutoencoderKLConfig`): its presets, its checks of an architecture, and
its reading of a latent-diffusion YAML; :mod:`vaearr.models.autoencoder_kl` gives it with the model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from types import MappingProxyType

from vaearr.errors import InputError, require
from vaearr.models.base import ModelConfig, fmt_shape
from vaearr.models.losses import loss_units


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
