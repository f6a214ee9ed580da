"""What a training starts from: the model's config, the run opened or created (preprocessing fitted, window resolved),
and the lines said about its window and threads."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaearr.models import REGISTRY, config_from_dict
from vaearr.maps.patterns.background import static_background
from vaearr.preprocess import Preprocess, PreprocessOptions, averaged_variable, fit_neighbours
from vaearr.batches import DataSpec
from vaearr.run import Run, fit_preprocess
from vaearr.options import parse_window
from vaearr.train.checks import absolute, check_preview_slices, resume_point
from vaearr.train.config import TrainConfig, TrainingError
from vaearr.train.window import check_window, describe_check, resolve_window, save_window, window_data
from vaearr.train.loaders import split_choices
from vaearr.train.resolve import preprocess_choices, resolved_config


def model_config(cfg: TrainConfig, preprocess: Preprocess) -> dict[str, Any]:
    """The model config as a dict: the family's own fields filled from the train options and the
    run's preprocessing (its output shape, and its range: standardised inputs get ``"standardized"``)."""
    if cfg.model not in REGISTRY:
        raise TrainingError(f"unknown model '{cfg.model}'; known: {', '.join(sorted(REGISTRY))}")
    fields = {f.name for f in dataclasses.fields(REGISTRY[cfg.model][0])}
    d: dict[str, Any] = {"name": cfg.model, "input_shape": preprocess.input_shape}
    if "latent_dim" in fields:
        d["latent_dim"] = cfg.latent_dim
    if "data_range" in fields:
        rng = preprocess.output_range
        d["data_range"] = "standardized" if rng is None else "[-1,1]" if rng[0] < 0 else "[0,1]"
    unknown = set(cfg.model_options) - fields
    if unknown:
        raise TrainingError(f"model '{cfg.model}' has no option(s) {', '.join(sorted(unknown))}; "
                            f"it has: {', '.join(sorted(fields))}")
    return {**d, **cfg.model_options}


def open_or_create_run(cfg: TrainConfig, *, resume: bool, write: bool,
                       report: Callable[[str], Any] | None = None) -> tuple[Run, TrainConfig, Path | None]:
    """The run to train: the one in ``cfg.run`` with its saved options (``resume``), or a new one.

    A new run's preprocessing is fitted on its store here; ``write`` saves the run folder
    (rank 0 of a distributed run; the others compute the same and write nothing). The run
    records its store and folder as absolute paths (URLs as given), so it resumes from any
    directory; a resume refuses another store than the recorded one, and a run stopped before
    its first checkpoint starts again from scratch (see :func:`~vaearr.train.checks.resume_point`).
    """
    request = parse_window(cfg.window)  # once: one line for a bad `window`, before anything is read or written
    if resume:
        run, saved, last = resume_point(cfg, report=report)
        if last is not None:
            return run, saved, last[0]
        cfg, request = saved, parse_window(saved.window)  # starts again with the options it recorded
    store, folder = absolute(cfg.store), absolute(cfg.run)
    data = DataSpec.resolve(store, cfg.var, sample_dims=cfg.sample_dims, feature_dims=cfg.feature_dims, mask=cfg.mask)
    choices = preprocess_choices(cfg, data)
    options = PreprocessOptions.of(cfg, **choices)
    options.check(data.store)
    t0 = time.perf_counter()
    # the neighbour average is fitted once, and its derived variable written by the command, before the fit
    neighbours = fit_neighbours(data.store, data.var, options, mask=data.mask, sample_dims=data.sample_dims,
                                feature_dims=data.feature_dims)
    fitted = time.perf_counter()
    # one line for a bad window, before anything is written
    window = resolve_window(request, cfg, data, neighbours, average_neighbours=options.average_neighbours)
    train_data, mean_pattern = data, None
    if window is not None and not window.whole:
        # the window's patterns beside the run: the store is not written; the background is the whole map's
        train_data = window_data(folder, data, window, neighbours, write=write)
        if options.subtract_background and not options.background:
            mean_pattern = neighbours.background if neighbours is not None and neighbours.background is not None \
                else static_background(data.store, data.var, data.sample_dims, data.mask, feature_dims=data.feature_dims)
    elif write and neighbours is not None:
        averaged_variable(data.store, data.var, neighbours, mask=data.mask, sample_dims=data.sample_dims)
    if window is not None:
        window.info["seconds"] = {"fit_similarity": round(fitted - t0, 2),
                                  "window_patterns": round(time.perf_counter() - fitted, 2)}
    preprocess = fit_preprocess(train_data, options, neighbours, mean_pattern=mean_pattern)
    check_preview_slices(cfg.preview_slices, cfg.patch or preprocess.input_shape[1:])
    split = split_choices(cfg, train_data, preprocess.source_variable(data.var))
    cfg = resolved_config(cfg, choices=choices, window=window, split=split)  # what the run records and trains with
    model = config_from_dict(model_config(cfg, preprocess)).to_dict()
    run = Run(cfg.run, data=data, train=dataclasses.asdict(cfg), model=model, preprocess=preprocess)
    if write:
        run.save()
        if window is not None:
            save_window(cfg.run, window)
    return run, cfg, None


def threads_note(history: list[dict]) -> str:
    """The line a resume says when it trains with another thread count than the epochs before it (empty
    otherwise, and for a run from before the history recorded it)."""
    before = history[-1].get("threads") if history else None
    now = torch.get_num_threads()
    if before is None or int(before) == now:
        return ""
    n = len(history)
    return (f"threads: this resume trains with {now}, the {n} epoch{'s' if n != 1 else ''} before it with {before}: from here "
            f"its roundings, and so its weights, differ from an uninterrupted run's (`threads={before}` continues "
            "bit for bit)")


def describe_window(window: Any) -> list[str]:
    """The lines ``vaearr train`` prints about the training window of a run (none when it has none)."""
    if window is None:
        return []
    lines = [f"window: {window.describe()}"]
    if window.info.get("default"):
        lines.append(f"window: {window.info['default']}")
    return lines


def check_and_save_window(run: Any, window: Any, *, device: torch.device, seed: int) -> str:
    """Check the trained model's best checkpoint outside its window, keep the check with the window and
    return the line that says what it found."""
    window.check = check_window(run, run.model("best", device=device), window, device=device, seed=seed)
    save_window(run.path, window)
    return describe_check(window.check)
