"""``vaearr orientation-maps``: IPF, KAM, GROD, grains and grain boundaries from a store's orientations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import app, figure_command, store_location


@app.command("orientation-maps")
@figure_command
def orientation_maps(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with NAME(y, x, quaternion) and phase_id.")],
    name: Annotated[str, typer.Option(help="Orientation variable.")] = "orientation",
    grain_angle: Annotated[float, typer.Option(help="Misorientation (degrees) between grains; also the largest neighbour angle KAM averages.")] = 5.0,
    direction: Annotated[str, typer.Option(help="Sample direction of the IPF colours: x, y or z.")] = "z",
    mask: Annotated[Optional[str], typer.Option(help="Mask variable: pixels outside count as not indexed (default: all pixels).")] = None,
    figures: Annotated[Optional[Path], typer.Option(help="Folder for NAME_maps.html/.png and the IPF colour key PNG.")] = None,
) -> None:
    """(Re-)make NAME_ipf, NAME_kam, NAME_grod, NAME_grains and NAME_grain_boundaries (replacing those there)."""
    from vaearr.maps.orientations import write_orientation_maps

    maps = write_orientation_maps(store, name=name, mask=mask, grain_angle=grain_angle, direction=direction,
                                  overwrite=True, progress="orientation maps")
    typer.echo(maps.summary())
    if figures is not None:
        from vaearr.viz.orientations import orientation_figures

        for path in orientation_figures(store, figures, name=name).values():
            typer.echo(f"figure: {path}")
