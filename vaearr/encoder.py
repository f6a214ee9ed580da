"""Samples through a run: read in the loader's layout, through the run's input pipeline, into its model.

An :class:`Encoder` is what a run needs to read and encode any store's samples: what it was
trained on (its :class:`~vaearr.run.DataSpec`), its fitted :class:`~vaearr.preprocess.Preprocess`
and a way to load its model. A store is read through :class:`~vaearr.batches.ZarrBatches`, a
Dataset in memory by the same channel rule (:func:`vaearr.batches.spec.channel_axis`), so a
sample becomes the same model input on every path. :class:`~vaearr.run.Run` hands one out
(:attr:`Run.encoder`); the run folder itself is :mod:`vaearr.run`'s.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from types import MappingProxyType

import numpy as np
import torch
import xarray as xr

from vaearr.batches import ZarrBatches
from vaearr.batches.ahead import ahead
from vaearr.batches.batcher import rebatched
from vaearr.batches.spec import channel_axis, to_channels_first
from vaearr.batches import DataSpec
from vaearr.errors import StoreError
from vaearr.models import VAEBase, channels_last
from vaearr.preprocess import Preprocess, averaged_variable, stored_average
from vaearr.store import open_store, require_whole
from vaearr.store.schema import MAP_DIMS, no_variable

#: Patterns a band of :meth:`Encoder.read_streamed` holds at least (whole rows of whole chunks).
STREAM_PATTERNS = 4096



@dataclass
class EncodedBatch:
    """One batch through a run's encoder: flat sample indices, posterior, reconstruction, inputs.

    Unpacks as ``index, mu, logvar, recon``; ``x`` (the model inputs) rides along.
    """

    index: np.ndarray
    mu: torch.Tensor
    logvar: torch.Tensor
    recon: torch.Tensor | None
    x: torch.Tensor
    #: Which rows ``recon`` holds (None: every row): an encode that decodes a sample of the map.
    decoded: np.ndarray | None = None

    def recon_error(self) -> np.ndarray:
        """The mean squared reconstruction error of each decoded row (:attr:`decoded`), in the network's input units."""
        if self.recon is None:
            raise ValueError("the batch was encoded without its reconstruction")
        if self.decoded is None:
            x = self.x
        elif not self.decoded.any():
            return np.empty(0, np.float32)
        else:
            x = self.x[torch.from_numpy(self.decoded).to(self.x.device)]
        return ((self.recon.float() - x.float()) ** 2).flatten(1).mean(1).cpu().numpy()

    def __iter__(self) -> Iterator[Any]:
        return iter((self.index, self.mu, self.logvar, self.recon))


