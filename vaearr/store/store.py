"""Open, create and add variables to a vaearr store (an xarray Dataset kept in zarr v3).

Every write goes through :func:`write_variables`, which gives four promises:

* every array (data and coordinates) is written with zstd + crc32c, so a flipped byte in a
  chunk raises on read instead of returning a wrong number;
* a variable is NaN (floats), ``False`` (bools) or a documented integer fill outside the mask
  it was computed on, and carries provenance attrs (``source``, ``mask``, ``run``, ``config``,
  ``created``, ``vaearr_version``);
* one writer at a time: a second concurrent writer gets :class:`~vaearr.errors.StoreBusyError`;
* a write is a transaction. New arrays are written into a staging store beside the target
  (``<store>.vaearr-tx``), then renamed in and the consolidated metadata rewritten; a journal
  lets the next writer roll back a transaction that was killed half-way, so the store is left
  byte-identical to before. Until the consolidated metadata is rewritten, ``xr.open_zarr``
  does not see the new variable.

Local paths get all four. For other fsspec URLs (``s3://``, ``memory://``...) there is no
rename and no file lock: arrays are written in place and become visible only when the
consolidated metadata is rewritten at the end.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import fsspec
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec
from zarr.storage import FsspecStore

from vaearr.errors import StoreError
from vaearr.progress import dask_progress
from vaearr.store.names import check_name
from vaearr.store.portable import fixed_width_strings, portable_strings, refuse_foreign
from vaearr.store.transaction import (
    commit,
    is_url,
    local_path,
    quiet_zarr_warnings,
    recover,
    remove_array,
    store_lock,
    tx_dir,
)
from vaearr.version import __version__

#: Fill written outside the mask for integer variables (−1 is kept for "noise" in clusterings).
INT_FILL = -2
#: Target size of one chunk, in bytes, when the caller gives no chunks (see default_chunks).
TARGET_CHUNK_BYTES = 2 * 2**20
#: Attribute keys every written variable carries.
PROVENANCE_KEYS = ("source", "mask", "run", "config", "created", "vaearr_version")
#: the command line that writes, kept in the ``command`` attr of every variable it writes; the ``vaearr``
#: command sets it (library calls and flows leave it empty, and then no attr is written)
COMMAND: contextvars.ContextVar[str] = contextvars.ContextVar("vaearr_command", default="")



# --------------------------------------------------------------------------------------------
# paths, opening


def store_exists(store: str | os.PathLike, *, storage_options: dict | None = None) -> bool:
    """Whether a zarr group exists at ``store``."""
    if not is_url(store):
        return (local_path(store) / "zarr.json").is_file()
    fs, path = fsspec.core.url_to_fs(os.fspath(store), **(storage_options or {}))
    return fs.exists(f"{path.rstrip('/')}/zarr.json")


def open_store(
    store: str | os.PathLike,
    *,
    chunks: Any = {},  # noqa: B006 - xarray's own default: the stored chunks
    storage_options: dict | None = None,
) -> xr.Dataset:
    """Open a store lazily as an :class:`xarray.Dataset` (dask-backed, stored chunks).

    Parameters
    ----------
    store
        Local path or fsspec URL of the store.
    chunks
        Passed to :func:`xarray.open_zarr`; the default keeps the stored chunks.
    storage_options
        Passed to fsspec for URLs.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> write_variable(path, "a", xr.DataArray(np.zeros((2, 3)), dims=("y", "x")))
    >>> open_store(path)["a"].shape
    (2, 3)
    """
    if not store_exists(store, storage_options=storage_options):
        raise StoreError(store, "no vaearr store here (no zarr.json); create one with 'vaearr ingest'")
    with quiet_zarr_warnings():
        try:
            ds = xr.open_zarr(os.fspath(store), consolidated=True, chunks=chunks,
                              storage_options=storage_options, zarr_format=3)
        except (ValueError, KeyError):
            # vaearr always writes consolidated metadata: a store without it was made by
            # another program; it can be read (and is refused for writing, see write_variables)
            ds = xr.open_zarr(os.fspath(store), consolidated=False, chunks=chunks,
                              storage_options=storage_options, zarr_format=3)
    return fixed_width_strings(ds)


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
) -> dict[str, str]:
    if isinstance(source, str):
        source = [source]
    if config is None:
        config_json = "{}"
    elif isinstance(config, str):
        config_json = config
    else:
        config_json = json.dumps(config, default=str, sort_keys=True)
    return {
        "source": json.dumps(list(source)),
        "mask": mask,
        "run": run or "",
        "config": config_json,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "vaearr_version": __version__,
    } | ({"command": COMMAND.get()} if COMMAND.get() else {})


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


def _check_coords(existing: xr.Dataset, da: xr.DataArray, name: str, store: Any, free: set[str] = frozenset()) -> None:
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


def _prepare_dataset(
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
) -> tuple[xr.Dataset, dict]:
    mask_name = "none"
    mask_da: xr.DataArray | None = None
    if isinstance(mask, str):
        mask_name = mask
        if existing is None or mask not in existing:
            raise StoreError(store, f"no mask variable '{mask}' in the store")
        mask_da = existing[mask].load()
    elif mask is not None:
        mask_da = mask.load() if hasattr(mask, "load") else mask
        mask_name = str(getattr(mask, "name", None) or "given")

    out: dict[str, xr.DataArray] = {}
    encoding: dict[str, dict] = {}
    replaced = {n for n in variables if overwrite and existing is not None and n in existing.variables}
    # a dim whose every user is being replaced may change size (re-encoding with another latent size)
    free = _free_dims(existing, replaced) if existing is not None else set()
    for name, data in variables.items():
        check_name(name, "variable name")
        if existing is not None and name in existing.variables and not overwrite:
            raise StoreError(store, f"variable '{name}' exists; pass overwrite=True (--overwrite) to replace it")
        da = _as_dataarray(data, name, (dims or {}).get(name), store)
        if existing is not None:
            _check_coords(existing, da, name, store, free)
        var_fill = None
        if mask_da is not None:
            da, var_fill = _apply_mask(da, mask_da, fill, store, name)
        var_source = source.get(name, ()) if isinstance(source, Mapping) else source
        prov = _provenance(source=var_source, mask=mask_name, run=run, config=config)
        if var_fill is not None:
            prov["fill_outside_mask"] = "NaN" if isinstance(var_fill, float) and np.isnan(var_fill) else var_fill
        da.attrs = {**da.attrs, **(attrs or {}), **prov}
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
                    raise StoreError(store, f"coordinate '{cname}' differs from the store's; pass overwrite=True (--overwrite) to replace it")
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


# --------------------------------------------------------------------------------------------
# writing


def write_variables(
    store: str | os.PathLike,
    variables: Mapping[str, Any],
    *,
    dims: Mapping[str, Sequence[str]] | None = None,
    mask: str | xr.DataArray | None = None,
    fill: Any = None,
    source: Sequence[str] | str | Mapping[str, Sequence[str]] = (),
    run: str | None = None,
    config: Any = None,
    attrs: Mapping[str, Any] | None = None,
    group_attrs: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    chunks: Mapping[str, Sequence[int]] | None = None,
    storage_options: dict | None = None,
    progress: bool | str = False,
) -> None:
    """Add variables to a store in one transaction, creating the store if it does not exist.

    Parameters
    ----------
    store
        Local path or fsspec URL.
    variables
        Name → :class:`xarray.DataArray` (numpy or dask backed), or a plain array with its
        dims given in ``dims``. Coordinates the store lacks are written with them; ones it has
        must match (sizes and values).
    dims
        Name → dims, for variables given as plain arrays.
    mask
        A bool variable of the store (by name) or a bool DataArray; values outside it become
        NaN (floats), ``False`` (bools) or ``fill``/:data:`INT_FILL` (integers).
    fill
        Fill outside the mask, overriding the defaults above.
    source, run, config
        Provenance: the files or variables the data came from (one list for all, or a dict
        name → list), a training-run id, the settings used (any JSON-able object). Saved as attrs with ``mask``, ``created``, ``vaearr_version``.
    attrs
        Extra attrs for every variable written.
    group_attrs
        Attrs merged into the store's root group.
    overwrite
        Replace variables that exist; without it that is an error.
    chunks
        Name → chunk shape; default :func:`default_chunks` (about 2 MiB, whole samples).
    progress
        Show a progress bar (a string sets its label).

    Raises
    ------
    StoreError
        A variable exists and ``overwrite`` is false, coordinates disagree, a mask is missing.
    StoreBusyError
        Another process is writing the store.
    """
    if not variables:
        raise StoreError(store, "nothing to write")
    if is_url(store):
        _write_remote(store, variables, storage_options=storage_options, dims=dims, mask=mask,
                      fill=fill, source=source, run=run, config=config, attrs=attrs,
                      group_attrs=group_attrs, overwrite=overwrite, chunks=chunks, progress=progress)
        return
    path = local_path(store)
    with store_lock(path):
        recover(path)
        existing = open_store(path) if store_exists(path) else None
        if existing is not None:
            refuse_foreign(existing, path)
        if existing is None and path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise StoreError(path, "exists and is not a vaearr store (no zarr.json); choose a new path")
        ds, encoding = _prepare_dataset(
            variables, existing=existing, store=path, dims=dims, mask=mask, fill=fill,
            source=source, run=run, config=config, attrs=attrs, overwrite=overwrite, chunks=chunks,
        )
        tx = tx_dir(path)
        tx.mkdir(parents=True)
        staging = tx / "new.zarr"
        try:
            _to_zarr(ds, staging, encoding, progress)
        except BaseException:
            # nothing has touched the store yet: drop the staging copy and re-raise
            shutil.rmtree(tx, ignore_errors=True)
            raise
        if existing is None:
            with quiet_zarr_warnings():
                if group_attrs:
                    zarr.open_group(str(staging), mode="r+").attrs.update(dict(group_attrs))
                zarr.consolidate_metadata(str(staging))
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():  # an empty folder the user made for it
                path.rmdir()
            os.rename(staging, path)  # the whole store appears at once
            shutil.rmtree(tx)
            return
        commit(path, staging, group_attrs)


def write_variable(
    store: str | os.PathLike,
    name: str,
    data: Any,
    mask: str | xr.DataArray | None = None,
    *,
    dims: Sequence[str] | None = None,
    **kwargs: Any,
) -> None:
    """Add one variable to a store; see :func:`write_variables` for every option.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> y = xr.DataArray(np.arange(3.0), dims="y")
    >>> roi = xr.DataArray([True, False, True], dims="y", coords={"y": [0.0, 1.0, 2.0]})
    >>> write_variable(path, "roi", roi)
    >>> write_variable(path, "v", y.assign_coords(y=[0.0, 1.0, 2.0]), mask="roi", source=["x"])
    >>> open_store(path)["v"].values
    array([ 0., nan,  2.])
    """
    write_variables(store, {name: data}, mask=mask, dims=None if dims is None else {name: dims}, **kwargs)


def _to_zarr(ds: xr.Dataset, target: Any, encoding: dict, progress: bool | str, **kw: Any) -> None:
    delayed = None
    with quiet_zarr_warnings():
        # write_empty_chunks: skipping zarr's per-chunk "all fill value?" check halves write time
        delayed = ds.to_zarr(target, mode=kw.pop("mode", "w"), zarr_format=3, consolidated=False,
                             write_empty_chunks=True,
                             encoding=encoding, compute=False, **kw)
        if progress:
            with dask_progress(progress if isinstance(progress, str) else "writing"):
                delayed.compute()
        else:
            delayed.compute()


def _remote_zarr_store(store: Any, storage_options: dict | None) -> Any:
    return FsspecStore.from_url(os.fspath(store), storage_options=storage_options or {}, read_only=False)


def _write_remote(store: Any, variables: Mapping[str, Any], *, storage_options: dict | None,
                  group_attrs: Mapping[str, Any] | None, progress: bool | str, **kw: Any) -> None:
    exists = store_exists(store, storage_options=storage_options)
    existing = open_store(store, storage_options=storage_options) if exists else None
    if existing is not None:
        refuse_foreign(existing, store)
    ds, encoding = _prepare_dataset(variables, existing=existing, store=store, **kw)
    zstore = _remote_zarr_store(store, storage_options)
    with quiet_zarr_warnings():
        if existing is not None:
            # replacing an array in place: drop it first so its old chunks cannot linger
            group = zarr.open_group(zstore, mode="r+")
            for name in ds.data_vars:
                if name in existing.variables:
                    del group[name]
        _to_zarr(ds, zstore, encoding, progress, mode="a" if exists else "w")
        if group_attrs:
            zarr.open_group(zstore, mode="r+").attrs.update(dict(group_attrs))
        zarr.consolidate_metadata(zstore)


def delete_variable(store: str | os.PathLike, name: str) -> None:
    """Remove one variable from a local store, as one transaction."""
    path = local_path(store)
    with store_lock(path):
        recover(path)
        if name not in open_store(path).variables:
            raise StoreError(path, f"no variable '{name}'")
        remove_array(path, name)


# --------------------------------------------------------------------------------------------
# describing


def masks(ds: xr.Dataset) -> list[str]:
    """Names of the boolean variables (masks) of a store."""
    return [str(n) for n, v in ds.data_vars.items() if v.dtype == bool]


def describe(store: str | os.PathLike, *, storage_options: dict | None = None) -> str:
    """A readable summary: dims, variables with dtype and chunks, masks, provenance."""
    ds = open_store(store, storage_options=storage_options)
    lines = [f"store: {os.fspath(store)}"]
    if ds.attrs:
        lines.append("attrs: " + ", ".join(f"{k}={_short(v)}" for k, v in sorted(ds.attrs.items())))
    lines.append("dims: " + ", ".join(f"{d}={n}" for d, n in ds.sizes.items()))
    lines.append("coords:")
    for name, c in ds.coords.items():
        vals = c.values
        rng = (f"{vals.min():g} .. {vals.max():g}" if vals.dtype.kind in "fiu" and vals.size
               else _short(", ".join(map(str, vals[:8])) + (", ..." if vals.size > 8 else "")))
        lines.append(f"  {name}({', '.join(map(str, c.dims))}) {c.dtype} {rng}")
    lines.append("variables:")
    mask_names = set(masks(ds))
    for name, v in ds.data_vars.items():
        chunks = v.encoding.get("chunks") or v.encoding.get("preferred_chunks")
        kind = " [mask]" if name in mask_names else ""
        lines.append(f"  {name}({', '.join(map(str, v.dims))}) {v.dtype} chunks={tuple(chunks) if chunks else '-'}{kind}")
        if name in mask_names:
            n = int(v.sum().compute())
            lines.append(f"      {n} of {v.size} True")
        if "active_units" in v.attrs and "kl_per_dim" in v.attrs:
            kl = v.attrs["kl_per_dim"]
            lines.append(f"      active units: {v.attrs['active_units']} of {len(kl)} latent dims; "
                         f"KL {sum(kl):.4g} nats (per dim: {', '.join(f'{k:.2g}' for k in kl)})")
        prov = {k: v.attrs[k] for k in PROVENANCE_KEYS if k in v.attrs and v.attrs[k] not in ("", "{}")}
        if prov:
            lines.append("      " + "; ".join(f"{k}={_short(val)}" for k, val in prov.items()))
    return "\n".join(lines)


def _short(v: Any, n: int = 80) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 3] + "..."
