"""What a loader reads, set up before its first epoch: its options checked (:func:`check_spec`) and its variable in
the store described (:func:`describe_source`: dims, chunks, mask, dtype), each with the one error line a user reads."""

from __future__ import annotations

import numpy as np

from vaearr.batches.plan import SPLIT_BY
from vaearr.batches.read import Source, cpus, open_array
from vaearr.batches.spec import SPLITS, BatchSpec, channel_axis
from vaearr.errors import InputError, StoreError
from vaearr.store import open_store, require_whole
from vaearr.store.remote import is_repository_url, options, snapshot_of
from vaearr.store.schema import no_variable


def check_spec(s: BatchSpec, store: str) -> None:
    """Every option of ``s`` that is out of range, in one :class:`~vaearr.errors.InputError` naming ``store``."""
    problems = []
    if s.batch_size < 1:
        problems.append(f"batch_size must be >= 1, got {s.batch_size}")
    if s.buffer_chunks < 1:
        problems.append(f"buffer_chunks must be >= 1, got {s.buffer_chunks}")
    if not 0 <= s.val_fraction < 1:
        problems.append(f"val_fraction must be in [0, 1), got {s.val_fraction}")
    if s.split not in SPLITS:
        problems.append(f"split must be one of {', '.join(SPLITS)}, got {s.split!r}")
    if s.split_by not in SPLIT_BY:
        problems.append(f"split_by must be one of {', '.join(SPLIT_BY)}, got {s.split_by!r}")
    if s.split == "val" and s.val_fraction == 0:
        problems.append("split='val' needs val_fraction > 0")
    if s.world_size < 1 or not 0 <= s.rank < s.world_size:
        problems.append(f"rank {s.rank} is not in 0..world_size-1 (world_size {s.world_size})")
    if s.num_workers < 0 or s.prefetch < 0:
        problems.append("num_workers and prefetch must be >= 0")
    if problems:
        raise InputError(store, "; ".join(problems))


def describe_source(s: BatchSpec, store: str, storage_options: dict | None) -> Source:
    """The :class:`~vaearr.batches.read.Source` of ``s.var`` in ``store``: its dims checked against ``s``'s sample and
    feature dims, its mask read, its chunks and dtype; a missing variable or mask is a
    :class:`~vaearr.errors.StoreError`, dims or a mask that do not fit an :class:`~vaearr.errors.InputError`."""
    ds = open_store(store, storage_options=storage_options)
    if s.var not in ds.data_vars:
        raise StoreError(store, no_variable(s.var, ds.data_vars))
    require_whole(ds, [s.var, s.mask], store)
    da = ds[s.var]
    dims = tuple(map(str, da.dims))
    both = set(s.sample_dims) & set(s.feature_dims)
    if both:
        raise InputError(store, f"dims {sorted(both)} are both sample and feature dims")
    if sorted(s.sample_dims + s.feature_dims) != sorted(dims):
        raise InputError(
            store,
            f"'{s.var}' has dims {dims}; sample_dims {s.sample_dims} + feature_dims {s.feature_dims} must name each once",
        )
    if not s.sample_dims:
        raise InputError(store, "sample_dims is empty")
    mask = None
    if s.mask is not None:
        if s.mask not in ds.data_vars:
            raise StoreError(store, no_variable(s.mask, ds.data_vars, kind="mask variable"))
        m = ds[s.mask]
        if m.dtype != bool:
            raise InputError(store, f"mask '{s.mask}' must be boolean, got {m.dtype}")
        if sorted(map(str, m.dims)) != sorted(s.sample_dims):
            raise InputError(store, f"mask '{s.mask}' has dims {tuple(m.dims)}, not the sample dims {s.sample_dims}")
        mask = np.ascontiguousarray(m.transpose(*s.sample_dims).values)
    snapshot = snapshot_of(store, storage_options) if is_repository_url(store) else None
    array = open_array(store, s.var, storage_options, snapshot)
    chunks = tuple(int(c) for c in array.chunks)
    source = Source(
        store=store,
        # the run's options too (--storage-option, from the store's context): a spawned worker is handed them
        storage_options=options(storage_options, store) if snapshot is not None else storage_options,
        var=s.var,
        grid_shape=tuple(int(da.sizes[d]) for d in s.sample_dims),
        block_shape=tuple(chunks[dims.index(d)] for d in s.sample_dims),
        sample_axes=tuple(dims.index(d) for d in s.sample_dims),
        feature_axes=tuple(dims.index(d) for d in s.feature_dims),
        feature_shape=tuple(int(da.sizes[d]) for d in s.feature_dims),
        dtype=np.dtype(array.dtype),
        mask=mask,
        snapshot=snapshot,
        _array=array,
    )
    source.channels_first = s.channels_first
    source.channel_axis = channel_axis(da.coords, s.feature_dims, s.channel_dim, where=store)
    # every core decodes: the reading threads of this process, or each worker its share
    source.decode_threads = cpus() if s.num_workers == 0 else max(1, cpus() // s.num_workers)
    return source
