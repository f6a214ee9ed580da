"""The ingest steps of :mod:`vaearr.api` (``vaearr.ingest``, ``vaearr.ingest_tables``), which it gives back: one
reader per kind of input (``vaearr ingest KIND``), each calling the library function its command calls.

Like :mod:`vaearr.api`, it imports the library when a step runs, so ``import vaearr`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import xarray as xr

from vaearr.api_common import QUIET, PathLike, made, say, step, written
from vaearr.errors import InputError
from vaearr.io.options import (IngestEbsdOptions, IngestIdxOptions, IngestImagesOptions, IngestNiftiOptions,
                               IngestOrientationsOptions, IngestTablesOptions, library_keywords)
from vaearr.options import from_fields
from vaearr.registry import Registry
from vaearr.store import open_store

#: ``vaearr.ingest``'s readers by the kind of input (the ``vaearr ingest KIND`` commands).
READERS: Registry[Callable[..., xr.Dataset]] = Registry("kind of input")

#: The kind of store each kind of input goes into (``vaearr.io.write.check_kind``).
STORE_KINDS = MappingProxyType({"ebsd": "ebsd-map", "orientations": "ebsd-map", "images": "images", "idx": "images", "nifti": "volumes"})


@READERS.register("ebsd")
@step(IngestEbsdOptions)
def _ingest_ebsd(src: PathLike, store: PathLike, *, quiet: bool = False, **fields: Any) -> xr.Dataset:
    """``vaearr ingest ebsd`` (:class:`~vaearr.io.options.IngestEbsdOptions`)."""
    from vaearr.io.ebsd import ingest_ebsd

    options = _ingest_options(IngestEbsdOptions, Path(src), store, fields)
    return ingest_ebsd(src, store, options, say=say(quiet), progress=not quiet)


@READERS.register("orientations")
@step(IngestOrientationsOptions)
def _ingest_orientations(src: PathLike, store: PathLike | None = None, *, quiet: bool = False, **fields: Any) -> xr.Dataset:
    """``vaearr ingest orientations`` (:class:`~vaearr.io.options.IngestOrientationsOptions`)."""
    from vaearr.maps.indexing.orientations import ingest_orientation_map

    options = _ingest_options(IngestOrientationsOptions, src, store, fields)
    return ingest_orientation_map(options, progress=not quiet)


@READERS.register("images")
@step(IngestImagesOptions)
def _ingest_images(src: PathLike, store: PathLike, *, quiet: bool = False, **fields: Any) -> xr.Dataset:
    """``vaearr ingest images`` (:class:`~vaearr.io.options.IngestImagesOptions`)."""
    from vaearr.io.images import ingest_images

    options = _ingest_options(IngestImagesOptions, src, store, fields)
    return ingest_images(src, store, **library_keywords(options), progress=not quiet)


@READERS.register("idx")
@step(IngestIdxOptions)
def _ingest_idx(src: PathLike, store: PathLike, *, quiet: bool = False, **fields: Any) -> xr.Dataset:
    """``vaearr ingest idx`` (:class:`~vaearr.io.options.IngestIdxOptions`)."""
    from vaearr.io.idx import ingest_idx

    options = _ingest_options(IngestIdxOptions, src, store, fields)
    return ingest_idx(src, store, **library_keywords(options), progress=not quiet)


@READERS.register("nifti")
@step(IngestNiftiOptions)
def _ingest_nifti(src: PathLike | Sequence[PathLike], store: PathLike, *, quiet: bool = False,
                  **fields: Any) -> xr.Dataset:
    """``vaearr ingest nifti`` (:class:`~vaearr.io.options.IngestNiftiOptions`)."""
    from vaearr.io.nifti import ingest_nifti

    options = _ingest_options(IngestNiftiOptions, src, store, fields)
    return ingest_nifti(src, store, **library_keywords(options), progress=not quiet)


def _ingest_options(cls: type, src: Any, store: PathLike | None, fields: dict[str, Any]) -> Any:
    """The options dataclass ``cls`` of an ingest step, checked (:func:`vaearr.options.from_fields`)."""
    return from_fields(cls, {"src": src, "store": None if store is None else os.fspath(store), **fields},
                       "vaearr.ingest")


@step(IngestTablesOptions, QUIET)
def ingest_tables(store: PathLike, **fields: Any) -> xr.Dataset:
    """``vaearr ingest tables``: band contrast, element, phase and weight CSVs onto ``store``'s scan grid, by
    coordinate, and with ``composite``/``composite_rgb`` an element composite
    (:class:`~vaearr.io.options.IngestTablesOptions`, :func:`vaearr.io.tables.ingest_tables`); prints what the command
    says of them (``quiet``: nothing) and returns what it wrote."""
    from vaearr.interface import table_composite
    from vaearr.io.tables import ingest_tables as read_tables
    from vaearr.io.tables import tables_notes
    from vaearr.io.write import check_kind

    quiet = fields.pop("quiet", False)
    options = made(IngestTablesOptions, store, fields, "ingest_tables")
    check_kind(options.store, "ebsd-map")
    ds = read_tables(options.store, **options.tables(), derive=table_composite(options))
    for line in [] if quiet else tables_notes(ds):
        print(line)
    return written(store, [str(v) for v in ds.data_vars])


def ingest(src: PathLike | Sequence[PathLike], store: PathLike, *, kind: str = "ebsd", quiet: bool = False,
           **kwargs: Any) -> xr.Dataset:
    """``vaearr ingest KIND``: ``src`` into ``store``; returns the store (lazy).

    ``kind``: ``ebsd`` (any pattern file kikuchipy reads, a plain HDF5 with ``dataset=``; and what a vendor file
    holds beside: :func:`vaearr.io.ebsd.ingest_ebsd`'s options), ``orientations`` (``.ang``, ``.ctf``, orix HDF5;
    with the IPF/KAM/grain maps unless ``maps=False``), ``images`` (a folder), ``idx``, ``nifti``. ``quiet``: no
    progress bars or lines.

    Examples
    --------
    >>> import kikuchipy  # doctest: +SKIP
    >>> ds = vaearr.ingest(kikuchipy.data.nickel_ebsd_small(lazy=True).metadata..., "ni.zarr")  # doctest: +SKIP
    """
    from vaearr.io.write import check_kind

    if kind not in READERS:
        raise InputError(None, f"kind must be one of {', '.join(READERS.names())}, got {kind!r}")
    check_kind(store, STORE_KINDS[kind])  # before anything is read, as the command does
    READERS[kind](src, store, quiet=quiet, **kwargs)
    return open_store(store)  # vaearr.open
