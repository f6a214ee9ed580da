"""Tests for vaearr.plots: offline HTML (inline BokehJS), PNG via Matplotlib, map orientation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("holoviews", reason="plots need the 'viz' extra")
pytest.importorskip("bokeh", reason="plots need the 'viz' extra")

from vaearr import viz as plots  # noqa: E402

VIRIDIS_TOP = np.array([253, 231, 37])  # viridis at 1.0
VIRIDIS_BOTTOM = np.array([68, 1, 84])  # viridis at 0.0
LIGHTGRAY = np.array([211, 211, 211])


def _scan_map() -> xr.DataArray:
    """A 30×60 map: bright top rows (small y), mid-value left columns, a NaN block."""
    z = np.zeros((30, 60), np.float32)
    z[:8] = 1.0
    z[8:, :10] = 0.5
    z[15:20, 30:40] = np.nan
    return xr.DataArray(z, dims=("y", "x"), name="bandcontrast",
                        coords={"y": 3.0 + 0.5 * np.arange(30), "x": 0.5 * np.arange(60)})


def _near(rgb: np.ndarray, colour: np.ndarray, tol: int = 12) -> np.ndarray:
    return (np.abs(rgb.astype(int) - colour) <= tol).all(axis=-1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("fig")
    return plots.save_figure(plots.image_map(_scan_map(), title="orientation"), d / "map")


def test_html_is_self_contained(saved):
    html_path, _ = saved
    html = html_path.read_text()
    assert html_path.suffix == ".html"
    srcs = re.findall(r"<script[^>]*\bsrc=\"([^\"]*)\"", html)
    assert srcs == [], f"external scripts: {srcs}"
    assert "cdn.bokeh.org" not in html and "cdn.holoviz.org" not in html
    assert "BEGIN bokeh.min.js" in html  # BokehJS itself is inline
    assert "<title>orientation</title>" in html
    assert '"name":"Figure"' in html or '"name":"figure"' in html.lower()


def test_png_orientation_colourbar_and_nan(saved):
    from PIL import Image

    _, png = saved
    with Image.open(png) as im:
        assert im.format == "PNG"
        rgb = np.asarray(im.convert("RGB"))
    h, w, _ = rgb.shape
    assert w > 400 and h > 200
    # the map is wider than tall and sits left of the colourbar: look at the left 60 %
    left = rgb[:, : int(0.6 * w)]
    bright = np.argwhere(_near(left, VIRIDIS_TOP))
    dark = np.argwhere(_near(left, VIRIDIS_BOTTOM))
    assert len(bright) > 500 and len(dark) > 500
    assert bright[:, 0].mean() < dark[:, 0].mean()  # y downward: the first rows at the top
    assert bright[:, 0].max() < dark[:, 0].min()
    mid = np.argwhere(_near(left, np.array([33, 145, 140]), tol=20))  # viridis at 0.5
    assert mid[:, 1].mean() < dark[:, 1].mean()  # x to the right: the first columns at the left
    # NaN in light grey, in the middle of the map
    grey = np.argwhere(_near(rgb, LIGHTGRAY, tol=3))
    assert len(grey) > 100
    assert bright[:, 0].max() < grey[:, 0].mean() < dark[:, 0].max()
    # a colourbar: a vertical strip right of the map running from yellow (top) to purple
    right = rgb[:, int(0.6 * w):]
    top = np.argwhere(_near(right, VIRIDIS_TOP))
    bottom = np.argwhere(_near(right, VIRIDIS_BOTTOM))
    assert len(top) > 20 and len(bottom) > 20 and top[:, 0].mean() < bottom[:, 0].mean()


def test_image_map_options_and_inputs():
    img = plots.image_map(_scan_map(), clim=(0, None))
    assert [d.name for d in img.kdims] == ["x", "y"]
    hv = plots.holoviews()
    for backend in ("bokeh", "matplotlib"):
        o = hv.Store.lookup_options(backend, img, "plot").kwargs
        assert o["invert_yaxis"] is True and o["colorbar"] is True
        assert o["clipping_colors"] == {"NaN": "lightgray"}
        assert tuple(o["clim"]) == (0, 1.0)
    # descending y coords, booleans and 1-row maps work
    flipped = _scan_map().isel(y=slice(None, None, -1))
    np.testing.assert_array_equal(plots.image_map(flipped).dimension_values(2),
                                  plots.image_map(_scan_map()).dimension_values(2))
    plots.image_map(_scan_map() > 0.5)
    plots.image_map(_scan_map().isel(y=[0]))
    with pytest.raises(ValueError, match="2D"):
        plots.image_map(xr.DataArray(np.zeros(3), dims="x"))


def test_histogram_and_map_grid(tmp_path):
    from PIL import Image

    vals = np.r_[np.random.default_rng(0).normal(size=500), np.nan, np.inf]
    h = plots.histogram(vals, bins=20, title="h", vlines=[(0.0, "Otsu"), None, 1.5])
    assert len(h) == 5  # bars, two lines, two captions
    np.testing.assert_array_equal(h.get(0).dimension_values(1).sum(), 500)  # NaN/inf left out
    da = xr.DataArray(np.random.default_rng(1).random((3, 6, 8)), dims=("element", "y", "x"),
                      coords={"element": ["Ni", "Cr", "Fe"]}, name="elements")
    da[1] *= 10
    grid = plots.map_grid(da, "element", cols=2)
    assert len(grid) == 3
    # each map keeps its own colour range unless asked to share one
    assert [tuple(np.round(el.opts.get().kwargs["clim"], 6)) for el in grid][1] == tuple(np.round(
        (float(da[1].min()), float(da[1].max())), 6))
    shared = plots.map_grid(da, "element", shared_clim=True)
    assert {tuple(el.opts.get().kwargs["clim"]) for el in shared} == {(float(da.min()), float(da.max()))}
    assert [el.opts.get().kwargs["title"] for el in grid] == [f"elements element={e}" for e in da.element.values]
    html, png = plots.save_figure(grid, tmp_path / "sub" / "grid.png")  # suffix dropped, folder made
    assert html.name == "grid.html" and png.name == "grid.png"
    with Image.open(png) as im:
        assert im.width > im.height  # two maps across, wider than tall each
    with pytest.raises(ValueError, match="not a dim"):
        plots.map_grid(da, "latent")


def test_lazy_imports_and_agg_backend():
    # a fresh interpreter: importing vaearr.viz pulls in neither HoloViews nor Bokeh, and
    # a session that chose no backend gets Agg (PNGs need no display)
    code = textwrap.dedent("""
        import sys
        import vaearr.viz.core as p
        assert "holoviews" not in sys.modules and "bokeh" not in sys.modules, "imported eagerly"
        p._use_agg()
        import matplotlib
        print(matplotlib.get_backend().lower())
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "agg"


