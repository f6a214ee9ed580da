"""``vaearr export``: orientations to ``.ang``/``.ctf``/orix HDF5 and maps to a CSV table (:mod:`vaearr.io.export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Renamed, app, store_location


@app.command("export")
def export(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store to export from.")],
    to: Annotated[Path, typer.Option("--out", help="Output file: map.ang (EDAX OIM, MTEX), map.ctf (AZtec, MTEX), "
                                                   "map.h5 (orix HDF5) or results.csv (with --vars)."), Renamed("--to")],
    orientation: Annotated[str, typer.Option("--var", help="Orientation variable (y, x, quaternion) for .ang/.ctf/.h5."), Renamed("--orientation")] = "orientation",
    phase_from: Annotated[Optional[str], typer.Option(help="A label map (segmentation, clusters) written as the phase id.")] = None,
    grain_from: Annotated[Optional[str], typer.Option(help="A label map written as a grain id (.ang: an extra column; .h5: a property).")] = None,
    vars: Annotated[Optional[str], typer.Option("--vars", help="For .csv: comma-separated (y, x) or (y, x, k) variables, e.g. latent,pca_weights,clusters.")] = None,
    mask: Annotated[Optional[str], typer.Option(help="For .csv: leave out the rows outside this boolean map (default: every pixel, NaN outside roi).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the output file if it exists.")] = False,
) -> None:
    """Results out: orientations with their phases to .ang/.ctf/orix HDF5, or maps to a CSV (x, y, … per pixel)."""
    from vaearr.io.export import export_orientations, export_table

    if to.suffix.lower() == ".csv":
        names = [v.strip() for v in (vars or "").split(",") if v.strip()]
        result = export_table(store, to, names, mask=mask, overwrite=overwrite, progress="export csv")
    else:
        result = export_orientations(store, to, orientation=orientation, phase_from=phase_from,
                                     grain_from=grain_from, overwrite=overwrite)
    typer.echo(result.summary())
