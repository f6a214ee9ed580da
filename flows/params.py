"""A flow's parameters from an options dataclass (:mod:`vaearr.options`): a flow takes the fields the command line takes."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

from prefect import flow

from vaearr.options import FigureOptions, default_of, figure_options, options
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


def with_figures(body: Callable[..., Any]) -> Callable[..., Any]:
    """``body`` taking the fields of :class:`~vaearr.options.FigureOptions` (``format``, ``dpi``) too, as every
    command that writes figures does: checked first, then in force while it runs (:func:`vaearr.options.figure_options`;
    a task that draws on a dask worker is handed them, see ``flows/analysis.py``)."""
    names = [f.name for f, _ in options(FigureOptions)]
    own = [p for p in inspect.signature(body).parameters.values() if p.name not in names]

    def run(*args: Any, **kwargs: Any) -> Any:
        figure = FigureOptions(**{k: kwargs.pop(k) for k in names if k in kwargs}).check()
        with figure_options(figure):
            return body(*args, **kwargs)

    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(run, attr, getattr(body, attr))
    keywords = [p for p in own if p.kind is inspect.Parameter.VAR_KEYWORD]
    run.__signature__ = inspect.Signature([*(p for p in own if p not in keywords), *flow_parameters(FigureOptions),  # type: ignore[attr-defined]
                                           *keywords])
    return run


def options_flow(name: str, cls: type, body: Callable[..., Any], *, extra: Sequence[inspect.Parameter] = (),
                 figures: bool = False, **kwargs: Any) -> Any:
    """A Prefect flow named ``name`` whose parameters are the fields of ``cls`` (and ``extra``, and with ``figures``
    those of :class:`~vaearr.options.FigureOptions`: :func:`with_figures`), running ``body(**params)`` on one
    snapshot of the stores (:func:`pinned`)."""
    if figures:
        body = with_figures(body)
        extra = [*extra, *flow_parameters(FigureOptions)]
    body.__signature__ = inspect.Signature(flow_parameters(cls, extra=extra))  # type: ignore[attr-defined]
    return flow(name=name, log_prints=True, **kwargs)(pinned(body))


def keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    """A keyword parameter a flow adds to its options' (``scheduler``, ``figures``...)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
