"""Weights users already have: PyTorch checkpoints of the lab scripts' VAEs mapped onto conv-vae.

Each script (:data:`SCRIPTS`) is a layout of state-dict keys, in the order its layers run, and the
conv-vae options that rebuild its architecture exactly (:class:`~vaearr.models.conv_vae.ConvVAEConfig`'s
layout fields). Widths, kernel sizes and the latent size are read from the checkpoint's shapes;
what a checkpoint cannot tell (strides, paddings, the output activation) is the script's
hard-coded choice, overridable through ``options``.

================  =======================================================  ==========================
``--from``        script                                                   layout
================  =======================================================  ==========================
ebsd-script       Angelamer/microstructural_segmentation (branch vae),     stride-2 convs + LeakyReLU,
                  ``vae_cnn.VAE``                                          no norm; interpolate back to
                                                                           the encoder's sizes; tanh
beta-vae          small-thinking/ml-playground                             convs + BatchNorm + ReLU;
                  ``modeling/generation/ae/vae.py``                        transposed convs; bilinear
                                                                           resize; sigmoid
mnist-vae         egorpol/nnstuff ``mnist_vae/enhanced_vae_model.py``      28×28: convs + BatchNorm +
                                                                           LeakyReLU, FC 512, transposed
                                                                           convs; sigmoid
================  =======================================================  ==========================

Checkpoints are read with ``torch.load(..., weights_only=True)``: tensors and plain containers
only; a file that holds other objects is refused, never unpickled.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from types import MappingProxyType

import torch
from safetensors.torch import load_file
from torch import Tensor

from vaearr.errors import InputError
from vaearr.models.base import VAEBase, build_model, config_from_dict
from vaearr.models.conv_vae import ConvVAE

#: Keys under which training scripts nest the model's state dict in a checkpoint dict.
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint file's top-level object (a dict), loaded without unpickling arbitrary objects.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(path, map_location="cpu", weights_only=True)``.

    Raises
    ------
    InputError
        No such file; not a checkpoint; a pickle holding other objects than tensors and plain
        containers (refused); or not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.suffix == ".safetensors":
        try:
            return dict(load_file(str(path)))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise InputError(path, f"not a readable safetensors file ({exc})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        what = str(exc).splitlines()
        found = next((line.strip() for line in what if "GLOBAL" in line or "Unsupported" in line), what[0] if what else "")
        raise InputError(path, f"refused: the checkpoint holds objects other than tensors and plain containers "
                               f"({found}); vaearr loads weights with weights_only=True and never unpickles "
                               "arbitrary objects — save model.state_dict() instead") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        first = next(iter(str(exc).splitlines()), "") or type(exc).__name__  # an empty file's EOFError says nothing
        raise InputError(path, f"not a PyTorch checkpoint torch.load can read ({first})") from None
    if not isinstance(obj, Mapping):
        raise InputError(path, f"holds a {type(obj).__name__}, not a state dict (a dict of tensors)")
    return dict(obj)


def state_dict_of(obj: Mapping[str, Any], path: str | os.PathLike | None = None) -> dict[str, Tensor]:
    """The tensors of a state dict, unwrapped from a training checkpoint (``model_state_dict``,
    ``state_dict``...) and with DistributedDataParallel's ``module.`` prefix removed."""
    for key in NESTED_KEYS:
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise InputError(path, f"holds no tensors (keys: {', '.join(list(obj)[:8])})")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


@dataclass(frozen=True)
class Script:
    """One script's checkpoint layout: its layers' key prefixes in the order they run, and how to
    read the conv-vae options from the shapes."""

    name: str
    source: str
    #: regexes of the layer prefixes, in the order the layers run (numbered layers sorted by number)
    order: tuple[str, ...]
    options: Callable[[dict[str, Tensor]], dict[str, Any]]
    #: the range the script's inputs are scaled to
    scale: str

    def prefixes(self, state: Mapping[str, Tensor]) -> tuple[list[str], list[str]]:
        """The checkpoint's layer prefixes in running order, and the keys no pattern claims."""
        found: dict[str, list[str]] = {}
        for key in state:
            prefix = key.rsplit(".", 1)[0]
            for i, pattern in enumerate(self.order):
                if re.fullmatch(pattern, prefix):
                    found.setdefault(str(i), [])
                    if prefix not in found[str(i)]:
                        found[str(i)].append(prefix)
                    break
        claimed = {p for ps in found.values() for p in ps}
        unexpected = [k for k in state if k.rsplit(".", 1)[0] not in claimed]
        ordered = [p for i in range(len(self.order)) for p in sorted(found.get(str(i), []), key=_natural)]
        return ordered, unexpected


