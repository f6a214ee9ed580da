"""vaearr: VAE representations of scientific and medical images, as labeled arrays.

The steps of an experiment are callable here, each returning what it wrote (:mod:`vaearr.api`)::

    ds = vaearr.ingest("map.h5", "stores/ni.zarr")        # the store, as a lazy xarray Dataset
    run = vaearr.train("stores/ni.zarr", "runs/ni", epochs=20)
    vaearr.encode("stores/ni.zarr", run)                   # latent, latent_recon_error
    vaearr.segment("stores/ni.zarr", var="latent")
    ds = vaearr.open("stores/ni.zarr")
    ds.vaearr.map("latent", dim=0)                         # drawn as the report draws maps
    ds.vaearr.report("out/report")

``import vaearr`` registers the ``ds.vaearr``/``da.vaearr`` accessors and stays light: a step imports what it
needs when it runs (``vaearr.train`` and ``vaearr.encode`` are functions, as the other steps). The bridge to orix and
kikuchipy (:func:`to_crystal_map`, :func:`to_ebsd`, :func:`from_crystal_map`, from :mod:`vaearr.io.bridge`) is
imported on first use too.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

# `vaearr.train` and `vaearr.encode` are the steps (functions of vaearr.api) and also the names of the package
# vaearr.train and of the module vaearr.encode (vaearr.encoding's old name). Importing a submodule sets its parent's
# attribute, so both are imported here first (light: no torch) and the steps bound after them; a later import of
# either finds it in sys.modules and leaves the steps alone (tests/cli/test_api.py)
import vaearr.encode  # noqa: F401
import vaearr.train  # noqa: F401
from vaearr.api import (
    boundaries,
    decompose,
    encode,
    export,
    import_weights,
    index,
    info,
    ingest,
    ingest_tables,
    master_pattern,
    open,
    report,
    roi,
    segment,
    spread,
    train,
    verify,
)
from vaearr.errors import InputError, StoreBusyError, StoreError, VaearrError
from vaearr.store import open_store, write_variable, write_variables
from vaearr.version import __version__

if TYPE_CHECKING:  # their types for type checkers; at run time __getattr__ imports them on first use
    from vaearr.io.bridge import from_crystal_map, to_crystal_map, to_ebsd

#: Names imported on first use: name → module.
LAZY = MappingProxyType({"to_crystal_map": "vaearr.io.bridge", "to_ebsd": "vaearr.io.bridge",
                         "from_crystal_map": "vaearr.io.bridge"})
#: The steps at the top level, in the order of an experiment.
STEPS = ("open", "ingest", "ingest_tables", "roi", "train", "import_weights", "encode", "decompose", "boundaries",
         "index", "segment", "spread", "export", "report", "master_pattern", "info", "verify")

__all__ = [
    "InputError",
    "StoreBusyError",
    "StoreError",
    "VaearrError",
    "__version__",
    "boundaries",
    "decompose",
    "encode",
    "export",
    "from_crystal_map",
    "import_weights",
    "index",
    "info",
    "ingest",
    "ingest_tables",
    "master_pattern",
    "open",
    "open_store",
    "report",
    "roi",
    "segment",
    "spread",
    "to_crystal_map",
    "to_ebsd",
    "train",
    "verify",
    "write_variable",
    "write_variables",
]


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'vaearr' has no attribute {name!r}")
