"""Tests of vaearr.batches.ahead: items made in a thread of their own, a few ahead of the caller."""

from __future__ import annotations

import threading
import time

import pytest

from vaearr.batches.ahead import ahead


def _alive(name: str) -> bool:
    return any(t.name == name and t.is_alive() for t in threading.enumerate())


def test_every_item_in_order_and_the_thread_gone_at_the_end() -> None:
    assert list(ahead(iter(range(50)), 3, name="vaearr-test-order")) == list(range(50))
    assert list(ahead(iter([]))) == []
    assert not _alive("vaearr-test-order")


def test_an_error_comes_out_where_its_item_would_have() -> None:
    def items():
        yield 1
        yield 2
        raise KeyError("item 3")

    got = []
    with pytest.raises(KeyError, match="item 3"):
        for item in ahead(items(), 2):
            got.append(item)
    assert got == [1, 2]
    # an exception that is an item is an item, not an error
    err = ValueError("an item")
    assert list(ahead(iter([err]))) == [err]


def test_the_maker_runs_at_most_n_ahead_and_stops_when_the_caller_leaves() -> None:
    made = []
    stop = threading.Event()

    def items():
        for i in range(1000):
            made.append(i)
            yield i

    it = ahead(items(), 2, stop=stop, name="vaearr-test-ahead")
    assert next(it) == 0
    time.sleep(0.3)  # time enough for the maker to fill the queue
    # the one handed out, two in the queue, one made and waiting for room
    assert len(made) <= 4
    it.close()  # the caller leaves its loop
    assert stop.is_set() and not _alive("vaearr-test-ahead")
    assert len(made) <= 5
