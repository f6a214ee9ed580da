"""The labeled store: an xarray Dataset kept in zarr v3, written only in transactions.

:mod:`vaearr.store.store` opens, creates and adds variables; :mod:`vaearr.store.transaction`
holds the write lock and the journal; :mod:`vaearr.store.schema` names every dim and variable;
:mod:`vaearr.store.names` checks the names users give (variables, tags in file names);
:mod:`vaearr.store.inputs` keeps what an ingest read from being replaced by any other command;
:mod:`vaearr.store.portable` keeps strings in a type every zarr v3 reader opens;
:mod:`vaearr.store.checked` names a corrupt chunk on read, :mod:`vaearr.store.damage` finds absent chunks and
broken metadata (a damaged variable is refused, never read as if whole) and :mod:`vaearr.store.verify` reads them all.
"""

from vaearr.store.checked import ChunkError
from vaearr.store.damage import DamagedError, damaged, find_damage, require_whole
from vaearr.store.inputs import INGESTED, is_input, refuse_inputs
from vaearr.store.names import check_name, is_safe_name
from vaearr.store.portable import made_by_vaearr
from vaearr.store.store import (
    INT_FILL,
    PROVENANCE_KEYS,
    TARGET_CHUNK_BYTES,
    default_chunks,
    delete_variable,
    open_group,
    open_store,
    store_exists,
    write_variable,
    write_variables,
)
from vaearr.store.summary import describe, masks
from vaearr.store.transaction import recover, store_lock
from vaearr.store.verify import Verification, verify, verify_store

__all__ = [
    "ChunkError",
    "DamagedError",
    "INGESTED",
    "INT_FILL",
    "PROVENANCE_KEYS",
    "TARGET_CHUNK_BYTES",
    "Verification",
    "check_name",
    "damaged",
    "default_chunks",
    "delete_variable",
    "describe",
    "find_damage",
    "is_input",
    "is_safe_name",
    "made_by_vaearr",
    "masks",
    "open_group",
    "open_store",
    "recover",
    "refuse_inputs",
    "require_whole",
    "store_exists",
    "store_lock",
    "verify",
    "verify_store",
    "write_variable",
    "write_variables",
]
