"""What keeps a store portable and tells vaearr's stores from others: string types, provenance.

Strings are written as zarr v3's variable-length ``string`` type (a registered data type with
the ``vlen-utf8`` codec) rather than zarr-python's unstable ``fixed_length_utf32``, so other
zarr v3 readers open every array; stores written before (with ``fixed_length_utf32``) still open.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import StoreError

#: the root metadata file of a zarr group: v3, and v2 (stores other programs make)
ROOT_FILES = ("zarr.json", ".zgroup")


def fixed_width_strings(ds: xr.Dataset) -> xr.Dataset:
    """String coordinates as numpy's fixed-width ``<U`` (what the rest of vaearr compares and
    indexes by), whichever way they were stored (zarr v3 ``string`` or ``fixed_length_utf32``)."""
    loose = {n: c for n, c in ds.coords.items() if c.dtype.kind == "T"}
    if not loose:
        return ds
    return ds.assign_coords({n: (c.dims, np.array(np.asarray(c.values).tolist(), dtype=str), c.attrs) for n, c in loose.items()})


def made_by_vaearr(ds: xr.Dataset) -> bool:
    """Whether vaearr wrote this store: its root has a ``kind`` or a variable carries provenance."""
    return "kind" in ds.attrs or any("vaearr_version" in v.attrs for v in ds.variables.values())


def refuse_foreign(ds: xr.Dataset, store: Any) -> None:
    """Raise :class:`~vaearr.errors.StoreError` unless :func:`made_by_vaearr` (checked before any write)."""
    if not made_by_vaearr(ds):
        raise StoreError(store, "is a zarr store vaearr did not make (no vaearr provenance in it); "
                                "vaearr writes only its own stores: give a new store path")


def undimensioned(exc: BaseException) -> bool:
    """Whether ``exc`` is xarray's refusal of an array without dimension names (zarr v3
    ``dimension_names``, zarr v2 ``_ARRAY_DIMENSIONS``)."""
    return isinstance(exc, KeyError) and any(k in str(exc) for k in ("dimension_names", "_ARRAY_DIMENSIONS"))


def no_dims_line(group: Any) -> str:
    """The line for a store whose arrays lack dimension names: which arrays, and how to add them."""
    bare = []
    for name, array in sorted(group.arrays()):
        meta = array.metadata
        dims = getattr(meta, "dimension_names", None) if meta.zarr_format == 3 else array.attrs.get("_ARRAY_DIMENSIONS")
        if not dims:
            bare.append(f"{name} {tuple(array.shape)}")
    return (f"is a zarr store vaearr did not make, and vaearr reads dims from names its arrays lack "
            f"({'; '.join(bare[:4]) or 'some arrays'}{f' and {len(bare) - 4} more' if len(bare) > 4 else ''}): add \"dimension_names\": [one name per axis, e.g. \"y\", \"x\"] "
            f"to each array's zarr.json (zarr v2: the attribute \"_ARRAY_DIMENSIONS\"), or make the store "
            f"with 'vaearr ingest'")


def portable_strings(ds: xr.Dataset) -> xr.Dataset:
    """Strings as Python ``str`` objects, which xarray writes as zarr v3's variable-length
    ``string`` type (vlen-utf8 codec) that other zarr v3 readers open; numpy's fixed-width
    ``<U`` would be written as zarr-python's unstable ``fixed_length_utf32`` extension."""
    fixed = [n for n, v in ds.variables.items() if v.dtype.kind in "UT"]
    if not fixed:
        return ds
    # loaded here: strings are labels and names (small), and xarray would load a dask array of
    # objects anyway, with a warning, to find how to store it
    as_objects = {n: ds[n].variable.copy(data=np.array(np.asarray(ds[n].values).tolist(), dtype=object))
                  for n in fixed}
    coords = {n: v for n, v in as_objects.items() if n in ds.coords}
    data = {n: v for n, v in as_objects.items() if n not in ds.coords}
    return ds.assign_coords(coords).assign(data)
