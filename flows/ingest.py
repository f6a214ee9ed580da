"""Prefect flows ingest-tables, ingest-images, ingest-idx, ingest-nifti and ingest-orientations: a source into a store, each taking the
fields of its options dataclass (:mod:`vaearr.io.options`), as ``vaearr ingest KIND`` and ``vaearr.ingest(kind=)`` do.
The ``ingest`` flow of an EBSD map is :func:`flows.pipeline.ingest`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import xarray as xr

from flows.params import options_flow
from vaearr.interface import table_composite
from vaearr.io.idx import ingest_idx
from vaearr.io.images import ingest_images
from vaearr.io.nifti import ingest_nifti
from vaearr.io.options import (
    IngestIdxOptions,
    IngestImagesOptions,
    IngestNiftiOptions,
    IngestOrientationsOptions,
    IngestTablesOptions,
    library_keywords,
)
from vaearr.io.tables import ingest_tables, tables_notes
from vaearr.io.write import check_kind
from vaearr.maps.indexing.orientations import ingest_orientation_map
from vaearr.options import build, check_declared


def _reader_flow(name: str, cls: type, kind: str, read: Callable[[Any], xr.Dataset]) -> Any:
    """The flow ``name`` taking the fields of ``cls``: the options checked, the store's kind (``images``,
    ``volumes``…) checked before anything is read, then ``read(options)``."""

    def body(**params: Any) -> dict:
        options = build(cls, params)
        check_declared(options)
        if options.store is not None:
            check_kind(options.store, kind)
        ds = read(options)
        store = options.target() if isinstance(options, IngestOrientationsOptions) else options.store
        print(f"ingested {options.src} into {store}")
        return {"store": str(store), "variables": sorted(map(str, ds.data_vars))}

    body.__doc__ = f"``vaearr ingest {name.removeprefix('ingest-')}``: its parameters are the fields of {cls.__name__}."
    return options_flow(name, cls, body)


ingest_images_flow = _reader_flow("ingest-images", IngestImagesOptions, "images", lambda o: ingest_images(
    o.src, o.store, **library_keywords(o)))
ingest_idx_flow = _reader_flow("ingest-idx", IngestIdxOptions, "images", lambda o: ingest_idx(
    o.src, o.store, **library_keywords(o)))
ingest_nifti_flow = _reader_flow("ingest-nifti", IngestNiftiOptions, "volumes", lambda o: ingest_nifti(
    list(o.src), o.store, **library_keywords(o)))
ingest_orientations_flow = _reader_flow("ingest-orientations", IngestOrientationsOptions, "ebsd-map",
                                        ingest_orientation_map)



def _ingest_tables(**params: Any) -> dict:
    """``vaearr ingest tables``: CSV maps onto a store's scan grid; its parameters are the fields of
    IngestTablesOptions."""
    options = build(IngestTablesOptions, params)
    options.check()
    check_kind(options.store, "ebsd-map")
    ds = ingest_tables(options.store, **options.tables(), derive=table_composite(options))
    for line in [f"ingested {', '.join(map(str, ds.data_vars))} into {options.store}", *tables_notes(ds)]:
        print(line)
    return {"store": str(options.store), "variables": sorted(map(str, ds.data_vars))}


ingest_tables_flow = options_flow("ingest-tables", IngestTablesOptions, _ingest_tables)

FLOWS = (ingest_tables_flow, ingest_images_flow, ingest_idx_flow, ingest_nifti_flow, ingest_orientations_flow)
