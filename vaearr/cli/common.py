"""What every command group shares: the app objects, option types and small parsers of command-line text."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.errors import InputError, MissingExtraError
from vaearr.options import FIELD_DEFAULT, FigureOptions, default_of, figure_options, options, parsed
from vaearr.store import describe

#: an fsspec URL (``s3://``, ``gs://``, ``memory://``...): ``file://`` is a local path
URL = re.compile(r"^(?!file://)[A-Za-z][A-Za-z0-9+.-]*://")
#: the URLs the command line handed to store arguments and --scheduler (any other URL argument is refused)
STORE_URLS: set[str] = set()


def store_location(text: str) -> Path | str:
    """A store argument: a local path, or an object-storage URL kept as it is (a Path would turn
    ``s3://bucket/x.zarr`` into a local ``s3:/bucket/x.zarr``)."""
    if URL.match(text):
        STORE_URLS.add(text)
        return text
    return Path(text)


app = typer.Typer(
    name="vaearr",
    help="VAE representations of scientific and medical images, as labeled zarr stores. A store may be "
         "s3://bucket/path.zarr: endpoint and credentials from the AWS environment variables, or "
         "--storage-option key=value (endpoint_url, region, access_key_id, secret_access_key, allow_http) "
         "anywhere on the command line.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from vaearr.version import __version__

        typer.echo(f"vaearr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print vaearr's version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On an unexpected error, print Python's traceback instead "
                                                        "of one line (also VAEARR_DEBUG=1; accepted anywhere on the line).")] = False,
) -> None:
    """The options every command shares (``--debug`` is taken out of the line before parsing)."""


ingest_app = typer.Typer(help="Read a source into a store (created if absent).", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

StoreOpt = Annotated[Path, typer.Option("--store", "-s", parser=store_location, metavar="STORE",
                                        help="Store to write (a .zarr directory, or s3://bucket/path.zarr).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace variables that exist.")]
Checkpoint = Annotated[str, typer.Option(help="best, latest, an epoch number, or a checkpoint folder.")]
Device = Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")]
def scheduler_address(text: str) -> str:
    """A dask scheduler address (``tcp://host:8786``): a URL that is not a path."""
    STORE_URLS.add(text)
    return text


Scheduler = Annotated[Optional[str], typer.Option(
    parser=scheduler_address, metavar="ADDRESS", help="dask.distributed scheduler (tcp://host:8786): the command's work runs on that cluster's workers, "
         "which must reach the store (s3://, or a shared disk); the write is still one transaction.")]


#: The ``--scheduler`` parameter of a command whose other parameters come from an options dataclass.
SCHEDULER = inspect.Parameter("scheduler", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Scheduler)


def parse_shape(text: str | None, n: int, what: str) -> tuple[int, ...] | None:
    """``"40x60"`` → ``(40, 60)``: ``n`` positive integers, or None for no text."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(None, f"{what} must look like {'x'.join(['N'] * n)}, got '{text}'") from None
    if len(shape) != n or min(shape) < 1:
        raise InputError(None, f"{what} must be {n} positive integers like {'x'.join(['N'] * n)}, got '{text}'")
    return shape


def parse_options(items: list[str] | None) -> dict:
    """``key=value`` pairs; values parsed as JSON when they are (numbers, lists, true/false)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(None, f"--option takes key=value, got '{item}'")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _cli_type(hint: Any) -> Any:
    """``X | None`` → ``Optional[X]``, the form typer reads."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return Optional[args[0]] if len(args) == 1 else hint
    return hint


def option_parameters(cls: type, *, skip: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """One command-line parameter per field of the options dataclass ``cls`` that has an
    :class:`~vaearr.options.Option` (but ``skip``), in declaration order: the positional argument
    first; ``store`` takes a path or an object-storage URL."""
    hints = typing.get_type_hints(cls)
    positional, keywords = [], []
    for f, o in options(cls):
        if f.name in skip:
            continue
        t = _cli_type(o.cli_type or hints[f.name])
        if o.flags == ():
            parser = {"parser": lambda text: str(store_location(text))} if f.name == "store" else {}
            default = default_of(f)
            positional.append(inspect.Parameter(
                f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[t, typer.Argument(help=o.help, **parser)],
                default=inspect.Parameter.empty if default is dataclasses.MISSING else default))
            continue
        flags = o.flags or (f"--{f.name.replace('_', '-')}",)
        default = o.cli_default if o.cli_default is not FIELD_DEFAULT else default_of(f)
        default = ... if default is dataclasses.MISSING else default
        keywords.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                          annotation=Annotated[t, typer.Option(*flags, help=o.help)]))
    return positional + keywords


def print_store(store: Path | str) -> None:
    """The store's variables, dims, masks and provenance, for the terminal."""
    typer.echo(describe(store))


def resolved_mask(store: Path | str, mask: str | None) -> str | None:
    """``--mask``'s ``auto`` made concrete against the store (``roi``, or None: every pixel), the
    latter said in one line, as every command with a ``--mask`` says it."""
    from vaearr.store import open_store
    from vaearr.store.schema import auto_mask, mask_said

    names = list(open_store(store).data_vars)
    line = mask_said(names, mask)
    if line:
        typer.echo(line)
    return auto_mask(names, mask)


#: commands that draw only when given --figures (the others always draw: their figures need the 'viz' extra)
FIGURES_WHEN_ASKED = frozenset({"encode", "roi", "orientation_maps"})


def need_viz() -> None:
    """Refuse, before any work, a command that will draw when the 'viz' extra is not installed (a base
    ``pip install .``): one line naming the extra, nothing written.

    Raises
    ------
    MissingExtraError
        HoloViews is not installed.
    """
    if importlib.util.find_spec("holoviews") is None:
        raise MissingExtraError("viz", "holoviews, which draws its figures")


def figure_command(command: Any) -> Any:
    """``command`` with the options of :class:`~vaearr.options.FigureOptions` (``--format``, ``--dpi``) added: they
    are checked before the command's work starts (one line, exit 2) and are in force while it runs, so every
    figure it writes takes them. Every command that writes figures is made with it (one declaration)."""
    own = list(inspect.signature(command, eval_str=True).parameters.values())
    names = [f.name for f in dataclasses.fields(FigureOptions)]

    def run(**given: Any) -> Any:
        figure = FigureOptions(**parsed(FigureOptions, {k: given.pop(k) for k in names})).check()
        if given.get("figures", True) is not None or command.__name__ not in FIGURES_WHEN_ASKED:
            need_viz()
        with figure_options(figure):
            return command(**given)

    # not functools.wraps: a __wrapped__ would hide the parameters added here (and the URL guard of cli/__init__)
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(run, attr, getattr(command, attr))
    run.__signature__ = inspect.Signature([*own, *option_parameters(FigureOptions)])  # type: ignore[attr-defined]
    return run
