"""Row blocks read one block ahead: the same blocks, in the same order, as reading each in turn."""

from __future__ import annotations

import threading

import dask.array as da
import numpy as np
import pytest

from vaearr.maps.patterns.blocks import holds, read_ahead, spans


def test_spans_cover_the_rows_once_and_widen_by_the_halo() -> None:
    assert spans(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert spans(10, 4, halo=1) == [(0, 5), (3, 9), (7, 10)]
    assert spans(3, 0) == [(0, 1), (1, 2), (2, 3)]  # a step under 1 reads a row at a time


def test_holds_says_whether_a_pixel_falls_in_the_range() -> None:
    pixels = np.array([3, 7, 7, 12])
    assert holds(pixels, 0, 4) and holds(pixels, 7, 8) and holds(pixels, 12, 13)
    assert not holds(pixels, 4, 7) and not holds(pixels, 13, 100) and not holds(pixels[:0], 0, 10)


@pytest.mark.parametrize("lazy", [False, True])
def test_blocks_are_those_read_in_turn(lazy: bool) -> None:
    data = np.random.default_rng(0).integers(0, 255, (23, 5, 3, 3), dtype=np.uint8)
    source = da.from_array(data, chunks=(4, 5, 3, 3)) if lazy else data
    rows = [(0, 6), (4, 11), (17, 23), (11, 12)]  # overlapping and out of order, as callers ask
    got = list(read_ahead(source, rows))
    assert len(got) == len(rows)
    assert [r for r, _ in got] == rows
    for (r0, r1), block in got:
        assert isinstance(block, np.ndarray)
        np.testing.assert_array_equal(block, data[r0:r1])


def test_a_failed_read_is_raised_where_its_block_would_come() -> None:
    class Broken:
        def __getitem__(self, rows: slice) -> np.ndarray:
            if rows.start == 4:
                raise OSError("chunk 4 unreadable")
            return np.full((rows.stop - rows.start, 2), rows.start)

    got = []
    with pytest.raises(OSError, match="chunk 4 unreadable"):
        for _, block in read_ahead(Broken(), [(0, 2), (2, 4), (4, 6), (6, 8)]):
            got.append(int(block[0, 0]))
    assert got == [0, 2]


def test_the_reading_thread_ends_when_the_caller_stops_early() -> None:
    before = {t.ident for t in threading.enumerate()}
    blocks = read_ahead(np.zeros((100, 2)), spans(100, 1))
    next(blocks)
    blocks.close()  # the caller's loop left after one block
    left = [t for t in threading.enumerate() if t.ident not in before and t.name == "vaearr-blocks"]
    assert not any(t.is_alive() for t in left)
