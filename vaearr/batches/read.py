"""Reading blocks of a variable (whole chunks along the sample dims) into shuffled group buffers."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import sys
import threading
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from zarr.buffer import cpu

from vaearr.batches.chunks import ChunkFiles
from vaearr.batches.plan import Plan, group_cuts
from vaearr.batches.spec import rng, to_channels_first
from vaearr.errors import StoreError
from vaearr.store import open_group
from vaearr.store.zarr_internals import runner

# ----------------------------------------------------------------------------------------------
# reading blocks (picklable: worker processes get a copy and open the array themselves)


def open_array(store: str, var: str, storage_options: dict | None, snapshot: str | None = None):
    """The zarr array ``var`` of the store, read-only (local folder, icechunk repository or fsspec URL;
    ``snapshot``: the repository snapshot to read, default the one this command reads)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="zarr")
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        return open_group(store, storage_options=storage_options, snapshot=snapshot)[var]


@dataclass
class Source:
    """The sample grid of one variable, cut into blocks (chunks along the sample dims)."""

    store: str
    storage_options: dict | None
    var: str
    grid_shape: tuple[int, ...]  # sizes of the sample dims, caller's order
    block_shape: tuple[int, ...]  # chunk sizes along them
    sample_axes: tuple[int, ...]  # stored axis of each sample dim
    feature_axes: tuple[int, ...]  # stored axis of each feature dim
    feature_shape: tuple[int, ...]
    dtype: np.dtype
    mask: np.ndarray | None  # bool over grid_shape
    # layout and dtype of the pieces a group is cut into: the reading threads convert while
    # they copy anyway (numpy's cast, unlike torch's, wakes no intra-op thread team)
    out_dtype: np.dtype | None = None
    channels_first: bool = False
    channel_axis: int | None = None
    # threads that decode the chunks of a group at once (1: the reading thread alone)
    decode_threads: int = 1
    # the repository snapshot the loader read (s3:// stores): worker processes read the same one,
    # whatever another writer commits meanwhile and however they were started
    snapshot: str | None = None
    _array: Any = field(default=None, repr=False)
    _recycler: Any = field(default=None, repr=False)
    _files: Any = field(default=None, repr=False)  # ChunkFiles, False (zarr reads), None (not looked at)
    _pool: Any = field(default=None, repr=False)  # (pid, ThreadPoolExecutor): the decode_pool of that process

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_array"] = state["_recycler"] = state["_files"] = state["_pool"] = None  # each process has its own
        return state

    @property
    def decode_pool(self) -> ThreadPoolExecutor:
        """This source's :attr:`decode_threads` chunk-decoding threads in this process (made once, under a lock;
        chunks decode without the GIL; a forked child, which has the pool but not its threads, makes its own). They
        end when the source is dropped."""
        with _POOL_LOCK:
            if self._pool is None or self._pool[0] != os.getpid():
                self._pool = (os.getpid(), ThreadPoolExecutor(max_workers=self.decode_threads,
                                                              thread_name_prefix="vaearr-decode"))
            return self._pool[1]

    @property
    def files(self) -> ChunkFiles | None:
        """Direct access to the chunk files, when the array allows it (see :class:`ChunkFiles`)."""
        if self._files is None:
            files = ChunkFiles.of(self.array)
            if files is not None:
                shape = files.chunk_shape
                whole = all(shape[ax] == n for ax, n in zip(self.feature_axes, self.feature_shape))
                blocks = all(shape[ax] == c for ax, c in zip(self.sample_axes, self.block_shape))
                files = files if whole and blocks else None
            self._files = files or False
        return self._files or None

    @property
    def recycler(self) -> Recycler:
        if self._recycler is None:
            self._recycler = Recycler()
        return self._recycler

    @property
    def array(self):
        if self._array is None:
            self._array = open_array(self.store, self.var, self.storage_options, self.snapshot)
        return self._array

    @property
    def n_blocks(self) -> tuple[int, ...]:
        return tuple(-(-n // c) for n, c in zip(self.grid_shape, self.block_shape))

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one sample in a group buffer."""
        f = self.feature_shape
        if not self.channels_first:
            return f
        if self.channel_axis is None:
            return (1, *f)
        return (f[self.channel_axis], *f[:self.channel_axis], *f[self.channel_axis + 1:])

    def layout(self, a: np.ndarray) -> np.ndarray:
        """``(n, *feature_shape)`` → ``(n, *out_shape)``, as a view."""
        return to_channels_first(a, self.channel_axis) if self.channels_first else a

    def block_pos(self, block: int) -> tuple[int, ...]:
        """Position of block ``block`` in the grid of blocks (C order)."""
        pos = []
        b = int(block)
        for k in reversed(self.n_blocks):
            b, r = divmod(b, k)
            pos.append(r)
        return tuple(pos[::-1])

    def block_slices(self, block: int) -> tuple[slice, ...]:
        return tuple(
            slice(p * c, min((p + 1) * c, n))
            for p, c, n in zip(self.block_pos(block), self.block_shape, self.grid_shape)
        )

    def counts(self) -> np.ndarray:
        """Samples inside the mask in every block (flat, block order)."""
        nb = self.n_blocks
        if self.mask is None:
            per_dim = [np.diff(np.minimum(np.arange(k + 1) * c, n)) for k, c, n in zip(nb, self.block_shape, self.grid_shape)]
            out = per_dim[0]
            for p in per_dim[1:]:
                out = np.multiply.outer(out, p)
            return np.asarray(out, dtype=np.int64).ravel()
        counts = self.mask.astype(np.int64)
        for axis, (k, c) in enumerate(zip(nb, self.block_shape)):
            counts = np.add.reduceat(counts, np.arange(k) * c, axis=axis)
        return counts.ravel()

    def block_index(self, block: int) -> tuple[np.ndarray | None, np.ndarray]:
        """Positions inside the block of its masked samples (None: all) and their flat ids."""
        sl = self.block_slices(block)
        local = None
        if self.mask is not None:
            m = self.mask[sl].ravel()
            if not m.all():
                local = np.flatnonzero(m)
        # C-order flat index of every sample of the block: a sum of one range per dim
        ids = None
        stride = 1
        for sl_, n in zip(sl[::-1], self.grid_shape[::-1]):
            r = np.arange(sl_.start * stride, sl_.stop * stride, stride, dtype=np.int64)
            ids = r if ids is None else np.add.outer(r, ids)
            stride *= n
        ids = ids.ravel()
        if local is not None:
            ids = ids[local]
        return local, ids

    def selection(self, block: int) -> tuple[slice, ...]:
        """Stored-order selection of a block: its sample slices, every feature whole."""
        sel: list[slice] = [slice(None)] * (len(self.sample_axes) + len(self.feature_axes))
        for ax, sl in zip(self.sample_axes, self.block_slices(block)):
            sel[ax] = sl
        return tuple(sel)

    def chunk_coords(self, block: int) -> tuple[int, ...]:
        """Stored-order coordinates of the chunk that is block ``block``."""
        coords = [0] * (len(self.sample_axes) + len(self.feature_axes))
        for ax, p in zip(self.sample_axes, self.block_pos(block)):
            coords[ax] = p
        return tuple(coords)

    def read_blocks(self, blocks: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decode blocks (whole chunks) → ``(n, *feature_shape)`` masked samples and their ids, each."""
        out = []
        for b in blocks:
            local, ids = self.block_index(b)
            out.append((np.empty((len(ids), *self.feature_shape), self.dtype), ids))
        if self.files is None:
            # all of them in one call into zarr's event loop: zarr's thread pool decodes them
            # concurrently, and zarr's per-call overhead (milliseconds) is paid once (the public path:
            # zarr.Array's synchronous reads, one block at a time)
            sels = [self.selection(b) for b in blocks]
            go = runner()
            arrays = go(_get_many(self.array.async_array, sels)) if go is not None else [self.array[s] for s in sels]
            for b, a, (dest, _) in zip(blocks, arrays, out):
                self._place(b, np.asarray(a), dest, slice(None), self.block_index(b)[0], cropped=True, layout=False)
        else:
            self._decode_all([(b, dest, slice(None), self.block_index(b)[0], False) for b, (dest, _) in zip(blocks, out)])
        return out

    def read_into(self, blocks: Sequence[int], out: np.ndarray, out_ids: np.ndarray,
                  where: np.ndarray | None = None) -> None:
        """Decode blocks into ``out`` (``(n, *out_shape)``, any dtype) and their ids into ``out_ids``.

        The blocks' samples, taken in order, go to rows ``where`` of ``out`` (None: the same
        rows, in order): a shuffle costs no pass of its own. Each chunk is decoded into a small
        per-thread buffer that stays in cache and its samples are copied (and cast) straight to
        their rows; a chunk whose samples are all wanted, in order, in the stored dtype and
        layout, is decoded straight into its rows of ``out``.
        """
        jobs = []
        lo = 0
        for b in blocks:
            local, ids = self.block_index(b)
            hi = lo + len(ids)
            if hi > len(out):  # pragma: no cover - the store changed under us
                raise StoreError(self.store, f"'{self.var}' changed while it was read")
            rows = slice(lo, hi) if where is None else where[lo:hi]
            out_ids[rows] = ids
            jobs.append((b, out, rows, local, True))
            lo = hi
        if self.files is not None:
            self._decode_all(jobs)
            return

        go = runner()  # zarr's event loop (every block at once), or None: the public, synchronous reads
        target = self.array.async_array if go is not None else self.array
        reads, post = [], []
        for b, _, rows, local, _ in jobs:
            sel = self.selection(b)
            if self._direct(out, rows, local):
                shape = tuple(s.stop - s.start for s in self.block_slices(b)) + self.feature_shape
                buf = cpu.NDBuffer.from_numpy_array(out[rows].reshape(shape))
                reads.append(functools.partial(target.get_orthogonal_selection, sel, out=buf))
            else:
                reads.append(functools.partial(target.getitem if go is not None else target.__getitem__, sel))
                post.append((len(reads) - 1, b, rows, local))
        arrays = go(_gather([r() for r in reads])) if go is not None else [r() for r in reads]
        for j, b, rows, local in post:
            self._place(b, np.asarray(arrays[j]), out, rows, local, cropped=True)

    def _direct(self, out: np.ndarray, rows: Any, local: np.ndarray | None) -> bool:
        """Whether a block's stored bytes are, unchanged, its rows ``rows`` of ``out``."""
        n = len(self.sample_axes) + len(self.feature_axes)
        return (isinstance(rows, slice) and local is None and out.dtype == self.dtype
                and (not self.channels_first or self.channel_axis is None)
                and self.sample_axes + self.feature_axes == tuple(range(n)))

    def _place(self, block: int, a: np.ndarray, out: np.ndarray, rows: Any, local: np.ndarray | None,
               cropped: bool, layout: bool = True) -> None:
        """Copy a block's samples (``a``: stored order, the whole chunk or cropped to the block) to
        rows ``rows`` of ``out``, cast to its dtype, in the output layout unless ``layout`` is False."""
        if not cropped:  # edge chunks are stored whole, padded past the array's end
            crop = [slice(None)] * a.ndim
            for ax, sl in zip(self.sample_axes, self.block_slices(block)):
                crop[ax] = slice(0, sl.stop - sl.start)
            a = a[tuple(crop)]
        order = self.sample_axes + self.feature_axes
        if order != tuple(range(a.ndim)):
            a = a.transpose(order)
        a = a.reshape((-1, *self.feature_shape))
        if local is not None:
            a = a[local]
        out[rows] = self.layout(a) if layout else a  # numpy: a single-threaded, GIL-free copy and cast

    def _decode_all(self, jobs: list[tuple[int, np.ndarray, Any, np.ndarray | None, bool]]) -> None:
        """Decode blocks from their files into rows of their ``out``, ``decode_threads`` at a time.

        A job is ``(block, out, rows, local, layout)`` (see :meth:`_place`)."""
        files = self.files
        full = math.prod(self.block_shape)

        def one(job: tuple) -> None:
            b, out, rows, local, layout = job
            coords = self.chunk_coords(b)
            if self._direct(out, rows, local) and len(out[rows]) == full:
                files.decode(coords, out[rows])  # the chunk is exactly these rows
                return
            # decoded where it stays in cache, then copied to its rows: far cheaper than
            # decoding into a group-sized buffer and gathering out of it afterwards
            chunk = _scratch(1, (files.nbytes,), np.dtype(np.uint8), slot="chunk")[0]
            files.decode(coords, chunk)
            self._place(b, chunk.view(files.dtype).reshape(files.chunk_shape), out, rows, local, cropped=False,
                        layout=layout)

        def share(part: list) -> None:
            for job in part:
                one(job)

        k = min(self.decode_threads, len(jobs))
        if k <= 1:
            share(jobs)
            return
        # one task per decoding thread, not one per chunk: each hand-off wakes a thread
        futures = [self.decode_pool.submit(share, jobs[i::k]) for i in range(k)]
        for f in futures:
            f.result()


#: held while a source makes its decode pool (a lock, no state: a forked child gets a fresh one)
_POOL_LOCK = threading.Lock()


def _new_lock_in_child() -> None:
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()  # a fork while another thread held it would leave the child's copy held


if hasattr(os, "register_at_fork"):  # no fork on Windows
    os.register_at_fork(after_in_child=_new_lock_in_child)


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1



async def _gather(coros: list) -> list:
    return await asyncio.gather(*coros)


async def _get_many(array, selections: list) -> list:
    return await asyncio.gather(*(array.getitem(sel) for sel in selections))



def read_group(
    source: Source, plan: Plan, g: int, dest: tuple[np.ndarray, np.ndarray] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decode group ``g`` of ``plan``, shuffled, and cut it into *pieces*.

    The group's samples land in one buffer, already shuffled, cast and in the output layout:
    ``dest`` (data, ids) when given, else a recycled buffer. Pieces are its rows cut at the
    epoch's batch boundaries (see :func:`_group_cuts`), so a full batch is one piece, handed
    out without another copy.
    """
    blocks, counts = plan.groups[g], plan.counts[g]
    n = int(sum(counts))
    if dest is None:
        # every group's buffer has room for the largest group, so one recycles for any other
        data = source.recycler.take(n, source.out_shape, source.out_dtype or source.dtype, capacity=plan.group_rows)
        ids = np.empty(n, dtype=np.int64)
    else:
        data, ids = dest[0][:n], dest[1][:n]
    seed = plan.seed_of(g)
    where = None
    if seed is not None:
        # sample j of the decoded order goes to row where[j]: the group comes out as
        # data[i] = decoded[perm[i]], with no gather pass over a group-sized buffer
        perm = rng(*seed).permutation(n)
        where = np.empty(n, dtype=np.intp)
        where[perm] = np.arange(n)
    source.read_into(blocks, data, ids, where)
    cuts = group_cuts(plan, g)
    return [(data[a:b], ids[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]



class Recycler:
    """Output buffers reused once nothing references them any more.

    Fresh buffers of a few MB come from mmap, and the kernel faults every page in again each
    time: for float32 batches that costs a quarter of the decoding. A buffer handed out as a
    batch is referenced by the tensor (and any view of it); when the training loop drops them
    its reference count falls back to the pool's own, and it is reused.
    """

    CAP = 512  # buffers remembered per shape; more in use at once are simply not recycled

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: dict[tuple, list[np.ndarray]] = {}

    def take(self, rows: int, row_shape: tuple[int, ...], dtype: np.dtype, capacity: int = 0) -> np.ndarray:
        """An uninitialised ``(rows, *row_shape)`` array; its buffer holds ``max(rows, capacity)``
        rows, so the short pieces at group boundaries recycle full-batch buffers too."""

        cap = max(rows, capacity)
        key = (cap, tuple(row_shape), np.dtype(dtype).str)
        with self.lock:
            bufs = self.free.setdefault(key, [])
            found = None
            for buf in bufs:
                # referents of a free buffer: the list, the loop variable, getrefcount's argument
                if sys.getrefcount(buf) <= 3:
                    found = buf
                    break
            if found is None:
                found = np.empty((cap, *row_shape), dtype=dtype)
                if len(bufs) < self.CAP:
                    bufs.append(found)
            return found[:rows]  # the view keeps the buffer referenced while in use


_local = threading.local()


def _scratch(n: int, feature_shape: tuple[int, ...], dtype: np.dtype, slot: str) -> np.ndarray:
    """A per-thread buffer, reused from call to call (a chunk decodes into one).

    Allocated afresh each time, a buffer of a MB or more would come from mmap and have every
    page faulted in by the kernel again.
    """
    need = n * math.prod(feature_shape) * np.dtype(dtype).itemsize
    buf = getattr(_local, slot, None)
    if buf is None or buf.nbytes < need:
        buf = np.empty(need, dtype=np.uint8)
        setattr(_local, slot, buf)
    return buf[:need].view(dtype).reshape((n, *feature_shape))



def group_stream(source: Source, plan: Plan, ahead: int) -> Iterator[list]:
    """The groups of ``plan`` in order, decoded by threads, ``ahead`` of them at once."""
    which = range(len(plan.groups))
    ahead = max(1, ahead)
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="vaearr-read") as pool:
        pending: deque[Future] = deque()
        nxt = 0
        try:
            while nxt < len(which) or pending:
                while nxt < len(which) and len(pending) < ahead:
                    pending.append(pool.submit(read_group, source, plan, which[nxt]))
                    nxt += 1
                yield pending.popleft().result()
        finally:
            for f in pending:  # the consumer left early: drop what has not started
                f.cancel()
