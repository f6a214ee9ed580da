"""What a loader reads: :class:`DataSpec` (a variable of a store, its dims, a mask), :class:`BatchSpec`, the seeded random
streams, dtypes."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vaearr.errors import InputError, StoreError
from vaearr.store import masks, open_store, require_whole
from vaearr.store.schema import ROI, no_variable, split_dims

#: Accepted values of ``split``.
SPLITS = ("train", "val", "all")

# tags that keep the seeded random streams of different jobs apart
TAG_SPLIT, TAG_ORDER, TAG_GROUP, TAG_TRANSFORM, TAG_SPLIT_SAMPLES, TAG_SUBSET = 1, 2, 3, 4, 5, 6


def rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def torch_seed(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> 1)


def channel_axis(coords: Any, feature_dims: Sequence[str], channel_dim: str | None = "auto",
                 where: Any = None) -> int | None:
    """The position among ``feature_dims`` of the dim holding channels, or None (a channel is added).

    The one channel rule of every reader: ``"auto"`` takes the last feature dim whose coordinate
    holds names (``element``, ``channel`` with ``R, G, B``...) when there are several feature dims;
    a name takes that dim; None takes none. ``coords``: the variable's coordinates (``da.coords``).
    """
    if channel_dim == "auto":
        named = [i for i, d in enumerate(feature_dims)
                 if d in coords and coords[d].dtype.kind in "UOS" and len(feature_dims) > 1]
        return named[-1] if named else None
    if channel_dim is not None:
        if channel_dim not in feature_dims:
            raise InputError(where, f"channel_dim '{channel_dim}' is not one of the feature dims {tuple(feature_dims)}")
        return list(feature_dims).index(channel_dim)
    return None


def to_channels_first(a: np.ndarray, axis: int | None) -> np.ndarray:
    """Samples ``(n, *features)`` laid out ``(n, C, *spatial)`` with the channel ``axis`` of the features
    first (a channel of 1 added when there is none), as a view."""
    return a[:, None] if axis is None else np.moveaxis(a, 1 + axis, 1)


def numpy_dtype(dtype: torch.dtype | None) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except (TypeError, RuntimeError):  # bfloat16 and friends: torch converts later
        return None


def torch_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    out = getattr(torch, name, None)
    if not isinstance(out, torch.dtype):
        raise InputError(None, f"dtype {dtype!r} is not a torch dtype")
    return out


# ----------------------------------------------------------------------------------------------
# what to read


@dataclass(frozen=True)
class BatchSpec:
    """What :class:`ZarrBatches` reads and how; every field is also a keyword of it.

    Parameters
    ----------
    var
        Variable to read, e.g. ``"patterns"``.
    sample_dims
        Dims that index samples, e.g. ``("y", "x")``, ``("sample",)``, ``("subject",)``. Sample
        indices handed out (``return_index``) index the grid of these dims, flattened in this
        order (C order).
    feature_dims
        Dims of one sample, in the order the tensor gets them, e.g. ``("py", "px")``,
        ``("row", "col", "channel")``, ``("z", "y", "x")``.
    mask
        Name of a bool variable over the sample dims; only samples where it is True are read.
    batch_size
        Samples per batch.
    shuffle
        Shuffle (two levels: the chunk order, then samples inside a buffer of chunks).
    seed
        Seeds the split, the shuffle and random transforms.
    buffer_chunks
        Chunks read and shuffled together; more mixes better and holds more memory.
    drop_last
        Drop the last batch of an epoch when it is short.
    val_fraction
        Fraction of the (masked) samples sent to validation (see ``split_by``).
    split
        ``"train"``, ``"val"`` or ``"all"``.
    split_by
        How validation is held out: ``"chunk"`` (whole chunks: a validation sample never
        shares a chunk with a training one), ``"sample"`` (a seeded choice of samples, read from
        the chunks they share with training ones), or ``"auto"`` (chunks when they can hold
        ``val_fraction`` and leave training a chunk, else samples: stores of one or two chunks).
    subset
        Read only a seeded random choice of this many of the split's samples (None: all);
        the choice depends on the split's samples and ``seed`` only.
    transforms
        Callables applied in order to each batch tensor (see the module docstring).
    num_workers
        Worker processes that decode chunks; 0 decodes in threads of this process. About
        two groups (``buffer_chunks`` chunks each, in ``dtype``) per worker live in shared
        memory. Transforms always run in this process, so they need not pickle.
    prefetch
        Batches prepared ahead by a background thread, handed over in runs of this many (up to
        two runs wait); 0 prepares each on demand, in the iterating thread.
    channels_first
        Yield ``(B, C, *spatial)``: ``C = 1`` is added when there is no channel dim, the channel
        dim is moved to the front when there is one. False yields ``(B, *feature_dims)``.
    channel_dim
        The feature dim holding channels; ``"auto"`` takes a feature dim whose coordinate
        holds names (like ``"R", "G", "B"``), None says there is none.
    dtype
        Torch dtype of the batches (name or dtype); None keeps the stored dtype.
    return_index
        Yield ``(x, idx)``: ``idx`` (int64) are the flat sample indices, for writing back.
    rank, world_size
        Shard for distributed training: each rank reads its own chunks and yields as many
        batches as every other rank.
    read_ahead
        With ``num_workers=0``: groups (of ``buffer_chunks`` chunks) decoded at once, the chunks
        of each concurrently by one thread per core; about ``read_ahead + 2`` groups are in
        memory (those being decoded, and those the waiting batches are views of).
        (A worker process decodes one group at a time, with two queued.)
    pin_memory
        Pin batches (page-locked) for faster copies to a GPU.
    mp_context
        Start method of the worker processes (``"fork"``, ``"forkserver"``, ``"spawn"``);
        default torch's (fork on Linux). Workers start once per loader (they persist across
        epochs), from the iterating thread, before the loader starts threads of its own.
        ``"forkserver"`` never forks a threaded process but, like ``"spawn"``, needs scripts
        to keep their work under ``if __name__ == "__main__":``.
    """

    var: str
    sample_dims: tuple[str, ...]
    feature_dims: tuple[str, ...]
    mask: str | None = None
    batch_size: int = 64
    shuffle: bool = True
    seed: int = 0
    buffer_chunks: int = 16
    drop_last: bool = False
    val_fraction: float = 0.0
    split: str = "all"
    split_by: str = "chunk"
    subset: int | None = None
    transforms: tuple[Callable, ...] = ()
    num_workers: int = 0
    prefetch: int = 8
    channels_first: bool = True
    channel_dim: str | None = "auto"
    dtype: Any = "float32"
    return_index: bool = False
    rank: int = 0
    world_size: int = 1
    read_ahead: int = 2
    pin_memory: bool = False
    mp_context: str | None = None

    def __post_init__(self) -> None:
        for name in ("sample_dims", "feature_dims"):
            v = getattr(self, name)
            object.__setattr__(self, name, (v,) if isinstance(v, str) else tuple(map(str, v)))
        t = self.transforms
        object.__setattr__(self, "transforms", () if t is None else (t,) if callable(t) else tuple(t))


@dataclass(frozen=True)
class DataSpec:
    """What a run was trained on: a variable of a store, its sample and feature dims, a mask.

    ``store`` is absolute (a path or URL), so the run can be used from any directory.
    """

    store: str
    var: str
    sample_dims: tuple[str, ...]
    feature_dims: tuple[str, ...]
    mask: str | None

    @classmethod
    def resolve(cls, store: str | os.PathLike, var: str, *, sample_dims: Sequence[str] | None = None,
                feature_dims: Sequence[str] | None = None, mask: str | None = "auto") -> DataSpec:
        """Check ``var`` and ``mask`` against the store; dims not given come from the schema.

        ``mask="auto"`` takes ``roi`` when the store has that mask, else none.
        """
        ds = open_store(store)
        if var not in ds.data_vars:
            raise StoreError(store, no_variable(var, ds.data_vars))
        samples, features = split_dims(tuple(map(str, ds[var].dims)), var, sample_dims, feature_dims)
        if mask == "auto":
            mask = ROI if ROI in masks(ds) else None
        elif mask is not None and mask not in ds.data_vars:
            raise StoreError(store, no_variable(mask, ds.data_vars, kind="mask variable"))
        require_whole(ds, [var, mask], store)  # before any work: nothing is ever computed from a damaged one
        location = os.fspath(store)
        if "://" not in location:
            location = os.path.abspath(location)
        return cls(location, var, samples, features, mask)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        return cls(d["store"], d["var"], tuple(d["sample_dims"]), tuple(d["feature_dims"]), d.get("mask"))
