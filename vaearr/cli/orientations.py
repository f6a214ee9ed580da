"""``vaearr orientation-maps``: IPF, KAM, GROD, grains and grain boundaries from a store's orientations; its options are
:class:`~vaearr.maps.options.OrientationMapsOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, figure_command, typer_parameters
from vaearr.maps.options import OrientationMapsOptions
from vaearr.options import FigureOptions, made, writable_folders


def orientation_maps(figure_options: FigureOptions, **given: Any) -> None:
    """(Re-)make VAR_ipf, VAR_kam, VAR_grod, VAR_grains and VAR_grain_boundaries (replacing those there)."""
    options = made(OrientationMapsOptions, given)
    writable_folders(out=options.out)  # before the store is written: a bad folder must not follow a commit
    from vaearr.maps.indexing.orientations import orientation_maps_store

    maps = orientation_maps_store(options, progress="orientation maps")
    typer.echo(maps.summary())
    if options.out is not None:
        from vaearr.viz.orientations import orientation_figures

        for path in orientation_figures(options.store, options.out, name=options.var, figures=figure_options).values():
            typer.echo(f"figure: {path}")


orientation_maps.__signature__ = inspect.Signature(typer_parameters(OrientationMapsOptions))  # type: ignore[attr-defined]
app.command("orientation-maps")(figure_command(orientation_maps))
