"""``vaearr segment``: grains and sub-grains as connected regions of a feature map; its options are :class:`~vaearr.maps.options.SegmentOptions`."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import app, figure_command, typer_parameters, out_parameter
from vaearr.maps.options import SegmentOptions
from vaearr.options import FigureOptions, made, writable_folders

#: ``--out`` of segment and spread: the figure's folder (default ``STORE_segment``, ``STORE_spread``).
OUT = out_parameter("Folder for the figure (HTML + PNG); default: STORE_<command> beside the store.")


def segment(figure_options: FigureOptions, **given: Any) -> None:
    """Regions of similar features (sub-grains) and the grains they join into; writes {name}, {name}_grains, {name}_boundaries."""
    out = given.pop("out")
    options = made(SegmentOptions, given)
    writable_folders(out=out)  # before the heavy imports, and before the store is written
    from vaearr.maps.segmentation.segment import segment_store
    from vaearr.viz.segment import figure_folder, segment_files

    folder = figure_folder(options.store, out)  # proven writable before the store is written
    result = segment_store(options.store, options)
    segment_files(result, folder, figures=figure_options)
    typer.echo(result.summary())


segment.__signature__ = inspect.Signature([*typer_parameters(SegmentOptions), OUT])  # type: ignore[attr-defined]
app.command()(figure_command(segment))
