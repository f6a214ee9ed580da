"""The labeled store: an xarray Dataset kept in zarr v3, written only in transactions.

:mod:`vaearr.store.store` opens, creates and adds variables; :mod:`vaearr.store.transaction`
holds the write lock and the journal; :mod:`vaearr.store.schema` names every dim and variable.
"""

from vaearr.store.store import (
    INT_FILL,
    PROVENANCE_KEYS,
    TARGET_CHUNK_BYTES,
    default_chunks,
    delete_variable,
    describe,
    masks,
    open_store,
    store_exists,
    write_variable,
    write_variables,
)
from vaearr.store.transaction import recover, store_lock

__all__ = [
    "INT_FILL",
    "PROVENANCE_KEYS",
    "TARGET_CHUNK_BYTES",
    "default_chunks",
    "delete_variable",
    "describe",
    "masks",
    "open_store",
    "recover",
    "store_exists",
    "store_lock",
    "write_variable",
    "write_variables",
]
