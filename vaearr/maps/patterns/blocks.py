"""Row blocks of a pattern map read one block ahead of the code that uses them.

Every pass of ``segment`` and ``spread`` over the patterns reads a block of rows (decompressing the store's chunks),
then computes on it; read in turn, the cores wait on the reading, then the reading waits on the cores. Here the next
block is read in a thread of its own while the caller computes on the current one (:func:`vaearr.batches.ahead.ahead`):
the same blocks, in the same order, so every result is the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from vaearr.batches.ahead import ahead

#: Blocks read ahead of the caller: one more block of raw patterns in memory (a few MB to some tens).
AHEAD = 1


def spans(ny: int, step: int, halo: int = 0) -> list[tuple[int, int]]:
    """The rows ``(r0, r1)`` of each block of ``step`` rows of ``ny``, widened by ``halo`` rows either side (cut at
    the map's edges)."""
    step = max(1, step)
    return [(max(0, r0 - halo), min(ny, r0 + step + halo)) for r0 in range(0, ny, step)]


def read_ahead(data: Any, rows: Sequence[tuple[int, int]], n: int = AHEAD) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """``((r0, r1), np.asarray(data[r0:r1]))`` of each ``(r0, r1)`` of ``rows``, in order, read ``n`` blocks ahead of
    the caller in a thread (``data``: a numpy or dask array whose first dim is the rows)."""
    return ahead((((r0, r1), _read(data[r0:r1])) for r0, r1 in rows), max(1, n), name="vaearr-blocks")


def _read(block: Any) -> np.ndarray:
    """A block as numpy; a dask block computed in the reading thread itself (the store's codecs still decode its
    chunks on zarr's own threads): dask's threaded scheduler would start a pool of threads for each new calling
    thread, each with its own malloc arena (on a 200 × 1 000 map: 440 MB more at segment's peak)."""
    if hasattr(block, "dask"):
        return np.asarray(block.compute(scheduler="synchronous"))
    return np.asarray(block)


def holds(pixels: np.ndarray, start: int, stop: int) -> bool:
    """Whether the sorted flat pixel indices ``pixels`` hold one in ``[start, stop)``."""
    lo, hi = np.searchsorted(pixels, [start, stop])
    return bool(hi > lo)
