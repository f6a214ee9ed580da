"""Reading chunks with their checksums checked, and a corrupt chunk named: the variable and the chunk.

Every array vaearr writes ends its codecs with ``crc32c``; zarr then raises a bare "checksum do not
match" when a chunk's bytes changed on disk. :class:`CheckedPipeline` (zarr's codec pipeline, made
zarr's default when :mod:`vaearr.store` is imported) turns that into one :class:`ChunkError` naming
the store, the variable and the chunk, which the ``vaearr`` command prints as one line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

import zarr
from zarr.buffer import default_buffer_prototype
from zarr.registry import fully_qualified_name, register_pipeline
from zarr.storage import LocalStore

from vaearr.errors import StoreError
from vaearr.store import zarr_internals

try:  # private: subclassed only on the zarr releases vaearr is tested with (vaearr.store.zarr_internals)
    from zarr.core.codec_pipeline import BatchedCodecPipeline
except ImportError:  # pragma: no cover - another zarr: its own pipeline reads, and says less of a corrupt chunk
    BatchedCodecPipeline = object  # type: ignore[assignment,misc]


class ChunkError(StoreError):
    """A chunk whose bytes do not match their checksum (or cannot be decoded)."""

    def __init__(self, store: str, variable: str, chunk: tuple[int, ...], problem: str):
        self.variable, self.chunk, self.detail = variable, chunk, problem
        where = ", ".join(map(str, chunk))
        super().__init__(store, f"variable '{variable}', chunk ({where}) is corrupt ({problem}); "
                                f"'vaearr verify {store}' lists every broken chunk")

    def __reduce__(self) -> tuple:  # picklable for dask workers
        return (type(self), (self.store, self.variable, self.chunk, self.detail))


def chunk_of(path: str) -> tuple[str, tuple[int, ...]]:
    """The variable and chunk index of a chunk key (``latent/c/0/3`` or zarr v2's ``latent/0.3``).

    >>> chunk_of("latent/c/0/3"), chunk_of("g/bc/1.2")
    (('latent', (0, 3)), ('g/bc', (1, 2)))
    """
    if "/c/" in f"/{path}":
        var, _, key = f"/{path}".rpartition("/c/")
        parts = key.split("/")
    else:
        var, _, key = f"/{path}".rpartition("/")
        parts = key.replace("/", ".").split(".")
    try:
        return var.strip("/"), tuple(int(p) for p in parts)
    except ValueError:
        return var.strip("/") or path, ()


def store_name(zstore: Any) -> str:
    """A zarr store as a user knows it: a local folder, else its repr."""
    root = getattr(zstore, "root", None)
    return str(root) if root is not None else str(zstore)


def is_checksum_error(exc: BaseException) -> bool:
    return isinstance(exc, ValueError) and "checksum" in str(exc).lower()


#: what a :class:`ChunkError` says of a chunk file that is absent
ABSENT = "its chunk file is absent: vaearr writes every chunk, so it was lost"


async def _written_whole(store: Any, var: str, known: dict[tuple[str, str], bool]) -> bool:
    """Whether array ``var`` of a local store carries vaearr's provenance (``vaearr_version``): vaearr writes
    every chunk of what it writes, so a chunk file of it that is absent was lost, not left out. ``known``: the
    answers the reading pipeline already has (:attr:`CheckedPipeline.written_whole`)."""
    key = (store_name(store), var)
    if key not in known:
        raw = await store.get(f"{var}/zarr.json" if var else "zarr.json", default_buffer_prototype())
        try:
            meta = json.loads(raw.to_bytes()) if raw is not None else {}
        except ValueError:
            meta = {}
        known[key] = isinstance(meta, dict) and "vaearr_version" in (meta.get("attributes") or {})
    return known[key]


class _Present:
    """A chunk's byte getter that refuses an absent chunk of an array vaearr wrote whole (zarr would read the fill
    value: zeros, NaN, and every result computed from it would be wrong without a word)."""

    def __init__(self, getter: Any, known: dict[tuple[str, str], bool]):
        self.getter, self.known = getter, known

    def __getattr__(self, name: str) -> Any:
        return getattr(self.getter, name)

    async def get(self, prototype: Any, byte_range: Any = None) -> Any:
        found = await self.getter.get(prototype, byte_range)
        if found is None and isinstance(self.getter.store, LocalStore):
            var, chunk = chunk_of(self.getter.path)
            if await _written_whole(self.getter.store, var, self.known):
                raise ChunkError(store_name(self.getter.store), var, chunk, ABSENT)
        return found


class CheckedPipeline(BatchedCodecPipeline):
    """zarr's batched codec pipeline; a chunk that fails its checksum, cannot be decoded into its shape and data
    type (a data type changed in the metadata), or is absent from an array vaearr wrote whole (a local store),
    raises :class:`ChunkError` naming it."""

    @functools.cached_property
    def written_whole(self) -> dict[tuple[str, str], bool]:
        """(store, array) → whether vaearr wrote the array whole, read once per opened array: zarr makes a pipeline
        for each array it opens, and the answer lives as long as that array (no process-wide cache)."""
        return {}

    async def read_batch(self, batch_info: Iterable[tuple], out: Any, drop_axes: tuple[int, ...] = ()) -> None:
        batch_info = [(_Present(b[0], self.written_whole), *b[1:]) for b in batch_info]
        try:
            await super().read_batch(batch_info, out, drop_axes)
        except (ValueError, RuntimeError):
            for one in batch_info:  # which chunk of the batch it was
                try:
                    await super().read_batch([one], out, drop_axes)
                except (ValueError, RuntimeError) as again:
                    var, chunk = chunk_of(one[0].path)
                    first = str(again).splitlines()[0] if str(again) else ""
                    problem = ("its crc32c checksum does not match its bytes" if is_checksum_error(again) else
                               f"it cannot be decoded into its shape and data type: {type(again).__name__}: {first}")
                    raise ChunkError(store_name(one[0].store), var, chunk, problem) from None
            raise


if zarr_internals.enabled() and BatchedCodecPipeline is not object:
    register_pipeline(CheckedPipeline)
    zarr.config.set({"codec_pipeline.path": fully_qualified_name(CheckedPipeline)})
