"""Errors a user sees as one line: the file and what is wrong with it."""

from __future__ import annotations

import importlib
import os

from vaearr.numba_cache import guard_gufunc_cache


class VaearrError(Exception):
    """Base class for errors vaearr reports to users as a single line."""


class InputError(VaearrError, ValueError):
    """A file a user handed in cannot be used.

    The message always starts with the file, so the CLI can print it as one line.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class StoreError(VaearrError):
    """A store cannot be read or written as asked (exists, busy, missing variable...)."""

    def __init__(self, store: str | os.PathLike, problem: str):
        self.store = os.fspath(store)
        self.problem = problem
        super().__init__(f"{self.store}: {problem}")


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


#: packages whose cached numba gufuncs need :func:`vaearr.numba_cache.guard_gufunc_cache`
NUMBA_GUFUNC_USERS = frozenset({"kikuchipy", "orix", "pyebsdindex", "diffsims"})


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra.

    For the EBSD libraries that compile cached numba gufuncs it also applies the guard against
    numba's mismatched-wrapper crash (:mod:`vaearr.numba_cache`).
    """

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(extra, module.split(".")[0]) from exc
    if module.split(".")[0] in NUMBA_GUFUNC_USERS:
        guard_gufunc_cache()
    return mod
