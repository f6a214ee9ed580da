"""Does ``vaearr explore-map`` answer a click in ≤ 200 ms on a 500 × 500 map of 60 × 60 patterns, in little memory?

Data: a SYNTHETIC store written once into ``benchmarks/_data/explore_map.zarr`` (``--keep`` keeps
it): ``patterns(y, x, py, px)`` 500 × 500 × 60 × 60 uint8 (900 MB raw) chunked as vaearr ingests
(``default_chunks``: one 500-pattern row per chunk), each pixel one of 24 "grains" (a bright
centre and two bands whose angle depends on the grain) plus Gaussian noise (σ 10 counts);
``roi`` (all true), ``bandcontrast`` (the pattern means), ``cluster`` (the grain ids) and
``latent(y, x, 16)`` (random normal: only the map's ranges and a box's spread come from it).
The run is the demo's architecture and preprocessing (conv-vae, 16-dim latent, channels
16/32/64; background subtraction with the map's mean pattern, resize to 32, standardise) with
seeded UNTRAINED weights: a click costs the same whatever the weights.

What is timed, median over ``--clicks`` random pixels (seeded):

*baseline*
    a plain zarr read of one pattern (``zarr.open_group(store)["patterns"][iy, ix]``): the
    least a click must do.
*probe*
    :meth:`MapProbe.pixel`: the read, the run's preprocessing, encode and decode, the pixel's
    small variables.
*handler*
    the server-side click handler (``_View.show_pixel``): the probe plus updating every
    figure's data and the status/values panes (Bokeh models, before serialisation).
*served handler*
    the same handler in the served app (``data-ms`` of the page's status: there every figure
    update is also serialised for the websocket as it is made).
*in page*
    end to end in headless Chromium against ``vaearr explore-map`` served on 127.0.0.1: from the
    click's ``pointerup`` to the pattern figure's data changing in BokehJS (event to the server,
    handler, update back, applied), and to the next animation frame after it (drawn);
    ``performance.now()`` in the page.
*browser*
    the same seen from Python: playwright's click until its waits see the status element and the
    pattern figure updated (adds playwright's round trips and polling).

Box selections (server side): 50 × 50 (2 500 pixels, all read) and the whole map (250 000
pixels, capped at 4 096: one pixel in 8 along y and x, 3 969 read). RSS: this process after
everything (VmRSS, VmHWM) and the served app's peak (VmHWM). Results in
``benchmarks/results/explore_map.jsonl``.

    python benchmarks/bench_explore_map.py            # the issue's map
    python benchmarks/bench_explore_map.py --shape 100 100 --no-browser   # a quick run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): a 40 × 40 map, 3 clicks, no browser.
QUICK = ("--shape", "40", "40", "--clicks", "3", "--no-browser")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def _hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_store(store: Path, shape: tuple[int, int], seed: int = 0) -> None:
    """The synthetic map (see the module docstring), written through vaearr.store, one chunk row at a time."""
    import dask.array as da
    import xarray as xr

    from vaearr.store import default_chunks, write_variables

    ny, nx = shape
    p = 60
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, [ny, nx], (24, 2))
    yy, xx = np.mgrid[0:ny, 0:nx]
    grain = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)
    r, c = np.mgrid[0:p, 0:p] - p / 2
    centre = 70 * np.exp(-(r**2 + c**2) / (2 * 18.0**2))
    angles = rng.uniform(0, np.pi, (24, 2))
    base = np.stack([40 + centre + sum(60 * (np.abs(np.cos(a) * r + np.sin(a) * c) < 2.0) for a in ang)
                     for ang in angles]).astype(np.float32)
    chunks = default_chunks((ny, nx, p, p), 1)

    def block(block_id=None, block_info=None):
        loc = block_info[None]["array-location"]
        (y0, y1), (x0, x1) = loc[0], loc[1]
        g = np.random.default_rng([seed, y0, x0])
        out = base[grain[y0:y1, x0:x1]] + g.normal(0, 10, (y1 - y0, x1 - x0, p, p)).astype(np.float32)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    pats = da.map_blocks(block, chunks=tuple((c,) * (n // c) + ((n % c,) if n % c else ()) for c, n in
                                             zip(chunks, (ny, nx, p, p))), dtype=np.uint8)
    coords = {"y": np.arange(ny) * 1.0, "x": np.arange(nx) * 1.0}
    bc = base.mean((1, 2))[grain]
    latent = rng.normal(0, 1, (ny, nx, 16)).astype(np.float32)
    write_variables(store, {
        "patterns": xr.DataArray(pats, dims=("y", "x", "py", "px"), coords=coords),
        "roi": xr.DataArray(np.ones((ny, nx), bool), dims=("y", "x"), coords=coords),
        "bandcontrast": xr.DataArray(bc.astype(np.float32), dims=("y", "x"), coords=coords),
        "cluster": xr.DataArray(grain.astype(np.int64), dims=("y", "x"), coords=coords),
        "latent": xr.DataArray(latent, dims=("y", "x", "latent_dim"), coords={**coords, "latent_dim": np.arange(16)}),
    }, chunks={"patterns": chunks}, progress=False)


def write_run(run: Path, store: Path) -> None:
    """The demo's architecture and preprocessing, untrained (seeded)."""
    import torch

    from vaearr.models import build_model, save_model
    from vaearr.preprocess import Preprocess
    from vaearr.run import DataSpec, Run
    from vaearr.transforms import resize, standardize, subtract_background

    torch.manual_seed(0)
    net = build_model({"name": "conv-vae", "input_shape": [1, 32, 32], "latent_dim": 16, "channels": [16, 32, 64],
                       "data_range": "standardized"}).eval()
    import zarr

    arr = zarr.open_group(str(store), mode="r")["patterns"]
    bg = np.asarray(arr[::25, ::25], np.float64).mean((0, 1)).astype(np.float32)  # the map's mean pattern (sampled)
    pre = Preprocess([subtract_background(bg, (0.0, 1.0)), resize(32), standardize()], source_dtype="uint8",
                     sample_shape=(1, 60, 60))
    data = DataSpec(str(store.resolve()), "patterns", ("y", "x"), ("py", "px"), "roi")
    Run.create(run, data=data, train={"note": "untrained: bench_explore_map.py"}, model=net.config.to_dict(),
               preprocess=pre)
    save_model(net, run / "best")


