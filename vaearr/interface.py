"""The adapter between the library's options and the interfaces that take them: the command line and the flows.

An options dataclass (:mod:`vaearr.options`: ``SegmentOptions``, ``RankOptions``…) declares each option once, on its
field (default, help, range, flags, old spellings). This module is the one place that turns those declarations into
what an interface takes, and the one place the library's field names become the command line's flags:

* :func:`typer_parameters`: the command's typer parameters (its flags, help, the positional store, old spellings);
* :func:`flow_parameters`: a Prefect flow's parameters (the field names, their types and defaults), the same list
  a Python step's signature has (:func:`vaearr.options.keyword_parameters`);
* :func:`with_figure_options`: the figure options (``format``, ``dpi``: :class:`~vaearr.options.FigureOptions`) added
  to a command or a flow, checked before any work and handed to it as its ``figure_options`` argument;
* :func:`flagged`: an option error of the library (``k must be at least 1``) in the command line's words
  (``--k must be at least 1``); a flow and a Python step say the field;
* :func:`in_flags` / :func:`reworded`: any other message of the library names an option as the keyword a Python
  caller passes, in backticks (``pass `overwrite=True` to replace it``, ``use `mask='none'` ``: the convention of
  :mod:`vaearr.errors`); the command line says the flag (``pass --overwrite``, ``use --mask none``).

``vaearr.cli`` and ``flows`` build on it; neither builds a parameter of its own from an options dataclass.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import ast
import contextlib
import re
import shlex
import types
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.errors import KEYWORD, InputError, OptionError, VaearrError
from vaearr.io.options import IngestTablesOptions
from vaearr.options import FIELD_DEFAULT, FigureOptions, declared, flag, keyword_parameters, options, parse_names, parsed

#: an fsspec URL (``s3://``, ``gs://``, ``memory://``...): ``file://`` is a local path
URL = re.compile(r"^(?!file://)[A-Za-z][A-Za-z0-9+.-]*://")


def store_location(text: str) -> Path | str:
    """A store argument: a local path, or an object-storage URL kept as it is (a Path would turn
    ``s3://bucket/x.zarr`` into a local ``s3:/bucket/x.zarr``)."""
    return text if URL.match(text) else Path(text)


def store_text(text: str) -> str:
    """A store argument as the text an options dataclass's ``store`` field holds (:func:`store_location`)."""
    return str(store_location(text))


@dataclasses.dataclass(frozen=True)
class Renamed:
    """The old spellings of a command-line parameter, put in its ``Annotated`` beside its ``typer.Option`` or
    ``typer.Argument`` (``Annotated[str, typer.Option(...), Renamed("--features")]``): the command line takes them,
    each with one notice, until :data:`~vaearr.options.REMOVED_IN`. The one declaration of an old spelling of a
    parameter written by hand; a field's are its :attr:`~vaearr.options.Option.deprecated`."""

    flags: tuple[str, ...]

    def __init__(self, *flags: str) -> None:
        object.__setattr__(self, "flags", flags)


def _typer_type(hint: Any) -> Any:
    """``X | None`` → ``Optional[X]``, the form typer reads."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return Optional[args[0]] if len(args) == 1 else hint
    return hint


def typer_parameters(cls: type, *, skip: Sequence[str] = ()) -> list[inspect.Parameter]:
    """One command-line parameter per declared field of ``cls`` (but ``skip``), in declaration order: the positional
    argument first (``store`` takes a path or an object-storage URL), then the flags, each with its help and old
    spellings."""
    positional, keywords = [], []
    said = options_flags(cls)
    for d in declared(cls, skip=skip):
        o = dataclasses.replace(d.option, help=in_flags(d.option.help, said))  # the help says flags
        t = _typer_type(o.cli_type or d.annotation)
        if o.flags == ():
            argument = (typer.Argument(help=o.help, parser=store_text) if d.name == "store" else
                        typer.Argument(help=o.help))
            positional.append(inspect.Parameter(
                d.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[t, argument, Renamed(*o.deprecated)],
                default=inspect.Parameter.empty if d.default is dataclasses.MISSING else d.default))
            continue
        flags = o.flags or (f"--{d.name.replace('_', '-')}",)
        default = o.cli_default if o.cli_default is not FIELD_DEFAULT else d.default
        keywords.append(inspect.Parameter(d.name, inspect.Parameter.KEYWORD_ONLY,
                                          default=... if default is dataclasses.MISSING else default,
                                          annotation=Annotated[t, typer.Option(*flags, help=o.help),
                                                               Renamed(*o.deprecated)]))
    return positional + keywords


def flow_parameters(cls: type, *, skip: Sequence[str] = (), extra: Sequence[inspect.Parameter] = ()) -> list[inspect.Parameter]:
    """A flow's parameters: one keyword per declared field of ``cls`` (but ``skip``; its type and default, as a
    Python step takes it: :func:`vaearr.options.keyword_parameters`), then ``extra``."""
    return keyword_parameters(cls, skip=skip, extra=extra)


def with_figure_options(fn: Callable[..., Any], parameters: Callable[[type], list[inspect.Parameter]], *,
                        before: Callable[[dict[str, Any]], None] | None = None) -> Callable[..., Any]:
    """``fn`` taking the fields of :class:`~vaearr.options.FigureOptions` (``format``, ``dpi``) as ``parameters``
    renders them (:func:`typer_parameters` for a command, :func:`flow_parameters` for a flow): they are checked
    before ``fn``'s work starts (then ``before(given)``, the interface's own check) and handed to ``fn`` as its
    ``figure_options``, which it passes to every function that draws (their ``figures`` argument)."""
    names = [f.name for f, _ in options(FigureOptions)]
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name not in [*names, "figure_options"]]

    def run(*args: Any, **given: Any) -> Any:
        figure = FigureOptions(**parsed(FigureOptions, {k: given.pop(k) for k in names if k in given})).check()
        if before is not None:
            before(given)
        return fn(*args, **given, figure_options=figure)

    # not functools.wraps: a __wrapped__ would hide the parameters added here
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(run, attr, getattr(fn, attr))
    rest = [p for p in own if p.kind is inspect.Parameter.VAR_KEYWORD]
    run.__signature__ = inspect.Signature([*(p for p in own if p not in rest), *parameters(FigureOptions),  # type: ignore[attr-defined]
                                           *rest])
    return run


def flagged(exc: OptionError) -> InputError:
    """An :class:`~vaearr.errors.OptionError` (options named by their fields) in the command line's words: each
    field said by the flag a user types (``k must be at least 1`` → ``--k must be at least 1``; the positional
    argument by its metavar). The one place the library's field names become flags."""
    flags = options_flags(exc.owner) if dataclasses.is_dataclass(exc.owner) else {}
    said = [f"{(flags.get(name) or _default_flag(name)).on} {in_flags(text, flags)}" for name, text in exc.problems]
    return InputError(None, "; ".join(said))


