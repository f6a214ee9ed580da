"""Open, create and add variables to a vaearr store (an xarray Dataset kept in zarr v3).

Every write goes through :func:`write_variables`, which gives four promises:

* every array (data and coordinates) is written with zstd + crc32c, so a flipped byte in a
  chunk raises on read instead of returning a wrong number;
* a variable is NaN (floats), ``False`` (bools) or a documented integer fill outside the mask
  it was computed on, and carries provenance attrs (``source``, ``mask``, ``run``, ``config``,
  ``created``, ``vaearr_version``);
* one writer at a time: a second concurrent writer gets :class:`~vaearr.errors.StoreBusyError`;
* a write is a transaction. New arrays are written into a staging store beside the target
  (``<store>.vaearr-tx``), then swapped in, one atomic rename each, and the consolidated metadata
  rewritten (a write that resizes an array or replaces a coordinate switches the whole store,
  built beside it, in one rename): readers and a writer killed at any moment see every variable
  old or new, never emptied; a journal lets the next writer roll back a killed write, so a failed
  or killed command leaves the store byte-identical to before.

Local paths get all four this way. A store at an ``s3://`` (or ``memory://``) URL is an icechunk
repository (:mod:`vaearr.store.remote`): the same arrays and attrs, and the same promises kept by
icechunk's sessions (a write commits a snapshot at the end; a killed writer leaves the last
snapshot; of two concurrent writers the second gets :class:`~vaearr.errors.StoreConflictError`).
Other fsspec URLs (``gs://``, ``http://``...) holding a plain zarr store can be read, not written.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import fsspec
import xarray as xr
import zarr

from vaearr.context import context_of
from vaearr.errors import StoreError
from vaearr.files import no_loop
from vaearr.progress import dask_progress
from vaearr.store import checked, remote  # noqa: F401 - checked: corrupt chunks named on read
from vaearr.store.damage import DamagedError, damaged, find_damage, refusing
from vaearr.store.portable import ROOT_FILES, fixed_width_strings, no_dims_line, refuse_foreign, undimensioned
from vaearr.store.prepare import (  # noqa: F401 - names the package re-exports
    INT_FILL,
    TARGET_CHUNK_BYTES,
    default_chunks,
    prepare_dataset,
)
from vaearr.store.schema import no_variable
from vaearr.store.transaction import (
    commit,
    is_consolidated,
    is_url,
    local_path,
    quiet_zarr_warnings,
    recover,
    remove_array,
    settle_zarr,
    store_lock,
    tx_dir,
)

#: Attribute keys every written variable carries.
PROVENANCE_KEYS = ("source", "mask", "run", "config", "created", "vaearr_version")

#: errors of a full disk, a quota or a file-size limit
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


# --------------------------------------------------------------------------------------------
# paths, opening


def store_exists(store: str | os.PathLike, *, storage_options: dict | None = None) -> bool:
    """Whether a zarr group exists at ``store`` (a local path that is a loop of symbolic links: refused)."""
    if not is_url(store):
        no_loop(local_path(store), "the store")
        return any((local_path(store) / name).is_file() for name in ROOT_FILES)
    if remote.is_repository_url(store):
        if remote.repository(store, storage_options) is not None:
            return _has_root(remote.read_session(store, storage_options).store)
    try:
        fs, path = fsspec.core.url_to_fs(os.fspath(store), **remote.fsspec_options(store, storage_options))
    except (ImportError, ValueError) as exc:
        raise StoreError(store, f"cannot read {remote.scheme(store)}:// here ({exc}); vaearr keeps stores on "
                                f"local disks and at s3:// URLs") from None
    return any(fs.exists(f"{path.rstrip('/')}/{name}") for name in ROOT_FILES)


def _has_root(zstore: Any) -> bool:
    """Whether a zarr store holds a root group (an icechunk repository starts without one)."""
    try:
        with quiet_zarr_warnings():
            zarr.open_group(zstore, mode="r")
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.GroupNotFoundError):
        return False
    return True


def open_store(
    store: str | os.PathLike,
    *,
    chunks: Any = {},  # noqa: B006 - xarray's own default: the stored chunks
    storage_options: dict | None = None,
) -> xr.Dataset:
    """Open a store lazily as an :class:`xarray.Dataset` (dask-backed, stored chunks), ``store`` kept in
    ``ds.encoding["source"]`` (as xarray's readers keep a file's path).

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
    if remote.is_repository_url(store) and remote.repository(store, storage_options) is not None:
        with quiet_zarr_warnings():
            ds = xr.open_zarr(remote.read_session(store, storage_options).store, consolidated=False,
                              chunks=chunks, zarr_format=3)
        return _sourced(fixed_width_strings(ds), store)
    so = remote.fsspec_options(store, storage_options) if is_url(store) else None
    # zarr v2 (a store another program made) where the local folder says so; URLs: zarr finds out
    fmt = None if is_url(store) else (3 if (local_path(store) / "zarr.json").is_file() else 2)
    # damage is looked for first: a root that does not parse, or an array's metadata that does not
    # where there is no consolidated copy to read instead, would stop xarray with a bare JSON error
    # metadata and sizes only (a few small reads): absent chunks are refused as they are read (store.checked),
    # and before any work by require_whole for the variables a command reads
    found = {} if is_url(store) else find_damage(local_path(store), kinds=("metadata", "size"))
    if found and not is_consolidated(local_path(store)):
        broken = find_damage(local_path(store), found, kinds=("metadata",))
        if broken:
            raise DamagedError(store, *next(iter(broken.items())))
    try:
        with quiet_zarr_warnings():
            try:
                ds = xr.open_zarr(os.fspath(store), consolidated=True, chunks=chunks,
                                  storage_options=so, zarr_format=fmt)
            except (ValueError, KeyError) as exc:
                if undimensioned(exc):
                    raise
                # vaearr always writes consolidated metadata (but in the middle of a commit): a
                # store without it was made by another program; it is read and never written
                ds = xr.open_zarr(os.fspath(store), consolidated=False, chunks=chunks,
                                  storage_options=so, zarr_format=fmt)
    except KeyError as exc:
        if not undimensioned(exc):
            raise
        raise StoreError(store, no_dims_line(open_group(store, storage_options=storage_options))) from None
    return _sourced(_refuse_damaged(fixed_width_strings(ds), store, found), store)


