"""The ``vaearr`` command: thin over the library, one module per group of commands.

:mod:`~vaearr.cli.common` holds the app and shared parsers; :mod:`~vaearr.cli.ingest`,
:mod:`~vaearr.cli.store` (roi, info), :mod:`~vaearr.cli.train`, :mod:`~vaearr.cli.encode`,
:mod:`~vaearr.cli.analysis` (cluster, rank), :mod:`~vaearr.cli.decompose`, :mod:`~vaearr.cli.boundaries`, :mod:`~vaearr.cli.index`,
:mod:`~vaearr.cli.explore` (explore, explore-map, layers), :mod:`~vaearr.cli.report` and
:mod:`~vaearr.cli.demo` define the commands. Errors a user can act on print as one line with
exit status 2; a missing optional extra names the extra to install.
"""

from __future__ import annotations

import re
import shlex
import sys
import warnings

# the command modules, in the order --help lists their commands
# isort: off
from vaearr.cli import ingest, store, train, weights, encode, demo, analysis, decompose, boundaries, index, orientations, explore, report  # noqa: F401
# isort: on
from vaearr.cli.common import app
from vaearr.errors import InputError, VaearrError
from vaearr.store import COMMAND


def _one_line_warnings() -> None:
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    # library chatter users cannot act on
    for mod in ("zarr", "numcodecs", "dask", "hyperspy", "rosettasciio", "kikuchipy", "orix", "numba"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=mod)
        warnings.filterwarnings("ignore", category=FutureWarning, module=mod)


#: an fsspec URL (``s3://``, ``gs://``, ``memory://``...): ``file://`` is a local path
URL = re.compile(r"^(?!file://)[A-Za-z][A-Za-z0-9+.-]*://")


def refuse_urls(argv: list[str]) -> None:
    """Stop on an object-storage URL among the arguments: the command's path arguments would turn
    ``s3://bucket/x.zarr`` into a local folder named ``s3:`` and write there, exit 0."""
    for arg in argv:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if URL.match(value):
            raise InputError(value, "object-storage URLs are not supported by the vaearr command yet (it would "
                                    "write a local folder named after the scheme); give a local path, or use the "
                                    "library (vaearr.store.open_store / write_variables take fsspec URLs)")


def main() -> None:
    """Entry point: run the app, turning vaearr errors into one line and exit status 2."""
    _one_line_warnings()
    COMMAND.set(shlex.join(["vaearr", *sys.argv[1:]]))  # recorded in the attrs of what the command writes
    try:
        refuse_urls(sys.argv[1:])
        app()  # click's standalone mode prints usage errors itself and exits 2
    except VaearrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file or directory", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
