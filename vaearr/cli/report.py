"""``vaearr report``: one self-contained HTML page of a store and its run; its options are :class:`~vaearr.analysis.options.ReportOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.analysis.options import ReportOptions
from vaearr.cli.common import app, typer_parameters
from vaearr.options import made, writable_folders


def report(**given: Any) -> None:
    """One self-contained HTML page (works offline): the store's variables and provenance, the run's config,
    curves and reconstructions, every map with shared zoom, the ranking table, clusters and exploration."""
    options = made(ReportOptions, given)
    writable_folders(out=options.out)
    from vaearr.viz.report import build_report

    result = build_report(options.store, options=options, echo=typer.echo)
    typer.echo(result.summary())


report.__signature__ = inspect.Signature(typer_parameters(ReportOptions))  # type: ignore[attr-defined]
app.command()(report)
