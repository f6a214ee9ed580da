"""The report's map sections: cluster labels as an RGB map (noise grey, other negatives blank)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from vaearr.analysis.clustering import NOISE_RGB, palette
from vaearr.viz.report_sections import category_rgb


def test_cluster_labels_as_colours() -> None:
    labels = xr.DataArray([[0, 1, -1], [-2, 1, 0]], dims=("x", "y"), coords={"y": [0.0, 1.0, 2.0], "x": [5.0, 6.0]})
    rgb = category_rgb(labels, "clusters_rgb")
    assert rgb.dims == ("y", "x", "rgb") and rgb.name == "clusters_rgb" and rgb.x.values.tolist() == [5.0, 6.0]
    pal = palette(2)
    np.testing.assert_allclose(rgb.sel(y=0.0, x=5.0), pal[0])
    np.testing.assert_allclose(rgb.sel(y=1.0, x=6.0), pal[1])
    np.testing.assert_allclose(rgb.sel(y=2.0, x=5.0), NOISE_RGB)
    assert np.isnan(rgb.sel(y=0.0, x=6.0)).all()  # −2: outside the mask


def test_all_noise_has_no_cluster_colour() -> None:
    rgb = category_rgb(xr.DataArray([[-1, -1]], dims=("y", "x"), coords={"y": [0], "x": [0, 1]}), "c")
    np.testing.assert_allclose(rgb.values.reshape(-1, 3), [NOISE_RGB, NOISE_RGB])
