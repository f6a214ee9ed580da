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

from tests.conftest import tree_hash
from tests.test_details import assert_one_line_error, vaearr_cli
from tests.test_rank_cluster_outputs import planted  # noqa: F401  (the demo store with a planted latent)
from vaearr.options import FigureOptions, figure_options
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
    with figure_options(format="png,svg,pdf", dpi=300):
        html, first = save_figure(fig, tmp_path / "bc")
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
    with figure_options(format="svg,png"):
        html, first = save_figure(fig, tmp_path / "phase")
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
        with pytest.raises(Exception, match="--format|--dpi"):
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
        code, _, err = vaearr_cli(capsys, "roi", demo_store, "--bc-min", "0.2", "--name", "roi_q", "--figures",
                                  tmp_path / "bad", *args)
        assert_one_line_error(code, err, needle)
    assert tree_hash(demo_store) == before and not (tmp_path / "bad").exists()  # nothing done
    code, out, err = vaearr_cli(capsys, "roi", demo_store, "--var", "bandcontrast", "--figures", tmp_path / "f",
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


def test_cluster_shows_its_progress_and_draws_its_map_in_the_formats(capsys, monkeypatch, planted: Path,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("VAEARR_PROGRESS", "on")
    code, out, err = vaearr_cli(capsys, "cluster", planted, "--dim", "2", "--method", "kmeans", "--k", "3",
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
    code, _, err = vaearr_cli(capsys, "ingest", "ebsd", kikuchipy_data_dir / "edax_h5ebsd" / "patterns.h5",
                              "--store", store)
    assert code == 0, err
    code, _, err = vaearr_cli(capsys, "orientation-maps", store, "--figures", tmp_path / "f", "--format", "svg")
    assert code == 0, err
    text = _svg_text(tmp_path / "f" / "orientation_maps.svg")
    assert {"orientation_ipf (sample z)", "orientation_kam", "orientation_grain_boundaries"} <= set(text)
    assert {"boundary", "no boundary"} <= set(text) and text.count("x (µm)") == 3
    assert not {"A", "B", "C"} & set(text)  # HoloViews' sublabels are not drawn
