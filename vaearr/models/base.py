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

import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from vaearr.errors import InputError, VaearrError
from vaearr.files import write_bytes_whole
from vaearr.models.losses import reparameterise
from vaearr.registry import Registry

#: File names inside a saved model directory.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: Clamp on log-variances, as MONAI's AutoencoderKL does: exp(20) and exp(-30) are still finite in
#: float32, and a runaway encoder early in training gives a large loss, not inf/NaN.
LOGVAR_RANGE = (-30.0, 20.0)

ConfigT = TypeVar("ConfigT", bound="ModelConfig")


class MissingPackageError(VaearrError, ImportError):
    """A package that no vaearr extra installs is needed for an optional feature."""

    def __init__(self, feature: str, package: str):
        super().__init__(f"{feature} needs the {package} package, which is not installed: pip install {package}")


# --------------------------------------------------------------------------------------------
# Typed output
# --------------------------------------------------------------------------------------------


@dataclass
class VAEOutput:
    """What a model's ``forward`` returns.

    Attributes
    ----------
    recon
        Reconstruction in data space, same shape as the input: (B, C, H, W) or (B, C, D, H, W).
        Already through the output head (sigmoid/tanh/linear).
    mu, logvar
        Posterior mean and log-variance: (B, latent_dim) for vector latents, (B, C_lat, h, w[, d])
        for spatial latents.
    z
        The latent that was decoded: a posterior sample in training mode, ``mu`` in eval mode
        (unless ``sample_posterior`` says otherwise).
    loss, recon_loss, kl
        Scalars, see the module docstring for the reductions; ``None`` until
        ``loss_function`` has run (``forward`` always runs it).
    extras
        Family-specific tensors: ``logits`` (conv-vae's pre-sigmoid output), ``perceptual`` and
        ``adversarial`` terms (vae3d), ... Documented by each family.
    """

    recon: Tensor
    mu: Tensor
    logvar: Tensor
    z: Tensor
    loss: Tensor | None = None
    recon_loss: Tensor | None = None
    kl: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------


def _tupled(value: Any) -> Any:
    """JSON has no tuples: turn lists (recursively) back into the tuples the dataclasses hold."""
    if isinstance(value, list | tuple):
        return tuple(_tupled(v) for v in value)
    return value


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits a (simple) annotation: classes, ``X | None``, ``tuple[T, ...]``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (types.UnionType, typing.Union):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(args) == len(value) and all(_type_ok(v, h) for v, h in zip(value, args, strict=True))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # annotations this checker does not understand are not checked


@dataclass
class ModelConfig:
    """Base of every family's config: a dataclass saved as JSON beside the weights.

    Attributes
    ----------
    name
        Class attribute: the registry key, e.g. ``"conv-vae"``; written to JSON as ``"name"``.
    input_shape
        One sample's shape without the batch dim: (C, H, W) for 2D families, (C, D, H, W) for 3D.
    """

    name: ClassVar[str] = ""
    #: Number of spatial dims this family works on (2 or 3); checked against ``input_shape``.
    spatial_dims: ClassVar[int] = 2

    input_shape: tuple[int, ...] = (1, 60, 60)

    def __post_init__(self) -> None:
        # Lists (from Python callers or parsed CLI values) become the tuples the fields declare, so
        # configs compare equal however they were made. Subclasses call super().__post_init__().
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                setattr(self, f.name, _tupled(value))

    # -- checks ----------------------------------------------------------------------------

    def problem(self, message: str) -> InputError:
        """An :class:`InputError` for this config; ``load_model`` adds the file's path."""
        return InputError(None, f"model config {self.name!r}: {message}")

    def validate(self) -> None:
        """Check field types and values; raise :class:`InputError` with one clear line.

        Subclasses extend this (call ``super().validate()`` first). :func:`build_model` calls it,
        so a bad config fails before any weights are allocated.
        """
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _type_ok(value, hints[f.name]):
                raise self.problem(f"{f.name} must be {_hint_name(hints[f.name])}, got {value!r}")
        want = 1 + self.spatial_dims
        axes = "(C, H, W)" if self.spatial_dims == 2 else "(C, D, H, W)"
        if len(self.input_shape) != want:
            raise self.problem(f"input_shape must be {axes}, got {self.input_shape!r}")
        if any(s < 1 for s in self.input_shape):
            raise self.problem(f"input_shape sizes must be >= 1, got {self.input_shape!r}")

    def recon_units(self) -> str | None:
        """The unit of ``recon_loss`` as a training log's axes write it (``nats per sample`` for a likelihood);
        None where the family does not say."""
        return None

    # -- (de)serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"name": ..., field: value, ...}`` with tuples as lists."""
        d: dict[str, Any] = {"name": self.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            d[f.name] = json.loads(json.dumps(value))  # tuples → lists, a deep copy
        return d

    def to_json(self, indent: int | None = 2) -> str:
        """The config as JSON text (what :func:`save_model` writes to ``config.json``)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls: type[ConfigT], d: Mapping[str, Any]) -> ConfigT:
        """Build a config from a dict such as :meth:`to_dict` writes.

        On the base class the family is chosen by ``d["name"]`` (see :func:`config_from_dict`);
        on a family's class ``d["name"]``, if present, must match. Unknown keys are an error, so a
        typo in a CLI flag or a JSON file is not silently ignored.
        """
        if cls is ModelConfig:
            return config_from_dict(d)  # type: ignore[return-value]
        name = d.get("name", cls.name)
        if name != cls.name:
            raise InputError(None, f"config is for model {name!r}, not {cls.name!r}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known) - {"name"})
        if unknown:
            raise InputError(
                None, f"model config {cls.name!r}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in d.items():
            if key == "name":
                continue
            value = _tupled(value)
            if hints[key] is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # JSON writes 1.0 as 1 in some tools
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[ConfigT], text: str) -> ConfigT:
        """Inverse of :meth:`to_json`."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(None, f"model config is not valid JSON ({exc})") from None
        if not isinstance(d, dict):
            raise InputError(None, "model config JSON must be an object")
        return cls.from_dict(d)


def _hint_name(hint: Any) -> str:
    """Readable form of an annotation for error messages."""
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


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

#: Model families by name (the config's ``name``, what ``--model`` and a run's ``config.json`` say) → (config class,
#: model class): the shared :class:`~vaearr.registry.Registry` of the other method families, filled by
#: :func:`register` when a family's module is imported.
REGISTRY: Registry[tuple[type[ModelConfig], type[VAEBase]]] = Registry("model")

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


def config_from_dict(d: Mapping[str, Any]) -> ModelConfig:
    """Build the right family's config from a dict, chosen by ``d["name"]``.

    Raises
    ------
    InputError
        No or unknown ``name``, unknown fields (names listed in the message).
    """
    name = d.get("name")
    if not isinstance(name, str) or name not in REGISTRY:
        raise InputError(None, f"unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name][0].from_dict(d)


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
