"""``vaearr roi``, ``vaearr info`` and ``vaearr verify``: masks, what a store holds, whether it is whole (their options:
:class:`~vaearr.maps.options.RoiOptions`, :class:`~vaearr.store.options.InfoOptions`,
:class:`~vaearr.store.options.VerifyOptions`).

Like every command module, it imports the library when a command runs: ``vaearr --help`` and
``vaearr info`` start in about a second instead of importing torch, scikit-learn and the rest.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, figure_command, print_store, typer_parameters
from vaearr.maps.options import RoiOptions
from vaearr.store.options import InfoOptions, VerifyOptions
from vaearr.options import FigureOptions, made, writable_folders


def roi(figure_options: FigureOptions, **given: Any) -> None:
    """Make a mask from thresholds on a map (band contrast, image quality…) and x/y ranges (combined with AND).

    With --out and no criterion, only the histogram, map and row profiles are drawn (to choose a threshold).
    """
    options = made(RoiOptions, given)
    writable_folders(export=options.export, out=options.out)  # before the heavy imports, and before the store is written
    from vaearr.viz.roi import roi_store

    typer.echo(roi_store(options, figure_options).summary())


roi.__signature__ = inspect.Signature(typer_parameters(RoiOptions))  # type: ignore[attr-defined]
app.command()(figure_command(roi))


def info(**given: Any) -> None:
    """Variables, dims, masks and provenance of a store."""
    print_store(made(InfoOptions, given).store)


def verify(**given: Any) -> None:
    """Read every chunk of every variable and report the broken ones (checksum, unreadable, emptied).

    Exit status 0 when every chunk is whole, 1 when something is broken.
    """
    from vaearr.store import verify_store

    found = verify_store(made(VerifyOptions, given))
    typer.echo(found.summary())
    if not found.ok:
        raise typer.Exit(1)


info.__signature__ = inspect.Signature(typer_parameters(InfoOptions))  # type: ignore[attr-defined]
verify.__signature__ = inspect.Signature(typer_parameters(VerifyOptions))  # type: ignore[attr-defined]
app.command()(info)
app.command()(verify)
