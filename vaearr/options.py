"""Options declared once: dataclass fields that carry how they appear on the command line and in flows (:class:`Option`).

A command's options are one dataclass (:class:`~vaearr.train.TrainConfig`,
:class:`~vaearr.analysis.clustering.ClusterOptions`...) whose fields are made with :func:`opt`.
The interfaces' one adapter (:mod:`vaearr.interface`) makes the ``vaearr`` command's parameters and the Prefect flows'
from the fields, read once (:func:`declared`), a Python step's signature is :func:`keyword_signature`, and the library
takes an instance; its
``check()`` says, in one line naming the option and what it allows, which value is out of
range before any work is done.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vaearr.errors import InputError, OptionError, VaearrDeprecationWarning
from vaearr.files import writable_folder, writable_folders  # noqa: F401 - the commands' names for them
# moved to vaearr.parsers; importable from here too
from vaearr.parsers import (  # noqa: F401
    parse_floats, parse_ints, parse_shape, parse_names, parse_k_range, parse_range, parse_options, parse_none,
    WindowRequest, parse_window, WINDOW_MAX,
)


#: The largest seed numpy's generators take (seeds are 0 to 2**32 - 1).
SEED_MAX = 2**32 - 1

#: The release in which the old spellings of options (:attr:`Option.deprecated`, the command line's renamed flags)
#: stop working; until then they work, with a one-line notice naming the new spelling.
REMOVED_IN = "0.3"

#: ``Option.cli_default``'s "the field's default".
FIELD_DEFAULT: Any = type("FieldDefault", (), {"__repr__": lambda self: "FIELD_DEFAULT"})()


@dataclass(frozen=True)
class Option:
    """How a field appears on the command line and in flows.

    Attributes
    ----------
    help
        One line for ``--help``.
    flags
        The option's names; default ``--field-name``. ``()`` makes it the positional argument.
    cli_type, parse
        What the command line takes (when it is not the field's type) and how it becomes the
        field's value (``"none"`` → None, ``"y,x"`` → a tuple...).
    cli_default
        The command line's default when it is not the field's (text the ``parse`` reads, such as
        ``"2:8"`` for ``(2, 8)``, or None where the field's default is made from nothing given).
    min, max, above, below, choices
        The values the field allows (None, where the field may be None, is always allowed):
        ``min``/``max`` inclusive, ``above``/``below`` exclusive bounds, ``choices`` the words it
        takes. :func:`check_declared` holds every options dataclass to them, so the command
        line, the flows and ``check()`` follow this one declaration.
    deprecated
        Old spellings of the flag (``("--features",)``): the command line still takes them, and a Python step the
        keyword they spell (``features=``), each with a notice naming the new one, until :data:`REMOVED_IN`.
    """

    help: str
    flags: tuple[str, ...] | None = None
    cli_type: Any = None
    parse: Callable[[Any], Any] | None = None
    cli_default: Any = FIELD_DEFAULT
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple[str, ...] | None = None
    deprecated: tuple[str, ...] = ()

    def allowed(self) -> str:
        """The values allowed, in words: ``at least 1``, ``in [0, 1)``, ``one of a, b``."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        lo = f"[{shown(self.min)}" if self.min is not None else f"({shown(self.above)}" if self.above is not None else None
        hi = f"{shown(self.max)}]" if self.max is not None else f"{shown(self.below)})" if self.below is not None else None
        if lo and hi:
            return f"in {lo}, {hi}"
        if lo:
            return ("at least " if lo[0] == "[" else "above ") + lo[1:]
        return ("at most " if hi[-1] == "]" else "below ") + hi[:-1] if hi else "anything"

    def admits(self, value: Any) -> bool:
        """Whether ``value`` is among the values allowed."""
        if value is None or isinstance(value, bool):
            return True
        if self.choices is not None:
            return value in self.choices
        if not isinstance(value, int | float):
            return True  # "auto" and the like: the field's parse and check() judge those
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.min is None or value >= self.min) and (self.max is None or value <= self.max)
                and (self.above is None or value > self.above) and (self.below is None or value < self.below))


def flag(f: dataclasses.Field, o: Option) -> str:
    """The name a user types for a field: its first flag, or its name for the positional argument."""
    return (o.flags or (f"--{f.name.replace('_', '-')}",))[0] if o.flags != () else f.name.upper()


def shown(value: Any) -> str:
    """A value as an error line shows it: ``0.5``, ``'x'``, ``3``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def check_declared(values: Any) -> None:
    """The one check of the ranges declared on the fields (:class:`Option`): an :class:`OptionError` naming each
    field of the options dataclass ``values`` whose value its :class:`Option` does not allow (``top must be at
    least 1, got 0``; several joined by ``;``; the command line says the flag instead).

    Examples
    --------
    >>> check_declared(FigureOptions(dpi=0))
    Traceback (most recent call last):
    ...
    vaearr.errors.OptionError: dpi must be in [1, 2400], got 0
    """
    problems = [(f.name, f"must be {o.allowed()}, got {shown(getattr(values, f.name))}")
                for f, o in options(type(values)) if not o.admits(getattr(values, f.name))]
    if problems:
        raise OptionError(type(values), problems)


def opt(default: Any = dataclasses.MISSING, help: str = "", **kw: Any) -> Any:
    """A dataclass field with its :class:`Option` (a list or dict default is copied for each instance)."""
    meta = {"option": Option(help, **kw)}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def options(cls: type) -> Iterator[tuple[dataclasses.Field, Option]]:
    """Every field of ``cls`` that has an :class:`Option`, with it: the class's own fields first, then its bases',
    each in declaration order (so a command lists its own options before the ones it shares)."""
    own = [c for c in cls.__mro__ if dataclasses.is_dataclass(c)]
    depth = {name: i for i, c in reversed(list(enumerate(own))) for name in c.__dict__.get("__annotations__", {})}
    for f in sorted(dataclasses.fields(cls), key=lambda f: depth.get(f.name, 0)):
        if "option" in f.metadata:
            yield f, f.metadata["option"]


def check_values(**checks: tuple[Any, dict[str, Any]]) -> None:
    """The options of a command that has no dataclass held to their ranges as :func:`check_declared` holds a
    field's: ``check_values(step=(step, {"above": 0}))`` → ``step must be above 0, got -1`` (the command line:
    ``--step``)."""
    for name, (value, allowed) in checks.items():
        o = Option("", **allowed)
        if not o.admits(value):
            raise OptionError(None, [(name, f"must be {o.allowed()}, got {shown(value)}")])


def keyword_of(flag_: str) -> str:
    """The Python keyword an option's flag spells: ``--top-percent`` → ``top_percent``."""
    return flag_.lstrip("-").split("/")[0].replace("-", "_")


def renamed_keywords(cls: type) -> dict[str, str]:
    """The old keywords of the fields of ``cls`` (their :attr:`Option.deprecated` flags, as keywords) → the fields'
    names: ``{"features": "var"}``."""
    return {keyword_of(old): f.name for f, o in options(cls) for old in o.deprecated if keyword_of(old) != f.name}


def outside_level() -> int:
    """The ``stacklevel`` of :func:`warnings.warn`, called from the frame that calls this, that points at the first
    caller outside vaearr (a notebook shows a :class:`DeprecationWarning` of its own code only)."""
    here = inspect.currentframe()
    frame, level = (here.f_back if here is not None else None), 1
    while frame is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] in ("vaearr", "flows"):
        frame, level = frame.f_back, level + 1
    return level


