"""Files and folders a command writes beside the store: whole or not at all, one line on a full disk, nothing
left behind by a command that fails.

* :func:`write_whole` writes a file under a temporary name beside it and renames it into place: the file
  appears whole or not at all. A full disk (``ENOSPC``), a quota (``EDQUOT``) or a file-size limit
  (``EFBIG``) becomes one :class:`NoRoomError` naming the file, the temporary file removed; temporary files
  a killed writer left beside the same file are removed by the next writer of that file.
* :func:`writable_folder` creates an output folder and proves it writable (create, probe, keep): it never
  removes a folder, so two commands making folders under one new parent cannot pull it from under each
  other. It holds a shared lock on the folder while the command runs; :func:`discard` (the ``vaearr``
  command calls it when a command fails) removes the folders the command made that are still empty,
  each only under an exclusive lock, which no other process holding the folder lets it take.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from vaearr.errors import InputError

try:
    import fcntl
except ImportError:  # Windows: no folder locks (a folder is removed only while empty, as ever)
    fcntl = None  # type: ignore[assignment]

#: errors of a full disk, a quota or a file-size limit
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
#: what a temporary file's name holds after the file's stem: ``.STEM.vaearr-tmp.PID.RANDOM.SUFFIX``
TMP_MARK = ".vaearr-tmp."

#: folders this process made (in order), and the open descriptors of the output folders it holds
_MADE: list[Path] = []
_HELD: dict[Path, int] = {}


class NoRoomError(InputError):
    """The disk (or a quota, or a file-size limit) has no room for a file: nothing was written there."""

    def __init__(self, path: str | os.PathLike, err: int, what: str = "nothing was written there"):
        self.errno, self.what = err, what
        super().__init__(path, f"no room to write ({os.strerror(err)}): {what}; free some space and run the "
                               f"command again")

    def __reduce__(self) -> tuple:
        return (type(self), (self.path, self.errno, self.what))


def no_room(exc: BaseException) -> bool:
    """Whether ``exc`` is the error of a full disk, a quota or a file-size limit."""
    return isinstance(exc, NoRoomError) or (isinstance(exc, OSError) and exc.errno in NO_ROOM)


def no_loop(path: str | os.PathLike, what: str) -> None:
    """Refuse ``path`` in one :class:`InputError` line when it, or a folder above it, is a loop of symbolic
    links (a link that points, through others, back to itself): nothing can be read or written there."""
    try:
        os.stat(path)
        return
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            return
    loop = next((p for p in reversed([Path(path), *Path(path).parents]) if _loops(p)), Path(path))  # the outermost
    raise InputError(path, f"{what}: {loop} is a loop of symbolic links (it points back to itself); give a real "
                           f"file or folder")


def _loops(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def tmp_path(path: Path) -> Path:
    """A temporary name beside ``path`` that no other writer uses (it names this process), with ``path``'s
    suffix (writers that pick the format by the suffix read it): ``.STEM.vaearr-tmp.PID.RANDOM.SUFFIX``."""
    return path.with_name(f".{path.stem}{TMP_MARK}{os.getpid()}.{uuid.uuid4().hex[:8]}{path.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clear_stale(path: Path) -> list[Path]:
    """Remove the temporary files that writers of ``path`` which are no longer running left beside it (killed
    while writing); returns them. A running writer's are left alone."""
    # this module's names, and those vaearr's exports wrote before it (``.STEM.PID.RANDOM.SUFFIX``)
    pattern = re.compile(re.escape(f".{path.stem}") + f"(?:{re.escape(TMP_MARK)}|\\.)" + r"(\d+)\.[0-9a-f]{8}"
                         + re.escape(path.suffix) + "$")
    gone = []
    legacy = path.with_name(path.name + ".tmp")  # vaearr's writers before this named them so (one writer each)
    if legacy.exists():
        _remove(legacy)
        gone.append(legacy)
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return gone
    for entry in entries:
        m = pattern.match(entry.name)
        if m and not _alive(int(m.group(1))):
            _remove(Path(entry.path))
            gone.append(Path(entry.path))
    return gone


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def write_whole(path: str | os.PathLike, write: Callable[[Path], object], *, what: str = "nothing was written there",
                ) -> Path:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it to ``path``: the file appears whole or
    not at all, and the temporary file goes whatever happens (stale ones of killed writers of ``path`` first).

    Raises
    ------
    NoRoomError
        The disk, a quota or a file-size limit had no room (``what``: what that left, in words).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_whole(p, lambda tmp: tmp.write_text("hello")).read_text()
    'hello'
    """
    path = Path(path)
    clear_stale(path)
    tmp = tmp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if not no_room(exc):
            raise
        raise NoRoomError(path, exc.errno, what) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def write_folder_whole(path: str | os.PathLike, fill: Callable[[Path], None], *,
                       what: str = "nothing was written there") -> Path:
    """``fill(tmp)`` into a temporary folder beside ``path``, then put it in ``path``'s place (the old folder
    moved aside first, then removed): the folder is the old one or the new one whole, never a mix (a checkpoint
    whose weights and config are of two epochs). A failure removes the temporary folder.

    Raises
    ------
    NoRoomError
        As :func:`write_whole`.
    """
    path = Path(path)
    clear_stale(path)
    tmp = tmp_path(path)
    old = tmp.with_name(tmp.name + ".old")
    try:
        tmp.mkdir(parents=True)
        fill(tmp)
        if path.exists():
            os.rename(path, old)
        os.rename(tmp, path)
    except (OSError, NoRoomError) as exc:  # a file inside with no room: said of the folder
        if old.exists() and not path.exists():
            os.rename(old, path)
        if not no_room(exc):
            raise
        raise NoRoomError(path, exc.errno, what) from None
    finally:
        _remove(tmp)
        _remove(old)
    return path


def write_bytes_whole(path: str | os.PathLike, data: bytes | str, **kw) -> Path:
    """:func:`write_whole` of bytes (or text, as UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return write_whole(path, lambda tmp: tmp.write_bytes(raw), **kw)


# --------------------------------------------------------------------------------------------
# output folders


def _hold(folder: Path) -> None:
    """A shared lock on ``folder`` for as long as this process runs (or until :func:`discard`): a failing
    command elsewhere that made it will not remove it meanwhile."""
    if folder in _HELD or fcntl is None:
        return
    while True:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(folder))
        except FileNotFoundError:  # removed between our open and our lock: make it again
            same = False
        if same:
            _HELD[folder] = fd
            return
        os.close(fd)
        folder.mkdir(parents=True, exist_ok=True)


