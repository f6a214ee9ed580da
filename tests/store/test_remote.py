"""Stores on object storage as icechunk repositories (:mod:`vaearr.store.remote`), on ``memory://`` repositories of
this process: storage options in icechunk's and fsspec's spellings, a write committed as one snapshot, a second
writer refused, dead transaction branches dropped, and object-storage failures said in a few words."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import zarr

from vaearr.errors import StoreConflictError, StoreError
from vaearr.store import remote
from vaearr.store.remote import (
    TX_PREFIX,
    drop_dead_branches,
    fsspec_options,
    history,
    is_repository_url,
    is_storage_failure,
    read_session,
    repository,
    scheme,
    snapshot_of,
    storage_error,
    storage_problem,
    write_transaction,
)

ic = pytest.importorskip("icechunk", reason="needs the 's3' extra")


def _url() -> str:
    return f"memory://test-{uuid.uuid4().hex[:8]}"


def test_which_urls_are_repositories() -> None:
    assert scheme("S3://b/x") == "s3" and is_repository_url("s3://b/x") and is_repository_url("memory://m")
    assert not is_repository_url("gs://b/x") and not is_repository_url("/tmp/x.zarr")


def test_s3_options_in_icechunks_spelling(monkeypatch) -> None:
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    kw = remote._s3_kwargs("s3://b/x", {"key": "K", "secret": "S", "anon": "no"})  # noqa: SLF001 - the option names
    assert kw == {"access_key_id": "K", "secret_access_key": "S", "anonymous": False, "region": "us-east-1"}
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:9000")
    kw = remote._s3_kwargs("s3://b/x", {"region_name": "eu-west-1"})  # noqa: SLF001 - an endpoint from the environment
    assert kw == {"region": "eu-west-1", "endpoint_url": "http://localhost:9000", "force_path_style": True,
                  "allow_http": True, "from_env": True}
    with pytest.raises(StoreError, match=r"s3://b/x: unknown storage option 'colour' for s3:// \(known: "):
        remote._s3_kwargs("s3://b/x", {"colour": "red"})  # noqa: SLF001 - a misspelt option
    with pytest.raises(StoreError, match=r"no bucket in the URL \(s3://BUCKET/path.zarr\)"):
        remote._storage("s3://", {})  # noqa: SLF001 - the URL's bucket


def test_s3_options_in_fsspecs_spelling() -> None:
    given = {"endpoint_url": "http://h", "region": "r", "access_key_id": "K", "secret": "S", "token": "T", "anon": True}
    assert fsspec_options("s3://b/x", given) == {"endpoint_url": "http://h", "client_kwargs": {"region_name": "r"},
                                                 "key": "K", "secret": "S", "token": "T", "anon": True}
    assert fsspec_options("gs://b/x", {"token": "t"}) == {"token": "t"}


def test_a_write_is_one_snapshot_and_readers_see_it() -> None:
    url = _url()
    assert repository(url) is None and history(url) == []
    with pytest.raises(StoreError, match="no vaearr store here"):
        read_session(url)
    with write_transaction(url, "first") as tx:
        zarr.create_array(tx.session.store, name="a", shape=(3,), dtype="f8")[:] = [1, 2, 3]
    first = snapshot_of(url)
    np.testing.assert_array_equal(zarr.open_array(read_session(url).store, path="a")[:], [1, 2, 3])
    with pytest.raises(RuntimeError, match="stopped"):
        with write_transaction(url, "dropped") as tx:
            zarr.open_array(tx.session.store, path="a", mode="r+")[:] = 0
            raise RuntimeError("stopped")
    assert snapshot_of(url) == first  # a block that fails commits nothing
    assert [m for _, m in history(url)][:1] == ["first"]


def test_a_second_writer_to_commit_is_refused() -> None:
    url = _url()
    with write_transaction(url, "make") as tx:
        zarr.create_array(tx.session.store, name="a", shape=(2,), dtype="f8")[:] = 0
    with pytest.raises(StoreConflictError, match="another writer committed to this store during this write"):
        with write_transaction(url, "slow") as slow:
            with write_transaction(url, "fast") as fast:
                zarr.open_array(fast.session.store, path="a", mode="r+")[:] = 1
            zarr.open_array(slow.session.store, path="a", mode="r+")[:] = 2
    np.testing.assert_array_equal(zarr.open_array(read_session(url).store, path="a")[:], [1, 1])


def test_dead_transaction_branches_are_dropped() -> None:
    url = _url()
    with write_transaction(url, "make") as tx:
        zarr.create_array(tx.session.store, name="a", shape=(1,), dtype="f8")
    repo = repository(url)
    tip = repo.lookup_branch("main")
    repo.create_branch(f"{TX_PREFIX}oldbase-0123456789ab", tip)
    repo.create_branch(f"{TX_PREFIX}{tip}-0123456789ab", tip)
    assert drop_dead_branches(repo, tip) == [f"{TX_PREFIX}oldbase-0123456789ab"]
    assert f"{TX_PREFIX}{tip}-0123456789ab" in repo.list_branches()


def test_object_storage_failures_in_a_few_words() -> None:
    assert storage_problem(OSError("... NoSuchBucket ...")) == "its bucket does not exist"
    assert storage_problem(OSError("a\n  -> b\n  -> the innermost cause")) == "the innermost cause"
    assert storage_problem(OSError("")) == "OSError"
    err = storage_error("s3://b/x", OSError("Connection refused"), "writing")
    assert str(err) == ("s3://b/x: object storage failed while writing (the server cannot be reached: connection "
                        "refused); nothing was committed, the store is at its last commit; run the command again once "
                        "the bucket exists and the server answers")
    assert "; nothing was written;" in str(storage_error("s3://b/x", OSError("x"), "reading"))
    assert is_storage_failure(ic.IcechunkError("x"))
    assert not is_storage_failure(OSError("x"))
