"""Active latent dims: one figure from train and encode, measured on the samples encode reads, and advice that is not
already taken (issue 41, numbers that are right)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import cli
from vaearr.batches.plan import subset_samples
from vaearr.encoding import encode
from vaearr.models.latent_stats import LatentStats
from vaearr.run import Run
from vaearr.train import TrainConfig, fit
from vaearr.train.active import collapse_advice, collapse_warning, measure_active_units

ACTIVE = re.compile(r"active units: (\d+) of (\d+) latent dims")


def test_train_and_encode_give_the_same_active_units_on_the_real_ni_scan(kikuchipy_data_dir: Path,
                                                                        tmp_path: Path) -> None:
    """kikuchipy's real 3 × 3 scan: its validation split holds one pattern, whose variance is 0 (train said
    "0 of 4" and advised --standardize, which was on, while encode said "4 of 4")."""
    store, run = tmp_path / "ni.zarr", tmp_path / "runs" / "ni"
    cli("ingest", "ebsd", kikuchipy_data_dir / "kikuchipy_h5ebsd" / "patterns.h5", store, check=True)
    trained = cli("train", store, "--run", run, "--epochs", "3", "--latent-dim", "4", "--batch-size", "9",
                      "-o", "free_bits=0.5", "--no-tensorboard", check=True)
    assert "validation: 1 of 9 samples" in trained.stdout, trained.stdout
    # losses with six significant figures at most (the best one printed as a float's seventeen: 5283.458984375)
    losses = re.findall(r"(?:train|val)_loss=([-\d.e+]+)", trained.stdout)
    assert len(losses) == 3 and all(len(v.replace(".", "").replace("-", "").lstrip("0")) <= 6 for v in losses), losses
    said = ACTIVE.findall(trained.stdout)
    assert len(said) == 1, trained.stdout
    assert "all 9 samples inside the mask, as encode measures them" in trained.stdout, trained.stdout
    encoded = cli("encode", store, "--run", run, check=True)
    assert ACTIVE.findall(encoded.stdout) == said, (trained.stdout, encoded.stdout)
    # never advice to turn on what is on: the run standardises with the gaussian head, and free_bits is 0.5
    advice = collapse_advice(Run.open(run))
    assert "`standardize=True`, the EBSD default" not in advice and "-o free_bits" not in advice, advice
    assert "already on: `standardize=True` with the gaussian head, free_bits=0.5" in advice, advice
    assert "the EBSD default" not in trained.stdout + trained.stderr


def test_a_large_map_is_measured_on_a_seeded_sample_of_its_roi(demo_store: Path, tmp_path: Path) -> None:
    import xarray as xr

    res = fit(TrainConfig(store=str(demo_store), run=str(tmp_path / "r"), epochs=1, latent_dim=4,
                          model_options={"channels": [8, 16]}, tensorboard=False, previews=0), progress=False)
    run = Run.open(res.run)
    inside = int(xr.open_zarr(demo_store).roi.sum())
    assert res.active_units is not None and res.active_units.whole and res.active_units.n == inside
    model = run.model("best")
    units = measure_active_units(run, model, n=200, seed=3)
    assert units is not None and (units.n, units.inside) == (200, inside) and not units.whole
    assert f"a seeded sample of 200 of the {inside} samples inside the mask" in units.describe()
    # exactly those 200 samples, read as encode reads them, give the same statistics
    ids = subset_samples(np.flatnonzero(xr.open_zarr(demo_store).roi.values.ravel()), 200, 3)
    stats = LatentStats()
    for b in run.encode(model=model, samples=ids, reconstruct=False):
        stats.add(b.mu, b.logvar)
    assert stats.n == 200 and stats.result()["active_units"] == units.active
    # the whole ROI: the figure encode writes
    enc = encode(demo_store, res.run, progress=False)
    assert enc.active_units == (res.active_units.active, res.active_units.dims)


def test_the_collapse_warning_names_what_it_measured_and_only_options_not_on(tmp_path: Path) -> None:
    import xarray as xr
    from sklearn.datasets import load_digits

    from vaearr.store import write_variable

    store = tmp_path / "d.zarr"
    write_variable(store, "images", xr.DataArray((load_digits().images * 15).astype(np.uint8),
                                                 dims=("sample", "row", "col")), chunks={"images": (128, 8, 8)})
    common = dict(store=str(store), var="images", epochs=2, latent_dim=6, tensorboard=False, previews=0)
    with pytest.warns(UserWarning, match=r"only \d of 6 latent dims are active \(best checkpoint, all 1797 samples"):
        bad = fit(TrainConfig(run=str(tmp_path / "bad"), model_options={"channels": [8, 16], "beta": 500.0}, **common),
                  progress=False)
    run = Run.open(bad.run)
    text = collapse_warning(run, bad.active_units)
    assert text is not None and "`standardize=True`" in text and "-o free_bits=0.5" in text and "beta=0.5" in text
    # the same run with standardisation and the gaussian head, free bits, warm-up and a small β on: none is advised
    run.train.update(standardize=True, kl_warmup_epochs=1.0)
    run.model_config.update(data_range="standardized", output="gaussian", beta=0.5, free_bits=0.1)
    advice = collapse_advice(run)
    assert advice.startswith("what may help: more epochs or a smaller `latent_dim`"), advice
    assert "already on: `standardize=True` with the gaussian head, free_bits=0.1, `kl_warmup_epochs`, beta=0.5" in advice, advice


def test_a_run_that_saved_no_checkpoint_is_measured_with_its_trained_model(tmp_path: Path) -> None:
    import xarray as xr
    from sklearn.datasets import load_digits

    from vaearr.store import write_variable

    store = tmp_path / "d.zarr"
    write_variable(store, "images", xr.DataArray((load_digits().images[:400] * 15).astype(np.uint8),
                                                 dims=("sample", "row", "col")), chunks={"images": (100, 8, 8)})
    res = fit(TrainConfig(store=str(store), run=str(tmp_path / "r"), var="images", epochs=1, latent_dim=3,
                          model_options={"channels": [8]}, tensorboard=False, previews=0), progress=False, callbacks=[])
    assert not (tmp_path / "r" / "best").exists() and not Run.open(res.run).checkpoints()
    units = res.active_units
    assert units is not None and units.n == units.inside == 400 and units.dims == 3
    assert units.describe().startswith(f"{units.active} of 3 latent dims (the trained model (no checkpoint saved), "
                                       "all 400 samples inside the mask")
