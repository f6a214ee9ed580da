"""Image files through a run: read as the run's store images were, reconstructed, interpolated, scored.

``vaearr explore --run RUN --image A.png [--image B.png]`` and ``--interpolate A.png B.png``.
A file becomes a sample as the run's store holds its samples, then goes through the run's own
:class:`~vaearr.preprocess.Preprocess`, so the network sees what it was trained on:

* a store ingested from image files (``vaearr ingest images``; its variable records ``size``
  and ``mode``) — the file is read as ingest read each file (:func:`vaearr.io.images.read_image_file`):
  16-bit gray scaled to 8 bits, stretched to the store's ``size``; a gray file becomes RGB for
  an RGB run (ingest repeats gray files of a mixed folder), but a colour file is refused by a
  gray run (its folder would have been ingested as RGB);
* any other store (patterns, arrays written from Python) — nothing says how a file would be
  resized, so the file must have the samples' exact size and channels; 8-bit pixels go onto the
  stored dtype's range (``x / 255`` for floats).

Every problem is an :class:`~vaearr.errors.InputError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaearr.analysis.generate import interpolate, reconstruct
from vaearr.analysis.latents import LoadedRun
from vaearr.analysis.quality import QualityReport, run_quality
from vaearr.errors import InputError
from vaearr.io.images import read_image_file
from vaearr.store import open_store


def ingest_size(lr: LoadedRun) -> int | None:
    """The ``size`` the run's store images were ingested at, or None (not ingested from image files,
    or the store cannot be opened: then files must have the samples' size)."""
    try:
        attrs = open_store(lr.run.data.store)[lr.run.data.var].attrs
    except Exception:  # noqa: BLE001 - a moved or remote store: fall back to the strict rule
        return None
    size = attrs.get("size")
    return int(size) if "mode" in attrs and isinstance(size, int | np.integer) else None


def _to_source_dtype(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return pixels
    unit = pixels.astype(np.float64) / 255.0
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.rint(unit * (info.max - info.min) + info.min).astype(dtype)
    return unit.astype(dtype)


def read_for_run(path: str | os.PathLike, lr: LoadedRun, *, size: int | None | str = "store") -> np.ndarray:
    """An image file as the run's model input: ``(1, *input_shape)`` float32 (see the module docstring).

    ``size`` is the ingest size (``"store"``: :func:`ingest_size` of the run, looked up once by callers
    reading many files).
    """
    path = Path(path)
    pre = lr.run.preprocess
    shape = pre.sample_shape
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise InputError(path, f"exploring image files needs a run on 2D gray or RGB samples; this run's samples "
                               f"have shape {tuple(shape)}")
    if pre.average_neighbours:
        raise InputError(path, "this run averages each pattern with its map neighbours (`average_neighbours`); "
                               "a single file has none")
    c, h, w = shape
    if size == "store":
        size = ingest_size(lr)
    if size is not None and (h, w) != (size, size):
        size = None  # the variable's attrs do not describe these samples: use the strict rule
    pixels, gray = read_image_file(path, size=size, rgb=c == 3)
    if c == 1 and not gray:
        raise InputError(path, "is a colour image; the run was trained on gray images (1 channel): save it as gray")
    if pixels.shape[:2] != (h, w):
        raise InputError(path, f"is {pixels.shape[1]}×{pixels.shape[0]} pixels; the run's samples are {w}×{h} "
                               "(its store was not ingested from image files, so nothing says how to resize: "
                               "resize the file)")
    sample = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    sample = _to_source_dtype(np.array(sample, copy=True), pre.source_dtype)
    return pre(torch.from_numpy(sample[None])).numpy().astype(np.float32)


@dataclass
class FileResults:
    """Files through a run: their inputs and reconstructions, quality, and an interpolation."""

    names: list[str]
    x: np.ndarray
    recon: np.ndarray
    quality: QualityReport
    #: method ("linear", "slerp") → (steps, *input_shape) decoded images, when two files were given
    interpolation: dict[str, np.ndarray] | None = None
    steps: int = 0


def explore_files(lr: LoadedRun, images: Sequence[str | os.PathLike], *, interpolate_pair: bool = True,
                  steps: int = 10, metric_range: str = "both") -> FileResults:
    """Read every file (all checked before anything is computed), reconstruct them through the
    posterior mean, score them (:func:`~vaearr.analysis.quality.run_quality`) and, with two files
    and ``interpolate_pair``, decode ``steps`` latents between their means (linear and spherical)."""
    if not images:
        raise InputError(None, "give at least one image file")
    if steps < 2:
        raise InputError(None, f"`steps` must be >= 2 (both ends are included), got {steps}")
    size = ingest_size(lr)
    x = np.concatenate([read_for_run(p, lr, size=size) for p in images])
    recon = reconstruct(lr.model, x)
    report = run_quality(lr, x, recon, metric_range=metric_range)
    names = [Path(p).name for p in images]
    report.per_sample.insert(0, "file", [str(p) for p in images])
    result = FileResults(names, x, recon, report)
    if interpolate_pair and len(images) == 2:
        mu = _means(lr.model, x)
        result.interpolation = {m: interpolate(lr.model, mu[0], mu[1], steps=steps, method=m)[1]
                                for m in ("linear", "slerp")}
        result.steps = steps
    return result


def _means(model: Any, x: np.ndarray) -> np.ndarray:
    param = next(model.parameters())
    with torch.no_grad():
        mu, _ = model.encode(torch.as_tensor(x).to(param.device, param.dtype))
    return mu.float().cpu().numpy()
