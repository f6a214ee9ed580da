"""Grain size from a grain-boundary mask: the mean linear intercept along the grid's rows and columns (ISO 643).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaearr.maps.options import LAGB_LOW, LAGB_METHODS, LAGB_MIN_LENGTH, BoundariesOptions  # noqa: F401 - LAGB_METHODS: its users' name


def linear_intercepts(gb: np.ndarray, step_y: float, step_x: float, mask: np.ndarray | None = None) -> dict[str, Any]:
    """The mean linear intercept grain size (µm) along the rows and columns of the grid, and what it comes from.

    The test lines are the runs of pixels inside ``mask`` along each row and column, each pixel ``step``
    long. Along a line, a crossing is a step from a pixel off a grain boundary onto one (a run of boundary
    pixels counts once). The grains a line intercepts are counted as ISO 643 and ASTM E112 count them: each
    end of a line that lies inside a grain counts half, so a line with ``P`` crossings intercepts ``P``
    grains, and a line that meets no boundary intercepts one (both its ends lie in that grain). The grain size is
    the total line length over the intercepts, so it is never more than the mean line length: never beyond
    the map. Lines that meet no boundary only say their grain is at least as long as they are; when there are
    such lines, the figure is a lower bound.

    Returns ``grain_size_um`` (NaN without any line), ``intercepts``, ``lines``, ``crossings``,
    ``lines_without_boundary`` and ``line_length_um``.

    Examples
    --------
    >>> gb = np.zeros((4, 10), bool); gb[:, 4] = True
    >>> r = linear_intercepts(gb, 1.0, 1.0)  # rows: 4 × 10 µm, one crossing each; columns: 10 × 4 µm, none
    >>> r["grain_size_um"], r["intercepts"], r["lines_without_boundary"]
    (5.714285714285714, 14, 10)
    """
    gb = np.asarray(gb, bool)
    inside = np.ones(gb.shape, bool) if mask is None else np.asarray(mask, bool)
    gb = gb & inside
    intercepts = lines = crossings = bare = 0
    total = 0.0
    for g, m, step in ((gb, inside, step_x), (gb.T, inside.T, step_y)):
        # each run of in-mask pixels along a line is a test line of its own: number them in reading order
        padded = np.pad(m, ((0, 0), (1, 0)))
        starts = m & ~padded[:, :-1]
        line_id = np.cumsum(starts.ravel()).reshape(m.shape) - 1
        cross = g[:, 1:] & ~g[:, :-1] & m[:, :-1] & m[:, 1:]
        n_lines = int(starts.sum())
        per_line = np.bincount(line_id[:, 1:][cross], minlength=n_lines)
        total += float(m.sum()) * step
        lines += n_lines
        crossings += int(per_line.sum())
        intercepts += int(np.maximum(per_line, 1).sum())
        bare += int((per_line == 0).sum())
    return {"grain_size_um": total / intercepts if intercepts else float("nan"), "intercepts": intercepts,
            "lines": lines, "crossings": crossings, "lines_without_boundary": bare, "line_length_um": total}


def mean_linear_intercept(gb: np.ndarray, step_y: float, step_x: float, mask: np.ndarray | None = None) -> float:
    """Mean linear intercept grain size (µm): :func:`linear_intercepts`'s ``grain_size_um``.

    Examples
    --------
    >>> gb = np.zeros((4, 10), bool); gb[:, 4] = True
    >>> round(mean_linear_intercept(gb, 1.0, 1.0), 3)  # 80 µm of lines / 14 intercepts
    5.714
    """
    return float(linear_intercepts(gb, step_y, step_x, mask)["grain_size_um"])


def grain_size_attrs(gb: np.ndarray, step_y: float, step_x: float, mask: np.ndarray) -> dict[str, Any]:
    r = linear_intercepts(gb, step_y, step_x, mask)
    return {"grain_size_um": float(r["grain_size_um"]), "grain_size_intercepts": r["intercepts"],
            "grain_size_lines": r["lines"], "grain_size_lines_without_boundary": r["lines_without_boundary"],
            "grain_size_method": "mean linear intercept along rows and columns (ISO 643: a line's ends inside a "
                                 "grain count half; a line that meets no boundary, one intercept)"}


def describe_grain_size(a: dict[str, Any]) -> str:
    """``5.71 µm from 14 intercepts on 14 lines (10 meet no boundary: the grains may be larger)``."""
    if "grain_size_intercepts" not in a:  # written before the count was kept
        return f"{a['grain_size_um']:.4g} µm"
    if not a["grain_size_intercepts"]:
        return "none measured (no line inside the mask)"
    text = f"{a['grain_size_um']:.4g} µm from {a['grain_size_intercepts']} intercepts on {a['grain_size_lines']} lines"
    bare = a.get("grain_size_lines_without_boundary", 0)
    return text + (f" ({bare} meet no boundary: the grains may be larger)" if bare else "")
