"""Turning what a caller hands to :func:`~vaearr.store.write_variables` into the dataset that is written.

Masks are applied (NaN, ``False`` or a fill outside), provenance attrs added, coordinates checked
against the store's, chunks and codecs chosen; nothing here touches the store.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from zarr.codecs import Crc32cCodec, ZstdCodec

from vaearr.errors import StoreError
from vaearr.store.inputs import INGESTED, INGESTED_VALUE, refuse_inputs
from vaearr.store.names import check_name
from vaearr.store.portable import portable_strings
from vaearr.store.provenance import config_json
from vaearr.version import __version__
from vaearr.store.schema import no_variable

#: Fill written outside the mask for integer variables (−1 is kept for "noise" in clusterings).
INT_FILL = -2
#: Target size of one chunk, in bytes, when the caller gives no chunks (see default_chunks).
TARGET_CHUNK_BYTES = 2 * 2**20


# --------------------------------------------------------------------------------------------
# codecs and chunks


def _codecs() -> list:
    return [ZstdCodec(level=3, checksum=False), Crc32cCodec()]


def default_chunks(
    shape: Sequence[int], itemsize: int, target_bytes: int = TARGET_CHUNK_BYTES
) -> tuple[int, ...]:
    """Chunks that keep trailing dims whole and split leading dims into equal parts of at most ``target_bytes``.

    The 2 MiB default keeps chunks in the 1–16 MB range for large maps while giving small
    maps enough chunks for a chunk-wise validation split and shuffle.

    Trailing dims are the features of one sample (a pattern's rows and columns), so a chunk
    holds whole samples; leading dims (the scan grid) are split. The dim that is split is cut
    into equal parts (a 600-pattern row into 2 × 300, not 582 + 18): zarr stores an edge chunk
    at full size, so a small tail chunk would cost as much to read and decode as a full one.

    Examples
    --------
    >>> default_chunks((40, 60, 60, 60), 1)
    (8, 60, 60, 60)
    >>> default_chunks((1000, 1000, 60, 60), 1)
    (1, 500, 60, 60)
    """
    chunks = list(shape)
    inner = itemsize
    for i in range(len(shape) - 1, -1, -1):
        n = max(int(shape[i]), 1)
        if inner * n <= target_bytes:
            inner *= n
            continue
        most = max(1, target_bytes // inner)  # the most that fit the target
        parts = -(-n // most)
        chunks[i] = -(-n // parts)  # as many parts, of equal size
        for j in range(i):
            chunks[j] = 1
        break
    return tuple(int(max(1, c)) for c in chunks)


# --------------------------------------------------------------------------------------------
# preparing variables


def _provenance(
    *,
    source: Sequence[str] | str,
    mask: str,
    run: str | None,
    config: Any,
    command: str,
) -> dict[str, str]:
    if isinstance(source, str):
        source = [source]
    return {
        "source": json.dumps(list(source)),
        "mask": mask,
        "run": run or "",
        "config": config_json(config),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "vaearr_version": __version__,
    } | ({"command": command} if command else {})


def _apply_mask(
    da: xr.DataArray, mask: xr.DataArray, fill: Any, store: Any, name: str
) -> tuple[xr.DataArray, Any]:
    missing = [d for d in mask.dims if d not in da.dims]
    if missing:
        raise StoreError(store, f"mask for '{name}' has dims {missing} that '{name}' lacks")
    if mask.dtype != bool:
        raise StoreError(store, f"mask for '{name}' must be boolean, got {mask.dtype}")
    kind = da.dtype.kind
    if kind == "f":
        fill = np.nan if fill is None else fill
    elif kind == "b":
        fill = False if fill is None else fill
    elif kind in "iu":
        fill = INT_FILL if fill is None else fill
        if kind == "u" and fill < 0:
            raise StoreError(store, f"'{name}' is unsigned: give a non-negative fill")
    elif fill is None:
        raise StoreError(store, f"'{name}' has dtype {da.dtype}: give a fill for outside the mask")
    out = da.where(mask, fill)
    if out.dtype != da.dtype:  # where() promotes ints to float; keep the caller's dtype
        out = out.astype(da.dtype)
    return out, fill


def _free_dims(existing: xr.Dataset, replaced: set[str]) -> set[str]:
    """Dims used only by variables that are being replaced (and by their own coordinates)."""
    free = set()
    for dim in existing.dims:
        users = {str(n) for n, v in existing.data_vars.items() if dim in v.dims}
        if users <= replaced:  # no users left (an orphan coordinate) counts too
            free.add(str(dim))
    return free


def _check_coords(existing: xr.Dataset, da: xr.DataArray, name: str, store: Any, free: frozenset[str] | set[str] = frozenset()) -> None:
    for dim in da.dims:
        if dim not in existing.dims or dim in free:
            continue
        if existing.sizes[dim] != da.sizes[dim]:
            raise StoreError(
                store,
                f"'{name}' has {da.sizes[dim]} along '{dim}' but the store has {existing.sizes[dim]}",
            )
        if dim in da.coords and dim in existing.coords:
            a = np.asarray(existing[dim].values)
            b = np.asarray(da[dim].values)
            same = (
                np.allclose(a, b, rtol=0, atol=1e-6 * max(1.0, float(np.nanmax(np.abs(a)))))
                if a.dtype.kind in "fiu" and b.dtype.kind in "fiu"
                else np.array_equal(a, b)
            )
            if not same:
                raise StoreError(store, f"'{name}' has other '{dim}' coordinates than the store")


def _as_dataarray(data: Any, name: str, dims: Sequence[str] | None, store: Any) -> xr.DataArray:
    if isinstance(data, xr.DataArray):
        return data.rename(name)
    if dims is None:
        raise StoreError(store, f"'{name}' is not a DataArray: give its dims")
    return xr.DataArray(data, dims=tuple(dims), name=name)


def prepare_dataset(
    variables: Mapping[str, Any],
    *,
    existing: xr.Dataset | None,
    store: Any,
    dims: Mapping[str, Sequence[str]] | None,
    mask: str | xr.DataArray | None,
    fill: Any,
    source: Sequence[str] | str | Mapping[str, Sequence[str]],
    run: str | None,
    config: Any,
    attrs: Mapping[str, Any] | None,
    overwrite: bool,
    chunks: Mapping[str, Sequence[int]] | None,
    command: str = "",
    inputs: Collection[str] = (),
) -> tuple[xr.Dataset, dict]:
    """The variables to write as one Dataset (masked, provenance in attrs: ``command``, the run's command line, where
    it is not empty), and their encoding.

    ``inputs``: the names an ingest reads from a file in this write; they carry the
    :data:`~vaearr.store.inputs.INGESTED` attr, and only they may replace an input (the file read again, with
    ``overwrite``): any other name of an input is refused, with or without ``overwrite`` (:mod:`vaearr.store.inputs`)."""
    mask_name = "none"
    mask_da: xr.DataArray | None = None
    if isinstance(mask, str):
        mask_name = mask
        if existing is None or mask not in existing:
            raise StoreError(store, no_variable(mask, [] if existing is None else existing.data_vars, kind="mask variable"))
        mask_da = existing[mask].load()
    elif mask is not None:
        mask_da = mask.load() if hasattr(mask, "load") else mask
        mask_name = str(getattr(mask, "name", None) or "given")

    out: dict[str, xr.DataArray] = {}
    encoding: dict[str, dict] = {}
    replaced = {n for n in variables if overwrite and existing is not None and n in existing.variables}
    # a dim whose every user is being replaced may change size (re-encoding with another latent size)
    free = _free_dims(existing, replaced) if existing is not None else set()
    for name in variables:
        check_name(name, "variable name")
    if existing is not None:  # an input is never replaced by a derived map, with or without overwrite
        refuse_inputs(existing, variables, store, ingest=inputs)
    for name, data in variables.items():
        if existing is not None and name in existing.variables and not overwrite:
            raise StoreError(store, f"variable '{name}' exists; pass `overwrite=True` to replace it")
        da = _as_dataarray(data, name, (dims or {}).get(name), store)
        if existing is not None:
            _check_coords(existing, da, name, store, free)
        var_fill = None
        if mask_da is not None:
            da, var_fill = _apply_mask(da, mask_da, fill, store, name)
        var_source = source.get(name, ()) if isinstance(source, Mapping) else source
        prov = _provenance(source=var_source, mask=mask_name, run=run, config=config, command=command)
        if var_fill is not None:
            prov["fill_outside_mask"] = "NaN" if isinstance(var_fill, float) and np.isnan(var_fill) else var_fill
        # the mark is this write's word: a map derived from an input (its attrs copied) is not one
        given = {k: v for k, v in da.attrs.items() if k != INGESTED}
        da.attrs = {**given, **(attrs or {}), **prov, **({INGESTED: INGESTED_VALUE} if name in inputs else {})}
        if da.dtype.kind == "b" and "fill_outside_mask" in da.attrs:
            da.attrs["fill_outside_mask"] = str(da.attrs["fill_outside_mask"])
        var_chunks = tuple((chunks or {}).get(name) or default_chunks(da.shape, da.dtype.itemsize))
        da = da.chunk(dict(zip(da.dims, var_chunks)))
        da.encoding = {}
        encoding[name] = {"compressors": _codecs(), "chunks": var_chunks}
        out[name] = da

    ds = portable_strings(xr.Dataset(out))
    # Coordinates the store has with the same values stay as they are (only the link from the
    # variable is rewritten); differing non-index ones are replaced under overwrite; new ones
    # are written with the data.
    links: dict[str, list[str]] = {name: [] for name in out}
    for cname in list(ds.coords):
        users = [n for n, da in out.items() if cname in da.coords and cname not in da.dims]
        if existing is not None and cname in existing.variables:
            same = _same_values(existing[cname], ds[cname])
            if not same and (cname not in ds.dims or cname in free):
                if not overwrite:
                    raise StoreError(store, f"coordinate '{cname}' differs from the store's; pass `overwrite=True` to replace it")
                encoding[cname] = {"compressors": _codecs()}
                ds[cname].encoding = {}
                continue
            ds = ds.drop_vars(cname)
            for n in users:
                links[n].append(str(cname))
        else:
            encoding[cname] = {"compressors": _codecs()}
            ds[cname].encoding = {}
    for n, kept in links.items():
        if kept:
            own = [str(c) for c in ds[n].coords if c not in ds[n].dims]
            ds[n].encoding["coordinates"] = " ".join(dict.fromkeys(own + kept))
    return ds, encoding


def _same_values(a: xr.DataArray, b: xr.DataArray) -> bool:
    if a.shape != b.shape or a.dims != b.dims:
        return False
    va, vb = np.asarray(a.values), np.asarray(b.values)
    if va.dtype.kind in "fiu" and vb.dtype.kind in "fiu":
        return bool(np.allclose(va, vb, equal_nan=True))
    return bool(np.array_equal(va.astype(str), vb.astype(str)))


