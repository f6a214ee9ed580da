"""Tests of vaearr.batches.batcher: batches cut out of a stream of group buffers, across group boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaearr.batches.batcher import Batcher, rebatched
from vaearr.batches.read import Recycler


def _piece(start: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.arange(start, start + n)
    return ids.float()[:, None] * 10, ids


def test_a_piece_that_is_a_batch_is_handed_out_as_it_is() -> None:
    batcher = Batcher(Recycler(), capacity=4)
    x, ids = _piece(0, 4)
    batcher.push(x, ids)
    batcher.push(*_piece(4, 0))  # an empty piece: nothing to hand out
    assert batcher.available == 4 and len(batcher.segments) == 1
    bx, bids = batcher.pop(4)
    assert bx is x and bids is ids and batcher.available == 0  # no copy


def test_a_batch_across_pieces_is_joined_in_order() -> None:
    batcher = Batcher(Recycler(), capacity=4)
    for start, n in [(0, 3), (3, 2), (5, 6)]:
        batcher.push(*_piece(start, n))
    got = []
    while batcher.available >= 4:
        x, ids = batcher.pop(4)
        assert torch.equal(x[:, 0], ids.float() * 10)
        got.append(ids.tolist())
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7]] and batcher.available == 3
    x, ids = batcher.pop(batcher.available)  # the short last batch
    assert ids.tolist() == [8, 9, 10] and x[:, 0].tolist() == [80.0, 90.0, 100.0] and batcher.available == 0


def _pieces(lengths: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    starts = np.cumsum([0, *lengths])
    return [(np.arange(a, b), np.arange(a, b, dtype=np.uint8)[:, None].repeat(3, 1)) for a, b in zip(starts, starts[1:])]


@pytest.mark.parametrize("lengths, size", [([5, 0, 7, 1, 20, 3], 4), ([3, 3], 3), ([10], 4), ([1, 1, 1], 8), ([], 4)])
def test_rebatched_cuts_consecutive_batches_of_size_with_the_last_one_short(lengths: list[int], size: int) -> None:
    pieces = _pieces(lengths)
    total = sum(lengths)
    got = list(rebatched(iter(pieces), size))
    assert [len(i) for i, _ in got] == [size] * (total // size) + ([total % size] if total % size else [])
    idx = np.concatenate([i for i, _ in got]) if got else np.array([], int)
    np.testing.assert_array_equal(idx, np.arange(total))  # every row once, in order
    for i, x in got:  # each row's values travel with its index
        np.testing.assert_array_equal(x, i.astype(np.uint8)[:, None].repeat(3, 1))


def test_rebatched_hands_a_batch_inside_one_piece_out_as_a_view() -> None:
    (index, x), = _pieces([8])
    first, second = rebatched(iter([(index, x)]), 4)
    assert np.shares_memory(first[1], x) and np.shares_memory(second[1], x)  # no copy
