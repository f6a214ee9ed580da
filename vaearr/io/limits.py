"""Bounds on what a file may make a reader allocate: its declared sizes against its real size and a stated
memory budget, checked before anything is read.

A hostile or broken file can declare far more than it holds: a ``.ang`` whose header and size disagree (or a
sparse file of NUL bytes), a CSV header of a million columns, an HDF5 dataset of 10¹² values the file has no
bytes for. Each reader asks these functions before it allocates, and refuses in one line naming the file.

The budget is :func:`memory_budget`: ``VAEARR_MEMORY_BUDGET`` (bytes, or with a unit: ``4G``, ``512M``), else half
of the machine's memory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from types import MappingProxyType

import h5py

from vaearr.errors import InputError

#: environment variable of the memory budget a reader may allocate for one file
BUDGET_VARIABLE = "VAEARR_MEMORY_BUDGET"
#: most columns a CSV table may have (a table of maps holds x, y and a few values: elements, a phase)
MAX_CSV_COLUMNS = 10_000
#: longest header line of a CSV table (characters)
MAX_HEADER_CHARS = 1 << 20
#: most bytes one point's row of a ``.ang``/``.ctf`` takes (EDAX and Oxford write about 100)
MAX_ROW_BYTES = 1024
_UNITS = MappingProxyType({"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40})


def memory_budget() -> int:
    """Bytes a reader may allocate for one file: ``VAEARR_MEMORY_BUDGET``, else half the machine's memory.

    >>> os.environ[BUDGET_VARIABLE] = "2G"; memory_budget(); del os.environ[BUDGET_VARIABLE]
    2147483648
    """
    text = os.environ.get(BUDGET_VARIABLE, "").strip().lower()
    if text:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", text)
        if m is None:
            raise InputError(None, f"{BUDGET_VARIABLE}={text!r}: give bytes, or a number with k, M, G or T")
        return int(float(m.group(1)) * _UNITS[m.group(2)])
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def shown(nbytes: float) -> str:
    """Bytes for a person: ``1.5 GB``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} B"


def check_budget(path: str | os.PathLike, nbytes: float, what: str) -> None:
    """Refuse ``path`` when reading it would take ``nbytes`` of memory, more than :func:`memory_budget`."""
    budget = memory_budget()
    if nbytes > budget:
        raise InputError(path, f"{what} would take {shown(nbytes)} of memory, more than the budget of "
                               f"{shown(budget)} ({BUDGET_VARIABLE}); nothing was read")


def check_text(path: Path, head: bytes) -> None:
    """Refuse a text file whose first bytes hold NUL bytes (a sparse or binary file under a text name)."""
    if b"\0" in head:
        raise InputError(path, "holds NUL bytes: not a text file (a sparse, cut or binary file under a text name?)")


def check_rows(path: Path, points: int, header_bytes: int, what: str) -> None:
    """Refuse a text map whose size is more than ``points`` rows can take: its header and its size disagree."""
    size = path.stat().st_size
    most = header_bytes + points * MAX_ROW_BYTES
    if size > most:
        raise InputError(path, f"holds {shown(size)}, more than the {points} points its {what} announces can take "
                               f"(at most {shown(most)}): its header and its size disagree; nothing was read")


def check_dataset(path: str | os.PathLike, dataset: Any, *, itemsize: int | None = None, whole: bool = True) -> None:
    """Refuse an HDF5 dataset that declares more than the file holds for it, or (``whole``: it is read at once,
    as ``itemsize``-byte values) more than :func:`memory_budget`.

    A contiguous dataset (no chunks, no filters) stores every byte it declares: less storage than that is a
    header that lies (the rest would read as the fill value). Compressed chunked datasets may be small.
    """
    if not isinstance(dataset, h5py.Dataset):
        return
    declared = int(dataset.size) * int(dataset.dtype.itemsize)
    name = getattr(dataset, "name", "a dataset")
    if dataset.chunks is None and not dataset.compression:
        stored = int(dataset.id.get_storage_size())
        if stored < declared and dataset.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS:
            raise InputError(path, f"dataset {name} declares {shown(declared)} ({' × '.join(map(str, dataset.shape))} "
                                   f"{dataset.dtype}) but the file holds {shown(stored)} of it: its header and its "
                                   f"size disagree; nothing was read")
    if whole:
        check_budget(path, int(dataset.size) * (itemsize or int(dataset.dtype.itemsize)), f"dataset {name}")
