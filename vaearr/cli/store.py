"""``vaearr roi`` and ``vaearr info``: masks, and what a store holds.

Like every command module, it imports the library when a command runs: ``vaearr --help`` and
``vaearr info`` start in about a second instead of importing torch, scikit-learn and the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Overwrite, app, print_store


@app.command()
def roi(
    store: Annotated[Path, typer.Argument(help="Store with the variable to threshold.")],
    bc_min: Annotated[Optional[float], typer.Option(help="Keep pixels with value ≥ this.")] = None,
    bc_otsu: Annotated[bool, typer.Option("--bc-otsu", help="Keep pixels above Otsu's threshold.")] = False,
    x: Annotated[Optional[str], typer.Option("--x", help="x range A:B in µm (inclusive; either end may be empty).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="y range C:D in µm.")] = None,
    name: Annotated[str, typer.Option(help="Name of the mask variable.")] = "roi",
    var: Annotated[str, typer.Option(help="Variable the thresholds apply to.")] = "bandcontrast",
    export: Annotated[Optional[Path], typer.Option(help="Write keep-xy CSV/NPY and the mask NPY here.")] = None,
    figures: Annotated[Optional[Path], typer.Option(help="Write the histogram and heatmap (HTML + PNG) here.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Make a mask from band-contrast thresholds and x/y ranges (combined with AND)."""
    from vaearr.analysis.roi import create_roi, parse_range
    from vaearr.store import open_store
    from vaearr.viz.roi import roi_figures


    result = create_roi(
        store, name=name, var=var, bc_min=bc_min, otsu=bc_otsu,
        x=parse_range(x) if x else None, y=parse_range(y) if y else None, export=export, overwrite=overwrite,
    )
    if figures is not None:
        result.files.update(roi_figures(open_store(store), result.mask, result.info, figures, name, var))
    typer.echo(result.summary())


@app.command()
def info(store: Annotated[Path, typer.Argument(help="A vaearr store.")]) -> None:
    """Variables, dims, masks and provenance of a store."""
    print_store(store)
