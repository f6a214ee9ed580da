"""The surface every model family shares: config dataclass, typed output, losses, registry, save/load.

A model family is one config dataclass (a subclass of :class:`ModelConfig` with a ``name``) and
one model class (a subclass of :class:`VAEBase`) registered with :func:`register`. Everything
else — the CLI, the trainer, the encoder — goes through :func:`build_model`,
:func:`config_from_dict`, :func:`save_model` and :func:`load_model`, never through the family's
name in an ``if``.

Loss conventions (the numbers a user reads in a training log)
-------------------------------------------------------------
``kl``
    KL divergence of the diagonal Gaussian posterior ``N(mu, exp(logvar))`` from ``N(0, I)``,
    **summed over every latent element** of a sample (all latent dims, or channels × latent
    pixels for spatial latents) and **averaged over the batch**: nats per image.
``recon_loss``
    ``reduction="sum"``: summed over every pixel/voxel and channel of a sample, averaged over the
    batch — for BCE this is the Bernoulli negative log-likelihood in nats per image, so
    ``recon_loss + kl`` is the negative ELBO per image. ``reduction="mean"``: averaged over every
    element, the convention of the latent-diffusion/MONAI autoencoders, whose tiny KL weights
    (1e-6) are tuned against a per-pixel mean.
``loss``
    ``recon_loss + weight * kl_weight * kl``, where ``weight`` is the family's β (``beta`` or
    ``kl_weight`` in its config) and ``kl_weight`` the multiplier the trainer passes at call
    time for KL warm-up (0 → 1 over the first epochs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from vaearr.errors import InputError, VaearrError
from vaearr.files import write_bytes_whole
from vaearr.models.losses import reparameterise
# moved to vaearr.models.config; importable from here too
from vaearr.models.config import (  # noqa: F401
    ConfigT, VAEOutput, ModelConfig, REGISTRY, config_from_dict,
)

#: File names inside a saved model directory.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: Clamp on log-variances, as MONAI's AutoencoderKL does: exp(20) and exp(-30) are still finite in
#: float32, and a runaway encoder early in training gives a large loss, not inf/NaN.
LOGVAR_RANGE = (-30.0, 20.0)


class MissingPackageError(VaearrError, ImportError):
    """A package that no vaearr extra installs is needed for an optional feature."""

    def __init__(self, feature: str, package: str):
        super().__init__(f"{feature} needs the {package} package, which is not installed: pip install {package}")


# --------------------------------------------------------------------------------------------
# Model base class
# --------------------------------------------------------------------------------------------


class VAEBase(nn.Module):
    """Fixed surface of every family: ``encode``, ``decode``, ``forward``, ``loss_function``, ``sample``.

    Subclasses set ``config_class`` and implement ``encode``, ``decode``, ``loss_function`` and
    ``latent_shape``; ``forward`` and ``sample`` are shared.
    """

    config_class: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    # -- the surface ---------------------------------------------------------------------------

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior parameters ``(mu, logvar)`` of a batch ``x`` (B, *input_shape)."""
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        """Data-space output (through the output head) of latents ``z`` (B, *latent_shape)."""
        raise NotImplementedError

    def loss_function(self, x: Tensor, out: VAEOutput, kl_weight: float = 1.0) -> VAEOutput:
        """Fill ``out.loss``, ``out.recon_loss`` and ``out.kl`` (see the module docstring); returns ``out``."""
        raise NotImplementedError

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """One sample's latent shape, without the batch dim (for ``config.input_shape``)."""
        raise NotImplementedError

    def forward(
        self, x: Tensor, kl_weight: float = 1.0, sample_posterior: bool | None = None, **loss_options: Any
    ) -> VAEOutput:
        """Encode, draw (or take the mean of) the latent, decode, and compute the loss.

        Parameters
        ----------
        x
            (B, *input_shape) floating-point batch.
        kl_weight
            Multiplier on the KL term for warm-up, on top of the config's β.
        sample_posterior
            Decode a posterior sample (True) or the mean (False). ``None``: sample in training
            mode, mean in eval mode — so evaluation is deterministic.
        **loss_options
            Passed to ``loss_function`` (e.g. vae3d's ``adversarial=True``).
        """
        self.check_input(x)
        mu, logvar = self.encode(x)
        if sample_posterior is None:
            sample_posterior = self.training
        z = reparameterise(mu, logvar) if sample_posterior else mu
        recon, extras = self._decode_with_extras(z)
        out = VAEOutput(recon=recon, mu=mu, logvar=logvar, z=z, extras=extras)
        return self.loss_function(x, out, kl_weight=kl_weight, **loss_options)

    def _decode_with_extras(self, z: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Decode, keeping anything the loss needs besides the reconstruction (e.g. logits)."""
        return self.decode(z), {}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` draws from the prior N(0, I): (n, *input_shape).

        ``generator`` must live on the model's device (``torch.Generator(device=...)``).
        """
        param = next(self.parameters())
        z = torch.randn((n, *self.latent_shape), generator=generator, device=param.device, dtype=param.dtype)
        return self.decode(z)

    # -- helpers shared by the trainer ------------------------------------------------------------

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters the VAE optimiser steps (all of them unless a family has a discriminator)."""
        return self.parameters()

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`InputError` (one line) if ``x`` cannot go through this network.

        The default demands exactly (B, *input_shape); fully convolutional families relax it.
        """
        check_batch_rank(x, self.config)
        if tuple(x.shape[1:]) != tuple(self.config.input_shape):
            raise InputError(
                None,
                f"model {self.config.name!r} was built for input {fmt_shape(self.config.input_shape)} "
                f"(config input_shape), got {fmt_shape(x.shape[1:])}",
            )


class Adversarial:
    """What a family with a discriminator adds to :class:`VAEBase`; the trainer picks its adversarial loop by this type.

    ``discriminator`` is None when the config asks for none (then it trains as any VAE).
    """

    discriminator: nn.Module | None

    def adversarial_active(self, epoch: int) -> bool:
        """Whether the adversarial stage is on at ``epoch`` (0-based)."""
        raise NotImplementedError

    def adversarial_scale(self, epoch: int) -> float:
        """The adversarial term's multiplier at ``epoch`` (0-based): 1 while the stage is on, unless a family ramps it."""
        return 1.0 if self.adversarial_active(epoch) else 0.0

    def discriminator_loss(self, x: Tensor, out: VAEOutput) -> Tensor:
        """The discriminator's loss on real ``x`` and the detached reconstruction ``out.recon``."""
        raise NotImplementedError


def fmt_shape(shape: tuple[int, ...] | torch.Size) -> str:
    """``(1, 63, 64)`` → ``1×63×64``: how shapes read in error messages."""
    return "×".join(str(int(s)) for s in shape)


def check_batch_rank(x: Tensor, config: ModelConfig) -> None:
    """Rank and dtype checks every family shares."""
    want = 2 + config.spatial_dims
    layout = "(B, C, H, W)" if config.spatial_dims == 2 else "(B, C, D, H, W)"
    if x.ndim != want:
        raise InputError(None, f"model {config.name!r} expects a {want}-D batch {layout}, got shape {fmt_shape(x.shape)}")
    if not x.is_floating_point():
        raise InputError(
            None, f"model {config.name!r} needs a floating-point batch, got {x.dtype}; normalise the data first"
        )
    if x.shape[1] != config.input_shape[0]:
        raise InputError(
            None, f"model {config.name!r} expects {config.input_shape[0]} channel(s), got {x.shape[1]} (input {fmt_shape(x.shape[1:])})"
        )


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

ModelT = TypeVar("ModelT", bound=type[VAEBase])


def register(model_cls: ModelT) -> ModelT:
    """Class decorator: add a model class (and its ``config_class``) to :data:`REGISTRY` under its config's name."""
    config_cls = model_cls.config_class
    name = config_cls.name
    if not name:
        raise TypeError(f"{config_cls.__name__} has no name")
    if name in REGISTRY and REGISTRY[name][1] is not model_cls:
        raise TypeError(f"model name {name!r} is registered twice ({REGISTRY[name][1].__name__}, {model_cls.__name__})")
    if name not in REGISTRY:  # the same class again (a module imported twice) is no second registration
        REGISTRY.register(name)((config_cls, model_cls))
    return model_cls


def build_model(config: ModelConfig | Mapping[str, Any]) -> VAEBase:
    """Validate a config (or a dict with ``"name"``) and build its model with fresh weights.

    Examples
    --------
    >>> from vaearr.models import build_model
    >>> model = build_model({"name": "conv-vae", "input_shape": [1, 28, 28], "latent_dim": 2})
    >>> model.latent_shape
    (2,)
    """
    if not isinstance(config, ModelConfig):
        config = config_from_dict(config)
    config.validate()
    if config.name not in REGISTRY:
        raise InputError(None, f"model {config.name!r} is not registered")
    return REGISTRY[config.name][1](config)


def channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its 4-D weights (2-D convolutions) stored channels-last, the layout the CPU's convolution
    kernels run fastest on: the EBSD conv-vae's encoder took 0.52 against 0.56 CPU-ms a pattern, and with batches
    of 128 (:data:`vaearr.encoder.ENCODE_BATCH`) 0.36 (BENCHMARKS.md "Scale: the encoder pass"); the latents move
    by 1e-6 of their spread; a training step (forward, backward, Adam) of the conv-vae at batch 64 on 2 cores took
    231 against 299 ms. Callers hand it their 4-D batches in the same layout (:func:`channels_last_batch`).
    3-D convolutions keep theirs."""
    for p in model.parameters():
        if p.ndim == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)
    return model


def channels_last_batch(x: torch.Tensor) -> torch.Tensor:
    """A 4-D batch laid out channels-last (for a model of :func:`channels_last`); any other batch as it is."""
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


def save_model(model: VAEBase, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed).

    Each file is written under a temporary name and renamed, so a crash never leaves a
    half-written file under the real name. Returns the directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # serialised here and written by Python: safetensors' own writer reports a full disk as its own error type
    write_bytes_whole(directory / WEIGHTS_FILE, safetensors_bytes(tensors, metadata={"vaearr_model": model.config.name}))
    write_bytes_whole(directory / CONFIG_FILE, model.config.to_json() + "\n")
    return directory


def load_model(
    directory: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    overrides: Mapping[str, Any] | None = None,
) -> VAEBase:
    """Rebuild a model saved by :func:`save_model`; returned in eval mode.

    Parameters
    ----------
    directory
        Holds ``config.json`` and ``model.safetensors``.
    map_location
        Device the weights are loaded onto.
    overrides
        Config fields to change before building, for settings that do not change the weights:
        e.g. ``{"use_checkpointing": True}``, or ``{"perceptual_weight": 0.0}`` to encode on a
        machine without the perceptual network's weights file.

    Raises
    ------
    InputError
        Missing/unreadable files, a bad config, or weights that do not fit the config — naming
        the file.
    """
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for p in (config_path, weights_path):
        if not p.is_file():
            raise InputError(p, "missing: not a saved vaearr model directory (needs config.json and model.safetensors)")
    try:
        d = json.loads(config_path.read_text())
        if not isinstance(d, dict):
            raise InputError(None, "model config JSON must be an object")
        d.update(overrides or {})
        config = config_from_dict(d)
        model = build_model(config)
    except json.JSONDecodeError as exc:
        raise InputError(config_path, f"not valid JSON ({exc})") from None
    except InputError as exc:
        if exc.path is not None:  # already names its own file (e.g. a missing weights file)
            raise
        raise InputError(config_path, exc.problem) from None
    try:
        tensors = load_file(str(weights_path), device=str(map_location))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
        raise InputError(weights_path, f"cannot read weights ({exc})") from None
    missing, unexpected = (
        sorted(set(model.state_dict()) - set(tensors)),
        sorted(set(tensors) - set(model.state_dict())),
    )
    if missing or unexpected:
        raise InputError(
            weights_path,
            f"weights do not fit the config: {len(missing)} missing (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})",
        )
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()[-1].strip()
        raise InputError(weights_path, f"weights do not fit the config: {first}") from None
    return model.to(map_location).eval()
