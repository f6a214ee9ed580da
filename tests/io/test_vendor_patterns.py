"""Pattern files kikuchipy reads (:mod:`vaearr.io.vendor_patterns`): kikuchipy's real Ni scan in its vendor layouts
read lazily as ``patterns(y, x, py, px)`` with the file's steps and detector, the steps from navigation axes in any
length unit, and the one-line errors for a file that is not one or a scan shape that does not fit."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.io.patterns import PatternOptions

kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from vaearr.data import kikuchipy_files  # noqa: E402 - after the extra's skip
from vaearr.io import vendor_patterns  # noqa: E402
from vaearr.io.vendor_patterns import read_vendor  # noqa: E402


@pytest.fixture(scope="module")
def ni() -> np.ndarray:
    return np.asarray(kp.data.nickel_ebsd_small().data)


def test_kikuchipys_h5ebsd_with_its_steps_and_detector(ni) -> None:
    da = read_vendor(kikuchipy_files()["kikuchipy_h5ebsd"], options=PatternOptions())
    assert da.dims == ("y", "x", "py", "px") and da.shape == (3, 3, 60, 60) and da.dtype == np.uint8
    np.testing.assert_array_equal(da.values, ni)
    np.testing.assert_allclose(da.x.values, [0, 1.5, 3.0])
    assert da.attrs["step_source"] == "file" and da.attrs["reader"].startswith("kikuchipy ")
    assert len(da.attrs["detector_pc"]) == 3 and da.attrs["detector_pc_convention"] == "bruker"
    assert da.attrs["detector_shape"] == [60, 60]


def test_a_line_of_patterns_with_a_scan_shape_cropped_and_binned(ni) -> None:
    up1 = kikuchipy_files()["edax_binary_up1"]
    da = read_vendor(up1, options=PatternOptions(scan_shape=(3, 3), step=0.5, crop=40, binning=2))
    assert da.shape == (3, 3, 20, 20) and da.attrs["step_source"] == "given"
    want = ni[:, :, 10:50, 10:50].reshape(3, 3, 20, 2, 20, 2).mean(axis=(3, 5))
    np.testing.assert_array_equal(da.values, np.rint(want).astype(np.uint8))
    line = read_vendor(up1, options=PatternOptions())
    assert line.shape == (1, 9, 60, 60)
    with pytest.raises(InputError, match=r"holds 9 patterns, not 2×4 = 8 \(scan shape given\)"):
        read_vendor(up1, options=PatternOptions(scan_shape=(2, 4)))
    with pytest.raises(InputError, match=r"is a 3×3 scan, not 1×9 as given"):
        read_vendor(kikuchipy_files()["kikuchipy_h5ebsd"], options=PatternOptions(scan_shape=(1, 9)))


def test_steps_from_navigation_axes_in_any_length_unit() -> None:
    x, y = kp.data.nickel_ebsd_small().axes_manager.navigation_axes
    x.units, x.scale, x.offset = "nm", 500.0, 1000.0
    y.units, y.scale, y.offset = "mm", 0.002, 0.0
    offsets, steps, source = vendor_patterns._grid([y, x], None)  # noqa: SLF001 - the step rule of every vendor file
    assert source == "file" and offsets == pytest.approx([0.0, 1.0]) and steps == pytest.approx([2.0, 0.5])
    assert vendor_patterns._grid([y, x], (3.0, 4.0)) == ([0.0, 0.0], [3.0, 4.0], "given")  # noqa: SLF001 - given wins
    x.units = "px"  # not a length: the stated default
    offsets, steps, source = vendor_patterns._grid([y, x], None)  # noqa: SLF001 - a unit that is no length
    assert steps == [1.0, 1.0] and offsets == [0.0, 0.0] and source.startswith("none in the file: default")
    x.units = "um"
    assert vendor_patterns._grid([None, x], None)[1] == pytest.approx([500.0, 500.0])  # noqa: SLF001 - one line: rows share


def test_what_kikuchipy_does_not_read_is_one_line(tmp_path) -> None:
    with pytest.raises(InputError, match="none.h5: no such file"):
        read_vendor(tmp_path / "none.h5", options=PatternOptions())
    with pytest.raises(InputError, match="not a file of EBSD patterns"):
        read_vendor(tmp_path, options=PatternOptions())
    (tmp_path / "p.up1").write_text("not patterns")
    with pytest.raises(InputError, match="p.up1"):
        read_vendor(tmp_path / "p.up1", options=PatternOptions())
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["stack"] = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(InputError, match=r"an HDF5 file kikuchipy does not read as EBSD patterns.*name the dataset with "
                                         r"`dataset` \(datasets that look like patterns: /stack 4×8×8 uint8\)"):
        read_vendor(tmp_path / "plain.h5", options=PatternOptions())
