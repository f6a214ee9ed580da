"""What every command group shares: the app objects, option types and small parsers of command-line text."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import ArgumentInfo, ParameterInfo

from vaearr.context import Context, with_context
from vaearr.errors import InputError, MissingExtraError, OptionError, VaearrError
from vaearr.interface import (  # noqa: F401 - the adapter's names the command modules take from here
    URL,
    Renamed,
    command_flags,
    flagged,
    in_flags,
    reworded,
    store_location,
    store_text,
    typer_parameters,
    warnings_in_flags,
    with_figure_options,
)
from vaearr.options import REMOVED_IN, FigureOptions, parse_options, parsed  # noqa: F401 - parse_options: the commands' name for it
from vaearr.files import command_outputs
from vaearr.store import describe

@dataclasses.dataclass
class Invocation:
    """What one command line says about its run as a whole, beside the command's own parameters: the root context's
    ``obj``, made by :func:`vaearr.cli.execute`, filled while the line is parsed (:class:`Command`, the root
    callback), read by the command's run (:meth:`Command.invoke`) and by the error lines.

    Attributes
    ----------
    command
        The line as typed (``vaearr segment ...``): the provenance written in the attrs of what it writes.
    debug
        ``--debug`` (or ``VAEARR_DEBUG=1``): an unexpected error prints its traceback.
    storage_options
        ``--storage-option key=value`` (repeatable): the object-storage options of the stores it opens.
    """

    command: str = "vaearr"
    debug: bool = False
    storage_options: dict[str, str] = dataclasses.field(default_factory=dict)
    _context: Context | None = dataclasses.field(default=None, repr=False)

    def context(self) -> Context:
        """The run's :class:`~vaearr.context.Context` (its storage options, its command, one snapshot record),
        made once the line is parsed, the same for every store the command names."""
        if self._context is None:
            self._context = Context(storage_options=dict(self.storage_options), command=self.command).reading()
        return self._context


def invocation(ctx: Any) -> Invocation:
    """The :class:`Invocation` of the line ``ctx`` parses (a new one where the app was called without one)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Invocation):
        root.obj = Invocation()
    return root.obj


def take_run_options(args: list[str], into: Invocation) -> list[str]:
    """``--debug`` and ``--storage-option key=value`` (anywhere in a command's arguments, the latter repeatable) taken
    into ``into``; the rest of ``args``.

    Examples
    --------
    >>> run = Invocation()
    >>> take_run_options(["s3://b/x.zarr", "--storage-option", "region=eu", "--debug", "--storage-option=anon=1"], run)
    ['s3://b/x.zarr']
    >>> run.debug, run.storage_options
    (True, {'region': 'eu', 'anon': '1'})
    """
    rest, given = [], []
    it = iter(args)
    for arg in it:
        if arg == "--":  # the rest are arguments, whatever they look like
            rest += [arg, *it]
        elif arg == "--debug":
            into.debug = True
        elif arg == "--storage-option":
            given.append(next(it, ""))
        elif arg.startswith("--storage-option="):
            given.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    into.storage_options.update(storage_options(given))
    return rest


