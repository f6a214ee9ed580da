"""Lazy reads of an HDF5 pattern dataset: each dask task reads a block of a few store chunks (~28 MB) as whole HDF5
chunks; gzip chunks are inflated outside h5py so that both cores work (see :class:`_DirectChunks`). Memory holds a
few blocks whatever the file's size."""

from __future__ import annotations

import itertools
import os
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import dask.array as da
import h5py
import numpy as np
from dask.base import tokenize

from vaearr.errors import InputError
from vaearr.io.patterns import bin_blocks, short_error
from vaearr.store import default_chunks


#: Source bytes one dask task reads (several store chunks; see :func:`_read_blocks`). Under
#: glibc's largest mmap threshold (32 MB), so a block's buffer comes from malloc's heap and is
#: reused: bigger ones are fresh mappings that the kernel zeroes for every block (8 % of the
#: CPU of an ingest, measured with perf).
_READ_BLOCK_BYTES = 28 * 2**20
#: Largest single HDF5 read (bytes) when several adjacent HDF5 chunks are read at once.
_MAX_READ_BYTES = 32 * 2**20
#: Bounds of the h5py chunk cache opened for the patterns dataset.
_MIN_CACHE_BYTES = 16 * 2**20
_MAX_CACHE_BYTES = 256 * 2**20
try:  # optional accelerator for gzip'd HDF5 chunks; see _inflate
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - depends on the environment
    _libdeflate = None

# HDF5 filter ids (H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE)
_H5Z_DEFLATE, _H5Z_SHUFFLE = 1, 2


def open_h5(src: str | os.PathLike, **kw: Any):
    try:
        return h5py.File(src, "r", **kw)
    except FileNotFoundError:
        raise InputError(src, "no such file") from None
    except OSError as exc:
        if h5py.is_hdf5(src):
            raise InputError(src, f"HDF5 file cannot be opened, truncated or corrupt? ({short_error(exc)})") from None
        raise InputError(src, "not an HDF5 file") from None


def _inflate(data: bytes, size: int) -> bytes | bytearray:
    """Inflate one zlib stream of ``size`` bytes (an HDF5 deflate chunk).

    With the optional ``deflate`` package (libdeflate, about twice zlib's speed on pattern
    chunks) when it is installed; :mod:`zlib` otherwise, and whenever libdeflate refuses the
    data, so a damaged chunk is reported by zlib's own error.
    """
    if _libdeflate is not None:
        try:
            return _libdeflate.zlib_decompress(data, size)
        except Exception:  # noqa: BLE001 - fall through to zlib, which says what is wrong
            pass
    return zlib.decompress(data, bufsize=size)


