"""Torch batches straight from a vaearr store: chunk-aligned shuffle, masks, splits, workers, transforms.

How an epoch is read (:class:`ZarrBatches`):

1. The sample grid (the ``sample_dims`` of ``var``) is cut into *blocks*: the store's chunks
   along the sample dims, each holding whole samples (a store keeps feature dims whole).
   Blocks with no sample inside ``mask`` are never read.
2. ``val_fraction`` sends whole blocks to validation (chosen by ``seed`` alone), so no sample
   is in both splits and a validation sample never shares a chunk with a training one.
3. Each epoch permutes the block order (seeded by ``seed`` and the epoch), takes
   ``buffer_chunks`` blocks at a time (a *group*), reads and decodes every block of the group
   once, keeps the samples inside the mask and permutes them inside the group. The epoch is
   the concatenation of the groups; batches are consecutive slices of it.
4. Groups are decoded in parallel, the chunks of each by as many threads as there are cores
   (zstd, crc32c and numpy copies release the GIL): in a local store with the codecs vaearr
   writes, straight from the mapped chunk files (zarr's own read path costs about as much
   again as the decoding); otherwise by zarr, a group's chunks in one call into its event
   loop. Each chunk is decoded into a small per-thread buffer that stays in cache, and its
   samples are copied, already cast and laid out, straight to their shuffled rows of the
   group's buffer: the shuffle costs no pass of its own. ``read_ahead`` groups are decoded
   at a time in this process (``num_workers=0``), or each of ``num_workers`` persistent worker
   processes has up to two queued, the next group going to the least busy one, and writes
   them into reused shared-memory slots (nothing copied between processes).
   Either way a group comes back shuffled, converted (``dtype``, and ``channels_first``
   layout ``(B, C, ...)``) and cut at the epoch's batch boundaries, so a batch is handed out
   without another copy.
5. A background thread puts the batches in group order and runs the transforms, ``prefetch``
   batches ahead of the training loop. As the batches of an epoch are fixed by the plan, they
   are the same, bit for bit, whatever ``num_workers``, ``read_ahead`` and ``prefetch`` are.

Transforms are small callables on a batch tensor ``(B, C, *spatial)``; the random ones
(:func:`random_flip`, :func:`random_affine`, :func:`random_patch_3d`) take a
:class:`torch.Generator` that the loader seeds from ``(seed, epoch, rank, batch)``, so
augmentations repeat exactly too.
"""

from __future__ import annotations

import dataclasses
import math
import mmap
import os
import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# torch is a core dependency and everything here hands out tensors, so it is imported once
# (xbatcher imports it lazily only because torch is optional there)
import torch
import torch.nn.functional as F

from vaearr.errors import InputError, StoreError

#: Accepted values of ``split``.
SPLITS = ("train", "val", "all")

# tags that keep the seeded random streams of different jobs apart
_TAG_SPLIT, _TAG_ORDER, _TAG_GROUP, _TAG_TRANSFORM = 1, 2, 3, 4


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _torch_seed(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> 1)


def _numpy_dtype(dtype: torch.dtype | None) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except (TypeError, RuntimeError):  # bfloat16 and friends: torch converts later
        return None


def _torch_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    out = getattr(torch, name, None)
    if not isinstance(out, torch.dtype):
        raise InputError(None, f"dtype {dtype!r} is not a torch dtype")
    return out


# ----------------------------------------------------------------------------------------------
# what to read


@dataclass(frozen=True)
class BatchSpec:
    """What :class:`ZarrBatches` reads and how; every field is also a keyword of it.

    Parameters
    ----------
    var
        Variable to read, e.g. ``"patterns"``.
    sample_dims
        Dims that index samples, e.g. ``("y", "x")``, ``("sample",)``, ``("subject",)``. Sample
        indices handed out (``return_index``) index the grid of these dims, flattened in this
        order (C order).
    feature_dims
        Dims of one sample, in the order the tensor gets them, e.g. ``("py", "px")``,
        ``("row", "col", "channel")``, ``("z", "y", "x")``.
    mask
        Name of a bool variable over the sample dims; only samples where it is True are read.
    batch_size
        Samples per batch.
    shuffle
        Shuffle (two levels: the chunk order, then samples inside a buffer of chunks).
    seed
        Seeds the split, the shuffle and random transforms.
    buffer_chunks
        Chunks read and shuffled together; more mixes better and holds more memory.
    drop_last
        Drop the last batch of an epoch when it is short.
    val_fraction
        Fraction of the (masked) samples sent to validation, as whole chunks.
    split
        ``"train"``, ``"val"`` or ``"all"``.
    transforms
        Callables applied in order to each batch tensor (see the module docstring).
    num_workers
        Worker processes that decode chunks; 0 decodes in threads of this process. About
        two groups (``buffer_chunks`` chunks each, in ``dtype``) per worker live in shared
        memory. Transforms always run in this process, so they need not pickle.
    prefetch
        Batches prepared ahead by a background thread, handed over in runs of this many (up to
        two runs wait); 0 prepares each on demand, in the iterating thread.
    channels_first
        Yield ``(B, C, *spatial)``: ``C = 1`` is added when there is no channel dim, the channel
        dim is moved to the front when there is one. False yields ``(B, *feature_dims)``.
    channel_dim
        The feature dim holding channels; ``"auto"`` takes a feature dim whose coordinate
        holds names (like ``"R", "G", "B"``), None says there is none.
    dtype
        Torch dtype of the batches (name or dtype); None keeps the stored dtype.
    return_index
        Yield ``(x, idx)``: ``idx`` (int64) are the flat sample indices, for writing back.
    rank, world_size
        Shard for distributed training: each rank reads its own chunks and yields as many
        batches as every other rank.
    read_ahead
        With ``num_workers=0``: groups (of ``buffer_chunks`` chunks) decoded at once, the chunks
        of each concurrently by one thread per core; about ``read_ahead + 2`` groups are in
        memory (those being decoded, and those the waiting batches are views of).
        (A worker process decodes one group at a time, with two queued.)
    pin_memory
        Pin batches (page-locked) for faster copies to a GPU.
    mp_context
        Start method of the worker processes (``"fork"``, ``"forkserver"``, ``"spawn"``);
        default torch's (fork on Linux). Workers start once per loader (they persist across
        epochs), from the iterating thread, before the loader starts threads of its own.
        ``"forkserver"`` never forks a threaded process but, like ``"spawn"``, needs scripts
        to keep their work under ``if __name__ == "__main__":``.
    """

    var: str
    sample_dims: tuple[str, ...]
    feature_dims: tuple[str, ...]
    mask: str | None = None
    batch_size: int = 64
    shuffle: bool = True
    seed: int = 0
    buffer_chunks: int = 16
    drop_last: bool = False
    val_fraction: float = 0.0
    split: str = "all"
    transforms: tuple[Callable, ...] = ()
    num_workers: int = 0
    prefetch: int = 8
    channels_first: bool = True
    channel_dim: str | None = "auto"
    dtype: Any = "float32"
    return_index: bool = False
    rank: int = 0
    world_size: int = 1
    read_ahead: int = 2
    pin_memory: bool = False
    mp_context: str | None = None

    def __post_init__(self) -> None:
        for name in ("sample_dims", "feature_dims"):
            v = getattr(self, name)
            object.__setattr__(self, name, (v,) if isinstance(v, str) else tuple(map(str, v)))
        t = self.transforms
        object.__setattr__(self, "transforms", () if t is None else (t,) if callable(t) else tuple(t))


# ----------------------------------------------------------------------------------------------
# reading blocks (picklable: worker processes get a copy and open the array themselves)


