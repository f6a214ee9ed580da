"""The ``vaearr`` command: thin over the library, one module per group of commands.

:mod:`~vaearr.cli.common` holds the app and shared parsers; :mod:`~vaearr.cli.ingest`,
:mod:`~vaearr.cli.store` (roi, info), :mod:`~vaearr.cli.train`, :mod:`~vaearr.cli.encode`,
:mod:`~vaearr.cli.analysis` (cluster, rank), :mod:`~vaearr.cli.decompose`, :mod:`~vaearr.cli.boundaries`, :mod:`~vaearr.cli.index`,
:mod:`~vaearr.cli.explore` (explore, explore-map, layers), :mod:`~vaearr.cli.report` and
:mod:`~vaearr.cli.demo` define the commands. Errors a user can act on print as one line with
exit status 2; a missing optional extra names the extra to install.
"""

from __future__ import annotations

import shlex
import sys
import warnings

# the command modules, in the order --help lists their commands
# isort: off
from vaearr.cli import ingest, store, train, weights, encode, demo, analysis, decompose, boundaries, index, orientations, explore, report  # noqa: F401
# isort: on
from vaearr.cli.common import app
from vaearr.errors import VaearrError
from vaearr.store import COMMAND


def _one_line_warnings() -> None:
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    # library chatter users cannot act on
    for mod in ("zarr", "numcodecs", "dask", "hyperspy", "rosettasciio", "kikuchipy", "orix", "numba"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=mod)
        warnings.filterwarnings("ignore", category=FutureWarning, module=mod)


def main() -> None:
    """Entry point: run the app, turning vaearr errors into one line and exit status 2."""
    _one_line_warnings()
    COMMAND.set(shlex.join(["vaearr", *sys.argv[1:]]))  # recorded in the attrs of what the command writes
    try:
        app()  # click's standalone mode prints usage errors itself and exits 2
    except VaearrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file or directory", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
