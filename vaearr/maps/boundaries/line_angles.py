"""Boundary lines an edge detector drew, classed in degrees: the pieces of the map they cut out read as regions, the
misorientation across each pair of touching pieces measured (:mod:`vaearr.maps.segmentation.boundary_angles`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from vaearr.maps.patterns.misorientation import Geometry
from vaearr.maps.segmentation.boundary_angles import SIGNIFICANCE, angle_map, boundary_angles

#: Pieces of a map cut by boundary lines that are smaller than this (pixels) are not read as regions by
#: :func:`classify_lines` (their pixels go to the region beside them).
MIN_PIECE = 4


def classify_lines(lines: np.ndarray, valid: np.ndarray, data: Any, background: np.ndarray, geometry: Geometry, *,
                   grain_angle: float, low_angle: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Boundary lines drawn on a map (``lines`` (ny, nx) bool, where an edge detector put them) classed in degrees:
    the pieces of the map the lines cut out are read as regions (each line pixel given to the nearest piece), the
    misorientation across every pair of touching pieces measured (:func:`boundary_angles`), and each line pixel where
    the pairs that meet within one pixel of it agree on a class takes their largest angle: a grain-boundary pixel over
    ``grain_angle``, a low-angle one over ``low_angle``, none under. A line that cuts out no piece (open at both ends)
    and a junction of two classes are not measured: their pixels are returned as NaN (``boundaries`` keeps a grain
    boundary's class there and marks no low-angle pixel). Returns the angle of every line pixel (NaN elsewhere), the
    pieces and what was measured."""
    pieces, n = ndi.label(valid & ~lines)
    sizes = np.bincount(pieces.ravel(), minlength=n + 1)
    pieces = np.where(sizes[pieces] >= MIN_PIECE, pieces, 0)
    keep = pieces > 0
    angles = np.full(lines.shape, np.nan, np.float32)
    if not keep.any():
        return angles, np.full(lines.shape, -1), {"angle_pieces": 0}
    _, (iy, ix) = ndi.distance_transform_edt(~keep, return_indices=True)
    owned = np.where(valid, pieces[iy, ix], 0)
    ids = np.unique(owned[owned > 0])
    regions = np.where(owned > 0, np.searchsorted(ids, owned), -1)
    pairs = boundary_angles(regions, data, background, geometry)
    a = angle_map(regions, pairs, pairs.decisive(grain_angle))
    hi = ndi.maximum_filter(np.nan_to_num(a, nan=-1.0), size=3, mode="constant", cval=-1.0)
    lo = -ndi.maximum_filter(np.nan_to_num(-a, nan=-np.inf), size=3, mode="constant", cval=-np.inf)

    def category(v: np.ndarray) -> np.ndarray:
        return np.where(v >= grain_angle, 2, np.where(v >= low_angle, 1, 0))

    # a pixel where pairs of two classes meet (a junction of a grain and a low-angle boundary) is left to the lines
    measured = lines & (hi >= 0) & (category(hi) == category(lo))
    angles[measured] = hi[measured]
    info = {"angle_rule": (f"degrees, from the patterns: each line pixel takes the misorientation across the pieces "
                           f"of the map the lines cut out that meet beside it; over {grain_angle:g}° a grain "
                           f"boundary, over {low_angle:g}° a low-angle one, under it (or under {SIGNIFICANCE:g} "
                           "times its standard error) none (vaearr.maps.segmentation.boundary_angles)"),
            "grain_angle": float(grain_angle), "low_angle": float(low_angle), "angle_pieces": int(regions.max() + 1),
            "angle_pairs": int(pairs.i.size), "line_pixels_unmeasured": int((lines & ~measured).sum())}
    return angles, regions, info
