"""vaearr.files: files written whole or not at all, one line on a full disk, stale temporary files removed, output
folders made and proven writable, and the empty ones a failed command made removed.

The races between processes (folders under one new parent, a folder another process holds) and symbolic-link loops
given to commands are in tests/store/test_small_faults.py."""

from __future__ import annotations

import errno
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vaearr.errors import InputError
from vaearr.files import (
    TMP_MARK,
    NoRoomError,
    beside_store,
    clear_stale,
    command_outputs,
    no_room,
    tmp_path as temporary_name,
    writable_folder,
    writable_folders,
    write_bytes_whole,
    write_folder_whole,
    write_whole,
)


def _dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def _no_room(tmp: Path) -> None:
    tmp.write_bytes(b"half")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_temporary_name_is_beside_the_file_names_this_process_and_keeps_the_suffix(tmp_path):
    name = temporary_name(tmp_path / "latents.npy")
    assert name.parent == tmp_path and name.suffix == ".npy"
    assert re.fullmatch(rf"\.latents{re.escape(TMP_MARK)}{os.getpid()}\.[0-9a-f]{{8}}\.npy", name.name)
    assert temporary_name(tmp_path / "latents.npy") != name


def test_a_file_is_written_whole_and_nothing_else_is_left(tmp_path):
    path = write_bytes_whole(tmp_path / "a.txt", "héllo")
    assert path == tmp_path / "a.txt" and path.read_bytes() == "héllo".encode()
    write_whole(path, lambda tmp: tmp.write_text("again"))
    assert path.read_text() == "again"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_a_full_disk_is_one_line_naming_the_file_and_the_old_file_stays(tmp_path):
    path = write_bytes_whole(tmp_path / "a.txt", b"old")
    with pytest.raises(NoRoomError, match=r"a.txt: no room to write \(No space left on device\): the table is "
                                          r"unchanged; free some space and run the command again") as raised:
        write_whole(path, _no_room, what="the table is unchanged")
    assert raised.value.errno == errno.ENOSPC and isinstance(raised.value, InputError)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.txt"]
    again = pickle.loads(pickle.dumps(raised.value))  # it crosses to a dask worker and back
    assert (str(again), again.errno, again.what) == (str(raised.value), errno.ENOSPC, "the table is unchanged")


def test_another_error_is_raised_as_it_is_and_the_temporary_file_goes(tmp_path):
    def fail(tmp: Path) -> None:
        tmp.write_text("x")
        raise PermissionError(errno.EACCES, "denied")

    with pytest.raises(PermissionError):
        write_whole(tmp_path / "b.txt", fail)
    assert os.listdir(tmp_path) == []


def test_no_room_knows_a_full_disk_a_quota_and_a_file_size_limit():
    assert all(no_room(OSError(e, "x")) for e in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG))
    assert no_room(NoRoomError("f", errno.ENOSPC))
    assert not no_room(OSError(errno.EACCES, "x")) and not no_room(ValueError("x"))


def test_stale_temporary_files_of_ended_writers_go_and_a_running_writers_stay(tmp_path):
    path = tmp_path / "table.csv"
    dead, alive = _dead_pid(), os.getpid()
    stale = [tmp_path / f".table{TMP_MARK}{dead}.0123abcd.csv", tmp_path / f".table.{dead}.89abcdef.csv",
             tmp_path / "table.csv.tmp"]
    kept = [tmp_path / f".table{TMP_MARK}{alive}.0123abcd.csv", tmp_path / f".other{TMP_MARK}{dead}.0123abcd.csv",
            tmp_path / f".table{TMP_MARK}{dead}.0123abcd.npy"]
    for p in stale + kept:
        p.write_text("")
    assert sorted(clear_stale(path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)
    write_bytes_whole(path, "x,y\n")  # a writer clears them first
    assert not any(p.exists() for p in stale)


def test_a_folder_is_replaced_whole_and_a_failure_leaves_the_old_one(tmp_path):
    folder = tmp_path / "ckpt"

    def fill(version: str):
        def write(tmp: Path) -> None:
            (tmp / "weights").write_text(version)
            (tmp / "config").write_text(version)
        return write

    write_folder_whole(folder, fill("1"))
    write_folder_whole(folder, fill("2"))
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"weights": "2", "config": "2"}

    def half(tmp: Path) -> None:
        (tmp / "weights").write_text("3")
        raise OSError(errno.ENOSPC, "full")

    with pytest.raises(NoRoomError, match=r"ckpt: no room to write"):
        write_folder_whole(folder, half)
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"weights": "2", "config": "2"}
    assert os.listdir(tmp_path) == ["ckpt"]


def test_a_writable_folder_is_made_and_a_file_in_the_way_is_one_line(tmp_path):
    with command_outputs():
        assert writable_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and os.listdir(tmp_path / "a" / "b") == []  # the probe is gone
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match=r"`export`: cannot write there \(.*/file is a file, not a folder\)"), \
            command_outputs():
        writable_folders(out=None, export=tmp_path / "file" / "sub")
    assert sorted(os.listdir(tmp_path)) == ["a", "file"]


def test_a_failed_command_removes_the_empty_folders_it_made_and_keeps_the_rest(tmp_path):
    (tmp_path / "there").mkdir()
    with pytest.raises(RuntimeError), command_outputs():
        writable_folders(out=tmp_path / "new" / "figs", export=tmp_path / "there", run=tmp_path / "run")
        (tmp_path / "run" / "history.json").write_text("{}")
        raise RuntimeError("the command fails")
    assert sorted(os.listdir(tmp_path)) == ["run", "there"]  # new/figs and new went; run holds a file


def test_a_command_that_ends_well_or_exits_zero_keeps_its_folders(tmp_path):
    with command_outputs():
        writable_folders(out=tmp_path / "ok")
    with pytest.raises(SystemExit), command_outputs():
        writable_folders(out=tmp_path / "zero")
        raise SystemExit(0)
    with pytest.raises(SystemExit), command_outputs():
        writable_folders(out=tmp_path / "one")
        raise SystemExit(1)
    assert sorted(os.listdir(tmp_path)) == ["ok", "zero"]


@pytest.mark.parametrize(("store", "folder"), [
    ("stores/ni.zarr", Path("stores/ni_rank")),
    ("stores/ni.zarr/", Path("stores/ni_rank")),
    ("ni.zarr", Path("ni_rank")),
    ("s3://bucket/maps/ni.zarr", Path("ni_rank")),
])
def test_a_commands_default_folder_is_beside_a_local_store_and_here_for_a_url(store, folder):
    assert beside_store(store, "rank") == folder
