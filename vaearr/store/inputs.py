"""Inputs: the variables an ingest read from a file, which no other command may replace.

A command writes its result under a name the user gives (``--name``, ``--iq``, ``--recrystallised``…); given the name
of the map's patterns, with ``overwrite``, it would replace them with a derived map and the input would be gone. Every
variable an ingest reads from a file carries :data:`INGESTED` (:func:`vaearr.io.write.write_ingested`), and the one
write path (:func:`vaearr.store.write_variables`) lets only an ingest of that input (the file read again) replace it.
Stores written before the attr existed: a variable of the schema's input names (:data:`SCHEMA_INPUTS`) whose
``source`` attr names files, not variables of the store, is one (what an ingest wrote then).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

import xarray as xr

from vaearr.errors import StoreError
from vaearr.store.schema import AFFINE, BANDCONTRAST, ELEMENTS, IMAGES, PATTERNS, PHASE, VOLUMES, VOXEL_SIZE

#: The attr an ingested variable carries (its value says so in words).
INGESTED = "ingested"
#: Its value.
INGESTED_VALUE = "read from a file by an ingest (an input: only an ingest of it replaces it)"
#: The variables of the schema that only an ingest writes: inputs by their name in stores from before :data:`INGESTED`.
SCHEMA_INPUTS = frozenset({PATTERNS, BANDCONTRAST, ELEMENTS, PHASE, IMAGES, VOLUMES, AFFINE, VOXEL_SIZE})


def is_input(ds: xr.Dataset, name: str) -> bool:
    """Whether the data variable ``name`` of ``ds`` is an input (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> ds = xr.Dataset({"patterns": ("y", np.zeros(2), {"source": '["scan.h5"]'}), "iq": ("y", np.zeros(2)),
    ...                  "orientation": ("y", np.zeros(2), {INGESTED: INGESTED_VALUE})})
    >>> is_input(ds, "patterns"), is_input(ds, "iq"), is_input(ds, "orientation"), is_input(ds, "absent")
    (True, False, True, False)
    """
    if name not in ds.data_vars:
        return False
    if INGESTED in ds[name].attrs:
        return True
    return name in SCHEMA_INPUTS and bool(_files(ds[name])) and not any(f in ds.variables for f in _files(ds[name]))


def _files(da: xr.DataArray) -> list[str]:
    """The entries of a variable's ``source`` attr (the files an ingest read, the variables a command read)."""
    try:
        files = json.loads(da.attrs.get("source") or "[]")
    except (TypeError, ValueError):
        return []
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def _read_from(da: xr.DataArray) -> str:
    """``, read from FILE by an ingest`` where the variable's ``source`` attr names its file, else ``, what an ingest
    read``."""
    files = _files(da)
    return f", read from {files[0]} by an ingest" if files else ", what an ingest read"


def refuse_inputs(ds: xr.Dataset, names: Iterable[str | None], store: Any, *, ingest: Collection[str] = ()) -> None:
    """Raise one :class:`~vaearr.errors.StoreError` line when a write of ``names`` would replace an input.

    ``ingest``: the names this write reads in from a file itself (an ingest, the file read again: with ``overwrite``
    they replace the input); every other name must not be an input's, with or without ``overwrite``. Called by
    :func:`vaearr.store.write_variables` for every write, and by commands before their work, so that a refusal is
    quick and comes before the line on ``overwrite``.

    Examples
    --------
    >>> import numpy as np
    >>> ds = xr.Dataset({"patterns": (("y", "x"), np.zeros((2, 2)), {INGESTED: INGESTED_VALUE})})
    >>> refuse_inputs(ds, ["iq", None], "s.zarr")
    >>> refuse_inputs(ds, ["patterns"], "s.zarr")
    Traceback (most recent call last):
    ...
    vaearr.errors.StoreError: s.zarr: variable 'patterns' is an input, what an ingest read: no command replaces it, with or without `overwrite`; write the result under another name
    """
    for name in names:
        if name is not None and name not in ingest and is_input(ds, name):
            raise StoreError(store, f"variable '{name}' is an input{_read_from(ds[name])}: no command replaces it, "
                                    "with or without `overwrite`; write the result under another name")
