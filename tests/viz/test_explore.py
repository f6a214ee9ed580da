"""`vaearr explore`'s own helpers: 8-bit thumbnails for the projector's sprite, and numbers in its JSON summary
(tests/analysis/test_explore.py and test_explore_files.py run the whole exploration on a trained run)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaearr.viz import explore
from vaearr.viz.explore import thumbnails


def test_thumbnails_gray_and_rgb() -> None:
    x = np.array([[[[0.0, 0.5], [1.0, 2.0]]]])  # (1, 1, 2, 2)
    assert thumbnails(x, (0.0, 1.0)).tolist() == [[[0, 128], [255, 255]]]
    rgb = np.zeros((2, 4, 3, 3))
    rgb[:, 1] = 1.0  # a fourth channel is dropped
    out = thumbnails(rgb, (0.0, 1.0))
    assert out.shape == (2, 3, 3, 3) and out.dtype == np.uint8 and out[..., 1].min() == 255 and out[..., 0].max() == 0
    stretched = thumbnails(np.array([[[[-3.0, 5.0]]]]), None)  # standardised inputs: each sample's own range
    assert stretched.tolist() == [[[0, 255]]]


def test_summary_json_takes_numpy_values() -> None:
    summary = {"k": np.int64(3), "v": np.float32(0.5), "a": np.arange(3)}
    text = json.dumps(summary, default=explore._json_default)  # noqa: SLF001 - the summary's encoder
    assert json.loads(text) == {"k": 3, "v": 0.5, "a": [0, 1, 2]}
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        json.dumps({"s": {1}}, default=explore._json_default)  # noqa: SLF001 - the summary's encoder
