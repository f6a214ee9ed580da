"""``vaearr boundaries``: boundary strength, grain and low-angle boundary masks, grain size; its options are :class:`~vaearr.maps.options.BoundariesOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, figure_command, in_flags, typer_parameters
from vaearr.maps.options import BoundariesOptions
from vaearr.options import FigureOptions, made


def boundaries(figure_options: FigureOptions, **given: Any) -> None:
    """Boundary strength, grain-boundary and low-angle-boundary masks, and the mean linear intercept grain size."""
    options = made(BoundariesOptions, given)
    from vaearr.maps.boundaries.boundaries import find_boundaries
    from vaearr.viz.boundaries import boundary_files
    from vaearr.viz.segment import figure_folder

    folder = figure_folder(options.store, options.out, "boundaries")  # proven writable before the store is written
    result = find_boundaries(options.store, options)
    boundary_files(result, folder, figures=figure_options)
    typer.echo(in_flags(result.summary()))  # its notes name options as keywords (`mask='none'`)


boundaries.__signature__ = inspect.Signature(typer_parameters(BoundariesOptions))  # type: ignore[attr-defined]
app.command()(figure_command(boundaries))
