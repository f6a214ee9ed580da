"""`vaearr explore-map STORE --run RUN`: the map explorer served and driven in headless Chromium, inline, and refusing bad input.

The store is a small EBSD-like map written through vaearr.store (patterns(y, x, py, px) uint8 in
several chunks, a roi, band contrast, an RGB map), a conv-VAE run trained briefly on it with the
demo's preprocessing (background, resize, standardise), and its latents written by vaearr encode.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import MAP_NX as NX
from tests.helpers import MAP_NY as NY
from tests.helpers import MAP_STEP as STEP
from tests.helpers import (
    READY_JS,
    free_port,
    run_cli,
    served_page,
    stop_server,
    tree_hash,
    wait_http,
)

IMAGE_JS = """(name) => {
    const fig = Array.from(Bokeh.documents[0].all_models).find(m => m.name === name);
    for (const r of fig.renderers) {
        const d = r.data_source && r.data_source.data;
        if (d && d.image && r.visible) return {shape: Array.from(d.image[0].shape), values: Array.from(d.image[0])};
    }
    return null;
}"""
SCREEN_JS = """([x, y]) => {
    const fig = Array.from(Bokeh.documents[0].all_models).find(m => m.name === 'map');
    const v = Bokeh.index.find_one(fig);
    const r = v.canvas_view.el.getBoundingClientRect();
    return [r.left + v.frame.x_scale.compute(x), r.top + v.frame.y_scale.compute(y)];
}"""


def _artefact(path: Path) -> None:
    folder = os.environ.get("VAEARR_ARTEFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


def _image(page, name: str) -> np.ndarray:
    d = page.evaluate(IMAGE_JS, name)
    return np.asarray(d["values"], np.float64).reshape(d["shape"])


def _expected_pixel(run: Path, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The run's model input and reconstruction of one stored pattern, computed here through the run."""
    import torch

    from vaearr.run import Run

    r = Run.open(run)
    model = r.model()
    with torch.no_grad():
        x = r.preprocess(torch.from_numpy(pattern[None, None].copy()))
        recon = model.decode(model.encode(x)[0])
    return x[0, 0].numpy(), recon[0, 0].numpy()


def test_served_map_explorer_shows_the_clicked_pixel_and_the_box_mean(map_run, chromium, tmp_path: Path) -> None:
    pytest.importorskip("panel", reason="needs the 'viz' extra (panel)")
    store, run, pats = map_run
    before = tree_hash(store)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "vaearr", "explore-map", str(store), "--run", str(run),
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "VAEARR_PROGRESS": "off"})
    shown: dict[str, np.ndarray] = {}
    try:
        wait_http(url, server, log, 120)
        context, page, blocked, errors = served_page(chromium, url, {"width": 1400, "height": 950})
        try:
            page.goto(url)
            page.wait_for_function(READY_JS, timeout=30_000)
            page.wait_for_timeout(500)  # the first paint
            assert page.locator("text=map explorer").count() >= 1  # the shared shell's header

            def screen(iy: float, ix: float) -> tuple[float, float]:
                return tuple(page.evaluate(SCREEN_JS, [ix * STEP, iy * STEP]))

            # two clicks, as a user would: the pattern panel follows the pixel under the click
            for iy, ix in ((7, 11), (3, 2)):
                page.mouse.click(*screen(iy, ix))
                page.wait_for_selector(f"#vaearr-status[data-iy='{iy}'][data-ix='{ix}']", timeout=15_000)
                page.wait_for_timeout(300)  # the figures' data come in the same message; let them land
                shown[f"pattern{iy},{ix}"] = _image(page, "pattern")
                shown[f"input{iy},{ix}"] = _image(page, "input")
                shown[f"recon{iy},{ix}"] = _image(page, "recon")
            page.screenshot(path=tmp_path / "explore_map_click.png")

            # a box drag from pixel (2, 3) to pixel (9, 12): the centres inside are rows 2..9, cols 3..12
            page.mouse.move(*screen(1.7, 2.7))
            page.mouse.down()
            page.mouse.move(*screen(9.3, 12.3), steps=6)
            page.mouse.up()
            page.wait_for_selector("#vaearr-box", timeout=15_000)
            page.wait_for_timeout(300)
            box = page.locator("#vaearr-box").evaluate("e => Object.assign({}, e.dataset)")
            shown["box_mean"] = _image(page, "box_mean")

            # "follow the cursor": the pixel panels follow the mouse over the map, no click
            page.locator("input[type=checkbox]").first.check()
            page.wait_for_timeout(300)  # the subscription to mouse moves reaches the server
            page.mouse.move(*screen(4.6, 5.6), steps=4)
            page.mouse.move(*screen(5, 6), steps=2)
            page.wait_for_selector("#vaearr-status[data-iy='5'][data-ix='6']", timeout=15_000)
            page.wait_for_timeout(300)
            shown["pattern5,6"] = _image(page, "pattern")

            # the map chooser: an RGB variable drawn as RGB
            page.locator("select").first.select_option("orientation_ipf")
            page.wait_for_function("() => Array.from(Bokeh.documents[0].all_models).some(m => m.name === 'map' "
                                   "&& m.title.text === 'orientation_ipf')", timeout=15_000)
            page.wait_for_timeout(300)
            rgb = page.evaluate(IMAGE_JS, "map")
            page.screenshot(path=tmp_path / "explore_map_box.png")
            assert blocked == [] and errors == [], (blocked, errors)
        finally:
            context.close()
    finally:
        stop_server(server)
    for shot in ("explore_map_click.png", "explore_map_box.png"):
        assert (tmp_path / shot).stat().st_size > 10_000
        _artefact(tmp_path / shot)

    # what the page draws is the store's pattern of the clicked pixel, and the run's input and reconstruction of it
    for iy, ix in ((7, 11), (3, 2)):
        np.testing.assert_array_equal(shown[f"pattern{iy},{ix}"], pats[iy, ix])
        x_in, recon = _expected_pixel(run, pats[iy, ix])
        np.testing.assert_allclose(shown[f"input{iy},{ix}"], x_in, atol=1e-4)
        np.testing.assert_allclose(shown[f"recon{iy},{ix}"], recon, atol=1e-4)
    assert not np.array_equal(shown["pattern7,11"], shown["pattern3,2"])
    np.testing.assert_array_equal(shown["pattern5,6"], pats[5, 6])  # followed the cursor
    assert {k: int(v) for k, v in box.items()} == {"iy0": 2, "iy1": 10, "ix0": 3, "ix1": 13, "read": 80}
    np.testing.assert_allclose(shown["box_mean"], pats[2:10, 3:13].mean((0, 1)), atol=1e-3)
    assert rgb is not None and len(rgb["values"]) == NY * NX  # packed RGBA, one per pixel
    assert tree_hash(store) == before  # the explorer never writes the store


