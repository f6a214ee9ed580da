"""`vaearr roi` without a criterion: what it prints."""

from __future__ import annotations

from pathlib import Path

from vaearr.viz.roi import RoiFigures


def test_figures_only_summary() -> None:
    figs = RoiFigures("bandcontrast", {"map_html": Path("out/bc.html"), "map_png": Path("out/bc.png")})
    assert figs.summary().splitlines() == ["no ROI criterion: figures of 'bandcontrast' only, no mask written",
                                           "  wrote out/bc.html", "  wrote out/bc.png"]
