"""The context of one run of a command, made by the interface floor and passed down: no global holds it.

A :class:`Context` says what a command line (or a flow run, or a notebook step) says about its run as a whole,
beside each command's own options: the object-storage options (``--storage-option``), the command as typed (the
provenance written in the attrs of what it writes, and an icechunk commit's message), the figure options
(``--format``, ``--dpi``: :class:`~vaearr.options.FigureOptions`) and the record of the snapshot each repository
store was first read at (so every read of the run sees one snapshot and a write commits on it).

The functions that draw take the figure options as their ``figures`` argument (``figures=context.figures``).
The store layer gets the context with the store it is about, as universal_pathlib's ``UPath`` carries its
``storage_options``: the interface floor hands the library a :class:`StoreRef` (a ``str``, the store's path or
URL, holding the run's :class:`Context`) where a command names a store, and every store call the library makes
with it (``open_store``, ``write_variables``...) reads the context from it (:func:`context_of`). A plain path
(a Python caller's) reads as :data:`NO_CONTEXT`: no storage options, no command, no snapshot record.

Examples
--------
>>> ref = Context(command="vaearr segment m.zarr").store("m.zarr")
>>> ref, context_of(ref).command, context_of("m.zarr").command
('m.zarr', 'vaearr segment m.zarr', '')
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from vaearr.options import DEFAULT_FIGURES, FigureOptions


@dataclasses.dataclass(frozen=True)
class Context:
    """What one run says about itself as a whole (see the module's docstring).

    Attributes
    ----------
    storage_options
        Object-storage options of the stores the run opens (``--storage-option key=value``); a call's own
        ``storage_options`` win.
    figures
        The static files of every figure the run writes (``--format``, ``--dpi``); the command line hands them to
        the command as its ``figure_options`` (checked first), which passes them on as ``figures``.
    command
        The command as typed (``vaearr segment m.zarr``), with credentials hidden: written as the ``command`` attr
        of every variable the run writes and in its commits' messages; empty for a library call.
    snapshots
        URL → the snapshot of a repository store the run read first (filled as it reads; None: every read sees the
        branch's tip). :meth:`reading` gives a context that keeps one.
    opened
        What the run opened once and uses again (icechunk repositories, by URL and storage options): its own, as
        the snapshot record (None: each use opens again). Not sent to another process: each opens its own.
    """

    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    figures: FigureOptions = DEFAULT_FIGURES
    command: str = ""
    snapshots: dict[str, str] | None = dataclasses.field(default=None, compare=False, repr=False)
    opened: Opened | None = dataclasses.field(default=None, compare=False, repr=False)

    def reading(self) -> Context:
        """This context with a fresh snapshot record and a fresh :class:`Opened`: the reads of a run made with it see
        one snapshot per store, and open each repository once."""
        return dataclasses.replace(self, snapshots={}, opened=Opened())

    def store(self, location: str | os.PathLike) -> StoreRef:
        """``location`` (a store's path or URL) as the run names it: a :class:`StoreRef` holding this context."""
        return StoreRef(location, self)


class Opened:
    """Handles a run opened once and uses again (its repositories), by key: a run's own, never a process's. A copy in
    another process (a dask worker, a loader process) starts empty: a handle is this process's."""

    def __init__(self) -> None:
        self.handles: dict[Any, Any] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (Opened, ())


#: The context of a call that gives none (a Python caller's plain path).
NO_CONTEXT = Context()


class StoreRef(str):
    """A store's path or URL (the ``str`` itself) with the :class:`Context` of the run that names it.

    A ``str`` so that everything that takes a store's path takes it unchanged (formatting, JSON, ``os.fspath``,
    comparisons and dict keys are the path's); :func:`context_of` reads the context back. Pickles with its
    context (a dask worker, a Prefect task).
    """

    context: Context

    def __new__(cls, location: str | os.PathLike, context: Context = NO_CONTEXT) -> StoreRef:
        ref = super().__new__(cls, os.fspath(location))
        ref.context = context
        return ref

    def __reduce__(self) -> tuple[Any, ...]:
        return (StoreRef, (str(self), self.context))


def context_of(store: Any) -> Context:
    """The :class:`Context` ``store`` was named with (a :class:`StoreRef`'s), else :data:`NO_CONTEXT`."""
    return store.context if isinstance(store, StoreRef) else NO_CONTEXT


def with_context(store: Any, context: Context) -> Any:
    """``store`` as a :class:`StoreRef` of ``context`` where it is a path or URL (a ``str`` or ``os.PathLike``
    naming a store); anything else (None, an open Dataset) as it is."""
    if isinstance(store, StoreRef) or not isinstance(store, str | os.PathLike):
        return store
    return StoreRef(store, context)
