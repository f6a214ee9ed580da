"""The write lock and transactions of a local store: staging, journal, commit, roll-back.

A write stages its new arrays in ``<store>.vaearr-tx/new.zarr``; :func:`commit` swaps each into the
store with one atomic ``renameat2(RENAME_EXCHANGE)`` under a journal, after dropping the root's
consolidated metadata (readers meanwhile read each array's own metadata, which moves with its
chunks), and rewrites the consolidated metadata at the end. A write that resizes an array or
replaces a coordinate builds the next store whole beside the old one (unchanged arrays hard-linked)
and switches it in one rename. Either way no reader, and no kill, sees a variable that is neither
its old nor its new version. The next writer's :func:`recover` rolls back what a killed writer left.
One writer at a time holds :func:`store_lock` (a lock file beside the store, there only while held).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: the store lock is filelock's (msvcrt there; a soft lock file elsewhere)
    fcntl = None
with warnings.catch_warnings():  # without fcntl, filelock warns at import that it falls back to a soft lock
    warnings.simplefilter("ignore")
    import filelock
import zarr

from vaearr.errors import StoreBusyError
from vaearr.store import zarr_internals

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


def settle_zarr(timeout: float = 30.0) -> None:
    """Wait for the writes zarr still has in flight after one of them failed (``asyncio.gather`` does
    not cancel a failed write's siblings), and take their errors. A failed write's staging area is
    removed only after this: a late write would otherwise make its folders again, or print "Future
    exception was never retrieved" when it finds them gone."""
    loop = zarr_internals.event_loop()
    if loop is None:  # not started, or a zarr whose loop vaearr does not look into
        return

    async def drain() -> None:
        me = asyncio.current_task()
        while True:
            others = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            if not others:
                return
            await asyncio.wait(others, timeout=timeout)
            for t in others:
                if t.done() and not t.cancelled():
                    t.exception()  # taken: the staging copy it wrote into is dropped anyway
            if any(not t.done() for t in others):
                return

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout + 5)


@contextlib.contextmanager
def store_lock(store: str | os.PathLike) -> Iterator[None]:
    """Hold the store's write lock: ``flock`` on a ``<store>.vaearr-lock`` file that exists only
    while the lock is held (it is removed on release; a writer killed outright leaves it, and
    the next writer takes it over). Where there is no ``fcntl`` (Windows), :class:`filelock.FileLock`
    on the same file holds it instead (``msvcrt.locking`` on Windows, a soft lock file elsewhere).

    Raises
    ------
    StoreBusyError
        When another process holds it.
    """
    path = local_path(store)
    lock_path = Path(str(path) + LOCK_SUFFIX)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        with _portable_lock(path, lock_path):
            yield
        return
    fd = _take_lock(path, lock_path)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # while still holding it: whoever opened it meanwhile sees it gone
        os.close(fd)  # closing releases the flock


def _holder(lock_path: Path) -> str:
    """The pid a lock file names on its first line (ours and filelock's soft lock write it there), or ``?``."""
    try:
        first = lock_path.read_text(errors="replace").splitlines()[0].strip()
    except (OSError, IndexError):
        return "?"
    return first if first.isdigit() else "?"


@contextlib.contextmanager
def _portable_lock(path: Path, lock_path: Path) -> Iterator[None]:
    """:func:`store_lock` where ``fcntl`` is missing, taken without waiting: filelock's ``msvcrt`` lock on
    Windows, its soft lock (the file made exclusively, naming its pid; a dead holder's broken) elsewhere. Both
    remove the file on release."""
    kind = filelock.FileLock if sys.platform == "win32" else filelock.SoftFileLock
    lock = kind(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise StoreBusyError(path, f"another process (pid {_holder(lock_path)}) is writing this store; "
                                   "try again when it ends") from None
    try:
        yield
    finally:
        lock.release()


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


# --------------------------------------------------------------------------------------------
# the atomic steps a commit is made of


#: environment variable of the fault-injection hook: ``VAEARR_KILL_AT_STEP=N`` kills the process
#: (SIGKILL) right after the N-th step (write or rename) of a local commit (tests/store/test_faults.py)
KILL_AT_STEP = "VAEARR_KILL_AT_STEP"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
try:
    _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
except (AttributeError, OSError):  # pragma: no cover - not Linux/glibc
    _renameat2 = None


def exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``);
    False where the system or file system cannot (the caller then renames twice)."""
    if _renameat2 is None:  # pragma: no cover - not Linux/glibc
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a))


class _Steps:
    """Counts the steps of a commit; the fault-injection hook (:data:`KILL_AT_STEP`) kills after one."""

    def __init__(self) -> None:
        self.n = 0
        self.kill_at = int(os.environ.get(KILL_AT_STEP) or 0)

    def done(self) -> None:
        self.n += 1
        if self.n == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def _ino(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def is_consolidated(path: Path) -> bool:
    return "consolidated_metadata" in json.loads((path / "zarr.json").read_text())


def _unconsolidate(path: Path) -> None:
    """Rewrite the root metadata without its consolidated copy of the arrays' metadata (one
    atomic rename): readers then read each array's own ``zarr.json``, which moves with its chunks."""
    root = json.loads((path / "zarr.json").read_text())
    root.pop("consolidated_metadata", None)
    _fsync_write_json(path / "zarr.json", root)


