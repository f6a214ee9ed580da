"""Whole chunks of a local zarr v3 array decoded straight from their files (the codecs vaearr writes)."""

from __future__ import annotations

import math
import mmap
import os
import sys
from collections.abc import Callable
from typing import Any

import crc32c
import numpy as np
from numcodecs import Zstd
from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec
from zarr.storage import LocalStore

from vaearr.errors import StoreError


class ChunkFiles:
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
                 dtype: np.dtype, fill_value: Any, codecs: list[str], whole: bool = False):
        self.root, self.key, self.chunk_shape, self.dtype = root, key, chunk_shape, dtype
        #: vaearr wrote the array (every chunk): an absent chunk file is damage, not the fill value
        self.whole = whole
        self.fill_value = fill_value
        self.codecs = codecs  # bytes-to-bytes codecs in decoding order: "crc32c", "zstd"
        self.nbytes = math.prod(chunk_shape) * dtype.itemsize
        self._zstd = None

    @classmethod
    def of(cls, array: Any) -> ChunkFiles | None:
        """For ``array`` (a ``zarr.Array``) when its chunks can be read this way, else None."""
        try:
            aa = array.async_array
            meta, store = aa.metadata, aa.store_path.store
            if meta.zarr_format != 3 or not isinstance(store, LocalStore):
                return None
            chunk_shape = getattr(meta.chunk_grid, "chunk_shape", None)  # a regular grid's (no private import)
            if chunk_shape is None:
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
            return cls(root, meta.encode_chunk_key, tuple(int(c) for c in chunk_shape), dtype, fill,
                       names, whole="vaearr_version" in (meta.attributes or {}))
        except (AttributeError, TypeError, ValueError):  # pragma: no cover - another zarr
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
        except FileNotFoundError:  # zarr writes no chunk that holds only the fill value, unless told to
            if self.whole:  # as vaearr tells it: this chunk was lost
                raise StoreError(path, "chunk file absent: vaearr writes every chunk, so the store is damaged "
                                       "(it would read as the fill value); 'vaearr verify' lists what is broken") from None
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

                if len(data) < 4 or crc32c.crc32c(data[:-4]) != int.from_bytes(data[-4:], "little"):
                    raise StoreError(path, "chunk fails its crc32c checksum: the store is corrupt")
                data = data[:-4]
            else:
                if self._zstd is None:

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
