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
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any
from types import MappingProxyType

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_bytes

from vaearr.errors import InputError
from vaearr.files import write_bytes_whole
from vaearr.maps.patterns.background import static_background
from vaearr.maps.roi.neighbours import NeighbourAverage, fit_store
from vaearr.store import DamagedError, damaged, open_store, require_whole, write_variables
from vaearr.store.damage import SOURCE_CHECKSUM, source_checksum
from vaearr.store.schema import MAP_DIMS
from vaearr.transforms import (
    CenterCrop,
    CircularMask,
    DynamicBackground,
    RandomPatch3D,
    Resize,
    Scale,
    Standardize,
    SubtractBackground,
    fuse_standardize,
    Transform,
)
# moved to vaearr.preprocess_options; importable from here too
from vaearr.preprocess_options import (  # noqa: F401
    AVERAGE_SIZES, BACKGROUND_OPERATIONS, PreprocessOptions,
)

#: Written to ``preprocess.json``; bumped when a saved pipeline would be read differently.
VERSION = 1
#: File names inside a run folder.
PARAMS_FILE = "preprocess.json"
ARRAYS_FILE = "preprocess.safetensors"
#: Output ranges of ``scale``.
RANGES = MappingProxyType({"[0,1]": (0.0, 1.0), "[-1,1]": (-1.0, 1.0)})

