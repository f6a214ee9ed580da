"""Tests of vaearr.batches.spec: the seeded streams, the channel rule, dtypes, BatchSpec and DataSpec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from vaearr.batches.spec import (
    BatchSpec,
    DataSpec,
    channel_axis,
    numpy_dtype,
    rng,
    to_channels_first,
    torch_dtype,
    torch_seed,
)
from vaearr.errors import InputError, StoreError
from vaearr.store import write_variables


def test_the_seeded_streams_depend_on_their_keys_alone() -> None:
    a, b = rng(0, 1, 2).permutation(100), rng(0, 1, 2).permutation(100)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rng(0, 1, 3).permutation(100))
    assert not np.array_equal(a, rng(0, 2, 2).permutation(100))
    seeds = {torch_seed(0, 4, e, 0, b) for e in range(3) for b in range(50)}
    assert len(seeds) == 150 and all(0 <= s < 2**63 for s in seeds)  # a valid torch seed each, all different
    assert torch_seed(7, 4, 1) == torch_seed(7, 4, 1)


def test_the_channel_rule() -> None:
    coords = xr.Dataset(coords={"channel": ["R", "G", "B"], "row": np.arange(4), "element": ["Ni", "Fe"]}).coords
    # auto: the last feature dim whose coordinate holds names, when there are several feature dims
    assert channel_axis(coords, ("row", "col", "channel")) == 2
    assert channel_axis(coords, ("channel", "row", "element")) == 2
    assert channel_axis(coords, ("row", "col")) is None  # numbers are not names
    assert channel_axis(coords, ("channel",)) is None  # one feature dim: never a channel
    assert channel_axis(coords, ("row", "col"), "row") == 0
    assert channel_axis(coords, ("row", "col", "channel"), None) is None
    with pytest.raises(InputError, match=r"channel_dim 'z' is not one of the feature dims \('row', 'col'\)"):
        channel_axis(coords, ("row", "col"), "z")


def test_channels_first_is_a_view() -> None:
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # (n, row, col, channel)
    out = to_channels_first(a, 2)
    assert out.shape == (2, 5, 3, 4) and np.shares_memory(out, a)
    np.testing.assert_array_equal(out[1, 4], a[1, :, :, 4])
    assert to_channels_first(a, None).shape == (2, 1, 3, 4, 5)


def test_dtypes_by_name_numpy_or_torch() -> None:
    assert torch_dtype("float32") is torch.float32 and torch_dtype(np.uint8) is torch.uint8
    assert torch_dtype(np.dtype("int16")) is torch.int16 and torch_dtype(torch.bfloat16) is torch.bfloat16
    assert torch_dtype(None) is None
    assert torch_dtype("float") is torch.float32  # torch's own alias
    with pytest.raises(InputError, match="dtype 'relu' is not a torch dtype"):
        torch_dtype("relu")  # a torch function of that name, not a dtype
    with pytest.raises(InputError, match="is not a torch dtype"):
        torch_dtype("quaternion")
    assert numpy_dtype(torch.float16) == np.float16 and numpy_dtype(torch.uint8) == np.uint8
    assert numpy_dtype(torch.bfloat16) is None and numpy_dtype(None) is None  # numpy has no bfloat16


def test_a_batch_spec_takes_one_name_or_transform_for_a_tuple() -> None:
    def t(x):
        return x

    spec = BatchSpec("v", "sample", ["row", "col"], transforms=t)
    assert spec.sample_dims == ("sample",) and spec.feature_dims == ("row", "col") and spec.transforms == (t,)
    assert BatchSpec("v", ("y", "x"), (), transforms=None).transforms == ()
    assert BatchSpec("v", ("y",), (), transforms=[t, t]).transforms == (t, t)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "s.zarr"
    coords = {"y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]}
    write_variables(path, {
        "patterns": xr.DataArray(np.zeros((2, 3, 4, 4), np.uint8), dims=("y", "x", "py", "px"), coords=coords),
        "roi": xr.DataArray(np.ones((2, 3), bool), dims=("y", "x"), coords=coords),
        "mine": xr.DataArray(np.zeros((5, 2), np.float32), dims=("sample", "f")),
    })
    return path


def test_a_data_spec_takes_its_dims_from_the_schema_and_roi_when_there(store: Path, monkeypatch) -> None:
    monkeypatch.chdir(store.parent)
    spec = DataSpec.resolve("s.zarr", "patterns")
    assert spec == DataSpec(str(store), "patterns", ("y", "x"), ("py", "px"), "roi")  # absolute: usable from anywhere
    assert DataSpec.resolve(store, "patterns", mask=None).mask is None
    mine = DataSpec.resolve(store, "mine", feature_dims=("f",))
    assert (mine.sample_dims, mine.feature_dims, mine.mask) == (("sample",), ("f",), "roi")
    assert DataSpec.from_dict({**vars(spec), "sample_dims": ["y", "x"], "feature_dims": ["py", "px"]}) == spec
    assert DataSpec.from_dict({k: v for k, v in vars(spec).items() if k != "mask"}).mask is None  # an old run's


def test_a_data_spec_names_what_the_store_lacks(store: Path) -> None:
    with pytest.raises(StoreError, match="no variable 'pattern' in the store; did you mean 'patterns'"):
        DataSpec.resolve(store, "pattern")
    with pytest.raises(StoreError, match="no mask variable 'rois' in the store; did you mean 'roi'"):
        DataSpec.resolve(store, "patterns", mask="rois")
    with pytest.raises(InputError, match="'mine' is not a schema variable"):
        DataSpec.resolve(store, "mine")
