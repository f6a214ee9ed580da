"""A saved HTML figure renders its Bokeh plot in headless Chromium with the network blocked."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def test_saved_figure_renders_offline(chromium, tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    from vaearr.viz import save_figure
    from vaearr.viz.grids import image_grid

    digits = load_digits().images[:12].reshape(2, 6, 1, 8, 8) / 16.0  # real scans, (rows, cols, C, H, W)
    html, _ = save_figure(image_grid(digits, title="digits", row_labels=["a", "b"], col_labels=list("012345")),
                          tmp_path / "grid")
    page = chromium.new_page(viewport={"width": 900, "height": 500})
    blocked, failed, errors = [], [], []

    def route(r) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:  # the figure must not need the network (BokehJS is inlined)
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(html.as_uri())
    # Bokeh draws into canvases inside shadow roots; Playwright's CSS selectors pierce open shadow DOM
    page.wait_for_selector(".bk-Canvas canvas, canvas", state="attached", timeout=30_000)
    page.wait_for_timeout(500)  # let the first paint finish
    assert page.locator("canvas").count() >= 1
    assert page.evaluate("() => window.Bokeh !== undefined && Bokeh.documents.length") == 1
    assert blocked == [] and failed == [] and errors == [], (blocked, failed, errors)
    shot = tmp_path / "grid_screenshot.png"
    page.screenshot(path=str(shot))
    page.close()
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("L"), dtype=np.float64)
    assert pixels.std() > 10, "the screenshot is blank"
    # the mosaic's dark background: a good share of near-black pixels, not only the white page
    assert (pixels < 40).mean() > 0.05
