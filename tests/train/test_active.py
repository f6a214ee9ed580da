"""vaearr.train.active: the active latent dims of a run measured on the samples encode reads (the same figure as
:class:`~vaearr.models.latent_stats.LatentStats` over the preprocessed inputs), how the figure says what it was
measured on, and the collapse warning with only the advice the run has not taken.

The runs are made untrained (tests/helpers.py ``make_run``) on a store of twelve 8×8 images: the figures are the
same functions of the weights whatever training made them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from tests.helpers import make_run
from vaearr.models.latent_stats import LatentStats
from vaearr.run import Run
from vaearr.store import write_variable
from vaearr.train.active import ActiveUnits, collapse_advice, collapse_warning, measure_active_units, measured_model

MODEL = {"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": 3, "channels": [4]}


@pytest.fixture
def image_run(tmp_path: Path) -> Run:
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8), dtype=np.uint8)
    store = tmp_path / "s.zarr"
    write_variable(store, "images", xr.DataArray(images, dims=("sample", "row", "col")))
    make_run(tmp_path / "run", store, model=MODEL, sample_dims=("sample",), feature_dims=("row", "col"))
    return Run.open(tmp_path / "run")


def test_active_units_say_what_they_were_measured_on():
    whole = ActiveUnits(2, 4, 9, 9)
    assert whole.whole and whole.describe() == (
        "2 of 4 latent dims (best checkpoint, all 9 samples inside the mask, as encode measures them; variance of the "
        "posterior mean > 0.01)")
    part = ActiveUnits(4, 4, 100, 5000, checkpoint="the trained model (no checkpoint saved)")
    assert not part.whole and part.basis() == (
        "the trained model (no checkpoint saved), a seeded sample of 100 of the 5000 samples inside the mask; "
        "variance of the posterior mean > 0.01")


def test_measured_on_every_sample_as_encode_reads_them(image_run: Run):
    model, name = measured_model(image_run, None, "cpu")
    assert name == "best checkpoint"
    units = measure_active_units(image_run, model)
    stats = LatentStats()
    with torch.no_grad():
        for _, x in image_run.inputs():
            stats.add(*model.encode(x))
    expected = stats.result()
    assert (units.n, units.inside, units.whole) == (12, 12, True)
    assert (units.active, units.dims) == (expected["active_units"], 3)
    few = measure_active_units(image_run, model, n=5, seed=1)  # more inside than n: a seeded choice of n
    assert (few.n, few.inside, few.whole) == (5, 12, False)
    assert dataclasses.astuple(few) == dataclasses.astuple(measure_active_units(image_run, model, n=5, seed=1))


def test_spatial_latents_have_no_active_units(image_run: Run):
    kl = torch.nn.Module()
    kl.latent_shape = (4, 2, 2)
    assert measure_active_units(image_run, kl) is None


def test_a_run_without_a_checkpoint_is_measured_with_the_trained_model(image_run: Run):
    for f in (image_run.path / "best").iterdir():
        f.unlink()
    (image_run.path / "best").rmdir()
    trained = object()
    assert measured_model(image_run, trained, "cpu") == (trained, "the trained model (no checkpoint saved)")


def test_collapse_warning_with_the_advice_not_yet_taken(image_run: Run):
    assert collapse_warning(image_run, None) is None
    assert collapse_warning(image_run, ActiveUnits(1, 4, 12, 12)) is None  # a quarter is not a collapse
    warning = collapse_warning(image_run, ActiveUnits(0, 4, 12, 12))
    assert warning.startswith("only 0 of 4 latent dims are active (best checkpoint, all 12 samples inside the mask")
    assert warning.endswith(
        "posterior collapse, the latents carry almost nothing; what may help: standardised inputs with the gaussian "
        "head (`standardize=True`, the EBSD default), -o free_bits=0.5, `kl_warmup_epochs=5` or `kl_cycles=4`, "
        "-o beta=0.5")


def test_collapse_advice_leaves_out_what_is_on(image_run: Run):
    image_run.model_config.update(data_range="standardized", free_bits=0.5, beta=0.25)
    image_run.train["kl_cycles"] = 4
    assert collapse_advice(image_run) == (
        "what may help: more epochs or a smaller `latent_dim` (already on: `standardize=True` with the gaussian head, "
        "free_bits=0.5, `kl_cycles`, beta=0.25)")
