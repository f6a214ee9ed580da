"""``vaearr report``: one offline page from a real store and run, driven in headless Chromium; bad input changes nothing."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr.store import open_store, write_variable


def _fit(store: Path, run: Path, var: str, **kw) -> None:
    from vaearr.train import TrainConfig, fit

    fit(TrainConfig(store=str(store), run=str(run), var=var, epochs=1, latent_dim=4, batch_size=64, seed=0,
                    model_options={"channels": [8, 16]}, tensorboard=False, **kw), progress=False)


def _orientations_from_the_truth(demo_files, store: Path, ang: Path) -> None:
    """The demo's true grain orientations written as an EDAX .ang by orix and ingested: the IPF map's source."""
    import h5py
    from orix import io as orix_io
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.quaternion import Rotation

    from vaearr.io.orientations import ingest_orientations
    from vaearr.maps.indexing.orientations import orientation_maps_derived

    grains = np.load(demo_files.grains)
    with h5py.File(demo_files.patterns) as f:
        rotations = np.asarray(f["rotations"])
    ds = open_store(store)
    x, y = np.meshgrid(ds.x.values, ds.y.values)
    xmap = CrystalMap(rotations=Rotation(rotations[grains.ravel()]), x=x.ravel(), y=y.ravel(),
                      phase_id=np.ones(grains.size, int), scan_unit="um",
                      phase_list=PhaseList([Phase(name="ni", point_group="m-3m")], ids=[1]))
    orix_io.save(ang, xmap)
    ingest_orientations(ang, store, derive=orientation_maps_derived)


@pytest.fixture(scope="module")
def ebsd(demo_store_master: Path, demo_files, trained_run: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The demo map with the shared 1-epoch run (conftest's ``trained_run``), its latents, its true orientations
    (an .ang ingested), the latents' segmentation, spreads of the latents and of the orientations, a ranking
    against band contrast and a cluster folder."""
    from vaearr.analysis.clustering import joint_cluster
    from vaearr.analysis.ranking import rank_latents
    from vaearr.encoding import encode
    from vaearr.maps.segmentation.segment import segment_store
    from vaearr.maps.deformation.spread import spread_store

    root = tmp_path_factory.mktemp("report_ebsd")
    store = root / "ni.zarr"
    shutil.copytree(demo_store_master, store)
    encode(store, trained_run)
    _orientations_from_the_truth(demo_files, store, root / "truth.ang")
    segment_store(store, var="latent", name="segments")
    spread_store(store, var="latent", regions="segments")
    spread_store(store, var="orientation", regions="orientation_grains", recrystallised="rex_orientation")
    rank_latents(store, var="latent", against=["bandcontrast", "elements"], out=root / "rank", top=2, seed=0)
    joint_cluster(store, var="latent", dim=0, with_var="bandcontrast", method="gmm", mask="roi",
                  out=root / "cluster", tag="t", seed=0)
    return store, trained_run


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, Path]:
    """A real image store (scikit-learn's scanned digits) with a 1-epoch run."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("report_digits")
    store = root / "digits.zarr"
    d = load_digits()
    write_variable(store, "images", xr.DataArray((d.images * 15).astype(np.uint8), dims=("sample", "row", "col")),
                   chunks={"images": (512, 8, 8)})
    _fit(store, root / "run", "images")
    return store, root / "run"


RENDERED = """() => {
  if (window.Bokeh === undefined || Bokeh.documents.length === 0) return false;
  const roots = Bokeh.documents[0].roots().length;
  const views = [...Bokeh.index];
  return views.length >= roots && views.every(v => v.has_finished());
}"""  # every root of the page drawn (as benchmarks/bench_report.py waits for)


def _keep(shot: Path) -> None:
    if os.environ.get("VAEARR_ARTEFACTS"):
        dst = Path(os.environ["VAEARR_ARTEFACTS"])
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dst / shot.name)


def _open(chromium, html: Path):
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    problems: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:  # the report must not need the network
            problems.append(f"blocked {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda req: problems.append(f"failed {req.url}"))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(html.as_uri())
    # a page without Bokeh plots (only images) carries no BokehJS
    page.wait_for_function("() => document.readyState === 'complete' && "
                           "(window.Bokeh === undefined || Bokeh.documents.length === 1)", timeout=60_000)
    return page, problems


def _visible_figure(page, section: str) -> bool:
    page.locator(f"section#{section} h2").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    for sel in (f"section#{section} canvas", f"section#{section} img"):
        loc = page.locator(sel)
        for i in range(min(loc.count(), 20)):
            box = loc.nth(i).bounding_box()
            if box and box["width"] > 20 and box["height"] > 20:
                return True
    return False


def test_report_of_an_ebsd_store_opens_offline_and_sorts(ebsd, chromium, tmp_path: Path) -> None:
    store, run = ebsd
    before = tree_hash(store)
    out = tmp_path / "rep"
    proc = cli("report", store, "--run", run, "--out", out, check=True)
    assert "analyses:" in proc.stdout and "report.html" in proc.stdout  # the rank/cluster folders were found
    html = out / "report.html"
    text = html.read_text()
    assert "<script src=" not in text and "cdn.bokeh.org" not in text  # BokehJS inline, once
    # BokehJS inlined once, not per figure, and only the extensions the page uses (no 1.8 MB MathJax)
    assert text.count("/* BEGIN bokeh.min.js */") == 1 and "BEGIN bokeh-mathjax" not in text
    assert tree_hash(store) == before  # the report only reads the store
    for sec in ("store", "run", "maps", "analyses", "exploration"):
        assert f'<section id="{sec}">' in text, sec
    assert "vaearr encode" in text and "vaearr rank" in text and "cluster_report__t" in text
    assert "orientation_ipf (IPF)" in text and "The IPF map first" in text  # beside the latent maps
    # the deformation row: the latents' and the orientations' spreads, beside the orientations' KAM and GROD
    assert "<h3>deformation</h3>" in text
    for title in ("latent_kernel_spread (", "log10 latent_domain_spread (", "orientation_kernel_spread (",
                  "log10 orientation_domain_spread (", "rex_orientation (", "recrystallised (", "orientation_kam (",
                  "orientation_grod ("):  # the row's titles (units after the bracket, escaped in the page's JSON)
        assert title in text, title
    assert "vaearr spread" in text  # made by, in the store's table

    page, problems = _open(chromium, html)
    for sec in ("run", "maps", "analyses", "exploration"):
        assert _visible_figure(page, sec), f"no visible figure in section {sec}"
    assert page.locator("table#variables").is_visible()
    # a click on a header sorts the ranking table by that column, a second click reverses it
    header = page.locator("table#ranking th", has_text="pearson").first
    col = [t.strip() for t in page.locator("table#ranking th").all_inner_texts()].index("pearson")

    def column() -> list[float]:
        return [float(v) for v in page.locator(f"table#ranking tbody tr td:nth-child({col + 1})").evaluate_all(
            "cells => cells.map(c => c.getAttribute('data-v'))")]

    start = column()
    header.click()
    up = column()
    header.click()
    down = column()
    assert up == sorted(start) and down == sorted(start, reverse=True) and up != start
    shot = tmp_path / "report_ebsd.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert problems == [], problems
    assert shot.stat().st_size > 50_000
    _keep(shot)
    # the page skips BokehJS's CSS-variable lookups (report.NO_CSS_VISUALS): it draws the same pixels as with them
    from PIL import Image

    from vaearr.viz.report import NO_CSS_VISUALS

    assert text.count(NO_CSS_VISUALS) == 1
    plain = tmp_path / "plain" / "report.html"
    plain.parent.mkdir()
    plain.write_text(text.replace(NO_CSS_VISUALS, ""))
    shots = []
    for h in (html, plain):
        pg, problems = _open(chromium, h)
        pg.wait_for_function(RENDERED, timeout=60_000)
        pg.wait_for_timeout(500)
        skipped = pg.evaluate("() => !String(Bokeh.require('core/visuals/visual').VisualProperties.prototype"
                              "._get_css_value).includes('getComputedStyle')")
        assert skipped == (h == html)  # in effect on the report's page only
        shots.append(np.asarray(Image.open(io.BytesIO(pg.screenshot(full_page=True))).convert("RGB")))
        pg.close()
        assert problems == [], problems
    assert np.array_equal(shots[0], shots[1])


def test_report_of_an_image_store_shows_inputs_and_reconstructions(digits, chromium, tmp_path: Path) -> None:
    store, run = digits
    from vaearr.viz.report import build_report

    result = build_report(store, tmp_path / "rep", run=run, discover=False)
    assert result.sections == ["store", "run", "exploration"]  # no (y, x) maps, no analyses
    text = result.path.read_text()
    assert "inputs and reconstructions" in text and "data:image/png;base64," in text
    page, problems = _open(chromium, result.path)
    assert _visible_figure(page, "run") and _visible_figure(page, "exploration")
    shot = tmp_path / "report_digits.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert problems == [], problems
    _keep(shot)


def test_report_of_a_volume_store_shows_orthogonal_slices(chromium, tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    pytest.importorskip("monai", reason="needs the 'models' extra (MONAI)")
    from tests.helpers import make_run
    from vaearr.io.nifti import ingest_nifti
    from vaearr.viz.report import build_report

    store = tmp_path / "vol.zarr"
    ingest_nifti([Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"], store)  # a real NIfTI file
    model = {"name": "vae3d", "input_shape": [1, 16, 16, 16], "channels": [8, 16], "norm_num_groups": 8,
             "backbone": "monai"}
    make_run(tmp_path / "run", store, model=model, var="volumes", sample_dims=("subject",),
             feature_dims=("z", "y", "x"), crop=16)
    result = build_report(store, tmp_path / "rep", run=tmp_path / "run", discover=False)
    assert result.sections == ["store", "run", "exploration"]
    text = result.path.read_text()
    assert "<h3>orthogonal slices through the run</h3>" in text and "data:image/png;base64," in text
    page, problems = _open(chromium, result.path)
    assert _visible_figure(page, "exploration")
    page.close()
    assert problems == [], problems


def test_latent_pages_draw_when_opened_on_one_colour_range_and_share_zoom(chromium, tmp_path: Path) -> None:
    from vaearr.viz.report import build_report

    store = tmp_path / "m.zarr"
    yy, xx = np.mgrid[0:30, 0:40].astype(np.float32)
    lat = np.stack([np.sin(xx / (3 + k)) * np.cos(yy / (2 + k)) * (k + 1) for k in range(12)])
    lat[:, :5, :5] = np.nan  # outside the region of interest
    write_variable(store, "latent", xr.DataArray(lat, dims=("latent_dim", "y", "x"),
                                                 coords={"y": np.arange(30.0), "x": np.arange(40.0)}))
    result = build_report(store, tmp_path / "rep", discover=False)
    text = result.path.read_text()
    assert "One colour range for every dim" in text
    page, problems = _open(chromium, result.path)
    page.wait_for_function(RENDERED, timeout=60_000)
    section = page.locator("section#maps")
    section.scroll_into_view_if_needed()
    assert [t.strip() for t in section.locator(".bk-tab").all_inner_texts()] == ["latent_dim 0–7", "latent_dim 8–11"]
    canvases = section.locator("canvas").count()
    page.get_by_text("latent_dim 8–11").click()
    for _ in range(100):  # the canvases are in the plots' shadow DOM: counted by playwright, polled
        if section.locator("canvas").count() > canvases:
            break
        page.wait_for_timeout(100)
    assert section.locator("canvas").count() > canvases  # the second page is drawn when it is opened
    shared = page.evaluate("""() => { const figs = Array.from(Bokeh.documents[0].all_models)
        .filter(m => m.type === 'Figure');
      return [figs.length, new Set(figs.map(f => f.x_range.id)).size,
              new Set(figs.flatMap(f => f.renderers).filter(r => r.glyph && r.glyph.color_mapper)
                      .map(r => r.glyph.color_mapper.low + ':' + r.glyph.color_mapper.high)).size]; }""")
    assert shared == [12, 1, 1]  # 12 maps over both pages, one zoom, one colour range
    page.close()
    assert problems == [], problems


def test_report_bad_input_one_line_and_nothing_written(ebsd, digits, tmp_path: Path) -> None:
    store, run = ebsd
    before = tree_hash(store)
    foreign = tmp_path / "foreign.zarr"
    xr.Dataset({"a": ("x", np.zeros(3, np.float32))}).to_zarr(foreign, zarr_format=3)  # zarr, not vaearr's
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    cases = [
        (("report", foreign, "--out", tmp_path / "o1"), "not a vaearr store"),
        (("report", store, "--run", tmp_path / "nope", "--out", tmp_path / "o2"), "no such run folder"),
        (("report", store, "--run", digits[1], "--out", tmp_path / "o3"), "does not match the run"),
        (("report", store, "--run", run, "--out", a_file), "is a file"),
        (("report", store, "--run", run, "--out", store / "rep"), "inside the store"),
        (("report", store, "--analyses", tmp_path / "missing", "--out", tmp_path / "o4"), "no such folder"),
    ]
    for args, message in cases:
        proc = cli(*args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (args, proc.stderr)
    assert tree_hash(store) == before
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5)) and a_file.read_text() == "not a folder"
    assert "latent" in open_store(store)


def test_a_large_map_is_drawn_at_full_resolution_once_zoomed_in(chromium, tmp_path: Path) -> None:
    """A 640 × 640 map is drawn every 3rd pixel; its stripes of one pixel in three are then invisible, and come
    back from the tiles beside the page once the view is zoomed in past one map pixel per screen pixel."""
    from vaearr.viz.report import build_report
    from vaearr.viz.zoom import NAME, TILE

    store = tmp_path / "big.zarr"
    n = 640
    yy, xx = np.mgrid[0:n, 0:n]
    # a ramp, and stripes one pixel in three that the overview (every 3rd pixel from 0) does not see
    stripes = (xx / n + 0.5 * ((xx % 3) == 1)).astype(np.float32)
    coords = {"y": np.arange(n) * 0.5, "x": np.arange(n) * 0.5}
    write_variable(store, "stripes", xr.DataArray(stripes, dims=("y", "x"), coords=coords))
    write_variable(store, "latent", xr.DataArray(np.stack([stripes, yy / n]).astype(np.float32),
                                                 dims=("latent_dim", "y", "x"), coords=coords))
    result = build_report(store, tmp_path / "rep", discover=False)
    per_map = (-(-n // TILE)) ** 2
    tiles = sorted((tmp_path / "rep" / "tiles").rglob("*.js"))
    assert len(tiles) == 3 * per_map and not (tmp_path / "rep" / "tiles.new").exists()
    assert "drawn one pixel in 3 along each axis" in result.path.read_text()
    page, problems = _open(chromium, result.path)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/tiles/" in r.url else None)
    page.wait_for_function(RENDERED, timeout=60_000)
    count = f"""() => Array.from(Bokeh.documents[0].all_models).filter(m => m.name === '{NAME}')
                  .map(r => r.data_source.data.url.length)"""
    assert page.evaluate(count) and max(page.evaluate(count)) == 0  # the overviews alone at first
    page.evaluate("""() => { const f = Array.from(Bokeh.documents[0].all_models).find(m => m.type === 'Figure');
                             f.x_range.setv({start: 100, end: 140}); f.y_range.setv({start: 160, end: 120}); }""")
    page.wait_for_timeout(1500)
    shown = page.evaluate(count)
    assert shown and min(shown) >= 1, shown  # every map of the linked grid has its tiles in view
    assert asked and all(u.endswith(".js") for u in asked), asked
    # the tiles drawn show the stripes the overview misses: neighbouring columns of one row differ
    drawn = page.evaluate("""() => Array.from(Bokeh.documents[0].all_models).filter(m => m.name === 'vaearr-zoom-tiles')
                                .map(r => r.data_source.data.url[0].slice(0, 22))""")
    assert all(u == "data:image/png;base64," for u in drawn), drawn
    page.evaluate("""() => { const f = Array.from(Bokeh.documents[0].all_models).find(m => m.type === 'Figure');
                             f.x_range.setv({start: -0.25, end: 319.75}); f.y_range.setv({start: 319.75, end: -0.25}); }""")
    page.wait_for_timeout(500)
    assert max(page.evaluate(count)) == 0  # zoomed out again: the overview
    page.close()
    assert problems == [], problems


def test_a_report_that_fails_leaves_the_tiles_as_they_were(tmp_path: Path) -> None:
    """The zoom tiles of a new page go to ``tiles.new/`` and take the old ones' place only once the page is written:
    a report that fails on the way (here its page cannot replace a folder in its way) leaves the old tiles whole and
    no ``tiles.new`` behind."""
    from vaearr.viz.report import REPORT_FILE, build_report

    store = tmp_path / "big.zarr"
    n = 600
    yy, xx = np.mgrid[0:n, 0:n]
    coords = {"y": np.arange(n) * 0.5, "x": np.arange(n) * 0.5}
    write_variable(store, "ramp", xr.DataArray((xx / n).astype(np.float32), dims=("y", "x"), coords=coords))
    out = tmp_path / "rep"
    build_report(store, out, discover=False)
    before = tree_hash(out / "tiles")
    assert any((out / "tiles").rglob("*.js"))
    write_variable(store, "other", xr.DataArray((yy / n).astype(np.float32), dims=("y", "x"), coords=coords))
    (out / REPORT_FILE).unlink()
    (out / REPORT_FILE).mkdir()
    (out / REPORT_FILE / "keep").write_text("in the way")
    with pytest.raises(OSError):
        build_report(store, out, discover=False)
    assert tree_hash(out / "tiles") == before and not (out / "tiles.new").exists()
    (out / REPORT_FILE / "keep").unlink()
    (out / REPORT_FILE).rmdir()
    build_report(store, out, discover=False)  # and the next report that succeeds puts the new page's tiles in place
    assert tree_hash(out / "tiles") != before and not (out / "tiles.new").exists()
