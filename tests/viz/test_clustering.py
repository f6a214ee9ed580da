"""The cluster figure: the map beside the (latent, second variable) scatter in the clusters' colours, and the store's
IPF map read on the figure's pixels (tests/analysis/test_clustering.py writes the figure files of each method)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.analysis.clustering import NOISE_RGB, palette
from vaearr.store import write_variable
from vaearr.viz.clustering import MAX_LEGEND, cluster_figure, store_ipf


def hexcolor(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(round(255 * v)) for v in rgb)


def scatter_layers(fig):
    import holoviews as hv

    (_, scatter), = [(k, v) for k, v in fig.items() if isinstance(v, hv.Overlay)]
    return list(scatter)


def test_each_cluster_and_the_noise_a_layer_in_its_colour() -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws the figure")
    import holoviews as hv

    labels = np.array([0, 0, 1, -1, 1, 1])
    latent, bc = np.arange(6.0), np.arange(6.0) * 2
    fig = cluster_figure(np.zeros((2, 3, 3)), np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5]), latent, bc, labels,
                         colors=["red", "#00ff00"], latent_label="latent[0]")
    layers = scatter_layers(fig)
    assert [layer.label for layer in layers] == ["noise", "cluster 0", "cluster 1"]
    colours = [hv.Store.lookup_options("bokeh", layer, "style").kwargs["color"] for layer in layers]
    assert colours == [hexcolor(NOISE_RGB), "#ff0000", "#00ff00"]
    np.testing.assert_array_equal(layers[2].dimension_values(1), [4.0, 8.0, 10.0])
    assert layers[0].kdims[0].name == "latent[0]" and layers[0].kdims[1].name == "bandcontrast"


def test_many_clusters_are_one_layer_coloured_point_by_point() -> None:
    pytest.importorskip("holoviews", reason="the viz extra draws the figure")
    k = MAX_LEGEND + 1
    labels = np.arange(k)
    fig = cluster_figure(np.zeros((1, k, 3)), np.arange(k, dtype=float), np.array([0.0]), np.zeros(k), None, labels)
    (layer,) = scatter_layers(fig)
    pal = palette(k)
    assert layer.dimension_values("color").tolist() == [hexcolor(c) for c in pal]
    assert (layer.dimension_values(1) == 0).all() and layer.kdims[1].name == "zero"


def test_store_ipf_on_the_figure_pixels(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    rgb = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3) / 18
    write_variable(store, "orientation_ipf", xr.DataArray(rgb, dims=("y", "x", "rgb"),
                                                          coords={"y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]}))
    ipf = store_ipf(store, np.array([2.0, 0.1]), np.array([1.0]))
    assert ipf.dims == ("y", "x", "rgb") and ipf.x.values.tolist() == [2.0, 0.1]
    np.testing.assert_allclose(ipf.values[0], rgb[1, [2, 0]])
    assert store_ipf(None, np.zeros(1), np.zeros(1)) is None
    assert store_ipf(store, np.zeros(1), np.zeros(1), name="other_ipf") is None
