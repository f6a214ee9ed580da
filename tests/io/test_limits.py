"""Bounds on what a file may make a reader allocate (:mod:`vaearr.io.limits`): the memory budget and its spelling,
sizes for a person, and the one-line refusals of a NUL-filled text, a text map larger than its header says, and an
HDF5 dataset that declares more than the file holds or the budget allows."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.io.limits import (
    BUDGET_VARIABLE,
    MAX_ROW_BYTES,
    check_budget,
    check_dataset,
    check_rows,
    check_text,
    memory_budget,
    shown,
)


@pytest.mark.parametrize(("text", "nbytes"), [
    ("1000", 1000), ("4G", 4 << 30), ("512M", 512 << 20), ("1.5k", 1536), ("2 GiB", 2 << 30), ("3mb", 3 << 20),
    ("1T", 1 << 40),
])
def test_the_budget_is_read_with_its_unit(monkeypatch, text, nbytes) -> None:
    monkeypatch.setenv(BUDGET_VARIABLE, text)
    assert memory_budget() == nbytes


def test_the_default_budget_is_half_the_memory_and_a_bad_one_is_one_line(monkeypatch) -> None:
    monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
    assert memory_budget() == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    monkeypatch.setenv(BUDGET_VARIABLE, "lots")
    with pytest.raises(InputError, match=r"VAEARR_MEMORY_BUDGET='lots': give bytes, or a number with k, M, G or T"):
        memory_budget()


@pytest.mark.parametrize(("nbytes", "text"), [
    (0, "0 B"), (999, "999 B"), (1000, "1 kB"), (1.5e9, "1.5 GB"), (2.25e6, "2.25 MB"), (3e12, "3 TB"),
])
def test_sizes_for_a_person(nbytes, text) -> None:
    assert shown(nbytes) == text


def test_a_read_over_the_budget_is_refused(monkeypatch) -> None:
    monkeypatch.setenv(BUDGET_VARIABLE, "1M")
    check_budget("f.ang", 1 << 20, "its points")
    with pytest.raises(InputError, match=r"f.ang: its points would take 1.05 MB of memory, more than the budget of "
                                         r"1.05 MB \(VAEARR_MEMORY_BUDGET\); nothing was read"):
        check_budget("f.ang", (1 << 20) + 1, "its points")


def test_text_with_nul_bytes_and_a_map_larger_than_its_header(tmp_path) -> None:
    check_text(tmp_path / "a.ang", b"# header\n1 2 3\n")
    with pytest.raises(InputError, match="holds NUL bytes: not a text file"):
        check_text(tmp_path / "a.ang", b"# header\0\0\0")
    path = tmp_path / "m.ang"
    path.write_bytes(b"#" * 100 + b"x" * (4 * MAX_ROW_BYTES))
    check_rows(path, 4, 100, "header")
    with pytest.raises(InputError, match=r"m.ang: holds 4.2 kB, more than the 3 points its header announces can take "
                                         r"\(at most 3.17 kB\)"):
        check_rows(path, 3, 100, "header")


def test_an_hdf5_dataset_that_declares_more_than_the_file_holds(tmp_path, monkeypatch) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["full"] = np.zeros((10, 10), np.uint16)
        f.create_dataset("hollow", shape=(1000, 1000), dtype="f8")  # contiguous, never written: no storage
        f.create_dataset("chunked", shape=(1000, 1000), dtype="f8", chunks=(100, 100))  # chunks may be absent
    with h5py.File(path, "r") as f:
        check_dataset(path, f["full"])
        check_dataset(path, f["chunked"])
        check_dataset(path, "not a dataset")
        with pytest.raises(InputError, match=r"dataset /hollow declares 8 MB \(1000 × 1000 float64\) but the file holds "
                                             r"0 B of it"):
            check_dataset(path, f["hollow"])
        monkeypatch.setenv(BUDGET_VARIABLE, "100")
        with pytest.raises(InputError, match=r"dataset /full would take 200 B of memory"):
            check_dataset(path, f["full"])
        with pytest.raises(InputError, match=r"dataset /full would take 800 B"):
            check_dataset(path, f["full"], itemsize=8)
        check_dataset(path, f["full"], whole=False)  # read in pieces: no budget
