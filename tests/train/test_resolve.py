"""vaearr.train.resolve: what ``preprocess="auto"`` makes of EBSD patterns and of other data, what a run records of
its window, and the one frozen config a new run records."""

from __future__ import annotations

import os

import pytest

from vaearr.batches import DataSpec
from vaearr.maps.roi.window import Window
from vaearr.train.config import TrainConfig, TrainingError
from vaearr.train.resolve import preprocess_choices, recorded_window, resolved_config

PATTERNS = DataSpec(store="s.zarr", var="patterns", sample_dims=("y", "x"), feature_dims=("py", "px"), mask="roi")
IMAGES = DataSpec(store="s.zarr", var="images", sample_dims=("sample",), feature_dims=("row", "col"), mask=None)


def cfg(**options) -> TrainConfig:
    return TrainConfig(**{"store": "s.zarr", "run": "r", **options})


def test_auto_preprocessing_of_ebsd_patterns():
    assert preprocess_choices(cfg(), PATTERNS) == {
        "subtract_background": True, "standardize": True, "average_neighbours": 3,
        "model_options": {"decoder": "transpose"}}
    # what was asked stays: a decoder, a neighbour window, other options
    got = preprocess_choices(cfg(average_neighbours=0, model_options={"decoder": "upsample", "beta": 0.5}), PATTERNS)
    assert got["average_neighbours"] == 0 and got["model_options"] == {"decoder": "upsample", "beta": 0.5}
    assert preprocess_choices(cfg(model="vae3d"), PATTERNS)["model_options"] == {}  # the decoder choice is conv-vae's


def test_other_data_and_preprocess_none_keep_the_options_given():
    assert preprocess_choices(cfg(), IMAGES) == {"average_neighbours": 0}
    assert preprocess_choices(cfg(preprocess="none", average_neighbours=5), PATTERNS) == {"average_neighbours": 5}
    with pytest.raises(TrainingError, match="^preprocess must be auto or none, got 'some'$"):
        preprocess_choices(cfg(preprocess="some"), PATTERNS)


def test_recorded_window():
    assert recorded_window(None) is None
    assert recorded_window(Window(box=(0, 10, 0, 12), shape=(10, 12), how="all")) == "all"
    assert recorded_window(Window(box=(2, 6, 3, 9), shape=(10, 12), how="box")) == "2:6,3:9"


def test_resolved_config_is_what_was_asked_plus_the_choices(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    asked = cfg(window="auto", batch_size=64, lr=0.01)
    got = resolved_config(asked, choices={"average_neighbours": 3, "standardize": True},
                          window=Window(box=(0, 4, 0, 4), shape=(8, 8), how="auto"),
                          split={"split_by": "sample", "batch_size": 20})
    assert got.store == os.path.join(tmp_path, "s.zarr") and got.run == os.path.join(tmp_path, "r")
    assert (got.window, got.split_by, got.batch_size) == ("0:4,0:4", "sample", 20)
    assert got.average_neighbours == 3 and got.standardize and got.lr == 0.01
    assert asked.window == "auto" and asked.batch_size == 64  # the request is untouched
    url = resolved_config(cfg(store="s3://b/s.zarr"), choices={}, window=None, split={})
    assert url.store == "s3://b/s.zarr" and url.window is None
