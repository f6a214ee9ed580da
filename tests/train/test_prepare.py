"""vaearr.train.prepare: the model config a run's options and preprocessing give, a new run resolved from a store
(nothing written unless asked), and the lines said of its window and of a resume's thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from vaearr.errors import InputError
from vaearr.maps.roi.window import Window
from vaearr.preprocess import Preprocess
from vaearr.store import write_variable
from vaearr.train.config import TrainConfig, TrainingError
from vaearr.train.prepare import describe_window, model_config, open_or_create_run, threads_note
from vaearr.transforms import Scale, Standardize


def cfg(**options) -> TrainConfig:
    return TrainConfig(**{"store": "s.zarr", "run": "r", **options})


def pipeline(*steps) -> Preprocess:
    return Preprocess(list(steps), source_dtype="uint8", sample_shape=(1, 8, 8))


def test_model_config_from_the_options_and_the_pipelines_range():
    assert model_config(cfg(latent_dim=3), pipeline(Scale((0.0, 1.0)))) == {
        "name": "conv-vae", "input_shape": (1, 8, 8), "latent_dim": 3, "data_range": "[0,1]"}
    assert model_config(cfg(), pipeline(Scale((-1.0, 1.0))))["data_range"] == "[-1,1]"
    assert model_config(cfg(), pipeline(Scale((0.0, 1.0)), Standardize()))["data_range"] == "standardized"
    kl = model_config(cfg(model="autoencoder-kl", model_options={"preset": "tiny"}), pipeline(Scale((-1.0, 1.0))))
    assert kl == {"name": "autoencoder-kl", "input_shape": (1, 8, 8), "preset": "tiny"}  # no latent_dim, no range
    with pytest.raises(TrainingError, match="^unknown model 'vq-vae'; known: autoencoder-kl, conv-vae, vae3d$"):
        model_config(cfg(model="vq-vae"), pipeline())
    with pytest.raises(TrainingError, match=r"^model 'conv-vae' has no option\(s\) depth, width; it has: activation, "):
        model_config(cfg(model_options={"width": 2, "depth": 3}), pipeline())


def test_a_new_run_resolved_from_its_store_writes_nothing_unless_asked(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (20, 8, 8), dtype=np.uint8)
    store = tmp_path / "s.zarr"
    write_variable(store, "images", xr.DataArray(images, dims=("sample", "row", "col")), chunks={"images": (5, 8, 8)})
    asked = cfg(store=str(store), run=str(tmp_path / "run"), var="images", batch_size=500, latent_dim=2,
                model_options={"channels": [4]}, val_fraction=0.25)
    run, resolved, checkpoint = open_or_create_run(asked, resume=False, write=False)
    assert checkpoint is None and not (tmp_path / "run").exists()
    assert resolved.store == str(store) and resolved.run == str(tmp_path / "run")
    assert resolved.split_by == "chunk" and resolved.batch_size == 15  # a quarter's chunk held out, 15 train
    assert resolved.average_neighbours == 0 and resolved.window is None
    assert run.model_config["input_shape"] == [1, 8, 8] and run.model_config["channels"] == [4]
    assert run.data.sample_dims == ("sample",) and run.data.feature_dims == ("row", "col")
    written, _, _ = open_or_create_run(asked, resume=False, write=True)
    assert (tmp_path / "run" / "config.json").is_file() and written.path == tmp_path / "run"
    with pytest.raises(InputError, match=r"^`window` must be auto, all, a side N or HxW, .* got 'rows'$"):
        open_or_create_run(cfg(store=str(store), run=str(tmp_path / "r2"), window="rows"), resume=False, write=False)


def test_threads_note_only_when_the_count_changes():
    now = torch.get_num_threads()
    assert threads_note([]) == "" and threads_note([{"epoch": 1}]) == ""  # from before the history recorded it
    assert threads_note([{"threads": now}]) == ""
    assert threads_note([{"threads": now + 1}, {"threads": now + 1}]) == (
        f"threads: this resume trains with {now}, the 2 epochs before it with {now + 1}: from here its roundings, and "
        f"so its weights, differ from an uninterrupted run's (`threads={now + 1}` continues bit for bit)")


def test_describe_window():
    assert describe_window(None) == []
    window = Window(box=(0, 4, 2, 8), shape=(10, 12), how="box", info={"default": "auto: the map is large"})
    lines = describe_window(window)
    assert lines[0] == f"window: {window.describe()}" and lines[0].startswith("window: rows 0:4, columns 2:8 (4 × 6 of")
    assert lines[1:] == ["window: auto: the map is large"]
