"""Checks of the training options and of a resume, before anything is written: one clear line each."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from vaearr.errors import InputError, VaearrWarning
from vaearr.options import check_declared
from vaearr.run import Run, RunError
from vaearr.train.config import TrainConfig, TrainingError, check_schedule_options


def check_options(cfg: TrainConfig) -> None:
    """Raise :class:`TrainingError` for the first option out of the range its field declares
    (:func:`~vaearr.options.check_declared`), then for the schedule's options.

    Examples
    --------
    >>> check_options(TrainConfig(store="s.zarr", run="r", epochs=0))
    Traceback (most recent call last):
    ...
    vaearr.train.config.TrainingError: epochs must be at least 1, got 0
    """
    try:
        check_declared(cfg)
    except InputError as exc:
        raise TrainingError(str(exc)) from None
    check_schedule_options(cfg)


def check_preview_slices(slices: Sequence[int] | None, shape: Sequence[int]) -> None:
    """``--preview-slices z,y,x`` inside the (z, y, x) ``shape`` of what the previews show (a training
    batch's volume or patch); one clear line for 2D data or an index outside it.

    Examples
    --------
    >>> check_preview_slices((3, 0, 7), (8, 8, 8))
    >>> check_preview_slices((3, 0, 8), (8, 8, 8))
    Traceback (most recent call last):
    ...
    vaearr.train.config.TrainingError: `preview_slices` out of range for volumes of 8×8×8 (z×y×x): x=8 (0..7)
    """
    if slices is None:
        return
    if len(shape) != 3:
        raise TrainingError(f"`preview_slices` is for volumes; these samples are {'×'.join(map(str, shape))}")
    bad = [f"{axis}={i} (0..{n - 1})" for axis, i, n in zip("zyx", slices, shape, strict=True) if not 0 <= i < n]
    if bad:
        raise TrainingError(f"`preview_slices` out of range for volumes of {'×'.join(map(str, shape))} (z×y×x): "
                            f"{', '.join(bad)}")


def absolute(location: str) -> str:
    """A store or run location that reads the same from any directory: URLs as they are, paths absolute."""
    location = os.fspath(location)
    return location if "://" in location else os.path.abspath(location)


def same_store(a: str, b: str) -> bool:
    """Whether two store locations name the same store (paths compared after resolving links)."""
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return os.path.realpath(a) == os.path.realpath(b)


def resume_point(cfg: TrainConfig, *, report: Callable[[str], Any] | None = None
                 ) -> tuple[Run, TrainConfig, tuple[Any, dict[str, Any]] | None]:
    """The run in ``cfg.run`` to resume: the run, its recorded options (with this call's
    ``epochs``, ``device``, ``num_workers`` and ``threads``: what the machine resuming it has) and its last
    checkpoint with the training state.

    A run stopped before its first checkpoint has none (``None``): it starts again from
    scratch with the options it recorded, and says so through ``report`` (else a warning).

    Raises
    ------
    TrainingError
        ``cfg.run`` is not a run; ``cfg.store`` is not the store the run trains on; the run
        has already trained ``cfg.epochs`` epochs.
    """
    where = absolute(cfg.run)
    try:
        run = Run.open(where)
    except RunError as exc:
        raise TrainingError(f"{where}: no checkpoint to resume from ({exc})") from None
    last = run.last_state()
    if not same_store(cfg.store, run.data.store):
        raise TrainingError(f"{where}: this run trains on {run.data.store}, not {absolute(cfg.store)}; "
                            "give that store, or a new `run` to train on this one")
    # runs from before split_by was recorded split by chunk
    saved = TrainConfig.from_dict({"split_by": "chunk", **run.train, "store": run.data.store, "run": where,
                                   "epochs": cfg.epochs, "device": cfg.device, "num_workers": cfg.num_workers,
                                   "threads": cfg.threads})
    if last is None:
        note = (f"{where}: no checkpoint yet (the run stopped before its first one); "
                "starting from scratch with the options it recorded")
        if report is not None:
            report(note)
        else:
            warnings.warn(note, VaearrWarning, stacklevel=3)
        return run, saved, None
    done = int(last[1]["epoch"])
    if saved.max_steps and int(last[1].get("step", 0)) >= saved.max_steps:
        raise TrainingError(f"{where}: has trained its {saved.max_steps} steps (`max_steps`) already; "
                            "train a new `run` to go on")
    if cfg.epochs <= done:
        raise TrainingError(f"{where}: has trained {done} epochs already; `epochs` counts all epochs, "
                            f"give more than {done} to train on")
    return run, saved, last
