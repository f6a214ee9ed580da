"""``vaearr boundaries``: boundary strength, grain and low-angle boundary masks, grain size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Overwrite, Renamed, app, figure_command, in_flags, store_location
from vaearr.options import DEFAULT_FIGURES, FigureOptions


@app.command()
@figure_command
def boundaries(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with a (y, x) map.")],
    source: Annotated[str, typer.Option("--var", help="'patterns', or a latent variable (y, x, ...) (BENCHMARKS.md, Science)."), Renamed("--from")] = "patterns",
    mask: Annotated[str, typer.Option(help="Mask variable (default 'none': every pixel; boundaries are where band contrast is low, so a band-contrast ROI leaves them out).")] = "none",
    lagb_method: Annotated[str, typer.Option(help="Low-angle boundaries: 'segment' (regions inside each grain) or 't2' (Welch t² lines, with --lagb-threshold/--lagb-low/--lagb-min-length).")] = "segment",
    gb_threshold: Annotated[Optional[float], typer.Option(help="Grain-boundary threshold on the ridge strength (default: automatic, Otsu).")] = None,
    lagb_threshold: Annotated[Optional[float], typer.Option(help="Low-angle boundaries: Welch t² a line must reach somewhere (default 16, |t| ≥ 4).")] = None,
    lagb_low: Annotated[float, typer.Option(help="Low-angle boundaries: Welch t² along the rest of the line.")] = 5.0,
    lagb_min_length: Annotated[int, typer.Option(help="Low-angle boundaries: shortest line kept (pixels).")] = 5,
    background: Annotated[bool, typer.Option("--background/--no-background", help="From patterns: divide by the static background first.")] = True,
    sigma: Annotated[float, typer.Option(help="From patterns: Gaussian blur of each pattern (detector pixels).")] = 1.0,
    grain_angle: Annotated[float, typer.Option(help="With patterns in the store: a line is a grain boundary over this misorientation (degrees) read from the patterns.")] = 2.0,
    low_angle: Annotated[float, typer.Option(help="With patterns in the store: a line inside a grain is a low-angle boundary over this (degrees); under it, none.")] = 0.2,
    pc: Annotated[Optional[str], typer.Option(help="Projection centre X,Y,Z (Bruker) for those angles (default: the store's, else 0.5,0.3,0.6; 'store': the store's or an error).")] = None,
    degrees: Annotated[bool, typer.Option("--degrees/--no-degrees", help="Class the lines by those angles (--no-degrees: as the edges drew them).")] = True,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the figure (HTML + PNG); default: STORE_boundaries beside the store."), Renamed("--figures")] = None,
    overwrite: Overwrite = False,
    figure_options: FigureOptions = DEFAULT_FIGURES,
) -> None:
    """Boundary strength, grain-boundary and low-angle-boundary masks, and the mean linear intercept grain size."""
    from vaearr.maps.boundaries import find_boundaries
    from vaearr.viz.boundaries import boundary_files
    from vaearr.viz.segment import figure_folder

    folder = figure_folder(store, out, "boundaries")  # created and proven writable before the store is written

    result = find_boundaries(store, source=source, mask=mask, gb_threshold=gb_threshold, lagb_method=lagb_method,
                             lagb_threshold=lagb_threshold, lagb_low=lagb_low, lagb_min_length=lagb_min_length,
                             background=background, sigma=sigma, grain_angle=grain_angle, low_angle=low_angle, pc=pc,
                             degrees=degrees, overwrite=overwrite)
    boundary_files(result, folder, figures=figure_options)
    typer.echo(in_flags(result.summary()))  # its notes name options as keywords (`mask='none'`)
