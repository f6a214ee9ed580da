"""``vaearr quality``, ``vaearr master-pattern`` and ``vaearr phases``: pattern quality maps, a phase's master pattern, phases found in the data."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, figure_command, typer_parameters, out_parameter
from vaearr.crystals.options import MasterPatternOptions
from vaearr.maps.options import PhasesOptions, QualityOptions
from vaearr.options import FigureOptions, made, writable_folders


def quality(**given: Any) -> None:
    """Image quality and the average neighbour dot product map from the patterns alone (kikuchipy): iq(y, x), adp(y, x)."""
    options = made(QualityOptions, given)
    from vaearr.maps.roi.pattern_quality import quality_store

    typer.echo(quality_store(options.store, options).summary())


quality.__signature__ = inspect.Signature(typer_parameters(QualityOptions))  # type: ignore[attr-defined]
app.command()(quality)


def master_pattern(**given: Any) -> None:
    """A phase's master pattern: kinematical from its structure (computed once, cached) or read from kikuchipy/EMsoft."""
    options = made(MasterPatternOptions, given)
    writable_folders(out=options.out)
    from vaearr.crystals.master_patterns import master_pattern_of

    typer.echo(master_pattern_of(options).summary())


master_pattern.__signature__ = inspect.Signature(typer_parameters(MasterPatternOptions))  # type: ignore[attr-defined]
app.command("master-pattern")(master_pattern)


def phases(figure_options: FigureOptions, **given: Any) -> None:
    """Group a segmentation's regions into phases from their mean patterns (no crystallography): writes phases(y, x)."""
    out = given.pop("out")
    options = made(PhasesOptions, given)
    writable_folders(out=out)  # before the store is written
    from vaearr.maps.phases.phases import phases_store

    result = phases_store(options.store, options)
    typer.echo(result.summary())
    if out is not None:
        from vaearr.viz.phases import phase_figure

        for path in phase_figure(options.store, out, name=options.name, figures=figure_options).values():
            typer.echo(f"figure: {path}")


OUT = out_parameter("Folder for the phase map figure (HTML + PNG); none drawn without it.")
phases.__signature__ = inspect.Signature([*typer_parameters(PhasesOptions), OUT])  # type: ignore[attr-defined]
app.command()(figure_command(phases))
