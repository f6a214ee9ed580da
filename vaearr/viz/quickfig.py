"""Many small figures, fast: map grids and scatter grids drawn straight with Bokeh and Matplotlib.

``vaearr rank`` writes a figure per reference and per chosen latent dim. Drawn through HoloViews
(:func:`~vaearr.viz.core.save_figure`) each took seconds: HoloViews builds and then converts its own
plot objects, Bokeh serialises a few dozen models per panel, and Matplotlib lays out every tick
label and draws each PNG twice to find its tight bounding box. Here the same figures (same maps,
titles, colour ranges and maps, NaN colour, hover values; a standalone HTML page with BokehJS
inlined, and a PNG) are drawn directly:

* HTML: plain Bokeh models (an image glyph with its colour bar per map; one data source shared by
  every scatter panel). A :class:`Page` is built and serialised once per shape of figure, and each
  figure of that shape only sets its data, titles and colour ranges in the document JSON before the
  page (BokehJS inlined once, kept as text) is written.
* PNG, SVG, PDF: Matplotlib, the maps drawn by :func:`~vaearr.viz.static.draw_maps` as every static map is
  (axes in µm, colour bar, scale bar), the scatters with their dots rasterised; the formats and dpi of
  ``--format``/``--dpi``.

Bokeh is imported when a figure is made (the ``viz`` extra).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.errors import require
from vaearr.files import write_bytes_whole
from vaearr.viz.core import drop_external_tags, quiet_bokeh
from vaearr.viz.static import MapDecor, MapLook, axis_units, draw_maps, save_static, value_label

#: Bokeh tools of every panel (merged into one toolbar above the grid), as HoloViews gave them.
TOOLS = "pan,wheel_zoom,box_zoom,save,reset"


@dataclass
class MapPanel:
    """One map: ``z[i, j]`` at ``(x0 + (j + ½)·dx, y0 + (i + ½)·dy)``, first row at the top of the figure."""

    z: np.ndarray
    x0: float
    y0: float
    dx: float
    dy: float
    title: str
    name: str
    cmap: str = "viridis"
    nan_color: str = "lightgray"
    clim: tuple[float, float] = (0.0, 1.0)
    units: str | None = None

    @property
    def aspect(self) -> float:
        """Width over height of the drawn extent."""
        return (self.z.shape[1] * self.dx) / max(self.z.shape[0] * self.dy, 1e-12)


def _even(v: np.ndarray) -> bool:
    if v.size < 3:
        return True
    d = np.diff(v)
    return bool(np.allclose(d, d[0], rtol=1e-3, atol=0))


def map_panel(da: xr.DataArray, *, title: str, cmap: str = "viridis", nan_color: str = "lightgray",
              name: str | None = None, clim: tuple[float, float] | None = None) -> MapPanel | None:
    """A :class:`MapPanel` of a ``(y, x)`` DataArray, colour range ``clim`` (default its finite values, as
    :func:`~vaearr.viz.maps.image_map`), its colour bar labelled with the name and the unit of its values
    (:func:`~vaearr.viz.static.value_label`); None when a coordinate is not evenly spaced (no image glyph for that)."""
    da = da.transpose("y", "x")
    z = np.asarray(da.values)
    z = z.astype(np.float64) if z.dtype.kind in "biu" else z
    ny, nx = z.shape
    xs = np.asarray(da["x"].values, float) if "x" in da.coords else np.arange(nx, dtype=float)
    ys = np.asarray(da["y"].values, float) if "y" in da.coords else np.arange(ny, dtype=float)
    if not (_even(xs) and _even(ys)):
        return None
    dx = float(xs[1] - xs[0]) if nx > 1 else (float(ys[1] - ys[0]) if ny > 1 else 1.0)
    dy = float(ys[1] - ys[0]) if ny > 1 else dx
    if dx < 0:
        xs, z, dx = xs[::-1], z[:, ::-1], -dx
    if dy < 0:
        ys, z, dy = ys[::-1], z[::-1], -dy
    finite = z[np.isfinite(z)]
    if clim is None:
        clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    units = axis_units(da, "x") if axis_units(da, "x") == axis_units(da, "y") else None
    return MapPanel(np.ascontiguousarray(z), float(xs[0] - dx / 2), float(ys[0] - dy / 2), dx or 1.0, dy or 1.0,
                    title, name if name is not None else value_label(da), cmap, nan_color, clim, units)


@lru_cache(maxsize=16)
def palette(cmap: str, n: int = 256) -> tuple[str, ...]:
    """``n`` hex colours of a Matplotlib colour map."""
    cm = matplotlib.colormaps[cmap]
    return tuple(to_hex(c) for c in cm(np.linspace(0, 1, n)))


# --------------------------------------------------------------------------------------------
# HTML (Bokeh)


def _bokeh():
    require("bokeh", "viz")
    # the submodules load here; callers read them as attributes of the returned package
    import bokeh.layouts  # noqa: F401
    import bokeh.models  # noqa: F401
    import bokeh.plotting  # noqa: F401

    return bokeh


def bokeh_map(p: MapPanel, frame: int):
    """A Bokeh plot of one map: image glyph, colour bar titled by its name, hover x, y, value; y downward.

    Returns the plot and its models that hold the map's values: ``(plot, source, mapper, colorbar, hover)``."""
    bk = _bokeh()
    from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper

    w, h = (frame, frame / p.aspect) if p.aspect >= 1 else (frame * p.aspect, frame)
    ny, nx = p.z.shape
    x1, y1 = p.x0 + nx * p.dx, p.y0 + ny * p.dy
    fig = bk.plotting.figure(frame_width=max(40, round(w)), frame_height=max(40, round(h)), title=p.title,
                             x_range=(p.x0, x1), y_range=(y1, p.y0), tools=TOOLS,
                             x_axis_label=f"x ({p.units})" if p.units else "x",
                             y_axis_label=f"y ({p.units})" if p.units else "y")
    fig.grid.visible = False
    MapDecor(p.units).bokeh(fig)
    mapper = LinearColorMapper(palette=list(palette(p.cmap)), low=p.clim[0], high=p.clim[1],
                               nan_color=p.nan_color)
    source = ColumnDataSource({"image": [p.z]})
    # the first row at y0, drawn at the top (the y range runs downward)
    img = fig.image(image="image", source=source, x=p.x0, y=p.y0, dw=nx * p.dx, dh=ny * p.dy, color_mapper=mapper)
    bar = ColorBar(color_mapper=mapper, title=p.name)
    fig.add_layout(bar, "right")
    hover = HoverTool(renderers=[img], tooltips=[("x", "$x"), ("y", "$y"), (p.name, "@image")])
    fig.add_tools(hover)
    return fig, source, mapper, bar, hover


