"""The map explorer: click a pixel of a map to see its pattern, model input, reconstruction and latent (Panel).

``vaearr explore-map STORE --run RUN`` serves it; in a notebook display
``MapExplorer(store, run).panel()``. A map chooser offers every (y, x) variable of the store, RGB
variables (``orientation_ipf``) and each component of (y, x, k) variables (``latent[3]``). A
click on the map shows, for that pixel: the stored pattern, the model's input after the run's
preprocessing, its reconstruction, the latent vector as bars with the map's range of each dim
marked, and every small variable at the pixel (cluster labels, decomposition weights...). A box
selection (drag) shows the box's mean pattern and the distribution of its latents. Patterns are
read from the store per pixel and per box (:class:`~vaearr.analysis.map_probe.MapProbe`); the
store is never written.

The panels are Bokeh figures inside the shared app shell (:mod:`vaearr.viz.app_shell`); a click
updates their data in place, so a click costs one chunk read and one pass through the model.
"""

from __future__ import annotations

import html
import os
import time
from typing import Any

import numpy as np

from vaearr.analysis.map_probe import BOX_CAP, Box, MapProbe, Pixel
from vaearr.errors import require
from vaearr.run import Run
from vaearr.viz.app_shell import card, note, serve, shell

#: Names of the figures (Bokeh models' ``name``): what a test or a script looks up in the page.
FIGURES = ("map", "pattern", "input", "recon", "latent", "box_mean", "box_latent")
STATUS_ID = "vaearr-status"


def _rgba(rgb: np.ndarray) -> np.ndarray:
    """(y, x, 3) colours (0..1 floats or uint8) as Bokeh's packed RGBA (uint32); NaN transparent."""
    a = np.asarray(rgb, np.float64)
    if np.issubdtype(rgb.dtype, np.integer):
        a = a / 255.0
    alpha = np.isfinite(a).all(-1)
    a = np.clip(np.nan_to_num(a), 0, 1)
    out = np.empty((*a.shape[:2], 4), np.uint8)
    out[..., :3] = np.rint(a * 255)
    out[..., 3] = np.where(alpha, 255, 0)
    return out.view(np.uint32)[..., 0]


def _fmt(v: Any) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        if a.dtype.kind == "b":
            return str(bool(a))
        return str(int(a)) if a.dtype.kind in "iu" else f"{float(a):.4g}"
    return " ".join(_fmt(x) for x in a.ravel()[:16]) + (" …" if a.size > 16 else "")


