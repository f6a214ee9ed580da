"""What every pattern reader does to the patterns (:mod:`vaearr.io.patterns`): the centred crop and its checks,
binning as the mean of blocks in the recorded dtype, and the attrs and coordinates of the array handed on."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.io.patterns import (
    bin_blocks,
    common_attrs,
    crop_bin,
    crop_box,
    pair,
    patterns_array,
    short_error,
)


def test_a_pair_is_one_number_twice_or_two() -> None:
    assert pair(2, "step") == (2.0, 2.0) and pair(np.float32(0.5), "step") == (0.5, 0.5)
    assert pair([1, 3], "step") == (1.0, 3.0)
    with pytest.raises(ValueError, match=r"step must be one number or two \(rows, cols\), got \[1, 2, 3\]"):
        pair([1, 2, 3], "step")


@pytest.mark.parametrize(("shape", "crop", "binning", "box"), [
    ((60, 80), None, 1, (0, 0, 60, 80)), ((60, 80), 40, 1, (10, 20, 40, 40)), ((60, 80), (20, 60), 2, (20, 10, 20, 60)),
    ((61, 61), 60, 4, (0, 0, 60, 60)),
])
def test_the_crop_is_centred(shape, crop, binning, box) -> None:
    assert crop_box("f.h5", shape, crop, binning) == box


@pytest.mark.parametrize(("crop", "binning", "words"), [
    (70, 1, "cannot crop 60×60 patterns to 70×70"), (0, 1, "cannot crop 60×60 patterns to 0×0"),
    (None, 0, "binning must be a positive integer, got 0"), (None, 1.5, "binning must be a positive integer, got 1.5"),
    (None, 7, "60×60 patterns do not divide into 7×7 bins; crop to a multiple of 7 first"),
])
def test_a_crop_or_binning_that_does_not_fit_is_one_line(crop, binning, words) -> None:
    with pytest.raises(InputError, match="f.h5") as err:
        crop_box("f.h5", (60, 60), crop, binning)
    assert words in str(err.value)


def test_binning_is_the_rounded_mean_of_blocks_in_the_recorded_dtype() -> None:
    block = np.array([[0, 1, 10, 10], [2, 2, 10, 11], [255, 255, 0, 0], [255, 254, 0, 1]], np.uint8)
    binned = bin_blocks(block[None], 2)[0]
    assert binned.dtype == np.uint8
    np.testing.assert_array_equal(binned, [[1, 10], [255, 0]])  # 1.25 → 1, 10.25 → 10, 254.75 → 255, 0.25 → 0
    floats = bin_blocks(np.arange(16, dtype=np.float32).reshape(4, 4), 2)
    np.testing.assert_array_equal(floats, [[2.5, 4.5], [10.5, 12.5]])
    same = np.arange(4, dtype=np.uint16).reshape(2, 2)
    assert bin_blocks(same, 1) is same
    wide = np.full((2, 2), 60000, np.uint16)
    assert bin_blocks(wide, 2).item() == 60000


def test_crop_then_bin() -> None:
    block = np.arange(36, dtype=np.float64).reshape(1, 6, 6)
    out = crop_bin(block, crop_box("f", (6, 6), 4, 2), 2)
    np.testing.assert_array_equal(out[0], [[10.5, 12.5], [22.5, 24.5]])


def test_a_short_error_is_the_first_line() -> None:
    assert short_error(OSError("Unable to open file\n  HDF5 stack\n  more")) == "Unable to open file"
    assert short_error(KeyError()) == "KeyError"


def test_the_attrs_and_coordinates_handed_on() -> None:
    attrs = common_attrs("f.h5", (60, 60), (10, 10, 40, 40), 2, (0.5, 1.0), (3, 4), "square")
    assert attrs["source_file"].endswith("f.h5") and attrs["scan_shape"] == [3, 4]
    assert (attrs["step_y"], attrs["step_x"], attrs["crop"], attrs["crop_offset"]) == (0.5, 1.0, [40, 40], [10, 10])
    assert attrs["binning"] == 2 and "mean of blocks" in attrs["binning_method"]
    plain = common_attrs("f.h5", (60, 60), (0, 0, 60, 60), 1, (1, 1), (3, 4), "square")
    assert plain["crop"] == [] and plain["binning_method"] == "none"
    da = patterns_array(np.zeros((2, 3, 4, 4), np.uint8), np.array([0, 1]), np.array([0, 2, 4]), attrs)
    assert da.dims == ("y", "x", "py", "px") and da.name == "patterns" and da.x.dtype == np.float64
    assert da.x.attrs["units"] == "µm" and da.attrs is not None and da.attrs["binning"] == 2