def _open_array(store: str, var: str, storage_options: dict | None):
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="zarr")
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        if "://" in store and not store.startswith("file://"):
            group = zarr.open_group(store, mode="r", storage_options=storage_options or {})
        else:
            group = zarr.open_group(store[len("file://"):] if store.startswith("file://") else store, mode="r")
        return group[var]


@dataclass
class _Source:
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
    _array: Any = field(default=None, repr=False)
    _recycler: Any = field(default=None, repr=False)
    _files: Any = field(default=None, repr=False)  # _ChunkFiles, False (zarr reads), None (not looked at)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_array"] = state["_recycler"] = state["_files"] = None  # each process has its own
        return state

    @property
    def files(self) -> _ChunkFiles | None:
        """Direct access to the chunk files, when the array allows it (see :class:`_ChunkFiles`)."""
        if self._files is None:
            files = _ChunkFiles.of(self.array)
            if files is not None:
                shape = files.chunk_shape
                whole = all(shape[ax] == n for ax, n in zip(self.feature_axes, self.feature_shape))
                blocks = all(shape[ax] == c for ax, c in zip(self.sample_axes, self.block_shape))
                files = files if whole and blocks else None
            self._files = files or False
        return self._files or None

    @property
    def recycler(self) -> _Recycler:
        if self._recycler is None:
            self._recycler = _Recycler()
        return self._recycler

    @property
    def array(self):
        if self._array is None:
            self._array = _open_array(self.store, self.var, self.storage_options)
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
        if not self.channels_first:
            return a
        if self.channel_axis is None:
            return a[:, None]
        return np.moveaxis(a, 1 + self.channel_axis, 1)

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
        shape = tuple(s.stop - s.start for s in sl)
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
            # concurrently, and zarr's per-call overhead (milliseconds) is paid once
            arrays = _zarr_run(_get_many(self.array.async_array, [self.selection(b) for b in blocks]))
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
        from zarr.core.buffer import cpu

        coros, post = [], []
        for b, _, rows, local, _ in jobs:
            sel = self.selection(b)
            if self._direct(out, rows, local):
                shape = tuple(s.stop - s.start for s in self.block_slices(b)) + self.feature_shape
                buf = cpu.NDBuffer.from_numpy_array(out[rows].reshape(shape))
                coros.append(self.array.async_array.get_orthogonal_selection(sel, out=buf))
            else:
                coros.append(self.array.async_array.getitem(sel))
                post.append((len(coros) - 1, b, rows, local))
        arrays = _zarr_run(_gather(coros))
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
        futures = [_decode_pool(self.decode_threads).submit(share, jobs[i::k]) for i in range(k)]
        for f in futures:
            f.result()


def _decode_pool(n: int) -> ThreadPoolExecutor:
    """This process's pool of ``n`` chunk-decoding threads (made once; chunks decode without the GIL)."""
    pool = _pools.get(n)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(n)
            if pool is None:
                pool = _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="vaearr-decode")
    return pool


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _forget_pools() -> None:
    global _pools_lock
    _pools.clear()  # a forked child has the pools but not their threads
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class _ChunkFiles:
    """Whole chunks of a local zarr v3 array, decoded straight from their files.

    zarr's read path costs about as much again as the decoding itself: per call it builds
    indexers and runs a coroutine, and per chunk it decompresses into a fresh buffer (pages
    the kernel faults in every time) and copies out of it. For the codecs vaearr writes (the
    bytes codec, then zstd and crc32c) in a local store, a chunk's file is read, its checksum
    checked, and zstd decompresses it straight into its place in the caller's buffer.
    :meth:`of` says None for anything else (other codecs, sharding, remote stores), which
    zarr reads.
    """

    def __init__(self, root: str, key: Callable[[tuple[int, ...]], str], chunk_shape: tuple[int, ...],
                 dtype: np.dtype, fill_value: Any, codecs: list[str]):
        self.root, self.key, self.chunk_shape, self.dtype = root, key, chunk_shape, dtype
        self.fill_value = fill_value
        self.codecs = codecs  # bytes-to-bytes codecs in decoding order: "crc32c", "zstd"
        self.nbytes = math.prod(chunk_shape) * dtype.itemsize
        self._zstd = None

    @classmethod
    def of(cls, array: Any) -> _ChunkFiles | None:
        """For ``array`` (a ``zarr.Array``) when its chunks can be read this way, else None."""
        import sys

        try:
            from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec
            from zarr.core.chunk_grids import RegularChunkGrid
            from zarr.storage import LocalStore

            aa = array.async_array
            meta, store = aa.metadata, aa.store_path.store
            if meta.zarr_format != 3 or not isinstance(store, LocalStore):
                return None
            if not isinstance(meta.chunk_grid, RegularChunkGrid):
                return None
            dtype = np.dtype(array.dtype)
            if dtype.hasobject or dtype.kind not in "biufc":
                return None
            first, *rest = meta.codecs
            endian = getattr(getattr(first, "endian", None), "value", getattr(first, "endian", None))
            if not isinstance(first, BytesCodec) or (dtype.itemsize > 1 and endian not in (None, sys.byteorder)):
                return None
            names = []
            for c in reversed(rest):
                if isinstance(c, Crc32cCodec):
                    names.append("crc32c")
                elif isinstance(c, ZstdCodec):
                    names.append("zstd")
                else:
                    return None
            fill = np.asarray(meta.fill_value, dtype=dtype)
            root = os.path.join(str(store.root), aa.store_path.path)
            return cls(root, meta.encode_chunk_key, tuple(int(c) for c in meta.chunk_grid.chunk_shape), dtype, fill,
                       names)
        except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover - another zarr
            return None

    def decode(self, coords: tuple[int, ...], out: np.ndarray) -> None:
        """Decode chunk ``coords`` into ``out`` (C-contiguous, the chunk's ``nbytes``)."""
        path = os.path.join(self.root, self.key(coords))
        try:
            with open(path, "rb") as f:
                try:
                    # mapped, not read: read() copies the file out of the page cache, which
                    # costs a fifth of the decoding
                    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                except (ValueError, OSError):  # empty, or a file system that cannot map
                    m = None
                    data = memoryview(f.read())
        except FileNotFoundError:  # zarr writes no chunk that holds only the fill value
            out.reshape(-1).view(self.dtype)[...] = self.fill_value
            return
        if m is None:
            self._decode(data, out, path)
            return
        try:
            self._decode(memoryview(m), out, path)
        finally:
            try:
                m.close()
            except BufferError:  # a view is still held (by an exception's frames): unmapped when it goes
                pass

    def _decode(self, data: memoryview, out: np.ndarray, path: str) -> None:
        if not out.flags.c_contiguous:  # pragma: no cover - callers pass rows of a contiguous buffer
            raise ValueError("a chunk decodes into a C-contiguous buffer")
        dest = out.reshape(-1).view(np.uint8)
        for i, codec in enumerate(self.codecs):
            if codec == "crc32c":
                import crc32c

                if len(data) < 4 or crc32c.crc32c(data[:-4]) != int.from_bytes(data[-4:], "little"):
                    raise StoreError(path, "chunk fails its crc32c checksum: the store is corrupt")
                data = data[:-4]
            else:
                if self._zstd is None:
                    from numcodecs import Zstd

                    self._zstd = Zstd()
                if i == len(self.codecs) - 1 and _zstd_content_size(data) == self.nbytes:
                    self._zstd.decode(data, out=dest)  # straight into place (GIL released)
                    return
                data = memoryview(self._zstd.decode(data)).cast("B")
        if len(data) != self.nbytes:
            raise StoreError(path, f"chunk holds {len(data)} bytes, not the {self.nbytes} of its shape")
        dest[...] = np.frombuffer(data, dtype=np.uint8)


