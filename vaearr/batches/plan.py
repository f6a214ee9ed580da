"""The epoch plan: the train/val split (by chunks, or samples when chunks are too few), the seeded two-level shuffle, batch cuts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaearr.batches.spec import (
    TAG_GROUP,
    TAG_ORDER,
    TAG_SPLIT,
    TAG_SPLIT_SAMPLES,
    TAG_SUBSET,
    rng,
)
from vaearr.errors import InputError


def group_cuts(plan: Plan, g: int) -> list[int]:
    """Where group ``g`` is cut into pieces: at the epoch's batch boundaries, up to its limit."""
    n = sum(plan.counts[g])
    start, bs = plan.starts[g], plan.batch_size
    end = min(start + n, plan.limit) - start  # samples past the epoch's last batch are not built
    return [0, *range(bs - start % bs, end, bs), end] if end > 0 else [0]



# ----------------------------------------------------------------------------------------------
# the epoch plan


@dataclass
class Plan:
    """One rank's epoch: groups of block ids, their sample counts, where they start, the batches."""

    epoch: int
    groups: list[list[int]]
    counts: list[list[int]]
    starts: list[int]  # first epoch position of each group
    limit: int  # epoch positions from here on are not yielded (drop_last, equal ranks)
    n_batches: int
    batch_size: int
    shuffle: bool
    seed: int
    rank: int
    group_rows: int  # samples the largest group of any epoch can hold (its buffers' capacity)

    def seed_of(self, g: int) -> tuple[int, ...] | None:
        return (self.seed, TAG_GROUP, self.epoch, self.rank, g) if self.shuffle else None


@dataclass(frozen=True)
class PlanConfig:
    """The settings an epoch plan depends on (picklable, unlike user transforms)."""

    batch_size: int
    shuffle: bool
    seed: int
    buffer_chunks: int
    drop_last: bool
    rank: int
    world_size: int


def group_rows(cfg: PlanConfig, counts_all: np.ndarray, blocks: np.ndarray) -> int:
    """The most samples a group of ``cfg.buffer_chunks`` of ``blocks`` can hold, in any epoch."""
    k = min(cfg.buffer_chunks, len(blocks))
    return int(np.sort(counts_all[blocks])[len(blocks) - k:].sum()) if len(blocks) else 0


