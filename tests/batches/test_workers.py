"""Tests of vaearr.batches.workers: worker processes that decode groups into reused shared-memory slots."""

from __future__ import annotations


import numpy as np
import pytest
import xarray as xr

from vaearr.batches.describe import describe_source
from vaearr.batches.plan import PlanConfig, make_plan
from vaearr.batches.read import Source, read_group
from vaearr.batches.spec import BatchSpec
from vaearr.batches.workers import Workers
from vaearr.store import write_variables

CFG = PlanConfig(batch_size=5, shuffle=True, seed=1, buffer_chunks=2, drop_last=False, rank=0, world_size=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    path = tmp_path_factory.mktemp("workers") / "w.zarr"
    v = np.arange(11 * 4 * 3, dtype=np.uint16).reshape(11, 4, 3)
    write_variables(path, {"v": xr.DataArray(v, dims=("s", "r", "c"))}, chunks={"v": (2, 4, 3)})
    spec = BatchSpec("v", ("s",), ("r", "c"))
    src = describe_source(spec, str(path), None)
    src.out_dtype, src.channels_first = np.dtype(np.float32), True
    return src


def _epoch(pieces) -> tuple[np.ndarray, np.ndarray]:
    groups = list(pieces)
    return (np.concatenate([p[0].numpy() for g in groups for p in g]),
            np.concatenate([p[1].numpy() for g in groups for p in g]))


def test_workers_give_the_groups_this_process_would_read(source: Source) -> None:
    counts, blocks = source.counts(), np.arange(6)
    workers = Workers(source, CFG, counts, blocks, n=2, method=None)
    try:
        for epoch in (0, 1):
            plan = make_plan(CFG, counts, blocks, epoch)
            x, ids = _epoch(workers.epoch(plan))
            want = [read_group(source, plan, g) for g in range(len(plan.groups))]
            np.testing.assert_array_equal(ids, np.concatenate([i for g in want for _, i in g]))
            np.testing.assert_array_equal(x, np.concatenate([d for g in want for d, _ in g]))
            assert sorted(ids.tolist()) == list(range(11))
        # an epoch left early frees its slots for the next one; the slots are reused, not added
        n_slots = len(workers.slots)
        next(workers.epoch(make_plan(CFG, counts, blocks, 2))).clear()
        _epoch(workers.epoch(make_plan(CFG, counts, blocks, 3)))
        assert len(workers.slots) <= n_slots + 1
    finally:
        workers.close()
    assert not any(p.is_alive() for p in workers.procs)


def test_a_worker_that_died_is_an_error_naming_it(source: Source) -> None:
    counts, blocks = source.counts(), np.arange(6)
    workers = Workers(source, CFG, counts, blocks, n=1, method=None)
    try:
        workers.procs[0].kill()
        workers.procs[0].join()
        with pytest.raises(RuntimeError, match="worker process vaearr-worker-0 exited unexpectedly"):
            _epoch(workers.epoch(make_plan(CFG, counts, blocks, 0)))
    finally:
        workers.close()
