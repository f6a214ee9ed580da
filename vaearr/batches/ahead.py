"""Items of an iterator made in a thread of their own, a few ahead of the caller (the loader's prefetch, encode's bands)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

_END = object()


class _Failure:
    """An error raised while making the items, handed to the caller (an item may itself be an exception)."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def ahead(items: Iterable[Any], n: int = 2, *, stop: threading.Event | None = None,
          name: str = "vaearr-ahead") -> Iterator[Any]:
    """``items`` made in a thread of their own, up to ``n`` ahead of the caller; an error comes out where the
    item would have.

    ``stop`` (set when the caller stops or fails) lets the code making the items give up early; the thread
    is gone when the caller's loop is left, however it is left.

    Examples
    --------
    >>> list(ahead(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    q: queue.Queue = queue.Queue(maxsize=n)
    stop = stop if stop is not None else threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            put(_Failure(exc))

    thread = threading.Thread(target=make, name=name, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a maker waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
