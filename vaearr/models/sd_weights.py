"""Pretrained Stable Diffusion / latent-diffusion VAEs as vaearr's ``autoencoder-kl`` (``layout="ldm"``).

Two sources are read, both without unpickling arbitrary objects:

* an ldm / Stable Diffusion checkpoint (``model.ckpt``, ``.pt``, ``.pth`` through
  ``torch.load(weights_only=True)``, or ``.safetensors``): a full SD checkpoint (keys
  ``first_stage_model.encoder...`` inside ``state_dict``), an ldm first-stage checkpoint (keys
  ``encoder...``, ``decoder...``, ``quant_conv...``; ldm's training-loss keys ``loss.*`` are
  ignored) or a script's ``{"model_state_dict": vae.state_dict()}``;
* a diffusers ``AutoencoderKL`` folder (``config.json`` + ``diffusion_pytorch_model.safetensors``
  or ``.bin``; a pipeline folder's ``vae/``), or the diffusers weights file alone.

diffusers names are first renamed to ldm's (``down_blocks.i.resnets.j`` → ``down.i.block.j``,
``conv_shortcut`` → ``nin_shortcut``, ``mid_block.resnets.0/attentions.0/resnets.1`` →
``mid.block_1/attn_1/block_2``, ``conv_norm_out`` → ``norm_out``, attention ``group_norm``,
``to_q|query``, ``to_k|key``, ``to_v|value``, ``to_out.0|proj_attn`` → ``norm, q, k, v, proj_out``;
decoder ``up_blocks.i`` → ``up.{n-1-i}``: diffusers counts them in running order, ldm by level),
then ldm's modules onto MONAI's blocks in running order (the orders match). Attention 1×1 convs
become MONAI's linear layers (same numbers, reshaped); ldm's ``quant_conv`` (2z → 2z) is split
into ``quant_conv_mu`` (first z outputs: the mean) and ``quant_conv_log_sigma`` (last z: ldm's
log-variance, which is what vaearr's second head holds — no conversion). The architecture is read
from the tensors' shapes (widths, blocks per level, attention, latent channels); GroupNorm groups
from diffusers' ``config.json`` (``norm_num_groups``) or ldm's fixed 32.

Inputs: SD VAEs take RGB in [-1, 1] (``2 * x / 255 - 1``) and output the same range.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from types import MappingProxyType

import torch
from torch import Tensor

from vaearr.errors import InputError
from vaearr.models.autoencoder_kl import AutoencoderKL, AutoencoderKLConfig
from vaearr.models.base import build_model
from vaearr.models.imports import read_checkpoint

#: diffusers weight files in a folder, in the order they are looked for.
DIFFUSERS_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
#: ldm's GroupNorm groups (``Normalize()``), when no config says otherwise.
LDM_GROUPS = 32


@dataclass
class SDVae:
    """A pretrained SD / ldm VAE read for vaearr: the model and where it came from."""

    model: AutoencoderKL
    source: str  # "ldm" or "diffusers"
    path: Path
    notes: list[str] = field(default_factory=list)


def _short(keys: list[str], n: int = 6) -> str:
    return "[" + ", ".join(keys[:n]) + (f", … {len(keys) - n} more" if len(keys) > n else "") + "]" if keys else "none"


# --------------------------------------------------------------------------------------------
# reading


def read_sd_state(path: str | os.PathLike) -> tuple[dict[str, Tensor], str, dict[str, Any]]:
    """(state dict with ldm names, ``"ldm"`` or ``"diffusers"``, diffusers config or ``{}``) of a file or folder."""
    path = Path(path)
    config: dict[str, Any] = {}
    if path.is_dir():
        folder = path / "vae" if (path / "vae" / "config.json").is_file() else path
        cfg_file = folder / "config.json"
        if not cfg_file.is_file():
            raise InputError(path, "a folder but not a diffusers AutoencoderKL (no config.json, nor vae/config.json)")
        try:
            config = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(cfg_file, f"not valid JSON ({exc})") from None
        if config.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
            raise InputError(cfg_file, f"a diffusers {config['_class_name']}, not an AutoencoderKL")
        weights = next((folder / f for f in DIFFUSERS_FILES if (folder / f).is_file()), None)
        if weights is None:
            raise InputError(folder, f"no weights file ({' or '.join(DIFFUSERS_FILES)})")
        path = weights
    if not path.is_file():
        raise InputError(path, "no such file or folder")
    raw = read_checkpoint(path)
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(raw.get(key), Mapping):
            raw = dict(raw[key])
            break
    state = {k: v for k, v in raw.items() if isinstance(v, Tensor)}
    if any(k.startswith("first_stage_model.") for k in state):
        state = {k[len("first_stage_model."):]: v for k, v in state.items() if k.startswith("first_stage_model.")}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("loss.")}  # ldm's LPIPS + discriminator
    if any(".down_blocks." in k or ".mid_block." in k or ".up_blocks." in k for k in state):
        return diffusers_to_ldm(state, path), "diffusers", config
    if not any(k.startswith("encoder.") for k in state):
        raise InputError(path, f"no VAE weights found (no first_stage_model.encoder..., encoder.down... or "
                               f"encoder.down_blocks... keys; first keys: {_short(list(state), 4)})")
    return state, "ldm", config


_ATTN = MappingProxyType({"group_norm": "norm", "norm": "norm", "to_q": "q", "query": "q", "to_k": "k", "key": "k", "to_v": "v",
                          "value": "v", "to_out.0": "proj_out", "proj_attn": "proj_out"})


def diffusers_to_ldm(state: Mapping[str, Tensor], path: str | os.PathLike | None = None) -> dict[str, Tensor]:
    """diffusers ``AutoencoderKL`` keys renamed to ldm's (module docstring); unknown keys → one-line error."""
    n_up = len({m.group(1) for k in state if (m := re.match(r"decoder\.up_blocks\.(\d+)\.", k))})
    out: dict[str, Tensor] = {}
    unknown: list[str] = []
    attn = "|".join(re.escape(a) for a in _ATTN)
    rules = [
        (r"(encoder|decoder)\.(conv_in|conv_out)\.(weight|bias)", lambda m: f"{m[1]}.{m[2]}.{m[3]}"),
        (r"(encoder|decoder)\.conv_norm_out\.(weight|bias)", lambda m: f"{m[1]}.norm_out.{m[2]}"),
        (r"(quant_conv|post_quant_conv)\.(weight|bias)", lambda m: f"{m[1]}.{m[2]}"),
        (r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(weight|bias)",
         lambda m: f"encoder.down.{m[1]}.block.{m[2]}.{_res(m[3])}.{m[4]}"),
        (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(weight|bias)",
         lambda m: f"encoder.down.{m[1]}.downsample.conv.{m[2]}"),
        (rf"encoder\.down_blocks\.(\d+)\.attentions\.(\d+)\.({attn})\.(weight|bias)",
         lambda m: f"encoder.down.{m[1]}.attn.{m[2]}.{_ATTN[m[3]]}.{m[4]}"),
        (r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(weight|bias)",
         lambda m: f"decoder.up.{n_up - 1 - int(m[1])}.block.{m[2]}.{_res(m[3])}.{m[4]}"),
        (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(weight|bias)",
         lambda m: f"decoder.up.{n_up - 1 - int(m[1])}.upsample.conv.{m[2]}"),
        (rf"decoder\.up_blocks\.(\d+)\.attentions\.(\d+)\.({attn})\.(weight|bias)",
         lambda m: f"decoder.up.{n_up - 1 - int(m[1])}.attn.{m[2]}.{_ATTN[m[3]]}.{m[4]}"),
        (r"(encoder|decoder)\.mid_block\.resnets\.([01])\.(\w+)\.(weight|bias)",
         lambda m: f"{m[1]}.mid.block_{int(m[2]) + 1}.{_res(m[3])}.{m[4]}"),
        (rf"(encoder|decoder)\.mid_block\.attentions\.0\.({attn})\.(weight|bias)",
         lambda m: f"{m[1]}.mid.attn_1.{_ATTN[m[2]]}.{m[3]}"),
    ]
    for key, value in state.items():
        for pattern, rename in rules:
            if m := re.fullmatch(pattern, key):
                new = rename(m)
                if ".attn" in new and value.ndim == 2:  # diffusers' linear attention → ldm's 1×1 convs
                    value = value[:, :, None, None]
                out[new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise InputError(path, f"not a diffusers AutoencoderKL: unexpected keys {_short(unknown)}")
    return out


def _res(name: str) -> str:
    return "nin_shortcut" if name == "conv_shortcut" else name


# --------------------------------------------------------------------------------------------
# architecture and mapping


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    return len({m.group(1) for k in state if (m := re.match(pattern, k))})


def _need(state: Mapping[str, Tensor], key: str, path: Any) -> Tensor:
    if key not in state:
        raise InputError(path, f"not an ldm / SD KL autoencoder: missing key {key}")
    return state[key]


def ldm_config(state: Mapping[str, Tensor], *, size: int, norm_num_groups: int = LDM_GROUPS,
               path: str | os.PathLike | None = None) -> AutoencoderKLConfig:
    """The ``autoencoder-kl`` config (``layout="ldm"``) that holds ``state`` (ldm names), for size×size inputs."""
    conv_in = _need(state, "encoder.conv_in.weight", path)
    levels = _count(state, r"encoder\.down\.(\d+)\.")
    if levels < 1:
        raise InputError(path, "not an ldm / SD KL autoencoder: no encoder.down.N blocks")
    channels = tuple(int(_need(state, f"encoder.down.{i}.block.0.conv2.weight", path).shape[0]) for i in range(levels))
    z = int(_need(state, "decoder.conv_in.weight", path).shape[1])
    z2 = int(_need(state, "encoder.conv_out.weight", path).shape[0])
    if z2 != 2 * z:
        raise InputError(path, f"encoder.conv_out gives {z2} channels, not 2 × {z} (a VQ or single-z first stage; "
                               "only KL autoencoders with double_z load)")
    if "post_quant_conv.weight" in state and state["post_quant_conv.weight"].shape[:2] != (z, z):
        raise InputError(path, f"embed_dim {state['post_quant_conv.weight'].shape[1]} differs from z_channels {z}; "
                               "MONAI's AutoencoderKL cannot hold that")
    enc_attn = tuple(_count(state, rf"encoder\.down\.{i}\.attn\.(\d+)\.") > 0 for i in range(levels))
    dec_attn = tuple(_count(state, rf"decoder\.up\.{i}\.attn\.(\d+)\.") > 0 for i in range(levels))
    if enc_attn != dec_attn:
        raise InputError(path, f"attention at levels {enc_attn} in the encoder but {dec_attn} in the decoder; "
                               "MONAI's AutoencoderKL uses the same levels in both")
    mid_attn = "encoder.mid.attn_1.q.weight" in state
    if not mid_attn and "encoder.mid.block_1.conv1.weight" in state:
        raise InputError(path, "mid blocks without mid attention (diffusers mid_block_add_attention=false); "
                               "MONAI's AutoencoderKL has both or neither")
    out_ch = int(_need(state, "decoder.conv_out.weight", path).shape[0])
    if out_ch != conv_in.shape[1]:
        raise InputError(path, f"{conv_in.shape[1]} input channels but {out_ch} output channels")
    config = AutoencoderKLConfig(
        input_shape=(int(conv_in.shape[1]), size, size), channels=channels,
        num_res_blocks=_count(state, r"encoder\.down\.0\.block\.(\d+)\."),
        decoder_num_res_blocks=_count(state, r"decoder\.up\.0\.block\.(\d+)\."), latent_channels=z,
        attention_levels=enc_attn, with_mid_attention=mid_attn,
        norm_num_groups=norm_num_groups, layout="ldm",
    )
    try:
        config.validate()
    except InputError as exc:
        raise InputError(path, exc.problem) from None
    return config


def ldm_names(config: AutoencoderKLConfig) -> dict[str, str]:
    """vaearr module prefix (``net.decoder.blocks.5``) → ldm module name (``decoder.up.3.block.0``), running order."""
    c = config
    levels = len(c.channels)
    mid = ["mid.block_1", "mid.attn_1", "mid.block_2"] if c.with_mid_attention else []
    enc = ["conv_in"]
    for i in range(levels):
        for j in range(c.num_res_blocks):
            enc += [f"down.{i}.block.{j}"] + ([f"down.{i}.attn.{j}"] if c.attention_levels[i] else [])
        if i != levels - 1:
            enc.append(f"down.{i}.downsample")
    enc += [*mid, "norm_out", "nonlinearity", "conv_out"]
    dec = ["conv_in", *mid]
    for i in reversed(range(levels)):
        for j in range(c.decoder_num_res_blocks):
            dec += [f"up.{i}.block.{j}"] + ([f"up.{i}.attn.{j}"] if c.attention_levels[i] else [])
        if i != 0:
            dec.append(f"up.{i}.upsample")
    dec += ["norm_out", "nonlinearity", "conv_out"]
    names = {f"net.encoder.blocks.{k}": f"encoder.{n}" for k, n in enumerate(enc)}
    names.update({f"net.decoder.blocks.{k}": f"decoder.{n}" for k, n in enumerate(dec)})
    names.update({"net.post_quant_conv": "post_quant_conv"})
    return names


#: vaearr parameter suffix (after the block prefix) → ldm suffix, per kind of block
_SUFFIX = MappingProxyType({
    "conv.weight": "weight", "conv.bias": "bias", "weight": "weight", "bias": "bias",
    "conv.conv.weight": "conv.weight", "conv.conv.bias": "conv.bias",  # downsample
    "postconv.conv.weight": "conv.weight", "postconv.conv.bias": "conv.bias",  # upsample
    "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias", "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias", "conv1.conv.weight": "conv1.weight", "conv1.conv.bias": "conv1.bias",
    "conv2.conv.weight": "conv2.weight", "conv2.conv.bias": "conv2.bias",
    "nin_shortcut.conv.weight": "nin_shortcut.weight", "nin_shortcut.conv.bias": "nin_shortcut.bias",
    "norm.weight": "norm.weight", "norm.bias": "norm.bias",
    "attn.to_q.weight": "q.weight", "attn.to_q.bias": "q.bias", "attn.to_k.weight": "k.weight",
    "attn.to_k.bias": "k.bias", "attn.to_v.weight": "v.weight", "attn.to_v.bias": "v.bias",
    "attn.out_proj.weight": "proj_out.weight", "attn.out_proj.bias": "proj_out.bias",
})


def map_ldm_state(state: Mapping[str, Tensor], model: AutoencoderKL,
                  path: str | os.PathLike | None = None) -> dict[str, Tensor]:
    """``state`` (ldm names) as ``model``'s state dict; one-line error listing missing / unexpected keys or a bad shape."""
    names = ldm_names(model.config)
    z = model.config.latent_channels
    target = model.state_dict()
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    for key, want in target.items():
        if key.startswith(("net.quant_conv_mu.", "net.quant_conv_log_sigma.")):
            their = "quant_conv." + key.rsplit(".", 1)[1]
            half = slice(0, z) if "_mu." in key else slice(z, 2 * z)
            value = state[their][half] if their in state else None
        else:
            prefix = next((p for p in names if key.startswith(p + ".")), None)
            suffix = key[len(prefix) + 1:] if prefix else ""
            their = f"{names[prefix]}.{_SUFFIX[suffix]}" if prefix and suffix in _SUFFIX else key
            value = state.get(their)
        if value is None:
            missing.append(their)
            continue
        used.add(their)
        value = value.reshape(want.shape) if value.numel() == want.numel() and value.ndim != want.ndim else value
        if tuple(value.shape) != tuple(want.shape):
            raise InputError(path, f"{their} has shape {tuple(value.shape)}, the network built from the other "
                                   f"tensors needs {tuple(want.shape)} for {key}")
        out[key] = value.to(want.dtype)
    unexpected = [k for k in state if k not in used]
    if missing or unexpected:
        raise InputError(path, f"does not fit an ldm / SD KL autoencoder: missing keys {_short(sorted(set(missing)))}; "
                               f"unexpected keys {_short(unexpected)}")
    return out


def load_sd_vae(path: str | os.PathLike, *, size: int | None = None) -> SDVae:
    """A pretrained SD / ldm VAE (file or diffusers folder) as an ``autoencoder-kl`` model in eval mode.

    Parameters
    ----------
    path
        ``model.ckpt`` / ``.pt`` / ``.pth`` / ``.safetensors``, or a diffusers folder.
    size
        Input size (size×size) the config records; default diffusers' ``sample_size`` or 512
        (SD v1 inference, and VAE_Ultrasound's analysis). The network takes any multiple of f.

    Raises
    ------
    InputError
        Unreadable or refused file, or keys that do not form a KL autoencoder (one line listing
        the missing and unexpected keys).
    """
    state, source, cfg = read_sd_state(path)
    groups = int(cfg.get("norm_num_groups", LDM_GROUPS))
    size = int(size or cfg.get("sample_size") or 512)
    notes = [f"{source} weights, {len(state)} tensors; GroupNorm groups {groups}"
             f"{' (config.json)' if 'norm_num_groups' in cfg else ' (ldm default)'}; input size {size}×{size}; "
             "inputs RGB scaled to [-1, 1]"]
    if cfg.get("use_quant_conv") is False or cfg.get("use_post_quant_conv") is False:
        state = dict(state)
        z = int(state["decoder.conv_in.weight"].shape[1])
        eye = torch.eye(2 * z)[:, :, None, None]
        if cfg.get("use_quant_conv") is False:
            state.update({"quant_conv.weight": eye, "quant_conv.bias": torch.zeros(2 * z)})
        if cfg.get("use_post_quant_conv") is False:
            state.update({"post_quant_conv.weight": eye[:z, :z], "post_quant_conv.bias": torch.zeros(z)})
        notes.append("no quant_conv / post_quant_conv in this VAE: identity convs stand in (exact)")
    config = ldm_config(state, size=size, norm_num_groups=groups, path=path)
    model = build_model(config)
    model.load_state_dict(map_ldm_state(state, model, path), strict=True)
    return SDVae(model=model.eval(), source=source, path=Path(path), notes=notes)
