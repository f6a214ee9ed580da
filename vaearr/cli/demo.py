"""``vaearr demo``: the main job, end to end on a simulated map (its options:
:class:`~vaearr.demo_options.DemoOptions`)."""

from __future__ import annotations

import inspect
from typing import Any

from vaearr.cli.common import app, figure_command, typer_parameters
from vaearr.demo_options import DemoOptions
from vaearr.options import FigureOptions, made, writable_folders


def demo(figure_options: FigureOptions, **given: Any) -> None:
    """The main job on a simulated Ni EBSD map (kikuchipy's master pattern; not measured data) → ingest → ROI → train → encode → grains and deformation in degrees → rank → cluster → HTML report."""
    o = made(DemoOptions, given)
    writable_folders(out=o.out, data=o.data)  # before minutes of simulation and training
    from vaearr.demo import run_demo

    run_demo(o.out, data_dir=o.data, epochs=o.epochs, latent_dim=o.latent_dim, figures=figure_options)


demo.__signature__ = inspect.Signature(typer_parameters(DemoOptions))  # type: ignore[attr-defined]
app.command()(figure_command(demo))
