"""Tests of vaearr.batches.plan: the train/val split, the seeded two-level shuffle, the batch cuts of an epoch."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.batches.plan import (
    PlanConfig,
    choose_split,
    group_cuts,
    group_rows,
    make_plan,
    n_val_samples,
    split_blocks,
    split_samples,
    subset_samples,
)
from vaearr.errors import InputError

COUNTS = np.array([5, 0, 7, 3, 4, 6, 0, 2], dtype=np.int64)  # samples per block id; two empty blocks


def _config(**kw) -> PlanConfig:
    return PlanConfig(**{"batch_size": 4, "shuffle": False, "seed": 0, "buffer_chunks": 3, "drop_last": False,
                         "rank": 0, "world_size": 1, **kw})


def test_an_unshuffled_plan_groups_the_blocks_in_order() -> None:
    blocks = np.flatnonzero(COUNTS)  # 0, 2, 3, 4, 5, 7: 27 samples
    plan = make_plan(_config(), COUNTS, blocks, epoch=0)
    assert plan.groups == [[0, 2, 3], [4, 5, 7]] and plan.counts == [[5, 7, 3], [4, 6, 2]]
    assert plan.starts == [0, 15] and plan.limit == 27 and plan.n_batches == 7  # ceil(27 / 4)
    assert plan.group_rows == 7 + 6 + 5 and plan.seed_of(0) is None  # the three largest blocks
    dropped = make_plan(_config(drop_last=True), COUNTS, blocks, epoch=0)
    assert dropped.n_batches == 6 and dropped.limit == 24


def test_group_cuts_fall_on_the_epochs_batch_boundaries() -> None:
    plan = make_plan(_config(), COUNTS, np.flatnonzero(COUNTS), epoch=0)
    assert group_cuts(plan, 0) == [0, 4, 8, 12, 15]  # epoch positions 0..14
    assert group_cuts(plan, 1) == [0, 1, 5, 9, 12]  # positions 15..26: the batch 12..15 ends at 16
    dropped = make_plan(_config(drop_last=True), COUNTS, np.flatnonzero(COUNTS), epoch=0)
    assert group_cuts(dropped, 1) == [0, 1, 5, 9]  # the short last batch is never built


def test_the_shuffle_is_the_seed_and_epochs_alone() -> None:
    blocks = np.arange(40)
    counts = np.full(40, 3)
    plans = [make_plan(_config(shuffle=True, seed=s), counts, blocks, epoch=e) for s, e in [(0, 0), (0, 0), (0, 1), (1, 0)]]
    orders = [sum(p.groups, []) for p in plans]
    assert orders[0] == orders[1] and orders[0] != orders[2] and orders[0] != orders[3]
    assert all(sorted(o) == list(range(40)) for o in orders)  # a permutation of the blocks each
    assert plans[0].seed_of(2) == (0, 3, 0, 0, 2) and plans[2].seed_of(2) == (0, 3, 1, 0, 2)
    assert group_rows(_config(buffer_chunks=50), counts, blocks) == 120  # more than there are: all of them


@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_read_disjoint_blocks_and_take_the_same_number_of_steps(drop_last: bool) -> None:
    counts = np.random.default_rng(3).integers(1, 9, 23)
    blocks = np.arange(23)
    plans = [make_plan(_config(world_size=3, rank=r, drop_last=drop_last, shuffle=True), counts, blocks, 2)
             for r in range(3)]
    mine = [sum(p.groups, []) for p in plans]
    assert sorted(sum(mine, [])) == list(range(23))  # every block read once, by one rank
    assert len({p.n_batches for p in plans}) == 1
    loads = [int(counts[m].sum()) for m in mine]
    assert max(loads) - min(loads) <= counts.max()  # greedy: at most a block apart
    n = min(loads) // 4 if drop_last else -(-min(loads) // 4)
    assert plans[0].n_batches == n and all(p.limit == min(load, n * 4) for p, load in zip(plans, loads))


def test_choose_split() -> None:
    with pytest.raises(InputError, match="split_by must be one of chunk, sample, auto, got 'rows'"):
        choose_split(COUNTS, 0.1, 0, "rows")
    assert choose_split(COUNTS, 0.0, 0, "chunk") is None
    assert choose_split(COUNTS, 0.2, 0, "sample") == "sample"
    assert choose_split(COUNTS, 0.2, 0) == "chunk"
    # one or two chunks cannot give validation its share and leave training one: by sample
    assert choose_split(np.array([10, 0]), 0.2, 0) == "sample"
    assert choose_split(np.array([10, 10]), 0.2, 0) == "chunk"
    assert choose_split(np.array([10, 10]), 0.9, 0) == "sample"  # both chunks for validation: none left


def test_split_blocks_are_disjoint_and_hold_the_fraction() -> None:
    counts = np.random.default_rng(0).integers(0, 5, 60)
    val = split_blocks(counts, 0.2, "val", 5, "s.zarr")
    train = split_blocks(counts, 0.2, "train", 5, "s.zarr")
    nonempty = np.flatnonzero(counts)
    assert not set(val) & set(train) and sorted([*val, *train]) == nonempty.tolist()
    assert list(val) == sorted(val) and list(train) == sorted(train)
    share = counts[val].sum() / counts.sum()
    assert 0.2 <= share < 0.2 + counts.max() / counts.sum()  # the first blocks that reach the fraction
    np.testing.assert_array_equal(split_blocks(counts, 0.2, "val", 5, "s.zarr"), val)  # the seed alone
    np.testing.assert_array_equal(split_blocks(counts, 0.2, "all", 5, "s.zarr"), nonempty)
    assert len(split_blocks(counts, 0.0, "val", 5, "s.zarr")) == 0
    assert len(split_blocks(np.array([3, 3]), 0.99, "train", 0, "s.zarr")) == 1  # training keeps a chunk
    with pytest.raises(InputError, match="only one chunk holds samples: cannot split train/val by chunk"):
        split_blocks(np.array([0, 4, 0]), 0.2, "train", 0, "s.zarr")


def test_a_split_by_sample() -> None:
    assert [n_val_samples(n, 0.1) for n in (2, 10, 14, 15, 100)] == [1, 1, 1, 2, 10]
    assert n_val_samples(3, 0.99) == 2 and n_val_samples(50, 0.0) == 0  # training keeps one
    ids = np.arange(0, 200, 3)
    val = split_samples(ids, 0.25, seed=4)
    assert len(val) == round(0.25 * len(ids)) and set(val) <= set(ids) and list(val) == sorted(val)
    np.testing.assert_array_equal(split_samples(ids, 0.25, seed=4), val)
    assert not np.array_equal(split_samples(ids, 0.25, seed=5), val)
    with pytest.raises(InputError, match=r"1 sample\(s\): too few to hold any out for validation"):
        split_samples(np.array([7]), 0.5, seed=0, where="s.zarr")


def test_a_subset() -> None:
    ids = np.arange(100, 130)
    sub = subset_samples(ids, 7, seed=2)
    assert len(sub) == 7 and len(set(sub)) == 7 and set(sub) <= set(ids) and list(sub) == sorted(sub)
    np.testing.assert_array_equal(subset_samples(ids, 30, seed=2), ids)
    for n in (0, 31):
        with pytest.raises(InputError, match=f"subset must be 1..30 \\(the training samples\\), got {n}"):
            subset_samples(ids, n, seed=2)
