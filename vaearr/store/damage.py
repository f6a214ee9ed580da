"""Damage a local store shows without decoding its data: metadata that does not parse or disagrees
with the consolidated copy, chunk files that are absent, chunks sized for another data type.

vaearr writes every chunk of every array (``write_empty_chunks=True``), so in a store it made an
absent chunk file is damage, not emptiness: zarr would read it as the fill value (zeros, NaN) and
every result computed from it would be wrong without a word. :func:`find_damage` looks for that and
for broken metadata in one pass over the store's files (no chunk is decompressed: it costs a listing
of the chunk folders and one small read per array), :func:`refusing` stands a damaged variable in a
Dataset for an array that raises :class:`DamagedError` when read, and :func:`require_whole` refuses
the variables a command is about to read before it starts. ``vaearr verify`` reports the same
findings beside its chunk-by-chunk read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dask.array
import numpy as np
from zarr.abc.store import SuffixByteRequest
from zarr.buffer import default_buffer_prototype

from vaearr.errors import StoreError
from vaearr.store import remote, zarr_internals
from vaearr.store.transaction import is_url, local_path

#: encoding key of a variable :func:`refusing` stands in for (the problem, in words)
DAMAGE = "vaearr_damage"
#: the codecs vaearr writes, by name, in order (a chunk's zstd frame then says its decoded size)
VAEARR_CODECS = ("bytes", "zstd", "crc32c")
#: the kinds of damage :func:`find_damage` looks for
KINDS = ("metadata", "chunks", "size")
#: at most this many absent chunks are named in one line
NAMED_CHUNKS = 4
#: attr of a derived variable (a cache such as ``patterns_sim3``): the :func:`source_checksum` of what it was made from
SOURCE_CHECKSUM = "source_checksum"


class DamagedError(StoreError):
    """A variable whose chunks or metadata are damaged: refused, never read as if whole."""

    def __init__(self, store: str | os.PathLike, variable: str, problem: str):
        self.variable, self.detail = variable, problem
        super().__init__(store, f"variable '{variable}' is damaged: {problem}; nothing was computed from it "
                                f"('vaearr verify {os.fspath(store)}' lists what is broken; write the variable "
                                f"again, or restore the store, to use it)")

    def __reduce__(self) -> tuple:  # picklable for dask workers
        return (type(self), (self.store, self.variable, self.detail))


def _json(path: Path) -> tuple[Any, str | None]:
    """A metadata file's JSON, or None and the problem in words."""
    try:
        return json.loads(path.read_bytes()), None
    except FileNotFoundError:
        return None, f"its metadata file {path} is missing"
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"its metadata file {path} does not parse ({first})"


def root_metadata(path: str | os.PathLike) -> dict:
    """The root ``zarr.json`` of the local zarr v3 store at ``path``, or a :class:`StoreError` naming the file."""
    root, problem = _json(Path(path) / "zarr.json")
    if problem is not None:
        raise StoreError(path, f"the store's root metadata is damaged: {problem}; nothing in the store can be "
                               f"trusted without it: restore the store from a copy")
    if not isinstance(root, dict) or root.get("node_type") != "group":
        raise StoreError(path, f"the store's root metadata {Path(path) / 'zarr.json'} is not a zarr group's")
    return root


def _made_by_vaearr(root: dict, arrays: Mapping[str, Any]) -> bool:
    """Whether vaearr wrote the store (as :func:`vaearr.store.made_by_vaearr`, from the metadata alone)."""
    return "kind" in (root.get("attributes") or {}) or any(
        isinstance(m, dict) and "vaearr_version" in (m.get("attributes") or {}) for m in arrays.values())


def _array_names(path: Path, root: dict) -> dict[str, Any]:
    """Array name → its consolidated metadata (None where the root has no consolidated copy of it): the
    arrays the consolidated copy lists and the folders holding a ``zarr.json`` (a flat store, as vaearr's are)."""
    listed = ((root.get("consolidated_metadata") or {}).get("metadata") or {})
    names: dict[str, Any] = {n: m for n, m in listed.items() if isinstance(m, dict) and m.get("node_type") == "array"}
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False) and (Path(entry.path) / "zarr.json").exists():
            names.setdefault(entry.name, None)
    return names


