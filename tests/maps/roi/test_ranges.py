"""The x/y ranges of a mask (:mod:`vaearr.maps.roi.ranges`): µm ranges inclusive within float noise, pixel ranges
half-open as a Python slice, and the one-line errors of a range that cannot be one."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.maps.roi.ranges import as_index_range, as_range, in_index_range, in_range, parse_index_range


def test_pixel_ranges_are_half_open_whole_numbers() -> None:
    assert parse_index_range("2:5") == (2, 5) and parse_index_range(":") == (None, None)
    assert as_index_range((None, 3), "x") == (None, 3) and as_index_range("1:", "x") == (1, None)
    assert as_index_range(None, "x") is None
    for text, message in (("1.5:3", r"1\.5 is not a pixel index"), ("-1:3", r"-1 is not a pixel index"),
                          ("3:3", r"'3:3' is empty: a half-open range A:B needs B > A")):
        with pytest.raises(InputError, match=message):
            parse_index_range(text)
    with pytest.raises(InputError, match=r"^x-index range must be \(start, stop\), got 5$"):
        as_index_range(5, "x")


def test_the_pixels_of_an_index_range() -> None:
    assert in_index_range(5, (1, 3), "x", "m.zarr").tolist() == [False, True, True, False, False]
    assert in_index_range(5, (3, None), "x", "m.zarr").tolist() == [False, False, False, True, True]
    assert in_index_range(5, (None, 99), "x", "m.zarr").all()
    with pytest.raises(InputError, match=r"^x-index range 5: starts past the map's 5 positions along x \(0\.\.4\) "
                                         r"in m\.zarr$"):
        in_index_range(5, (5, None), "x", "m.zarr")


def test_um_ranges_are_inclusive_within_float_noise() -> None:
    coord = np.arange(6) * 0.1  # 0.30000000000000004 is the fourth
    assert in_range(coord, (0.1, 0.3)).tolist() == [False, True, True, True, False, False]
    assert in_range(coord, (None, 0.2)).tolist() == [True, True, True, False, False, False]
    assert in_range(np.array([2.0]), (2.0, None)).tolist() == [True]
    assert as_range("1.5:", "y") == (1.5, None) and as_range((0, 2), "y") == (0.0, 2.0)
    assert as_range(":", "y") is None and as_range(None, "y") is None
    with pytest.raises(InputError, match=r"^y range \(3, 1\) is empty$"):
        as_range((3, 1), "y")
    with pytest.raises(InputError, match=r"^y range must be \(low, high\), got 1\.0$"):
        as_range(1.0, "y")
