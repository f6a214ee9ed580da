"""The training and validation loaders of a run, and what of its preprocessing is left for the step."""

from __future__ import annotations

from typing import Any

from vaearr.batches import ZarrBatches, make_loaders
from vaearr.batches.read import cpus
from vaearr.batches import DataSpec
from vaearr.run import Run
from vaearr.train.config import TrainConfig
from vaearr.train.window import training_data
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
    d, pre = training_data(run), run.preprocess
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
        transforms=transforms, val_transforms=val_transforms, rank=rank, world_size=world_size,
        split_by=cfg.split_by, subset=cfg.subset, **extra,
        # batches are not pinned: on an H100, pinning each batch in the loader's thread slowed a
        # conv-vae step (0.92 of in-memory feeding against 1.00 unpinned, median of 3 rounds;
        # benchmarks/bench_gpu.py --feed pinned); the uint8 batches are small to copy anyway
    )
    return train, val, on_device


def split_choices(cfg: TrainConfig, data: DataSpec, var: str) -> dict[str, Any]:
    """What a new run records of its split (``split_by``, ``batch_size``): ``split_by`` made concrete (``"auto"``:
    whole chunks when the store has enough of them, else samples) and ``batch_size`` at most the training
    samples of ``var`` (the variable the run reads; ``subset`` of them when given: 1 to their
    number, else an error), so a resumed run reads the same batches."""
    common = dict(var=var, sample_dims=data.sample_dims, feature_dims=data.feature_dims, mask=data.mask,
                  batch_size=1, shuffle=False, dtype=None, subset=cfg.subset)
    if cfg.val_fraction == 0:
        train = ZarrBatches(data.store, split="all", **common)
    else:
        train = ZarrBatches(data.store, split="train", val_fraction=cfg.val_fraction, seed=cfg.seed,
                            split_by=cfg.split_by, **common)
    return {"split_by": train.split_by or cfg.split_by, "batch_size": min(cfg.batch_size, train.n_samples)}


def describe_split(train: ZarrBatches, val: ZarrBatches | None) -> str:
    """One line on how validation was held out, e.g.
    ``validation: 5 of 50 samples, split by sample (the store has 1 chunk)``."""
    if val is None:
        return (f"validation: none (`val_fraction=0`): all {getattr(train, 'n_before_subset', train.n_samples)} samples train; best/ is chosen by "
                "the training loss, and the history and curves hold training losses only")
    n_val, n = val.n_samples, getattr(train, "n_before_subset", train.n_samples) + val.n_samples
    chunks = len(set(train.blocks.tolist()) | set(val.blocks.tolist()))
    where = (f"the store has {chunks} chunk{'s' if chunks != 1 else ''}" if train.split_by == "sample"
             else f"{len(val.blocks)} of {chunks} chunks")
    return f"validation: {n_val} of {n} samples, split by {train.split_by} ({where})"


def describe_subset(train: ZarrBatches) -> str:
    """``subset``'s line (empty without one)."""
    if train.spec.subset is None:
        return ""
    return (f"training subset (`subset`): {train.n_samples} of the {train.n_before_subset} training samples, "
            f"a random choice (seed {train.spec.seed})")