def options_flags(cls: type) -> dict[str, Flag]:
    """The :class:`Flag` of each field of the options dataclass ``cls``, by its name (the positional argument: its
    name in capitals, ``STORE``)."""
    return {f.name: Flag(flag(f, o)) for f, o in options(cls)}


@dataclasses.dataclass(frozen=True)
class Flag:
    """How the command line says one keyword: its flag (``--overwrite``, ``--tilt``; the metavar ``STORE`` for a
    positional argument) and, for an on/off flag, the flag that turns it off (``--no-tensorboard``)."""

    on: str
    off: str | None = None

    def __init__(self, on: str, off: str | None = None) -> None:
        first, _, second = on.partition("/")  # typer's "--tensorboard/--no-tensorboard"
        object.__setattr__(self, "on", first)
        object.__setattr__(self, "off", off or second or None)


def _default_flag(name: str) -> Flag:
    return Flag(f"--{name.replace('_', '-')}")


def in_flags(text: str, flags: Mapping[str, Flag] | None = None) -> str:
    """``text`` with each option it names as a keyword in backticks said as the command line's flag.

    ``flags`` maps a keyword to its :class:`Flag` (a command's: :func:`command_flags`); a keyword it lacks reads as
    ``--`` and its name with dashes. A value is the flag's argument (``mask='none'`` → ``--mask none``); ``True``
    is the flag alone, ``False`` its off flag and ``None`` the word ``none``.

    Examples
    --------
    >>> in_flags("variable 'z' exists; pass `overwrite=True` to replace it")
    "variable 'z' exists; pass --overwrite to replace it"
    >>> in_flags("use `mask='none'` for every pixel; `sample_tilt` …", {"sample_tilt": Flag("--tilt")})
    'use --mask none for every pixel; --tilt …'
    """
    flags = flags or {}

    def said(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        f = flags.get(name) or _default_flag(name)
        if value is None:
            return f.on
        try:
            v = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            v = value
        if v is True:
            return f.on
        if v is False:
            return f.off or f"{f.on} false"
        if v is None:  # the command line's word for None (`mask=None` → --mask none)
            return f"{f.on} none"
        return f"{f.on} {shlex.quote(str(v))}"

    return KEYWORD.sub(said, text)


def command_flags(params: Sequence[Any]) -> dict[str, Flag]:
    """The :class:`Flag` of each parameter of a click command, by its keyword (``params`` is the command's)."""
    out = {}
    for p in params:
        opts = list(getattr(p, "opts", []) or [])
        if getattr(p, "param_type_name", "") == "argument":
            out[p.name] = Flag((getattr(p, "metavar", None) or p.name).upper())
        elif opts:
            long = [o for o in opts if o.startswith("--")] or opts
            off = [o for o in getattr(p, "secondary_opts", []) or [] if o.startswith("--")]
            out[p.name] = Flag(long[0], off[0] if off else None)
    return out


def reworded(exc: VaearrError, flags: Mapping[str, Flag]) -> VaearrError:
    """``exc`` with its message's keywords said as ``flags`` say them (:func:`in_flags`); the same exception, so
    its type (and the exit status it gives) stays."""
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (in_flags(exc.args[0], flags), *exc.args[1:])
    if isinstance(getattr(exc, "problem", None), str):  # InputError's and StoreError's own part
        exc.problem = in_flags(exc.problem, flags)  # type: ignore[attr-defined]
    return exc


@contextlib.contextmanager
def warnings_in_flags(flags: Mapping[str, Flag]) -> Iterator[None]:
    """The warnings shown inside say the keywords they name as ``flags`` say them (:func:`in_flags`); the warnings
    filters and display are put back after."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                 line: str | None = None) -> None:
            shown(in_flags(str(message), flags), category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def table_composite(options: IngestTablesOptions) -> Callable[[Mapping[str, Any]], Any] | None:
    """The element composite ``options`` ask for (``composite``, ``composite_rgb``, ``composite_mask``) as the
    ``derive`` of :func:`vaearr.io.tables.ingest_tables` (written in its transaction), or None: the one reading of
    those options for ``vaearr ingest tables``, its flow and :func:`vaearr.ingest_tables` (the library of tables,
    below the map science, cannot make it itself)."""
    if options.composite is None and options.composite_rgb is None:
        return None
    # the map science, imported when a composite is asked for: the command line starts without it
    from vaearr.maps.decomposition.composite import composite_variables, parse_weights  # noqa: PLC0415

    return functools.partial(
        composite_variables, weights=parse_weights(options.composite) if options.composite is not None else None,
        rgb=parse_names(options.composite_rgb), mask=options.composite_mask, store=options.store)