def in_place(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` (in eval mode, for inference only) with each activation that follows another layer of an
    ``nn.Sequential`` computed in place: nothing else reads that layer's output, and without autograd nothing
    keeps it, so the activation may overwrite it (one pass over memory and one allocation fewer: the encoder
    of the EBSD conv-vae took 0.46 against 0.56 CPU-ms a pattern, BENCHMARKS.md "Scale")."""
    for seq in model.modules():
        if isinstance(seq, torch.nn.Sequential):
            for i, m in enumerate(seq):
                if i > 0 and hasattr(m, "inplace") and isinstance(m, ACTIVATIONS):
                    m.inplace = True
    return channels_last(model)


#: Samples per batch of an encoder pass by device type: on 2 CPU cores batches of 128 ran 1.47 × faster than of 256
#: (the activations stay in cache); on a GPU larger batches keep it busy (BENCHMARKS.md "Scale").
ENCODE_BATCH = MappingProxyType({"cpu": 128, "cuda": 1024})


#: Samples a decoder pass takes at once on a CPU: the EBSD conv-vae's last layers hold 512 kB a pattern
#: (64 × 64 × 32 floats), so 32 of them stay in the cache where 128 do not (1.1 against 1.7 CPU-ms a pattern,
#: BENCHMARKS.md "Scale: the encoder pass"); a GPU takes the whole batch.
DECODE_CHUNK = MappingProxyType({"cpu": 32})


def decoded(model: Any, z: torch.Tensor) -> torch.Tensor:
    """``model.decode(z)``, in chunks of :data:`DECODE_CHUNK` samples on a CPU."""
    chunk = DECODE_CHUNK.get(z.device.type)
    if chunk is None or len(z) <= chunk:
        return model.decode(z)
    return torch.cat([model.decode(part) for part in z.split(chunk)])


def in_workers(fn: Callable[..., Any], items: Iterator[tuple[Any, ...]], workers: int) -> Iterator[Any]:
    """``fn(*item)`` of each of ``items``, in order, on ``workers`` threads that run torch on one thread each, at most
    ``workers + 1`` at once (torch's own threads restored at the end).

    A batch per core rather than every core on each operation: with the decoder's small chunks a two-thread
    operation waits at each of its many barriers for the slower thread (on a shared machine, for one the system
    has put aside: 15 against 2.6 ms a pattern at a load of 8 on 2 cores), and each core keeps its own chunk's
    activations in its own cache. Each batch is computed on one thread, so its numbers do not depend on ``workers``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            pending: deque[Future[Any]] = deque()
            for item in items:
                pending.append(pool.submit(fn, *item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        torch.set_num_threads(threads)


def encode_batch(device: str | torch.device, batch_size: int | None = None) -> int:
    """``batch_size``, or the default of ``device``'s type (:data:`ENCODE_BATCH`)."""
    if batch_size is not None:
        return int(batch_size)
    return ENCODE_BATCH.get(torch.device(device).type, ENCODE_BATCH["cpu"])


#: Activation modules :func:`in_place` may switch to in place.
ACTIVATIONS = (torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.ELU, torch.nn.SiLU, torch.nn.Hardtanh, torch.nn.ReLU6)


class Encoder:
    """A run's samples reader and encoder.

    Parameters
    ----------
    data
        What the run was trained on (variable, sample and feature dims, mask).
    preprocess
        The run's fitted input pipeline.
    model
        ``model(checkpoint, device=...)`` → the run's model in eval mode.
    name
        The run, for messages.
    """

    def __init__(self, data: DataSpec, preprocess: Preprocess, model: Callable[..., VAEBase], *, name: Any = None,
                 streamed: bool = False):
        self.data, self.preprocess, self.load_model, self.name = data, preprocess, model, name
        #: average neighbours while reading a store that lacks the averaged variable, instead of writing it
        #: there first (a run trained on a window: its store never holds the whole map's average)
        self.streamed = streamed

    def check(self, ds: xr.Dataset, *, mask: str | xr.DataArray | None = "run", where: Any = None) -> xr.DataArray | None:
        """Check that ``ds`` has the run's variable (and ``mask``); return the mask over the sample dims, or None.

        ``mask``: ``"run"`` (the run's mask, which ``ds`` must have), a mask name or bool
        DataArray, or None (every sample). ``where``: what ``ds`` is, for the error line (default: the dataset).
        """
        where = "the dataset" if where is None else where  # StoreError needs a name: None raised a TypeError
        if self.data.var not in ds.data_vars:
            raise StoreError(where, f"{no_variable(self.data.var, ds.data_vars)} (the run {self.name} was trained on it)")
        if isinstance(mask, str) and mask == "run":
            mask = self.data.mask
            if mask is not None and mask not in ds.data_vars:
                raise StoreError(where, f"{no_variable(mask, ds.data_vars, kind='mask')} (the run {self.name} was trained inside "
                                        "it)")
        if isinstance(mask, str):
            if mask not in ds.data_vars:
                raise StoreError(where, no_variable(mask, ds.data_vars, kind="mask variable"))
            mask = ds[mask]
        return None if mask is None else mask.transpose(*self.data.sample_dims)

    def inputs(self, source: str | os.PathLike | xr.Dataset | None = None, *, mask: str | xr.DataArray | None = "run",
               samples: np.ndarray | None = None, batch_size: int = 256, num_workers: int = 0,
               device: str | torch.device = "cpu") -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Model inputs of the samples of ``source`` (a store path/URL or a Dataset; default the run's store).

        Yields ``(index, x)`` in order: flat sample indices (C order over the sample dims) and
        their inputs through :attr:`preprocess` (evaluation form), on ``device``. ``mask``:
        ``"run"`` (the run's mask; the store must have it), a mask name or bool DataArray, or
        None (every sample); ``samples`` keeps only these flat indices; ``num_workers``: worker
        processes decoding a store's chunks (see :class:`~vaearr.batches.BatchSpec`).
        """
        source = self.data.store if source is None else source
        for index, x in self.raw(source, mask, batch_size, num_workers):
            if samples is not None:
                keep = np.isin(index, samples)
                if not keep.any():
                    continue
                index, x = index[keep], x[torch.from_numpy(keep)]
            yield index, self.preprocess(x.to(device))

    def raw(self, source: Any, mask: Any, batch_size: int,
            num_workers: int = 0) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Batches of a store's samples in the stored dtype, ``(B, C, *spatial)``, with their flat indices.

        A store is read as training reads it, through its own chunks; a run that averages
        neighbour patterns reads the averaged variable, written into that store first when it
        is not there (the one place reading a run writes: the encode command asks for it).
        """
        in_memory = isinstance(source, xr.Dataset)
        ds = source if in_memory else open_store(source)
        m = self.check(ds, mask=mask, where="the dataset" if in_memory else source)
        if not in_memory and (m is None or m.name in ds.data_vars):
            yield from self.read_store(source, None if m is None else str(m.name), batch_size, num_workers)
            return
        yield from self.read_dataset(ds, m, batch_size, None if in_memory else source)

    def read_store(self, store: Any, mask: str | None, batch_size: int,
                   num_workers: int) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """The store's own chunks through :class:`~vaearr.batches.ZarrBatches`, in sample order (averaged as they
        are read, by :meth:`read_streamed`, for a :attr:`streamed` run on a store without the average)."""
        d = self.data
        avg = self.preprocess.neighbours
        if self.streamed and avg is not None and not stored_average(open_store(store), d.var, avg, d.mask, store):
            yield from self.read_streamed(store, mask, batch_size)
            return
        var = averaged_variable(store, d.var, self.preprocess.neighbours, mask=d.mask, sample_dims=d.sample_dims)
        loader = ZarrBatches(store, var=var, sample_dims=d.sample_dims, feature_dims=d.feature_dims, mask=mask,
                             batch_size=batch_size, shuffle=False, split="all", return_index=True, dtype=None,
                             num_workers=num_workers)
        with loader:
            for x, idx in loader:
                yield idx.numpy(), x

    def read_streamed(self, store: Any, mask: str | None, batch_size: int) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """A map's patterns averaged with their neighbours as they are read: bands of whole scan rows, each row
        read once (:meth:`NeighbourAverage.stream <vaearr.maps.roi.neighbours.NeighbourAverage.stream>`), averaged in
        a thread of their own while the caller encodes the batches before; the batches are as
        :meth:`read_store` cuts them (``batch_size`` samples in sample order, the last one short)."""
        d = self.data
        ds = open_store(store)
        require_whole(ds, [d.var, d.mask, mask], store)  # nothing averaged from a damaged variable
        raw = open_store(store, chunks=None)[d.var].transpose(*MAP_DIMS, *d.feature_dims)
        ny, nx = raw.shape[:2]
        run_mask = np.asarray(ds[d.mask].transpose(*MAP_DIMS).values, bool) if d.mask else None
        keep = np.asarray(ds[mask].transpose(*MAP_DIMS).values, bool) if mask else np.ones((ny, nx), bool)
        axis = channel_axis(raw.coords, d.feature_dims)
        chunk_rows = int(ds[d.var].chunksizes[MAP_DIMS[0]][0]) if ds[d.var].chunks else 1
        rows = chunk_rows * max(1, -(-STREAM_PATTERNS // (chunk_rows * max(nx, 1))))

        def read(ys: slice) -> np.ndarray:
            return raw[{MAP_DIMS[0]: ys}].values

        bands = self.preprocess.neighbours.stream(read, (ny, nx), run_mask, rows=rows)

        def kept() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for y0, block in ahead(bands):
                k = keep[y0:y0 + len(block)]
                yield np.flatnonzero(k.ravel()) + y0 * nx, block[k]

        # each pattern copied once into its batch (joining what was left of a band anew for every batch copied a
        # band's patterns again and again: about 300 MB for a band of 5 rows of 1 000 patterns of 60 × 60)
        for idx, x in rebatched(kept(), batch_size):
            yield idx, torch.from_numpy(np.ascontiguousarray(to_channels_first(x, axis)))

    def read_dataset(self, ds: xr.Dataset, m: xr.DataArray | None, batch_size: int,
                     store: Any = None) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """A Dataset's samples (or a store's under a mask given as an array), laid out as the loader lays them out."""
        d = self.data
        avg = self.preprocess.neighbours
        da = ds[d.var].transpose(*d.sample_dims, *d.feature_dims)
        if avg is not None and stored_average(ds, d.var, avg, d.mask, store):
            # the averaged variable the store holds: exactly what training read (an average made again
            # in other blocks may round a grey level the other way)
            da = ds[avg.variable(d.var)].transpose(*d.sample_dims, *d.feature_dims)
        elif avg is not None:
            run_mask = ds[d.mask].values if d.mask is not None and d.mask in ds else None
            da = da.copy(data=avg.average(da.data, run_mask))
        n = int(np.prod([da.sizes[s] for s in d.sample_dims]))
        index = np.arange(n) if m is None else np.flatnonzero(np.asarray(m.values, bool).ravel())
        flat = da.data.reshape(n, *da.shape[len(d.sample_dims):])
        axis = channel_axis(da.coords, d.feature_dims)
        for start in range(0, len(index), batch_size):
            idx = index[start:start + batch_size]
            x = to_channels_first(np.asarray(flat[idx]), axis)
            yield idx, torch.from_numpy(np.ascontiguousarray(x))

    @torch.inference_mode()
    def encode(self, source: str | os.PathLike | xr.Dataset | None = None, *, mask: str | xr.DataArray | None = "run",
               checkpoint: str | int = "best", model: VAEBase | None = None, samples: np.ndarray | None = None,
               batch_size: int = 256, num_workers: int = 0, device: str | torch.device = "cpu",
               reconstruct: bool = True,
               decode: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[EncodedBatch]:
        """Push samples through the run's model: yields :class:`EncodedBatch` (``index, mu, logvar, recon``).

        ``source``, ``mask``, ``samples``: as :meth:`inputs`. ``model`` (already loaded) wins
        over ``checkpoint``; ``recon`` is the decoded posterior mean (None unless ``reconstruct``), of the rows
        whose flat index ``decode`` marks True where given (:attr:`EncodedBatch.decoded`), else of every row.
        """
        model = model if model is not None else in_place(self.load_model(checkpoint, device=device))
        dev = next(model.parameters()).device
        batches = self.inputs(source, mask=mask, samples=samples, batch_size=batch_size, num_workers=num_workers,
                              device=dev)

        def through(index: np.ndarray, x: torch.Tensor) -> EncodedBatch:
            with torch.inference_mode():  # per thread: a worker's own
                if x.ndim == 4:  # as channels_last stores the weights of an inference model
                    x = x.contiguous(memory_format=torch.channels_last)
                mu, logvar = model.encode(x)
                if not reconstruct:
                    return EncodedBatch(index, mu, logvar, None, x)
                if decode is None:
                    return EncodedBatch(index, mu, logvar, decoded(model, mu), x)
                rows = np.asarray(decode(index), bool)
                recon = decoded(model, mu[torch.from_numpy(rows).to(mu.device)]) if rows.any() else mu[:0]
                return EncodedBatch(index, mu, logvar, recon, x, rows)

        workers = torch.get_num_threads() if dev.type == "cpu" else 1
        if workers == 1:
            for index, x in batches:
                yield through(index, x)
            return
        yield from in_workers(through, batches, workers)
