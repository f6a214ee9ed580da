"""``vaearr verify``: read every chunk of every array of a store and say what is broken
(``git fsck`` / ``zpool scrub`` for a store)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import zarr

from vaearr.errors import StoreError
from vaearr.progress import bar
from vaearr.store.checked import ABSENT, ChunkError
from vaearr.store.damage import find_damage
from vaearr.store.options import VerifyOptions
from vaearr.store.store import open_group, store_exists
from vaearr.store.transaction import is_url, local_path, quiet_zarr_warnings


@dataclass
class Verification:
    """What :func:`verify` found: arrays and chunks read, and the broken ones as lines."""

    store: str
    arrays: int = 0
    chunks: int = 0
    broken: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken

    def summary(self) -> str:
        head = (f"{self.store}: {self.arrays} arrays, {self.chunks} chunks read: "
                + ("all whole" if self.ok else f"{len(self.broken)} broken"))
        return "\n".join([head, *(f"  broken: {b}" for b in self.broken), *(f"  note: {n}" for n in self.notes)])


def _arrays(group: zarr.Group, prefix: str = "") -> list[tuple[str, zarr.Array]]:
    out = []
    for name, member in sorted(group.members()):
        if isinstance(member, zarr.Group):
            out += _arrays(member, f"{prefix}{name}/")
        else:
            out.append((f"{prefix}{name}", member))
    return out


def _check_array(name: str, array: zarr.Array, found: Verification, progress: Any, damage: dict[str, str]) -> None:
    """Read each chunk of ``array``; a corrupt one, an absent one (in a store vaearr made, which writes
    every chunk) or metadata :func:`~vaearr.store.damage.find_damage` found broken is broken."""
    if name in damage:
        found.broken.append(f"variable '{name}': {damage[name]}")
    for idx in itertools.product(*(range(n) for n in array.cdata_shape)):
        try:
            array.get_block_selection(idx)
        except ChunkError as exc:
            if not (name in damage and exc.detail.startswith(ABSENT)):  # said once, for the array, below
                found.broken.append(f"variable '{name}', chunk {exc.chunk}: {exc.detail}")
        except Exception as exc:  # noqa: BLE001 - any chunk that cannot be read is what verify reports
            found.broken.append(f"variable '{name}', chunk {idx}: cannot be read ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''})")
        found.chunks += 1
        progress.update(1)
    if not any(type(c).__name__.lower().startswith("crc32c") for c in getattr(array.metadata, "codecs", ()) or ()):
        found.notes.append(f"variable '{name}': no crc32c checksum (not written by vaearr): its chunks were "
                           f"decoded, a flipped byte in them would not be seen")
    stored = array.nchunks_initialized
    if array.nchunks and stored < array.nchunks and name not in damage:  # a store of another program
        found.notes.append(f"variable '{name}': {array.nchunks - stored} of {array.nchunks} chunks absent "
                           f"(read as the fill value; the store was not made by vaearr, which writes every chunk)")


def verify(store: str | os.PathLike, *, storage_options: dict | None = None) -> Verification:
    """Read every chunk of every array of ``store`` (with a progress bar) and report what is broken:
    corrupt chunks, absent chunks (a store vaearr made holds every chunk), metadata that does not parse
    or disagrees with the consolidated copy, chunks sized for another data type.

    Examples
    --------
    >>> import numpy as np, tempfile, xarray as xr
    >>> from vaearr.store import write_variable
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> write_variable(path, "a", xr.DataArray(np.zeros((2, 3)), dims=("y", "x")))
    >>> verify(path).ok
    True
    """
    found = Verification(os.fspath(store))
    try:
        damage = {} if is_url(store) else find_damage(local_path(store))
    except StoreError as exc:  # the root metadata: nothing else can be read
        found.broken.append(exc.problem)
        return found
    with quiet_zarr_warnings():
        try:
            arrays = _arrays(open_group(store, storage_options=storage_options))
        except (OSError, ValueError, KeyError) as exc:  # no consolidated copy, and an array's metadata broken
            found.broken += [f"variable '{n}': {p}" for n, p in damage.items()] or [f"cannot be opened ({exc})"]
            return found
        found.arrays = len(arrays)
        with bar(total=sum(a.nchunks for _, a in arrays), desc="verify", unit="chunk") as progress:
            for name, array in arrays:
                _check_array(name, array, found, progress, damage)
        listed = {n for n, _ in arrays}
        found.broken += [f"variable '{n}': {p}" for n, p in damage.items() if n not in listed]
    return found


def verify_store(options: VerifyOptions) -> Verification:
    """``vaearr verify`` and :func:`vaearr.verify`: :func:`verify` of ``options.store``, refused in one line where
    no zarr store is (no ``zarr.json``) rather than reported as broken."""
    if not store_exists(options.store):
        raise StoreError(options.store, "no zarr store here (no zarr.json)")
    return verify(options.store)
