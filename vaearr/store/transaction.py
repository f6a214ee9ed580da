"""The write lock and transactions of a local store: staging, journal, commit, roll-back.

A write stages its new arrays in ``<store>.vaearr-tx/new.zarr``; :func:`commit` renames them
into the store under a journal (arrays they replace go to ``<store>.vaearr-tx/trash``) and
makes them visible by rewriting the consolidated metadata. If a writer is killed half-way,
the next writer's :func:`recover` reads the journal and puts the store back as it was. One
writer at a time holds :func:`store_lock` (a lock file beside the store, there only while held).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import zarr

from vaearr.errors import StoreBusyError

TX_SUFFIX = ".vaearr-tx"
LOCK_SUFFIX = ".vaearr-lock"


def is_url(store: str | os.PathLike) -> bool:
    """Whether ``store`` is an fsspec URL other than ``file://``."""
    return "://" in os.fspath(store) and not os.fspath(store).startswith("file://")


def local_path(store: str | os.PathLike) -> Path:
    """The folder of a local store (a ``file://`` prefix dropped)."""
    s = os.fspath(store)
    return Path(s[len("file://") :] if s.startswith("file://") else s)


@contextlib.contextmanager
def quiet_zarr_warnings() -> Iterator[None]:
    """Silence zarr's warnings that users cannot act on while a store is read or written."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        warnings.filterwarnings("ignore", message=".*not part in the Zarr format 3.*")
        # fixed-width unicode coords (element names, labels) are read back by zarr-python and
        # xarray as they were written; only other zarr implementations may not know the dtype
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        warnings.filterwarnings("ignore", category=FutureWarning, module="zarr")
        yield


@contextlib.contextmanager
def store_lock(store: str | os.PathLike) -> Iterator[None]:
    """Hold the store's write lock: ``flock`` on a ``<store>.vaearr-lock`` file that exists only
    while the lock is held (it is removed on release; a writer killed outright leaves it, and
    the next writer takes it over).

    Raises
    ------
    StoreBusyError
        When another process holds it.
    """
    path = local_path(store)
    lock_path = Path(str(path) + LOCK_SUFFIX)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = _take_lock(path, lock_path)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # while still holding it: whoever opened it meanwhile sees it gone
        os.close(fd)  # closing releases the flock


def _take_lock(path: Path, lock_path: Path) -> int:
    """An open descriptor of ``lock_path`` holding its ``flock``, or :class:`StoreBusyError`."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise StoreBusyError(
                path, f"another process (pid {holder}) is writing this store; try again when it ends"
            ) from None
        # the holder before us may have removed the file between our open and our flock: then
        # this lock is on a file nobody else can find; take the one at the path instead
        try:
            here = os.stat(lock_path)
        except FileNotFoundError:
            here = None
        mine = os.fstat(fd)
        if here is not None and (here.st_ino, here.st_dev) == (mine.st_ino, mine.st_dev):
            return fd
        os.close(fd)


def tx_dir(store: str | os.PathLike) -> Path:
    """The folder a transaction on ``store`` stages its arrays in."""
    return Path(str(local_path(store)) + TX_SUFFIX)


def _fsync_write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def recover(store: str | os.PathLike) -> bool:
    """Roll back a transaction that was killed half-way; return whether there was one.

    Call with the lock held. Every writer calls it first, so users never need to.
    """
    path = local_path(store)
    tx = tx_dir(path)
    if not tx.exists():
        return False
    journal = tx / "journal.json"
    if journal.exists():
        state = json.loads(journal.read_text())
        for name in reversed(state.get("moved", [])):
            target = path / name
            if target.exists():
                shutil.rmtree(target)
        for name in state.get("trashed", []):
            src = tx / "trash" / name
            if src.exists() and not (path / name).exists():
                os.rename(src, path / name)
        backup = tx / "root.json"
        if backup.exists():
            shutil.copyfile(backup, tx / "root.restore")
            os.replace(tx / "root.restore", path / "zarr.json")
    shutil.rmtree(tx)
    return True


def commit(path: Path, staging: Path, group_attrs: Mapping[str, Any] | None) -> None:
    """Move the arrays staged in ``staging`` (inside :func:`tx_dir`) into the store at ``path``.

    Every step is journalled before it is taken, so :func:`recover` can undo a commit that was
    killed half-way; rewriting the consolidated metadata at the end is what makes the new
    arrays visible to readers.
    """
    tx = staging.parent
    children = sorted(p.name for p in staging.iterdir() if p.is_dir())
    shutil.copyfile(path / "zarr.json", tx / "root.json")
    (tx / "trash").mkdir()
    state: dict[str, list[str]] = {"moved": [], "trashed": []}
    journal = tx / "journal.json"
    _fsync_write_json(journal, state)
    for name in children:
        if (path / name).exists():
            state["trashed"].append(name)
            _fsync_write_json(journal, state)
            os.rename(path / name, tx / "trash" / name)
        state["moved"].append(name)
        _fsync_write_json(journal, state)
        os.rename(staging / name, path / name)
    with quiet_zarr_warnings():
        if group_attrs:
            zarr.open_group(str(path), mode="r+").attrs.update(dict(group_attrs))
        zarr.consolidate_metadata(str(path))  # the commit: new variables become visible
    journal.unlink()
    shutil.rmtree(tx)


def remove_array(path: Path, name: str) -> None:
    """Remove array ``name`` from the store at ``path`` as one journalled step (lock held)."""
    tx = tx_dir(path)
    (tx / "trash").mkdir(parents=True)
    shutil.copyfile(path / "zarr.json", tx / "root.json")
    _fsync_write_json(tx / "journal.json", {"moved": [], "trashed": [name]})
    os.rename(path / name, tx / "trash" / name)
    with quiet_zarr_warnings():
        zarr.consolidate_metadata(str(path))
    (tx / "journal.json").unlink()
    shutil.rmtree(tx)
