"""Figures people look at, as offline HTML (BokehJS inlined) and PNG: the public plotting API.

:mod:`~vaearr.viz.core` holds the machinery (both backends, :func:`save_figure`),
:mod:`~vaearr.viz.maps` the scan maps, map grids and histograms.
"""

from vaearr.viz.core import DPI, FIG_INCHES, FRAME_WIDTH, both, holoviews, save_figure, static_figure
from vaearr.viz.maps import histogram, image_map, map_grid, overlay, shade_outside

__all__ = [
    "DPI",
    "FIG_INCHES",
    "FRAME_WIDTH",
    "both",
    "histogram",
    "holoviews",
    "image_map",
    "map_grid",
    "overlay",
    "save_figure",
    "shade_outside",
    "static_figure",
]