def _zstd_content_size(frame: memoryview) -> int | None:
    """Decompressed size a zstd frame's header declares (None: not declared, or no frame)."""
    b = bytes(frame[:18])
    if len(b) < 6 or b[:4] != b"\x28\xb5\x2f\xfd":
        return None
    fhd = b[4]
    single, did, fcs = (fhd >> 5) & 1, fhd & 3, fhd >> 6
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[did]
    width = (1 if single else 0, 2, 4, 8)[fcs]
    if width == 0 or len(b) < pos + width:
        return None
    size = int.from_bytes(b[pos:pos + width], "little")
    return size + 256 if width == 2 else size


async def _gather(coros: list) -> list:
    import asyncio

    return await asyncio.gather(*coros)


async def _get_many(array, selections: list) -> list:
    import asyncio

    return await asyncio.gather(*(array.getitem(sel) for sel in selections))


def _zarr_run(coro):
    """Run a coroutine on zarr's own event loop (where its stores live), from any thread."""
    try:
        from zarr.core.sync import sync
    except ImportError:  # pragma: no cover - a zarr without it
        import asyncio

        return asyncio.run(coro)
    return sync(coro)


def _group_cuts(plan: _Plan, g: int) -> list[int]:
    """Where group ``g`` is cut into pieces: at the epoch's batch boundaries, up to its limit."""
    n = sum(plan.counts[g])
    start, bs = plan.starts[g], plan.batch_size
    end = min(start + n, plan.limit) - start  # samples past the epoch's last batch are not built
    return [0, *range(bs - start % bs, end, bs), end] if end > 0 else [0]


