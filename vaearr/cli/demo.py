"""``vaearr demo``: the main job, end to end on a simulated map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import app, figure_command
from vaearr.options import DEFAULT_FIGURES, FigureOptions, writable_folders


@app.command()
@figure_command
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's store, exports and figures.")] = Path("out/demo"),
    data: Annotated[Optional[Path], typer.Option(help="Where the simulated demo files are built (cached).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs of the conv-vae.")] = 10,
    latent_dim: Annotated[int, typer.Option(min=1, help="Latent dims of the conv-vae.")] = 16,
    figure_options: FigureOptions = DEFAULT_FIGURES,
) -> None:
    """The main job on a simulated Ni EBSD map (kikuchipy's master pattern; not measured data) → ingest → ROI → train → encode → grains and deformation in degrees → rank → cluster → HTML report."""
    writable_folders(out=out, data=data)  # before minutes of simulation and training
    from vaearr.demo import run_demo

    run_demo(out, data_dir=data, epochs=epochs, latent_dim=latent_dim, figures=figure_options)
