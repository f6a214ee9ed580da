"""vaearr: VAE representations of scientific and medical images, as labeled arrays.

The bridge to orix and kikuchipy (:func:`to_crystal_map`, :func:`to_ebsd`, :func:`from_crystal_map`,
from :mod:`vaearr.io.bridge`) is imported on first use, so ``import vaearr`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from vaearr.errors import InputError, StoreBusyError, StoreError, VaearrError
from vaearr.store import open_store, write_variable, write_variables
from vaearr.version import __version__

#: Names imported on first use: name → module.
LAZY = {"to_crystal_map": "vaearr.io.bridge", "to_ebsd": "vaearr.io.bridge", "from_crystal_map": "vaearr.io.bridge"}

__all__ = [
    "InputError",
    "StoreBusyError",
    "StoreError",
    "VaearrError",
    "__version__",
    "from_crystal_map",
    "open_store",
    "to_crystal_map",
    "to_ebsd",
    "write_variable",
    "write_variables",
]


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'vaearr' has no attribute {name!r}")
