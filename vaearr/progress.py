"""Progress of long work: tqdm bars on a terminal, plain lines in a log, nothing when asked.

``VAEARR_PROGRESS`` says how (:func:`mode`): ``auto`` (the default) draws bars when stderr is a terminal and prints
plain lines when it is not (a CI log, a cluster job's file: :class:`Lines`, one line at each tenth of the work, at
most one every :data:`MIN_INTERVAL` seconds and at least one every :data:`HEARTBEAT` seconds); ``on`` draws bars
wherever stderr goes, ``lines`` prints lines wherever it goes, ``off`` shows nothing.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from dask.callbacks import Callback
from tqdm import TqdmWarning

with warnings.catch_warnings():
    # in a notebook without ipywidgets tqdm.auto falls back to the text bar, warning once per kernel: the bar is fine
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

#: ``VAEARR_PROGRESS``'s values, and what each shows.
MODES = ("auto", "on", "lines", "off")
#: Lines: the fewest seconds between two progress lines of one piece of work (a short one prints none).
MIN_INTERVAL = 5.0
#: Lines: the most seconds without a line while work goes on (slow work, or work of unknown size).
HEARTBEAT = 60.0


def mode() -> str:
    """How progress shows now: ``"bars"``, ``"lines"`` or ``"off"``, from ``VAEARR_PROGRESS`` (``auto``: bars on a
    terminal, lines when stderr is not one; ``on``: bars; ``lines``; ``off``; an unknown value reads as ``auto``)."""
    asked = os.environ.get("VAEARR_PROGRESS", "auto").strip().lower()
    if asked == "off":
        return "off"
    if asked == "on":
        return "bars"
    if asked == "lines":
        return "lines"
    return "bars" if sys.stderr.isatty() else "lines"


def _disabled() -> bool:
    return mode() != "bars"


def plural(unit: str, n: float) -> str:
    """``unit`` as a count of ``n`` says it: ``1 batch``, ``2 batches``, ``3 patterns`` (one letter stays).

    >>> plural("batch", 2), plural("pattern", 1), plural("k", 5)
    ('batches', 'pattern', 'k')
    """
    if n == 1 or len(unit) < 2 or unit.endswith("s"):
        return unit
    return unit + ("es" if unit.endswith(("ch", "sh", "x")) else "s")


class Lines:
    """Progress as plain lines on ``stream`` (stderr), for output that is not a terminal: what a tqdm bar does there
    (``update``, ``set_postfix``, ``close``, iterating, ``with``), one line at a time.

    A line when the work passes a tenth of its ``total`` (``encoding: 1,200/12,000 samples (10%), 6 s``; the whole
    done is the closing line's), at most one every ``min_interval`` seconds; one after ``heartbeat`` seconds without any (``segment: merge rounds: 12 rounds,
    60 s`` where the total is unknown); and at ``close`` the line of the whole (``epoch 2/10: 60 batches in 4.1 s,
    loss=5285.75``) when a line was printed, when the work took ``min_interval`` or more, or always with ``closing``.
    Short work prints nothing.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Lines(total=4, desc="verify", unit="chunk", stream=out, min_interval=0) as lines:
    ...     for _ in range(4):
    ...         lines.update(1)
    >>> print(out.getvalue().replace("0.0 s", "T").replace("0 s", "T"), end="")
    verify: 1/4 chunk (25%), T
    verify: 2/4 chunks (50%), T
    verify: 3/4 chunks (75%), T
    verify: 4 chunks in T
    """

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str = "",
                 unit: str = "it", stream: TextIO | None = None, min_interval: float = MIN_INTERVAL,
                 heartbeat: float = HEARTBEAT, closing: bool = False) -> None:
        self.iterable = iterable
        if total is None and iterable is not None:
            with contextlib.suppress(TypeError):
                total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.min_interval, self.heartbeat, self.closing = min_interval, heartbeat, closing
        self.n: float = 0
        self.postfix = ""
        self.start = self.last = time.monotonic()
        self.printed, self.tenth, self.closed = 0, 0, False

    def _say(self, line: str) -> None:
        print(line, file=self.stream if self.stream is not None else sys.stderr, flush=True)
        self.printed += 1
        self.last = time.monotonic()

    def _tail(self) -> str:
        return f", {self.postfix}" if self.postfix else ""

    def update(self, n: float = 1) -> None:
        """``n`` more units done; a line when a tenth is passed (and ``min_interval`` is over) or after ``heartbeat``."""
        self.n += n
        now = time.monotonic()
        elapsed = now - self.start
        if self.total:
            tenth = min(10, math.floor(10 * self.n / self.total + 1e-9))
            due = tenth > self.tenth and now - self.last >= self.min_interval
            if self.n < self.total and (due or now - self.last >= self.heartbeat):  # all done: the closing line
                self.tenth = max(self.tenth, tenth)
                self._say(f"{self.desc}: {self.n:,g}/{self.total:,g} {plural(self.unit, self.n)} "
                          f"({100 * self.n / self.total:.0f}%), {elapsed:.0f} s{self._tail()}")
        elif now - self.last >= self.heartbeat:
            self._say(f"{self.desc}: {self.n:,g} {plural(self.unit, self.n)}, {elapsed:.0f} s{self._tail()}")

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """What the lines end with (``loss=5285.75``), as tqdm's ``set_postfix`` takes it."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        """The line of the whole (see the class), once."""
        if self.closed:
            return
        self.closed = True
        elapsed = time.monotonic() - self.start
        if self.closing or self.printed or elapsed >= self.min_interval:
            self._say(f"{self.desc}: {self.n:,g} {plural(self.unit, self.n)} in {elapsed:.1f} s{self._tail()}")

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it"):
    """Progress of long work as :func:`mode` says: a tqdm bar on a terminal, :class:`Lines` in a log, nothing (a
    disabled bar) with ``VAEARR_PROGRESS=off``."""
    if mode() == "lines":
        return Lines(iterable, total=total, desc=desc, unit=unit)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=_disabled(), leave=False)