def _sourced(ds: xr.Dataset, store: Any) -> xr.Dataset:
    # where it came from, as xarray's own readers keep it: ds.vaearr.report() finds the store there
    ds.encoding["source"] = os.fspath(store) if isinstance(store, os.PathLike) else str(store)
    return ds


def _refuse_damaged(ds: xr.Dataset, store: Any, found: dict[str, str]) -> xr.Dataset:
    """``ds`` with each damaged data variable standing for an array that refuses to be read (see
    :mod:`vaearr.store.damage`); a damaged coordinate labels every variable: the store is refused."""
    for name, problem in found.items():
        if name in ds.coords:
            raise DamagedError(store, name, f"{problem} (a coordinate: every variable on its dim depends on it)")
    damaged_vars = {n: refusing(ds[n], store, p) for n, p in found.items() if n in ds.data_vars}
    return ds.assign(damaged_vars) if damaged_vars else ds


def open_group(store: str | os.PathLike, *, storage_options: dict | None = None,
               snapshot: str | None = None) -> zarr.Group:
    """The store's root as a read-only :class:`zarr.Group` (for reading chunks without xarray).

    ``snapshot``: for a repository store (``s3://``), the snapshot to read (another process's
    pinned one, see :func:`vaearr.store.remote.snapshot_of`); default the one this command reads."""
    with quiet_zarr_warnings():
        if not is_url(store):
            return zarr.open_group(str(local_path(store)), mode="r",
                                   zarr_format=3 if (local_path(store) / "zarr.json").is_file() else None)
        if remote.is_repository_url(store) and remote.repository(store, storage_options) is not None:
            session = (remote.read_session(store, storage_options) if snapshot is None else
                       remote.repository(store, storage_options).readonly_session(snapshot_id=snapshot))
            return zarr.open_group(session.store, mode="r")
        return zarr.open_group(os.fspath(store), mode="r", storage_options=remote.fsspec_options(store, storage_options))


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
    inputs: Collection[str] = (),
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
    inputs
        The names of ``variables`` an ingest read from a file (:func:`vaearr.io.write.write_ingested`): they are
        marked as inputs, and only they may replace an input (:mod:`vaearr.store.inputs`).

    Raises
    ------
    StoreError
        A variable exists and ``overwrite`` is false, a variable would replace an input (with or without
        ``overwrite``), coordinates disagree, a mask is missing.
    StoreBusyError
        Another process is writing the store.
    """
    if not variables:
        raise StoreError(store, "nothing to write")
    if is_url(store):
        _write_repository(store, variables, storage_options=storage_options, dims=dims, mask=mask,
                          fill=fill, source=source, run=run, config=config, attrs=attrs,
                          group_attrs=group_attrs, overwrite=overwrite, chunks=chunks, progress=progress,
                          inputs=inputs)
        return
    command = context_of(store).command
    path = local_path(store)
    with store_lock(path):
        recover(path)
        existing = open_store(path) if store_exists(path) else None
        if existing is not None:
            refuse_foreign(existing, path)
            _refuse_spreading(path, existing, variables if overwrite else {})
        if existing is None and path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise StoreError(path, "exists and is not a vaearr store (no zarr.json); choose a new path")
        ds, encoding = prepare_dataset(
            variables, existing=existing, store=path, dims=dims, mask=mask, fill=fill,
            source=source, run=run, config=config, attrs=attrs, overwrite=overwrite, chunks=chunks, command=command,
            inputs=inputs,
        )
        try:
            _stage_and_commit(path, ds, encoding, existing is not None, group_attrs, progress)
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                raise
            raise StoreError(path, f"no room to write ({os.strerror(exc.errno)}): nothing was written, the "
                                   f"store is as it was; free some space and run the command again") from None


def _refuse_spreading(path: Any, existing: xr.Dataset, replaced: Mapping[str, Any]) -> None:
    """Refuse a write into a store an array of which (one the write does not replace) has damaged metadata:
    the commit rewrites the consolidated copy from each array's own metadata, so it would fail half-way, or
    make a changed data type or shape the store's word."""
    broken = find_damage(path, [n for n in damaged(existing) if n not in replaced], kinds=("metadata",))
    if broken:
        name, problem = next(iter(broken.items()))
        raise StoreError(path, f"variable '{name}' is damaged: {problem}; a write would make it the store's word, "
                               f"so nothing was written ('vaearr verify {path}' lists what is broken; restore the "
                               f"store from a copy, or delete or write '{name}' again first)")


