"""Deprecated: the figures moved to :mod:`vaearr.viz` (this module goes in vaearr 0.3)."""

import warnings

from vaearr.deprecated import REMOVED_IN
from vaearr.viz import (  # noqa: F401 - the old public names
    DPI,
    FIG_INCHES,
    FRAME_WIDTH,
    histogram,
    image_map,
    map_grid,
    overlay,
    save_figure,
    shade_outside,
)
from vaearr.viz import both as _both  # noqa: F401 - transitional, for modules not moved yet
from vaearr.viz import holoviews as _hv  # noqa: F401

warnings.warn(f"vaearr.plots moved to vaearr.viz; the old name goes in vaearr {REMOVED_IN}", DeprecationWarning,
              stacklevel=2)
