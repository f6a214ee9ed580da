"""``vaearr report``: one self-contained HTML page of a store and its run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import app, store_location
from vaearr.files import beside_store
from vaearr.options import writable_folders


@app.command()
def report(
    store: Annotated[Path, typer.Argument(parser=store_location, help="A vaearr store (only read).")],
    run: Annotated[Optional[Path], typer.Option("--run", "-r", help="Training run folder (default: the run the "
                                                "store's latents were encoded with, when it exists).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for report.html (created; default: STORE_report beside the store).")] = None,
    analyses: Annotated[Optional[list[Path]], typer.Option("--analyses", help="Output folder of vaearr rank, cluster "
                        "or explore to include (repeatable; folders beside the store and the run are found too).")] = None,
    discover: Annotated[bool, typer.Option("--discover/--no-discover", help="Look for rank, cluster and explore "
                        "folders beside the store and the run.")] = True,
) -> None:
    """One self-contained HTML page (works offline): the store's variables and provenance, the run's config,
    curves and reconstructions, every map with shared zoom, the ranking table, clusters and exploration."""
    out = beside_store(store, "report") if out is None else out
    writable_folders(out=out)
    from vaearr.viz.report import build_report

    result = build_report(store, out, run=run, analyses=analyses or [], discover=discover, echo=typer.echo)
    typer.echo(result.summary())
