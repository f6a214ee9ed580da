"""Reconstruction figures of volumes: the three orthogonal slices of input and reconstruction, named by index."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.viz.quality import slice_views


def panels(layout):
    return [(el.opts.get().kwargs["title"], el.data) for el in layout]


def test_slice_views_input_over_reconstruction() -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws the views")
    vol = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    shown = panels(slice_views(vol, -vol, slices=(1, 2, 3), clim=(0, 1)))
    assert [t for t, _ in shown] == ["input axial z=1", "input coronal y=2", "input sagittal x=3",
                                     "recon axial z=1", "recon coronal y=2", "recon sagittal x=3"]
    # every value of the volume differs: a panel's values say which slice it shows
    assert sorted(shown[0][1].ravel()) == sorted(vol[1].ravel())
    assert sorted(shown[5][1].ravel()) == sorted(-vol[:, :, 3].ravel())
    middle = panels(slice_views(vol, vol))
    assert middle[0][0] == "input axial" and sorted(middle[0][1].ravel()) == sorted(vol[2].ravel())


def test_slices_out_of_range_are_one_line() -> None:
    with pytest.raises(InputError, match=r"`slices` out of range for volumes of 4×5×6 \(z×y×x\): x=6 \(0..5\)"):
        slice_views(np.zeros((4, 5, 6)), np.zeros((4, 5, 6)), slices=(0, 0, 6))
