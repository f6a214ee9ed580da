"""``vaearr roi`` (its options: :class:`~vaearr.maps.options.RoiOptions`), ``vaearr info`` and ``vaearr verify``: masks, what a store holds, whether it is whole.

Like every command module, it imports the library when a command runs: ``vaearr --help`` and
``vaearr info`` start in about a second instead of importing torch, scikit-learn and the rest.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from vaearr.cli.common import app, figure_command, print_store, store_location, typer_parameters
from vaearr.maps.options import RoiOptions
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


@app.command()
def info(store: Annotated[Path, typer.Argument(parser=store_location, help="A vaearr store.")]) -> None:
    """Variables, dims, masks and provenance of a store."""
    print_store(store)


@app.command()
def verify(store: Annotated[Path, typer.Argument(parser=store_location, help="A zarr store.")]) -> None:
    """Read every chunk of every variable and report the broken ones (checksum, unreadable, emptied).

    Exit status 0 when every chunk is whole, 1 when something is broken.
    """
    from vaearr.store import store_exists
    from vaearr.store import verify as verify_store
    from vaearr.errors import StoreError

    if not store_exists(store):
        raise StoreError(store, "no zarr store here (no zarr.json)")
    found = verify_store(store)
    typer.echo(found.summary())
    if not found.ok:
        raise typer.Exit(1)
