"""vaearr.train.config: TrainConfig to JSON and back (a run's recorded options, old spellings and unknown keys
read), the command line's parsers of its fields, and the check of options that only fail together."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vaearr.errors import InputError
from vaearr.train.config import TrainConfig, TrainingError, check_schedule_options


def parser(field: str):
    return next(o.parse for f, o in TrainConfig.options() if f.name == field)


def test_json_and_back_gives_the_same_config():
    cfg = TrainConfig(store="s.zarr", run="r", sample_dims=("y", "x"), patch=(8, 8, 8), preview_slices=(1, 2, 3),
                      model_options={"channels": [8, 16]})
    d = json.loads(cfg.to_json())
    assert d["sample_dims"] == ["y", "x"] and d["patch"] == [8, 8, 8]
    assert TrainConfig.from_dict(d) == cfg


def test_from_dict_reads_old_runs():
    d = {"store": "s.zarr", "run": "r", "schedule": "none", "removed_option": 3, "feature_dims": ["py", "px"]}
    cfg = TrainConfig.from_dict(d)
    assert cfg.lr_schedule == "none"  # recorded under its old name, read silently
    assert cfg.feature_dims == ("py", "px")
    assert not hasattr(cfg, "removed_option")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # type: ignore[misc]


def test_the_command_lines_parsers():
    assert parser("sample_dims")("y, x,") == ("y", "x")
    assert parser("sample_dims")("") is None
    assert parser("mask")("none") is None and parser("mask")("roi") == "roi"
    assert parser("grad_clip")(0.0) is None and parser("grad_clip")(0.5) == 0.5
    assert parser("patch")("16x32x8") == (16, 32, 8)
    assert parser("preview_slices")("32,40,20") == parser("preview_slices")("32x40x20") == (32, 40, 20)
    assert parser("preview_slices")(None) is None
    with pytest.raises(InputError, match=r"^`preview_slices` must be three indices z,y,x like 32,40,20, got 'a,b,c'$"):
        parser("preview_slices")("a,b,c")
    with pytest.raises(InputError, match=r"must be three indices z,y,x \(0 or more\) like 32,40,20, got '1,2'$"):
        parser("preview_slices")("1,2")
    with pytest.raises(InputError, match=r"got '1,-2,3'$"):
        parser("preview_slices")("1,-2,3")


def test_options_that_only_fail_together():
    check_schedule_options(TrainConfig(store="s", run="r", amp="fp16", device="cuda:1"))
    check_schedule_options(TrainConfig(store="s", run="r", amp="bf16"))
    with pytest.raises(TrainingError, match=r"^`amp='fp16'` is for CUDA; on a CPU use `amp='bf16'` \(or none\)$"):
        check_schedule_options(TrainConfig(store="s", run="r", amp="fp16"))
