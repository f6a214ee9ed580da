"""Image files through a run: 8-bit pixels onto the stored dtype's range, and the checks made before any file is read
(tests/analysis/test_explore_files.py reads, reconstructs and interpolates files through a trained run)."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.analysis import files
from vaearr.analysis.files import explore_files
from vaearr.errors import InputError

PIXELS = np.array([0, 51, 255], np.uint8)


def test_uint8_pixels_stay_as_read() -> None:
    out = files._to_source_dtype(PIXELS, np.dtype(np.uint8))  # noqa: SLF001 - the module's dtype rule, no run needed
    assert out is PIXELS


def test_floats_are_pixels_over_255() -> None:
    out = files._to_source_dtype(PIXELS, np.dtype(np.float32))  # noqa: SLF001 - the module's dtype rule, no run needed
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.2, 1.0])


@pytest.mark.parametrize(("dtype", "expected"), [(np.uint16, [0, 13107, 65535]), (np.int8, [-128, -77, 127])])
def test_integers_span_their_whole_range(dtype: type, expected: list[int]) -> None:
    out = files._to_source_dtype(PIXELS, np.dtype(dtype))  # noqa: SLF001 - the module's dtype rule, no run needed
    assert out.dtype == dtype and out.tolist() == expected


def test_no_file_or_too_few_steps_is_refused_before_the_run_is_used() -> None:
    with pytest.raises(InputError, match="give at least one image file"):
        explore_files(None, [])
    with pytest.raises(InputError, match=r"`steps` must be >= 2 \(both ends are included\), got 1"):
        explore_files(None, ["a.png"], steps=1)
