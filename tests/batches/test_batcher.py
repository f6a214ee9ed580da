"""Tests of vaearr.batches.batcher: batches cut out of a stream of group buffers, across group boundaries."""

from __future__ import annotations

import torch

from vaearr.batches.batcher import Batcher
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
