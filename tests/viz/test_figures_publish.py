"""Figures people publish: axes in the scan's units with a scale bar, label maps and masks in categorical colours with
a legend, ``--format png,svg,pdf --dpi N`` on the commands that write figures, and ``vaearr cluster``'s progress."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from tests.helpers import assert_one_line_error, tree_hash, vaearr_cli
from vaearr.errors import OptionError
from vaearr.options import FigureOptions
from vaearr.store import open_store
from vaearr.viz import image_map, save_figure
from vaearr.viz.static import MapDecor, categories, decor_of, label_kind, scale_length

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

Y, X = np.arange(30) * 0.5, np.arange(48) * 0.5  # a 24 × 15 µm scan, 0.5 µm steps


def _map(values: np.ndarray, name: str, **attrs) -> xr.DataArray:
    return xr.DataArray(values, dims=("y", "x"), coords={"y": Y, "x": X}, name=name, attrs=attrs)


def _svg_text(path: Path) -> list[str]:
    root = ET.parse(path).getroot()  # parses: a well-formed SVG
    return ["".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")]


def _decor(obj) -> MapDecor:
    from vaearr.viz import holoviews

    return decor_of(holoviews().Store.lookup_options("bokeh", obj, "plot").kwargs.get("hooks"))


def test_a_map_has_axes_in_um_and_a_round_scale_bar_in_every_format(tmp_path: Path) -> None:
    bc = _map(np.random.default_rng(0).random((30, 48)), "bandcontrast")
    fig = image_map(bc)
    assert [d.pprint_label for d in fig.kdims] == ["x (µm)", "y (µm)"]
    assert _decor(fig).units == "µm" and _decor(fig).cats is None  # values: a colour bar, no legend
    assert scale_length(24.0) == 5.0  # a round length near a fifth of the 24 µm width
    html, first = save_figure(fig, tmp_path / "bc", figures=FigureOptions("png,svg,pdf", 300))
    assert first == tmp_path / "bc.png"
    png = Image.open(tmp_path / "bc.png")
    assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    text = _svg_text(tmp_path / "bc.svg")
    assert "x (µm)" in text and "y (µm)" in text and "5 µm" in text  # the scale bar, as text
    pdf = (tmp_path / "bc.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and b"/Type /Page" in pdf
    page = html.read_text()
    assert '"name":"ScaleBar"' in page and "x (\\u00b5m)" in page
    # with no coordinates: pixel indices, and no scale bar
    bare = image_map(bc.drop_vars(["x", "y"]))
    assert [d.pprint_label for d in bare.kdims] == ["x", "y"] and _decor(bare) is None


def test_label_maps_and_masks_are_categorical_with_the_labels_in_the_legend(tmp_path: Path) -> None:
    phase = _map(np.tile(np.array([-1, 0, 2], np.int8), (30, 16)), "phase_id")
    roi = _map(np.arange(30 * 48).reshape(30, 48) % 3 > 0, "roi")
    bands = _map(np.tile(np.array([6, 7, 8], np.int8), (30, 16)), "bands")
    clusters = _map(np.tile(np.array([-2, -1, 0, 1], np.int64), (30, 12)), "cluster_k3", noise=-1)
    assert (label_kind(phase), label_kind(roi), label_kind(bands), label_kind(clusters)) == \
        ("labels", "mask", None, "labels")  # counts stay values
    codes, cats = categories(phase)
    assert cats.values == (0, 2) and [n for n, _ in cats.legend] == ["0", "2", "not indexed"]
    assert np.isnan(codes[:, 0]).all() and set(np.unique(codes[:, 1:3])) == {0.0, 1.0}
    assert [n for n, _ in categories(roi)[1].legend] == ["outside", "inside"]
    assert [n for n, _ in categories(clusters)[1].legend] == ["0", "1", "noise / outside the mask"]

    fig = image_map(phase)
    assert _decor(fig).cats == cats
    html, first = save_figure(fig, tmp_path / "phase", figures=FigureOptions("svg,png"))
    assert first == tmp_path / "phase.svg" and (tmp_path / "phase.png").exists()
    text = _svg_text(tmp_path / "phase.svg")
    assert {"0", "2", "not indexed"} <= set(text) and "phase_id" in text
    # no colour bar: its label would be a rotated 'phase_id' beside ticks; the legend's colours are the labels'
    png = np.asarray(Image.open(tmp_path / "phase.png").convert("RGB")).reshape(-1, 3)
    shown = {tuple(c) for c in png}
    for colour in cats.colors:
        assert tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5)) in shown
    page = html.read_text()
    assert '"name":"Legend"' in page and page.count('"name":"LegendItem"') == 3 and "not indexed" in page
    # the HTML of a mask carries its two entries
    html2, _ = save_figure(image_map(roi), tmp_path / "roi")
    assert "outside" in html2.read_text() and '"name":"ColorBar"' not in html2.read_text()


def test_figure_options_are_one_declaration_checked_before_any_work() -> None:
    assert FigureOptions().formats == ("png",) and FigureOptions("PNG, pdf,png").formats == ("png", "pdf")
    for bad in (FigureOptions("gif"), FigureOptions("png", 0), FigureOptions("", 120), FigureOptions("png", -3)):
        with pytest.raises(OptionError, match="^(format|dpi) "):  # the fields; the command line says the flags
            bad.check()


def test_every_command_that_writes_figures_takes_the_one_declaration() -> None:
    import typer.main

    from vaearr.cli import app

    commands = typer.main.get_command(app).commands
    for name in ("roi", "encode", "orientation-maps", "boundaries", "segment", "cluster", "rank", "explore", "layers",
                 "demo"):
        params = {p.name: p for p in commands[name].params}
        assert params["format"].default == "png" and params["dpi"].default == FigureOptions().dpi, name


def test_roi_writes_png_svg_pdf_at_the_dpi_and_refuses_bad_options(capsys, demo_store: Path, tmp_path: Path) -> None:
    before = tree_hash(demo_store)
    for args, needle in ((["--format", "png,gif"], "'gif' is not a figure format"), (["--dpi", "0"], "--dpi")):
        code, _, err = vaearr_cli("roi", demo_store, "--min", "0.2", "--name", "roi_q", "--out",
                                  tmp_path / "bad", *args)
        assert_one_line_error(code, err, needle)
    assert tree_hash(demo_store) == before and not (tmp_path / "bad").exists()  # nothing done
    code, out, err = vaearr_cli("roi", demo_store, "--var", "bandcontrast", "--out", tmp_path / "f",
                                "--format", "png,svg,pdf", "--dpi", "300")
    assert code == 0, err
    for stem in ("roi_bandcontrast_map", "roi_bandcontrast_histogram"):
        for fmt in ("png", "svg", "pdf", "html"):
            assert (tmp_path / "f" / f"{stem}.{fmt}").stat().st_size > 0, (stem, fmt)
    assert Image.open(tmp_path / "f" / "roi_bandcontrast_map.png").info["dpi"] == pytest.approx((300, 300), abs=0.01)
    ds = open_store(demo_store)
    width = float(ds.x[-1] - ds.x[0])
    text = _svg_text(tmp_path / "f" / "roi_bandcontrast_map.svg")
    assert "x (µm)" in text and f"{scale_length(width):g} µm" in text


def test_cluster_shows_its_progress_and_draws_its_map_in_the_formats(capsys, monkeypatch, planted: Path,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("VAEARR_PROGRESS", "on")
    code, out, err = vaearr_cli("cluster", planted, "--dim", "2", "--method", "kmeans", "--k", "3",
                                "--out", tmp_path / "cl", "--format", "pdf", "--dpi", "200")
    assert code == 0, err
    assert "cluster: read, fit, write" in err
    files = sorted(p.name for p in (tmp_path / "cl").glob("cluster_map__*"))
    assert files == ["cluster_map__kmeans_dim2.html", "cluster_map__kmeans_dim2.pdf"]


def test_report_draws_element_maps_as_every_other_map(demo_store: Path, tmp_path: Path) -> None:
    from vaearr.viz.report import build_report

    page = build_report(demo_store, tmp_path / "rep").path.read_text()
    ds = open_store(demo_store)
    n_elements = ds.sizes["element"]
    assert 'alt="element maps"' not in page  # no longer a picture in a style of its own
    # bandcontrast, roi, phase and one live map per element: each with its scale bar and axes in µm
    assert page.count('"name":"ScaleBar"') >= 3 + n_elements
    assert len(re.findall(r"x \((?:µ|\\+u00b5)m\)", page)) >= 3 + n_elements  # µm, as the page escapes it
    for e in ds.element.values:
        assert f"elements {e}" in page
    # the mask and the phase map carry legends, not colour bars
    assert "outside" in page and "inside" in page and page.count('"name":"LegendItem"') >= 4


def test_orientation_figures_draw_ipf_kam_and_boundaries_as_every_map(capsys, kikuchipy_data_dir: Path,
                                                                       tmp_path: Path) -> None:
    """The IPF map beside KAM and the grain boundaries: one Matplotlib drawing (no HoloViews panel letters over
    the colour bars), axes in µm, the boundaries a mask with its legend (not a 0–1 colour bar)."""
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    store = tmp_path / "edax.zarr"
    code, _, err = vaearr_cli("ingest", "ebsd", kikuchipy_data_dir / "edax_h5ebsd" / "patterns.h5",
                              "--store", store)
    assert code == 0, err
    code, _, err = vaearr_cli("orientation-maps", store, "--out", tmp_path / "f", "--format", "svg")
    assert code == 0, err
    text = _svg_text(tmp_path / "f" / "orientation_maps.svg")
    assert {"orientation_ipf (sample z)", "orientation_kam", "orientation_grain_boundaries"} <= set(text)
    assert {"boundary", "no boundary"} <= set(text) and text.count("x (µm)") == 3
    assert not {"A", "B", "C"} & set(text)  # HoloViews' sublabels are not drawn
    # the IPF colour key is an inset of the IPF map (orix's key, a picture), as well as a file of its own
    assert "IPF-z key (m-3m)" in text
    svg = (tmp_path / "f" / "orientation_maps.svg").read_text()
    assert svg.count("<image") == 5  # the three maps, KAM's colour bar and the key
    assert "orientation_kam (°)" in text  # the colour bar's units, from the attrs
    assert (tmp_path / "f" / "orientation_ipf_key.svg").exists()
    assert "IPF-z key (m-3m)" in (tmp_path / "f" / "orientation_maps.html").read_text()  # beside the map in the HTML


# --------------------------------------------------------------------------------------------
# ready for a paper (issue 41): 300 dpi, units on colour bars, one latent range, ticks on pixel centres, legends,
# the IPF key as an inset, curves with units and whole epochs


def test_a_png_is_300_dpi_and_its_colour_bar_carries_the_units_of_the_values(tmp_path: Path) -> None:
    from vaearr.viz import static_figure

    kam = _map(np.random.default_rng(1).random((30, 48)) * 3, "orientation_kam", units="degree")
    assert FigureOptions().dpi == 300
    html, png = save_figure(image_map(kam), tmp_path / "kam")  # the default options
    assert Image.open(png).info["dpi"] == pytest.approx((300, 300), abs=0.01)
    fig = static_figure(image_map(kam))  # what save_figure wrote as the PNG
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert bar.get_ylabel() == "orientation_kam (°)"
    save_figure(image_map(kam), tmp_path / "kam_svg", figures=FigureOptions("svg"))
    assert "orientation_kam (°)" in _svg_text(tmp_path / "kam_svg.svg")
    page = html.read_text()
    assert "orientation_kam (°)" in page or "orientation_kam (\\u00b0)" in page  # the HTML's colour bar too
    # any unit as it is written; colours are not a unit; no attr, no brackets
    eds = _map(np.ones((30, 48)), "elements_Ni", units="counts/s")
    assert [ax.get_ylabel() for ax in static_figure(image_map(eds)).axes][-1] == "elements_Ni (counts/s)"
    bare = [ax.get_ylabel() for ax in static_figure(image_map(_map(np.ones((30, 48)), "bandcontrast"))).axes]
    assert bare[-1] == "bandcontrast"


def test_ticks_fall_on_pixel_centres() -> None:
    from vaearr.viz import static_figure

    for ny, nx, step in ((3, 3, 1.5), (30, 48, 0.5), (7, 11, 0.3)):
        ys, xs = np.arange(ny) * step, np.arange(nx) * step
        da = xr.DataArray(np.random.default_rng(0).random((ny, nx)), dims=("y", "x"), coords={"y": ys, "x": xs},
                          name="bc")
        ax = static_figure(image_map(da)).axes[0]
        for ticks, centres in ((ax.get_xticks(), xs), (ax.get_yticks(), ys)):
            assert len(ticks) >= 2
            # every tick is a pixel's centre (the half pixels between them, such as 0.75 on a 1.5 µm grid, are not)
            assert np.abs(ticks[:, None] - centres[None, :]).min(axis=1).max() < 1e-9 * max(1.0, centres.max())
    # the HoloViews drawing of an overlay (a mask's shade, boundaries over a map) keeps them there too
    from vaearr.viz import overlay, shade_outside

    bc = _map(np.random.default_rng(2).random((30, 48)), "bandcontrast")
    fig = static_figure(overlay(image_map(bc), shade_outside(bc > 0.5)))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x (µm)"
    for ticks, centres in ((ax.get_xticks(), X), (ax.get_yticks(), Y)):
        assert len(ticks) >= 2 and np.abs(ticks[:, None] - centres[None, :]).min(axis=1).max() < 1e-9


def test_boundary_and_segment_colours_are_in_a_legend_not_the_title(tmp_path: Path) -> None:
    from vaearr.viz.boundaries import boundary_figure
    from vaearr.viz.segment import segment_figure

    rng = np.random.default_rng(3)
    gb, lagb = _map(rng.random((30, 48)) > 0.9, "grain_boundaries"), _map(rng.random((30, 48)) > 0.95, "low_angle_boundaries")
    files = boundary_figure(_map(rng.random((30, 48)), "boundary_strength"), gb, lagb, tmp_path,
                            figures=FigureOptions("svg"))
    text = _svg_text(tmp_path / "boundaries.svg")
    assert f"grain boundaries ({int(gb.sum())} px)" in text and f"low-angle boundaries ({int(lagb.sum())} px)" in text
    assert "boundary strength" in text and not any("red" in t or "cyan" in t for t in text)
    page = files["map_html"].read_text()
    assert page.count('"name":"LegendItem"') == 2 and "low-angle boundaries (" in page

    regions = _map(np.repeat(np.arange(6), 240).reshape(30, 48), "segments")
    codes = _map(np.where(rng.random((30, 48)) > 0.9, 2, np.where(rng.random((30, 48)) > 0.9, 1, 0)), "segments_boundaries")
    segment_figure(regions, codes, tmp_path, name="segments", figures=FigureOptions("svg"))
    text = _svg_text(tmp_path / "segments.svg")
    assert f"grain boundaries ({int((codes == 2).sum())} px)" in text
    assert f"low-angle boundaries ({int((codes == 1).sum())} px)" in text
    assert "segments: 6 regions" in text and not any("black" in t or "white" in t for t in text)


def test_latent_maps_share_one_range_symmetric_about_zero(tmp_path: Path) -> None:
    from tests.helpers import bokeh_doc, objects
    from vaearr.viz.maps import latent_maps, latent_range

    rng = np.random.default_rng(4)
    # dims of very different spread: each on its own range, dim 0 would look as busy as dim 2
    values = rng.normal(size=(30, 48, 3)) * np.array([0.05, 1.0, 3.0])
    ds = xr.Dataset({"latent": (("y", "x", "latent_dim"), values)}, coords={"y": Y, "x": X, "latent_dim": [0, 1, 2]})
    lo, hi = latent_range(ds.latent)
    assert lo == -hi and hi == pytest.approx(np.percentile(np.abs(values), 99.5))
    (html,) = latent_maps(ds, "latent", tmp_path)
    mappers = objects(bokeh_doc(html), "LinearColorMapper")
    assert len(mappers) == 3
    assert all((m["attributes"]["low"], m["attributes"]["high"]) == pytest.approx((lo, hi)) for m in mappers)
    assert Image.open(tmp_path / "latent_maps.png").info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_training_curves_have_units_and_whole_epochs(tmp_path: Path) -> None:
    from vaearr.train.callbacks import curves_figure, plot_curves

    history = [{"epoch": e, "train_loss": 100.0 - e, "val_loss": 101.0 - e, "train_recon_loss": 90.0 - e,
                "val_recon_loss": 91.0 - e, "train_kl": 10.0, "val_kl": 10.0, "val_kl_per_dim": [1.0, 2.0, 3.0],
                "val_active_units": 2} for e in (1, 2, 3)]
    fig = curves_figure(history, "nats per sample")  # a likelihood head (gaussian, sigmoid-bce)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[:4] == ["loss (nats per sample)", "reconstruction (nats per sample)", "KL (nats per sample)",
                          "KL (nats per sample)"]
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # no epoch 1.5
    # a squared-error head: the loss sums two units, and says so
    mse = [ax.get_ylabel() for ax in curves_figure(history, "squared error summed per sample").axes]
    assert mse[:2] == ["loss (reconstruction + β·KL)", "reconstruction (squared error summed per sample)"]
    plot_curves(tmp_path / "curves.png", history, "nats per sample")
    assert Image.open(tmp_path / "curves.png").info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_model_families_say_the_unit_of_their_reconstruction_loss() -> None:
    from vaearr.models import config_from_dict

    assert config_from_dict({"name": "conv-vae", "output": "gaussian"}).recon_units() == "nats per sample"
    assert config_from_dict({"name": "conv-vae", "output": "sigmoid-bce"}).recon_units() == "nats per sample"
    assert config_from_dict({"name": "conv-vae", "output": "linear-mse"}).recon_units() == "squared error summed per sample"
    assert config_from_dict({"name": "autoencoder-kl"}).recon_units() == "squared error, mean per element"