def _median_ms(values: list[float]) -> float:
    return round(float(np.median(values)) * 1000, 2)


def bench_server_side(store: Path, run: Path, pixels: np.ndarray) -> dict:
    import zarr

    from vaearr.viz.map_explorer import MapExplorer

    out: dict = {}
    arr = zarr.open_group(str(store), mode="r")["patterns"]
    arr[0, 0]  # noqa: B018 - warm
    t_base = []
    for iy, ix in pixels:
        t0 = time.perf_counter()
        np.asarray(arr[iy, ix])
        t_base.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    app = MapExplorer(store, run)
    out["startup_s"] = round(time.perf_counter() - t0, 2)
    app.panel()
    view = app.views[0]
    t_probe, t_handler = [], []
    for iy, ix in pixels:
        t0 = time.perf_counter()
        app.probe.pixel(int(iy), int(ix))
        t_probe.append(time.perf_counter() - t0)
    for iy, ix in pixels[::-1]:  # other chunks than the probe's last reads
        t0 = time.perf_counter()
        px = view.show_pixel(int(iy), int(ix))
        t_handler.append(time.perf_counter() - t0)
        assert np.array_equal(px.raw, arr[iy, ix])
    out.update(baseline_ms=_median_ms(t_base), probe_ms=_median_ms(t_probe), handler_ms=_median_ms(t_handler),
               handler_max_ms=round(max(t_handler) * 1000, 1), baseline_all_ms=[round(t * 1000, 2) for t in t_base],
               handler_all_ms=[round(t * 1000, 1) for t in t_handler])
    ny, nx = app.probe.shape
    for name, (iy, ix) in {"box_50x50": ((ny // 2 - 25, ny // 2 + 25), (nx // 2 - 25, nx // 2 + 25)),
                           "box_whole_map": ((0, ny), (0, nx))}.items():
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            b = view.show_box(iy, ix)
            times.append(time.perf_counter() - t0)
        out[name] = {"ms": _median_ms(times), "pixels": b.n_pixels, "read": b.n_read, "stride": b.stride}
    out["rss_mb"] = {k: round(v) for k, v in _rss().items()}
    return out


def bench_browser(store: Path, run: Path, pixels: np.ndarray, log: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with open(log, "w") as f:
        server = subprocess.Popen([sys.executable, "-m", "vaearr", "explore-map", str(store), "--run", str(run),
                                   "--port", str(port)], stdout=f, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT), "VAEARR_PROGRESS": "off"})
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(log.read_text()[-2000:]) from None
                time.sleep(0.5)
        import zarr

        arr = zarr.open_group(str(store), mode="r")["patterns"]
        times = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.goto(url)
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && Array.from("
                                   "Bokeh.documents[0].all_models).some(m => m.name === 'map')", timeout=60_000)
            page.wait_for_timeout(1000)
            screen = """([x, y]) => { const fig = Array.from(Bokeh.documents[0].all_models).find(m => m.name === 'map');
                const v = Bokeh.index.find_one(fig); const r = v.canvas_view.el.getBoundingClientRect();
                return [r.left + v.frame.x_scale.compute(x), r.top + v.frame.y_scale.compute(y)]; }"""
            shown = """([sum]) => { const fig = Array.from(Bokeh.documents[0].all_models).find(m => m.name === 'pattern');
                const a = fig.renderers[0].data_source.data.image[0]; let s = 0; for (const v of a) s += v;
                return s === sum; }"""
            # in the page: from the click's pointerup to the pattern figure's new data, and to the next frame
            hook = """() => { const fig = Array.from(Bokeh.documents[0].all_models).find(m => m.name === 'pattern');
                fig.renderers[0].data_source.properties.data.change.connect(() => {
                    const t = performance.now(); requestAnimationFrame(() => { window.__t1 = t;
                        window.__t2 = performance.now(); }); }); }"""
            stamp = """() => { window.__t0 = null; window.__t1 = null; window.__t2 = null;
                document.addEventListener('pointerup', () => { window.__t0 = performance.now(); },
                                          {capture: true, once: true}); }"""
            in_page = "() => [window.__t1 - window.__t0, window.__t2 - window.__t0]"
            page.evaluate(hook)
            page_ms, frame_ms, served_ms = [], [], []
            for i, (iy, ix) in enumerate(pixels):
                sx, sy = page.evaluate(screen, [float(ix), float(iy)])
                total = int(np.asarray(arr[iy, ix], np.int64).sum())
                page.wait_for_timeout(400)  # clicks apart, as a user's are (quicker ones are double taps)
                page.evaluate(stamp)
                t0 = time.perf_counter()
                page.mouse.click(sx, sy)
                try:
                    page.wait_for_selector(f"#vaearr-status[data-iy='{iy}'][data-ix='{ix}']", timeout=20_000)
                except Exception:
                    page.screenshot(path=str(log.with_suffix(".png")))
                    raise RuntimeError(f"click {i} at pixel {iy}, {ix} ({sx}, {sy}): the page shows "
                                       f"{page.locator('#vaearr-status').inner_html()}") from None
                page.wait_for_function(shown, arg=[total], timeout=20_000, polling=5)
                times.append(time.perf_counter() - t0)
                page.wait_for_function("() => window.__t2 !== null", timeout=20_000)
                data_at, frame_at = page.evaluate(in_page)
                page_ms.append(data_at)
                frame_ms.append(frame_at)
                served_ms.append(float(page.locator("#vaearr-status").get_attribute("data-ms")))
            browser.close()
        return {"served_handler_ms": round(float(np.median(served_ms)), 1),
                "served_handler_all_ms": served_ms,
                "in_page_data_ms": round(float(np.median(page_ms)), 1),
                "in_page_frame_ms": round(float(np.median(frame_ms)), 1), "in_page_frame_max_ms": round(max(frame_ms), 1),
                "in_page_frame_all_ms": [round(t, 1) for t in frame_ms], "browser_ms": _median_ms(times), "browser_max_ms": round(max(times) * 1000, 1),
                "browser_all_ms": [round(t * 1000, 1) for t in times], "server_peak_rss_mb": round(_hwm(server.pid))}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", type=int, nargs=2, default=(500, 500))
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep benchmarks/_data/explore_map.zarr for the next run")
    args = ap.parse_args()
    data = ROOT / "benchmarks" / "_data"
    data.mkdir(parents=True, exist_ok=True)
    store, run = data / f"explore_map_{args.shape[0]}x{args.shape[1]}.zarr", data / "explore_map_run"
    result: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"), "shape": args.shape,
                    "pattern": [60, 60], "data": "SYNTHETIC", "machine": platform.platform(),
                    "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if not store.exists():
        t0 = time.perf_counter()
        write_store(store, tuple(args.shape))
        result["write_store_s"] = round(time.perf_counter() - t0, 1)
    shutil.rmtree(run, ignore_errors=True)
    write_run(run, store)
    import zarr

    result["chunks"] = list(zarr.open_group(str(store), mode="r")["patterns"].chunks)
    pixels = np.random.default_rng(1).integers(0, args.shape, (args.clicks, 2))
    result["server"] = bench_server_side(store, run, pixels)
    print(json.dumps(result["server"], indent=1, default=str))
    if not args.no_browser:
        result["browser"] = bench_browser(store, run, np.random.default_rng(2).integers(0, args.shape, (args.clicks, 2)),
                                          data / "explore_map_serve.log")
        print(json.dumps(result["browser"], indent=1))
    result["load_after"] = os.getloadavg()
    if not args.keep:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
    return result


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