# --------------------------------------------------------------------------------------------
# commit, remove, recover


def commit(path: Path, staging: Path, group_attrs: Mapping[str, Any] | None) -> None:
    """Put the arrays staged in ``staging`` (inside :func:`tx_dir`) into the store at ``path``.

    At no step is a variable neither its old nor its new version, for readers too. Usually each
    array comes in by one atomic ``RENAME_EXCHANGE`` (cost: the arrays written), the root first
    dropping its consolidated metadata so that readers meanwhile read each array's own metadata,
    which moves with its chunks, and the consolidated metadata rewritten at the end. When the write
    resizes an array the store has, or replaces a coordinate, a mix of old and new arrays would not
    open (or would label data with the wrong coordinate): then the next store is built whole beside
    the old one and switched in one rename (cost: a hard link per chunk file of the store).
    """
    staged = sorted(p.name for p in staging.iterdir() if p.is_dir())
    if _reshapes(path, staging, staged):
        _switch_store(path, staging, staged, group_attrs)
        return
    tx = staging.parent
    with _journalled(path, {n: _ino(staging / n) for n in staged}, [], group_attrs) as steps:
        for name in staged:
            if (path / name).exists():
                if exchange(staging / name, path / name):  # the old one is now in staging
                    steps.done()
                    continue
                os.rename(path / name, tx / "trash" / name)  # no RENAME_EXCHANGE here: absent a moment
                steps.done()
            os.rename(staging / name, path / name)
            steps.done()


def _reshapes(path: Path, staging: Path, names: list[str]) -> bool:
    """Whether a staged array replaces one of another shape, or a coordinate (1-D, named as its dim)."""
    for name in names:
        if not (path / name / "zarr.json").is_file():
            continue
        old, new = (json.loads((p / name / "zarr.json").read_text()) for p in (path, staging))
        if old.get("shape") != new.get("shape") or new.get("dimension_names") == [name]:
            return True
    return False


def _switch_store(path: Path, staging: Path, staged: list[str], group_attrs: Mapping[str, Any] | None) -> None:
    def fill(shadow: Path) -> None:
        for name in staged:
            os.rename(staging / name, shadow / name)

    _replace_store(path, staging.parent, drop=set(staged), fill=fill, group_attrs=group_attrs)


def remove_array(path: Path, name: str) -> None:
    """Remove array ``name`` from the store at ``path`` as one journalled step (lock held)."""
    with _journalled(path, {}, [name], None) as steps:
        os.rename(path / name, tx_dir(path) / "trash" / name)
        steps.done()


@contextlib.contextmanager
def _journalled(path: Path, new: dict[str, int | None], removed: list[str],
                group_attrs: Mapping[str, Any] | None) -> Iterator[_Steps]:
    """The frame of a commit (lock held): the journal (arrays coming in by inode, arrays going), the
    root metadata without its consolidated copy, the block's renames, then the root attrs and the
    consolidated metadata; an error anywhere rolls back before it leaves."""
    tx = tx_dir(path)
    try:
        (tx / "trash").mkdir(parents=True)
        shutil.copyfile(path / "zarr.json", tx / "root.json")
        _fsync_write_json(tx / "journal.json", {"version": 2, "new": new, "removed": removed})
    except BaseException:  # (a full disk) nothing has touched the store yet: nothing of the write stays beside it
        shutil.rmtree(tx, ignore_errors=True)
        raise
    steps = _Steps()
    steps.done()
    try:
        _unconsolidate(path)
        steps.done()
        yield steps
        with quiet_zarr_warnings():
            if group_attrs:
                zarr.open_group(str(path), mode="r+").attrs.update(dict(group_attrs))
                steps.done()
            zarr.consolidate_metadata(str(path))  # the commit (one atomic rename of the root metadata)
        steps.done()
    except BaseException:
        recover(path)
        raise
    shutil.rmtree(tx)


