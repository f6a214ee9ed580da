"""The static background (:mod:`vaearr.maps.patterns.background`): the mean pattern over a mask, streamed from a small
store, against numpy's mean; a missing variable is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import StoreError
from vaearr.maps.patterns.background import static_background
from vaearr.store import write_variables


def _store(path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    patterns = rng.integers(0, 4000, (4, 5, 3, 2)).astype(np.uint16)
    roi = rng.random((4, 5)) < 0.6
    write_variables(path, {"patterns": xr.DataArray(patterns, dims=("y", "x", "py", "px")).chunk({"y": 1}),
                           "roi": xr.DataArray(roi, dims=("y", "x"))}, source=["test"])
    return path, patterns, roi


def test_the_mean_pattern_over_the_mask(tmp_path: Path) -> None:
    store, patterns, roi = _store(tmp_path / "m.zarr")
    whole = static_background(store, "patterns", ("y", "x"))
    assert whole.dtype == np.float64 and whole.shape == (3, 2)
    assert np.allclose(whole, patterns.reshape(-1, 3, 2).mean(0, dtype=np.float64))
    # a few chunks at a time: the same sum in the same order
    assert np.array_equal(static_background(store, "patterns", ("y", "x"), "roi", chunks_at_once=1),
                          static_background(store, "patterns", ("y", "x"), "roi"))
    assert np.allclose(static_background(store, "patterns", ("y", "x"), "roi"), patterns[roi].mean(0))
    # the features in another order
    swapped = static_background(store, "patterns", ("y", "x"), feature_dims=("px", "py"))
    assert np.allclose(swapped, whole.T)


def test_a_missing_variable_is_one_line(tmp_path: Path) -> None:
    store, _, _ = _store(tmp_path / "m.zarr")
    with pytest.raises(StoreError, match=r"m\.zarr: no variable 'pattern' in the store; did you mean 'patterns'\?"):
        static_background(store, "pattern", "y")
