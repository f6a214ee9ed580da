"""Deprecated: ROI masks moved to :mod:`vaearr.analysis.roi`, their figures to :mod:`vaearr.viz.roi` (goes in vaearr 0.3)."""

import warnings
from typing import Any

from vaearr.analysis.roi import RoiResult, export_keep_xy, make_roi, parse_range  # noqa: F401 - the old names
from vaearr.analysis.roi import create_roi as _create_roi
from vaearr.deprecated import REMOVED_IN
from vaearr.store import open_store
from vaearr.viz.roi import roi_figures

warnings.warn(f"vaearr.roi moved to vaearr.analysis.roi; the old name goes in vaearr {REMOVED_IN}", DeprecationWarning,
              stacklevel=2)


def create_roi(store: Any, *, figures: Any = None, **kwargs: Any) -> RoiResult:
    """:func:`vaearr.analysis.roi.create_roi`, and (``figures``: a folder) :func:`vaearr.viz.roi.roi_figures`."""
    result = _create_roi(store, **kwargs)
    if figures is not None:
        result.files.update(roi_figures(open_store(store), result.mask, result.info, figures, result.name,
                                        kwargs.get("var", "bandcontrast")))
    return result
