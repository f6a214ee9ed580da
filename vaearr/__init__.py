"""vaearr: VAE representations of scientific and medical images, as labeled arrays."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vaearr")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from vaearr.errors import InputError, StoreBusyError, StoreError, VaearrError
from vaearr.store import open_store, write_variable, write_variables

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