def _chunk_keys(meta: dict) -> tuple[tuple[int, ...], str] | None:
    """The chunk grid (chunks per axis) and key separator of an array, or None where it is not the
    regular grid with zarr v3's default keys (other layouts are not looked at)."""
    grid, keys = meta.get("chunk_grid") or {}, meta.get("chunk_key_encoding") or {}
    if grid.get("name") != "regular" or keys.get("name") != "default":
        return None
    shape, chunk = meta.get("shape"), (grid.get("configuration") or {}).get("chunk_shape")
    if not isinstance(shape, list) or not isinstance(chunk, list) or len(shape) != len(chunk) or 0 in chunk:
        return None
    return tuple(-(-int(n) // int(c)) for n, c in zip(shape, chunk)), (keys.get("configuration") or {}).get("separator", "/")


def _present(folder: Path, sep: str) -> set[tuple[int, ...]]:
    """The chunk indices whose files exist under an array's folder."""
    found: set[tuple[int, ...]] = set()
    base = folder / "c"
    if sep == "/":
        if base.is_file():
            found.add(())
        for top, _, files in os.walk(base):
            rel = os.path.relpath(top, base)
            head = () if rel == "." else tuple(rel.split(os.sep))
            for f in files:
                try:
                    found.add(tuple(int(p) for p in (*head, f)))
                except ValueError:
                    continue
        return found
    for f in os.listdir(folder):
        if f.startswith("c" + sep) or f == "c":
            try:
                found.add(tuple(int(p) for p in f.split(sep)[1:]))
            except ValueError:
                continue
    return found


def _absent(folder: Path, meta: dict) -> list[tuple[int, ...]]:
    """The chunks of an array whose files are absent (sorted), or [] where the layout is not looked at."""
    layout = _chunk_keys(meta)
    if layout is None:
        return []
    grid, sep = layout
    if math.prod(grid) == 0:
        return []
    present = _present(folder, sep)
    if len(present) >= math.prod(grid):
        return []
    return sorted(set(np.ndindex(*grid)) - present) if grid else [()]


def _chunk_path(folder: Path, meta: dict, index: tuple[int, ...]) -> Path:
    sep = ((meta.get("chunk_key_encoding") or {}).get("configuration") or {}).get("separator", "/")
    return folder / sep.join(["c", *map(str, index)])


def _frame_size(head: bytes) -> int | None:
    """The decoded size a zstd frame's header declares (None: not declared, or no zstd frame)."""
    if len(head) < 6 or head[:4] != b"\x28\xb5\x2f\xfd":
        return None
    fhd = head[4]
    single, did, fcs = (fhd >> 5) & 1, fhd & 3, fhd >> 6
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[did]
    width = (1 if single else 0, 2, 4, 8)[fcs]
    if width == 0 or len(head) < pos + width:
        return None
    size = int.from_bytes(head[pos:pos + width], "little")
    return size + 256 if width == 2 else size


def _size_problem(folder: Path, meta: dict) -> str | None:
    """Whether the first chunk of an array written with vaearr's codecs decodes to another size than its
    data type and chunk shape make (the data type was changed in the metadata)."""
    if tuple(c.get("name") for c in meta.get("codecs") or []) != VAEARR_CODECS:
        return None
    try:
        itemsize = np.dtype(meta.get("data_type")).itemsize
    except TypeError:  # strings and other extension types: sizes vary
        return None
    chunk = ((meta.get("chunk_grid") or {}).get("configuration") or {}).get("chunk_shape") or []
    index = (0,) * len(chunk)
    try:
        with open(_chunk_path(folder, meta, index), "rb") as f:
            declared = _frame_size(f.read(18))
    except OSError:
        return None
    expected = math.prod(chunk) * itemsize
    if declared is None or declared == expected:
        return None
    return (f"chunk {index} holds {declared} bytes, not the {expected} of its shape {tuple(chunk)} in "
            f"{meta.get('data_type')} (its data type was changed?)")


def _differences(own: dict, copy: dict) -> str:
    keys = sorted(k for k in set(own) | set(copy) if own.get(k) != copy.get(k))
    shown = ", ".join(f"{k} {json.dumps(copy.get(k))[:40]} there, {json.dumps(own.get(k))[:40]} here"
                      if k != "attributes" else "attributes" for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def _problem(path: Path, name: str, consolidated: Any, whole: bool) -> tuple[str, str] | None:
    """``(kind, problem)`` of array ``name``: kind ``metadata``, ``chunks`` (absent) or ``size``; None: whole."""
    folder = path / name
    own, problem = _json(folder / "zarr.json")
    if problem is not None:
        return "metadata", problem
    if not isinstance(own, dict) or own.get("node_type") != "array":
        return "metadata", f"its metadata file {folder / 'zarr.json'} is not a zarr array's"
    if consolidated is not None and own != consolidated:
        return "metadata", (f"its metadata {folder / 'zarr.json'} does not match the store's consolidated copy in "
                            f"{path / 'zarr.json'} ({_differences(own, consolidated)})")
    if whole:
        absent = _absent(folder, own)
        if absent:
            named = ", ".join(map(str, absent[:NAMED_CHUNKS])) + (f" and {len(absent) - NAMED_CHUNKS} more"
                                                                 if len(absent) > NAMED_CHUNKS else "")
            n = math.prod(_chunk_keys(own)[0])  # type: ignore[index]
            return "chunks", (f"{len(absent)} of {n} chunk files absent ({'chunk' if len(absent) == 1 else 'chunks'} "
                              f"{named}; vaearr writes every chunk, zarr would read "
                              f"{'it' if len(absent) == 1 else 'them'} as the fill value)")
    size = _size_problem(folder, own)
    return None if size is None else ("size", size)


def find_damage(store: str | os.PathLike, names: Iterable[str] | None = None, *,
                kinds: Iterable[str] = KINDS) -> dict[str, str]:
    """Array name → what is damaged, for the arrays of the local zarr v3 store ``store`` (all, or ``names``).

    Damage is (``kinds``): ``metadata``, an array's ``zarr.json`` missing or not parsing, or differing from
    the consolidated copy the root holds (which xarray reads); ``chunks``, in a store vaearr made (every
    chunk written), a chunk file that is absent; ``size``, a chunk whose zstd frame decodes to another size
    than the data type and chunk shape make. Stores of other programs (zarr v2, or no vaearr provenance)
    are looked at for metadata and sizes only.

    Raises
    ------
    StoreError
        The root metadata does not parse (nothing of the store can be trusted).

    Examples
    --------
    >>> import numpy as np, tempfile, xarray as xr
    >>> from vaearr.store import write_variable
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> write_variable(path, "a", xr.DataArray(np.zeros((2, 3)), dims=("y", "x")))
    >>> find_damage(path)
    {}
    >>> os.remove(os.path.join(path, "a", "c", "0", "0"))
    >>> find_damage(path)["a"]
    '1 of 1 chunk files absent (chunk (0, 0); vaearr writes every chunk, zarr would read it as the fill value)'
    """
    path = Path(os.fspath(store))
    if not (path / "zarr.json").is_file():
        return {}  # zarr v2 (another program's): nothing vaearr promised about its chunks
    root = root_metadata(path)
    arrays = _array_names(path, root)
    whole = _made_by_vaearr(root, arrays)
    wanted = arrays if names is None else {n: arrays[n] for n in names if n in arrays}
    found = {}
    for name, consolidated in wanted.items():
        problem = _problem(path, name, consolidated, whole)
        if problem is not None and problem[0] in kinds:
            found[name] = problem[1]
    return found


def _refuse(block: np.ndarray, *, error: DamagedError) -> np.ndarray:
    raise error


def refusing(da: Any, store: str | os.PathLike, problem: str) -> Any:
    """``da`` (a variable of a Dataset) with data that raises :class:`DamagedError` when read: its shape,
    dims, dtype, attrs and encoding stay, so a store still lists it, but nothing can be computed from it."""
    error = DamagedError(store, str(da.name), problem)
    chunks = da.chunks or tuple(da.encoding.get("chunks") or da.shape)
    stand_in = dask.array.empty(da.shape, chunks=chunks, dtype=da.dtype)
    out = da.copy(data=stand_in.map_blocks(functools.partial(_refuse, error=error), dtype=da.dtype,
                                           meta=np.empty((0,) * da.ndim, da.dtype)))
    out.encoding = {**da.encoding, DAMAGE: problem}
    return out


def damaged(ds: Any) -> dict[str, str]:
    """Variable → problem, for the variables of ``ds`` (from :func:`vaearr.store.open_store`) found damaged."""
    return {str(n): v.encoding[DAMAGE] for n, v in ds.variables.items() if DAMAGE in v.encoding}


def require_whole(ds: Any, names: Iterable[str | None], store: str | os.PathLike) -> None:
    """Refuse, before any work, the variables of ``names`` (None and names ``ds`` lacks are passed over) that
    :func:`vaearr.store.open_store` found damaged, or (a local store) whose chunk files are not all there.

    Raises
    ------
    DamagedError
        The first damaged one, naming it and what is wrong.
    """
    wanted = [str(n) for n in names if n is not None and str(n) in ds.variables]
    bad = damaged(ds)
    if not is_url(store):
        bad = {**find_damage(local_path(store), [n for n in wanted if n not in bad], kinds=("chunks",)), **bad}
    for name in wanted:
        if name in bad:
            raise DamagedError(store, name, bad[name])


def source_checksum(store: str | os.PathLike, name: str) -> str:
    """A checksum of what array ``name`` of the local store holds, for a derived variable to record what it was
    made from: SHA-256 over its shape, data type, chunk grid and codecs and over each chunk file's name and
    last 4 bytes (vaearr's chunks end with the crc32c of their bytes, so a chunk rewritten, lost or changed
    changes it). Costs one small read per chunk file, no decoding.

    Examples
    --------
    >>> import numpy as np, tempfile, xarray as xr
    >>> from vaearr.store import write_variable
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> write_variable(path, "a", xr.DataArray(np.zeros((2, 3)), dims=("y", "x")))
    >>> before = source_checksum(path, "a")
    >>> write_variable(path, "a", xr.DataArray(np.ones((2, 3)), dims=("y", "x")), overwrite=True)
    >>> source_checksum(path, "a") == before
    False
    """
    if is_url(store):
        return _store_checksum(store, name)
    folder = local_path(store) / name
    v2 = not (folder / "zarr.json").exists() and (folder / ".zarray").exists()  # a store another program wrote
    meta, problem = _json(folder / (".zarray" if v2 else "zarr.json"))
    if problem is not None or not isinstance(meta, dict):
        raise DamagedError(store, name, problem or "its metadata is not a zarr array's")
    h = hashlib.sha256(json.dumps({k: meta.get(k) for k in ("shape", "data_type", "dtype", "chunk_grid", "chunks",
                                                            "codecs", "compressor")}, sort_keys=True).encode())
    for top, dirs, files in os.walk(folder if v2 else folder / "c"):
        dirs.sort()
        for f in sorted(files):
            if f in (".zarray", ".zattrs"):
                continue
            with open(os.path.join(top, f), "rb") as chunk:
                size = os.fstat(chunk.fileno()).st_size
                chunk.seek(max(0, size - 4))
                h.update(os.path.relpath(os.path.join(top, f), folder).encode() + b"\0" + chunk.read(4))
    return h.hexdigest()


def _store_checksum(url: str | os.PathLike, name: str) -> str:
    """:func:`source_checksum` of an array of an icechunk repository (``s3://``), through zarr's store API."""
    zstore = remote.read_session(url).store
    prototype = default_buffer_prototype()

    async def collect() -> tuple[Any, list[tuple[str, bytes]]]:
        meta = await zstore.get(f"{name}/zarr.json", prototype)
        # icechunk lists the prefixes of groups and arrays only: the array's, then its chunk keys
        keys = sorted([k async for k in zstore.list_prefix(f"{name}/") if k.startswith(f"{name}/c")])
        tails = [await zstore.get(k, prototype, byte_range=SuffixByteRequest(4)) for k in keys]
        return meta, [(k, b.to_bytes()) for k, b in zip(keys, tails) if b is not None]

    meta, tails = zarr_internals.run(collect())
    if meta is None:
        raise DamagedError(url, name, "its metadata is missing")
    meta = json.loads(meta.to_bytes())
    h = hashlib.sha256(json.dumps({k: meta.get(k) for k in ("shape", "data_type", "chunk_grid", "codecs")},
                                  sort_keys=True).encode())
    for key, tail in tails:
        h.update(key[len(name) + 1:].encode() + b"\0" + tail)
    return h.hexdigest()
