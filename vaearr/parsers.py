"""Small parsers of command-line text: lists, shapes, ranges, ``key=value`` pairs and ``--window``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from vaearr.errors import InputError


def parse_floats(text: str | None, what: str) -> list[float] | None:
    """``"0.5,1,2"`` → floats (``;`` separates too), or None for no text."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise InputError(None, f"{what} must be comma-separated numbers, got '{text}'") from None


def parse_ints(text: str | None, what: str) -> list[int] | None:
    """``"3,7,12"`` → whole numbers (latent dims), or None for no text."""
    values = parse_floats(text, what)
    if values is None:
        return None
    if any(v != int(v) for v in values):
        raise InputError(None, f"{what} must be whole numbers (latent dims), got '{text}'")
    return [int(v) for v in values]


def parse_shape(text: str | None, n: int, what: str, *, like: str | None = None) -> tuple[int, ...] | None:
    """``"40x60"`` → ``(40, 60)``: ``n`` positive integers, or None for no text (``like``: an example for the
    error line, default ``NxN...``; ``what``: the option's name in it).

    Examples
    --------
    >>> parse_shape("64x64,32", 3, "`patch`")
    (64, 64, 32)
    >>> parse_shape("64x64", 3, "`patch`", like="64x64x64")
    Traceback (most recent call last):
    ...
    vaearr.errors.InputError: `patch` must be 3 positive integers like 64x64x64, got '64x64'
    """
    if text is None:
        return None
    form = "x".join(["N"] * n)
    try:
        shape = tuple(int(p) for p in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise InputError(None, f"{what} must look like {form}, got '{text}'") from None
    if len(shape) != n or min(shape) < 1:
        raise InputError(None, f"{what} must be {n} positive integers like {like or form}, got '{text}'")
    return shape


def parse_names(text: str | None) -> list[str] | None:
    """``"a, b"`` → ``["a", "b"]``, or None for no text."""
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def parse_k_range(text: str) -> tuple[int, int]:
    """``"2:8"`` → ``(2, 8)``."""
    try:
        lo, hi = (int(v) for v in text.split(":"))
    except ValueError:
        raise InputError(None, f"`k_range` must look like 2:8, got '{text}'") from None
    if lo < 1 or hi < lo:
        raise InputError(None, f"`k_range` {text} is empty or below 1")
    return lo, hi


def parse_range(text: str) -> tuple[float | None, float | None]:
    """Parse ``"A:B"`` into ``(A, B)``; either end may be left empty for "no bound".

    Examples
    --------
    >>> parse_range("10:20"), parse_range("10:"), parse_range(":-2.5")
    ((10.0, 20.0), (10.0, None), (None, -2.5))
    """
    if not isinstance(text, str) or text.count(":") != 1:
        raise InputError(None, f"range {text!r} is not of the form A:B (e.g. '10:20', '10:' or ':20')")
    parts: list[float | None] = []
    for part in text.split(":"):
        part = part.strip()
        if part == "":
            parts.append(None)
            continue
        try:
            v = float(part)
        except ValueError:
            raise InputError(None, f"range {text!r}: {part!r} is not a number") from None
        if not math.isfinite(v):
            raise InputError(None, f"range {text!r}: {part!r} is not a finite number")
        parts.append(v)
    lo, hi = parts
    if lo is not None and hi is not None and lo > hi:
        raise InputError(None, f"range {text!r} is empty: {lo:g} > {hi:g}")
    return lo, hi


def parse_options(items: list[str] | None) -> dict:
    """``key=value`` pairs; values parsed as JSON when they are (numbers, lists, true/false)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(None, f"`option` takes key=value, got '{item}'")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def parse_none(text: str | None) -> str | None:
    """``"none"`` (any case) → None: the command line's word for no variable."""
    return None if (text or "").lower() == "none" else text


@dataclass(frozen=True)
class WindowRequest:
    """``--window`` parsed: ``auto``, ``all`` (the whole map), a ``size`` (rows, columns) placed by the
    chooser, a ``box`` (y0, y1, x0, x1) in scan pixels, stops exclusive, or ``boxes`` (several, the
    values of each in turn: tiles spread over the map)."""

    how: str
    value: tuple[int, ...] = ()

    def text(self) -> str:
        if self.how in ("box", "boxes"):
            v = self.value
            return ";".join(f"{v[i]}:{v[i + 1]},{v[i + 2]}:{v[i + 3]}" for i in range(0, len(v), 4))
        if self.how == "size":
            return "x".join(map(str, self.value))
        return self.how


def parse_window(text: str | None) -> WindowRequest | None:
    """``auto``, ``all``, ``N`` or ``HxW`` (a size), ``y0:y1,x0:x1`` (a box), boxes joined by ``;`` (tiles);
    None stays None.

    Examples
    --------
    >>> parse_window("40:104,0:64")
    WindowRequest(how='box', value=(40, 104, 0, 64))
    >>> parse_window("0:8,0:8;16:24,40:48").how
    'boxes'
    >>> parse_window("64").value
    (64, 64)
    >>> parse_window("99999999999999999999999")
    Traceback (most recent call last):
    ...
    vaearr.errors.InputError: `window` takes scan pixels from 0 to 1000000, got 99999999999999999999999 in '99999999999999999999999'
    """
    if text is None:
        return None
    t = str(text).strip().lower()
    if t in ("auto", "all"):
        return WindowRequest(t)
    bad = (f"`window` must be auto, all, a side N or HxW, or a box y0:y1,x0:x1 in scan pixels (boxes joined by "
           f"';'), got '{text}'")
    boxes: list[int] = []
    try:
        if ":" in t:
            for one in t.split(";"):
                parts = [p.split(":") for p in one.split(",")]
                if len(parts) != 2 or any(len(p) != 2 for p in parts):
                    raise ValueError
                boxes.extend(int(v) for p in parts for v in p)
            size: tuple[int, ...] = ()
        else:
            size = tuple(int(v) for v in t.split("x"))
    except ValueError:
        raise InputError(None, bad) from None
    if not boxes and len(size) not in (1, 2):
        raise InputError(None, bad)
    _window_range([*boxes, *size], text)
    if boxes:
        return WindowRequest("box" if len(boxes) == 4 else "boxes", tuple(boxes))
    return WindowRequest("size", size * 2 if len(size) == 1 else size)


#: The largest number ``--window`` takes: a side or an edge in scan pixels (no map is a million patterns wide).
WINDOW_MAX = 1_000_000


def _window_range(numbers: Sequence[int], text: str) -> None:
    """One line for a ``--window`` number below 0 or beyond any map (``99999999999999999999999`` was accepted: past
    int64, no numpy array holds it)."""
    out = [v for v in numbers if not 0 <= v <= WINDOW_MAX]
    if out:
        raise InputError(None, f"`window` takes scan pixels from 0 to {WINDOW_MAX}, got {out[0]} in '{text}'")