def take_renamed(values: dict[str, Any], renamed: Mapping[str, str], where: str, *, warn: bool = True) -> dict[str, Any]:
    """``values`` with the old keywords of ``renamed`` (old → new) under their new names, each one used said in a
    :class:`DeprecationWarning` naming the new one and pointing at the caller's line (``warn=False``: silently, as
    a run's stored config is read).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     take_renamed({"features": "latent"}, {"features": "var"}, "vaearr.segment")
    {'var': 'latent'}
    >>> str(seen[0].message)
    'vaearr.segment: features= is deprecated, use var= (the old spelling goes in vaearr 0.3)'
    """
    out = dict(values)
    for old, new in renamed.items():
        if old not in out:
            continue
        if new in out:
            raise InputError(None, f"{where}: give {new}= (or the deprecated {old}=), not both")
        out[new] = out.pop(old)
        if warn:
            warnings.warn(f"{where}: {old}= is deprecated, use {new}= (the old spelling goes in vaearr {REMOVED_IN})",
                          VaearrDeprecationWarning, stacklevel=outside_level())
    return out


def made(cls: type, given: dict[str, Any]) -> Any:
    """The options dataclass ``cls`` from a command line's values (each through its ``parse``), held to its
    declared ranges and its ``check()``: a value out of range stops the command before any work."""
    values = cls(**parsed(cls, given))
    if hasattr(values, "check"):
        values.check()  # which starts with check_declared
    else:
        check_declared(values)
    return values


