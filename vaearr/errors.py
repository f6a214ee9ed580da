"""Errors a user sees as one line: the file and what is wrong with it.

A message names an option as the keyword a Python caller passes, in backticks: ``pass `overwrite=True` to replace
it``, ``use `mask='none'` for every pixel``, ```window` needs a (y, x) map`` (:data:`KEYWORD`). A Python step and a
flow take those keywords; the command line says each as its flag (``--overwrite``, ``--mask none``, ``--window``:
:func:`vaearr.interface.in_flags`), so the library never spells a flag.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence


#: an option named in a message: ``name`` or ``name=value`` (a Python literal) in backticks
KEYWORD = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:=([^`]*))?`")


#: characters that would end or break the one line (a name or path that holds a line break, a tab, a bell)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    r"""``text`` with its control characters written as escapes, so a message that quotes what a user gave (a phase
    name with a line break) stays one line.

    Examples
    --------
    >>> one_line("phase 'a\n# b'\tc")
    "phase 'a\\n# b'\\tc"
    """
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class VaearrError(Exception):
    """Base class for errors vaearr reports to users as a single line."""


class InputError(VaearrError, ValueError):
    """A file a user handed in cannot be used.

    The message always starts with the file, so the CLI can print it as one line.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(one_line(f"{self.path}: {problem}" if self.path else problem))


class OptionError(InputError):
    """Options out of what they allow, each said by its field's name: ``k must be at least 1, got 0``.

    An interface says them in its own words: the command line names the flag (``--k must be at least 1, got 0``,
    :func:`vaearr.cli.common.flagged`); a flow's parameters and a Python step's keywords are the field names.

    Attributes
    ----------
    owner
        The options dataclass the fields are of (None: keywords of a function that has none).
    problems
        ``(field, what is wrong)`` pairs, in order: ``("k", "must be at least 1, got 0")``.
    """

    def __init__(self, owner: type | None, problems: Sequence[tuple[str, str]]):
        self.owner = owner
        self.problems = tuple(problems)
        super().__init__(None, "; ".join(f"{name} {text}" for name, text in self.problems))


class StoreError(VaearrError):
    """A store cannot be read or written as asked (exists, busy, missing variable...)."""

    def __init__(self, store: str | os.PathLike, problem: str):
        self.store = os.fspath(store)
        self.problem = problem
        super().__init__(one_line(f"{self.store}: {problem}"))


class StoreBusyError(StoreError):
    """Another process holds the store's write lock."""


class StoreConflictError(StoreError):
    """Another writer committed to an object-storage store first; this write changed nothing."""


class MissingExtraError(VaearrError, ImportError):
    """An optional extra is needed for this feature."""

    def __init__(self, extra: str, package: str):
        super().__init__(
            f"this needs the '{extra}' extra ({package} is not installed): "
            f"pip install 'vaearr[{extra}]'"
        )


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra.

    It only imports: a module that imports a package whose numba gufuncs are cached on disk (kikuchipy, orix,
    pyebsdindex, diffsims) calls :func:`vaearr.numba_cache.guard_gufunc_cache` first, where it imports it.
    """

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(extra, module.split(".")[0]) from exc