@contextlib.contextmanager
def dask_progress(desc: str) -> Iterator[None]:
    """Show a progress bar (or lines: :func:`bar`) while dask computes inside the block."""

    class _Bar(Callback):
        def _start_state(self, dsk, state):
            self._bar = bar(total=sum(len(state[k]) for k in ("ready", "waiting", "running", "finished")),
                            desc=desc, unit="task")

        def _posttask(self, key, result, dsk, state, worker_id):
            self._bar.update(1)

        def _finish(self, dsk, state, errored):
            self._bar.close()

    with _Bar():
        yield


def format_rate(count: float, seconds: float, unit: str) -> str | None:
    """``count`` things in ``seconds`` as a rate with three significant figures (``"0.0452 patterns/s"``,
    ``"3,550 patterns/s"``), or None when it cannot be measured (nothing done, or no time measured):
    a slow rate is never printed as 0.0.

    >>> format_rate(9, 199.2, "patterns"), format_rate(35500, 10, "patterns"), format_rate(9, 0.0, "patterns")
    ('0.0452 patterns/s', '3,550 patterns/s', None)
    """
    if not count or not seconds or seconds <= 0:
        return None
    r = count / seconds
    text = f"{float(f'{r:.3g}'):,.0f}" if r >= 100 else f"{r:.3g}"
    return f"{text} {unit}/s"


def format_loss(value: float | None) -> str:
    """A loss as progress lines print it: six significant figures (``5285.75``, ``0.0123457``), not a float's
    seventeen.

    >>> format_loss(5285.7509765625), format_loss(0.012345678), format_loss(None)
    ('5285.75', '0.0123457', 'nan')
    """
    return "nan" if value is None else f"{float(value):.6g}"