class _DirectChunks:
    """Whole HDF5 chunks read raw and inflated here, with a small cache of decoded chunks.

    h5py decompresses inside the HDF5 library while holding its global lock and the GIL, so
    reads through it run one at a time. Reading the stored bytes with
    ``read_direct_chunk`` is cheap, and zlib (or libdeflate, see :func:`_inflate`) releases
    the GIL: the threads of a dask write then inflate chunks in parallel, beside the store's
    compression. Used only for pipelines of deflate (gzip) and shuffle, the filters of almost
    every pattern file; anything else goes through h5py.

    The cache keeps the chunks that neighbouring blocks share (blocks rarely start on a chunk
    boundary), and a chunk one thread is decoding is waited for, not decoded twice.
    """

    def __init__(self, ds: Any, filters: list[int], cache_bytes: int) -> None:
        self.ds = ds
        self.chunks = tuple(int(c) for c in ds.chunks)
        self.dtype = ds.dtype
        self.filters = filters
        self.chunk_nbytes = int(np.prod(self.chunks)) * self.dtype.itemsize
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._pending: dict[tuple[int, ...], threading.Event] = {}
        self._lock = threading.Lock()
        self._nbytes = 0

    @staticmethod
    def filters_of(ds: Any) -> list[int] | None:
        """The dataset's filter ids when all are ones this class decodes, else None."""
        if ds.chunks is None:
            return None
        plist = ds.id.get_create_plist()
        ids = [int(plist.get_filter(i)[0]) for i in range(plist.get_nfilters())]
        return ids if set(ids) <= {_H5Z_DEFLATE, _H5Z_SHUFFLE} else None

    def _decode(self, idx: tuple[int, ...], rows: int | None = None) -> np.ndarray:
        """Decode a chunk; with ``rows``, only its first ``rows`` rows along axis 0 if cheaper."""
        offset = tuple(i * c for i, c in zip(idx, self.chunks))
        try:
            mask, raw = self.ds.id.read_direct_chunk(offset)
        except (KeyError, OSError, RuntimeError, ValueError):
            # an unwritten (fill-value) chunk, or a damaged file: h5py says which
            sel = tuple(slice(o, o + c) for o, c in zip(offset, self.chunks))
            part = self.ds[sel]
            full = np.zeros(self.chunks, dtype=self.dtype)
            full[tuple(slice(0, n) for n in part.shape)] = part
            return full
        if rows is not None and self.filters == [_H5Z_DEFLATE] and mask == 0:
            # deflate cannot skip ahead, but it can stop: inflate just the head that is needed
            row_bytes = self.chunk_nbytes // self.chunks[0]
            head = zlib.decompressobj().decompress(raw, rows * row_bytes)
            return np.frombuffer(head, dtype=self.dtype).reshape(rows, *self.chunks[1:])
        data: Any = raw
        for pos in range(len(self.filters) - 1, -1, -1):  # undo in reverse order of writing
            if mask & (1 << pos):
                continue  # HDF5 skipped this filter for this chunk
            if self.filters[pos] == _H5Z_DEFLATE:
                data = _inflate(data, self.chunk_nbytes)
            else:  # shuffle: bytes were grouped by significance
                size = self.dtype.itemsize
                data = np.frombuffer(data, np.uint8).reshape(size, -1).T.tobytes()
        return np.frombuffer(data, dtype=self.dtype).reshape(self.chunks)

    def chunk(self, idx: tuple[int, ...], rows: int | None = None) -> np.ndarray:
        """The decoded chunk at chunk-grid index ``idx`` (full chunk shape, also at edges).

        With ``rows`` (only the first ``rows`` rows along axis 0 are needed) and the chunk not
        in the cache, only that head is inflated and returned, and nothing is cached: the read
        block that needs the rest of this chunk decodes it whole. Blocks are written in no
        particular order, so this halves, on average, the cost of chunks two blocks share.
        """
        if rows is not None:
            with self._lock:
                hit = self._cache.get(idx)
            if hit is not None:
                return hit
            if rows < self.chunks[0] and idx not in self._pending:
                return self._decode(idx, rows)
        while True:
            with self._lock:
                hit = self._cache.get(idx)
                if hit is not None:
                    self._cache.move_to_end(idx)
                    return hit
                event = self._pending.get(idx)
                if event is None:
                    self._pending[idx] = threading.Event()
                    break
            event.wait()
        arr = None
        try:
            arr = self._decode(idx)
            return arr
        finally:
            with self._lock:
                if arr is not None:
                    self._cache[idx] = arr
                    self._nbytes += arr.nbytes
                    while self._nbytes > self.cache_bytes and len(self._cache) > 1:
                        self._nbytes -= self._cache.popitem(last=False)[1].nbytes
                self._pending.pop(idx).set()

    def read(self, start: Sequence[int], stop: Sequence[int]) -> np.ndarray:
        """The hyperslab ``[start:stop]`` over the leading dims, trailing dims whole."""
        lead = len(start)
        out = np.empty((*(b - a for a, b in zip(start, stop)), *self.ds.shape[lead:]), dtype=self.dtype)
        ranges = [range(a // c, -(-b // c)) for a, b, c in zip(start, stop, self.chunks)]
        for idx in itertools.product(*ranges):
            lo = [max(a, i * c) for a, i, c in zip(start, idx, self.chunks)]
            hi = [min(b, (i + 1) * c) for b, i, c in zip(stop, idx, self.chunks)]
            src = tuple(slice(l - i * c, h - i * c) for l, h, i, c in zip(lo, hi, idx, self.chunks))
            dst = tuple(slice(l - a, h - a) for l, h, a in zip(lo, hi, start))
            out[dst] = self.chunk((*idx, *([0] * (self.ds.ndim - lead))))[src]
        return out


class _H5Patterns:
    """Array-like ``(Y, X, h, w)`` view of a plain HDF5 patterns dataset, cropped and binned.

    ``__getitem__`` reads the patterns of a block of grid nodes. With an ``index`` image (the
    ``N×H×W`` layouts, and ``N×1×H×W`` with ``channel``) the source rows of the block are sorted and read chunk by chunk (whole
    HDF5 chunks, each decoded once), so rows may come in any order; nodes without a pattern
    (index −1) get zeros. Gzip/shuffle chunks that hold whole patterns are decoded by
    :class:`_DirectChunks`; other layouts are read through h5py with a chunk cache sized for
    this access. The file is opened lazily in each process, so the object pickles.
    """

    def __init__(
        self,
        path: str,
        dataset: str,
        *,
        index: np.ndarray | None,
        box: tuple[int, int, int, int],
        binning: int,
        dtype: np.dtype,
        grid_shape: tuple[int, int],
        block_shape: tuple[int, int],
        channel: bool = False,
    ) -> None:
        self.path = path
        # an N×1×H×W dataset (one channel axis after N, as the image-set layout writes it)
        self.lead: tuple[int, ...] = (0,) if channel else ()
        self.dataset = dataset
        self.index = index
        self.box = box
        self.binning = binning
        self.dtype = np.dtype(dtype)
        top, left, h, w = box
        self.shape = (*grid_shape, h // binning, w // binning)
        self.ndim = 4
        self.block_shape = block_shape
        self._state: tuple[Any, Any, _DirectChunks | None] | None = None
        self._pid: int | None = None
        self._open_lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_state", "_pid", "_open_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _state=None, _pid=None, _open_lock=threading.Lock())

    def _open(self) -> tuple[Any, _DirectChunks | None]:
        with self._open_lock:
            if self._state is None or self._pid != os.getpid():
                nbytes, h5_cache = self._cache_options()
                f = open_h5(self.path, **h5_cache)
                ds = f[self.dataset]
                filters = _DirectChunks.filters_of(ds)
                whole = ds.chunks is not None and tuple(ds.chunks[-2:]) == tuple(ds.shape[-2:])
                direct = _DirectChunks(ds, filters, nbytes) if filters is not None and whole else None
                self._state, self._pid = (f, ds, direct), os.getpid()
            return self._state[1], self._state[2]

    def _cache_options(self) -> tuple[int, dict]:
        """Bytes of the chunk cache: the HDF5 chunks that a few neighbouring blocks touch.

        Blocks rarely start on an HDF5 chunk boundary: without a cache the chunk shared by
        two neighbouring blocks would be decompressed twice.
        """

        with h5py.File(self.path, "r") as f:
            ds = f[self.dataset]
            if ds.chunks is None:
                return 0, {}
            chunk_bytes = int(np.prod(ds.chunks)) * ds.dtype.itemsize
            by, bx = self.block_shape
            if self.index is not None:
                n_touched = -(-by * bx // ds.chunks[0]) + 1
            else:
                n_touched = (-(-by // ds.chunks[0]) + 1) * (-(-ds.shape[1] // ds.chunks[1]) + 1)
        nbytes = int(min(max(3 * n_touched * chunk_bytes, _MIN_CACHE_BYTES), _MAX_CACHE_BYTES))
        # hash slots: ~100× the chunks that fit, odd, as HDF5 advises
        nslots = max(521, 100 * (nbytes // max(chunk_bytes, 1))) | 1
        return nbytes, {"rdcc_nbytes": nbytes, "rdcc_nslots": int(nslots), "rdcc_w0": 1.0}

    def __getitem__(self, key: tuple) -> np.ndarray:
        key = tuple(key) + (slice(None),) * (4 - len(tuple(key)))
        try:
            out = self._read_block(key[0], key[1])
        except InputError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, zlib.error) as exc:
            # a truncated or corrupt file often opens fine and fails here, inside the write
            raise InputError(self.path, f"cannot read patterns from '{self.dataset}' ({short_error(exc)})") from None
        return out[:, :, key[2], key[3]]

    def _read_block(self, ys: slice, xs: slice) -> np.ndarray:
        ds, direct = self._open()
        top, left, h, w = self.box
        rows, cols = slice(top, top + h), slice(left, left + w)
        if self.index is None:  # Y×X×H×W: the block is one hyperslab
            y0, y1, _ = ys.indices(self.shape[0])
            x0, x1, _ = xs.indices(self.shape[1])
            if direct is not None:
                return bin_blocks(direct.read((y0, x0), (y1, x1))[:, :, rows, cols], self.binning)
            return bin_blocks(ds[y0:y1, x0:x1, rows, cols], self.binning)
        need = self.index[ys, xs]
        by, bx = need.shape
        lead = self.lead
        flat = need.ravel()
        if direct is None and flat.size and flat[0] >= 0 and np.array_equal(
            flat, np.arange(flat[0], flat[0] + flat.size)
        ):  # h5py reads one increasing range in a single call
            sel = (slice(int(flat[0]), int(flat[0]) + flat.size), *lead, rows, cols)
            return bin_blocks(ds[sel], self.binning).reshape(by, bx, *self.shape[2:])
        out = np.zeros((flat.size, h, w), dtype=self.dtype)
        pos = np.flatnonzero(flat >= 0)
        src = flat[pos]
        order = np.argsort(src, kind="stable")
        pos, src = pos[order], src[order]
        unit = ds.chunks[0] if ds.chunks else 1
        units = np.unique(src // unit)
        if direct is not None:
            for u in units:
                lo, hi = np.searchsorted(src, [u * unit, (u + 1) * unit])
                s, p = src[lo:hi] - u * unit, pos[lo:hi]
                chunk = direct.chunk((int(u), *([0] * (ds.ndim - 1))), rows=int(s[-1]) + 1)
                if s[-1] - s[0] == hi - lo - 1 and (p.size == 1 or (np.diff(p) == 1).all()):  # scan order: one copy
                    out[p[0] : p[-1] + 1] = chunk[(slice(int(s[0]), int(s[-1]) + 1), *lead, rows, cols)]
                else:
                    out[p] = chunk[(s, *lead, rows, cols)]
            return bin_blocks(out, self.binning).reshape(by, bx, *self.shape[2:])
        per_read = max(1, _MAX_READ_BYTES // (unit * int(np.prod(ds.shape[1:])) * ds.dtype.itemsize))
        # runs of adjacent HDF5 chunks, each read in one call of at most _MAX_READ_BYTES
        breaks = np.flatnonzero(np.diff(units) != 1) + 1
        for run in np.split(units, breaks):
            for k in range(0, run.size, per_read):
                a = int(run[k]) * unit
                b = min((int(run[min(k + per_read, run.size) - 1]) + 1) * unit, ds.shape[0])
                lo, hi = np.searchsorted(src, [a, b])
                if hi > lo:
                    out[pos[lo:hi]] = ds[(slice(a, b), *lead, rows, cols)][src[lo:hi] - a]
        return bin_blocks(out, self.binning).reshape(by, bx, *self.shape[2:])


def _read_blocks(chunks: Sequence[int], grid_shape: tuple[int, int], pattern_bytes: int) -> tuple[int, int]:
    """Grid block read by one task: whole store chunks, about :data:`_READ_BLOCK_BYTES` of source.

    A read task is split into store chunks afterwards. Reading more than one store chunk per
    task matters because dask writes chunks in no particular order: an HDF5 chunk that
    straddles two read blocks is decoded once per block, which costs ~2× with
    store-chunk-sized reads and a few per cent with these.
    """
    cy, cx = int(chunks[0]), int(chunks[1])
    ny, nx = grid_shape
    k = max(1, _READ_BLOCK_BYTES // max(1, cy * cx * pattern_bytes))
    if cx < nx:  # a scan row is split into chunks (then cy == 1): grow along x, then by rows
        if cx * k < nx:
            return cy, cx * k
        return min(ny, max(1, _READ_BLOCK_BYTES // (nx * pattern_bytes))), nx
    return min(ny, cy * k), cx


def lazy_patterns(
    path: str,
    name: str,
    *,
    index: np.ndarray | None,
    box: tuple[int, int, int, int],
    binning: int,
    dtype: np.dtype,
    grid_shape: tuple[int, int],
    pattern_shape: Sequence[int],
    channel: bool = False,
) -> da.Array:
    """The dask array ``(Y, X, h, w)`` of HDF5 dataset ``name``, chunked like the store.

    ``index`` maps grid nodes to rows of an ``N×H×W`` (or, with ``channel``, ``N×1×H×W``)
    dataset (−1: no pattern, zeros); None for a ``Y×X×H×W`` dataset.
    """
    out_shape = (*grid_shape, box[2] // binning, box[3] // binning)
    chunks = default_chunks(out_shape, np.dtype(dtype).itemsize)
    blocks = _read_blocks(chunks, out_shape[:2], int(np.prod(pattern_shape)) * np.dtype(dtype).itemsize)
    reader = _H5Patterns(
        path, name, index=index, box=box, binning=binning, dtype=dtype,
        grid_shape=out_shape[:2], block_shape=blocks, channel=channel,
    )
    st = os.stat(path)
    token = tokenize(os.path.abspath(path), st.st_size, st.st_mtime_ns, name, box, binning,
                     None if index is None else index.tobytes())
    return da.from_array(
        reader, chunks=(*blocks, *out_shape[2:]), name=f"ebsd-h5-{token}", lock=False, asarray=False,
        fancy=False, meta=np.empty((0, 0, 0, 0), dtype=dtype),
    ).rechunk(chunks)
