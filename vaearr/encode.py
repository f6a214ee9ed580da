"""The old name of :mod:`vaearr.encoding` (until vaearr 0.3): ``from vaearr.encode import encode`` still works, with a
:class:`DeprecationWarning`; import it from :mod:`vaearr.encoding`.

``vaearr.encode(store, run)``, the notebook's step, is the function :func:`vaearr.api.encode`: ``vaearr``'s
attribute ``encode`` is that function, this module is ``sys.modules["vaearr.encode"]`` (``import vaearr`` loads it
first: it is light, and its import cannot replace the step).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from vaearr.errors import VaearrDeprecationWarning


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn(f"`vaearr.encode.{name}` is `vaearr.encoding.{name}` (the old module name goes in vaearr 0.3)",
                  VaearrDeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module("vaearr.encoding"), name)
