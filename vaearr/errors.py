"""Errors a user sees as one line: the file and what is wrong with it."""

from __future__ import annotations

import importlib
import os


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


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra.

    It only imports: a module that imports a package whose numba gufuncs are cached on disk (kikuchipy, orix,
    pyebsdindex, diffsims) calls :func:`vaearr.numba_cache.guard_gufunc_cache` first, where it imports it.
    """

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(extra, module.split(".")[0]) from exc
