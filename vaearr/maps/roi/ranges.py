"""The x/y ranges of a mask: in µm (inclusive, within float noise of the stored coordinates) and in pixel indices
(half-open, as a Python slice), from what a user gives (``"A:B"`` or a pair).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaearr.errors import InputError
from vaearr.options import parse_range


Range = tuple[float | None, float | None]


IndexRange = tuple[int | None, int | None]


def parse_index_range(text: str) -> IndexRange:
    """Parse ``"A:B"`` into whole-number pixel positions ``(A, B)``, half-open as a Python slice.

    Examples
    --------
    >>> parse_index_range("20:40"), parse_index_range("20:"), parse_index_range(":5")
    ((20, 40), (20, None), (None, 5))
    """
    lo, hi = parse_range(text)
    for v in (lo, hi):
        if v is not None and (v != int(v) or v < 0):
            raise InputError(None, f"index range {text!r}: {v:g} is not a pixel index (a whole number ≥ 0)")
    lo_i = None if lo is None else int(lo)
    hi_i = None if hi is None else int(hi)
    if lo_i is not None and hi_i is not None and hi_i <= lo_i:
        raise InputError(None, f"index range {text!r} is empty: a half-open range A:B needs B > A")
    return lo_i, hi_i


def as_index_range(r: Any, axis: str) -> IndexRange | None:
    if r is None:
        return None
    if isinstance(r, str):
        return parse_index_range(r)
    try:
        lo, hi = r
    except (TypeError, ValueError):
        raise InputError(None, f"{axis}-index range must be (start, stop), got {r!r}") from None
    text = f"{'' if lo is None else lo}:{'' if hi is None else hi}"
    return parse_index_range(text)


def in_index_range(n: int, r: IndexRange, axis: str, label: str) -> np.ndarray:
    lo, hi = r
    if lo is not None and lo >= n:
        raise InputError(None, f"{axis}-index range {lo}:{'' if hi is None else hi} starts past the map's "
                               f"{n} positions along {axis} (0..{n - 1}) in {label}")
    keep = np.zeros(n, dtype=bool)
    keep[slice(lo, hi)] = True
    return keep


def as_range(r: Any, axis: str) -> Range | None:
    if r is None:
        return None
    if isinstance(r, str):
        r = parse_range(r)
    try:
        lo, hi = r
    except (TypeError, ValueError):
        raise InputError(None, f"{axis} range must be (low, high), got {r!r}") from None
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    if lo is not None and hi is not None and lo > hi:
        raise InputError(None, f"{axis} range ({lo:g}, {hi:g}) is empty")
    if lo is None and hi is None:
        return None
    return lo, hi


def in_range(coord: np.ndarray, r: Range) -> np.ndarray:
    # inclusive within a millionth of a step, so float noise in stored coordinates
    # (0.1 * 3 = 0.30000000000000004) cannot drop an edge row the user asked for
    step = float(np.median(np.abs(np.diff(coord)))) if coord.size > 1 else 1.0
    eps = 1e-6 * (step or 1.0)
    keep = np.ones(coord.shape, dtype=bool)
    if r[0] is not None:
        keep &= coord >= r[0] - eps
    if r[1] is not None:
        keep &= coord <= r[1] + eps
    return keep
