"""The static form of vaearr's top level (vaearr/__init__.py), for mypy and an editor: the steps (from
vaearr._steps, their typed forms) and the rest as the package exports them. Written by ``python -m tools.stubs``; do
not edit."""

from collections.abc import Mapping

from vaearr._steps import boundaries as boundaries
from vaearr._steps import decompose as decompose
from vaearr._steps import encode as encode
from vaearr._steps import export as export
from vaearr._steps import import_weights as import_weights
from vaearr._steps import index as index
from vaearr._steps import info as info
from vaearr._steps import ingest as ingest
from vaearr._steps import ingest_tables as ingest_tables
from vaearr._steps import master_pattern as master_pattern
from vaearr._steps import report as report
from vaearr._steps import roi as roi
from vaearr._steps import segment as segment
from vaearr._steps import spread as spread
from vaearr._steps import train as train
from vaearr._steps import verify as verify
from vaearr.api import open as open
from vaearr.errors import InputError as InputError
from vaearr.errors import StoreBusyError as StoreBusyError
from vaearr.errors import StoreError as StoreError
from vaearr.errors import VaearrError as VaearrError
from vaearr.io.bridge import from_crystal_map as from_crystal_map
from vaearr.io.bridge import to_crystal_map as to_crystal_map
from vaearr.io.bridge import to_ebsd as to_ebsd
from vaearr.store import open_store as open_store
from vaearr.store import write_variable as write_variable
from vaearr.store import write_variables as write_variables
from vaearr.version import __version__ as __version__

LAZY: Mapping[str, str]
STEPS: tuple[str, ...]
__all__: list[str]
