"""``vaearr orientation-maps``: IPF, KAM, GROD, grains and grain boundaries from a store's orientations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Renamed, app, figure_command, store_location
from vaearr.options import DEFAULT_FIGURES, FigureOptions, writable_folders


@app.command("orientation-maps")
@figure_command
def orientation_maps(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with VAR(y, x, quaternion) and phase_id.")],
    name: Annotated[str, typer.Option("--var", help="Orientation variable (the input: NAME_ipf, NAME_kam… are written beside it)."), Renamed("--name")] = "orientation",
    grain_angle: Annotated[float, typer.Option(help="Misorientation (degrees) between grains; also the largest neighbour angle KAM averages.")] = 5.0,
    direction: Annotated[str, typer.Option(help="Sample direction of the IPF colours: x, y or z.")] = "z",
    mask: Annotated[Optional[str], typer.Option(help="Mask variable: pixels outside count as not indexed (default: all pixels).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for VAR_maps.html/.png and the IPF colour key PNG; none drawn without it."), Renamed("--figures")] = None,
    figure_options: FigureOptions = DEFAULT_FIGURES,
) -> None:
    """(Re-)make VAR_ipf, VAR_kam, VAR_grod, VAR_grains and VAR_grain_boundaries (replacing those there)."""
    writable_folders(out=out)  # before the store is written: a bad folder must not follow a commit
    from vaearr.maps.orientations import write_orientation_maps

    maps = write_orientation_maps(store, name=name, mask=mask, grain_angle=grain_angle, direction=direction,
                                  overwrite=True, progress="orientation maps")
    typer.echo(maps.summary())
    if out is not None:
        from vaearr.viz.orientations import orientation_figures

        for path in orientation_figures(store, out, name=name, figures=figure_options).values():
            typer.echo(f"figure: {path}")
