"""The config dataclass every model family subclasses (:class:`ModelConfig`: checked fields, JSON both ways), the
registry of the families (:data:`REGISTRY`) and the typed output of a forward pass (:class:`VAEOutput`);
:mod:`vaearr.models.base` gives them too."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from torch import Tensor

from vaearr.errors import InputError
from vaearr.registry import Registry


if TYPE_CHECKING:  # the registry's annotation names the model class, which takes a config
    from vaearr.models.base import VAEBase


ConfigT = TypeVar("ConfigT", bound="ModelConfig")


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


#: Model families by name (the config's ``name``, what ``--model`` and a run's ``config.json`` say) → (config class,
#: model class): the shared :class:`~vaearr.registry.Registry` of the other method families, filled by
#: :func:`register` when a family's module is imported.
REGISTRY: Registry[tuple[type[ModelConfig], type[VAEBase]]] = Registry("model")


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