def storage_options(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``key=value`` items of ``--storage-option`` as a dict, or one :class:`InputError` line for an item that is not
    ``key=value``."""
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise InputError(None, f"--storage-option takes key=value, got '{item}'")
    return {k.strip(): v for k, v in (item.split("=", 1) for item in items)}


#: The commands in the order ``vaearr --help`` lists them: the order of the path, from the data in to the results
#: out (a command not named here comes after them).
ORDER = ("ingest", "roi", "quality", "info", "verify", "train", "import-weights", "encode", "segment", "spread",
         "boundaries", "index", "orientation-maps", "master-pattern", "phases", "cluster", "rank", "decompose",
         "export", "report", "explore", "explore-map", "layers", "demo")

#: :class:`Renamed`'s new name of the store argument (an old ``--store`` whose value becomes the last argument).
ARGUMENT = ""


def renamed_flags(callback: Any) -> dict[str, str]:
    """The old spellings the parameters of ``callback`` declare (:class:`Renamed`) → their new flags (the store
    argument: :data:`ARGUMENT`)."""
    out: dict[str, str] = {}
    for p in inspect.signature(callback, eval_str=True).parameters.values():
        if typing.get_origin(p.annotation) is not Annotated:
            continue
        meta = typing.get_args(p.annotation)[1:]
        info = next((m for m in meta if isinstance(m, ParameterInfo)), None)
        for r in (m for m in meta if isinstance(m, Renamed)):
            # typer keeps an Annotated option's first flag as its "default", the others as param_decls
            first = getattr(info, "default", None)
            decls = [d for d in [first, *(getattr(info, "param_decls", None) or ())]
                     if isinstance(d, str) and d.startswith("--")]
            new = ARGUMENT if isinstance(info, ArgumentInfo) else (decls[0] if decls else f"--{p.name.replace('_', '-')}")
            out.update(dict.fromkeys(r.flags, new.split("/")[0]))
    return out


def modern_args(args: list[str], renamed: dict[str, str]) -> tuple[list[str], list[str]]:
    """``args`` with the old spellings of ``renamed`` (old → new) replaced by the new ones (``--old v``, ``--old=v``;
    an old store option's value moved to the end, where the store argument is), and the old spellings used, each
    once, in order.

    Examples
    --------
    >>> modern_args(["s.zarr", "--features=pca", "--store", "x"], {"--features": "--var", "--store": ""})
    (['s.zarr', '--var=pca', 'x'], ['--features', '--store'])
    """
    out, moved, used = [], [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":  # the rest are arguments, whatever they look like
            out += args[i:]
            break
        head, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        new = renamed.get(head)
        i += 1
        if new is None:
            out.append(arg)
            continue
        used += [head] if head not in used else []
        if new != ARGUMENT:
            out.append(new + eq + value)
        elif eq:
            moved.append(value)
        else:
            moved += args[i:i + 1]
            i += 1
    return out + moved, used


def as_typed(param: Any) -> Any:
    """``param`` as ``--help`` and the usage line show it, in the words a user types: an argument by its name in
    capitals (``STORE``, ``SRC``), an on/off flag alone (``--overwrite``, ``--tensorboard / --no-tensorboard``: no
    value after it, as the command line takes none). Returns ``param`` (its ``metavar`` set)."""
    if param.param_type_name == "argument":
        param.metavar = (param.metavar or param.name).strip("[]").upper()
    elif getattr(param, "is_flag", False) and not getattr(param, "count", False):
        param.metavar = ""  # a flag takes no value: nothing after it in the help (typer would write <bool>)
    return param


def usage_pieces(command: Any, ctx: Any) -> list[str]:
    """The usage line's pieces of ``command``: ``[OPTIONS]``, then each argument as typed (``STORE``, ``[STORE]``
    when it may be left out, ``SRC...`` for several); typer would write ``{store}``."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for p in command.get_params(ctx):
        if p.param_type_name != "argument":
            pieces += p.get_usage_pieces(ctx)
            continue
        name = as_typed(p).metavar
        pieces.append((name if p.required else f"[{name}]") + ("..." if p.nargs != 1 else ""))
    return pieces


#: the words a user may type after a flag meaning yes or no (``--overwrite true``): a flag takes none
BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


def flag_given_a_value(params: list[Any], args: list[str]) -> str | None:
    """The line for an on/off flag given a value (``--overwrite true``, ``--overwrite=yes``), which the command line
    does not take (the flag alone says yes): None when ``args`` give none."""
    flags = {o: p for p in params if getattr(p, "is_flag", False) and not getattr(p, "count", False)
             for o in [*p.opts, *p.secondary_opts]}
    for i, arg in enumerate(args):
        if arg == "--":
            break
        head, eq, value = arg.partition("=")
        if head not in flags or not (eq or (i + 1 < len(args) and args[i + 1].lower() in BOOLEAN_WORDS)):
            continue
        p = flags[head]
        on = next((o for o in p.opts if o.startswith("--")), p.opts[0])
        off = next((o for o in p.secondary_opts if o.startswith("--")), None)
        value = value if eq else args[i + 1]
        return (f"{head} is a flag and takes no value (got '{value}'): write {on} alone to turn it on, "
                f"{'and ' + off if off else 'and leave it out'} to turn it off")
    return None


def command_name(ctx: Any) -> str:
    """``vaearr segment``, ``vaearr ingest ebsd``: the command of ``ctx`` as a user types it."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:  # the root's name is how python was started: "vaearr" here
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    return " ".join(["vaearr", *names])


class Command(TyperCommand):
    """A ``vaearr`` command: the adapter between a command line and the library call its function makes.

    Parsing, it takes ``--debug`` and ``--storage-option`` anywhere in its arguments (into the line's
    :class:`Invocation`), its parameters' old spellings (:attr:`renamed`, from the :class:`Renamed` and
    :attr:`~vaearr.options.Option.deprecated` declarations: each replaced by the new one, said in one line on
    stderr), and refuses an object-storage URL that did not go to a store (or ``--dask``) parameter: a path
    parameter would turn ``s3://bucket/x`` into a local folder named ``s3:`` and write there. Running, it hands each
    store the line names to the library as a :class:`~vaearr.context.StoreRef` of the line's
    :class:`~vaearr.context.Context` (storage options, the command as typed, one snapshot record), leaves no empty
    folder it made when it fails (:func:`vaearr.files.command_outputs`), and says an option out of range by its flag (:func:`flagged`).
    Its ``--help`` and usage line are in the words a user types (:func:`as_typed`, :func:`usage_pieces`: ``STORE``,
    ``--overwrite`` alone), and a flag given a value (``--overwrite true``) is one line (:func:`flag_given_a_value`).
    """

    renamed: typing.ClassVar[dict[str, str]] = {}

    def get_params(self, ctx: Any) -> list[Any]:
        return [as_typed(p) for p in super().get_params(ctx)]

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return usage_pieces(self, ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = take_run_options(list(args), invocation(ctx))
        args, used = modern_args(args, self.renamed)
        for old in used:
            new = self.renamed[old]
            use = f"use {new}" if new != ARGUMENT else "give STORE as an argument"
            typer.echo(f"warning: {command_name(ctx)}: {old} is deprecated, {use} (the old spelling goes in vaearr "
                       f"{REMOVED_IN})", err=True)
        said = flag_given_a_value(self.get_params(ctx), args)
        if said:
            ctx.fail(said)  # a usage error: one line, exit 2
        rest = super().parse_args(ctx, list(args))  # click consumes the list it is given
        taken = {str(v) for p in self.params if takes_urls(p) for v in _values(ctx.params.get(p.name))}
        for arg in args:
            value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
            if URL.match(value) and value not in taken:
                raise InputError(value, "only stores may be object-storage URLs; give a local path here")
        return rest

    def invoke(self, ctx: Any) -> Any:
        context = invocation(ctx).context()
        figures = [f.name for f in dataclasses.fields(FigureOptions)]
        if all(n in ctx.params for n in figures):  # a command that draws: its --format/--dpi (checked by figure_command)
            context = dataclasses.replace(context, figures=FigureOptions(**parsed(FigureOptions, {
                n: ctx.params[n] for n in figures})))
        for p in self.params:  # every store the line names reaches the library with the run's context
            if names_store(p) and ctx.params.get(p.name) is not None:
                value = ctx.params[p.name]
                ctx.params[p.name] = ([with_context(v, context) for v in value] if isinstance(value, list | tuple)
                                      else with_context(value, context))
        flags = command_flags(self.params)
        try:
            with command_outputs(), warnings_in_flags(flags):
                return super().invoke(ctx)
        except OptionError as exc:  # the library names fields; the command line says its flags
            raise flagged(exc) from None  # its problems' keywords said by the options' own flags
        except VaearrError as exc:  # and names options as keywords (`overwrite=True`): said as flags here
            reworded(exc, flags)
            raise


def _parser(param: Any) -> Any:
    info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None)
    return getattr(info, "parser", None)


def takes_urls(param: Any) -> bool:
    """Whether a command's parameter takes object-storage URLs as they are: a store (:func:`names_store`) or
    ``--dask`` (:func:`scheduler_address`)."""
    return names_store(param) or _parser(param) is scheduler_address


def names_store(param: Any) -> bool:
    """Whether a command's parameter names a store (:func:`store_location`, :func:`store_text`)."""
    return _parser(param) in (store_location, store_text)


