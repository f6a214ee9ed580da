"""``vaearr report``: one self-contained HTML page per experiment, from what a store and a run hold.

Sections appear when their data exist (:mod:`~vaearr.viz.report_sections`,
:mod:`~vaearr.viz.report_analyses`): the store (variables and each result's provenance), the
run (config, preprocessing, curves, reconstructions, time and device), the maps (shared zoom and
pan), the analyses (sortable ranking table, top maps, partition agreement, clusters) and the
exploration (reconstructions through the run, ``vaearr explore``'s figures). The page carries one
inline BokehJS bundle and PNGs as data URIs: it opens offline from disk. The store is only read.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from vaearr.analysis.options import ReportOptions
from vaearr.errors import InputError, StoreError
from vaearr.files import write_bytes_whole
from vaearr.run import Run
from vaearr.store import made_by_vaearr, open_store, require_whole
from vaearr.store.provenance import run_reference
from vaearr.viz.core import drop_external_tags, holoviews
from vaearr.viz.report_analyses import (
    Analyses,
    analyses_section,
    exploration_section,
    find_analyses,
)
from vaearr.viz.report_media import Fig, Section, esc, link_ranges
from vaearr.viz.phases import phases_section
from vaearr.viz.report_sections import maps_section, run_section, store_section
from vaearr.viz.zoom import Tiles, attach, publish

REPORT_FILE = "report.html"


@dataclass
class ReportResult:
    """What :func:`build_report` wrote: the page, its sections, the run and analysis folders it used."""

    path: Path
    sections: list[str] = field(default_factory=list)
    run: Path | None = None
    analyses: list[Path] = field(default_factory=list)
    figures: int = 0
    seconds: float = 0.0

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6

    def summary(self) -> str:
        return (f"report: {self.path} ({self.size_mb:.1f} MB, {self.figures} figures; sections: "
                f"{', '.join(self.sections)}; {self.seconds:.1f} s)")


def check_out(out: str | os.PathLike, store: Path) -> Path:
    """``out`` as a folder that is not a file and not inside the store."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; `out` takes a folder (report.html is written inside it)")
    s, o = (store.resolve() if isinstance(store, Path) else None), out.resolve()
    if s is not None and (o == s or s in o.parents):
        raise InputError(out, f"is inside the store {store}; the report never writes into a store")
    return out


def check_store(store: str | os.PathLike) -> xr.Dataset:
    try:
        ds = open_store(store)
    except (ValueError, KeyError, TypeError) as exc:  # zarr that xarray cannot read as a dataset
        raise StoreError(store, f"is not a vaearr store (xarray cannot open it: {str(exc).splitlines()[0]})") from None
    if not made_by_vaearr(ds):
        raise StoreError(store, "is not a vaearr store (no vaearr provenance in it); make one with 'vaearr ingest'")
    require_whole(ds, ds.data_vars, store)  # the report draws every variable: a damaged one is never drawn
    return ds


def check_run(run: str | os.PathLike, ds: xr.Dataset, store: Path) -> Run:
    """The run in folder ``run``, trained on a variable of this store with the same sample shape."""
    if not Path(run).exists():
        raise InputError(run, "no such run folder")
    r = Run.open(run)
    var = r.data.var
    if var not in ds.data_vars:
        raise StoreError(store, f"does not match the run {run}: it has no '{var}' (the variable the run was trained on)")
    dims = set(map(str, ds[var].dims))
    need = set(r.data.sample_dims) | set(r.data.feature_dims)
    if not need <= dims:
        raise StoreError(store, f"does not match the run {run}: '{var}' has dims {', '.join(sorted(dims))}, the run "
                                f"was trained on {', '.join(sorted(need))}")
    shape = tuple(ds.sizes[f] for f in r.data.feature_dims)
    trained = tuple(r.preprocess.sample_shape)[-len(shape):] if shape else ()
    if shape and trained and shape != trained:
        raise StoreError(store, f"does not match the run {run}: '{var}' samples are {'×'.join(map(str, shape))}, the "
                                f"run was trained on {'×'.join(map(str, trained))}")
    return r


def run_from_provenance(ds: xr.Dataset) -> Path | None:
    """The run folder a variable of the store was encoded with (its :func:`~vaearr.store.provenance.run_reference`),
    when it exists."""
    for v in ds.data_vars.values():
        ref = run_reference(v)
        if ref is not None and ref.run and ref.checkpoint and (Path(ref.run) / "config.json").is_file():
            return Path(ref.run)
    return None


