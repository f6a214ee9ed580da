"""A flow's parameters from an options dataclass (:mod:`vaearr.options`): a flow takes the fields the command line takes."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

from prefect import flow

from vaearr.options import default_of, options
from vaearr.store.remote import consistent_reads


def flow_parameters(cls: type, *, skip: Sequence[str] = (), extra: Sequence[inspect.Parameter] = ()) -> list[inspect.Parameter]:
    """One keyword parameter per field of ``cls`` that has an :class:`~vaearr.options.Option` (its type and
    default; but ``skip``), then ``extra``."""
    hints = typing.get_type_hints(cls)
    out = []
    for f, _ in options(cls):
        if f.name in skip:
            continue
        default = default_of(f)
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name],
                                     default=inspect.Parameter.empty if default is dataclasses.MISSING else default))
    return [*out, *extra]


def pinned(body: Callable[..., Any]) -> Callable[..., Any]:
    """``body`` reading one snapshot of every ``s3://`` store throughout, its writes committing on it, as a
    ``vaearr`` command does (:func:`vaearr.store.remote.consistent_reads`)."""

    @functools.wraps(body)
    def run(*args: Any, **kwargs: Any) -> Any:
        with consistent_reads():
            return body(*args, **kwargs)

    return run


def options_flow(name: str, cls: type, body: Callable[..., Any], *, extra: Sequence[inspect.Parameter] = (),
                 **kwargs: Any) -> Any:
    """A Prefect flow named ``name`` whose parameters are the fields of ``cls`` (and ``extra``), running
    ``body(**params)`` on one snapshot of the stores (:func:`pinned`)."""
    body.__signature__ = inspect.Signature(flow_parameters(cls, extra=extra))  # type: ignore[attr-defined]
    return flow(name=name, log_prints=True, **kwargs)(pinned(body))


def keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    """A keyword parameter a flow adds to its options' (``scheduler``, ``figures``...)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
