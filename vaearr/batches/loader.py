"""Torch batches straight from a vaearr store: chunk-aligned shuffle, masks, splits, workers, transforms.

How an epoch is read (:class:`ZarrBatches`):

1. The sample grid (the ``sample_dims`` of ``var``) is cut into *blocks*: the store's chunks
   along the sample dims, each holding whole samples (a store keeps feature dims whole).
   Blocks with no sample inside ``mask`` are never read.
2. ``val_fraction`` sends whole blocks to validation (chosen by ``seed`` alone), so no sample
   is in both splits and a validation sample never shares a chunk with a training one. When
   the blocks are too few for that (``split_by="sample"``, or ``"auto"`` on a store of one or
   two chunks), a seeded choice of samples goes to validation instead: both splits then read
   the same blocks, each keeping its own samples (the split narrows the mask).
3. Each epoch permutes the block order (seeded by ``seed`` and the epoch), takes
   ``buffer_chunks`` blocks at a time (a *group*), reads and decodes every block of the group
   once, keeps the samples inside the mask and permutes them inside the group. The epoch is
   the concatenation of the groups; batches are consecutive slices of it.
4. Groups are decoded in parallel, the chunks of each by as many threads as there are cores
   (zstd, crc32c and numpy copies release the GIL): in a local store with the codecs vaearr
   writes, straight from the mapped chunk files (zarr's own read path costs about as much
   again as the decoding); otherwise by zarr, a group's chunks in one call into its event
   loop. Each chunk is decoded into a small per-thread buffer that stays in cache, and its
   samples are copied, already cast and laid out, straight to their shuffled rows of the
   group's buffer: the shuffle costs no pass of its own. ``read_ahead`` groups are decoded
   at a time in this process (``num_workers=0``), or each of ``num_workers`` persistent worker
   processes has up to two queued, the next group going to the least busy one, and writes
   them into reused shared-memory slots (nothing copied between processes).
   Either way a group comes back shuffled, converted (``dtype``, and ``channels_first``
   layout ``(B, C, ...)``) and cut at the epoch's batch boundaries, so a batch is handed out
   without another copy.
5. A background thread puts the batches in group order and runs the transforms, ``prefetch``
   batches ahead of the training loop. As the batches of an epoch are fixed by the plan, they
   are the same, bit for bit, whatever ``num_workers``, ``read_ahead`` and ``prefetch`` are.

Transforms are small callables on a batch tensor ``(B, C, *spatial)``; the random ones
(:func:`random_flip`, :func:`random_affine`, :func:`random_patch_3d`) take a
:class:`torch.Generator` that the loader seeds from ``(seed, epoch, rank, batch)``, so
augmentations repeat exactly too (see :mod:`vaearr.transforms`).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from vaearr.batches.ahead import ahead
from vaearr.batches.batcher import Batcher
from vaearr.batches.describe import check_spec, describe_source
from vaearr.batches.plan import (
    Plan,
    PlanConfig,
    choose_split,
    make_plan,
    split_blocks,
    split_samples,
    subset_samples,
)
from vaearr.batches.read import group_stream
from vaearr.batches.spec import (
    TAG_TRANSFORM,
    BatchSpec,
    numpy_dtype,
    torch_dtype,
    torch_seed,
)
from vaearr.batches.workers import Workers
from vaearr.errors import InputError
from vaearr.transforms import Transform


# ----------------------------------------------------------------------------------------------
# the loader


class ZarrBatches:
    """An iterable over torch batches of one variable of a store, read chunk by chunk.

    Takes a :class:`BatchSpec`, keywords, or both (keywords override the spec's fields); see
    :class:`BatchSpec` for every option and the module docstring for how an epoch is read.

    Each ``iter()`` runs one epoch with :attr:`epoch` and then advances it by one;
    :meth:`set_epoch` chooses the epoch the next ``iter()`` runs. The same ``seed`` and
    epoch give the same batches, whatever ``num_workers`` and ``prefetch`` are.

    Parameters
    ----------
    store
        Local path or fsspec URL of the store.
    spec
        A :class:`BatchSpec`; keywords build one when it is None.
    storage_options
        Passed to fsspec for URLs.
    **kwargs
        Fields of :class:`BatchSpec`.

    Raises
    ------
    StoreError
        The store, the variable or the mask is missing.
    InputError
        Dims, mask or options do not fit the variable.

    Examples
    --------
    >>> import numpy as np, xarray as xr, tempfile, os
    >>> from vaearr.store import write_variable
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> imgs = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    >>> write_variable(path, "images", xr.DataArray(imgs, dims=("sample", "row", "col")), chunks={"images": (3, 4, 4)})
    >>> loader = ZarrBatches(path, var="images", sample_dims=("sample",), feature_dims=("row", "col"), batch_size=4)
    >>> [tuple(x.shape) for x in loader]
    [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    >>> len(loader), loader.n_samples, loader.sample_shape
    (3, 10, (1, 4, 4))
    """

    def __init__(self, store: str | os.PathLike, spec: BatchSpec | None = None, *, storage_options: dict | None = None, **kwargs: Any):
        spec = BatchSpec(**kwargs) if spec is None else dataclasses.replace(spec, **kwargs)
        self.spec = spec
        self.store = os.fspath(store)
        self.storage_options = storage_options
        self.epoch = 0
        check_spec(spec, self.store)
        self.source = describe_source(spec, self.store, self.storage_options)
        self._dtype = torch_dtype(spec.dtype)
        self.source.out_dtype = numpy_dtype(self._dtype)
        self.transforms = [t.prepare(self.source.dtype) if isinstance(t, Transform) else t for t in spec.transforms]
        counts = self.source.counts()
        #: How this loader's split was held out: "chunk", "sample", or None (no split).
        self.split_by = None if spec.split == "all" else choose_split(counts, spec.val_fraction, spec.seed,
                                                                      spec.split_by)
        if self.split_by == "sample":
            counts = self._narrow_to_split()
        self._counts = counts
        by_chunk = self.split_by == "chunk"
        self._blocks = split_blocks(counts, spec.val_fraction if by_chunk else 0, spec.split if by_chunk else "all",
                                    spec.seed, self.store)
        if spec.subset is not None:
            self._counts = self._narrow_to_subset(spec.subset)
        self._plan_cache: Plan | None = None
        self._plan_config = PlanConfig(spec.batch_size, spec.shuffle, spec.seed, spec.buffer_chunks, spec.drop_last,
                                        spec.rank, spec.world_size)
        self._workers: Workers | None = None  # made on the first epoch that needs them
        self._sample_shape: tuple[int, ...] | None = None
        if self.n_samples == 0:
            where = f" inside mask '{spec.mask}'" if spec.mask else ""
            raise InputError(self.store, f"no samples of '{spec.var}'{where} in split '{spec.split}'")

    # -- set-up (the options checked and the variable described: vaearr.batches.describe) ---------

    def _narrow_to_split(self) -> np.ndarray:
        """A split by sample: keep this split's samples in the source's mask; their counts per block."""
        src, s = self.source, self.spec
        inside = (np.ones(src.grid_shape, bool) if src.mask is None else src.mask).ravel()
        val = split_samples(np.flatnonzero(inside), s.val_fraction, s.seed, where=self.store)
        keep = np.zeros(inside.size, bool)
        keep[val] = True
        if s.split == "train":
            keep = inside & ~keep
        src.mask = keep.reshape(src.grid_shape)
        return src.counts()

    def _narrow_to_subset(self, n: int) -> np.ndarray:
        """Keep a seeded choice of ``n`` of the split's samples in the source's mask; their counts per block."""
        src = self.source
        inside = np.zeros(src.grid_shape, bool)
        for b in self._blocks:
            sl = src.block_slices(int(b))
            inside[sl] = True if src.mask is None else src.mask[sl]
        #: samples of the split before the subset was chosen
        self.n_before_subset = int(inside.sum())
        keep = np.zeros(inside.size, bool)
        keep[subset_samples(np.flatnonzero(inside), n, self.spec.seed, where=self.store)] = True
        src.mask = keep.reshape(src.grid_shape)
        return src.counts()

    # -- what an epoch holds -------------------------------------------------------------------

    @property
    def n_samples(self) -> int:
        """Samples in this split (inside the mask), over all ranks."""
        return int(self._counts[self._blocks].sum())

    @property
    def blocks(self) -> np.ndarray:
        """Ids of the blocks (chunks along the sample dims) this split reads, over all ranks."""
        return self._blocks.copy()

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Sizes of the sample dims: flat sample indices index this grid (C order)."""
        return self.source.grid_shape

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Stored shape of one sample, in ``feature_dims`` order."""
        return self.source.feature_shape

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample in a yielded batch (after layout and transforms), e.g. ``(1, 60, 60)``."""
        if self._sample_shape is None:
            x = torch.from_numpy(np.zeros((1, *self.source.out_shape), self.source.out_dtype or self.source.dtype))
            self._sample_shape = tuple(self._finish(x, (0,)).shape[1:])
        return self._sample_shape

    def positions(self, idx: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Positional indices along each sample dim of flat sample indices (from ``return_index``)."""
        idx = idx.numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
        return dict(zip(self.spec.sample_dims, np.unravel_index(idx, self.grid_shape)))

    def set_epoch(self, epoch: int) -> None:
        """Run epoch ``epoch`` on the next ``iter()``: its own, reproducible shuffle."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches the next epoch yields on this rank."""
        return self._plan(self.epoch).n_batches

    def _plan(self, epoch: int) -> Plan:
        if self._plan_cache is None or self._plan_cache.epoch != epoch:
            self._plan_cache = make_plan(self._plan_config, self._counts, self._blocks, epoch)
        return self._plan_cache

    # -- producing batches ---------------------------------------------------------------------

    def _groups(self, plan: Plan) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """The pieces of each group, in group order, whoever decodes them.

        Starting (or restarting) the worker processes happens here, eagerly, in the caller's
        thread, before this loader starts any thread of its own: a fork then copies no
        thread of ours that could hold a lock.
        """
        if self.spec.num_workers == 0:
            return ([(torch.from_numpy(x), torch.from_numpy(i)) for x, i in pieces]
                    for pieces in group_stream(self.source, plan, self.spec.read_ahead))
        if self._workers is None:
            # started once per loader, here in the caller's thread (see above)
            self._workers = Workers(self.source, self._plan_config, self._counts, self._blocks,
                                     self.spec.num_workers, self.spec.mp_context)
        return self._workers.epoch(plan)

    def close(self) -> None:
        """Stop the worker processes (they otherwise live as long as this object)."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def __enter__(self) -> ZarrBatches:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _finish(self, x: torch.Tensor, key: tuple[int, ...]) -> torch.Tensor:
        """Convert (where numpy could not) and transform one batch; ``key`` seeds random transforms."""
        if self._dtype is not None and x.dtype != self._dtype:
            np_dtype = self.source.out_dtype
            # numpy's cast is single-threaded and GIL-free; torch's would wake its thread team,
            # which the training step needs
            if np_dtype is None:
                x = x.to(self._dtype)
            else:
                out = self.source.recycler.take(len(x), tuple(x.shape[1:]), np_dtype, capacity=self.spec.batch_size)
                np.copyto(out, x.numpy(), casting="unsafe")
                x = torch.from_numpy(out)
        for j, t in enumerate(self.transforms):
            if getattr(t, "random", False):
                # a generator per (batch, transform): draws never depend on what ran before
                x = t(x, generator=torch.Generator().manual_seed(torch_seed(*key, j)))
            else:
                x = t(x)
        return x

    def _batches(self, plan: Plan, groups: Iterator[list], stop: threading.Event | None = None) -> Iterator[Any]:
        s = self.spec
        batcher = Batcher(self.source.recycler, s.batch_size)
        pin = s.pin_memory and torch.cuda.is_available()
        done = 0

        def emit(n: int) -> Any:
            x, ids = batcher.pop(n)
            x = self._finish(x, (s.seed, TAG_TRANSFORM, plan.epoch, s.rank, done))
            if pin:
                x = x.pin_memory()
            return (x, ids.clone()) if s.return_index else x

        for pieces in groups:
            for x, ids in pieces:
                batcher.push(x, ids)
            while batcher.available >= s.batch_size and done < plan.n_batches:
                yield emit(s.batch_size)
                done += 1
            if done >= plan.n_batches or (stop is not None and stop.is_set()):
                return
        if batcher.available and done < plan.n_batches and not s.drop_last:
            yield emit(batcher.available)

    def __iter__(self) -> Iterator[Any]:
        plan = self._plan(self.epoch)
        self.epoch += 1
        groups = self._groups(plan)
        if self.spec.prefetch == 0:
            yield from self._batches(plan, groups)
            return
        # batches travel in runs of up to `prefetch`: one thread hand-off per run, not per
        # batch (on a busy machine each wake-up of a thread can cost milliseconds)
        stop = threading.Event()

        def runs() -> Iterator[list]:
            run: list = []
            for item in self._batches(plan, groups, stop):
                run.append(item)
                if len(run) >= self.spec.prefetch:
                    yield run
                    run = []
            if run:
                yield run

        for run in ahead(runs(), 2, stop=stop, name="vaearr-prefetch"):
            yield from run

    def __repr__(self) -> str:
        s = self.spec
        return (f"ZarrBatches({self.store!r}, var={s.var!r}, split={s.split!r}, n_samples={self.n_samples}, "
                f"batch_size={s.batch_size}, batches={len(self)}, sample_shape={self.sample_shape})")



def make_loaders(
    store: str | os.PathLike,
    var: str,
    sample_dims: Sequence[str],
    feature_dims: Sequence[str],
    mask: str | None = None,
    batch_size: int = 64,
    val_fraction: float = 0.1,
    seed: int = 0,
    transforms: Sequence[Callable] = (),
    num_workers: int = 0,
    *,
    val_transforms: Sequence[Callable] | None = None,
    subset: int | None = None,
    **kwargs: Any,
) -> tuple[ZarrBatches, ZarrBatches | None]:
    """Training and validation loaders over disjoint chunks (or samples, see ``split_by``) of one variable.

    The validation loader reads in order, keeps a short last batch and runs the transforms'
    evaluation forms: augmentations are dropped and :func:`random_patch_3d` becomes a centre
    crop of the same size (override with ``val_transforms``).

    Parameters
    ----------
    store, var, sample_dims, feature_dims, mask, batch_size, val_fraction, seed, transforms, num_workers
        As in :class:`BatchSpec`.
    val_transforms
        Transforms of the validation loader; default: the evaluation forms of ``transforms``.
    subset
        The training loader reads a seeded choice of this many of its samples (validation all of its own).
    **kwargs
        Further :class:`BatchSpec` fields for both loaders (``rank``, ``world_size``...).

    Returns
    -------
    train, val
        ``val`` is None when ``val_fraction`` is 0.
    """
    common = dict(var=var, sample_dims=tuple(sample_dims), feature_dims=tuple(feature_dims), mask=mask,
                  batch_size=batch_size, val_fraction=val_fraction, seed=seed, num_workers=num_workers, **kwargs)
    if val_fraction == 0:
        return ZarrBatches(store, split="all", transforms=tuple(transforms), subset=subset, **common), None
    train = ZarrBatches(store, split="train", transforms=tuple(transforms), subset=subset, **common)
    if val_transforms is None:
        val_transforms = [e for t in transforms if (e := (t.for_eval() if isinstance(t, Transform) else t)) is not None]
    common.update(shuffle=False, drop_last=False)
    val = ZarrBatches(store, split="val", transforms=tuple(val_transforms), **common)
    return train, val
