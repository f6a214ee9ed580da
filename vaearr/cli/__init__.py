"""The ``vaearr`` command: thin over the library, one module per group of commands.

:mod:`~vaearr.cli.common` holds the app and shared parsers; :mod:`~vaearr.cli.ingest`,
:mod:`~vaearr.cli.store` (roi, info), :mod:`~vaearr.cli.train`, :mod:`~vaearr.cli.encode`,
:mod:`~vaearr.cli.analysis` (cluster, rank), :mod:`~vaearr.cli.decompose`, :mod:`~vaearr.cli.boundaries`, :mod:`~vaearr.cli.index`, :mod:`~vaearr.cli.export`,
:mod:`~vaearr.cli.explore` (explore, explore-map, layers), :mod:`~vaearr.cli.report` and
:mod:`~vaearr.cli.demo` define the commands. Errors a user can act on print as one line with
exit status 2; a missing optional extra names the extra to install.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import shlex
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import typer

# the command modules (--help lists their commands in the order of the path: vaearr.cli.common.ORDER)
# isort: off
from vaearr.cli import ingest, store, train, weights, encode, demo, analysis, decompose, boundaries, index, orientations, export, explore, report, segment, spread, phases  # noqa: F401
# isort: on
from vaearr.cli.common import STORE_URLS, URL, app, command_class, command_name, flagged
from vaearr.errors import InputError, OptionError, VaearrError
from vaearr.files import NoRoomError, command_outputs, no_room
from vaearr.store import COMMAND
from vaearr.store.remote import STORAGE_OPTIONS, consistent_reads, is_storage_failure, storage_error


def _one_line_warnings() -> None:
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    # library chatter users cannot act on
    for mod in ("zarr", "numcodecs", "dask", "hyperspy", "rosettasciio", "kikuchipy", "orix", "numba"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=mod)
        warnings.filterwarnings("ignore", category=FutureWarning, module=mod)


def refuse_urls(argv: list[str]) -> None:
    """Stop on an object-storage URL that did not go to a store argument: a path argument would turn
    ``s3://bucket/x`` into a local folder named ``s3:`` and write there."""
    for arg in argv:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if URL.match(value) and value not in STORE_URLS:
            raise InputError(value, "only stores may be object-storage URLs; give a local path here")


def take_storage_options(argv: list[str]) -> tuple[list[str], dict]:
    """``--storage-option key=value`` (anywhere, repeatable) out of ``argv``: the rest, and the options."""
    rest, given = [], []
    it = iter(argv)
    for arg in it:
        if arg == "--storage-option":
            given.append(next(it, ""))
        elif arg.startswith("--storage-option="):
            given.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    for item in given:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise InputError(None, f"--storage-option takes key=value, got '{item}'")
    return rest, {k.strip(): v for k, v in (item.split("=", 1) for item in given)}


def _guarded(callback: Callable) -> Callable:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        refuse_urls(sys.argv[1:])  # the arguments are parsed now: store URLs are known
        return callback(*args, **kwargs)

    return run


def _guard_commands() -> None:
    for group in [app, *(g.typer_instance for g in app.registered_groups)]:
        for command in group.registered_commands:
            if command.callback is not None and not hasattr(command.callback, "__wrapped__"):
                command.callback = _guarded(command.callback)


def _framed(callback: Callable) -> Callable:
    """``callback`` run in :func:`vaearr.files.command_outputs`: a command that fails, however it is called (the
    ``vaearr`` entry point, ``typer``'s test runner, :func:`run`), leaves no empty folder it made, and says an
    option out of range by its flag (:func:`~vaearr.cli.common.flagged`)."""
    def run(*args: Any, **kwargs: Any) -> Any:
        with command_outputs():
            try:
                return callback(*args, **kwargs)
            except OptionError as exc:  # the library names fields; the command line says its flags
                raise flagged(exc) from None

    # not functools.wraps: a __wrapped__ would make _guard_commands pass the command by
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(run, attr, getattr(callback, attr))
    run.__signature__ = inspect.signature(callback, eval_str=True)
    return run


