"""Stores on object storage: icechunk repositories, so every write there is a transaction too.

A local store is a zarr folder made atomic by rename and a journal (:mod:`vaearr.store.transaction`).
Object storage has no rename and no file lock, so a store at an ``s3://`` URL is an
`icechunk <https://icechunk.io>`_ repository holding the same zarr v3 hierarchy: a write is a
session that commits a new snapshot at the end, readers see the snapshot before or after it,
a writer killed at any moment leaves only unreferenced objects, and of two concurrent writers
the second to commit gets :class:`~vaearr.errors.StoreConflictError` and changes nothing.

Endpoint and credentials come from the standard AWS environment variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``...) or from storage options
(``vaearr ... --storage-option endpoint_url=http://...``: the run's :class:`~vaearr.context.Context`, which reaches
this module with the store it names, a :class:`~vaearr.context.StoreRef`). ``memory://NAME`` is an icechunk repository in this process's memory.

Reading without vaearr::

    import icechunk, xarray as xr
    repo = icechunk.Repository.open(icechunk.s3_storage(bucket="acc", prefix="ni.zarr", from_env=True))
    ds = xr.open_zarr(repo.readonly_session("main").store, consolidated=False)

Where the run's context keeps a snapshot record (:meth:`~vaearr.context.Context.reading`: every ``vaearr``
command and flow run does) all reads of a store see the snapshot the run first read, and a write commits only on top of that snapshot: if
another writer committed in between, the write is refused instead of silently mixing the two.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any
from types import MappingProxyType

import zarr

from vaearr.context import context_of
from vaearr.errors import StoreConflictError, StoreError, require

#: URL schemes kept in icechunk repositories
SCHEMES = ("s3", "memory")
#: the branch vaearr reads and commits
BRANCH = "main"
#: branches of transactions run on a dask cluster: ``vaearr-tx-<base snapshot>-<random>``
TX_PREFIX = "vaearr-tx-"

# option names users may give, and the name s3_storage takes (fsspec/boto spellings accepted too)
_S3_OPTIONS = MappingProxyType({
    "endpoint_url": "endpoint_url", "region": "region", "region_name": "region",
    "access_key_id": "access_key_id", "key": "access_key_id", "aws_access_key_id": "access_key_id",
    "secret_access_key": "secret_access_key", "secret": "secret_access_key",
    "aws_secret_access_key": "secret_access_key", "session_token": "session_token", "token": "session_token",
    "allow_http": "allow_http", "anonymous": "anonymous", "anon": "anonymous",
    "force_path_style": "force_path_style",
})
#: the storage of each ``memory://`` repository: such a store lives in this process's memory (as fsspec's memory
#: filesystem's files do) for as long as the process, so it is the process's, not a run's; not a cache
_MEMORY: dict[str, Any] = {}


def scheme(store: str | os.PathLike) -> str:
    return os.fspath(store).split("://", 1)[0].lower()


def is_repository_url(store: str | os.PathLike) -> bool:
    """Whether ``store`` is a URL vaearr keeps as an icechunk repository (``s3://``, ``memory://``)."""
    s = os.fspath(store)
    return "://" in s and scheme(s) in SCHEMES


def options(given: dict | None, store: Any = None) -> dict:
    """The storage options of a call: its own, else those of the run that named ``store``
    (:func:`vaearr.context.context_of`: ``--storage-option``), else none."""
    if given is not None:
        return dict(given)
    return dict(context_of(store).storage_options)


def _s3_kwargs(url: str, given: dict) -> dict:
    kw: dict[str, Any] = {}
    for key, value in given.items():
        if key not in _S3_OPTIONS:
            raise StoreError(url, f"unknown storage option '{key}' for s3:// (known: {', '.join(sorted(set(_S3_OPTIONS.values())))})")
        kw[_S3_OPTIONS[key]] = value
    for flag in ("allow_http", "anonymous", "force_path_style"):
        if isinstance(kw.get(flag), str):
            kw[flag] = kw[flag].strip().lower() in ("1", "true", "yes")
    endpoint = kw.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        kw["endpoint_url"] = endpoint
        kw.setdefault("force_path_style", True)  # S3-compatible servers (MinIO, Ceph, moto) want path-style
        kw.setdefault("allow_http", endpoint.startswith("http://"))
    if "region" not in kw:
        kw["region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if not {"access_key_id", "anonymous"} & set(kw):
        kw["from_env"] = True  # credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / profile
    return kw


def fsspec_options(store: str | os.PathLike, given: dict | None) -> dict:
    """The storage options in fsspec's spelling, for reading a plain zarr store at ``store``."""
    given = options(given, store)
    if scheme(store) != "s3":
        return given
    names = {"access_key_id": "key", "secret_access_key": "secret", "session_token": "token", "anonymous": "anon"}
    out: dict[str, Any] = {}
    for key, value in given.items():
        name = _S3_OPTIONS.get(key, key)
        if name == "endpoint_url":
            out["endpoint_url"] = value
        elif name == "region":
            out.setdefault("client_kwargs", {})["region_name"] = value
        elif name in names:
            out[names[name]] = value
    return out


def _storage(url: str, given: dict) -> Any:
    ic = require("icechunk", "s3")
    kind, rest = url.split("://", 1)
    rest = rest.strip("/")
    if kind.lower() == "memory":
        return _MEMORY.setdefault(rest, ic.in_memory_storage())
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StoreError(url, "no bucket in the URL (s3://BUCKET/path.zarr)")
    return ic.s3_storage(bucket=bucket, prefix=prefix or None, **_s3_kwargs(url, given))


def repository(store: str | os.PathLike, storage_options: dict | None = None, *, create: bool = False) -> Any:
    """The icechunk repository at ``store`` (None when there is none and ``create`` is false); opened once per run
    where ``store`` carries a run's context (:attr:`vaearr.context.Context.opened`), else each time."""
    ic = require("icechunk", "s3")
    url = os.fspath(store).rstrip("/")
    given = options(storage_options, store)
    key = (url, json.dumps(given, sort_keys=True, default=str))
    opened = context_of(store).opened
    if opened is not None and key in opened.handles:
        return opened.handles[key]
    storage = _storage(url, given)
    try:
        if ic.Repository.exists(storage):
            repo = ic.Repository.open(storage)
        elif create:
            repo = ic.Repository.create(storage)
        else:
            return None
    except ic.IcechunkError as exc:
        raise storage_error(url, exc, "writing" if create else "reading") from None
    if opened is not None:
        opened.handles[key] = repo
    return repo


#: what an object-storage failure was, by what its error says (first match wins)
_CAUSES = (("NoSuchBucket", "its bucket does not exist"), ("AccessDenied", "access denied"),
           ("InvalidAccessKeyId", "the access key is not known to the server"),
           ("SignatureDoesNotMatch", "the secret key does not match"),
           ("Connection refused", "the server cannot be reached: connection refused"),
           ("dispatch failure", "the server cannot be reached"), ("timed out", "the server did not answer in time"),
           ("onnection reset", "the connection to the server was lost"))


def storage_problem(exc: BaseException) -> str:
    """What an object-storage (icechunk) error says went wrong, in a few words: a bucket that does not exist, a
    server that cannot be reached, access denied...; else the innermost cause it gives (icechunk's errors are
    twenty lines of context around it)."""
    text = str(exc)
    for needle, said in _CAUSES:
        if needle in text:
            return said
    causes = [line.split("->", 1)[1].strip() for line in text.splitlines() if "->" in line]
    last = causes[-1] if causes else (text.strip().splitlines() or [type(exc).__name__])[0].strip()
    return last[:200]


def is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is icechunk's (object storage failed while a command read chunks)."""
    return any(c.__module__.split(".")[0] == "icechunk" and c.__name__ == "IcechunkError" for c in type(exc).__mro__)


def storage_error(url: str, exc: BaseException, doing: str, done: str = "") -> StoreError:
    """The one line of an object-storage failure, whatever the step it came at (opening the repository, reading,
    the commit): ``object storage failed while DOING (WHAT); DONE`` (``done``: what was left, by default said for
    ``doing``)."""
    problem = storage_problem(exc)
    left = done or ("nothing was committed, the store is at its last commit"
                    if doing == "writing" and "bucket" not in problem else "nothing was written")
    return StoreError(url, f"object storage failed while {doing} ({problem}); {left}; run the command "
                           f"again once the bucket exists and the server answers")


def read_session(store: str | os.PathLike, storage_options: dict | None = None) -> Any:
    """A read-only icechunk session of the store: the snapshot the run read it at (its context's record,
    :meth:`vaearr.context.Context.reading`), else the branch's tip."""
    url = os.fspath(store).rstrip("/")
    repo = repository(store, storage_options)
    if repo is None:
        raise StoreError(url, "no vaearr store here (no icechunk repository); create one with 'vaearr ingest'")
    pins = context_of(store).snapshots
    try:
        if pins is not None and url in pins:
            return repo.readonly_session(snapshot_id=pins[url])
        session = repo.readonly_session(BRANCH)
    except require("icechunk", "s3").IcechunkError as exc:
        raise storage_error(url, exc, "reading") from None
    if pins is not None:
        pins[url] = session.snapshot_id
    return session


def _on_dask_cluster() -> bool:
    """Whether dask computations go to a dask.distributed cluster (a default ``Client`` is set)."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed comes with the dask extra
        return False
    try:
        default_client()
    except ValueError:
        return False
    return True


class Transaction:
    """One write to a repository store (:func:`write_transaction`): write through :attr:`session`.

    In one process the session is committed as it is. On a dask cluster (``distributed``), the
    workers cannot write into this process's session: the metadata is committed on a branch of
    its own, the workers write chunks into forks of a new session on it (:meth:`write_dask`),
    and the store's branch is moved to the result in one compare-and-swap, so readers of the
    store never see the steps between, and a writer killed half-way leaves only that branch.
    """

    def __init__(self, url: str, repo: Any, message: str, base: str):
        self.url, self.repo, self.message, self.base = url, repo, message, base
        self.distributed = _on_dask_cluster()
        # the base snapshot in the name tells a later writer when this branch is dead (drop_dead_branches)
        self.branch = f"{TX_PREFIX}{base}-{uuid.uuid4().hex[:12]}" if self.distributed else BRANCH
        if self.distributed:
            repo.create_branch(self.branch, base)
        self.session = repo.writable_session(self.branch)

    def write_dask(self, arrays: list, names: list[str]) -> None:
        """Store dask ``arrays`` into the arrays ``names`` (created already) from the cluster's workers."""
        from icechunk.dask import store_dask

        with self._conflicts():
            self.session.commit(f"{self.message} (metadata)")
            self.session = self.repo.writable_session(self.branch)
        fork = self.session.fork()
        targets = [zarr.open_array(fork.store, path=name, mode="r+") for name in names]
        self.session.merge(store_dask(sources=arrays, targets=targets))

    def commit(self) -> str:
        with self._conflicts():
            snapshot = self.session.commit(self.message)
            if self.distributed:
                self.repo.reset_branch(BRANCH, snapshot, from_snapshot_id=self.base)
        return snapshot

    @contextlib.contextmanager
    def _conflicts(self) -> Iterator[None]:
        """Another writer's commit, seen as icechunk's conflict or (on a cluster) as this transaction's
        branch deleted by that writer (:func:`drop_dead_branches`), is one :class:`StoreConflictError`."""
        ic = require("icechunk", "s3")
        try:
            yield
        except (ic.ConflictError, ic.IcechunkError) as exc:
            if not isinstance(exc, ic.ConflictError) and not (self.distributed and self.branch not in
                                                               self.repo.list_branches()):
                raise
            raise StoreConflictError(self.url, "another writer committed to this store during this write; nothing "
                                               "was written; run the command again") from None

    def close(self) -> None:
        if self.distributed:
            with contextlib.suppress(Exception):
                self.repo.delete_branch(self.branch)


@contextlib.contextmanager
def write_transaction(store: str | os.PathLike, message: str, storage_options: dict | None = None) -> Iterator[Transaction]:
    """A :class:`Transaction` that commits when the block ends without error and is dropped otherwise.

    Raises
    ------
    StoreConflictError
        Another writer committed since this command read the store, or during this write.
    """
    ic = require("icechunk", "s3")
    url = os.fspath(store).rstrip("/")
    repo = repository(store, storage_options, create=True)
    try:  # the server may have gone since the command read the store and computed what it writes
        base = repo.lookup_branch(BRANCH)
        tx = Transaction(url, repo, message, base)
    except ic.IcechunkError as exc:
        raise storage_error(url, exc, "writing") from None
    pins = context_of(store).snapshots
    try:
        if pins is not None and url in pins and pins[url] != base:
            raise StoreConflictError(url, f"another writer committed to this store (snapshot {base}) after this "
                                          f"command read it (snapshot {pins[url]}); nothing was written; run it again")
        yield tx
        snapshot = tx.commit()
    except ic.IcechunkError as exc:
        raise storage_error(url, exc, "writing") from None
    finally:
        tx.close()
    with contextlib.suppress(ic.IcechunkError):  # committed: tidying dead branches can wait for the next writer
        drop_dead_branches(repo, snapshot)
    if pins is not None:
        pins[url] = snapshot


def drop_dead_branches(repo: Any, tip: str) -> list[str]:
    """Delete the transaction branches that can no longer commit: those whose base snapshot is not
    ``tip``, the store branch's snapshot (a writer on a cluster killed before its end leaves its branch;
    one still running on an old base would get a conflict at its commit anyway). Returns their names."""
    dead = [b for b in repo.list_branches()
            if b.startswith(TX_PREFIX) and b[len(TX_PREFIX):].rsplit("-", 1)[0] != tip]
    for b in dead:
        with contextlib.suppress(Exception):  # another writer may be deleting it too
            repo.delete_branch(b)
    return dead


def snapshot_of(store: str | os.PathLike, storage_options: dict | None = None) -> str:
    """The snapshot id a read of ``store`` sees now (the run's, where its context keeps a record)."""
    return read_session(store, storage_options).snapshot_id


def history(store: str | os.PathLike, storage_options: dict | None = None) -> list[tuple[str, str]]:
    """``(snapshot id, message)`` of every commit, newest first."""
    repo = repository(store, storage_options)
    return [] if repo is None else [(s.id, s.message) for s in repo.ancestry(branch=BRANCH)]
