"""Maps as every figure draws them: the latent colour range, and an image map's placement, colours and range."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.viz.maps import image_map, latent_range


def test_latent_range_is_symmetric_to_the_995th_percentile() -> None:
    v = np.r_[np.linspace(-1, 1, 999), 50.0]
    lo, hi = latent_range(xr.DataArray(v))
    assert hi == -lo == pytest.approx(np.percentile(np.abs(v), 99.5))
    assert latent_range(xr.DataArray([np.nan, 0.0])) == (-1.0, 1.0)


def opts(element, backend: str = "bokeh") -> dict:
    import holoviews as hv

    return hv.Store.lookup_options(backend, element, "style").kwargs | hv.Store.lookup_options(backend, element, "plot").kwargs


def test_image_map_places_pixels_by_their_edges() -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws maps")
    da = xr.DataArray([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]], dims=("y", "x"), name="bc",
                      coords={"y": [0.0, 0.5], "x": [1.0, 1.5, 2.0]})
    el = image_map(da)
    assert type(el).__name__ == "Image" and el.bounds.lbrt() == (0.75, -0.25, 2.25, 0.75)
    np.testing.assert_array_equal(el.data[::-1], da.values)  # HoloViews' first row is the top (max y)
    o = opts(el)
    assert o["clim"] == (1.0, 6.0) and o["invert_yaxis"] and o["title"] == "bc"
    assert image_map(da, clim=(0, None)).opts.get("plot").kwargs["clim"] == (0, 6.0)


def test_uneven_coordinates_give_a_mesh_and_labels_categorical_colours() -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws maps")
    da = xr.DataArray([[0, 1, 1]], dims=("y", "x"), name="phase_id", coords={"y": [0.0], "x": [0.0, 1.0, 3.0]})
    el = image_map(da)
    assert type(el).__name__ == "QuadMesh"
    o = opts(el)
    assert o["clim"] == (-0.5, 1.5) and o["colorbar"] is False and len(o["cmap"]) == 2