def _read_group(
    source: _Source, plan: _Plan, g: int, dest: tuple[np.ndarray, np.ndarray] | None = None
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
        perm = _rng(*seed).permutation(n)
        where = np.empty(n, dtype=np.intp)
        where[perm] = np.arange(n)
    source.read_into(blocks, data, ids, where)
    cuts = _group_cuts(plan, g)
    return [(data[a:b], ids[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


class _Recycler:
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
        import sys

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


def _group_stream(source: _Source, plan: _Plan, ahead: int) -> Iterator[list]:
    """The groups of ``plan`` in order, decoded by threads, ``ahead`` of them at once."""
    which = range(len(plan.groups))
    ahead = max(1, ahead)
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="vaearr-read") as pool:
        pending: deque[Future] = deque()
        nxt = 0
        try:
            while nxt < len(which) or pending:
                while nxt < len(which) and len(pending) < ahead:
                    pending.append(pool.submit(_read_group, source, plan, which[nxt]))
                    nxt += 1
                yield pending.popleft().result()
        finally:
            for f in pending:  # the consumer left early: drop what has not started
                f.cancel()


def _worker_main(w: int, source: _Source, cfg: _PlanConfig, counts: np.ndarray, blocks: np.ndarray, tasks, results) -> None:
    """A worker process: decode the groups it is sent into the shared-memory slot named."""
    import traceback

    torch.set_num_threads(1)
    slots: dict[int, tuple] = {}
    plan = None
    while True:
        msg = tasks.get()
        if msg is None:
            return
        run, epoch, g, k, new_slot = msg
        try:
            if new_slot is not None:  # a slot this worker has not seen: map it once, keep it
                slots[k] = (*new_slot, new_slot[0].numpy(), new_slot[1].numpy())
            if plan is None or plan.epoch != epoch:
                plan = _make_plan(cfg, counts, blocks, epoch)
            _read_group(source, plan, g, dest=slots[k][2:])
            results.put((run, w, g, k, None))
        except BaseException as exc:  # noqa: BLE001 - reported to the main process, raised there
            try:
                import pickle

                pickle.loads(pickle.dumps(exc))  # some exceptions pickle but do not unpickle
                err: Any = exc
            except Exception:  # noqa: BLE001 - an exception that cannot travel: send its text
                err = RuntimeError("".join(traceback.format_exception(exc)))
            results.put((run, w, g, k, err))


class _Workers:
    """``n`` worker processes that decode groups into reused shared-memory *slots*.

    Groups go, in order, to the least busy worker, at most two per worker at a time. A slot
    holds one group, already shuffled, cast and laid out; the batches cut from it are views of
    it, and it is reused once none of them is referenced any more (its numpy array's reference
    count says so). Nothing is copied between processes and, slots being reused, no page is
    faulted in twice: a DataLoader would move every batch through fresh shared memory.
    """

    IN_FLIGHT = 2  # groups queued per worker

    def __init__(self, source: _Source, cfg: _PlanConfig, counts: np.ndarray, blocks: np.ndarray, n: int,
                 method: str | None):
        import weakref

        ctx = torch.multiprocessing.get_context(method)
        self.n = n
        self.source = source
        self.slot_rows = _group_rows(cfg, counts, blocks)
        self.tasks = [ctx.SimpleQueue() for _ in range(n)]
        self.results = ctx.Queue()
        wsource = dataclasses.replace(source, _array=None, _recycler=None)
        self.procs = [ctx.Process(target=_worker_main, args=(w, wsource, cfg, counts, blocks, self.tasks[w], self.results),
                                  daemon=True, name=f"vaearr-worker-{w}") for w in range(n)]
        for p in self.procs:
            p.start()
        self.slots: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.views: list[np.ndarray] = []  # numpy views of the slots' data: their refcounts tell
        self.id_views: list[np.ndarray] = []
        self.seen = [set() for _ in range(n)]
        self.busy: set[int] = set()
        self.in_flight = [0] * n
        self.run = 0
        self._finalizer = weakref.finalize(self, _Workers._stop, self.procs, self.tasks)

    @staticmethod
    def _stop(procs, tasks) -> None:
        for q in tasks:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()

    def close(self) -> None:
        self._finalizer()

    def _free_slot(self) -> int:
        import sys

        for k in range(len(self.slots)):
            # referents of an unused view: the list and getrefcount's argument
            if k not in self.busy and sys.getrefcount(self.views[k]) <= 2 and sys.getrefcount(self.id_views[k]) <= 2:
                return k
        dtype = self.source.out_dtype or self.source.dtype
        data = torch.from_numpy(np.empty((self.slot_rows, *self.source.out_shape), dtype=dtype)).share_memory_()
        ids = torch.empty(self.slot_rows, dtype=torch.int64).share_memory_()
        self.slots.append((data, ids))
        self.views.append(data.numpy())
        self.id_views.append(ids.numpy())
        return len(self.slots) - 1

    def epoch(self, plan: _Plan) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """The pieces of each group of ``plan``, in group order."""
        self.run += 1
        run, n_groups = self.run, len(plan.groups)
        ready: dict[int, int] = {}
        try:
            yield from self._epoch(plan, run, n_groups, ready)
        finally:
            for k in ready.values():  # decoded for an epoch the consumer left early
                self.busy.discard(k)

    def _epoch(self, plan: _Plan, run: int, n_groups: int, ready: dict[int, int]) -> Iterator[list]:
        sent = done = 0
        while done < n_groups:
            while sent < n_groups and min(self.in_flight) < self.IN_FLIGHT:
                # the next group to the least busy worker: one descheduled worker holds up
                # nobody else (which worker decodes a group does not change the group)
                w = self.in_flight.index(min(self.in_flight))
                k = self._free_slot()
                new = None if k in self.seen[w] else self.slots[k]
                self.seen[w].add(k)
                self.busy.add(k)
                self.in_flight[w] += 1
                self.tasks[w].put((run, plan.epoch, sent, k, new))
                sent += 1
            r, w, g, k, err = self._get()
            self.in_flight[w] -= 1
            if r != run:  # left over from an epoch the consumer abandoned
                self.busy.discard(k)
                continue
            if err is not None:
                self.busy.discard(k)
                raise err
            ready[g] = k
            while done in ready:
                k = ready.pop(done)
                cuts = _group_cuts(plan, done)
                data, ids = self.views[k], self.id_views[k]
                pieces = [(torch.from_numpy(data[a:b]), torch.from_numpy(ids[a:b])) for a, b in zip(cuts[:-1], cuts[1:])]
                self.busy.discard(k)  # from now on the pieces' references keep it
                done += 1
                yield pieces

    def _get(self) -> tuple:
        while True:
            try:
                return self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.name for p in self.procs if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"worker process {', '.join(dead)} exited unexpectedly") from None


# ----------------------------------------------------------------------------------------------
# the epoch plan


@dataclass
class _Plan:
    """One rank's epoch: groups of block ids, their sample counts, where they start, the batches."""

    epoch: int
    groups: list[list[int]]
    counts: list[list[int]]
    starts: list[int]  # first epoch position of each group
    limit: int  # epoch positions from here on are not yielded (drop_last, equal ranks)
    n_batches: int
    batch_size: int
    shuffle: bool
    seed: int
    rank: int
    group_rows: int  # samples the largest group of any epoch can hold (its buffers' capacity)

    def seed_of(self, g: int) -> tuple[int, ...] | None:
        return (self.seed, _TAG_GROUP, self.epoch, self.rank, g) if self.shuffle else None


@dataclass(frozen=True)
class _PlanConfig:
    """The settings an epoch plan depends on (picklable, unlike user transforms)."""

    batch_size: int
    shuffle: bool
    seed: int
    buffer_chunks: int
    drop_last: bool
    rank: int
    world_size: int


def _group_rows(cfg: _PlanConfig, counts_all: np.ndarray, blocks: np.ndarray) -> int:
    """The most samples a group of ``cfg.buffer_chunks`` of ``blocks`` can hold, in any epoch."""
    k = min(cfg.buffer_chunks, len(blocks))
    return int(np.sort(counts_all[blocks])[len(blocks) - k:].sum()) if len(blocks) else 0


def _make_plan(cfg: _PlanConfig, counts_all: np.ndarray, blocks: np.ndarray, epoch: int) -> _Plan:
    """This rank's plan of one epoch over ``blocks`` (with ``counts_all`` samples per block id)."""
    group_rows = _group_rows(cfg, counts_all, blocks)
    if cfg.shuffle:
        blocks = _rng(cfg.seed, _TAG_ORDER, epoch).permutation(blocks)
    counts = counts_all[blocks]
    bs = cfg.batch_size
    if cfg.world_size > 1:
        # greedy: each chunk to the rank holding the fewest samples so far, so ranks differ by
        # at most one chunk and each reads only its own chunks
        loads = np.zeros(cfg.world_size, dtype=np.int64)
        owner = np.empty(len(blocks), dtype=np.int64)
        for i, c in enumerate(counts):
            r = int(np.argmin(loads))
            owner[i] = r
            loads[r] += c
        mine = owner == cfg.rank
        blocks, counts = blocks[mine], counts[mine]
        # every rank must take the same number of steps: the fewest any rank can fill
        n_batches = min((int(n) // bs if cfg.drop_last else -(-int(n) // bs)) for n in loads)
    else:
        n = int(counts.sum())
        n_batches = n // bs if cfg.drop_last else -(-n // bs)
    k = cfg.buffer_chunks
    groups = [[int(b) for b in blocks[i:i + k]] for i in range(0, len(blocks), k)]
    gcounts = [[int(c) for c in counts[i:i + k]] for i in range(0, len(blocks), k)]
    starts = np.concatenate([[0], np.cumsum([sum(c) for c in gcounts])]).astype(int).tolist()
    return _Plan(epoch=epoch, groups=groups, counts=gcounts, starts=starts[:-1],
                 limit=min(int(counts.sum()), n_batches * bs), n_batches=n_batches, batch_size=bs,
                 shuffle=cfg.shuffle, seed=cfg.seed, rank=cfg.rank, group_rows=group_rows)


class _Batcher:
    """Cuts consecutive batches out of a stream of group buffers, across group boundaries."""

    def __init__(self, recycler: _Recycler, capacity: int) -> None:
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


_END = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


# ----------------------------------------------------------------------------------------------
# the loader


class ZarrBatches:
    """An iterable over torch batches of one variable of a store, read chunk by chunk.

    Takes a :class:`BatchSpec`, keywords, or both (keywords override the spec's fields); see
    :class:`BatchSpec` for every option and the module docstring for how an epoch is read.

    Each ``iter()`` runs one epoch with :attr:`epoch` and then advances it by one;
    :meth:`set_epoch` chooses the epoch the next ``iter()`` runs. The same ``seed`` and
    epoch give the same batches, whatever ``num_workers`` and ``prefetch`` are.

    Parameters
    ----------
    store
        Local path or fsspec URL of the store.
    spec
        A :class:`BatchSpec`; keywords build one when it is None.
    storage_options
        Passed to fsspec for URLs.
    **kwargs
        Fields of :class:`BatchSpec`.

    Raises
    ------
    StoreError
        The store, the variable or the mask is missing.
    InputError
        Dims, mask or options do not fit the variable.

    Examples
    --------
    >>> import numpy as np, xarray as xr, tempfile, os
    >>> from vaearr.store import write_variable
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> imgs = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    >>> write_variable(path, "images", xr.DataArray(imgs, dims=("sample", "row", "col")), chunks={"images": (3, 4, 4)})
    >>> loader = ZarrBatches(path, var="images", sample_dims=("sample",), feature_dims=("row", "col"), batch_size=4)
    >>> [tuple(x.shape) for x in loader]
    [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    >>> len(loader), loader.n_samples, loader.sample_shape
    (3, 10, (1, 4, 4))
    """

    def __init__(self, store: str | os.PathLike, spec: BatchSpec | None = None, *, storage_options: dict | None = None, **kwargs: Any):
        spec = BatchSpec(**kwargs) if spec is None else dataclasses.replace(spec, **kwargs)
        self.spec = spec
        self.store = os.fspath(store)
        self.storage_options = storage_options
        self.epoch = 0
        self._check_options()
        self.source = self._describe()
        self._dtype = _torch_dtype(spec.dtype)
        self.source.out_dtype = _numpy_dtype(self._dtype)
        self.transforms = [t.prepare(self.source.dtype) if isinstance(t, Transform) else t for t in spec.transforms]
        counts = self.source.counts()
        self._counts = counts
        self._blocks = _split_blocks(counts, spec.val_fraction, spec.split, spec.seed, self.store)
        self._plan_cache: _Plan | None = None
        self._plan_config = _PlanConfig(spec.batch_size, spec.shuffle, spec.seed, spec.buffer_chunks, spec.drop_last,
                                        spec.rank, spec.world_size)
        self._workers: _Workers | None = None  # made on the first epoch that needs them
        self._sample_shape: tuple[int, ...] | None = None
        if self.n_samples == 0:
            where = f" inside mask '{spec.mask}'" if spec.mask else ""
            raise InputError(self.store, f"no samples of '{spec.var}'{where} in split '{spec.split}'")

    # -- set-up ------------------------------------------------------------------------------

    def _check_options(self) -> None:
        s = self.spec
        problems = []
        if s.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {s.batch_size}")
        if s.buffer_chunks < 1:
            problems.append(f"buffer_chunks must be >= 1, got {s.buffer_chunks}")
        if not 0 <= s.val_fraction < 1:
            problems.append(f"val_fraction must be in [0, 1), got {s.val_fraction}")
        if s.split not in SPLITS:
            problems.append(f"split must be one of {', '.join(SPLITS)}, got {s.split!r}")
        if s.split == "val" and s.val_fraction == 0:
            problems.append("split='val' needs val_fraction > 0")
        if s.world_size < 1 or not 0 <= s.rank < s.world_size:
            problems.append(f"rank {s.rank} is not in 0..world_size-1 (world_size {s.world_size})")
        if s.num_workers < 0 or s.prefetch < 0:
            problems.append("num_workers and prefetch must be >= 0")
        if problems:
            raise InputError(self.store, "; ".join(problems))

    def _describe(self) -> _Source:
        from vaearr.store import open_store

        s = self.spec
        ds = open_store(self.store, storage_options=self.storage_options)
        if s.var not in ds.data_vars:
            raise StoreError(self.store, f"no variable '{s.var}' (it has: {', '.join(map(str, ds.data_vars))})")
        da = ds[s.var]
        dims = tuple(map(str, da.dims))
        both = set(s.sample_dims) & set(s.feature_dims)
        if both:
            raise InputError(self.store, f"dims {sorted(both)} are both sample and feature dims")
        if sorted(s.sample_dims + s.feature_dims) != sorted(dims):
            raise InputError(
                self.store,
                f"'{s.var}' has dims {dims}; sample_dims {s.sample_dims} + feature_dims {s.feature_dims} must name each once",
            )
        if not s.sample_dims:
            raise InputError(self.store, "sample_dims is empty")
        mask = None
        if s.mask is not None:
            if s.mask not in ds.data_vars:
                raise StoreError(self.store, f"no mask variable '{s.mask}'")
            m = ds[s.mask]
            if m.dtype != bool:
                raise InputError(self.store, f"mask '{s.mask}' must be boolean, got {m.dtype}")
            if sorted(map(str, m.dims)) != sorted(s.sample_dims):
                raise InputError(self.store, f"mask '{s.mask}' has dims {tuple(m.dims)}, not the sample dims {s.sample_dims}")
            mask = np.ascontiguousarray(m.transpose(*s.sample_dims).values)
        array = _open_array(self.store, s.var, self.storage_options)
        chunks = tuple(int(c) for c in array.chunks)
        source = _Source(
            store=self.store,
            storage_options=self.storage_options,
            var=s.var,
            grid_shape=tuple(int(da.sizes[d]) for d in s.sample_dims),
            block_shape=tuple(chunks[dims.index(d)] for d in s.sample_dims),
            sample_axes=tuple(dims.index(d) for d in s.sample_dims),
            feature_axes=tuple(dims.index(d) for d in s.feature_dims),
            feature_shape=tuple(int(da.sizes[d]) for d in s.feature_dims),
            dtype=np.dtype(array.dtype),
            mask=mask,
            _array=array,
        )
        channel_axis = None
        if s.channel_dim == "auto":
            named = [i for i, d in enumerate(s.feature_dims)
                     if d in da.coords and da.coords[d].dtype.kind in "UOS" and len(s.feature_dims) > 1]
            channel_axis = named[-1] if named else None
        elif s.channel_dim is not None:
            if s.channel_dim not in s.feature_dims:
                raise InputError(self.store, f"channel_dim '{s.channel_dim}' is not one of the feature dims {s.feature_dims}")
            channel_axis = s.feature_dims.index(s.channel_dim)
        source.channels_first, source.channel_axis = s.channels_first, channel_axis
        # every core decodes: the reading threads of this process, or each worker its share
        source.decode_threads = _cpus() if s.num_workers == 0 else max(1, _cpus() // s.num_workers)
        return source

    # -- what an epoch holds -------------------------------------------------------------------

    @property
    def n_samples(self) -> int:
        """Samples in this split (inside the mask), over all ranks."""
        return int(self._counts[self._blocks].sum())

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Sizes of the sample dims: flat sample indices index this grid (C order)."""
        return self.source.grid_shape

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Stored shape of one sample, in ``feature_dims`` order."""
        return self.source.feature_shape

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample in a yielded batch (after layout and transforms), e.g. ``(1, 60, 60)``."""
        if self._sample_shape is None:
            x = torch.from_numpy(np.zeros((1, *self.source.out_shape), self.source.out_dtype or self.source.dtype))
            self._sample_shape = tuple(self._finish(x, (0,)).shape[1:])
        return self._sample_shape

    def positions(self, idx: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Positional indices along each sample dim of flat sample indices (from ``return_index``)."""
        idx = idx.numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
        return dict(zip(self.spec.sample_dims, np.unravel_index(idx, self.grid_shape)))

    def set_epoch(self, epoch: int) -> None:
        """Run epoch ``epoch`` on the next ``iter()``: its own, reproducible shuffle."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches the next epoch yields on this rank."""
        return self._plan(self.epoch).n_batches

    def _plan(self, epoch: int) -> _Plan:
        if self._plan_cache is None or self._plan_cache.epoch != epoch:
            self._plan_cache = _make_plan(self._plan_config, self._counts, self._blocks, epoch)
        return self._plan_cache

    # -- producing batches ---------------------------------------------------------------------

    def _groups(self, plan: _Plan) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """The pieces of each group, in group order, whoever decodes them.

        Starting (or restarting) the worker processes happens here, eagerly, in the caller's
        thread, before this loader starts any thread of its own: a fork then copies no
        thread of ours that could hold a lock.
        """
        if self.spec.num_workers == 0:
            return ([(torch.from_numpy(x), torch.from_numpy(i)) for x, i in pieces]
                    for pieces in _group_stream(self.source, plan, self.spec.read_ahead))
        if self._workers is None:
            # started once per loader, here in the caller's thread (see above)
            self._workers = _Workers(self.source, self._plan_config, self._counts, self._blocks,
                                     self.spec.num_workers, self.spec.mp_context)
        return self._workers.epoch(plan)

    def close(self) -> None:
        """Stop the worker processes (they otherwise live as long as this object)."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def __enter__(self) -> ZarrBatches:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _finish(self, x: torch.Tensor, key: tuple[int, ...]) -> torch.Tensor:
        """Convert (where numpy could not) and transform one batch; ``key`` seeds random transforms."""
        if self._dtype is not None and x.dtype != self._dtype:
            np_dtype = self.source.out_dtype
            # numpy's cast is single-threaded and GIL-free; torch's would wake its thread team,
            # which the training step needs
            if np_dtype is None:
                x = x.to(self._dtype)
            else:
                out = self.source.recycler.take(len(x), tuple(x.shape[1:]), np_dtype, capacity=self.spec.batch_size)
                np.copyto(out, x.numpy(), casting="unsafe")
                x = torch.from_numpy(out)
        for j, t in enumerate(self.transforms):
            if getattr(t, "random", False):
                # a generator per (batch, transform): draws never depend on what ran before
                x = t(x, generator=torch.Generator().manual_seed(_torch_seed(*key, j)))
            else:
                x = t(x)
        return x

    def _batches(self, plan: _Plan, groups: Iterator[list], stop: threading.Event | None = None) -> Iterator[Any]:
        s = self.spec
        batcher = _Batcher(self.source.recycler, s.batch_size)
        pin = s.pin_memory and torch.cuda.is_available()
        done = 0

        def emit(n: int) -> Any:
            x, ids = batcher.pop(n)
            x = self._finish(x, (s.seed, _TAG_TRANSFORM, plan.epoch, s.rank, done))
            if pin:
                x = x.pin_memory()
            return (x, ids.clone()) if s.return_index else x

        for pieces in groups:
            for x, ids in pieces:
                batcher.push(x, ids)
            while batcher.available >= s.batch_size and done < plan.n_batches:
                yield emit(s.batch_size)
                done += 1
            if done >= plan.n_batches or (stop is not None and stop.is_set()):
                return
        if batcher.available and done < plan.n_batches and not s.drop_last:
            yield emit(batcher.available)

    def __iter__(self) -> Iterator[Any]:
        plan = self._plan(self.epoch)
        self.epoch += 1
        groups = self._groups(plan)
        if self.spec.prefetch == 0:
            yield from self._batches(plan, groups)
            return
        # batches travel in runs of up to `prefetch`: one thread hand-off per run, not per
        # batch (on a busy machine each wake-up of a thread can cost milliseconds)
        q: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                run: list = []
                for item in self._batches(plan, groups, stop):
                    run.append(item)
                    if len(run) >= self.spec.prefetch:
                        if not put(run):
                            return
                        run = []
                if run and not put(run):
                    return
                put(_END)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                put(_Failure(exc))

        thread = threading.Thread(target=produce, name="vaearr-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield from item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass

    def __repr__(self) -> str:
        s = self.spec
        return (f"ZarrBatches({self.store!r}, var={s.var!r}, split={s.split!r}, n_samples={self.n_samples}, "
                f"batch_size={s.batch_size}, batches={len(self)}, sample_shape={self.sample_shape})")


def _split_blocks(counts: np.ndarray, val_fraction: float, split: str, seed: int, store: str) -> np.ndarray:
    """Block ids of ``split``: whole blocks, in a seeded order, until val holds ``val_fraction``."""
    nonempty = np.flatnonzero(counts > 0)
    if split == "all" or val_fraction == 0:
        return nonempty if split != "val" else nonempty[:0]
    if len(nonempty) < 2:
        raise InputError(store, "only one chunk holds samples: cannot split train/val by chunk")
    order = _rng(seed, _TAG_SPLIT).permutation(nonempty)
    target = val_fraction * counts[nonempty].sum()
    cum = np.cumsum(counts[order])
    n_val = int(np.searchsorted(cum, target)) + 1  # the first chunk that reaches the target
    n_val = min(max(n_val, 1), len(order) - 1)  # both splits keep at least one chunk
    val = np.sort(order[:n_val])
    return val if split == "val" else np.sort(order[n_val:])


def make_loaders(
    store: str | os.PathLike,
    var: str,
    sample_dims: Sequence[str],
    feature_dims: Sequence[str],
    mask: str | None = None,
    batch_size: int = 64,
    val_fraction: float = 0.1,
    seed: int = 0,
    transforms: Sequence[Callable] = (),
    num_workers: int = 0,
    *,
    val_transforms: Sequence[Callable] | None = None,
    **kwargs: Any,
) -> tuple[ZarrBatches, ZarrBatches | None]:
    """Training and validation loaders over disjoint chunks of one variable.

    The validation loader reads in order, keeps a short last batch and runs the transforms'
    evaluation forms: augmentations are dropped and :func:`random_patch_3d` becomes a centre
    crop of the same size (override with ``val_transforms``).

    Parameters
    ----------
    store, var, sample_dims, feature_dims, mask, batch_size, val_fraction, seed, transforms, num_workers
        As in :class:`BatchSpec`.
    val_transforms
        Transforms of the validation loader; default: the evaluation forms of ``transforms``.
    **kwargs
        Further :class:`BatchSpec` fields for both loaders (``rank``, ``world_size``...).

    Returns
    -------
    train, val
        ``val`` is None when ``val_fraction`` is 0.
    """
    common = dict(var=var, sample_dims=tuple(sample_dims), feature_dims=tuple(feature_dims), mask=mask,
                  batch_size=batch_size, val_fraction=val_fraction, seed=seed, num_workers=num_workers, **kwargs)
    if val_fraction == 0:
        return ZarrBatches(store, split="all", transforms=tuple(transforms), **common), None
    train = ZarrBatches(store, split="train", transforms=tuple(transforms), **common)
    if val_transforms is None:
        val_transforms = [e for t in transforms if (e := (t.for_eval() if isinstance(t, Transform) else t)) is not None]
    common.update(shuffle=False, drop_last=False)
    val = ZarrBatches(store, split="val", transforms=tuple(val_transforms), **common)
    return train, val


def static_background(
    store: str | os.PathLike,
    var: str,
    sample_dims: Sequence[str],
    mask: str | None = None,
    *,
    feature_dims: Sequence[str] | None = None,
    storage_options: dict | None = None,
    chunks_at_once: int = 16,
) -> np.ndarray:
    """Mean sample (e.g. the static background pattern of an EBSD map) over the mask.

    Streams the store, ``chunks_at_once`` chunks in memory at a time (decoded concurrently),
    summing in float64 in chunk order, so the result does not depend on timing.

    Parameters
    ----------
    store, var, sample_dims, mask
        As in :class:`BatchSpec`.
    feature_dims
        Order of the result's dims; default: the other dims of ``var`` in stored order.

    Returns
    -------
    numpy.ndarray
        float64, shape of one sample.
    """
    from vaearr.store import open_store

    sample_dims = (sample_dims,) if isinstance(sample_dims, str) else tuple(sample_dims)
    if feature_dims is None:
        ds = open_store(store, storage_options=storage_options)
        if var not in ds.data_vars:
            raise StoreError(store, f"no variable '{var}'")
        feature_dims = tuple(str(d) for d in ds[var].dims if d not in sample_dims)
    loader = ZarrBatches(store, var=var, sample_dims=sample_dims, feature_dims=tuple(feature_dims), mask=mask,
                         shuffle=False, storage_options=storage_options)
    source, blocks = loader.source, [int(b) for b in loader._blocks]
    total = np.zeros(source.feature_shape, dtype=np.float64)
    for i in range(0, len(blocks), chunks_at_once):
        for data, _ in source.read_blocks(blocks[i:i + chunks_at_once]):
            total += data.sum(axis=0, dtype=np.float64)
    return total / loader.n_samples


# ----------------------------------------------------------------------------------------------
# transforms


class Transform:
    """Base of the batch transforms: a callable on a batch tensor ``(B, C, *spatial)``.

    Spatial transforms act on the dims after the first two (batch, channel), as
    ``channels_first=True`` lays batches out. Random ones set ``random = True`` and take
    ``generator``; without one they draw from their own generator seeded by ``seed``.
    """

    random: bool = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, source_dtype: np.dtype) -> Transform:
        """A copy bound to what the loader knows (the stored dtype); default: self."""
        return self

    def for_eval(self) -> Transform | None:
        """The form used for validation: self, or None to drop it (augmentations)."""
        return None if self.random else self

    def _generator(self, generator: torch.Generator | None) -> torch.Generator:
        if generator is not None:
            return generator
        if getattr(self, "_own", None) is None:
            self._own = torch.Generator().manual_seed(int(getattr(self, "seed", 0) or 0))
        return self._own


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_floating_point() else x.float()


def _dtype_range(dtype: Any) -> tuple[float, float] | None:
    if isinstance(dtype, torch.dtype):
        if dtype == torch.bool:
            return (0.0, 1.0)
        if dtype.is_floating_point or dtype.is_complex:
            return None
        info = torch.iinfo(dtype)
        return (float(info.min), float(info.max))
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return (0.0, 1.0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return (float(info.min), float(info.max))
    return None


@dataclass
class Scale(Transform):
    """Map ``in_range`` linearly to ``out_range``; see :func:`scale`."""

    out_range: tuple[float, float] = (0.0, 1.0)
    in_range: tuple[float, float] | str | None = None

    def prepare(self, source_dtype: np.dtype) -> Scale:
        if self.in_range is not None:
            return self
        rng = _dtype_range(source_dtype)
        if rng is None:
            raise InputError(None, f"scale(): the data are {np.dtype(source_dtype)}, which has no fixed range; "
                                   "give in_range=(min, max) or in_range='sample'")
        return dataclasses.replace(self, in_range=rng)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        a, b = self.out_range
        if self.in_range == "sample":
            x = _float(x)
            flat = x.reshape(len(x), -1)
            shape = (len(x),) + (1,) * (x.ndim - 1)
            lo, hi = flat.amin(1).view(shape), flat.amax(1).view(shape)
            return (x - lo) / (hi - lo).clamp_min(1e-12) * (b - a) + a
        rng = self.in_range if self.in_range is not None else _dtype_range(x.dtype)
        if rng is None:
            raise InputError(None, "scale(): float input needs in_range=(min, max) or in_range='sample'")
        lo, hi = rng
        k = (b - a) / (hi - lo)
        return torch.mul(_float(x), k).add_(a - lo * k)


@dataclass
class Standardize(Transform):
    """Zero mean, unit standard deviation per sample; see :func:`standardize`."""

    eps: float = 1e-6

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = _float(x)
        flat = x.reshape(len(x), -1)
        shape = (len(x),) + (1,) * (x.ndim - 1)
        mean = flat.mean(1).view(shape)
        std = flat.std(1, correction=0).view(shape)
        return (x - mean) / std.clamp_min(self.eps)


def _spatial_size(size: int | Sequence[int], x: torch.Tensor) -> tuple[int, ...]:
    n = x.ndim - 2
    if isinstance(size, int):
        return (size,) * n
    size = tuple(int(s) for s in size)
    if len(size) > n:
        raise InputError(None, f"size {size} has more dims than the {n} spatial dims of a {tuple(x.shape)} batch")
    return size


@dataclass
class CenterCrop(Transform):
    """Crop the centre of the last spatial dims; see :func:`center_crop`."""

    size: int | tuple[int, ...]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        size = _spatial_size(self.size, x)
        sl: list[slice] = [slice(None)] * (x.ndim - len(size))
        for n, s in zip(x.shape[x.ndim - len(size):], size):
            if s > n:
                raise InputError(None, f"center_crop({self.size}): a sample is only {n} wide")
            start = (n - s) // 2
            sl.append(slice(start, start + s))
        return x[tuple(sl)]


@dataclass
class Resize(Transform):
    """Interpolate the spatial dims to ``size``; see :func:`resize`."""

    size: int | tuple[int, ...]
    mode: str | None = None
    antialias: bool = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        size = _spatial_size(self.size, x)
        if len(size) != x.ndim - 2:
            raise InputError(None, f"resize({self.size}): give a size for each of the {x.ndim - 2} spatial dims")
        mode = self.mode or {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
        kw = {"align_corners": False} if mode in ("linear", "bilinear", "bicubic", "trilinear") else {}
        if self.antialias:
            kw["antialias"] = True
        return F.interpolate(_float(x), size=size, mode=mode, **kw)


@dataclass
class SubtractBackground(Transform):
    """Subtract a static background, then rescale each sample to ``out_range``; see :func:`subtract_background`."""

    background: Any
    out_range: tuple[float, float] = (0.0, 1.0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = _float(x)
        bg = torch.as_tensor(np.asarray(self.background), dtype=x.dtype)
        if bg.numel() != math.prod(x.shape[1:]):
            raise InputError(None, f"subtract_background(): background of shape {tuple(bg.shape)} does not fit samples {tuple(x.shape[1:])}")
        x = x - bg.reshape(x.shape[1:])
        return Scale(self.out_range, "sample")(x)


@dataclass
class RandomPatch3D(Transform):
    """One random 3D patch per sample; see :func:`random_patch_3d`."""

    size: int | tuple[int, int, int]
    seed: int = 0
    random = True

    def offsets(self, shape: Sequence[int], generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B, 3)`` start of each sample's patch in a batch of ``shape`` (B, C, Z, Y, X)."""
        size = (self.size,) * 3 if isinstance(self.size, int) else tuple(self.size)
        spatial = tuple(shape[-3:])
        if any(s > n for s, n in zip(size, spatial)):
            raise InputError(None, f"random_patch_3d({self.size}): volumes are only {spatial}")
        g = self._generator(generator)
        return torch.stack([torch.randint(0, n - s + 1, (shape[0],), generator=g) for s, n in zip(size, spatial)], 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 5:
            raise InputError(None, f"random_patch_3d() needs (B, C, Z, Y, X) batches, got {tuple(x.shape)}")
        size = (self.size,) * 3 if isinstance(self.size, int) else tuple(self.size)
        offs = self.offsets(x.shape, generator).tolist()
        return torch.stack([
            x[i, :, z:z + size[0], y:y + size[1], w:w + size[2]] for i, (z, y, w) in enumerate(offs)
        ])

    def for_eval(self) -> Transform:
        return CenterCrop(self.size if isinstance(self.size, int) else tuple(self.size))


@dataclass
class RandomFlip(Transform):
    """Flip each sample along each of ``dims`` with probability ``p``; see :func:`random_flip`."""

    dims: tuple[int, ...] = (-1,)
    p: float = 0.5
    seed: int = 0
    random = True

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        g = self._generator(generator)
        dims = (self.dims,) if isinstance(self.dims, int) else tuple(self.dims)
        for d in dims:
            if d % x.ndim == 0:
                raise InputError(None, "random_flip(): dim 0 is the batch dim")
            hit = torch.rand(len(x), generator=g) < self.p
            x = torch.where(hit.view((len(x),) + (1,) * (x.ndim - 1)), x.flip(d), x)
        return x


def _rotation(angles_rad: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, k, k)`` rotations in spatial-dim order, ``np.rot90`` orientation for positive angles.

    2D: one angle, the plane (-2, -1). 3D: three angles, the planes (-2, -1), (-3, -1), (-3, -2)
    applied in that order.
    """
    planes = [(0, 1)] if k == 2 else [(1, 2), (0, 2), (0, 1)]
    b = angles_rad.shape[0]
    out = torch.eye(k, dtype=angles_rad.dtype).repeat(b, 1, 1)
    for j, (p, q) in enumerate(planes):
        c, s = torch.cos(angles_rad[:, j]), torch.sin(angles_rad[:, j])
        r = torch.eye(k, dtype=angles_rad.dtype).repeat(b, 1, 1)
        r[:, p, p], r[:, p, q], r[:, q, p], r[:, q, q] = c, s, -s, c
        out = out @ r
    return out


def affine(x: torch.Tensor, rotate_deg: Any, translate: Any, *, padding_mode: str = "zeros") -> torch.Tensor:
    """Rotate about the centre and translate a batch of 2D ``(B, C, H, W)`` or 3D ``(B, C, D, H, W)`` samples.

    Parameters
    ----------
    x
        The batch.
    rotate_deg
        Degrees, per sample or one for all: 2D one angle (90 = ``np.rot90(axes=(-2, -1))``);
        3D three angles for the planes (-2, -1), (-3, -1), (-3, -2).
    translate
        Shift per spatial dim as a fraction of its size (``(dy, dx)`` or ``(dz, dy, dx)``); a
        positive shift moves content towards higher indices, like :func:`numpy.roll`.
    padding_mode
        What fills pixels that come from outside (see :func:`torch.nn.functional.grid_sample`).
    """
    x = _float(x)
    k = x.ndim - 2
    if k not in (2, 3):
        raise InputError(None, f"affine() needs (B, C, H, W) or (B, C, D, H, W), got {tuple(x.shape)}")
    b = len(x)
    n_angles = 1 if k == 2 else 3
    ang = torch.as_tensor(rotate_deg, dtype=torch.float64)
    ang = ang.reshape(1, 1).expand(1, n_angles) if ang.ndim == 0 else ang.reshape(-1, n_angles)
    ang = ang.expand(b, n_angles) * (math.pi / 180)
    t = torch.as_tensor(translate, dtype=torch.float64).reshape(-1, k).expand(b, k)
    sizes = torch.tensor(x.shape[2:], dtype=torch.float64)
    # input pixel = R @ output pixel - shift (pixel units, centred); affine_grid wants it in
    # normalised (x, y[, z]) order, i.e. spatial dims reversed and scaled by size / 2
    m = _rotation(ang, k)
    rev = list(range(k - 1, -1, -1))
    m = m[:, rev][:, :, rev]
    half = sizes.flip(0) / 2
    lin = m * half[None, None, :] / half[None, :, None]
    shift = -2 * t.flip(1)
    theta = torch.cat([lin, shift[:, :, None]], 2).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


@dataclass
class RandomAffine(Transform):
    """Small random rotations and shifts (2D or 3D); see :func:`random_affine`."""

    max_rotate_deg: float = 10.0
    max_translate: float = 0.05
    padding_mode: str = "zeros"
    seed: int = 0
    random = True

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        g = self._generator(generator)
        k = x.ndim - 2
        n_angles = 1 if k == 2 else 3
        ang = (torch.rand(len(x), n_angles, generator=g, dtype=torch.float64) * 2 - 1) * self.max_rotate_deg
        shift = (torch.rand(len(x), k, generator=g, dtype=torch.float64) * 2 - 1) * self.max_translate
        return affine(x, ang, shift, padding_mode=self.padding_mode)


class Compose(Transform):
    """Transforms applied in order, as one."""

    def __init__(self, transforms: Iterable[Callable]):
        self.transforms = list(transforms)
        self.random = any(getattr(t, "random", False) for t in self.transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator=generator) if getattr(t, "random", False) else t(x)
        return x

    def prepare(self, source_dtype: np.dtype) -> Compose:
        return Compose([t.prepare(source_dtype) if isinstance(t, Transform) else t for t in self.transforms])

    def for_eval(self) -> Compose:
        return Compose([e for t in self.transforms if (e := (t.for_eval() if isinstance(t, Transform) else t)) is not None])

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


def scale(out_range: tuple[float, float] = (0.0, 1.0), in_range: tuple[float, float] | str | None = None) -> Scale:
    """Scale linearly from ``in_range`` to ``out_range`` (e.g. ``(0, 1)`` or ``(-1, 1)``).

    ``in_range`` None takes the stored dtype's range (uint8: 0..255) — the loader tells the
    transform that dtype, so it works after conversion to float; ``"sample"`` maps each
    sample's own min..max.

    Examples
    --------
    >>> scale((-1, 1))(torch.tensor([[0, 255]], dtype=torch.uint8))
    tensor([[-1.,  1.]])
    """
    return Scale(tuple(out_range), in_range if in_range is None or isinstance(in_range, str) else tuple(in_range))


def standardize(eps: float = 1e-6) -> Standardize:
    """Per sample: subtract the mean, divide by the (population) standard deviation (at least ``eps``)."""
    return Standardize(eps)


def center_crop(size: int | Sequence[int]) -> CenterCrop:
    """Crop the centre (start ``(n - size) // 2``) of the last spatial dims; an int crops every spatial dim."""
    return CenterCrop(size if isinstance(size, int) else tuple(size))


def resize(size: int | Sequence[int], mode: str | None = None, antialias: bool = False) -> Resize:
    """Interpolate the spatial dims to ``size`` (bilinear in 2D, trilinear in 3D by default).

    Half-pixel centres (``align_corners=False``): halving with bilinear averages 2×2 blocks.
    ``antialias`` low-pass filters when shrinking (2D bilinear/bicubic only).
    """
    return Resize(size if isinstance(size, int) else tuple(size), mode, antialias)


def subtract_background(background: Any, out_range: tuple[float, float] = (0.0, 1.0)) -> SubtractBackground:
    """Subtract a static background (e.g. :func:`static_background`), then stretch each sample to ``out_range``.

    As kikuchipy's ``EBSD.remove_static_background(operation="subtract")``, whose result is
    this one's stretched to the dtype range.
    """
    return SubtractBackground(np.asarray(background, dtype=np.float32), tuple(out_range))


def random_patch_3d(size: int | Sequence[int], seed: int = 0) -> RandomPatch3D:
    """One random ``size`` patch from each volume of a ``(B, C, Z, Y, X)`` batch (for validation: a centre crop)."""
    return RandomPatch3D(size if isinstance(size, int) else tuple(size), seed)


def random_flip(dims: int | Sequence[int] = (-1,), p: float = 0.5, seed: int = 0) -> RandomFlip:
    """Flip each sample along each batch dim in ``dims`` (e.g. -1: columns) with probability ``p``."""
    return RandomFlip((dims,) if isinstance(dims, int) else tuple(dims), p, seed)


def random_affine(max_rotate_deg: float = 10.0, max_translate: float = 0.05, padding_mode: str = "zeros", seed: int = 0) -> RandomAffine:
    """Rotate each sample by up to ±``max_rotate_deg`` (in 3D: about each axis) and shift it by up to
    ±``max_translate`` of its size per dim, with :func:`affine` (``affine_grid`` + ``grid_sample``)."""
    return RandomAffine(max_rotate_deg, max_translate, padding_mode, seed)


def compose(*transforms: Callable) -> Compose:
    """Transforms applied in order, as one transform."""
    return Compose(transforms)


def default_transforms(
    ds: Any,
    var: str,
    *,
    sample_dims: Sequence[str],
    mask: str | None = None,
    scale: str | None = "[0,1]",
    standardize: bool = False,
    crop: int | Sequence[int] | None = None,
    resize: int | Sequence[int] | None = None,
    subtract_background: bool = False,
    patch: Sequence[int] | None = None,
    augment: bool = False,
    seed: int = 0,
    store: str | os.PathLike | None = None,
) -> list[Transform]:
    """The transforms ``vaearr train`` builds from its options, in a sensible order.

    Background subtraction (on raw values, over the full sample; it also rescales), then crop,
    resize and 3D patch, then scaling (``"[0,1]"`` or ``"[-1,1]"``: from the dtype range, or
    each sample's min..max for float data) or standardisation, then augmentation (a random
    flip of the last dim and a small random affine).

    Parameters
    ----------
    ds
        The store, open (for the variable's dtype).
    store
        The store's path, needed for ``subtract_background`` (streams the mean pattern).
    """
    out: list[Transform] = []
    ranges = {"[0,1]": (0.0, 1.0), "[-1,1]": (-1.0, 1.0)}
    if scale is not None and scale not in ranges:
        raise InputError(store, f"scale must be one of {', '.join(ranges)}, got {scale!r}")
    out_range = ranges.get(scale or "[0,1]")
    if subtract_background:
        if store is None:
            raise InputError(None, "subtract_background needs the store's path")
        bg = static_background(store, var, sample_dims, mask)
        out.append(SubtractBackground(bg.astype(np.float32), out_range))
    if crop:
        out.append(center_crop(crop))
    if resize:
        out.append(Resize(resize if isinstance(resize, int) else tuple(resize)))
    if patch:
        out.append(random_patch_3d(patch, seed=seed))
    if standardize:
        out.append(Standardize())
    elif scale is not None and not subtract_background:
        kind = np.dtype(ds[var].dtype).kind
        out.append(Scale(out_range, None if kind in "biu" else "sample"))
    if augment:
        out.append(random_flip((-1,), 0.5, seed=seed))
        out.append(random_affine(5.0, 0.02, seed=seed))
    return out


__all__ = [
    "SPLITS",
    "BatchSpec",
    "CenterCrop",
    "Compose",
    "RandomAffine",
    "RandomFlip",
    "RandomPatch3D",
    "Resize",
    "Scale",
    "Standardize",
    "SubtractBackground",
    "Transform",
    "ZarrBatches",
    "affine",
    "center_crop",
    "compose",
    "default_transforms",
    "make_loaders",
    "random_affine",
    "random_flip",
    "random_patch_3d",
    "resize",
    "scale",
    "standardize",
    "static_background",
    "subtract_background",
]