def _natural(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _numbered(state: Mapping[str, Tensor], pattern: str) -> list[Tensor]:
    """The weights whose keys match ``pattern`` (a regex with one number group), by that number."""
    hits = sorted((int(m.group(1)), v) for k, v in state.items() if (m := re.fullmatch(pattern, k)))
    return [v for _, v in hits]


def _need(state: Mapping[str, Tensor], key: str) -> Tensor:
    if key not in state:
        raise InputError(None, f"the checkpoint has no {key!r}; is it the right `script`?")
    return state[key]


def _ebsd_options(state: dict[str, Tensor]) -> dict[str, Any]:
    convs = _numbered(state, r"encoder\.(\d+)\.weight")
    refine = _numbered(state, r"dec_refine\.(\d+)\.0\.weight")
    return {
        "channels": [int(w.shape[0]) for w in convs], "latent_dim": int(_need(state, "fc_mu.weight").shape[0]),
        "norm": "none", "activation": "leaky_relu", "upsample_to": "encoder", "upsample_mode": "nearest",
        "decoder_channels": [int(w.shape[0]) for w in refine], "output": "tanh-mse",
    }


def _beta_vae_options(state: dict[str, Tensor]) -> dict[str, Any]:
    convs = [w for w in _numbered(state, r"encoder\.encoder\.(\d+)\.weight") if w.ndim == 4]
    transposed = [w for w in _numbered(state, r"decoder\.decoder\.(\d+)\.weight") if w.ndim == 4]
    return {
        "channels": [int(w.shape[0]) for w in convs], "latent_dim": int(_need(state, "encoder.fc_mu.weight").shape[0]),
        "kernel_sizes": [int(w.shape[-1]) for w in convs], "norm": "batch", "activation": "relu",
        "decoder": "transpose", "decoder_channels": [int(w.shape[1]) for w in transposed],
        "decoder_in_channels": int(transposed[0].shape[0]) if transposed else None,
        "decoder_kernel_sizes": [int(w.shape[-1]) for w in transposed], "output_layer": "last", "fit": "resize",
        "output": "sigmoid-bce",
    }


def _mnist_options(state: dict[str, Tensor]) -> dict[str, Any]:
    convs = _numbered(state, r"encoder\.(\d+)\.0\.weight")
    transposed = [*_numbered(state, r"decoder\.(\d+)\.0\.weight"), *_numbered(state, r"decoder\.(3)\.weight")]
    return {
        "channels": [int(w.shape[0]) for w in convs], "latent_dim": int(_need(state, "fc21.weight").shape[0]),
        "kernel_sizes": [int(w.shape[-1]) for w in convs], "strides": [2, 2, 2, 1], "paddings": [1, 1, 1, 0],
        "hidden_dims": [int(_need(state, "fc1.weight").shape[0])], "norm": "batch", "activation": "leaky_relu",
        "decoder": "transpose", "decoder_channels": [int(w.shape[1]) for w in transposed],
        "decoder_in_channels": int(_need(state, "fc4.weight").shape[0]), "decoder_fc_activation": True,
        "decoder_kernel_sizes": [int(w.shape[-1]) for w in transposed], "decoder_strides": [1, 2, 2, 2],
        "decoder_paddings": [0, 1, 1, 1], "decoder_output_paddings": [0, 0, 0, 0], "output_layer": "last",
        "output": "sigmoid-bce",
    }


#: ``--from`` name → layout.
SCRIPTS: Mapping[str, Script] = MappingProxyType({
    "ebsd-script": Script(
                         "ebsd-script", "Angelamer/microstructural_segmentation@vae vae_cnn.VAE",
                         (r"encoder\.\d+", "fc_mu", "fc_logvar", "fc_decode", r"dec_refine\.\d+\.0", r"out_head\.0"),
                         _ebsd_options, "[-1,1]"),
    "beta-vae": Script(
                         "beta-vae", "small-thinking/ml-playground modeling/generation/ae/vae.py VariationalAutoEncoder",
                         (r"encoder\.encoder\.\d+", r"encoder\.fc_mu", r"encoder\.fc_logvar", r"decoder\.fc", r"decoder\.decoder\.\d+"),
                         _beta_vae_options, "[0,1]"),
    "mnist-vae": Script(
                         "mnist-vae", "egorpol/nnstuff mnist_vae/enhanced_vae_model.py EnhancedVAE",
                         (r"encoder\.\d+\.[01]", "fc1", "fc21", "fc22", "fc3", "fc4", r"decoder\.\d+(\.[01])?"),
                         _mnist_options, "[0,1]"),
})


def _layers(model: torch.nn.Module) -> list[str]:
    """The model's layers that hold tensors of their own, in registration (= running) order."""
    return [name for name, m in model.named_modules() if name and (
        next(m.parameters(recurse=False), None) is not None or next(m.buffers(recurse=False), None) is not None)]


def script_config(script: str, state: dict[str, Tensor], input_shape: tuple[int, ...],
                  options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The conv-vae config (as a dict) that rebuilds ``script``'s network for ``input_shape``."""
    spec = _script(script)
    d = {"name": ConvVAE.config_class.name, "input_shape": list(input_shape), **spec.options(state), **(options or {})}
    d.setdefault("data_range", "[-1,1]" if spec.scale == "[-1,1]" else "[0,1]")
    return d


def _script(script: str) -> Script:
    if script not in SCRIPTS:
        raise InputError(None, f"unknown `script` {script!r}; known: {', '.join(SCRIPTS)}")
    return SCRIPTS[script]


def map_state_dict(script: str, state: dict[str, Tensor], model: torch.nn.Module,
                   path: str | os.PathLike | None = None) -> dict[str, Tensor]:
    """``state`` (the script's keys) renamed to ``model``'s keys, layer by layer in running order.

    Raises
    ------
    InputError
        One line listing the missing and unexpected keys, or the first tensor whose shape differs.
    """
    spec = _script(script)
    theirs, unexpected = spec.prefixes(state)
    ours = _layers(model)
    target = model.state_dict()
    out: dict[str, Tensor] = {}
    for their, our in zip(theirs, ours, strict=False):
        for key in [k for k in state if k.rsplit(".", 1)[0] == their]:
            name = f"{our}.{key.rsplit('.', 1)[1]}"
            if name not in target:
                unexpected.append(key)
                continue
            if tuple(target[name].shape) != tuple(state[key].shape):
                raise InputError(path, f"does not fit {script} → conv-vae: {key} has shape {tuple(state[key].shape)}, "
                                       f"{name} needs {tuple(target[name].shape)} (check the input size)")
            out[name] = state[key]
    unexpected += [k for their in theirs[len(ours):] for k in state if k.rsplit(".", 1)[0] == their]
    missing = [k for k in target if k not in out and not k.endswith("log_sigma")]
    if missing or unexpected:
        raise InputError(path, f"does not fit {script} → conv-vae: missing keys {_short(missing)}; "
                               f"unexpected keys {_short(unexpected)}")
    return out


def check_layout(script: str, state: Mapping[str, Tensor], path: str | os.PathLike | None = None) -> None:
    """One line listing the layers ``state`` lacks and the keys it has beyond ``script``'s layout."""
    spec = _script(script)
    theirs, unexpected = spec.prefixes(state)
    missing = [p.replace("\\", "") for p in spec.order if not any(re.fullmatch(p, t) for t in theirs)]
    if missing or unexpected:
        raise InputError(path, f"does not fit `source={script!r}` ({spec.source}): missing keys {_short(missing)}; "
                               f"unexpected keys {_short(unexpected)}")


def _short(keys: list[str], n: int = 6) -> str:
    return "[" + ", ".join(keys[:n]) + (f", … {len(keys) - n} more" if len(keys) > n else "") + "]" if keys else "none"


def load_script_weights(path: str | os.PathLike, script: str, input_shape: tuple[int, ...], *,
                        options: Mapping[str, Any] | None = None) -> VAEBase:
    """A conv-vae holding a script's checkpoint: built from :func:`script_config`, weights loaded strictly.

    Raises
    ------
    InputError
        Unreadable or refused file, an unknown script, or a checkpoint that does not fit the
        architecture for ``input_shape`` (naming what differs).
    """
    state = state_dict_of(read_checkpoint(path), path)
    check_layout(script, state, path)
    config = config_from_dict(script_config(script, state, input_shape, options))
    try:
        model = build_model(config)
    except InputError as exc:
        raise InputError(path, f"{script} → conv-vae: {exc.problem}") from None
    head = next((k for k in ("fc_mu.weight", "encoder.fc_mu.weight", "fc1.weight") if k in state), None)
    if head is not None and state[head].shape[1] != model.state_dict()[_first_head(model)].shape[1]:
        n_in = int(state[head].shape[1])
        raise InputError(path, f"{script}: the checkpoint's {head} takes {n_in} features, inputs of "
                               f"{'×'.join(map(str, input_shape))} give {model.state_dict()[_first_head(model)].shape[1]} "
                               f"({'×'.join(map(str, model.feature_shape))}); the script was trained on another "
                               "input size: resize the inputs (`resize`)")
    mapped = map_state_dict(script, state, model, path)
    model.load_state_dict(mapped, strict=False)
    return model.eval()


def _first_head(model: ConvVAE) -> str:
    return "fc_hidden.0.weight" if model.config.hidden_dims else "fc_mu.weight"