def writable_folder(folder: str | os.PathLike, what: str = "`out`") -> Path:
    """``folder`` created and proven writable (a probe file of this process's own written and removed), so a
    command that will write there fails in one line before it reads or writes a store (``what``: the option
    that named it, as its keyword in backticks: `` `out` ``, which the command line says as ``--out``). Create,
    probe, keep: nothing is removed here; the folders made are removed by :func:`discard` if the command fails while
    they are still empty."""
    folder = Path(folder)
    no_loop(folder, what)
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _hold(folder)
        probe = tmp_path(folder / ".vaearr-write-test")
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        a_file = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        why = (f"{a_file} is a file, not a folder" if a_file is not None else
               "a loop of symbolic links" if exc.errno == errno.ELOOP else exc.strerror or str(exc))
        _forget(missing)
        raise InputError(folder, f"{what}: cannot write there ({why})") from None
    _MADE.extend(p for p in reversed(missing) if p.is_dir() and p not in _MADE)
    return folder


def beside_store(store: str | os.PathLike, command: str) -> Path:
    """The default output folder of a command on ``store`` (``--out`` left out): ``STORE_<command>`` beside a local
    store (``stores/ni.zarr`` → ``stores/ni_rank``), in the working folder for a URL store (``s3://b/ni.zarr`` →
    ``ni_rank``). The one rule of every command that has a store and always writes files; the report finds the
    analyses there."""
    text = os.fspath(store).rstrip("/")
    stem = Path(text.rsplit("/", 1)[-1]).stem
    return (Path(text).parent if "://" not in text else Path()) / f"{stem}_{command}"


def writable_folders(**folders: str | os.PathLike | None) -> None:
    """:func:`writable_folder` of every folder given, each named in its message by its keyword (``out`` →
    `` `out` ``)."""
    for name, folder in folders.items():
        if folder is not None:
            writable_folder(folder, f"`{name}`")


def _forget(folders: list[Path]) -> None:
    """Remove, deepest first, the folders of ``folders`` that are empty and that no other process holds."""
    for p in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        fd = _HELD.pop(p, None)
        if fd is not None:
            os.close(fd)  # our own shared lock would refuse our exclusive one
        if fcntl is None:  # no lock to ask another command with: remove it only if it is empty
            with contextlib.suppress(OSError):
                os.rmdir(p)
            continue
        try:
            fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another command holds it: it stays
            os.rmdir(p)  # only if empty: nothing another process wrote is ever removed
        except OSError:
            pass
        finally:
            os.close(fd)


def discard() -> None:
    """A command failed: remove the folders it made that are still empty (see :func:`writable_folder`)."""
    made = list(_MADE)
    _MADE.clear()
    _forget(made)


def _forget_in_child() -> None:
    """A forked child (a loader or dask worker) drops its copies of the folder locks: its parent's end releases
    them (a lock lasts while any copy of its descriptor is open), and the child made none of the folders."""
    for fd in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()
    _MADE.clear()


if hasattr(os, "register_at_fork"):  # no fork on Windows
    os.register_at_fork(after_in_child=_forget_in_child)


def release() -> None:
    """A command ended: let go of the output folders it held, forget those it made (kept)."""
    _MADE.clear()
    for fd in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


@contextlib.contextmanager
def command_outputs() -> Iterator[None]:
    """The frame of one command: on an error the folders it made and left empty go (:func:`discard`); either
    way the locks on its output folders are let go."""
    try:
        yield
    except BaseException as exc:
        code = exc.code if isinstance(exc, SystemExit) else getattr(exc, "exit_code", 1)  # click's Exit: exit_code
        if code:
            discard()
        raise
    finally:
        release()
