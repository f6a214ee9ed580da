"""``vaearr encode``: a run's latents (and reconstruction error) into the store, with maps and exports; its options are
:class:`~vaearr.encoding_options.EncodeOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import DASK, app, figure_command, in_flags, typer_parameters
from vaearr.encoding_options import EncodeOptions
from vaearr.options import FigureOptions, made, writable_folders


def encode(figure_options: FigureOptions, **given: Any) -> None:
    """Write the latents (mu), and reconstruction error, of a trained run into the store."""
    dask = given.pop("dask")
    options = made(EncodeOptions, given)
    writable_folders(export=options.export, out=options.out, per_subject=options.per_subject)  # before the store is written
    from vaearr.encoding import encode as encode_store
    from vaearr.viz.maps import encoded_maps

    result = encode_store(options.store, options.run, **options.keywords(), dask=dask)
    result.figures = encoded_maps(options.store, options.name, options.out, figures=figure_options)
    typer.echo(in_flags(result.summary()))  # its keywords (`recon_stride=1`) as flags


encode.__signature__ = inspect.Signature([*typer_parameters(EncodeOptions), DASK])  # type: ignore[attr-defined]
app.command()(figure_command(encode))
