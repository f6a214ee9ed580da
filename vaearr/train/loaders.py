"""The training and validation loaders of a run, and what of its preprocessing is left for the step."""

from __future__ import annotations

from typing import Any

from vaearr.batches import ZarrBatches, make_loaders
from vaearr.batches.read import cpus
from vaearr.run import Run
from vaearr.train.config import TrainConfig
from vaearr.transforms import Transform, random_affine, random_flip


def augmentations(cfg: TrainConfig) -> list[Transform]:
    """The random augmentations ``--augment`` adds after the preprocessing: a flip of the last dim, a small affine."""
    if not cfg.augment:
        return []
    return [random_flip((-1,), 0.5, seed=cfg.seed), random_affine(5.0, 0.02, seed=cfg.seed)]


def build_loaders(run: Run, cfg: TrainConfig, rank: int = 0, world_size: int = 1,
                  defer: bool = True) -> tuple[ZarrBatches, ZarrBatches | None, Any]:
    """Training and validation loaders as ``vaearr train`` builds them, and the transform left for the step.

    When the run's preprocessing runs as well in the training step, on the batch already on
    the device (scaling, standardisation, centre crop) and nothing random follows, the loaders
    hand out batches in the stored dtype (uint8 patterns: a quarter of float32's bytes to
    write, hold and copy) and the returned ``on_device`` (the run's :class:`Preprocess`)
    converts each batch there, after the copy: on a GPU, on the GPU; on the CPU, in the
    training thread, on a batch that is still in cache, instead of the loader writing a float32
    copy of every sample to memory. Otherwise (random or resampling steps, or ``defer=False``)
    the loaders transform the batches themselves and ``on_device`` is None.
    """
    d, pre = run.data, run.preprocess
    extra_train = augmentations(cfg)
    on_device = None
    extra: dict[str, Any] = {}
    if defer and pre.steps and pre.in_step and not extra_train:
        on_device = pre
        transforms, val_transforms, extra = [], [], {"dtype": None}
    else:
        transforms = pre.transforms(training=True) + extra_train
        val_transforms = pre.transforms(training=False)
    num_workers = cfg.num_workers
    if num_workers is None:
        # on CUDA a step is mostly Python launching kernels: decoding in threads of the same
        # process slowed a conv-vae step by ~7 % on an H100, in worker processes by ~0-3 %
        num_workers = min(4, cpus() // 2) if cfg.device.startswith("cuda") else 0
    train, val = make_loaders(
        d.store, pre.source_variable(d.var), sample_dims=d.sample_dims, feature_dims=d.feature_dims, mask=d.mask,
        batch_size=cfg.batch_size, val_fraction=cfg.val_fraction, seed=cfg.seed, num_workers=num_workers,
        transforms=transforms, val_transforms=val_transforms, rank=rank, world_size=world_size, **extra,
        # batches are not pinned: on an H100, pinning each batch in the loader's thread slowed a
        # conv-vae step (0.92 of in-memory feeding against 1.00 unpinned, median of 3 rounds;
        # benchmarks/bench_gpu.py --feed pinned); the uint8 batches are small to copy anyway
    )
    return train, val, on_device