def test_map_explorer_inline_renders_and_reads_per_pixel_and_per_box(map_run, tmp_path: Path) -> None:
    pn = pytest.importorskip("panel", reason="needs the 'viz' extra (panel)")
    from vaearr.viz.map_explorer import MapExplorer

    store, run, pats = map_run
    app = MapExplorer(store, run, map="latent[1]", box_cap=10)
    root = pn.panel(app.panel()).get_root()
    names = {m.name for m in root.references() if getattr(m, "name", None)}
    assert {"map", "pattern", "input", "recon", "latent", "box_mean", "box_latent"} <= names
    view = app.views[0]
    assert view.figures["map"].title.text == "latent[1]"
    np.testing.assert_allclose(view.sources["map"].data["image"][0],
                               xr.open_zarr(store)["latent"].values[:, :, 1], equal_nan=True)
    px = view.show_pixel(5, 9)
    np.testing.assert_array_equal(view.sources["pattern"].data["image"][0], pats[5, 9])
    np.testing.assert_allclose(px.mu, xr.open_zarr(store)["latent"].values[5, 9], atol=1e-5)  # as vaearr encode wrote
    assert set(px.values) >= {"bandcontrast", "roi", "latent_recon_error"}
    # a box past the cap (10): every 3rd row and column is read (2 × 3 = 6 ≤ 10 < 3 × 4), and the view says so
    b = view.show_box((0, 6), (0, 8))
    assert (b.stride, b.n_pixels, b.n_read) == (3, 48, 6)
    np.testing.assert_allclose(view.sources["box_mean"].data["image"][0], pats[0:6:3, 0:8:3].mean((0, 1)), atol=1e-3)
    assert "the cap is 10" in view.box_note.object
    inside = np.isfinite(xr.open_zarr(store)["latent"].values[0:6, 0:8]).all(-1).sum()
    assert len(b.latents) == inside < 48  # the roi's corner has no latent
    # it saves as a standalone page too
    app.panel().save(tmp_path / "map.html", resources="inline")
    assert (tmp_path / "map.html").stat().st_size > 100_000


@pytest.mark.parametrize("case", ["no_patterns", "shape", "map", "latent", "port", "box_cap"])
def test_explore_map_bad_input_is_one_line_and_leaves_the_store(map_run, tmp_path: Path, case: str) -> None:
    from vaearr.store import write_variable

    store, run, pats = map_run
    args = [str(store), "--run", str(run)]
    if case == "no_patterns":
        store = tmp_path / "bc.zarr"
        write_variable(store, "bandcontrast", xr.DataArray(np.ones((NY, NX), np.float32), dims=("y", "x")))
        args[0], want = str(store), "no variable 'patterns'"
    elif case == "shape":
        store = tmp_path / "big.zarr"
        write_variable(store, "patterns", xr.DataArray(np.zeros((4, 5, 20, 20), np.uint8),
                                                       dims=("y", "x", "py", "px")))
        args[0], want = str(store), "(16, 16)"
    elif case == "map":
        args += ["--map", "nosuchmap"]
        want = "no map 'nosuchmap'"
    elif case == "latent":
        args += ["--var", "nolatent"]
        want = "no latent variable 'nolatent'"
    elif case == "box_cap":
        args += ["--box-cap", "0"]
        want = "--box-cap 0"
    else:
        args += ["--port", "70000"]
        want = "--port 70000"
    before = tree_hash(store)
    t0 = time.time()
    proc = run_cli("explore-map", *args)
    assert proc.returncode != 0 and time.time() - t0 < 120
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert want in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert tree_hash(store) == before
