"""``vaearr spread``: deformation from a feature map (kernel and domain spreads, recrystallised regions); its options are :class:`~vaearr.maps.options.SpreadOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, figure_command, typer_parameters
from vaearr.cli.segment import OUT
from vaearr.maps.options import SpreadOptions
from vaearr.options import FigureOptions, made, writable_folders


def spread(figure_options: FigureOptions, **given: Any) -> None:
    """Kernel and domain spreads of a feature map over a segmentation's grains (KAM and GOS analogues; in degrees
    for orientations) and the recrystallised grains; writes {var}_kernel_spread, {var}_domain_spread,
    recrystallised."""
    out = given.pop("out")
    options = made(SpreadOptions, given)
    writable_folders(out=out)  # before the heavy imports, and before the store is written
    from vaearr.maps.deformation.spread import spread_store
    from vaearr.viz.segment import figure_folder
    from vaearr.viz.spread import spread_files

    folder = figure_folder(options.store, out, suffix="spread")  # proven writable before the store is written
    result = spread_store(options.store, options)
    spread_files(result, folder, figures=figure_options)
    typer.echo(result.summary())


spread.__signature__ = inspect.Signature([*typer_parameters(SpreadOptions), OUT])  # type: ignore[attr-defined]
app.command()(figure_command(spread))
