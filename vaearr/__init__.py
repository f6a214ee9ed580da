"""vaearr: VAE representations of scientific and medical images, as labeled arrays."""

from vaearr.errors import InputError, StoreBusyError, StoreError, VaearrError
from vaearr.store import open_store, write_variable, write_variables
from vaearr.version import __version__

__all__ = [
    "InputError",
    "StoreBusyError",
    "StoreError",
    "VaearrError",
    "__version__",
    "open_store",
    "write_variable",
    "write_variables",
]
