"""``vaearr segment``: grains and sub-grains as connected regions of a feature map; its options are :class:`~vaearr.maps.options.SegmentOptions`."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.cli.common import app, figure_command, option_parameters
from vaearr.maps.options import SegmentOptions
from vaearr.options import parsed

FIGURES = inspect.Parameter(
    "figures", inspect.Parameter.KEYWORD_ONLY, default=None,
    annotation=Annotated[Optional[Path], typer.Option(help="Folder for the figure (HTML + PNG); default: beside the store.")])


def segment(**given: Any) -> None:
    """Regions of similar features (sub-grains) and the grains they join into; writes {name}, {name}_grains, {name}_boundaries."""
    from vaearr.maps.segment import segment_store
    from vaearr.viz.segment import figure_folder, segment_files

    figures = given.pop("figures")
    options = SegmentOptions(**parsed(SegmentOptions, given))
    options.check()
    folder = figure_folder(options.store, figures)  # proven writable before the store is written
    result = segment_store(options.store, options)
    segment_files(result, folder)
    typer.echo(result.summary())


segment.__signature__ = inspect.Signature([*option_parameters(SegmentOptions), FIGURES])  # type: ignore[attr-defined]
app.command()(figure_command(segment))