class MapExplorer:
    """A store's maps linked to the patterns and a run's model, pixel by pixel.

    Parameters
    ----------
    store, run
        An EBSD map store with patterns, and a run trained on them (see :class:`MapProbe`).
    map
        The map shown first (default: band contrast if there, else the first latent dim).
    checkpoint, device, latent, box_cap
        Passed to :class:`~vaearr.analysis.map_probe.MapProbe`.
    """

    def __init__(self, store: str | os.PathLike, run: str | os.PathLike | Run, *, map: str | None = None,
                 checkpoint: str = "best", device: str = "cpu", latent: str = "latent", box_cap: int = BOX_CAP):
        require("panel", "viz")
        self.probe = MapProbe(store, run, checkpoint=checkpoint, device=device, latent=latent, box_cap=box_cap)
        self.map = self.probe.check_map(map) if map is not None else self.probe.default_map()
        self.range = self.probe.latent_range()
        #: the views built by :meth:`panel` (one per browser session when served)
        self.views: list[_View] = []
        # read what every click needs once (the small maps, the model's first pass)
        self.probe.pixel(self.probe.shape[0] // 2, self.probe.shape[1] // 2)

    def panel(self) -> Any:
        """The app (one view: a new one per call, as each browser session needs its own). Served, the view is
        dropped when its session ends (the page closed, or never connected): the server does not grow with the
        pages it has served."""
        pn = require("panel", "viz")
        view = _View(self)
        self.views.append(view)
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.curdoc.on_session_destroyed(lambda context: self.drop(view))
        return view.layout

    def drop(self, view: _View) -> None:
        """Forget ``view`` (its session ended)."""
        self.views = [v for v in self.views if v is not view]

    def serve(self, port: int | None = None, *, show: bool = False, address: str = "127.0.0.1",
              announce: Any = print, **kwargs: Any) -> Any:
        """Serve the app on ``address`` (``port`` None: a free one, announced); blocks until stopped."""
        return serve(self.panel, title="map explorer", port=port, address=address, show=show, announce=announce,
                     **kwargs)


class _View:
    """One session's figures and widgets; :meth:`show_pixel` and :meth:`show_box` update them in place."""

    def __init__(self, app: MapExplorer):
        pn = require("panel", "viz")
        self.app, self.probe = app, app.probe
        self.pixel: Pixel | None = None
        self.box: Box | None = None
        #: seconds the last click / box took on the server (read, model, figure updates)
        self.last_seconds: float | None = None
        self.chooser = pn.widgets.Select(options=self.probe.map_names(), value=app.map, width=220,
                                         **{"label" if "label" in pn.widgets.Select.param else "name": "map"})
        self.follow = pn.widgets.Checkbox(value=False, width=220,
                                          **{"label" if "label" in pn.widgets.Checkbox.param else "name":
                                             "follow the cursor"})
        self._build_figures()
        self.chooser.param.watch(lambda e: self.show_map(e.new), "value")
        self.status = pn.pane.HTML(self._status_html(), width=480, margin=(2, 4))
        self.values = pn.pane.HTML("", width=230, max_height=260, styles={"overflow-y": "auto"})
        self.box_note = note("drag a box on the map (box select) for its mean pattern and latents", width=540)
        p = self.probe
        sidebar = [self.chooser, self.follow,
                   note(f"click a pixel: its pattern, the run's input and reconstruction, its latent.<br>"
                        f"drag a box: its mean pattern (at most {p.box_cap} patterns read, a regular subsample "
                        f"beyond) and its latents' spread.<br>map {p.shape[0]} × {p.shape[1]}, patterns "
                        f"{p.pattern_shape[0]} × {p.pattern_shape[1]} read from the store per click.")]
        f = self.figures
        pixel_row = pn.Row(*(pn.pane.Bokeh(f[k]) for k in ("pattern", "input", "recon")))
        main = pn.Row(
            pn.Column(card(pn.pane.Bokeh(f["map"])),
                      card(self.box_note, pn.Row(pn.pane.Bokeh(f["box_mean"]), pn.pane.Bokeh(f["box_latent"])))),
            card(self.status, pixel_row, pn.Row(pn.pane.Bokeh(f["latent"]), self.values)),
        )
        self.layout = shell("map explorer", main, sidebar=sidebar,
                            subtitle=f"{p.store} · run {p.run.path}")
        self.show_map(app.map)

    # -- figures ---------------------------------------------------------------------------------

    def _image_figure(self, name: str, title: str, shape: tuple[int, int], size: int = 165) -> Any:
        from bokeh.models import ColumnDataSource, LinearColorMapper, Range1d
        from bokeh.plotting import figure

        h, w = shape
        fig = figure(name=name, title=title, width=size, height=size, x_range=Range1d(0, w), y_range=Range1d(h, 0),
                     tools="", toolbar_location=None, min_border=2)
        fig.axis.visible = False
        fig.grid.visible = False
        src = ColumnDataSource({"image": [np.zeros(shape, np.float32)]})
        mapper = LinearColorMapper(palette="Greys256", low=0, high=1)
        # row 0 of a pattern at the top: drawn from y=0 on an axis that runs downwards
        fig.image(image="image", x=0, y=0, dw=w, dh=h, source=src, color_mapper=mapper)
        self.sources[name], self.mappers[name] = src, mapper
        return fig

    def _build_figures(self) -> None:
        from bokeh import events
        from bokeh.models import (
            BoxSelectTool,
            ColumnDataSource,
            HoverTool,
            LinearColorMapper,
            Range1d,
        )
        from bokeh.plotting import figure

        p = self.probe
        self.sources: dict[str, Any] = {}
        self.mappers: dict[str, Any] = {}
        ys, xs = p.ycoord, p.xcoord
        dy = float(np.diff(ys).mean()) if len(ys) > 1 else 1.0
        dx = float(np.diff(xs).mean()) if len(xs) > 1 else 1.0
        self.extent = (xs[0] - dx / 2, ys[0] - dy / 2, xs[-1] - xs[0] + dx, ys[-1] - ys[0] + dy)
        x0, y0, w, h = self.extent
        width = 460
        height = int(np.clip(width * h / w, 160, 640))
        m = figure(name="map", width=width, height=height, x_range=Range1d(x0, x0 + w), y_range=Range1d(y0 + h, y0),
                   tools="pan,wheel_zoom,reset", toolbar_location="above", match_aspect=True, min_border=4)
        m.xaxis.axis_label, m.yaxis.axis_label = "x", "y"
        self.sources["map"] = ColumnDataSource({"image": [np.zeros((1, 1), np.float32)]})
        self.sources["map_rgb"] = ColumnDataSource({"image": [np.zeros((1, 1), np.uint32)]})
        self.mappers["map"] = LinearColorMapper(palette="Viridis256", nan_color=(0, 0, 0, 0))
        self.map_scalar = m.image(image="image", x=x0, y=y0, dw=w, dh=h, source=self.sources["map"],
                                  color_mapper=self.mappers["map"])
        self.map_rgb = m.image_rgba(image="image", x=x0, y=y0, dw=w, dh=h, source=self.sources["map_rgb"])
        self.sources["marker"] = ColumnDataSource({"x": [], "y": []})
        m.scatter("x", "y", source=self.sources["marker"], marker="square_x", size=12, fill_alpha=0,
                  line_color="#ff3d00", line_width=2)
        self.sources["box"] = ColumnDataSource({"x": [], "y": [], "w": [], "h": []})
        m.rect("x", "y", "w", "h", source=self.sources["box"], fill_alpha=0.08, fill_color="#ff3d00",
               line_color="#ff3d00", line_dash="dashed")
        select = BoxSelectTool(renderers=[self.map_scalar])
        m.add_tools(select, HoverTool(renderers=[self.map_scalar], tooltips=[("x, y", "$x{0.0}, $y{0.0}"),
                                                                              ("value", "@image")]))
        m.toolbar.active_drag = select
        m.on_event(events.Tap, self._on_tap)
        m.on_event(events.DoubleTap, self._on_tap)  # a quick second click elsewhere is a double tap to Bokeh
        m.on_event(events.SelectionGeometry, self._on_select)
        # subscribed from the start: a subscription added once the page is served never reached the browser
        # (the checkbox did nothing); moves are ignored on the server while the box is unticked
        m.on_event(events.MouseMove, self._on_move)
        self.figures: dict[str, Any] = {"map": m}
        shape = p.pattern_shape
        in_shape = tuple(p.run.preprocess.input_shape[1:])
        self.figures["pattern"] = self._image_figure("pattern", "pattern (stored)", shape)
        self.figures["input"] = self._image_figure("input", "model input", in_shape)
        self.figures["recon"] = self._image_figure("recon", "reconstruction", in_shape)
        self.figures["box_mean"] = self._image_figure("box_mean", "box: mean pattern", shape, size=210)

        d = p.latent_dim
        dims = [str(i) for i in range(d)]
        lat = figure(name="latent", title="latent · grey: the map's range", width=270, height=210,
                     x_range=dims, tools="", toolbar_location=None, min_border=4)
        self.sources["latent"] = ColumnDataSource({"dim": dims, "mu": np.zeros(d)})
        rng = self.app.range
        lo, hi = rng if rng is not None else (np.full(d, np.nan), np.full(d, np.nan))
        self.sources["range"] = ColumnDataSource({"dim": dims, "lo": lo.astype(np.float64), "hi": hi.astype(np.float64)})
        if rng is not None:
            lat.vbar(x="dim", bottom="lo", top="hi", width=0.8, source=self.sources["range"], fill_color="#d9dee5",
                     line_color=None)
        lat.vbar(x="dim", top="mu", width=0.45, source=self.sources["latent"], fill_color="#1f77b4", line_color=None)
        lat.xaxis.axis_label = "latent dim"
        self.figures["latent"] = lat

        box = figure(name="box_latent", title="box: latents (5–95 %, quartiles, median)", width=330,
                     height=210, x_range=dims, tools="", toolbar_location=None, min_border=4)
        self.sources["box_latent"] = ColumnDataSource({k: (dims if k == "dim" else np.full(d, np.nan)) for k in
                                                       ("dim", "q05", "q25", "q50", "q75", "q95")})
        box.segment(x0="dim", x1="dim", y0="q05", y1="q95", source=self.sources["box_latent"], line_color="#52606d")
        box.vbar(x="dim", bottom="q25", top="q75", width=0.6, source=self.sources["box_latent"], fill_color="#9ecae1",
                 line_color="#1f3a5f")
        box.scatter(x="dim", y="q50", source=self.sources["box_latent"], marker="dash", size=14, color="#1f3a5f")
        box.xaxis.axis_label = "latent dim"
        self.figures["box_latent"] = box

    # -- updates -------------------------------------------------------------------------------

    def show_map(self, name: str) -> None:
        """Draw the map ``name`` (see :meth:`MapProbe.map_names`)."""
        a = self.probe.map_array(self.probe.check_map(name))
        self.figures["map"].title.text = name
        if a.ndim == 3:
            self.sources["map_rgb"].data = {"image": [_rgba(a)]}
            self.map_rgb.visible, self.map_scalar.visible = True, False
            return
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.mappers["map"].update(low=lo, high=hi if hi > lo else lo + 1)
        self.sources["map"].data = {"image": [a]}
        self.map_scalar.visible, self.map_rgb.visible = True, False

    def _set_image(self, name: str, a: np.ndarray) -> None:
        a = np.asarray(a, np.float32)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        self.mappers[name].update(low=lo, high=hi if hi > lo else lo + 1e-6)
        self.sources[name].data = {"image": [a]}

    def show_pixel(self, iy: int, ix: int) -> Pixel:
        """Read pixel (iy, ix) through the run and show it; returns what was shown."""
        t0 = time.perf_counter()
        px = self.probe.pixel(iy, ix)
        self._set_image("pattern", px.raw)
        self._set_image("input", px.x_in)
        self._set_image("recon", px.recon)
        self.sources["latent"].data = {**self.sources["latent"].data, "mu": px.mu.astype(np.float64)}
        self.sources["marker"].data = {"x": [px.x], "y": [px.y]}
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>"
                       for k, v in px.values.items())
        self.values.object = f'<table class="vaearr-values">{rows}</table>'
        self.pixel = px
        self.last_seconds = time.perf_counter() - t0
        self.status.object = self._status_html()
        return px

    def show_box(self, iy: tuple[int, int], ix: tuple[int, int]) -> Box:
        """Read the box of pixels iy[0]:iy[1], ix[0]:ix[1] and show its mean pattern and latents."""
        t0 = time.perf_counter()
        b = self.probe.box(iy, ix)
        self._set_image("box_mean", b.mean)
        p = self.probe
        ys, xs = p.ycoord[iy[0]:iy[1]], p.xcoord[ix[0]:ix[1]]
        dy = self.extent[3] / p.shape[0]
        dx = self.extent[2] / p.shape[1]
        self.sources["box"].data = {"x": [(xs[0] + xs[-1]) / 2], "y": [(ys[0] + ys[-1]) / 2],
                                    "w": [xs[-1] - xs[0] + dx], "h": [ys[-1] - ys[0] + dy]}
        src = self.sources["box_latent"]
        if b.latents is not None and len(b.latents):
            q = np.quantile(b.latents, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0).astype(np.float64)
            src.data = {"dim": src.data["dim"], **dict(zip(("q05", "q25", "q50", "q75", "q95"), q))}
        read = (f"all {b.n_read}" if b.stride == 1 else
                f"{b.n_read} (one in {b.stride} along y and x: the cap is {p.box_cap})")
        lat = (f"latents of {len(b.latents)} pixels with a latent" if b.latents is not None else
               "no latent in the store (vaearr encode) for the latents' spread")
        self.box = b
        self.last_seconds = time.perf_counter() - t0
        self.box_note.object = (f'<div class="vaearr-note" id="vaearr-box" data-iy0="{iy[0]}" data-iy1="{iy[1]}" '
                                f'data-ix0="{ix[0]}" data-ix1="{ix[1]}" data-read="{b.n_read}">box y {iy[0]}:{iy[1]}, '
                                f'x {ix[0]}:{ix[1]} ({b.n_pixels} pixels): mean of {read} patterns; {lat} · '
                                f'{self.last_seconds * 1000:.0f} ms</div>')
        return b

    def _status_html(self) -> str:
        px = self.pixel
        if px is None:
            return f'<div class="vaearr-note" id="{STATUS_ID}">click a pixel of the map</div>'
        where = "" if px.inside else f" (outside {self.probe.mask_name})"
        return (f'<div class="vaearr-note" id="{STATUS_ID}" data-iy="{px.iy}" data-ix="{px.ix}" '
                f'data-sum="{int(np.asarray(px.raw, np.int64).sum())}" data-ms="{self.last_seconds * 1000:.1f}"><b>pixel y {px.iy}, x {px.ix}</b> '
                f'(at {px.y:g}, {px.x:g}){where} · answered in {self.last_seconds * 1000:.0f} ms</div>')

    # -- events ----------------------------------------------------------------------------------

    def _on_tap(self, event: Any) -> None:
        at = self.probe.locate(event.x, event.y)
        if at is not None:
            self.show_pixel(*at)

    def _on_move(self, event: Any) -> None:
        if not self.follow.value:
            return
        at = self.probe.locate(event.x, event.y)
        if at is not None and (self.pixel is None or at != (self.pixel.iy, self.pixel.ix)):
            self.show_pixel(*at)

    def _on_select(self, event: Any) -> None:
        g = event.geometry
        if not event.final or g.get("type") != "rect":
            return
        at = self.probe.box_indices(g["x0"], g["x1"], g["y0"], g["y1"])
        if at is not None:
            self.show_box(*at)


__all__ = ["FIGURES", "MapExplorer"]
