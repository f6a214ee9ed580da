"""Plain HDF5 pattern files (:mod:`vaearr.io.hdf5`): candidates named when the dataset is not, coordinates in their
units, a PC the file keeps, the three layouts (Y×X×H×W, N×H×W with a scan shape or with x/y) and their errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from vaearr.errors import InputError, VaearrWarning
from vaearr.io.hdf5 import coord_units_factor, describe_candidates, pattern_candidates, read_plain_hdf5
from vaearr.io.patterns import PatternOptions

P = np.arange(6 * 4 * 5, dtype=np.uint8).reshape(6, 4, 5)


def _read(path: Path, dataset: str = "data/patterns", **options):
    return read_plain_hdf5(path, dataset, x_dataset="x", y_dataset="y", options=PatternOptions(**options))


def _file(path: Path, **datasets) -> Path:
    with h5py.File(path, "w") as f:
        for name, (value, attrs) in datasets.items():
            f[name.replace("__", "/")] = value
            f[name.replace("__", "/")].attrs.update(attrs)
    return path


def test_the_datasets_that_look_like_patterns(tmp_path) -> None:
    path = _file(tmp_path / "f.h5", data__patterns=(P, {}), rgb=(np.zeros((4, 4, 3), np.uint8), {}),
                 text=(np.array([b"a", b"b"]), {}), grid=(np.zeros((2, 3, 8, 8), np.float32), {}))
    with h5py.File(path) as f:
        assert pattern_candidates(f) == ["/data/patterns 6×4×5 uint8", "/grid 2×3×8×8 float32"]
        assert describe_candidates(f).startswith("datasets that look like patterns: /data/patterns")
        assert pattern_candidates(f, limit=1) == ["/data/patterns 6×4×5 uint8"]
    with h5py.File(_file(tmp_path / "g.h5", rgb=(np.zeros((4, 4, 3), np.uint8), {})), "r") as f:
        assert describe_candidates(f) == "no dataset here looks like patterns (3-D or 4-D numbers)"


def test_coordinate_units_as_a_factor_to_um(tmp_path) -> None:
    path = _file(tmp_path / "f.h5", a=(np.zeros(2), {"units": "nm"}), b=(np.zeros(2), {"Unit": b"mm"}),
                 c=(np.zeros(2), {}), d=(np.zeros(2), {"units": "s"}))
    with h5py.File(path) as f:
        assert coord_units_factor(path, f["a"]) == pytest.approx(1e-3)
        assert coord_units_factor(path, f["b"]) == pytest.approx(1e3)
        assert coord_units_factor(path, f["c"]) == 1.0
        with pytest.raises(InputError, match=r"'/d' is in 's', not a length unit \(µm, nm, mm\)"):
            coord_units_factor(path, f["d"])


def test_xy_datasets_beside_the_patterns_in_their_units(tmp_path) -> None:
    x, y = np.array([0, 1, 2, 0, 1, 2]) * 500.0, np.array([0, 0, 0, 1, 1, 1]) * 500.0
    path = _file(tmp_path / "f.h5", data__patterns=(P, {"pc": [0.4, 0.3, 0.5], "sample_tilt": 68}),
                 data__x=(x, {"units": "nm"}), data__y=(y, {"units": "nm"}))
    da = _read(path)
    assert da.shape == (2, 3, 4, 5) and da.attrs["x_dataset"] == "/data/x" and da.attrs["step_source"] == "x/y datasets"
    np.testing.assert_allclose(da.x.values, [0, 0.5, 1.0])
    np.testing.assert_allclose(da.y.values, [0, 0.5])
    np.testing.assert_array_equal(np.asarray(da), P.reshape(2, 3, 4, 5))
    assert da.attrs["pc"] == [0.4, 0.3, 0.5] and da.attrs["sample_tilt"] == 68.0
    assert da.attrs["pc_source"] == f"the 'pc' attribute of '/data/patterns' in {path}"
    with pytest.warns(VaearrWarning, match="step ignored, coordinates come from the x/y datasets"):
        _read(path, step=2.0)


def test_a_scan_shape_or_a_grid_of_patterns(tmp_path) -> None:
    path = _file(tmp_path / "f.h5", data__patterns=(P, {}), grid=(P.reshape(2, 3, 4, 5), {}))
    da = _read(path, scan_shape=(3, 2), step=(1.0, 2.0), crop=(2, 4), binning=2)
    assert da.shape == (3, 2, 1, 2) and da.attrs["step_source"] == "given"
    np.testing.assert_array_equal(da.x.values, [0.0, 2.0])
    np.testing.assert_array_equal(np.asarray(da[0, 0]), [[np.rint(P[0, 1:3, 0:2].mean()), np.rint(P[0, 1:3, 2:4].mean())]])
    grid = _read(path, "grid")
    assert grid.shape == (2, 3, 4, 5) and "default" in grid.attrs["step_source"] and "pc" not in grid.attrs


@pytest.mark.parametrize(("dataset", "options", "words"), [
    ("nope", {}, "no dataset 'nope' (datasets that look like patterns: /data/patterns 6×4×5 uint8"),
    ("text", {}, "'/text' holds |S1, not numbers"),
    ("flat", {}, "'/flat' has shape 6×4; expected patterns as N×H×W"),
    ("grid", {"scan_shape": (3, 2)}, "'/grid' is a 2×3 scan, not 3×2 as given"),
    ("data/patterns", {"scan_shape": (2, 2)}, "'/data/patterns' holds 6 patterns, not 2×2 = 4 (scan shape given)"),
    ("lonely", {}, "'/lonely' is N×H×W (6 patterns) but there is no 'x' and 'y' dataset"),
    ("data/patterns", {"crop": 9}, "cannot crop 4×5 patterns to 9×9"),
])
def test_what_is_not_a_pattern_layout_is_one_line(tmp_path, dataset, options, words) -> None:
    path = _file(tmp_path / "f.h5", data__patterns=(P, {}), text=(np.array([b"a"] * 3), {}),
                 flat=(np.zeros((6, 4)), {}), grid=(P.reshape(2, 3, 4, 5), {}), lonely=(P, {}),
                 data__x=(np.arange(6.0), {}), data__y=(np.zeros(6), {}))
    with pytest.raises(InputError, match="f.h5") as err:
        _read(path, dataset, **options)
    assert words in str(err.value)


def test_xy_that_do_not_fit_the_patterns(tmp_path) -> None:
    path = _file(tmp_path / "f.h5", data__patterns=(P, {}), data__x=(np.arange(5.0), {}), data__y=(np.zeros(6), {}))
    with pytest.raises(InputError, match="'/data/x' has 5 values but '/data/patterns' has 6 patterns"):
        _read(path)
    path = _file(tmp_path / "g.h5", data__patterns=(P, {}), data__x=(np.zeros((2, 3)), {}), data__y=(np.zeros(6), {}))
    with pytest.raises(InputError, match=r"'/data/x' has shape \(2, 3\); expected one value per pattern"):
        _read(path)
