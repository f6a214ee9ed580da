"""Orientation figures: orix's IPF colour key of each phase as an inset picture, titled by its Laue group."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.viz.orientations import ipf_keys


def test_one_key_per_phase_cropped_to_its_ink() -> None:
    pytest.importorskip("orix", reason="the ebsd extra draws the key")
    (pid, title, key, image), = ipf_keys([{"id": 1, "name": "ni", "point_group": "m-3m"}], "x")
    assert pid == 1 and title == "IPF-x key (m-3m)" and type(key).__name__ == "IPFColorKeyTSL"
    assert image.dtype == np.uint8 and image.shape[2] == 4
    ink = (image[..., :3] < 250).any(-1)
    assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()  # no white margin left