def _frame_commands() -> None:
    for group in [app, *(g.typer_instance for g in app.registered_groups)]:
        for command in group.registered_commands:
            if command.callback is not None:
                command.callback = _framed(command.callback)
                command.cls = command_class(command.callback)  # its parameters' old spellings, with their notice


_frame_commands()


def take_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``--debug`` (anywhere) out of ``argv``; ``VAEARR_DEBUG=1`` in the environment does the same."""
    rest = [a for a in argv if a != "--debug"]
    return rest, len(rest) < len(argv) or os.environ.get("VAEARR_DEBUG", "") not in ("", "0")


def unexpected(exc: BaseException) -> str:
    """One line for an error vaearr did not foresee: what failed, where (the file it named, or the
    innermost line of vaearr's code), and how to see the traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}vaearr{os.sep}" in f.filename]
    where = getattr(exc, "filename", None) or (
        f"vaearr/{frames[-1].filename.rsplit(os.sep + 'vaearr' + os.sep, 1)[-1]}:{frames[-1].lineno}" if frames else None)
    what = f"{type(exc).__name__}: {exc}".strip().rstrip(":").replace("\n", " ")
    return (f"error: {where}: {what}" if where else f"error: {what}") + \
        " (unexpected; run again with --debug or VAEARR_DEBUG=1 for the traceback)"


def usage_line(exc: typer.TyperException) -> str:
    """One line for a command line click could not parse (an unknown option, a missing argument, a value
    that is not a number): the command and click's message, without the usage box."""
    return f"error: {command_name(getattr(exc, 'ctx', None))}: {exc.format_message()}".replace("\n", " ")


def main() -> None:
    """Entry point: run the app, turning vaearr errors into one line and exit status 2, and any
    other error into one line and exit status 1 (``--debug``: the traceback instead)."""
    _one_line_warnings()
    sys.argv[1:], debug = take_debug(sys.argv[1:])
    COMMAND.set(shlex.join(["vaearr", *sys.argv[1:]]))  # recorded in the attrs of what the command writes
    try:
        sys.argv[1:], options = take_storage_options(sys.argv[1:])
        if options:
            STORAGE_OPTIONS.set(options)
        _guard_commands()
        with consistent_reads():  # every read of an s3:// store sees one snapshot; writes commit on it
            code = app(standalone_mode=False)  # usage errors come here, to be said in one line
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except typer.TyperException as exc:  # click's (typer's copy of it) usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # a bare group: its help, as before
        else:
            print(usage_line(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    except VaearrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file or directory", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if no_room(exc) and not debug:  # a writer not wrapped in write_whole: the same line, naming what it can
            print(f"error: {NoRoomError(getattr(exc, 'filename', None) or 'a file', exc.errno)}", file=sys.stderr)
            sys.exit(2)
        if is_storage_failure(exc) and not debug:  # object storage failed while the command read from it
            print(f"error: {storage_error(', '.join(sorted(STORE_URLS)) or 'object storage', exc, 'reading')}",
                  file=sys.stderr)
            sys.exit(2)
        if debug:
            raise
        print(unexpected(exc), file=sys.stderr)
        sys.exit(1)


def run(line: str, *, cwd: str | os.PathLike | None = None, echo: bool = False) -> None:
    """Run one ``vaearr`` command line in this process, as the shell would: ``run("info stores/ni.zarr")``.

    For notebooks and the documentation's examples: the command's messages (stdout and stderr) go to stdout, so a
    page that shows a cell's output shows them all, and a failed command raises instead of exiting.

    Parameters
    ----------
    line
        The arguments after ``vaearr``, split as a POSIX shell splits them.
    cwd
        Folder the command runs in (relative paths in ``line`` are taken from it); the caller's is restored after.
    echo
        Print ``$ vaearr LINE`` first, as a shell session shows it.

    Raises
    ------
    RuntimeError
        The command exited with a non-zero status (its error line was printed).
    """
    if echo:
        print(f"$ vaearr {line}")
    argv, here = sys.argv, os.getcwd()
    sys.argv = ["vaearr", *shlex.split(line)]
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stderr(sys.stdout):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
        os.chdir(here)
    if code:
        raise RuntimeError(f"vaearr {line} exited with status {code}")


if __name__ == "__main__":  # pragma: no cover
    main()
