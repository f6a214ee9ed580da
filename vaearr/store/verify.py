"""``vaearr verify``: read every chunk of every array of a store and say what is broken
(``git fsck`` / ``zpool scrub`` for a store)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import zarr

from vaearr.progress import bar
from vaearr.store.checked import ChunkError
from vaearr.store.store import open_group
from vaearr.store.transaction import quiet_zarr_warnings


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


def _check_array(name: str, array: zarr.Array, found: Verification, progress: Any) -> None:
    """Read each chunk of ``array``; a corrupt one, or an array vaearr wrote with no chunk, is broken."""
    for idx in itertools.product(*(range(n) for n in array.cdata_shape)):
        try:
            array.get_block_selection(idx)
        except ChunkError as exc:
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
    if array.nchunks and stored < array.nchunks:
        missing = f"{array.nchunks - stored} of {array.nchunks} chunks absent (read as the fill value)"
        if stored == 0 and "vaearr_version" in array.attrs:  # vaearr writes every chunk
            found.broken.append(f"variable '{name}': {missing}: an emptied array")
        else:
            found.notes.append(f"variable '{name}': {missing}")


def verify(store: str | os.PathLike, *, storage_options: dict | None = None) -> Verification:
    """Read every chunk of every array of ``store`` (with a progress bar) and report what is broken.

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
    with quiet_zarr_warnings():
        arrays = _arrays(open_group(store, storage_options=storage_options))
        found.arrays = len(arrays)
        with bar(total=sum(a.nchunks for _, a in arrays), desc="verify", unit="chunk") as progress:
            for name, array in arrays:
                _check_array(name, array, found, progress)
    return found