def _replace_store(path: Path, tx: Path, *, drop: set[str], fill: Callable[[Path], None] | None,
                   group_attrs: Mapping[str, Any] | None) -> None:
    """Build the next version of the store in ``tx/store`` (lock held): every array of ``path`` but
    ``drop`` hard-linked (nothing writes into them: old and new share unchanged chunks), the root
    files copied, then ``fill``, the root attrs and the consolidated metadata; then switch it in. Steps
    counted for :data:`KILL_AT_STEP`: the new store complete, (without ``RENAME_EXCHANGE``: the old
    one moved out,) the switch. An error before the switch leaves the store untouched."""
    steps = _Steps()
    shadow = tx / "store"
    try:
        shadow.mkdir()
        for entry in path.iterdir():
            if entry.name in drop:
                continue
            if entry.is_dir():
                shutil.copytree(entry, shadow / entry.name, copy_function=os.link)
            else:  # the root metadata is rewritten below: a copy, so the live store's file is never touched
                shutil.copy2(entry, shadow / entry.name)
        if fill is not None:
            fill(shadow)
        with quiet_zarr_warnings():
            if group_attrs:
                zarr.open_group(str(shadow), mode="r+").attrs.update(dict(group_attrs))
            zarr.consolidate_metadata(str(shadow))
        steps.done()
        if not exchange(shadow, path):  # the old store is now in tx/store
            os.rename(path, tx / "old")  # no RENAME_EXCHANGE here: the store is absent a moment
            steps.done()
            os.rename(shadow, path)
        steps.done()  # the commit
    except BaseException:
        if not path.exists() and (tx / "old").exists():
            os.rename(tx / "old", path)
        shutil.rmtree(tx, ignore_errors=True)
        raise
    shutil.rmtree(tx)


def recover(store: str | os.PathLike) -> bool:
    """Roll back (or finish) a transaction that was killed half-way; return whether there was one.

    Call with the lock held. Every writer calls it first, so users never need to. A journalled
    commit whose root has no consolidated metadata was stopped among its swaps: every array is put
    back and the root restored (with consolidated metadata it had not begun, or had ended). A store
    switched whole is the old or the new one already; only a writer killed between the two renames
    of a system without ``RENAME_EXCHANGE`` leaves it absent, and the complete new store moves in.
    """
    path = local_path(store)
    tx = tx_dir(path)
    if not tx.exists():
        return False
    journal = tx / "journal.json"
    if journal.exists():
        state = json.loads(journal.read_text())
        if state.get("version") != 2:
            _recover_v1(path, tx, state)
        elif not is_consolidated(path):
            _roll_back(path, tx, state)
    if not path.exists():
        if (tx / "store" / "zarr.json").exists():
            os.rename(tx / "store", path)
        elif (tx / "old").exists():
            os.rename(tx / "old", path)
    shutil.rmtree(tx)
    return True


def _roll_back(path: Path, tx: Path, state: dict) -> None:
    """Put every array of a half-done commit back as it was, then the root metadata (lock held)."""
    staging, trash, discard = tx / "new.zarr", tx / "trash", tx / "discard"
    discard.mkdir(exist_ok=True)
    for name, new_ino in state["new"].items():
        here = path / name
        if _ino(here) == new_ino:
            old_staged = (staging / name).exists() and _ino(staging / name) != new_ino
            if old_staged and exchange(staging / name, here):
                continue
            os.rename(here, discard / name)
            if old_staged:
                os.rename(staging / name, here)
        if not here.exists() and (trash / name).exists():
            os.rename(trash / name, here)
    for name in state["removed"]:
        if not (path / name).exists() and (trash / name).exists():
            os.rename(trash / name, path / name)
    shutil.copyfile(tx / "root.json", tx / "root.restore")
    os.replace(tx / "root.restore", path / "zarr.json")


def _recover_v1(path: Path, tx: Path, state: dict) -> None:
    """Roll back a journal of vaearr before the swaps (``moved``/``trashed`` lists)."""
    for name in reversed(state.get("moved", [])):
        if (path / name).exists():
            shutil.rmtree(path / name)
    for name in state.get("trashed", []):
        if (tx / "trash" / name).exists() and not (path / name).exists():
            os.rename(tx / "trash" / name, path / name)
    if (tx / "root.json").exists():
        shutil.copyfile(tx / "root.json", tx / "root.restore")
        os.replace(tx / "root.restore", path / "zarr.json")