def default_of(f: dataclasses.Field) -> Any:
    """A field's default (its factory's value), or :data:`dataclasses.MISSING`."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def parsed(cls: type, given: dict[str, Any]) -> dict[str, Any]:
    """The command-line values of ``given`` for the fields of ``cls``, each through its ``parse``."""
    return {f.name: (o.parse(given[f.name]) if o.parse else given[f.name]) for f, o in options(cls) if f.name in given}


def build(cls: type, values: dict[str, Any]) -> Any:
    """An instance of the options dataclass ``cls`` from plain values (a flow's JSON): lists become the
    tuples the fields are declared as."""
    hints = typing.get_type_hints(cls)
    out = {}
    for name, value in values.items():
        hint = hints.get(name)
        kinds = {typing.get_origin(a) or a for a in (typing.get_args(hint) or (hint,))} | {typing.get_origin(hint)}
        out[name] = tuple(value) if isinstance(value, list) and tuple in kinds else value
    return cls(**out)


def from_fields(cls: type, values: dict[str, Any], where: str | None = None) -> Any:
    """The options dataclass ``cls`` from a Python caller's keywords (``vaearr.segment(store, var="latent")``):
    a name it does not declare is one :class:`InputError` listing those it does, lists become the tuples the fields
    are declared as (:func:`build`), and the values are held to their ranges and ``check()`` (as :func:`made`). An
    old keyword (an :attr:`Option.deprecated` flag's) is taken with a :class:`DeprecationWarning` (:func:`take_renamed`;
    ``where``, the step's name, begins its line).

    Examples
    --------
    >>> from_fields(FigureOptions, {"format": "svg", "dpi": 600}).formats
    ('svg',)
    >>> from_fields(FigureOptions, {"dpis": 600})
    Traceback (most recent call last):
    ...
    vaearr.errors.InputError: no option 'dpis'; the options are format, dpi
    """
    values = take_renamed(values, renamed_keywords(cls), where or cls.__name__)
    declared = [f.name for f, _ in options(cls)]
    unknown = [k for k in values if k not in declared]
    if unknown:
        raise InputError(None, f"no option {', '.join(map(repr, unknown))}; the options are {', '.join(declared)}")
    made_ = build(cls, values)
    if hasattr(made_, "check"):
        made_.check()  # which starts with check_declared
    else:
        check_declared(made_)
    return made_


@dataclass(frozen=True)
class Declared:
    """One declared field of an options dataclass as an interface takes it: its name, its :class:`Option`, its type
    (resolved) and its default (:data:`dataclasses.MISSING` where it has none)."""

    name: str
    option: Option
    annotation: Any
    default: Any


def declared(cls: type, *, skip: Sequence[str] = ()) -> list[Declared]:
    """The fields of ``cls`` that have an :class:`Option` (but ``skip``), in :func:`options`' order: the one reading
    of a dataclass's declarations every interface's parameters are made from (:mod:`vaearr.interface`)."""
    hints = typing.get_type_hints(cls)
    return [Declared(f.name, o, hints[f.name], default_of(f)) for f, o in options(cls) if f.name not in skip]


def keyword_parameters(cls: type, positional: tuple[str, ...] = (), *, skip: Sequence[str] = (),
                       extra: Sequence[Any] = ()) -> list[inspect.Parameter]:
    """The parameters of a Python step (and of a flow) taking the declared fields of ``cls``: the ``positional`` ones
    first (given, without defaults), then the others as keywords with their types and defaults (a field without one
    is required), then ``extra``."""
    kind = inspect.Parameter
    fields = declared(cls, skip=skip)
    def param(d: Declared, how: Any) -> inspect.Parameter:
        return kind(d.name, how, annotation=d.annotation,
                    default=kind.empty if d.default is dataclasses.MISSING else d.default)
    hints = {d.name: d.annotation for d in fields}
    first = [kind(name, kind.POSITIONAL_OR_KEYWORD, annotation=hints.get(name, kind.empty)) for name in positional]
    rest = [param(d, kind.KEYWORD_ONLY) for d in fields if d.name not in positional]
    return [*first, *rest, *extra]


def keyword_signature(cls: type, positional: tuple[str, ...] = (), *, extra: Sequence[Any] = ()) -> Any:
    """An :class:`inspect.Signature` of a Python step taking the fields of ``cls`` (:func:`keyword_parameters`):
    ``help()`` and a notebook's completion list the command's options."""
    return inspect.Signature(keyword_parameters(cls, positional, extra=extra))


# --------------------------------------------------------------------------------------------
# figures: the options of every command that writes figures


#: Static file formats a figure is written in, beside its HTML.
FIGURE_FORMATS = ("png", "svg", "pdf")


@dataclass(frozen=True)
class FigureOptions:
    """``--format`` and ``--dpi``: the static files of every figure a command writes (declared once here; each
    command that writes figures takes them, see :func:`vaearr.cli.common.figure_command`; the library's functions that
    draw take them as their ``figures`` argument, from the run's :class:`~vaearr.context.Context`).

    Examples
    --------
    >>> FigureOptions("png,svg", 300).formats
    ('png', 'svg')
    >>> FigureOptions("gif").check()
    Traceback (most recent call last):
    ...
    vaearr.errors.OptionError: format 'gif' is not a figure format; give png, svg or pdf (comma-separated: png,svg,pdf)
    """

    format: str = opt("png", "Static files of each figure, beside its HTML: png, svg, pdf, or several comma-separated (png,svg,pdf).")
    dpi: int = opt(300, "Resolution of the PNG figures (and of the maps' pixels inside SVG/PDF), dots per inch (300: what journals ask for).",
                   min=1, max=2400)

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats given, lower case, each once, in order."""
        seen = [f.strip().lower().lstrip(".") for f in str(self.format).split(",") if f.strip()]
        return tuple(dict.fromkeys(seen))

    def check(self) -> FigureOptions:
        """Self, or an :class:`OptionError` naming the unknown format or the dpi out of range."""
        give = "give png, svg or pdf (comma-separated: png,svg,pdf)"
        if not self.formats:
            raise OptionError(type(self), [("format", f"is empty; {give}")])
        for f in self.formats:
            if f not in FIGURE_FORMATS:
                raise OptionError(type(self), [("format", f"'{f}' is not a figure format; {give}")])
        if isinstance(self.dpi, bool) or not isinstance(self.dpi, int):
            raise OptionError(type(self), [("dpi", f"must be a whole number from 1 to 2400, got {self.dpi!r}")])
        check_declared(self)
        return self


#: The figure options of a call that gives none: PNG at 300 dpi.
DEFAULT_FIGURES = FigureOptions()


# --------------------------------------------------------------------------------------------
# the projection centre (read by ingest, index, segment, boundaries, spread, phases)

#: Projection-centre conventions kikuchipy's :class:`EBSDDetector` takes; ``bruker`` is its default.
PC_CONVENTIONS = ("bruker", "tsl", "oxford", "emsoft")


def parse_pc(text: str | Sequence[float], owner: type | None = None) -> tuple[float, float, float]:
    """``"0.42,0.21,0.50"`` → three floats (the projection centre); errors name the field ``pc`` of ``owner``."""
    parts = text.replace(";", ",").split(",") if isinstance(text, str) else list(text)
    try:
        pc = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise OptionError(owner, [("pc", f"takes three numbers X,Y,Z, got '{text}'")]) from None
    if len(pc) != 3 or not all(math.isfinite(v) for v in pc):
        raise OptionError(owner, [("pc", f"takes three finite numbers X,Y,Z, got '{text}'")])
    return pc


#: The ``pc`` that asks for the store's projection centre and refuses the default where the store keeps none.
STORE_PC = "store"


def given_pc(pc: str | Sequence[float] | None, owner: type) -> tuple[float, float, float] | None:
    """A Bruker PC option as three floats (None: the store's, ``'store'`` too), checked; errors name the field ``pc``
    of ``owner``."""
    if pc is None or (isinstance(pc, str) and pc.strip().lower() == STORE_PC):
        return None
    parsed = parse_pc(pc, owner)
    check_pc(parsed, "bruker", None, owner)
    return parsed


def check_pc(pc: Sequence[float], convention: str, px_size: float | None, owner: type | None = None) -> None:
    """PC fractions in [0, 1] (Bruker, TSL, Oxford; z > 0); EMsoft (xpc, ypc, L) needs ``px_size`` and L > 0.
    Errors name the fields ``pc`` and ``pc_convention`` of ``owner``."""
    if convention not in PC_CONVENTIONS:
        raise OptionError(owner, [("pc_convention", f"'{convention}' is unknown; choose {', '.join(PC_CONVENTIONS)}")])
    if convention == "emsoft":
        if px_size is None or not (px_size > 0):
            raise OptionError(owner, [("pc_convention", "emsoft gives L in µm: give the detector pixel size "
                                                        "with px_size (µm, > 0)")])
        if not pc[2] > 0:
            raise OptionError(owner, [("pc", f"L (EMsoft detector distance, µm) must be > 0, got {pc[2]:g}")])
        return
    bad = [f"{k}={v:g}" for k, v in zip("XYZ", pc) if not 0 <= v <= 1]
    if bad or pc[2] == 0:
        raise OptionError(owner, [("pc", f"({convention}) is fractions of the detector in [0, 1] with Z > 0; "
                                          f"got {', '.join(bad) or 'Z=0'}")])
