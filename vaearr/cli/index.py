"""``vaearr index``: crystal orientations from the store's patterns (PyEBSDIndex Hough, kikuchipy dictionary); its options are :class:`~vaearr.maps.options.IndexOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, typer_parameters
from vaearr.maps.options import IndexOptions
from vaearr.options import made


def index(**given: Any) -> None:
    """Index the patterns: write {name}(y, x, quaternion) (orix convention), phase_id and the quality maps."""
    options = made(IndexOptions, given)
    from vaearr.maps.indexing.indexing import index_store

    typer.echo(index_store(options.store, options).summary())


index.__signature__ = inspect.Signature(typer_parameters(IndexOptions))  # type: ignore[attr-defined]
app.command()(index)
