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
import os
import re
import shlex
import sys
import traceback
import warnings

import typer

# the command modules (--help lists their commands in the order of the path: vaearr.cli.common.ORDER)
# isort: off
from vaearr.cli import ingest, store, train, weights, encode, demo, analysis, decompose, boundaries, index, orientations, export, explore, report, segment, spread, phases  # noqa: F401
# isort: on
from vaearr.cli.allocator import tune_allocator
from vaearr.cli.common import URL, Invocation, app, command_class, command_name
from vaearr.errors import VaearrError, VaearrWarning, did_you_mean
from vaearr.files import NoRoomError, no_room
from vaearr.store.remote import is_storage_failure, storage_error


def _one_line_warnings() -> None:
    """Warnings as one line each, without library chatter users cannot act on: in :func:`execute`'s
    ``warnings.catch_warnings`` block only."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    warnings.filterwarnings("default", category=VaearrWarning)  # vaearr's own: always printed, as a line
    # library chatter users cannot act on
    for mod in ("zarr", "numcodecs", "dask", "hyperspy", "rosettasciio", "kikuchipy", "orix", "numba"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=mod)
        warnings.filterwarnings("ignore", category=FutureWarning, module=mod)


def _set_command_classes() -> None:
    """Every command made with :class:`~vaearr.cli.common.Command` (its old spellings from its function's
    declarations): the adapter that parses its line and runs it."""
    for group in [app, *(g.typer_instance for g in app.registered_groups)]:
        for command in group.registered_commands:
            if command.callback is not None:
                command.cls = command_class(command.callback)


_set_command_classes()


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
    that is not a number): the command and click's message, without the usage box; an unknown option with the
    options it is close to (``did you mean --overwrite?``), or where to find them."""
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message()
    name = getattr(exc, "option_name", None)
    if type(exc).__name__ == "NoSuchOption" and name:
        options = [o for p in (ctx.command.get_params(ctx) if ctx is not None else [])
                   for o in [*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())] if o.startswith("--")]
        near = did_you_mean(name, options, quote="") if options else None
        message = f"no option {name}; " + (near or f"'{command_name(ctx)} --help' lists the options")
    return f"error: {command_name(ctx)}: {message}".replace("\n", " ")


#: storage-option keys whose values are credentials: the command written in a store's attrs hides them
SECRET_KEY = re.compile(r"secret|token|password|passwd|key|credential|session", re.IGNORECASE)


def recorded_command(args: list[str]) -> str:
    """The command line as typed (``--debug`` left out), to record in the attrs of what it writes, with the values
    of credential-like ``--storage-option`` keys as ``<hidden>``: a store is shared, its secrets are not."""
    def hidden(item: str) -> str:
        key, eq, _ = item.partition("=")
        return f"{key}=<hidden>" if eq and SECRET_KEY.search(key) else item

    out, value_next = ["vaearr"], False
    flag = "--storage-option"
    for a in args:
        if a == "--debug":
            continue
        if value_next:
            a = hidden(a)
        elif a.startswith(flag + "="):
            a = f"{flag}={hidden(a[len(flag) + 1:])}"
        value_next = a == flag
        out.append(a)
    return shlex.join(out)


def main() -> None:
    """Entry point of the ``vaearr`` command: :func:`execute` of the process's arguments, read here, once; the
    process's allocator tuned first (:mod:`vaearr.cli.allocator`)."""
    tune_allocator()
    execute(sys.argv[1:])


def execute(args: list[str]) -> None:
    """Run the app on ``args`` (what follows ``vaearr``), turning vaearr errors into one line and exit status 2, and
    any other error into one line and exit status 1 (``--debug``: the traceback instead); exits (``SystemExit``)
    with a non-zero status only. Warnings print as one line while it runs; the process's warning filters and
    ``warnings.showwarning`` are as they were after it (a notebook's, a test's)."""
    with warnings.catch_warnings():
        _one_line_warnings()
        _execute(args)


def _execute(args: list[str]) -> None:
    debug = os.environ.get("VAEARR_DEBUG", "") not in ("", "0")
    # the line as typed, recorded in the attrs of what the command writes
    # the line as typed and its run's context (vaearr.context.Context: every store the command names carries it)
    run_ = Invocation(command=recorded_command(args), debug=debug)
    try:
        code = app(args=list(args), prog_name="vaearr", standalone_mode=False, obj=run_)  # usage errors come here
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
        if no_room(exc) and not run_.debug:  # a writer not wrapped in write_whole: the same line, naming what it can
            print(f"error: {NoRoomError(getattr(exc, 'filename', None) or 'a file', exc.errno)}", file=sys.stderr)
            sys.exit(2)
        if is_storage_failure(exc) and not run_.debug:  # object storage failed while the command read from it
            urls = sorted({v for a in args if URL.match(v := a.split("=", 1)[1] if a.startswith("--") and "=" in a else a)})
            print(f"error: {storage_error(', '.join(urls) or 'object storage', exc, 'reading')}", file=sys.stderr)
            sys.exit(2)
        if run_.debug:
            raise
        print(unexpected(exc), file=sys.stderr)
        sys.exit(1)


def run(line: str, *, echo: bool = False) -> None:
    """Run one ``vaearr`` command line in this process, as the shell would: ``run("info stores/ni.zarr")``.

    For the documentation's examples, which show the command lines a user types: the command's messages (stdout
    and stderr) go to stdout, so a page that shows a cell's output shows them all, and a failed command raises
    instead of exiting. It changes nothing of the process (relative paths are the caller's working folder's). A
    notebook calls the library instead: ``vaearr.segment(store, ...)`` (:mod:`vaearr.api`).

    Parameters
    ----------
    line
        The arguments after ``vaearr``, split as a POSIX shell splits them.
    echo
        Print ``$ vaearr LINE`` first, as a shell session shows it.

    Raises
    ------
    RuntimeError
        The command exited with a non-zero status (its error line was printed).
    """
    if echo:
        print(f"$ vaearr {line}")
    code = 0
    try:
        with contextlib.redirect_stderr(sys.stdout):
            execute(shlex.split(line))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if code:
        raise RuntimeError(f"vaearr {line} exited with status {code}")


if __name__ == "__main__":  # pragma: no cover
    main()
