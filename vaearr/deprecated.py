"""Old module paths kept for one release after a move: each is an alias of its new module."""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType

#: The release in which the aliases go.
REMOVED_IN = "0.3"


def alias(old: str, new: str) -> ModuleType:
    """Make module ``old`` the module ``new`` (``import old`` and ``from old import x`` both work), with a warning."""
    module = importlib.import_module(new)
    warnings.warn(f"{old} moved to {new}; the old name goes in vaearr {REMOVED_IN}", DeprecationWarning, stacklevel=3)
    sys.modules[old] = module
    parent, _, child = old.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def alias_package(old: str, new: str, children: tuple[str, ...]) -> None:
    """Alias every ``old.child`` to ``new.child`` (the ``old`` package itself stays a shell)."""
    for child in children:
        alias(f"{old}.{child}", f"{new}.{child}")
