"""``vaearr import-weights``: a lab script's PyTorch checkpoint as a vaearr run (its options:
:class:`~vaearr.train.options.ImportWeightsOptions`)."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, typer_parameters
from vaearr.interface import in_flags, options_flags
from vaearr.options import made, writable_folder
from vaearr.train.options import ImportWeightsOptions


def import_weights(**given: Any) -> None:
    """Load a script's checkpoint (torch.load weights_only=True) into conv-vae and write a run that encode, explore and layers use."""
    options = made(ImportWeightsOptions, given)
    writable_folder(options.run, "--run")  # proven writable (removed again if the command fails while it is empty)
    from vaearr.train.weights import import_run, imported_summary

    typer.echo(in_flags(imported_summary(options, import_run(options)), options_flags(ImportWeightsOptions)))


import_weights.__signature__ = inspect.Signature(typer_parameters(ImportWeightsOptions))  # type: ignore[attr-defined]
app.command("import-weights")(import_weights)