def _values(value: Any) -> list[Any]:
    return [v for v in value if v is not None] if isinstance(value, list | tuple) else [] if value is None else [value]


def command_class(callback: Any) -> type[Command]:
    """The :class:`Command` class of a command whose function is ``callback``, with its old spellings."""
    return type("Command", (Command,), {"renamed": renamed_flags(callback)})


class Group(TyperGroup):
    """A group that lists its commands in the order of the path (:data:`ORDER`) in ``--help`` and takes ``--debug``
    and ``--storage-option`` anywhere on the line (into its :class:`Invocation`: :func:`take_run_options`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, take_run_options(list(args), invocation(ctx)))

    def get_params(self, ctx: Any) -> list[Any]:
        return [as_typed(p) for p in super().get_params(ctx)]

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(self.commands)
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER) + names.index(n))


app = typer.Typer(
    cls=Group,
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
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print vaearr's version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On an unexpected error, print Python's traceback instead "
                                                        "of one line (also VAEARR_DEBUG=1; accepted anywhere on the line).")] = False,
    storage_option: Annotated[Optional[list[str]], typer.Option(
        "--storage-option", metavar="KEY=VALUE", help="Object-storage option of the stores (endpoint_url, region, "
        "access_key_id, secret_access_key, allow_http); repeatable, accepted anywhere on the line.")] = None,
) -> None:
    """The options every command shares, given before the command (a command takes them among its own too:
    :class:`Command`); they go into the line's :class:`Invocation`."""
    run = invocation(ctx)
    run.debug = run.debug or debug
    run.storage_options.update(storage_options(storage_option or []))