def bokeh_grid(plots: list, cols: int):
    """The plots in rows of ``cols``, one toolbar above."""
    return _bokeh().layouts.gridplot(plots, ncols=max(1, cols), toolbar_location="above")


@lru_cache(maxsize=1)
def _inline():
    from bokeh.resources import Resources

    # one resources object (and its bundle of BokehJS read from disk once) for every page
    return Resources(mode="inline")


def write_html(root, path: str | os.PathLike, title: str) -> Path:
    """``root`` as a standalone page with BokehJS inlined (opens offline); external tags dropped."""
    from bokeh.embed import file_html

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with quiet_bokeh():
        html = file_html(root, _inline(), title=title)
    return write_bytes_whole(path, drop_external_tags(html))


_DOCS, _TITLE = '{"@@vaearr-docs@@":0}', "@@vaearr-title@@"


class Page:
    """A Bokeh page serialised once and written many times with other values.

    Bokeh spends most of a small figure's time building and serialising its models (a few
    dozen per panel, each property checked against its default). Figures of the same shape
    (every top-maps figure of a rank, every scatter of a dim) differ only in data, titles and
    colour ranges: the page is built once (:meth:`__init__`: the document as JSON, the page
    around it with BokehJS inlined) and each figure sets those attributes in the JSON by model
    id (:meth:`set`) before :meth:`write`.
    """

    def __init__(self, root) -> None:
        from bokeh.core.serialization import Serializer
        from bokeh.embed.bundle import bundle_for_objs_and_resources
        from bokeh.embed.elements import html_page_for_render_items
        from bokeh.embed.util import (
            OutputDocumentFor,
            standalone_docs_json_and_render_items,
        )

        with quiet_bokeh(), OutputDocumentFor([root], always_new=True) as doc:
            self.docs, items = standalone_docs_json_and_render_items([root])
            bundle = bundle_for_objs_and_resources([doc], _inline())
            # the page with placeholders for the document and the title (the JSON goes in escaped)
            shell = html_page_for_render_items(bundle, {"@@vaearr-docs@@": 0}, items, title=_TITLE)
        self.shell = drop_external_tags(shell)
        if self.shell.count(_DOCS) != 1 or self.shell.count(_TITLE) != 1:
            raise RuntimeError("unexpected Bokeh page template (placeholders not found once)")
        self.objects: dict[str, dict] = {}
        self._index(self.docs)
        self._serializer = Serializer(deferred=False)

    def _index(self, node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "id" in node:
                self.objects.setdefault(node["id"], node)
            for v in node.values():
                self._index(v)
        elif isinstance(node, list):
            for v in node:
                self._index(v)

    def set(self, model, **attributes) -> None:
        """Set ``attributes`` of ``model`` (one of the page's Bokeh models) for the next :meth:`write`."""
        node = self.objects[model.id]
        node.setdefault("attributes", {})
        for name, value in attributes.items():
            node["attributes"][name] = self._serializer.encode(value)

    def write(self, path: str | os.PathLike, title: str) -> Path:
        """The page with its current values as ``path``."""
        from bokeh.core.json_encoder import serialize_json

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        docs = escape(serialize_json(self.docs), quote=False)
        return write_bytes_whole(path, self.shell.replace(_TITLE, escape(title)).replace(_DOCS, docs))


def scatter_grid_html(x: np.ndarray, columns: dict[str, np.ndarray], titles: Sequence[str], label: str, *,
                      cols: int, frame: int):
    """One panel per column (x: ``x``, y: the column), sharing one data source and the x range.

    Returns the grid and, per panel, the models that hold its text: ``(plot, x axis, y axis, hover)``."""
    bk = _bokeh()
    from bokeh.models import ColumnDataSource, HoverTool

    keys = [f"y{i}" for i in range(len(columns))]
    source = ColumnDataSource({"x": x, **{k: np.asarray(v) for k, v in zip(keys, columns.values())}})
    plots, handles, x_range = [], [], None
    for key, ref, title in zip(keys, columns, titles):
        fig = bk.plotting.figure(frame_width=frame, frame_height=frame, title=title, tools=TOOLS, x_axis_label=label,
                                 y_axis_label=ref, **({"x_range": x_range} if x_range is not None else {}))
        x_range = fig.x_range
        r = fig.scatter("x", key, source=source, size=2, alpha=0.5)
        hover = HoverTool(renderers=[r], tooltips=[(label, "@x"), (ref, f"@{key}")])
        fig.add_tools(hover)
        plots.append(fig)
        handles.append((fig, fig.xaxis[0], fig.yaxis[0], hover))
    return bokeh_grid(plots, cols), source, handles


@lru_cache(maxsize=4)
def _scatter_page(n: int, cols: int, frame: int) -> tuple[Page, object, list]:
    cols_ = {f"r{i}": np.zeros(1) for i in range(n)}
    grid, source, handles = scatter_grid_html(np.zeros(1), cols_, list(cols_), "x", cols=cols, frame=frame)
    return Page(grid), source, handles


def scatter_figure(x: np.ndarray, columns: dict[str, np.ndarray], titles: Sequence[str], label: str,
                   stem: str | os.PathLike, *, cols: int = 4, frame: int = 210, figures: FigureOptions = DEFAULT_FIGURES) -> Path:
    """``<stem>.html`` and ``<stem>.png``: one panel per column (y) against ``x``; returns the HTML path."""
    stem = Path(stem)
    cols = max(1, min(cols, len(columns)))
    page, source, handles = _scatter_page(len(columns), cols, frame)
    keys = [f"y{i}" for i in range(len(columns))]
    page.set(source, data={"x": np.asarray(x), **{k: np.asarray(v) for k, v in zip(keys, columns.values())}})
    for key, ref, title, (fig, xaxis, yaxis, hover) in zip(keys, columns, titles, handles):
        page.set(fig.title, text=title)
        page.set(xaxis, axis_label=label)
        page.set(yaxis, axis_label=ref)
        page.set(hover, tooltips=[(label, "@x"), (ref, f"@{key}")])
    html = page.write(stem.with_name(stem.name + ".html"), stem.name)
    save_static(scatter_static(np.asarray(x, float), {k: np.asarray(v, float) for k, v in columns.items()}, titles,
                               label, cols=cols), stem, figures=figures)
    return html


def scatter_static(x: np.ndarray, columns: dict[str, np.ndarray], titles: Sequence[str], label: str, *,
                   cols: int = 4, color: str = "#1f77b4", alpha: float = 0.5) -> Figure:
    """One panel per column (``x`` against it), ``cols`` to a row, as a Matplotlib figure (the dots rasterised
    in SVG/PDF, the axes and text vectors)."""
    cols = max(1, min(cols, len(columns)))
    rows = -(-len(columns) // cols)
    fig = Figure(figsize=(3.0 * cols, 2.9 * rows))
    FigureCanvasAgg(fig)
    for i, ((name, y), title) in enumerate(zip(columns.items(), titles)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=2, color=color, alpha=alpha, linewidths=0, rasterized=True)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel(name, fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


@lru_cache(maxsize=8)
def _maps_page(shapes: tuple, cols: int, frame: int) -> tuple[Page, list]:
    panels = [MapPanel(np.zeros((ny, nx)), x0, y0, dx, dy, "", "value", units=units)
              for ny, nx, x0, y0, dx, dy, units in shapes]
    made = [bokeh_map(p, frame) for p in panels]
    return Page(bokeh_grid([m[0] for m in made], cols)), made


def maps_figure(panels: list[MapPanel], stem: str | os.PathLike, *, cols: int, frame: int, figures: FigureOptions = DEFAULT_FIGURES) -> Path:
    """``<stem>.html`` (the maps in Bokeh, one page built per shape of figure) and ``<stem>.png``;
    returns the HTML path."""
    stem = Path(stem)
    shapes = tuple((*p.z.shape, p.x0, p.y0, p.dx, p.dy, p.units) for p in panels)
    page, made = _maps_page(shapes, cols, frame)
    for p, (fig, source, mapper, bar, hover) in zip(panels, made):
        page.set(fig.title, text=p.title)
        page.set(source, data={"image": [p.z]})
        page.set(mapper, palette=list(palette(p.cmap)), low=p.clim[0], high=p.clim[1], nan_color=p.nan_color)
        page.set(bar, title=p.name)
        page.set(hover, tooltips=[("x", "$x"), ("y", "$y"), (p.name, "@image")])
    html = page.write(stem.with_name(stem.name + ".html"), stem.name)
    save_static(draw_maps([look(p) for p in panels], cols), stem, figures=figures)
    return html


def look(p: MapPanel) -> MapLook:
    """The :class:`~vaearr.viz.static.MapLook` of a panel: the static files draw it as every map."""
    ny, nx = p.z.shape
    label = (lambda a: f"{a} ({p.units})" if p.units else a)
    return MapLook(p.z, (p.x0, p.x0 + nx * p.dx, p.y0 + ny * p.dy, p.y0), p.cmap, p.clim, p.nan_color, p.title,
                   label("x"), label("y"), p.name, MapDecor(p.units))


def forget_pages() -> None:
    """Drop the pages kept for reuse (they hold the last figure's data)."""
    _maps_page.cache_clear()
    _scatter_page.cache_clear()


__all__ = ["MapPanel", "Page", "bokeh_grid", "bokeh_map", "forget_pages", "look", "map_panel", "maps_figure", "palette",
           "scatter_figure", "scatter_grid_html", "scatter_static", "write_html"]