@pytest.mark.parametrize("k", [3, 40])
def test_cluster_scatter_colours_every_point_as_its_cluster(tmp_path, k):
    """A few clusters: one element a cluster, with a legend; hundreds (a million-pixel map gives 150–400):
    one element coloured point by point (an overlay of hundreds of elements took holoviews minutes to draw).
    Either way each point takes its cluster's palette colour and noise its grey, and the PNG is drawn."""
    import holoviews as hv

    from vaearr.analysis.clustering import NOISE_RGB, palette
    from vaearr.viz.clustering import MAX_LEGEND, cluster_figure
    from vaearr.viz.core import save_figure

    rng = np.random.default_rng(0)
    labels, latent = rng.integers(-1, k, 500), rng.normal(size=500)
    fig = cluster_figure(np.ones((20, 25, 3)), np.arange(25.0), np.arange(20.0), latent, rng.normal(size=500), labels)
    scatter = fig[1] if not isinstance(fig, hv.Overlay) else fig
    layers = list(scatter)
    assert (len(layers) == k + 1) == (k <= MAX_LEGEND)

    def hexc(rgb):
        return "#%02x%02x%02x" % tuple(int(round(255 * v)) for v in rgb)

    pal = palette(k, None)
    want = {c: hexc(NOISE_RGB if c < 0 else pal[c]) for c in range(-1, k)}
    if k <= MAX_LEGEND:
        got = {layer.label: layer.opts.get("style").kwargs["color"] for layer in layers}
        assert got == {("noise" if c < 0 else f"cluster {c}"): want[c] for c in range(-1, k)}
    else:
        (points,) = layers
        colours = points.dimension_values("color")
        xs = points.dimension_values(0)
        assert len(colours) == 500 and np.array_equal(xs, latent)
        assert [want[c] for c in labels] == list(colours)
    html, png = save_figure(fig, tmp_path / f"clusters{k}")
    assert os.path.getsize(png) > 10_000 and os.path.getsize(html) > 10_000
