"""Torch batches straight from a store's zarr chunks: chunk-aligned shuffle, masks, splits, workers.

:mod:`~vaearr.batches.spec` says what to read, :mod:`~vaearr.batches.plan` plans an epoch
(split, two-level seeded shuffle, batch cuts), :mod:`~vaearr.batches.read` and
:mod:`~vaearr.batches.chunks` decode chunks into shuffled group buffers,
:mod:`~vaearr.batches.workers` does that in worker processes, and
:mod:`~vaearr.batches.loader` hands out the batches (:class:`ZarrBatches`; its options checked and its variable
described by :mod:`~vaearr.batches.describe`, its batches cut by :mod:`~vaearr.batches.batcher`).
"""

from vaearr.batches.loader import ZarrBatches, make_loaders
from vaearr.batches.spec import SPLITS, BatchSpec, DataSpec

__all__ = ["SPLITS", "BatchSpec", "DataSpec", "ZarrBatches", "make_loaders"]
