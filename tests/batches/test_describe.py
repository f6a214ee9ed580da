"""Tests of vaearr.batches.describe: a loader's options checked and its variable in the store described."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.batches.describe import check_spec, describe_source
from vaearr.batches.spec import BatchSpec
from vaearr.errors import InputError, StoreError
from vaearr.store import write_variables


def _spec(**kw) -> BatchSpec:
    return BatchSpec(**{"var": "v", "sample_dims": ("y", "x"), "feature_dims": ("a", "b"), **kw})


def test_every_option_out_of_range_in_one_line() -> None:
    check_spec(_spec(), "s.zarr")
    with pytest.raises(InputError, match=r"s.zarr: batch_size must be >= 1, got 0; buffer_chunks must be >= 1, got 0"):
        check_spec(_spec(batch_size=0, buffer_chunks=0), "s.zarr")
    problems = {
        "val_fraction must be in \\[0, 1\\), got 1": {"val_fraction": 1},
        "split must be one of train, val, all, got 'test'": {"split": "test"},
        "split_by must be one of chunk, sample, auto, got 'rows'": {"split_by": "rows"},
        "split='val' needs val_fraction > 0": {"split": "val"},
        "rank 1 is not in 0..world_size-1 \\(world_size 1\\)": {"rank": 1},
        "num_workers and prefetch must be >= 0": {"prefetch": -1},
    }
    for line, kw in problems.items():
        with pytest.raises(InputError, match=line):
            check_spec(_spec(**kw), "s.zarr")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("describe") / "d.zarr"
    coords = {"channel": ["R", "G", "B"]}
    write_variables(path, {
        # stored (a, y, x, channel): the sample dims are not first
        "v": xr.DataArray(np.zeros((4, 5, 6, 3), np.uint8), dims=("a", "y", "x", "channel"), coords=coords),
        "roi": xr.DataArray(np.eye(5, 6, dtype=bool), dims=("y", "x")),
        "ids": xr.DataArray(np.zeros((5, 6), np.int32), dims=("y", "x")),
        "roi_t": xr.DataArray(np.ones((6, 5), bool), dims=("x", "z")),
    }, chunks={"v": (4, 2, 3, 3)})
    return path


def test_a_variable_described_in_the_callers_order(store: Path) -> None:
    spec = _spec(sample_dims=("x", "y"), feature_dims=("a", "channel"), mask="roi", num_workers=0)
    src = describe_source(spec, str(store), None)
    assert (src.grid_shape, src.block_shape, src.sample_axes, src.feature_axes) == ((6, 5), (3, 2), (2, 1), (0, 3))
    assert src.feature_shape == (4, 3) and src.dtype == np.uint8 and src.channel_axis == 1 and src.snapshot is None
    np.testing.assert_array_equal(src.mask, np.eye(5, 6, dtype=bool).T)  # the mask in the sample dims' order
    assert src.decode_threads >= 1


def test_what_does_not_fit_is_named(store: Path) -> None:
    where = str(store)
    with pytest.raises(StoreError, match="no variable 'w' in the store"):
        describe_source(_spec(var="w"), where, None)
    with pytest.raises(InputError, match=r"dims \['a'\] are both sample and feature dims"):
        describe_source(_spec(sample_dims=("y", "x", "a"), feature_dims=("a", "channel")), where, None)
    with pytest.raises(InputError, match=r"'v' has dims \('a', 'y', 'x', 'channel'\); sample_dims \('y', 'x'\) \+ "
                                         r"feature_dims \('a', 'b'\) must name each once"):
        describe_source(_spec(), where, None)
    with pytest.raises(InputError, match="sample_dims is empty"):
        describe_source(_spec(sample_dims=(), feature_dims=("a", "y", "x", "channel")), where, None)
    dims = {"feature_dims": ("a", "channel")}
    with pytest.raises(StoreError, match="no mask variable 'rio' in the store; did you mean 'roi'"):
        describe_source(_spec(mask="rio", **dims), where, None)
    with pytest.raises(InputError, match="mask 'ids' must be boolean, got int32"):
        describe_source(_spec(mask="ids", **dims), where, None)
    with pytest.raises(InputError, match=r"mask 'roi_t' has dims \('x', 'z'\), not the sample dims \('y', 'x'\)"):
        describe_source(_spec(mask="roi_t", **dims), where, None)
