"""`vaearr explore STORE --run DIR --serve` in headless Chromium: one slider per latent dim; moving one re-decodes the image."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import DIGITS_MODEL as SMALL
from tests.helpers import free_port, make_run, served_page, stop_server, wait_http

LATENT = 4

# the Bokeh document's state, read in the page: slider titles and values; the image the figure draws
SLIDERS_JS = """() => Array.from(Bokeh.documents[0].all_models)
    .filter(m => m.type === 'Slider').map(m => [m.title, m.value])"""
IMAGES_JS = """() => {
    const out = [];
    for (const m of Bokeh.documents[0].all_models) {
        if (m.type !== 'Figure') continue;
        for (const r of m.renderers) {
            const d = r.data_source && r.data_source.data;
            if (d && d.image) out.push({shape: Array.from(d.image[0].shape), values: Array.from(d.image[0])});
        }
    }
    return out;
}"""


def _image(page) -> np.ndarray:
    images = page.evaluate(IMAGES_JS)
    # one image renderer: the view updates it in place rather than stacking new ones
    assert len(images) == 1, f"{len(images)} image renderers in the figure"
    return np.asarray(images[0]["values"], np.float64).reshape(images[0]["shape"])


def _gray(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)


@pytest.fixture()
def digits_run(tmp_path: Path) -> tuple[Path, Path]:
    """sklearn's digits (real 8×8 scans) as an image store, and a briefly trained run with a 4-dim latent."""
    from sklearn.datasets import load_digits

    from vaearr.store import write_variable

    d = load_digits()
    images = (d.images * 15).astype(np.uint8)
    store = tmp_path / "digits.zarr"
    write_variable(store, "images", xr.DataArray(images, dims=("sample", "row", "col"),
                                                 coords={"label": ("sample", d.target)}),
                   chunks={"images": (512, 8, 8)})
    make_run(tmp_path / "run", store, model={**SMALL, "latent_dim": LATENT}, sample_dims=("sample",),
             feature_dims=("row", "col"), train_on=images[:, None] / 255.0, steps=40)
    return store, tmp_path / "run"


def test_served_explorer_redecodes_when_a_slider_moves(digits_run: tuple[Path, Path], chromium,
                                                      tmp_path: Path) -> None:
    pytest.importorskip("panel", reason="needs the 'viz' extra (panel)")
    vaearr = Path(sys.executable).with_name("vaearr")
    if not vaearr.exists():
        pytest.skip(f"no {vaearr} (pip install -e .)")
    from vaearr.analysis.generate import decode
    from vaearr.analysis.latents import load_run

    store, run = digits_run
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(vaearr), "explore", str(store), "--run", str(run), "--serve", "--port", str(port), "--n", "300"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "VAEARR_PROGRESS": "off"})
    try:
        wait_http(url, server, log, 90)
        context, page, blocked, errors = served_page(chromium, url, {"width": 1000, "height": 700})
        try:
            page.goto(url)
            # the websocket is open and the first image drawn once the figure has image data
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && Array.from("
                                   "Bokeh.documents[0].all_models).some(m => m.type === 'Figure')", timeout=30_000)
            page.wait_for_selector(".noUi-handle", timeout=30_000)
            page.wait_for_timeout(300)  # the first paint

            sliders = page.evaluate(SLIDERS_JS)
            assert [t for t, _ in sliders] == [f"z{i}" for i in range(LATENT)]
            assert page.locator(".noUi-handle").count() == LATENT
            before = _image(page)
            assert before.shape == (8, 8)
            canvas = page.locator(".bk-Canvas").first
            shot_before = _gray(canvas.screenshot())

            # drag z1's handle to the right, as a user would
            box = page.locator(".noUi-handle").nth(1).bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 70, y, steps=5)
            page.mouse.up()
            start = dict(sliders)["z1"]
            page.wait_for_function(f"() => Array.from(Bokeh.documents[0].all_models).some("
                                   f"m => m.type === 'Slider' && m.title === 'z1' && m.value > {start} + 0.5)",
                                   timeout=15_000)
            # the server re-decodes on every value the drag passed: wait for the last one
            after, deadline = _image(page), time.time() + 20
            while time.time() < deadline:
                page.wait_for_timeout(400)
                now = _image(page)
                if np.array_equal(now, after) and not np.array_equal(now, before):
                    break
                after = now
            sliders_after = page.evaluate(SLIDERS_JS)
            page.wait_for_timeout(200)  # the repaint
            shot_after = _gray(canvas.screenshot())
            assert blocked == [] and errors == [], (blocked, errors)
        finally:
            context.close()
    finally:
        stop_server(server)

    values = dict(sliders_after)
    assert values["z1"] > start + 0.5
    assert all(values[f"z{i}"] == v for i, (_, v) in enumerate(sliders) if i != 1)  # only z1 moved
    assert np.abs(after - before).max() > 1e-3, "the decoded image did not change"
    # what the page draws is the decoder's output at the sliders' vector (Bokeh images run bottom-up)
    z = np.array([values[f"z{i}"] for i in range(LATENT)], np.float32)
    expected = decode(load_run(run).model, z[None])[0, 0]
    np.testing.assert_allclose(np.flipud(after), expected, atol=1e-5)
    # and the pixels on screen changed with it
    assert shot_before.shape == shot_after.shape
    assert np.abs(shot_after - shot_before).mean() > 1.0
