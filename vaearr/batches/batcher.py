"""Batches cut out of a stream of group buffers (:class:`Batcher`), for :class:`vaearr.batches.loader.ZarrBatches`."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from vaearr.batches.read import Recycler


class Batcher:
    """Cuts consecutive batches out of a stream of group buffers, across group boundaries."""

    def __init__(self, recycler: Recycler, capacity: int) -> None:
        self.recycler, self.capacity = recycler, capacity
        self.segments: deque[tuple[torch.Tensor, torch.Tensor, int]] = deque()
        self.offset = 0
        self.available = 0

    def push(self, x: torch.Tensor, ids: torch.Tensor) -> None:
        n = ids.shape[0]  # lengths kept as ints: len() of a tensor costs microseconds
        if n:
            self.segments.append((x, ids, n))
            self.available += n

    def pop(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, ids, m = self.segments[0]
        if self.offset == 0 and m == n:
            # the usual case: groups are cut at the epoch's batch boundaries, so a piece is a batch
            self.segments.popleft()
            self.available -= n
            return x, ids
        parts = []
        while n > 0:
            x, ids, m = self.segments[0]
            k = min(n, m - self.offset)
            parts.append((x[self.offset:self.offset + k], ids[self.offset:self.offset + k]))
            self.offset += k
            self.available -= k
            n -= k
            if self.offset == m:
                self.segments.popleft()
                self.offset = 0
        if len(parts) == 1:
            return parts[0]
        # numpy, into a recycled buffer: a single-threaded copy, no intra-op thread team woken
        xs = [p[0].numpy() for p in parts]
        out = self.recycler.take(sum(len(x) for x in xs), xs[0].shape[1:], xs[0].dtype, capacity=self.capacity)
        np.concatenate(xs, out=out)
        return torch.from_numpy(out), torch.cat([p[1] for p in parts])


def rebatched(pieces: Iterable[tuple[np.ndarray, np.ndarray]], size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive batches of ``size`` rows (the last one short) out of a stream of ``(index, x)`` pieces of any
    lengths, in order: each row is copied once, where a batch spans pieces (a batch inside one piece is a view of it).

    Examples
    --------
    >>> pieces = [(np.arange(3), np.arange(3) * 10), (np.arange(3, 8), np.arange(3, 8) * 10)]
    >>> [idx.tolist() for idx, _ in rebatched(iter(pieces), 3)]
    [[0, 1, 2], [3, 4, 5], [6, 7]]
    """
    held: deque[tuple[np.ndarray, np.ndarray]] = deque()
    n = 0
    for index, x in pieces:
        if len(index):
            held.append((index, x))
            n += len(index)
        while n >= size:
            yield _taken(held, size)
            n -= size
    if n:
        yield _taken(held, n)


def _taken(held: deque[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` rows of the ``held`` pieces, taken off them."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    while k:
        index, x = held[0]
        if len(index) <= k:
            held.popleft()
            parts.append((index, x))
            k -= len(index)
        else:
            parts.append((index[:k], x[:k]))
            held[0] = (index[k:], x[k:])
            k = 0
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
