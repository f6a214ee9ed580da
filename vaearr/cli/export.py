"""``vaearr export``: orientations to ``.ang``/``.ctf``/orix HDF5 and maps to a CSV table (:mod:`vaearr.io.export`); its
options are :class:`~vaearr.io.options.ExportOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, typer_parameters
from vaearr.io.options import ExportOptions
from vaearr.options import made


def export(**given: Any) -> None:
    """Results out: orientations with their phases to .ang/.ctf/orix HDF5, or maps to a CSV (x, y, … per pixel)."""
    options = made(ExportOptions, given)
    from vaearr.io.export import export_store

    typer.echo(export_store(options, progress="export csv").summary())


export.__signature__ = inspect.Signature(typer_parameters(ExportOptions))  # type: ignore[attr-defined]
app.command("export")(export)
