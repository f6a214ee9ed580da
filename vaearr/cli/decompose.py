"""``vaearr decompose``: PCA, NMF or constrained NMF of the patterns as references (weights and components); its options are :class:`~vaearr.maps.options.DecomposeOptions`."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import typer

from vaearr.cli.common import DASK, app, typer_parameters, resolved_mask
from vaearr.maps.options import DecomposeOptions
from vaearr.options import made


def decompose(**given: Any) -> None:
    """Decompose the patterns in the mask; write {name}_weights(y, x, {name}_component) and {name}_components."""
    dask = given.pop("dask")
    options = made(DecomposeOptions, given)
    from vaearr.maps.decomposition.decompose import write_decomposition
    from vaearr.store.dask_cluster import dask_client

    options = dataclasses.replace(options, mask=resolved_mask(options.store, options.mask))
    with dask_client(dask):
        result = write_decomposition(options.store, options)
    typer.echo(result.summary())


decompose.__signature__ = inspect.Signature([*typer_parameters(DecomposeOptions), DASK])  # type: ignore[attr-defined]
app.command()(decompose)
