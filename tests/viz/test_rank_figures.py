"""`vaearr rank`'s figures, drawn straight with Bokeh and Pillow: each HTML holds the maps, titles and colour
ranges of its own reference (the page serialised once is filled anew for each figure), the PNG shows the same
colours, the scatters hold the dim's values, and a page draws offline in Chromium."""

from __future__ import annotations

import base64
import gzip
import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import Normalize
from PIL import Image

from tests.helpers import bokeh_doc, objects
from vaearr.analysis.ranking import aggregated_rank, rank_latents
from vaearr.store import open_store
from vaearr.viz.quickfig import map_panel
from vaearr.viz.ranking import rank_figures, top_maps_figures


def ndarray(enc: dict) -> np.ndarray:
    raw = base64.b64decode(enc["array"]["data"])
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    return np.frombuffer(raw, dtype=enc["dtype"]).reshape(enc["shape"])


def column(data: dict, key: str):
    return dict(data["entries"])[key]


def test_rank_figures_hold_each_reference_and_its_top_dims(planted: Path, tmp_path: Path) -> None:
    r = rank_latents(planted, against=["bandcontrast", "elements"], out=tmp_path, top=2, metrics=["pearson"],
                     dims=[2, 0], partitions=False)
    figs = rank_figures(planted, r, tmp_path, top=2)
    ds = open_store(planted).load()
    roi = ds.roi.values
    agg = aggregated_rank(r.association)
    refs = [str(v) for v in r.references["reference"].values]
    assert len(refs) >= 4 and {p.name for p in figs} >= {f"top_latent__{ref}.html" for ref in refs}
    for ref in refs:
        page = tmp_path / "figures" / f"top_latent__{ref}.html"
        text = page.read_text()
        # self-contained: BokehJS inline, nothing fetched
        assert "<script src" not in text and len(text) > 500_000
        assert all(f"reference: {other}\"" not in text for other in refs if other != ref)
        doc = bokeh_doc(page)
        ranks = agg.sel(reference=ref).values
        best = np.argsort(ranks, kind="stable")[:2]
        titles = [t["attributes"]["text"] for t in objects(doc, "Title")]
        assert titles == [f"reference: {ref}"] + [
            f"#{k}: latent_dim {int(r.association.latent_dim.values[i])} (mean rank {ranks[i]:.1f})"
            for k, i in enumerate(best, 1)]
        expect = [np.where(roi, r.references.sel(reference=ref).values, np.nan)]
        expect += [np.where(roi, ds.latent.values[..., int(r.association.latent_dim.values[i])], np.nan) for i in best]
        sources = [s for s in objects(doc, "ColumnDataSource") if "image" in dict(s["attributes"]["data"]["entries"])]
        mappers = objects(doc, "LinearColorMapper")
        assert len(sources) == len(mappers) == 3
        # the reference on its own range; the latent dims on one range symmetric about 0 (the report's): the 99.5th
        # percentile of |latent| over every dim inside the ROI
        m = float(np.percentile(np.abs(ds.latent.values[roi]), 99.5))
        ranges = [(np.nanmin(expect[0]), np.nanmax(expect[0]))] + [(-m, m)] * (len(expect) - 1)
        for want, src, mapper, (lo, hi) in zip(expect, sources, mappers, ranges):
            (img,) = column(src["attributes"]["data"], "image")
            np.testing.assert_allclose(ndarray(img), want, rtol=1e-6)  # first row first: drawn at the top
            a = mapper["attributes"]
            assert a["low"] == pytest.approx(lo) and a["high"] == pytest.approx(hi)
            assert a["nan_color"] == "lightgray"
        assert [mapper["attributes"]["palette"][0] for mapper in mappers[1:]] == [matplotlib.colors.to_hex(
            matplotlib.colormaps["RdBu_r"](0.0))] * 2  # diverging about 0, as the report
        # the PNG: four panels side by side, the reference map in exactly its colours
        png = Image.open(page.with_suffix(".png")).convert("RGB")
        assert png.width > 3 * png.height
        panel = map_panel(r.references.sel(reference=ref).where(ds.roi), title="", cmap="viridis")
        z = panel.z[np.isfinite(panel.z)]
        # Matplotlib colours each value from its 256-entry table, as every static map is drawn
        colours = {tuple(c) for c in matplotlib.colormaps["viridis"](Normalize(*panel.clim)(z), bytes=True)[:, :3]}
        shown = {tuple(c) for c in np.asarray(png).reshape(-1, 3)}
        assert len(colours & shown) >= 0.9 * len(colours)  # the scale bar covers a corner
    # scatters: the dim's values on the ROI against each reference, Pearson r in the titles
    doc = bokeh_doc(tmp_path / "figures" / "scatter_latent_d2.html")
    (src,) = objects(doc, "ColumnDataSource")
    x = ndarray(column(src["attributes"]["data"], "x"))
    np.testing.assert_allclose(x, ds.latent.values[..., 2][roi], rtol=1e-6)
    cr = r.references.sel(reference="Cr").values[roi]
    titles = [t["attributes"]["text"] for t in objects(doc, "Title")]
    assert len(titles) == len(refs) and f"Cr (r = {np.corrcoef(x, cr)[0, 1]:.3f})" in titles
    png = Image.open(tmp_path / "figures" / "scatter_latent_d2.png")
    assert png.height > png.width / 4 * (-(-len(refs) // 4)) * 0.9  # one row of four panels per four references


def test_rank_figure_draws_offline(chromium, planted: Path, tmp_path: Path) -> None:
    r = rank_latents(planted, against=["bandcontrast"], out=tmp_path, top=2, metrics=["pearson"], dims=[2],
                     partitions=False)
    rank_figures(planted, r, tmp_path, top=2, scatter=False)
    page = chromium.new_page(viewport={"width": 1400, "height": 500})
    blocked, errors = [], []

    def route(req) -> None:
        if req.request.url.startswith("file://"):
            req.continue_()
        else:
            blocked.append(req.request.url)
            req.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto((tmp_path / "figures" / "top_latent__bandcontrast.html").as_uri())
    page.wait_for_function("""() => {
        if (window.Bokeh === undefined || Bokeh.documents.length !== 1) return false;
        const views = typeof Bokeh.index.values === "function" ? [...Bokeh.index.values()] : Object.values(Bokeh.index);
        return views.length >= 1 && views.every(v => v.has_finished());
    }""", timeout=30_000)
    assert blocked == [] and errors == [], (blocked, errors)
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
    page.close()
    # the maps are drawn: the reference's viridis and the latents' diverging colours cover much of the page
    viridis_yellow = (np.abs(shot.astype(int) - (253, 231, 37)).sum(-1) < 60).mean()
    ndim_grey = (np.abs(shot.astype(int) - (211, 211, 211)).sum(-1) < 6).mean()  # NaN outside the ROI
    assert shot.std() > 10 and viridis_yellow + ndim_grey > 0.002


def test_uneven_coordinates_fall_back_to_holoviews(tmp_path: Path) -> None:
    """No image glyph for unevenly spaced pixels: such maps still come out, drawn as before (HoloViews QuadMesh: Bokeh quads)."""
    rng = np.random.default_rng(0)
    x, y = np.array([0.0, 1.0, 3.0, 7.0]), np.arange(3.0)
    ds = xr.Dataset({"latent": (("y", "x", "latent_dim"), rng.normal(size=(3, 4, 2))),
                     "roi": (("y", "x"), np.ones((3, 4), bool))}, coords={"y": y, "x": x, "latent_dim": [0, 1]})
    refs = xr.DataArray(rng.normal(size=(1, 3, 4)), dims=("reference", "y", "x"),
                        coords={"reference": ["bc"], "y": y, "x": x})
    assoc = xr.DataArray(np.array([[[0.2]], [[0.9]]]), dims=("latent_dim", "reference", "metric"),
                         coords={"latent_dim": [0, 1], "reference": ["bc"], "metric": ["pearson"]})
    assert map_panel(refs.sel(reference="bc"), title="bc") is None
    (page,) = top_maps_figures(ds, "latent", refs, assoc, tmp_path, top=2)
    text = page.read_text()
    assert page.name == "top_latent__bc.html" and page.with_suffix(".png").is_file()
    assert '"name":"Quad"' in text and "#1: latent_dim 1 (mean rank 1.0)" in text and "reference: bc" in text
