"""What every step of :mod:`vaearr.api` shares: its signature from its options dataclass (:func:`step`), its
options checked (:func:`made`, an old keyword renamed: :func:`renamed`) and what it returns (:func:`written`).

Like :mod:`vaearr.api`, it imports nothing heavy: ``import vaearr`` stays light.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import xarray as xr

from vaearr.options import from_fields, keyword_parameters, take_renamed
from vaearr.store import open_store

PathLike = str | os.PathLike


def written(store: PathLike, names: Sequence[str]) -> xr.Dataset:
    """The variables ``names`` of ``store``, as a step returns what it wrote."""
    ds = open_store(store)
    return ds[[n for n in names if n in ds.data_vars]]


def say(quiet: bool) -> Callable[[str], Any] | None:
    """What a step says its lines with: ``print``, or None when ``quiet``."""
    return None if quiet else print


def made(cls: type, store: PathLike, fields: dict[str, Any], step: str) -> Any:
    """The options dataclass ``cls`` of ``store`` and ``fields``, checked (:func:`vaearr.options.from_fields`; an old
    keyword taken with a notice naming the step, ``vaearr.segment``)."""
    return from_fields(cls, {"store": os.fspath(store), **fields}, f"vaearr.{step}")


def renamed(fields: dict[str, Any], step: str, **renamed: str) -> dict[str, Any]:
    """``fields`` with the old keywords of a step's parameters that are not fields (``figures="out"``) renamed, each
    with a :class:`DeprecationWarning` (:func:`vaearr.options.take_renamed`)."""
    return take_renamed(fields, renamed, f"vaearr.{step}")


F = TypeVar("F", bound=Callable[..., Any])


def step(cls: type, *extra: inspect.Parameter) -> Callable[[F], F]:
    """A step taking the fields of the options dataclass ``cls`` as keywords: its signature (``help()``, a notebook's
    completion, ``inspect.signature``) is the function's own positional parameters (``store``, ``run``…, as it
    annotates them), then the other fields of ``cls`` with their types and defaults
    (:func:`vaearr.options.keyword_parameters`), then ``extra`` and the function's own keywords (``quiet``), and its
    return annotation. ``vaearr/_steps.pyi``, the form a type checker reads, is written from these signatures
    (``python -m tools.stubs``)."""
    def bind(fn: F) -> F:
        own = inspect.signature(fn, eval_str=True)
        kind = inspect.Parameter
        first = [p for p in own.parameters.values() if p.kind is kind.POSITIONAL_OR_KEYWORD]
        last = [p for p in own.parameters.values() if p.kind is kind.KEYWORD_ONLY]
        fields = keyword_parameters(cls, skip=[p.name for p in first])
        fn.__signature__ = inspect.Signature([*first, *fields, *extra, *last],  # type: ignore[attr-defined]
                                             return_annotation=own.return_annotation)
        return fn

    return bind


#: The parameters a step adds to its options' (``out`` of segment and spread: the figure's folder; ``quiet``).
OUT = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=PathLike | None)
QUIET = inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool)
DASK = inspect.Parameter("dask", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None)