def build_report(store: str | os.PathLike, out: str | os.PathLike | None = None, options: ReportOptions | None = None,
                 *, echo: Callable[[str], Any] = print, **fields: Any) -> ReportResult:
    """Write ``out/report.html`` from ``store`` (only read) and its run.

    ``options`` (a :class:`~vaearr.analysis.options.ReportOptions`), or ``out`` and its other fields as keywords:
    ``out``, the folder for ``report.html`` (created; default ``STORE_report`` beside the store); ``run``, the training
    run folder (default: the run the store's latents were encoded with, when it exists); ``analyses``, output folders
    of ``vaearr rank``, ``cluster`` or ``explore`` to include; ``discover``, also look for such folders right beside
    the store and the run (the demo's layout); ``title``, the page's. ``echo``: where the automatic choices are
    printed.

    Raises
    ------
    StoreError, InputError, RunError
        Before anything is written: not a vaearr store, no such run or one that does not match
        the store, ``out`` a file or inside the store.
    """
    o = options if options is not None else ReportOptions(store=os.fspath(store), out=out, **fields)
    run, analyses, discover, title = o.run, o.analyses, o.discover, o.title
    t0 = time.perf_counter()
    store = o.store if "://" in o.store else Path(o.store)
    ds = check_store(store)
    out = check_out(o.out, store)
    given = [Path(a) for a in analyses]
    for a in given:
        if not a.is_dir():
            raise InputError(a, "no such folder (`analyses` takes an output folder of rank, cluster or explore)")
    if run is None:
        found_run = run_from_provenance(ds)
        if found_run is not None:
            echo(f"run: {found_run} (from the latents' provenance)")
        r = check_run(found_run, ds, store) if found_run is not None else None
    else:
        r = check_run(run, ds, store)
    near = ([store.parent] if isinstance(store, Path) else []) + ([r.path.parent] if r is not None else []) \
        if discover else []
    found = find_analyses(given, near, store)
    for a in found.all():
        if a not in given:
            echo(f"analyses: {a}")
    sections = [store_section(ds, store)]
    if r is not None:
        sections.append(run_section(r))
    tiles = Tiles(out)
    shutil.rmtree(out / "tiles.new", ignore_errors=True)
    try:
        for make in (lambda: maps_section(ds, tiles), lambda: phases_section(ds),
                     lambda: analyses_section(ds, found), lambda: exploration_section(ds, r, found)):
            sec = make()
            if sec is not None:
                sections.append(sec)
        out.mkdir(parents=True, exist_ok=True)
        path = out / REPORT_FILE
        figures = write_page(sections, path,
                             title=title or f"vaearr report: {store.name if isinstance(store, Path) else store}")
    except BaseException:
        shutil.rmtree(out / "tiles.new", ignore_errors=True)  # a failed report leaves the old page and tiles as they were
        raise
    publish(tiles)
    return ReportResult(path, [s.id for s in sections], r.path if r is not None else None, found.all(), figures,
                        time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# the page


def _render(fig: Fig) -> tuple[Any, list[Any]]:
    """The Bokeh root of a :class:`Fig` and the models whose ranges it may share."""
    hv = holoviews()
    if fig.tabs is None:
        model = hv.render(fig.obj, backend="bokeh")
        return model, [model]

    pages = [(t, hv.render(o, backend="bokeh")) for t, o in fig.tabs]
    return lazy_tabs(pages), [m for _, m in pages]


LAZY_TAB_JS = """
const i = tabs.active;
const panel = panels[i];
if (panel != null && tabs.tabs[i] !== panel) {
  const now = [...tabs.tabs];
  now[i] = panel;
  tabs.tabs = now;
}
"""


def lazy_tabs(pages: list[tuple[str, Any]]) -> Any:
    """Bokeh tabs that draw a page when it is first opened: BokehJS builds and draws the views of every tab
    at load, hidden or not, so a report with two pages of latent maps took a second longer to render. Every
    page is in the document (its plots share ranges with the rest of the page); the ones not shown yet hang
    off the tabs' callback, with a one-line placeholder in the tab until then."""
    from bokeh.models import CustomJS, Div, TabPanel, Tabs

    real = [TabPanel(child=m, title=t) for t, m in pages]
    shown = [real[0]] + [TabPanel(child=Div(text="<p>drawing…</p>"), title=t) for t, _ in pages[1:]]
    tabs = Tabs(tabs=shown)
    tabs.js_on_change("active", CustomJS(args=dict(tabs=tabs, panels=real), code=LAZY_TAB_JS))
    return tabs


def _canvas(roots: list[Any]) -> None:
    """Draw on 2D canvases, not WebGL (HoloViews' default): a page of small maps gains nothing from WebGL, and
    where the browser has no GPU (software WebGL) drawing took most of the page's render time."""
    from bokeh.models import Plot

    for root in roots:
        for plot in root.select({"type": Plot}):
            plot.output_backend = "canvas"


def _inline_bundle(roots: list[Any]) -> str:
    """BokehJS and only the extensions the page's models use, inline: ``INLINE.render_js()`` inlines all of
    them, MathJax's 1.8 MB included, which the browser then parses on every load."""
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.resources import INLINE

    b = bundle_for_objs_and_resources(roots, INLINE)
    return "\n".join([f"<script>\n{js}\n</script>" for js in b.js_raw]
                     + [f"<style>\n{css}\n</style>" for css in b.css_raw] + [NO_CSS_VISUALS])


#: BokehJS reads a CSS custom property (``--bk-line-color``, ...) for every visual property of every glyph,
#: axis and title on every paint, each through ``getComputedStyle``, which forces a style recalculation of
#: the page; the report sets none of them, so every lookup reads "". Answering "" without the lookup draws
#: the same pixels (tests/viz/test_report.py compares screenshots) and took 0.1–0.6 s off the page's render.
#: Should BokehJS move the method, the page is drawn as before.
NO_CSS_VISUALS = """<script id="vaearr-no-css-visuals">
(function () {
  try {
    var v = Bokeh.require("core/visuals/visual").VisualProperties.prototype;
    if (typeof v._get_css_value === "function") { v._get_css_value = function () { return ""; }; }
  } catch (e) { /* another BokehJS: leave it as it is */ }
})();
</script>"""


def write_page(sections: list[Section], path: Path, *, title: str) -> int:
    """Render the sections into one HTML file (one inline BokehJS bundle); returns the number of figures."""
    from bokeh.embed import components

    roots, linked, drawn = [], [], []
    for sec in sections:
        for b in sec.blocks:
            if isinstance(b, Fig):
                root, parts = _render(b)
                roots.append(root)
                drawn += parts
                if b.linked:
                    linked += parts
    link_ranges(linked)
    attach(drawn)  # full resolution on zoom: the tiles follow the linked ranges
    _canvas(drawn)  # the pages of lazy tabs too
    script, divs = components(roots) if roots else ("", [])
    bundle = _inline_bundle(roots) if roots else ""
    body, i = [], 0
    nav = " · ".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    for sec in sections:
        body.append(f'<section id="{sec.id}"><h2>{esc(sec.title)}</h2>')
        for b in sec.blocks:
            if isinstance(b, Fig):
                body.append(f'<div class="fig">{divs[i]}</div>')
                i += 1
            else:
                body.append(b)
        body.append("</section>")
    page = PAGE.format(title=esc(title), bundle=bundle, css=CSS, nav=nav, body="\n".join(body), script=script, js=JS)
    write_bytes_whole(path, drop_external_tags(page))
    return sum(s.figures for s in sections)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
{bundle}
<style>{css}</style></head>
<body><header><h1>{title}</h1><nav>{nav}</nav></header>
<main>
{body}
</main>
{script}
<script>{js}</script>
</body></html>
"""

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:.4em 1.2em;z-index:10}
header h1{font-size:1.2em;margin:.2em 0} nav a{margin-right:.3em}
main{padding:0 1.2em 3em} section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:1em 0;padding:.2em 1em 1em}
h2{border-bottom:1px solid #eee;padding-bottom:.2em} h3{margin-top:1.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
caption{text-align:left;font-weight:600;padding:.2em 0} table.defs th{background:#f4f4f4;font-weight:500}
table.sortable th{cursor:pointer;background:#eef3f8;user-select:none} table.sortable th.asc:after{content:" ▲"}
table.sortable th.desc:after{content:" ▼"} td[data-v]{text-align:right;font-variant-numeric:tabular-nums}
.scroll{max-height:420px;overflow:auto;display:inline-block} .fig{margin:.5em 0}
figure{margin:.5em 0} figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:.8em;color:#555}
.chain{font-family:monospace;font-size:.85em;color:#555} ul.prov li{margin:.3em 0}
pre{background:#f6f6f6;padding:.5em;overflow:auto}
"""

JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      function key(row) {
        var cell = row.cells[col];
        if (cell && cell.hasAttribute('data-v')) { var v = parseFloat(cell.getAttribute('data-v')); return isNaN(v) ? Infinity : v; }
        return cell ? cell.textContent : '';
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

__all__ = ["REPORT_FILE", "Analyses", "ReportResult", "build_report", "check_out", "check_run", "check_store",
           "run_from_provenance", "write_page"]
