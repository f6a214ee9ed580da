"""The static background of a map: the mean sample (e.g. Kikuchi pattern) over a mask, streamed from the store."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from vaearr.batches import ZarrBatches
from vaearr.errors import StoreError
from vaearr.store import open_store
from vaearr.store.schema import no_variable


def static_background(
    store: str | os.PathLike,
    var: str,
    sample_dims: Sequence[str],
    mask: str | None = None,
    *,
    feature_dims: Sequence[str] | None = None,
    storage_options: dict | None = None,
    chunks_at_once: int = 16,
) -> np.ndarray:
    """Mean sample (e.g. the static background pattern of an EBSD map) over the mask.

    Streams the store, ``chunks_at_once`` chunks in memory at a time (decoded concurrently),
    summing in float64 in chunk order, so the result does not depend on timing.

    Parameters
    ----------
    store, var, sample_dims, mask
        As in :class:`BatchSpec`.
    feature_dims
        Order of the result's dims; default: the other dims of ``var`` in stored order.

    Returns
    -------
    numpy.ndarray
        float64, shape of one sample.
    """

    sample_dims = (sample_dims,) if isinstance(sample_dims, str) else tuple(sample_dims)
    if feature_dims is None:
        ds = open_store(store, storage_options=storage_options)
        if var not in ds.data_vars:
            raise StoreError(store, no_variable(var, ds.data_vars))
        feature_dims = tuple(str(d) for d in ds[var].dims if d not in sample_dims)
    loader = ZarrBatches(store, var=var, sample_dims=sample_dims, feature_dims=tuple(feature_dims), mask=mask,
                         shuffle=False, storage_options=storage_options)
    source, blocks = loader.source, [int(b) for b in loader.blocks]
    total = np.zeros(source.feature_shape, dtype=np.float64)
    for i in range(0, len(blocks), chunks_at_once):
        for data, _ in source.read_blocks(blocks[i:i + chunks_at_once]):
            total += data.sum(axis=0, dtype=np.float64)
    return total / loader.n_samples