#: Steps by the name they are saved under.
STEPS: Mapping[str, type[Transform]] = MappingProxyType({
    "subtract_background": SubtractBackground,
    "dynamic_background": DynamicBackground,
    "center_crop": CenterCrop,
    "resize": Resize,
    "patch": RandomPatch3D,
    "scale": Scale,
    "standardize": Standardize,
    "circular_mask": CircularMask,
})
#: Fields of a step that are arrays (saved in safetensors, not JSON).
ARRAY_FIELDS = MappingProxyType({"subtract_background": ("background",)})
#: Steps that can run in the training step, on a batch already on the device.
IN_STEP = (Scale, Standardize, CenterCrop, CircularMask)

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
    neighbours
        The fitted neighbour average read before the steps (:class:`vaearr.maps.roi.neighbours.NeighbourAverage`).
    average_neighbours
        Without ``neighbours``: a uniform window of this side (0: none).
    """

    def __init__(self, steps: Sequence[Transform], *, source_dtype: Any, sample_shape: Sequence[int],
                 neighbours: NeighbourAverage | None = None, average_neighbours: int = 0):
        self.source_dtype = np.dtype(source_dtype)
        self.sample_shape = tuple(int(s) for s in sample_shape)
        #: map-level step before the rest: each sample averaged with its neighbours (None: not),
        #: read from a derived variable (see :func:`averaged_variable`); ``average_neighbours``
        #: alone asks for a uniform window of that size
        self.neighbours = neighbours if neighbours is not None or not average_neighbours else \
            NeighbourAverage(int(average_neighbours))
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
        neighbours: NeighbourAverage | None = None,
        mean_pattern: np.ndarray | None = None,
    ) -> Preprocess:
        """The steps ``options`` ask for, with what they learn from data computed on ``store``.

        ``mean_pattern``: the static background when it is known already (a training window's run
        divides by the whole map's mean pattern, not by the window's).

        Fitting writes nothing: neighbour pattern averaging is a map-level step read from a derived
        variable of the store, which the command that asks for it writes first
        (:func:`averaged_variable`; ``vaearr train`` does).

        Order: neighbour pattern averaging, static background removal (the scan's mean pattern
        inside ``mask``, or a background file; on raw values over the full sample; it rescales
        each sample to the scale's range), dynamic background removal, centre crop, resize, 3D
        patch, then standardisation, or scaling from the dtype's range (each sample's own
        min..max for float data), then the circular detector mask.
        """
        options.check(store)
        if options.scale is not None and options.scale not in RANGES:
            raise InputError(store, f"scale must be one of {', '.join(RANGES)}, got {options.scale!r}")
        out_range = RANGES.get(options.scale or "[0,1]")
        if neighbours is None:
            neighbours = fit_neighbours(store, var, options, mask=mask, sample_dims=sample_dims,
                                        feature_dims=feature_dims)
        source = neighbours.variable(var) if neighbours is not None else var
        if source not in open_store(store).data_vars:
            raise InputError(store, f"no '{source}' to fit on: write it first with "
                                    f"vaearr.preprocess.averaged_variable (vaearr train does)")
        steps: list[Transform] = []
        if options.subtract_background or options.background:
            feature_shape = tuple(sample_shape[-len(feature_dims):])
            bg = (read_background(options.background, feature_shape) if options.background
                  else np.asarray(mean_pattern) if mean_pattern is not None
                  else static_background(store, source, sample_dims, mask, feature_dims=feature_dims))
            steps.append(SubtractBackground(bg.astype(np.float32), out_range, options.background_operation))
        if options.dynamic_background:
            steps.append(DynamicBackground(float(options.dynamic_background), options.dynamic_operation, out_range))
        if options.crop:
            steps.append(CenterCrop(_tuple(options.crop)))
        if options.resize:
            steps.append(Resize(_tuple(options.resize)))
        if options.patch:
            steps.append(RandomPatch3D(_tuple(options.patch), options.seed))
        rescaled = any(isinstance(s, SubtractBackground | DynamicBackground) for s in steps)
        if options.standardize:
            steps.append(Standardize())
        elif options.scale is not None and not rescaled:
            integer = np.dtype(source_dtype).kind in "biu"
            steps.append(Scale(out_range, None if integer else "sample"))
        if options.detector_mask:
            steps.append(CircularMask())
        return cls(steps, source_dtype=source_dtype, sample_shape=sample_shape, neighbours=neighbours)

    @property
    def average_neighbours(self) -> int:
        """The neighbour-averaging window's side (0: none)."""
        return self.neighbours.size if self.neighbours is not None else 0

    def source_variable(self, var: str) -> str:
        """The store variable the samples are read from: ``var``, or its neighbour-averaged form."""
        return self.neighbours.variable(var) if self.neighbours is not None else var

    # -- applying ------------------------------------------------------------------------------

    def transforms(self, *, training: bool = False) -> list[Transform]:
        """The steps as batch transforms: in training as they are, otherwise their evaluation forms."""
        steps = list(self.steps) if training else [e for s in self.steps if (e := s.for_eval()) is not None]
        return fuse_standardize(steps)

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
                  "average_neighbours": self.average_neighbours, "steps": steps}
        if self.neighbours is not None:
            params["neighbour_weights"] = self.neighbours.weighting
            arrays.update({f"neighbours.{k}": np.ascontiguousarray(v, np.float32)
                           for k, v in self.neighbours.arrays().items()})
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
        size = int(params.get("average_neighbours", 0))
        neighbours = None
        if size:  # runs from before the similarity weighting averaged uniformly
            fitted = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("neighbours.")}
            neighbours = NeighbourAverage(size, params.get("neighbour_weights", "uniform"), **fitted)
        return cls(steps, source_dtype=params["source_dtype"], sample_shape=params["sample_shape"],
                   neighbours=neighbours)

    def save(self, folder: str | os.PathLike) -> None:
        """Write ``preprocess.json`` (and ``preprocess.safetensors`` when there are arrays) into ``folder``."""
        folder = Path(folder)
        params, arrays = self.to_dict()
        if arrays:
            write_bytes_whole(folder / ARRAYS_FILE, safetensors_bytes(arrays))  # a full disk: an OSError, not safetensors' own
        write_bytes_whole(folder / PARAMS_FILE, json.dumps(params, indent=2) + "\n")

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

    def describe(self) -> str:
        """The steps in order, the neighbour average first (``"none"`` without any), e.g.
        ``"NeighbourAverage(similarity, 3×3) → SubtractBackground(divide) → Standardize"``."""
        n = self.neighbours
        words = [f"NeighbourAverage({n.weighting}, {n.size}×{n.size})"] if n is not None else []
        for s in self.steps:
            op = getattr(s, "operation", None)
            words.append(type(s).__name__ + (f"({op})" if op else ""))
        return " → ".join(words) or "none"

    def __repr__(self) -> str:
        return f"Preprocess({[type(s).__name__ for s in self.steps]}, source_dtype={self.source_dtype}, " \
               f"sample_shape={self.sample_shape})"


# --------------------------------------------------------------------------------------------
# map-level steps and background files


