"""``vaearr roi``, ``vaearr info`` and ``vaearr verify``: masks, what a store holds, whether it is whole.

Like every command module, it imports the library when a command runs: ``vaearr --help`` and
``vaearr info`` start in about a second instead of importing torch, scikit-learn and the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Overwrite, Renamed, app, figure_command, print_store, store_location
from vaearr.options import DEFAULT_FIGURES, FigureOptions, check_values, writable_folders


@app.command()
@figure_command
def roi(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with the variable to threshold.")],
    bc_min: Annotated[Optional[float], typer.Option("--min", help="Keep pixels with value ≥ this (keep above)."), Renamed("--bc-min")] = None,
    bc_max: Annotated[Optional[float], typer.Option("--max", help="Keep pixels with value ≤ this (keep below)."), Renamed("--bc-max")] = None,
    bc_otsu: Annotated[bool, typer.Option("--otsu", help="Keep pixels above Otsu's threshold (below with --keep below)."), Renamed("--bc-otsu")] = False,
    bc_top_percent: Annotated[Optional[float], typer.Option("--top-percent", help="Keep the brightest P % of pixels (value ≥ its 100−P percentile; the lowest P % with --keep below)."), Renamed("--bc-top-percent")] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Keep pixels with value ≥ this (≤ with --keep below).")] = None,
    keep: Annotated[str, typer.Option(help="The side --threshold, --otsu and --top-percent keep: above or below.")] = "above",
    x: Annotated[Optional[str], typer.Option("--x", help="x range A:B in µm (inclusive; either end may be empty).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="y range C:D in µm.")] = None,
    x_index: Annotated[Optional[str], typer.Option(help="Pixel columns A:B, 0-based, B excluded (as a Python slice).")] = None,
    y_index: Annotated[Optional[str], typer.Option(help="Pixel rows C:D, 0-based, D excluded.")] = None,
    name: Annotated[str, typer.Option(help="Name of the mask variable.")] = "roi",
    var: Annotated[str, typer.Option(help="Variable the thresholds apply to: any (y, x) map (bandcontrast, iq and adp from 'vaearr quality', a latent dim's map…).")] = "bandcontrast",
    export: Annotated[Optional[Path], typer.Option(help="Write keep-xy CSV/NPY and the mask NPY here.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the histogram and map (HTML + PNG) here; with no criterion, only these (no mask)."), Renamed("--figures")] = None,
    bin_width: Annotated[Optional[float], typer.Option(help="Histogram bin width (bins on multiples of it); default 100 bins.")] = None,
    profile_row: Annotated[Optional[list[int]], typer.Option(help="Row (0-based y index) to plot the values along; repeatable. Needs --out.")] = None,
    overwrite: Overwrite = False,
    figure_options: FigureOptions = DEFAULT_FIGURES,
) -> None:
    """Make a mask from thresholds on a map (band contrast, image quality…) and x/y ranges (combined with AND).

    With --out and no criterion, only the histogram, map and row profiles are drawn (to choose a threshold).
    """
    check_values(top_percent=(bc_top_percent, {"above": 0, "max": 100}),  # the rest need the map: create_roi
                 keep=(keep, {"choices": ("above", "below")}))
    folder = out
    writable_folders(export=export, out=folder)  # before the store is written
    from vaearr.errors import InputError
    from vaearr.maps.roi import (
        create_roi,
        export_profile,
        histogram_edges,
        map_variable,
        parse_range,
        row_profile,
    )
    from vaearr.store import open_store
    from vaearr.viz.roi import profile_figure, roi_figures


    if (bin_width is not None or profile_row) and folder is None:
        raise InputError(None, "--bin-width and --profile-row draw figures: give --out FOLDER")
    figures_only = not bc_otsu and all(c is None for c in (bc_min, bc_max, bc_top_percent, threshold, x, y, x_index,
                                                           y_index))
    if figures_only and folder is not None and export is not None:
        raise InputError(None, "--export writes the mask's pixels: give an ROI criterion (or leave out --export)")
    ds = open_store(store)
    # checked before anything is written: a bad figure option must not leave a new mask behind
    if folder is not None and (figures_only or bin_width is not None or profile_row):
        values = map_variable(ds, var, label=store)
        if bin_width is not None:
            histogram_edges(values.values, bin_width)
        for row in profile_row or []:
            row_profile(ds, row, var=var, store=store)
    def profiles() -> dict[str, Path]:
        files: dict[str, Path] = {}
        for row in profile_row or []:
            files.update(profile_figure(ds, row, folder, name=name, var=var, figures=figure_options))
            files[f"row{row}_csv"] = export_profile(row_profile(ds, row, var=var, store=store),
                                                    folder / f"{name}_{var}_row{row}.csv")
        return files

    if figures_only and folder is not None:
        files = {**roi_figures(ds, None, None, folder, name, var, bin_width=bin_width, figures=figure_options), **profiles()}
        typer.echo("\n".join([f"no ROI criterion: figures of '{var}' only, no mask written",
                               *(f"  wrote {p}" for p in files.values())]))
        return
    result = create_roi(
        store, name=name, var=var, bc_min=bc_min, bc_max=bc_max, otsu=bc_otsu, top_percent=bc_top_percent,
        x=parse_range(x) if x else None, y=parse_range(y) if y else None, x_index=x_index, y_index=y_index,
        export=export, overwrite=overwrite, keep=keep, threshold=threshold,
    )
    if folder is not None:
        result.files.update(roi_figures(open_store(store), result.mask, result.info, folder, name, var,
                                        bin_width=bin_width, figures=figure_options))
        result.files.update(profiles())
    typer.echo(result.summary())


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
