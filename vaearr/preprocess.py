"""The input pipeline of a run: fitted once on the training data, saved with the run, applied alike everywhere.

A :class:`Preprocess` maps a batch as the loader hands it out — the stored dtype, laid out
``(B, C, *spatial)`` — to the model's input. Its steps are :mod:`vaearr.transforms`
(background subtraction, crop, resize, a 3D patch, scaling or standardisation); anything they
learn from data (the static background pattern) is computed once, by :meth:`Preprocess.fit`
on the training store, and saved in the run folder (``preprocess.json`` for the parameters,
``preprocess.safetensors`` for arrays). Training, encoding, exploration, quality metrics and
the layer comparison all call the same object, so a sample becomes the same model input on
every path, whatever store it is read from.

The one step that differs between training and evaluation is the 3D patch: a random patch per
sample in training, the centre crop of the same size otherwise (``training=``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from vaearr.batches import static_background
from vaearr.errors import InputError
from vaearr.transforms import (
    CenterCrop,
    RandomPatch3D,
    Resize,
    Scale,
    Standardize,
    SubtractBackground,
    Transform,
)

#: Written to ``preprocess.json``; bumped when a saved pipeline would be read differently.
VERSION = 1
#: File names inside a run folder.
PARAMS_FILE = "preprocess.json"
ARRAYS_FILE = "preprocess.safetensors"
#: Output ranges of ``scale``.
RANGES = {"[0,1]": (0.0, 1.0), "[-1,1]": (-1.0, 1.0)}

#: Steps by the name they are saved under.
STEPS: dict[str, type[Transform]] = {
    "subtract_background": SubtractBackground,
    "center_crop": CenterCrop,
    "resize": Resize,
    "patch": RandomPatch3D,
    "scale": Scale,
    "standardize": Standardize,
}
#: Fields of a step that are arrays (saved in safetensors, not JSON).
ARRAY_FIELDS = {"subtract_background": ("background",)}
#: Steps that can run in the training step, on a batch already on the device.
IN_STEP = (Scale, Standardize, CenterCrop)


@dataclass(frozen=True)
class PreprocessOptions:
    """What a user asks of the input pipeline (fields of ``TrainConfig`` of the same names)."""

    scale: str | None = "[0,1]"
    standardize: bool = False
    crop: int | tuple[int, ...] | None = None
    resize: int | tuple[int, ...] | None = None
    subtract_background: bool = False
    patch: tuple[int, ...] | None = None
    seed: int = 0

    @classmethod
    def of(cls, config: Any) -> PreprocessOptions:
        """The options of any object with these attributes (a ``TrainConfig``)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)})


def _tuple(v: Any) -> Any:
    return tuple(_tuple(x) for x in v) if isinstance(v, list | tuple) else v


