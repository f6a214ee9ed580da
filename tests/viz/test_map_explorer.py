"""The map explorer's own conversions: RGB maps as Bokeh's packed RGBA, and the values listed for a pixel
(tests/viz/test_explore_map.py serves and drives the explorer on a trained run)."""

from __future__ import annotations

import numpy as np

from vaearr.viz import map_explorer


def test_rgb_packed_as_bokeh_rgba_with_nan_transparent() -> None:
    rgb = np.array([[[1.0, 0.0, 0.5], [np.nan, 0.0, 0.0]]])
    packed = map_explorer._rgba(rgb)  # noqa: SLF001 - the colour packing the explorer's image glyph needs
    assert packed.dtype == np.uint32 and packed.shape == (1, 2)
    assert packed.view(np.uint8).reshape(1, 2, 4).tolist() == [[[255, 0, 128, 255], [0, 0, 0, 0]]]
    u8 = map_explorer._rgba(np.array([[[255, 0, 51]]], np.uint8))  # noqa: SLF001 - the colour packing, 8-bit input
    assert u8.view(np.uint8).ravel().tolist() == [255, 0, 51, 255]


def test_values_are_short_text() -> None:
    fmt = map_explorer._fmt  # noqa: SLF001 - how the explorer lists a pixel's values
    assert fmt(np.int16(3)) == "3" and fmt(np.bool_(True)) == "True" and fmt(0.123456) == "0.1235"
    assert fmt(np.array([1.0, 2.5])) == "1 2.5"
    assert fmt(np.arange(20)) == " ".join(map(str, range(16))) + " …"
