"""How big is the report of the demo store, and how fast does it render in a browser?

Run (after ``make demo``, or on any store and run; results in BENCHMARKS.md, "Report"):

    python benchmarks/bench_report.py out/demo/ni_demo.zarr --run out/demo/run --out out/report.json

Writes the report (``vaearr report``, the rank/cluster folders beside the store found as the demo
lays them out), then opens it ``--repeats`` times from disk in headless Chromium with the network
blocked and measures, per load: the load event, and the time until every Bokeh root of the page has
drawn (``Bokeh.index`` holds one view per root; each ``has_finished()``), and, when the latent maps
have a second tab (drawn when first opened), the time from a click on it to its maps drawn. Measured,
not asserted; the goals of issue 15 are ≤ 15 MB and ≤ 3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: No quick size: it needs a store and run (make demo) as its argument.
QUICK = None
NO_QUICK = 'it needs a store and run (make demo) as its argument'

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vaearr.viz.report import build_report  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# every root drawn: a root view per root of the document, each reporting that it has finished rendering
RENDERED = """() => {
  if (window.Bokeh === undefined || Bokeh.documents.length === 0) return false;
  const roots = Bokeh.documents[0].roots().length;
  const views = Bokeh.index.values ? [...Bokeh.index.values()] : Object.values(Bokeh.index);
  return views.length >= roots && views.every(v => v.has_finished());
}"""


def render_times(html: Path, repeats: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
            t0 = time.perf_counter()
            page.goto(html.as_uri(), wait_until="load", timeout=120_000)
            load = time.perf_counter() - t0
            page.wait_for_function(RENDERED, timeout=120_000, polling=20)
            rendered = time.perf_counter() - t0
            roots = page.evaluate("() => Bokeh.documents[0].roots().length")
            rec = {"load_s": round(load, 3), "rendered_s": round(rendered, 3), "roots": roots}
            tab = page.locator(".bk-tab")
            if tab.count() > 1:  # a second page of latent maps: drawn when first opened
                maps = page.locator("section#maps")
                before = maps.locator("canvas").count()
                t1 = time.perf_counter()
                tab.nth(1).click()
                while maps.locator("canvas").count() <= before and time.perf_counter() - t1 < 60:
                    page.wait_for_timeout(10)
                page.wait_for_function(RENDERED, timeout=60_000, polling=20)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                rec["second_tab_s"] = round(time.perf_counter() - t1, 3)
            out.append(rec)
            page.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--run", type=Path, default=None)
    ap.add_argument("--report-dir", type=Path, default=None, help="where report.html goes (default: a temp folder)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="JSON with the results")
    a = ap.parse_args()
    folder = a.report_dir or Path(tempfile.mkdtemp(prefix="bench_report_"))
    t = time.perf_counter()
    result = build_report(a.store, folder, run=a.run)
    build_s = time.perf_counter() - t
    loads = render_times(result.path, a.repeats)
    rec = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "store": str(a.store), "report": str(result.path), "sections": result.sections, "figures": result.figures,
        "size_mb": round(result.size_mb, 2), "build_s": round(build_s, 1), "loads": loads,
        "load_median_s": statistics.median(x["load_s"] for x in loads),
        "rendered_median_s": statistics.median(x["rendered_s"] for x in loads),
        "rendered_max_s": max(x["rendered_s"] for x in loads),
    }
    if all("second_tab_s" in x for x in loads):
        rec["second_tab_median_s"] = statistics.median(x["second_tab_s"] for x in loads)
    print(json.dumps(rec, indent=2))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(rec, indent=2) + "\n")
    return rec


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