class Preprocess:
    """A run's input pipeline: ordered steps from a stored batch to the model's input.

    Parameters
    ----------
    steps
        Transforms, applied in order (see :data:`STEPS` for the kinds that can be saved).
    source_dtype
        The stored dtype of the samples (integer ranges are scaled from it).
    sample_shape
        One sample as the loader hands it out, ``(C, *spatial)``, before any step.
    """

    def __init__(self, steps: Sequence[Transform], *, source_dtype: Any, sample_shape: Sequence[int]):
        self.source_dtype = np.dtype(source_dtype)
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.steps = [s.prepare(self.source_dtype) for s in steps]
        unknown = [type(s).__name__ for s in self.steps if type(s) not in STEPS.values()]
        if unknown:
            raise InputError(None, f"preprocess steps {unknown} cannot be saved; known: {', '.join(STEPS)}")

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        store: str | os.PathLike,
        var: str,
        *,
        sample_dims: Sequence[str],
        feature_dims: Sequence[str],
        mask: str | None,
        options: PreprocessOptions,
        source_dtype: Any,
        sample_shape: Sequence[int],
    ) -> Preprocess:
        """The steps ``options`` ask for, with what they learn from data computed on ``store``.

        Order: static background subtraction (on raw values over the full sample, inside
        ``mask``; it rescales each sample to the scale's range), centre crop, resize, 3D patch,
        then standardisation, or scaling from the dtype's range (each sample's own min..max
        for float data).
        """
        if options.scale is not None and options.scale not in RANGES:
            raise InputError(store, f"scale must be one of {', '.join(RANGES)}, got {options.scale!r}")
        out_range = RANGES.get(options.scale or "[0,1]")
        steps: list[Transform] = []
        if options.subtract_background:
            bg = static_background(store, var, sample_dims, mask, feature_dims=feature_dims)
            steps.append(SubtractBackground(bg.astype(np.float32), out_range))
        if options.crop:
            steps.append(CenterCrop(_tuple(options.crop)))
        if options.resize:
            steps.append(Resize(_tuple(options.resize)))
        if options.patch:
            steps.append(RandomPatch3D(_tuple(options.patch), options.seed))
        if options.standardize:
            steps.append(Standardize())
        elif options.scale is not None and not options.subtract_background:
            integer = np.dtype(source_dtype).kind in "biu"
            steps.append(Scale(out_range, None if integer else "sample"))
        return cls(steps, source_dtype=source_dtype, sample_shape=sample_shape)

    # -- applying ------------------------------------------------------------------------------

    def transforms(self, *, training: bool = False) -> list[Transform]:
        """The steps as batch transforms: in training as they are, otherwise their evaluation forms."""
        if training:
            return list(self.steps)
        return [e for s in self.steps if (e := s.for_eval()) is not None]

    def __call__(self, x: torch.Tensor, *, training: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """The model input of a batch ``(B, C, *spatial)`` in the stored dtype (or already float)."""
        for t in self.transforms(training=training):
            x = t(x, generator=generator) if t.random else t(x)
        return x if x.is_floating_point() else x.float()

    @property
    def in_step(self) -> bool:
        """Whether every step can run in the training step, on the batch on its device (no random step)."""
        return all(isinstance(s, IN_STEP) for s in self.steps)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The model's input shape ``(C, *spatial)`` (evaluation form)."""
        x = torch.zeros((1, *self.sample_shape))  # shapes only: float stands in for any stored dtype
        return tuple(int(s) for s in self(x).shape[1:])

    @property
    def output_range(self) -> tuple[float, float] | None:
        """The range model inputs lie in, or None when they are standardised (unbounded)."""
        last = None
        for s in self.steps:
            if isinstance(s, Standardize):
                last = None
            elif isinstance(s, Scale | SubtractBackground):
                last = tuple(float(v) for v in s.out_range)
        return last

    def spatial_chain(self) -> list[tuple[str, Any]]:
        """The steps that move voxels (evaluation form), in order: ``("crop", size)``, ``("resize", size)``."""
        out = []
        for s in self.transforms(training=False):
            if isinstance(s, CenterCrop):
                out.append(("crop", s.size))
            elif isinstance(s, Resize):
                out.append(("resize", s.size))
        return out

    # -- saving --------------------------------------------------------------------------------

    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The parameters (JSON-able) and the arrays (name → array) that describe this pipeline."""
        names = {cls: name for name, cls in STEPS.items()}
        steps, arrays = [], {}
        for i, s in enumerate(self.steps):
            name = names[type(s)]
            entry: dict[str, Any] = {"step": name}
            for f in fields(s):
                value = getattr(s, f.name)
                if f.name in ARRAY_FIELDS.get(name, ()):
                    arrays[f"{i}.{f.name}"] = np.ascontiguousarray(value, dtype=np.float32)
                    entry[f.name] = {"array": f"{i}.{f.name}"}
                else:
                    entry[f.name] = json.loads(json.dumps(value))
            steps.append(entry)
        params = {"version": VERSION, "source_dtype": self.source_dtype.str, "sample_shape": list(self.sample_shape),
                  "steps": steps}
        return params, arrays

    @classmethod
    def from_dict(cls, params: dict[str, Any], arrays: dict[str, np.ndarray], *, where: Any = None) -> Preprocess:
        """Inverse of :meth:`to_dict`; ``where`` names the file in errors."""
        if params.get("version", 0) > VERSION:
            raise InputError(where, f"written by a newer vaearr (preprocess version {params['version']} > {VERSION})")
        steps = []
        for entry in params.get("steps", []):
            entry = dict(entry)
            name = entry.pop("step", None)
            if name not in STEPS:
                raise InputError(where, f"unknown preprocess step {name!r}; known: {', '.join(STEPS)}")
            kwargs = {}
            for key, value in entry.items():
                if isinstance(value, dict) and "array" in value:
                    if value["array"] not in arrays:
                        raise InputError(where, f"step {name!r}: array {value['array']!r} is missing")
                    kwargs[key] = arrays[value["array"]]
                else:
                    kwargs[key] = _tuple(value)
            steps.append(STEPS[name](**kwargs))
        return cls(steps, source_dtype=params["source_dtype"], sample_shape=params["sample_shape"])

    def save(self, folder: str | os.PathLike) -> None:
        """Write ``preprocess.json`` (and ``preprocess.safetensors`` when there are arrays) into ``folder``."""
        folder = Path(folder)
        params, arrays = self.to_dict()
        if arrays:
            tmp = folder / (ARRAYS_FILE + ".tmp")
            save_file(arrays, str(tmp))
            os.replace(tmp, folder / ARRAYS_FILE)
        tmp = folder / (PARAMS_FILE + ".tmp")
        tmp.write_text(json.dumps(params, indent=2) + "\n")
        os.replace(tmp, folder / PARAMS_FILE)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Preprocess:
        """Read what :meth:`save` wrote (no pickle: JSON and safetensors only)."""
        folder = Path(folder)
        path = folder / PARAMS_FILE
        try:
            params = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(path, f"not a readable preprocess file ({exc})") from None
        arrays_path = folder / ARRAYS_FILE
        arrays = load_file(str(arrays_path)) if arrays_path.exists() else {}
        return cls.from_dict(params, arrays, where=path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Preprocess):
            return NotImplemented
        (p1, a1), (p2, a2) = self.to_dict(), other.to_dict()
        return p1 == p2 and a1.keys() == a2.keys() and all(np.array_equal(a1[k], a2[k]) for k in a1)

    def __repr__(self) -> str:
        return f"Preprocess({[type(s).__name__ for s in self.steps]}, source_dtype={self.source_dtype}, " \
               f"sample_shape={self.sample_shape})"
