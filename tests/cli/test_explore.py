"""vaearr.cli.explore: what ``vaearr explore`` decides itself before the library runs: image files through the run or
a store, not both kinds of files at once. The exploration's figures and files are in tests/analysis/test_explore.py."""

from __future__ import annotations

from tests.helpers import cli


def test_image_files_and_an_interpolation_at_once_are_one_line(tmp_path):
    proc = cli("explore", "--run", tmp_path / "run", "--image", tmp_path / "a.png", "--interpolate", tmp_path / "b.png",
               tmp_path / "c.png")
    assert (proc.returncode, proc.stderr) == (2, "error: give --image files or --interpolate A B, not both\n")
    assert list(tmp_path.iterdir()) == []


def test_no_store_and_no_files_is_one_line(tmp_path):
    proc = cli("explore", "--run", tmp_path / "run")
    assert (proc.returncode, proc.stderr) == (2, "error: give a STORE (or --image / --interpolate files)\n")
    assert list(tmp_path.iterdir()) == []
