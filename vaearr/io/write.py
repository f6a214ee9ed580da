"""The one write path of every reader: checks, one store transaction, reader errors named by file."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from types import MappingProxyType

import xarray as xr
import zarr

from vaearr.errors import InputError, StoreError, VaearrError
from vaearr.io.patterns import short_error
from vaearr.store import made_by_vaearr, open_store, store_exists, write_variables
from vaearr.store.schema import SAMPLE, SUBJECT, X


def check_sample_coords(store: str | os.PathLike, ds: xr.Dataset, *, dim: str = "sample") -> None:
    """Refuse a write that lacks a per-sample coord (``label``, ``filename``) the store has.

    Differing values are replaced by the store under ``overwrite``; a coord the new input does
    not have at all would be left behind, describing samples it no longer belongs to.

    Raises
    ------
    StoreError
        The store has a coord along ``dim`` the new data lacks.
    """
    if not store_exists(store):
        return
    existing = open_store(store)
    if dim not in existing.dims:
        return
    for name, c in existing.coords.items():
        if c.dims == (dim,) and name != dim and name not in ds.coords:
            raise StoreError(store, f"has a '{name}' coord this input lacks; write to a new store")


#: A store's kind told by its dims, for a store without the ``kind`` attr (one written before it was recorded).
KIND_BY_DIM = MappingProxyType({X: "ebsd-map", SAMPLE: "images", SUBJECT: "volumes"})


def store_kind(store: str | os.PathLike) -> str | None:
    """The kind of an existing store (``ebsd-map``, ``images``, ``volumes``): its root attr, else told by its dims;
    None for a store that is absent, holds none of them, or that vaearr did not make (the write refuses that one
    in its own line)."""
    if not store_exists(store):
        return None
    ds = open_store(store)
    if not made_by_vaearr(ds):
        return None
    if ds.attrs.get("kind"):
        return str(ds.attrs["kind"])
    return next((kind for dim, kind in KIND_BY_DIM.items() if dim in ds.dims), None)


def check_kind(store: str | os.PathLike, kind: str) -> None:
    """Refuse to put ``kind`` data (images, volumes, a scan's maps) into a store of another kind, before anything
    is read or written: images beside a scan would be a store no command reads right."""
    found = store_kind(store)
    if found is not None and found != kind:
        raise StoreError(store, f"is a {found} store; {kind} data go into a store of their own (give another STORE)")


def raised_while_reading(exc: BaseException) -> bool:
    """Whether an error came out of a file reader (h5py, kikuchipy, numpy's memmap)."""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename.replace(os.sep, "/")
        if "/h5py/" in name or "/kikuchipy/" in name or name.endswith("numpy/_core/memmap.py"):
            return True
        tb = tb.tb_next
    return False


def write_ingested(
    store: str | os.PathLike,
    variables: Mapping[str, xr.DataArray],
    *,
    source: Sequence[str] | Mapping[str, Sequence[str]],
    config: Any,
    kind: str | None = None,
    group_attrs: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: str | bool = False,
    src: str | os.PathLike | None = None,
    sample_coords: xr.Dataset | None = None,
    what: str = "it",
    expects: str | None = None,
    derived: Collection[str] = (),
) -> xr.Dataset:
    """Write what a reader read (lazily) into ``store`` in one transaction; return the store.

    Parameters
    ----------
    store
        Path or URL; created if absent.
    variables
        Name → DataArray (dask-backed arrays are streamed chunk by chunk).
    source, config
        Provenance (see :func:`vaearr.store.write_variables`).
    kind
        The store's kind (``ebsd-map``, ``images``, ``volumes``), written to its root attrs
        with ``group_attrs``; a store of another kind is refused (:func:`check_kind`).
    expects
        The kind the store must be when it exists, where ``kind`` is not written (tables, orientations
        added to a scan's store).
    progress
        A progress-bar label, or False.
    src
        The file being read: an error its reader raises while the arrays stream in is reported
        as :class:`~vaearr.errors.InputError` naming it (the store is left as it was); ``what`` says what was being read.
    sample_coords
        Data whose per-sample coords must cover the store's (see :func:`check_sample_coords`).
    derived
        The names of ``variables`` made here from others (orientation maps, an element composite): every other one
        was read from the file and is written as an input, which no other command replaces
        (:mod:`vaearr.store.inputs`); these are not.
    """
    if expects or kind:
        check_kind(store, expects or kind)
    if sample_coords is not None:
        check_sample_coords(store, sample_coords)
    attrs = {**({"kind": kind} if kind else {}), **(group_attrs or {})}
    try:
        # zarr 3 tests every chunk for "all fill value" before writing it (np.array_equal, ~50 ms
        # per 4 MB uint8 chunk: more than compressing it, the bottleneck of a pattern ingest);
        # all-fill chunks are rare and small once compressed, so writing them is the cheaper side
        with zarr.config.set({"array.write_empty_chunks": True}):
            write_variables(store, variables, source=source, config=config, group_attrs=attrs or None,
                            overwrite=overwrite, progress=progress, inputs=[k for k in variables if k not in derived])
    except VaearrError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        if src is not None and raised_while_reading(exc):
            raise InputError(src, f"cannot read {what}, truncated or corrupt file? ({short_error(exc)})") from None
        raise
    return open_store(store)
