"""Progress bars for long work: a tqdm bar over dask tasks, and a plain tqdm wrapper."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

from dask.callbacks import Callback
from tqdm import TqdmWarning

with warnings.catch_warnings():
    # in a notebook without ipywidgets tqdm.auto falls back to the text bar, warning once per kernel: the bar is fine
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm


def _disabled() -> bool:
    # bars are noise in logs of non-interactive runs unless asked for
    return os.environ.get("VAEARR_PROGRESS", "auto") == "off" or (
        os.environ.get("VAEARR_PROGRESS", "auto") == "auto" and not sys.stderr.isatty()
    )


def bar(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it"):
    """A tqdm bar that stays quiet when stderr is not a terminal (``VAEARR_PROGRESS=on`` forces it)."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=_disabled(), leave=False)


@contextlib.contextmanager
def dask_progress(desc: str) -> Iterator[None]:
    """Show a tqdm bar while dask computes inside the block."""

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
