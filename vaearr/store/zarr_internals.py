"""The zarr internals vaearr uses where zarr has no public way, each taken only on the zarr releases vaearr is tested with.

zarr's public API has no way to run many of an array's reads in one call on zarr's own event loop (where its
stores' coroutines live), nor to see that loop, nor a codec pipeline to subclass. vaearr uses
``zarr.core.sync`` and ``zarr.core.codec_pipeline`` for those, and any zarr 3 release may change them. So each
is taken only on a release in :data:`TESTED` (major, minor) and when it imports; otherwise (a newer zarr, or
``VAEARR_ZARR_INTERNALS=off``) the callers take the public path: zarr.Array's synchronous reads one at a
time (the same values, slower), no draining of a failed write's siblings, zarr's own codec pipeline (a corrupt
chunk is zarr's error instead of one naming it). ``tests/store/test_portable.py`` reads the same batches both ways.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Coroutine
from typing import Any

import zarr

#: zarr releases (major, minor) whose internals used here vaearr's tests pass with.
TESTED = frozenset({(3, 1)})
#: Set to ``off`` to take the public paths on any zarr (what a zarr outside :data:`TESTED` gets).
ENVIRONMENT = "VAEARR_ZARR_INTERNALS"


def zarr_release(version: str | None = None) -> tuple[int, int]:
    """``(major, minor)`` of a zarr version string (default: the zarr imported).

    >>> zarr_release("3.1.6"), zarr_release("3.2.0rc1")
    ((3, 1), (3, 2))
    """
    m = re.match(r"(\d+)\.(\d+)", zarr.__version__ if version is None else version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


try:  # the private modules: absent or changed in a zarr release vaearr has not been tested with
    from zarr.core import sync as _sync_module
except ImportError:  # pragma: no cover - another zarr
    _sync_module = None  # type: ignore[assignment]


def enabled() -> bool:
    """Whether zarr's internals are taken: a tested release, they import, and not switched off."""
    return (zarr_release() in TESTED and _sync_module is not None
            and os.environ.get(ENVIRONMENT, "on").lower() not in ("off", "0", "no"))


def runner() -> Callable[[Coroutine[Any, Any, Any]], Any] | None:
    """``zarr.core.sync.sync``: run a coroutine on zarr's event loop from any thread (None: take the public path)."""
    return _sync_module.sync if enabled() else None


def event_loop() -> asyncio.AbstractEventLoop | None:
    """zarr's event loop when it runs (None: not started, or the public path)."""
    if not enabled():
        return None
    loop = _sync_module.loop[0]
    return loop if loop is not None and not loop.is_closed() and loop.is_running() else None


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """A coroutine over zarr stores run to its end: on zarr's loop, or (public path) on a loop of its own."""
    go = runner()
    return go(coro) if go is not None else asyncio.run(coro)
