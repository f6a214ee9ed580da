"""vaearr.train.checks: the options' ranges and combinations refused in one line before a run is written, preview
slices inside the volume, store locations compared as the same store, and the resume point of a run."""

from __future__ import annotations

import os

import pytest

from vaearr.train.checks import absolute, check_options, check_preview_slices, resume_point, same_store
from vaearr.train.config import TrainConfig, TrainingError


def test_check_options_says_the_first_field_out_of_range():
    check_options(TrainConfig(store="s.zarr", run="r"))
    with pytest.raises(TrainingError, match="^lr must be above 0, got 0$"):
        check_options(TrainConfig(store="s.zarr", run="r", lr=0.0))
    with pytest.raises(TrainingError, match=r"^val_fraction must be in \[0, 1\), got 1$"):
        check_options(TrainConfig(store="s.zarr", run="r", val_fraction=1.0))
    with pytest.raises(TrainingError, match=r"^`amp='fp16'` is for CUDA; on a CPU use `amp='bf16'` \(or none\)$"):
        check_options(TrainConfig(store="s.zarr", run="r", amp="fp16", device="cpu"))


def test_preview_slices_must_fall_inside_the_volume():
    check_preview_slices(None, (4, 5))
    check_preview_slices((0, 4, 5), (1, 5, 6))
    with pytest.raises(TrainingError, match="^`preview_slices` is for volumes; these samples are 60×60$"):
        check_preview_slices((1, 2, 3), (60, 60))
    with pytest.raises(TrainingError, match=r"out of range for volumes of 4×5×6 \(z×y×x\): z=4 \(0\.\.3\), y=-1 \(0\.\.4\)$"):
        check_preview_slices((4, -1, 5), (4, 5, 6))


def test_absolute_and_same_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute("stores/a.zarr") == str(tmp_path / "stores" / "a.zarr")
    assert absolute("s3://bucket/a.zarr") == "s3://bucket/a.zarr"
    (tmp_path / "a.zarr").mkdir()
    os.symlink(tmp_path / "a.zarr", tmp_path / "link.zarr")
    assert same_store("a.zarr", str(tmp_path / "link.zarr"))
    assert same_store("./a.zarr/", str(tmp_path / "a.zarr"))
    assert not same_store("a.zarr", "b.zarr")
    assert same_store("s3://bucket/a.zarr/", "s3://bucket/a.zarr")
    assert not same_store("s3://bucket/a.zarr", "a.zarr")


def test_resume_point_of_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(TrainingError, match=rf"^{tmp_path / 'none'}: no checkpoint to resume from \("):
        resume_point(TrainConfig(store="s.zarr", run=str(tmp_path / "none")))