def fit_neighbours(store: str | os.PathLike, var: str, options: PreprocessOptions, *, mask: str | None,
                   sample_dims: Sequence[str], feature_dims: Sequence[str]) -> NeighbourAverage | None:
    """The neighbour average ``options`` ask for, fitted on the store (None: no averaging).

    Similarity weights are fitted on whole scan rows (:func:`vaearr.maps.roi.neighbours.fit_rows`)
    against the map's static background over ``mask``; nothing is written.
    """
    size = int(options.average_neighbours or 0)
    if not size:
        return None
    if tuple(sample_dims) != MAP_DIMS:
        raise InputError(store, f"neighbour averaging needs a (y, x) map; '{var}' has samples over {tuple(sample_dims)}")
    if options.neighbour_weights == "uniform":
        return NeighbourAverage(size)
    return fit_store(store, var, mask, size=size, feature_dims=feature_dims)


def averaging_signature(neighbours: NeighbourAverage, mask: str | None) -> str:
    """The ``averaging`` attr of a derived variable made by ``neighbours`` inside ``mask``."""
    return json.dumps({**json.loads(neighbours.signature()), "mask": mask}, sort_keys=True)


def stored_average(ds: Any, var: str, neighbours: NeighbourAverage, mask: str | None,
                   store: str | os.PathLike | None = None) -> bool:
    """Whether ``ds`` holds ``var`` averaged by ``neighbours`` inside ``mask`` (made the same way), whole, and
    (given the ``store`` ``ds`` was opened from) made from what ``var`` holds now: its ``source_checksum``
    attr is ``var``'s :func:`~vaearr.store.damage.source_checksum`. A cache that fails any of these is
    made again, never trusted."""
    name = neighbours.variable(var)
    if name not in ds.data_vars or ds[name].attrs.get("averaging") != averaging_signature(neighbours, mask):
        return False
    if store is None:
        return name not in damaged(ds)
    try:
        require_whole(ds, [name], store)
    except DamagedError:
        return False
    return ds[name].attrs.get(SOURCE_CHECKSUM) == source_checksum(store, var)


def averaged_variable(store: str | os.PathLike, var: str, neighbours: NeighbourAverage | None, *, mask: str | None,
                      sample_dims: Sequence[str]) -> str:
    """The name of ``var`` averaged over neighbours in ``store``, written there first (one
    transaction, with provenance) unless a variable made the same way is there already.

    Only maps (``sample_dims`` ``(y, x)``) can be averaged; no ``neighbours`` returns ``var``.
    """
    if neighbours is None:
        return var
    if tuple(sample_dims) != MAP_DIMS:
        raise InputError(store, f"neighbour averaging needs a (y, x) map; '{var}' has samples over {tuple(sample_dims)}")
    name = neighbours.variable(var)
    ds = open_store(store)
    require_whole(ds, [var, mask], store)  # an average of a damaged variable is never written
    made = averaging_signature(neighbours, mask)
    if stored_average(ds, var, neighbours, mask, store):
        return name
    checksum = source_checksum(store, var)
    da_ = ds[var].transpose(*MAP_DIMS, ...)
    m = ds[mask].transpose(*MAP_DIMS).values if mask is not None else None
    raw = open_store(store, chunks=None)[var].transpose(*MAP_DIMS, ...)  # no dask: each block reads its window

    def read(ys: slice, xs: slice) -> np.ndarray:
        return raw[{MAP_DIMS[0]: ys, MAP_DIMS[1]: xs}].values

    out = da_.copy(data=neighbours.average_read(read, da_.shape, da_.chunks, da_.dtype, m))
    write_variables(store, {name: out}, source=[var] + ([mask] if mask else []), config=json.loads(made),
                    attrs={"averaging": made, SOURCE_CHECKSUM: checksum}, overwrite=True,
                    chunks={name: tuple(c[0] for c in da_.chunks)})
    return name


def read_background(path: str | os.PathLike, shape: Sequence[int]) -> np.ndarray:
    """A static background pattern from a ``.npy`` array or an image file; its shape must be ``shape``."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            bg = np.load(path, allow_pickle=False)
        else:
            with Image.open(path) as im:
                bg = np.asarray(im.convert("F"))
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise InputError(path, f"not a readable background pattern ({exc})") from None
    bg = np.squeeze(np.asarray(bg, np.float64))
    if bg.shape != tuple(shape):
        raise InputError(path, f"background of shape {bg.shape} does not fit the patterns {tuple(shape)}")
    return bg
