"""A flow's parameters from an options dataclass (:mod:`vaearr.options`), made by the interfaces' one adapter
(:mod:`vaearr.interface`): a flow takes the fields the command line takes."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from prefect import flow

from vaearr.context import Context, with_context
from vaearr.interface import flow_parameters, with_figure_options
from vaearr.options import FigureOptions


def pinned(body: Callable[..., Any]) -> Callable[..., Any]:
    """``body`` with its ``store`` handed down with the flow run's :class:`~vaearr.context.Context` (a
    :class:`~vaearr.context.StoreRef`; a fresh snapshot record, no command line): every read of an ``s3://`` store
    sees one snapshot throughout and its writes commit on it, as a ``vaearr`` command's do."""

    @functools.wraps(body)
    def run(*args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(body).bind(*args, **kwargs)
        if bound.arguments.get("store") is not None:
            bound.arguments["store"] = with_context(bound.arguments["store"], Context().reading())
        return body(*bound.args, **bound.kwargs)

    return run


def with_figures(body: Callable[..., Any]) -> Callable[..., Any]:
    """``body`` taking the fields of :class:`~vaearr.options.FigureOptions` (``format``, ``dpi``) too, as every
    command that writes figures does (:func:`vaearr.interface.with_figure_options`): checked first, then handed to
    ``body`` as its ``figure_options``, which it passes to every function (and task) that draws."""
    return with_figure_options(body, flow_parameters)


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
