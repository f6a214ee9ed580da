"""vaearr.train.loaders: the split a new run records (chunks or samples, a batch no larger than the training
samples), the loaders of a run with the preprocessing left for the device, the augmentations, and the lines that
say how validation was held out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from vaearr.batches import DataSpec
from vaearr.store import write_variable
from vaearr.train.config import TrainConfig
from vaearr.train.loaders import augmentations, build_loaders, describe_split, describe_subset, split_choices
from vaearr.train.prepare import open_or_create_run

IMAGES = np.random.default_rng(0).integers(0, 256, (20, 8, 8), dtype=np.uint8)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Twenty 8×8 images in four chunks of five."""
    path = tmp_path / "s.zarr"
    write_variable(path, "images", xr.DataArray(IMAGES, dims=("sample", "row", "col")), chunks={"images": (5, 8, 8)})
    return path


def cfg(store: Path, **options) -> TrainConfig:
    return TrainConfig(**{"store": str(store), "run": str(store.parent / "run"), "var": "images", "latent_dim": 2,
                          "model_options": {"channels": [4]}, "val_fraction": 0.25, **options})


def test_split_choices(store: Path):
    data = DataSpec.resolve(store, "images")
    assert split_choices(cfg(store, batch_size=64), data, "images") == {"split_by": "chunk", "batch_size": 15}
    assert split_choices(cfg(store, batch_size=8), data, "images") == {"split_by": "chunk", "batch_size": 8}
    assert split_choices(cfg(store, split_by="sample"), data, "images") == {"split_by": "sample", "batch_size": 15}
    assert split_choices(cfg(store, val_fraction=0.0), data, "images")["batch_size"] == 20
    assert split_choices(cfg(store, subset=6), data, "images")["batch_size"] == 6


def test_loaders_leave_the_scaling_for_the_device_and_say_the_split(store: Path):
    run, resolved, _ = open_or_create_run(cfg(store, batch_size=4),
                                          resume=False, write=False)
    train, val, on_device = build_loaders(run, resolved)
    assert on_device is run.preprocess  # the batches come as stored, converted after the copy
    batch = next(iter(train))
    assert batch.dtype == torch.uint8 and batch.shape == (4, 1, 8, 8)
    assert on_device(batch).dtype == torch.float32 and float(on_device(batch).max()) <= 1.0
    assert (train.n_samples, val.n_samples) == (15, 5)
    assert describe_split(train, val) == "validation: 5 of 20 samples, split by chunk (1 of 4 chunks)"
    assert describe_subset(train) == ""
    # with augmentations the loaders transform the batches themselves
    augmented = cfg(store, batch_size=4, augment=True)
    train, _, on_device = build_loaders(run, augmented)
    assert on_device is None and next(iter(train)).dtype == torch.float32


def test_describe_split_without_validation_and_with_a_subset(store: Path):
    run, resolved, _ = open_or_create_run(cfg(store, val_fraction=0.0, subset=6), resume=False, write=False)
    train, val, _ = build_loaders(run, resolved)
    assert val is None
    assert describe_split(train, val).startswith("validation: none (`val_fraction=0`): all 20 samples train; best/ is "
                                                 "chosen by the training loss")
    assert describe_subset(train) == "training subset (`subset`): 6 of the 20 training samples, a random choice (seed 0)"
    one_chunk = store.parent / "one.zarr"
    write_variable(one_chunk, "images", xr.DataArray(IMAGES, dims=("sample", "row", "col")))
    run, resolved, _ = open_or_create_run(cfg(one_chunk), resume=False, write=False)
    train, val, _ = build_loaders(run, resolved)
    assert describe_split(train, val) == "validation: 5 of 20 samples, split by sample (the store has 1 chunk)"


def test_augmentations():
    assert augmentations(TrainConfig(store="s", run="r")) == []
    flip, affine = augmentations(TrainConfig(store="s", run="r", augment=True, seed=3))
    x = torch.arange(2 * 16.0).reshape(2, 1, 4, 4)
    again = augmentations(TrainConfig(store="s", run="r", augment=True, seed=3))
    torch.testing.assert_close(affine(flip(x)), again[1](again[0](x)))  # seeded: the same draws
    flipped = flip(x)
    assert all(torch.equal(f, s) or torch.equal(f, s.flip(-1)) for f, s in zip(flipped, x, strict=True))