ingest_app = typer.Typer(cls=Group, help="Read a source into a store (created if absent).", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

StoreArg = Annotated[Path, typer.Argument(parser=store_location, metavar="STORE",
                                          help="Store to write (a .zarr directory, or s3://bucket/path.zarr)."),
                     Renamed("--store", "-s")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace variables that exist.")]
Checkpoint = Annotated[str, typer.Option(help="best, latest, an epoch number, or a checkpoint folder.")]
Device = Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")]
def scheduler_address(text: str) -> str:
    """A dask scheduler address (``tcp://host:8786``): a URL that is not a path."""
    return text


Dask = Annotated[Optional[str], typer.Option(
    "--dask", parser=scheduler_address, metavar="ADDRESS", help="dask.distributed scheduler (tcp://host:8786): the "
    "command's work runs on that cluster's workers, which must reach the store (s3://, or a shared disk); the write "
    "is still one transaction."), Renamed("--scheduler")]


#: The ``--dask`` parameter of a command whose other parameters come from an options dataclass.
DASK = inspect.Parameter("dask", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Dask)


def out_parameter(help: str, default: Any = None, *, old: tuple[str, ...] = ("--figures",)) -> inspect.Parameter:
    """The ``--out`` parameter (the output folder) of a command whose other parameters come from an options dataclass,
    taking its old spellings ``old``."""
    return inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[
        Optional[Path], typer.Option("--out", help=help), Renamed(*old)])


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


#: commands that draw only when given --out (the others always draw: their figures need the 'viz' extra)
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
    """``command`` with the options of :class:`~vaearr.options.FigureOptions` (``--format``, ``--dpi``) added
    (:func:`vaearr.interface.with_figure_options`): checked before the command's work starts (one line, exit 2), the
    'viz' extra asked for where it will draw, and handed to ``command`` as its ``figure_options`` argument, which it
    passes to every function that draws. Every command that writes figures is made with it (one declaration)."""
    def drawing(given: dict[str, Any]) -> None:
        if given.get("out", True) is not None or command.__name__ not in FIGURES_WHEN_ASKED:
            need_viz()

    return with_figure_options(command, typer_parameters, before=drawing)