def make_plan(cfg: PlanConfig, counts_all: np.ndarray, blocks: np.ndarray, epoch: int) -> Plan:
    """This rank's plan of one epoch over ``blocks`` (with ``counts_all`` samples per block id)."""
    rows = group_rows(cfg, counts_all, blocks)
    if cfg.shuffle:
        blocks = rng(cfg.seed, TAG_ORDER, epoch).permutation(blocks)
    counts = counts_all[blocks]
    bs = cfg.batch_size
    if cfg.world_size > 1:
        # greedy: each chunk to the rank holding the fewest samples so far, so ranks differ by
        # at most one chunk and each reads only its own chunks
        loads = np.zeros(cfg.world_size, dtype=np.int64)
        owner = np.empty(len(blocks), dtype=np.int64)
        for i, c in enumerate(counts):
            r = int(np.argmin(loads))
            owner[i] = r
            loads[r] += c
        mine = owner == cfg.rank
        blocks, counts = blocks[mine], counts[mine]
        # every rank must take the same number of steps: the fewest any rank can fill
        n_batches = min((int(n) // bs if cfg.drop_last else -(-int(n) // bs)) for n in loads)
    else:
        n = int(counts.sum())
        n_batches = n // bs if cfg.drop_last else -(-n // bs)
    k = cfg.buffer_chunks
    groups = [[int(b) for b in blocks[i:i + k]] for i in range(0, len(blocks), k)]
    gcounts = [[int(c) for c in counts[i:i + k]] for i in range(0, len(blocks), k)]
    starts = np.concatenate([[0], np.cumsum([sum(c) for c in gcounts])]).astype(int).tolist()
    return Plan(epoch=epoch, groups=groups, counts=gcounts, starts=starts[:-1],
                 limit=min(int(counts.sum()), n_batches * bs), n_batches=n_batches, batch_size=bs,
                 shuffle=cfg.shuffle, seed=cfg.seed, rank=cfg.rank, group_rows=rows)



#: Accepted values of ``split_by``: whole chunks, single samples, or chunks when they can.
SPLIT_BY = ("chunk", "sample", "auto")


def _chunk_split(counts: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, int]:
    """The non-empty blocks in the seeded split order, and how many of them validation needs
    (the first whose running count reaches ``val_fraction`` of the samples, 1-based)."""
    nonempty = np.flatnonzero(counts > 0)
    order = rng(seed, TAG_SPLIT).permutation(nonempty)
    target = val_fraction * counts[nonempty].sum()
    return order, int(np.searchsorted(np.cumsum(counts[order]), target)) + 1


def choose_split(counts: np.ndarray, val_fraction: float, seed: int, split_by: str = "auto") -> str | None:
    """How validation is held out: ``"chunk"``, ``"sample"``, or None (``val_fraction`` 0).

    ``"auto"`` takes whole chunks when they can hold ``val_fraction`` of the samples and still
    leave training a chunk, and single samples otherwise (a store of one or two chunks: the
    few tens or hundreds of images or volumes a small study has).
    """
    if split_by not in SPLIT_BY:
        raise InputError(None, f"split_by must be one of {', '.join(SPLIT_BY)}, got {split_by!r}")
    if val_fraction == 0:
        return None
    if split_by != "auto":
        return split_by
    order, n_val = _chunk_split(counts, val_fraction, seed)
    return "chunk" if len(order) >= 2 and n_val <= len(order) - 1 else "sample"


def split_blocks(counts: np.ndarray, val_fraction: float, split: str, seed: int, store: str) -> np.ndarray:
    """Block ids of ``split``: whole blocks, in a seeded order, until val holds ``val_fraction``."""
    nonempty = np.flatnonzero(counts > 0)
    if split == "all" or val_fraction == 0:
        return nonempty if split != "val" else nonempty[:0]
    if len(nonempty) < 2:
        raise InputError(store, "only one chunk holds samples: cannot split train/val by chunk "
                                "(split_by='auto' splits by sample then)")
    order, n_val = _chunk_split(counts, val_fraction, seed)
    n_val = min(max(n_val, 1), len(order) - 1)  # both splits keep at least one chunk
    val = np.sort(order[:n_val])
    return val if split == "val" else np.sort(order[n_val:])


def n_val_samples(n: int, val_fraction: float) -> int:
    """Samples a split by sample sends to validation: ``val_fraction`` of ``n``, rounded, at least
    one, and never all (training keeps at least one)."""
    if val_fraction == 0:
        return 0
    return min(max(round(val_fraction * n), 1), n - 1)


def split_samples(ids: np.ndarray, val_fraction: float, seed: int, *, where: str | None = None) -> np.ndarray:
    """The validation samples of a split by sample: a seeded choice of ``ids``, sorted.

    ``ids`` are the flat indices of every sample that can be read (inside the mask); the choice
    depends on them, ``val_fraction`` and ``seed`` only, so every loader, a resumed run and
    every rank make the same one. The training samples are the rest of ``ids``.

    Examples
    --------
    >>> split_samples(np.arange(10), 0.2, seed=0)
    array([1, 7])
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        raise InputError(where, f"{len(ids)} sample(s): too few to hold any out for validation "
                                "(`val_fraction=0` trains without validation)")
    n_val = n_val_samples(len(ids), val_fraction)
    return np.sort(rng(seed, TAG_SPLIT_SAMPLES).permutation(ids)[:n_val])


def subset_samples(ids: np.ndarray, n: int, seed: int, *, where: str | None = None) -> np.ndarray:
    """A seeded choice of ``n`` of the samples ``ids`` (flat indices), sorted: a training subset.

    Examples
    --------
    >>> subset_samples(np.arange(10), 3, seed=0).tolist()
    [2, 4, 7]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if not 1 <= n <= len(ids):
        raise InputError(where, f"subset must be 1..{len(ids)} (the training samples), got {n}")
    return np.sort(rng(seed, TAG_SUBSET).permutation(ids)[:n])
