"""Write ``vaearr/__init__.pyi`` and ``vaearr/_steps.pyi``, the form of ``vaearr``'s top level a type checker reads
(issue 62).

The steps' typed forms are in ``vaearr/_steps.pyi``, a module of stubs alone (nothing imports it at run time), and
``vaearr/__init__.pyi`` imports them from there as it imports the rest: ``vaearr.train`` is both the step and the
subpackage of training, and griffe (the API pages) merges a stub's *definition* over a subpackage of another kind
but leaves a stub's *import* of a name the package already has alone, so the pages keep documenting the subpackage
``vaearr.train`` (``TrainConfig``) while mypy reads ``vaearr.train`` as the step.

A step such as :func:`vaearr.segment` takes its options as ``**fields`` and declares them at run time, from its
options dataclass (its ``__signature__``: ``help()``, a notebook's completion); mypy and an editor's static
analysis read source, so the stub writes each such step out with every option, its type and its default, as
kikuchipy's ``__init__.pyi`` does. It is generated from the same signatures, never edited by hand::

    python -m tools.stubs           # write vaearr/__init__.pyi and vaearr/_steps.pyi
    python -m tools.stubs --check   # exit 1 if they are not what the signatures say (tests/cli/test_typed_surface.py)

A path a step takes is typed ``StrPath`` (``str | os.PathLike[str]``), as the steps take either.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1] / "vaearr"
STUB = PACKAGE / "__init__.pyi"
STEPS_STUB = PACKAGE / "_steps.pyi"

HEADER = '''"""The static form of vaearr's top level (vaearr/__init__.py), for mypy and an editor: the steps (from
vaearr._steps, their typed forms) and the rest as the package exports them. Written by ``python -m tools.stubs``; do
not edit."""

from collections.abc import Mapping

{steps}from vaearr.api import open as open
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
'''

STEPS_HEADER = '''"""The steps of vaearr's top level (vaearr.api) each with every option, its type and its default, for mypy and an
editor: a module of stubs alone, which ``vaearr/__init__.pyi`` imports from. Written by ``python -m tools.stubs`` from
the steps' signatures; do not edit."""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

import xarray as xr

from vaearr.crystals.master_patterns import MasterPatternResult
from vaearr.store import Verification

StrPath = str | os.PathLike[str]
'''

#: the names the stub imports from vaearr.api as they are (their own signatures are the whole story); ``ingest`` is
#: written as one overload per kind of input (:func:`ingest`)
AS_WRITTEN = ("open", "ingest")

#: the qualified names ``inspect.formatannotation`` writes → the stub's (a parameter's path: either form)
NAMES = [("str | os.PathLike", "StrPath"), ("collections.abc.", ""), ("typing.", ""),
         ("xarray.core.dataset.Dataset", "xr.Dataset"), ("pathlib.Path", "Path"),
         ("vaearr.store.verify.Verification", "Verification"),
         ("vaearr.crystals.master_patterns.MasterPatternResult", "MasterPatternResult")]


def annotation(a: Any, *, parameter: bool) -> str:
    """``a`` as the stub writes it: ``StrPath | None``, ``Sequence[int] | None``, ``xr.Dataset``."""
    text = inspect.formatannotation(a)
    for old, new in NAMES:
        text = text.replace(old, new)
    if parameter:  # a path the step is given may be text too
        text = re.sub(r"\bPath\b", "StrPath", text)
    parts = list(dict.fromkeys(p.strip() for p in text.split(" | "))) if "[" not in text else [text]
    return " | ".join(parts)


def default(value: Any) -> str:
    """A default as the stub writes it: the value where it is a plain literal, else ``...``."""
    plain = (type(None), bool, int, float, str)
    if isinstance(value, plain) or isinstance(value, tuple) and all(isinstance(v, plain) for v in value):
        return repr(value)
    return "..."


def step(name: str, fn: Any, *, kind: tuple[str, bool] | None = None) -> str:
    """The stub of one step: its signature (positional parameters, ``*``, the keywords) and its docstring; with
    ``kind`` (``(name, default)``), an overload of :func:`vaearr.ingest` for that kind of input (its ``kind=``
    keyword first, defaulted for the default kind)."""
    sig = inspect.signature(fn)
    params, star = [], False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            params.append("*")
            if kind is not None:
                params.append(f"kind: Literal[{kind[0]!r}]" + (f" = {kind[0]!r}" if kind[1] else ""))
            star = True
        text = f"{p.name}: {annotation(p.annotation, parameter=True)}"
        if kind is not None and p.name == "store":  # vaearr.ingest is always given its store
            text = "store: StrPath"
        params.append(text if p.default is p.empty or p.name == "store" else f"{text} = {default(p.default)}")
    doc = inspect.cleandoc(fn.__doc__ or "").replace('"""', "'''").replace("\n", "\n    ")
    lines = [*(["@overload"] if kind else []), f"def {name}(", *(f"    {p}," for p in params),
             f") -> {annotation(sig.return_annotation, parameter=False)}:", f'    """{doc}"""']
    return "\n".join(lines) + "\n"


def ingest() -> str:
    """:func:`vaearr.ingest`'s overloads: one per kind of input (``vaearr.api.READERS``), each with the options of
    its reader, ``ebsd`` the default."""
    from vaearr.api import READERS

    default_kind = inspect.signature(sys.modules["vaearr.api"].ingest).parameters["kind"].default
    return "".join("\n\n" + step("ingest", READERS[k], kind=(k, k == default_kind)) for k in READERS.names())


def stubs() -> dict[Path, str]:
    """The text of ``vaearr/__init__.pyi`` and ``vaearr/_steps.pyi`` from the steps as they are now."""
    import vaearr

    steps = [s for s in vaearr.STEPS if s not in AS_WRITTEN]
    typed = ["ingest", *steps]
    imports = "".join(f"from vaearr._steps import {s} as {s}\n" for s in sorted(typed))
    return {STUB: HEADER.format(steps=imports),
            STEPS_STUB: STEPS_HEADER + ingest() + "".join("\n\n" + step(s, getattr(vaearr, s)) for s in steps)}


def main(argv: list[str]) -> int:
    texts = stubs()
    if "--check" in argv:
        stale = [p for p, text in texts.items() if not p.exists() or p.read_text() != text]
        for p in stale:
            print(f"{p} is not what the steps' signatures say: run python -m tools.stubs", file=sys.stderr)
        return 1 if stale else 0
    for p, text in texts.items():
        p.write_text(text)
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
