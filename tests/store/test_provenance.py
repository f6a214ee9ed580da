"""The run reference: written by encode, read by spread and the report through one function, old stores too."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.store import open_store
from vaearr.store.provenance import PREPROCESSING, RUN_REFERENCE_ATTR, RunReference, run_reference


def test_a_reference_reads_back_as_written() -> None:
    config = {"data": {"var": "patterns", "mask": "roi", "store": "/s.zarr"},
              "train": {"average_neighbours": 5, "window": "0:16,8:40", "standardize": True, "scale": "[0,1]",
                        "latent_dim": 4},
              "model": {"name": "conv-vae"}}
    ref = RunReference.from_config(config, run="/runs/a", checkpoint="/runs/a/best", checkpoint_sha256="ab" * 32)
    assert (ref.var, ref.mask, ref.average_neighbours, ref.window) == ("patterns", "roi", 5, "0:16,8:40")
    assert ref.preprocessing == {"average_neighbours": 5, "standardize": True, "scale": "[0,1]"}
    canonical = json.dumps(config, sort_keys=True)
    assert ref.config_sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    attrs = ref.to_attrs()
    assert list(attrs) == [RUN_REFERENCE_ATTR] and isinstance(attrs[RUN_REFERENCE_ATTR], str)
    assert run_reference(attrs) == ref
    da = xr.DataArray(np.zeros(3), dims="i", attrs=attrs)
    assert run_reference(da) == ref and run_reference(xr.Dataset({"latent": da}), "latent") == ref
    # a store written before run_reference: the same reference from the config JSON and the run's attrs
    old = {"config": canonical, "run": "/runs/a", "checkpoint": "/runs/a/best", "checkpoint_sha256": "ab" * 32}
    assert run_reference(old) == ref


def test_a_variable_no_run_made_has_no_reference() -> None:
    assert run_reference({}) is None
    assert run_reference({"config": json.dumps({"method": "pca", "var": "patterns"})}) is None  # decompose's
    assert run_reference({"config": "not json", RUN_REFERENCE_ATTR: "{broken"}) is None
    assert run_reference(xr.Dataset(), "latent") is None
    # a run's options without the checkpoint attrs (as a script wrote them): averaging still known
    ref = run_reference({"config": json.dumps({"train": {"average_neighbours": 3}, "data": {"mask": "roi"}})})
    assert ref is not None and (ref.average_neighbours, ref.mask, ref.run, ref.checkpoint) == (3, "roi", None, None)


def test_the_preprocessing_kept_is_the_runs() -> None:
    from vaearr.preprocess import PreprocessOptions
    from vaearr.train import TrainConfig

    fitted = {f.name for f in dataclasses.fields(PreprocessOptions)} - {"seed", "patch"}
    assert fitted <= set(PREPROCESSING) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_encode_writes_the_reference_spread_and_the_report_read(demo_store: Path, trained_run: Path) -> None:
    from vaearr.encoding import encode
    from vaearr.maps.deformation.spread import averaged_counts
    from vaearr.viz.report import run_from_provenance

    encode(demo_store, trained_run, progress=False)
    ds = open_store(demo_store)
    attrs = ds.latent.attrs
    ref = run_reference(ds, "latent")
    assert ref is not None and ref.run == str(trained_run) and Path(ref.checkpoint or "").parent == trained_run
    assert ref.checkpoint_sha256 == attrs["checkpoint_sha256"]
    assert ref.config_sha256 == hashlib.sha256(attrs["config"].encode()).hexdigest()
    assert (ref.var, ref.mask, ref.average_neighbours) == ("patterns", "roi", 3)  # the demo's auto preprocessing
    assert ref.preprocessing["subtract_background"] is True and ref.window is None
    assert run_reference(ds, "latent_recon_error") == ref
    precision, line = averaged_counts(ds, "latent")
    assert precision is not None and line is not None and "3 × 3 in the run's mask 'roi'" in line
    assert run_from_provenance(ds) == trained_run
    # the same store as an encode before run_reference wrote it: the same reference, the same readings
    old = {k: v for k, v in attrs.items() if k != RUN_REFERENCE_ATTR}
    before = ds.drop_vars(["latent_recon_error"]).assign(latent=ds.latent.copy())
    before.latent.attrs = old
    assert RUN_REFERENCE_ATTR not in before.latent.attrs and run_reference(before, "latent") == ref
    again, line_again = averaged_counts(before, "latent")
    np.testing.assert_array_equal(again, precision)
    assert line_again == line and run_from_provenance(before) == trained_run
