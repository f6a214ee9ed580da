"""Tests of vaearr.batches.read: a variable's sample grid cut into blocks, blocks decoded into shuffled group
buffers (from the chunk files or through zarr), recycled buffers."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.batches.describe import describe_source
from vaearr.batches.plan import PlanConfig, group_cuts, make_plan
from vaearr.batches.read import Recycler, Source, cpus, group_stream, read_group
from vaearr.batches.spec import BatchSpec
from vaearr.store import write_variables

GRID, CHUNK = (5, 7), (2, 3)  # 3 x 3 blocks, the last row and column short


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """``v(y, x, a, b)`` int32 whose ``[..., 0, 0]`` is the sample's flat index; ``roi(y, x)``."""
    path = tmp_path_factory.mktemp("read") / "r.zarr"
    ids = np.arange(np.prod(GRID), dtype=np.int32).reshape(GRID)
    v = ids[..., None, None] * 10 + np.arange(6, dtype=np.int32).reshape(2, 3)
    roi = np.random.default_rng(0).random(GRID) < 0.5
    write_variables(path, {"v": xr.DataArray(v, dims=("y", "x", "a", "b")),
                           "roi": xr.DataArray(roi, dims=("y", "x"))}, chunks={"v": (*CHUNK, 2, 3)})
    return path, v, roi


def _source(path: Path, **kw) -> Source:
    spec = BatchSpec(**{"var": "v", "sample_dims": ("y", "x"), "feature_dims": ("a", "b"), **kw})
    return describe_source(spec, str(path), None)


def test_the_grid_in_blocks(store) -> None:
    src = _source(store[0])
    assert src.n_blocks == (3, 3) and src.block_pos(5) == (1, 2) and src.block_pos(8) == (2, 2)
    assert src.block_slices(8) == (slice(4, 5), slice(6, 7))
    np.testing.assert_array_equal(src.counts(), [6, 6, 2, 6, 6, 2, 3, 3, 1])  # rows 2, 2, 1 x cols 3, 3, 1
    local, ids = src.block_index(5)  # rows 2..3, cols 6: samples 20 and 27
    assert local is None and ids.tolist() == [20, 27]
    assert src.selection(5) == (slice(2, 4), slice(6, 7), slice(None), slice(None)) and src.chunk_coords(5) == (1, 2, 0, 0)


def test_a_mask_keeps_its_samples_in_every_block(store) -> None:
    _, _, roi = store
    src = _source(store[0], mask="roi")
    src.mask = roi
    want = [roi[src.block_slices(b)].sum() for b in range(9)]
    np.testing.assert_array_equal(src.counts(), want)
    for b in range(9):
        local, ids = src.block_index(b)
        sl = src.block_slices(b)
        grid = np.arange(np.prod(GRID)).reshape(GRID)[sl]
        assert ids.tolist() == grid[roi[sl]].tolist()
        if local is not None:
            assert local.tolist() == np.flatnonzero(roi[sl]).tolist()


@pytest.mark.parametrize("files", [True, False])
def test_blocks_read_the_stored_samples(store, files: bool) -> None:
    path, v, roi = store
    src = _source(path, mask="roi")
    if not files:
        src._files = False  # noqa: SLF001 - what a store the files path does not handle gets: zarr reads it
    assert (src.files is not None) is files
    flat = v.reshape(-1, 2, 3)
    for (samples, ids), b in zip(src.read_blocks([0, 4, 8]), [0, 4, 8]):
        assert ids.tolist() == src.block_index(b)[1].tolist() and len(ids) == roi[src.block_slices(b)].sum()
        np.testing.assert_array_equal(samples, flat[ids])


def test_a_group_comes_out_shuffled_cast_laid_out_and_cut_at_the_batches(store) -> None:
    path, v, _ = store
    src = _source(path)
    src.out_dtype, src.channels_first = np.dtype(np.float32), True
    assert src.out_shape == (1, 2, 3)
    cfg = PlanConfig(batch_size=4, shuffle=True, seed=3, buffer_chunks=4, drop_last=False, rank=0, world_size=1)
    counts = src.counts()
    plan = make_plan(cfg, counts, np.arange(9), epoch=0)
    pieces = read_group(src, plan, 1)
    assert [len(i) for _, i in pieces] == np.diff(group_cuts(plan, 1)).tolist()
    data = np.concatenate([d for d, _ in pieces])
    ids = np.concatenate([i for _, i in pieces])
    want = sorted(sum((src.block_index(b)[1].tolist() for b in plan.groups[1]), []))
    assert sorted(ids.tolist()) == want and ids.tolist() != want  # every sample of the group, shuffled
    assert data.dtype == np.float32 and data.shape == (len(ids), 1, 2, 3)
    np.testing.assert_array_equal(data[:, 0], v.reshape(-1, 2, 3)[ids])
    again = np.concatenate([i for _, i in read_group(src, plan, 1)])
    np.testing.assert_array_equal(again, ids)  # the plan's seed alone
    streamed = [np.concatenate([i for _, i in g]) for g in group_stream(src, plan, ahead=2)]
    assert len(streamed) == len(plan.groups)
    np.testing.assert_array_equal(streamed[1], ids)


def test_a_source_travels_to_a_worker_without_its_open_array(store) -> None:
    src = _source(store[0])
    assert src.array is not None and src.recycler is not None
    copy = pickle.loads(pickle.dumps(src))
    assert copy._array is None and copy._recycler is None  # noqa: SLF001 - each process opens its own
    np.testing.assert_array_equal(copy.read_blocks([3])[0][0], src.read_blocks([3])[0][0])


def test_a_buffer_is_reused_once_nothing_holds_it() -> None:
    rec = Recycler()
    a = rec.take(3, (2,), np.float32, capacity=5)
    assert a.shape == (3, 2) and a.base is not None and a.base.shape == (5, 2)
    first = a.__array_interface__["data"][0]
    b = rec.take(5, (2,), np.float32)
    assert not np.shares_memory(a, b)  # a is still held
    del a, b
    c = rec.take(2, (2,), np.float32, capacity=5)
    assert c.__array_interface__["data"][0] == first  # the first buffer again, its pages already in
    assert not np.shares_memory(c, rec.take(2, (2,), np.int16, capacity=5))  # another dtype: another buffer


def test_cpus() -> None:
    assert 1 <= cpus() <= (os.cpu_count() or 1)
