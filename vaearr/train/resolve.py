"""A new run's options resolved once: the :class:`~vaearr.train.config.TrainConfig` it records, from what was asked
and what the data and the fits before the first epoch decided.

What was asked is never rewritten piece by piece: :func:`preprocess_choices` says what ``preprocess="auto"`` makes
of the data, the window and the split are chosen by their own functions (:func:`~vaearr.train.window.resolve_window`,
:func:`~vaearr.train.loaders.split_choices`), and :func:`resolved_config` makes of them, in one step, the frozen
config the run records and trains with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from vaearr.batches import DataSpec
from vaearr.maps.roi.window import Window
from vaearr.store.schema import PATTERN_DIMS
from vaearr.train.checks import absolute
from vaearr.train.config import TrainConfig, TrainingError


def preprocess_choices(cfg: TrainConfig, data: DataSpec) -> dict[str, Any]:
    """``preprocess="auto"`` made concrete, as the options it sets: EBSD patterns (feature dims ``py, px``) get 3 × 3
    neighbour averaging weighted by similarity, static background division and per-pattern
    standardisation, at the detector's resolution — the options that keep the most sub-grain
    structure (BENCHMARKS.md, "Preprocessing by what it keeps": 14 tuning maps, checked on
    held-out ones and on kikuchipy's real Ni scan); the conv-vae decodes with transposed
    convolutions unless told otherwise (BENCHMARKS.md, "Science: sub-grains": the same ARI as
    the upsampling decoder at 0.69× the CPU-seconds). Other data keep the options given (``average_neighbours``
    None: 0). The run records the result, so a resumed run and every reader see the same pipeline."""
    if cfg.preprocess not in ("auto", "none"):
        raise TrainingError(f"preprocess must be auto or none, got {cfg.preprocess!r}")
    if cfg.preprocess == "auto" and tuple(data.feature_dims) == PATTERN_DIMS[2:]:
        model_options = dict(cfg.model_options)
        if cfg.model == "conv-vae":
            model_options.setdefault("decoder", "transpose")  # same sub-grain ARI at 0.69× the CPU-s
        return {"subtract_background": True, "standardize": True, "model_options": model_options,
                "average_neighbours": 3 if cfg.average_neighbours is None else cfg.average_neighbours}
    return {"average_neighbours": cfg.average_neighbours or 0}


def recorded_window(window: Window | None) -> str | None:
    """What a run records of its window: the box (or tiles) it trains on, ``"all"`` for the whole map chosen, None
    without one."""
    if window is None:
        return None
    return "all" if window.whole else window.text


def resolved_config(cfg: TrainConfig, *, choices: Mapping[str, Any], window: Window | None,
                    split: Mapping[str, Any]) -> TrainConfig:
    """The config a new run records and trains with, resolved once from what was asked (``cfg``): the store and run
    absolute (URLs as given: :func:`~vaearr.train.checks.absolute`), ``preprocess``'s ``choices``
    (:func:`preprocess_choices`), the ``window`` chosen (:func:`recorded_window`) and the ``split``
    (``split_by`` and ``batch_size``: :func:`~vaearr.train.loaders.split_choices`).

    Examples
    --------
    >>> cfg = resolved_config(TrainConfig(store="s.zarr", run="r", window="auto", batch_size=64),
    ...                       choices={"average_neighbours": 0}, window=None, split={"split_by": "chunk", "batch_size": 50})
    >>> cfg.window, cfg.split_by, cfg.batch_size, cfg.run.endswith("r") and cfg.run != "r"
    (None, 'chunk', 50, True)
    >>> cfg.batch_size = 8
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'batch_size'
    """
    return dataclasses.replace(cfg, store=absolute(cfg.store), run=absolute(cfg.run), window=recorded_window(window),
                               **choices, **split)
