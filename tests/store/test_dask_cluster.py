"""A command's dask work on a dask.distributed cluster (:mod:`vaearr.store.dask_cluster`): nothing changes without a
scheduler, an address where none answers is one line, and a real in-process cluster runs the block's dask work."""

from __future__ import annotations

import dask
import dask.array as da
import pytest

from vaearr.errors import InputError
from vaearr.store.dask_cluster import dask_client


def test_without_a_scheduler_nothing_changes() -> None:
    for given in (None, ""):
        with dask_client(given) as client:
            assert client is None


def test_an_address_where_no_scheduler_answers_is_one_line() -> None:
    pytest.importorskip("distributed", reason="needs the 'flows' extra")
    before = dask.config.get("scheduler", None)
    with pytest.raises(InputError, match=r"^nope://x:1: no dask scheduler answers here \(unknown address scheme 'nope'"):
        with dask_client("nope://x:1"):
            pass
    # nothing left behind: dask computes where it did (a failed Client made itself the scheduler: every later
    # .compute() of the process waited on it)
    assert dask.config.get("scheduler", None) == before
    assert int(da.ones(4, chunks=2).sum().compute()) == 4


def test_the_blocks_dask_work_runs_on_the_cluster() -> None:
    distributed = pytest.importorskip("distributed", reason="needs the 'flows' extra")
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        with dask_client(cluster.scheduler_address) as client:
            assert distributed.get_client() is client
            assert int(da.ones(10, chunks=2).sum().compute()) == 10
            # a plain .compute() inside the block runs on the cluster's worker
            where = dask.delayed(lambda: distributed.get_worker().address)().compute()
            assert where == cluster.workers[0].address
        assert client.status == "closed"
    assert dask.config.get("scheduler", None) is None  # dask's own scheduler again after the block