def _stage_and_commit(path: Any, ds: xr.Dataset, encoding: dict, exists: bool,
                      group_attrs: Mapping[str, Any] | None, progress: bool | str) -> None:
    """Write ``ds`` into the staging area beside the store, then commit it (lock held). Whatever
    fails leaves the store as it was and no staging area behind."""
    tx = tx_dir(path)
    tx.mkdir(parents=True)
    staging = tx / "new.zarr"
    try:
        _to_zarr(ds, staging, encoding, progress)
        if not exists:
            with quiet_zarr_warnings():
                if group_attrs:
                    zarr.open_group(str(staging), mode="r+").attrs.update(dict(group_attrs))
                zarr.consolidate_metadata(str(staging))
    except BaseException:
        # nothing has touched the store yet: drop the staging copy (once no write is in flight) and re-raise
        settle_zarr()
        shutil.rmtree(tx, ignore_errors=True)
        raise
    if not exists:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():  # an empty folder the user made for it
            path.rmdir()
        os.rename(staging, path)  # the whole store appears at once
        shutil.rmtree(tx)
        return
    commit(path, staging, group_attrs)  # rolls back (and re-raises) on an error


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
        # our own pool: when a chunk write fails, dask raises at once while other threads are still
        # writing; shutting the pool down waits for them before the caller drops the staging area
        pool = ThreadPoolExecutor(dask.config.get("num_workers", None) or os.cpu_count() or 1)
        try:
            if progress:
                with dask_progress(progress if isinstance(progress, str) else "writing"):
                    delayed.compute(pool=pool)
            else:
                delayed.compute(pool=pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _writable_url(store: Any, storage_options: dict | None) -> None:
    """Refuse to write where there is no transaction (a plain zarr store on object storage, other schemes)."""
    if not remote.is_repository_url(store):
        raise StoreError(store, f"vaearr writes object storage only at s3:// URLs (kept as icechunk repositories, "
                                f"where every write is a transaction), not {remote.scheme(store)}://")
    if remote.repository(store, storage_options) is None and store_exists(store, storage_options=storage_options):
        raise StoreError(store, "holds a plain zarr store, not an icechunk repository: vaearr reads it but writes "
                                "object storage only through transactions; write to a new URL")


def _write_repository(store: Any, variables: Mapping[str, Any], *, storage_options: dict | None,
                      group_attrs: Mapping[str, Any] | None, progress: bool | str, **kw: Any) -> None:
    """``write_variables`` for an icechunk repository: one transaction, committed at the end."""
    _writable_url(store, storage_options)
    message = f"{context_of(store).command or 'write'}: {', '.join(variables)}"
    with remote.write_transaction(store, message, storage_options) as tx:
        session = tx.session
        exists = _has_root(session.store)
        with quiet_zarr_warnings():
            existing = fixed_width_strings(xr.open_zarr(session.store, consolidated=False, zarr_format=3)) \
                if exists else None
        if existing is not None:
            refuse_foreign(existing, store)
        ds, encoding = prepare_dataset(variables, existing=existing, store=store, command=context_of(store).command, **kw)
        with quiet_zarr_warnings():
            if existing is not None:
                group = zarr.open_group(session.store, mode="r+")
                for name in ds.data_vars:
                    if name in existing.variables:
                        del group[str(name)]  # its old chunks go with it, in this transaction only
            if not tx.distributed:
                _to_zarr(ds, session.store, encoding, progress, mode="a" if exists else "w")
            else:
                # on a dask cluster: metadata and in-memory arrays here, then the workers write the
                # dask arrays' chunks into forks of the session, merged before the one commit
                ds.to_zarr(session.store, mode="a" if exists else "w", zarr_format=3, consolidated=False,
                           write_empty_chunks=True, encoding=encoding, compute=False)
                lazy = [str(n) for n, v in ds.variables.items() if v.chunks is not None]
                tx.write_dask([ds[n].data for n in lazy], lazy)
            if group_attrs:
                zarr.open_group(tx.session.store, mode="r+").attrs.update(dict(group_attrs))


def delete_variable(store: str | os.PathLike, name: str, *, storage_options: dict | None = None) -> None:
    """Remove one variable from a store, as one transaction."""
    if is_url(store):
        _writable_url(store, storage_options)
        have = open_store(store, storage_options=storage_options).variables
        if name not in have:
            raise StoreError(store, no_variable(name, have))
        with remote.write_transaction(store, f"{context_of(store).command or 'delete'}: {name}", storage_options) as tx:
            with quiet_zarr_warnings():
                del zarr.open_group(tx.session.store, mode="r+")[name]
        return
    path = local_path(store)
    with store_lock(path):
        recover(path)
        ds = open_store(path)
        refuse_foreign(ds, path)
        if name not in ds.variables:
            raise StoreError(path, no_variable(name, ds.variables))
        remove_array(path, name)
