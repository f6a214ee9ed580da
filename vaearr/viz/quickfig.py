"""Many small figures, fast: map grids and scatter grids drawn straight with Bokeh and Pillow.

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
* PNG: Pillow. The maps are colour-mapped arrays pasted at integer positions, the scatters dots
  composited with numpy; frames, ticks (Matplotlib's tick locator), labels and titles drawn in
  Matplotlib's font (DejaVu Sans); no layout pass.

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
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont

from vaearr.errors import require
from vaearr.viz.core import DPI, drop_external_tags, quiet_bokeh
from vaearr.viz.static import MapDecor, MapLook, axis_units, draw_maps, save_static

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
              name: str | None = None) -> MapPanel | None:
    """A :class:`MapPanel` of a ``(y, x)`` DataArray, colour range its finite values (as
    :func:`~vaearr.viz.maps.image_map`); None when a coordinate is not evenly spaced (no image glyph for that)."""
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
    clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    units = axis_units(da, "x") if axis_units(da, "x") == axis_units(da, "y") else None
    return MapPanel(np.ascontiguousarray(z), float(xs[0] - dx / 2), float(ys[0] - dy / 2), dx or 1.0, dy or 1.0,
                    title, name if name is not None else str(da.name or "value"), cmap, nan_color, clim, units)


@lru_cache(maxsize=16)
def palette(cmap: str, n: int = 256) -> tuple[str, ...]:
    """``n`` hex colours of a Matplotlib colour map."""
    cm = matplotlib.colormaps[cmap]
    return tuple(to_hex(c) for c in cm(np.linspace(0, 1, n)))


# --------------------------------------------------------------------------------------------
# HTML (Bokeh)


def _bokeh():
    require("bokeh", "viz")
    import bokeh.layouts
    import bokeh.models
    import bokeh.plotting

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
    path.write_text(drop_external_tags(html), encoding="utf-8")
    return path


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
        path.write_text(self.shell.replace(_TITLE, escape(title)).replace(_DOCS, docs), encoding="utf-8")
        return path


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
                   stem: str | os.PathLike, *, cols: int = 4, frame: int = 210) -> Path:
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
                               label, cols=cols), stem)
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
        ax.scatter(x[ok], y[ok], s=2, c=color, alpha=alpha, linewidths=0, rasterized=True)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel(name, fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# PNG (Pillow: colour-mapped arrays pasted, axes and text drawn straight onto the image)

#: Font sizes in pixels at :data:`~vaearr.viz.core.DPI` (10, 9 and 8 pt).
_TITLE_PX, _LABEL_PX, _TICK_PX = round(10 * DPI / 72), round(9 * DPI / 72), round(8 * DPI / 72)


@lru_cache(maxsize=8)
def _font(size: int):
    # Matplotlib's own font (DejaVu Sans), so the PNGs read like the other figures
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values inside ``[lo, hi]`` (Matplotlib's locator)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return [lo]
    return [float(t) for t in MaxNLocator(n, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo - 1e-9 * (hi - lo) <= t <= hi + 1e-9 * (hi - lo)]


def tick_labels(values: Sequence[float]) -> list[str]:
    """Labels with as many decimals as the step between ticks needs."""
    if len(values) < 2:
        return [f"{v:.4g}" for v in values]
    step = min(abs(b - a) for a, b in zip(values, values[1:])) or 1.0
    decimals = max(0, -int(np.floor(np.log10(step) + 1e-9)))
    if decimals and abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6:
        decimals += 1  # 0.25, 2.5
    return [f"{v:.{decimals}f}".replace("-", "−") if abs(v) > 1e-12 else f"{0:.{decimals}f}" for v in values]


class Canvas:
    """A white RGB image, in pixels, to draw panels on."""

    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (int(width), int(height)), "white")
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy: tuple[float, float], text: str, size: int, anchor: str = "la", rotate: bool = False) -> None:
        """``text`` at ``xy`` (Pillow anchors: ``ma`` middle-top, ``rm`` right-middle...), turned 90° when ``rotate``."""
        if not rotate:
            self.draw.text(xy, text, fill="black", font=_font(size), anchor=anchor)
            return
        font = _font(size)
        l, t, r, b = font.getbbox(text)
        tile = Image.new("L", (r - l + 2, b - t + 2), 0)
        ImageDraw.Draw(tile).text((1 - l, 1 - t), text, fill=255, font=font)
        tile = tile.rotate(90, expand=True)
        x, y = xy  # centre of the turned text
        self.image.paste("black", (int(x - tile.width / 2), int(y - tile.height / 2)), tile)

    def axes(self, box: tuple[int, int, int, int], xlim: tuple[float, float], ylim: tuple[float, float], *,
             title: str = "", xlabel: str = "", ylabel: str = "", right_ticks: bool = False,
             y_down: bool = False, xticks: bool = True) -> None:
        """A frame around ``box`` (left, top, right, bottom in pixels) with ticks, tick labels, labels and title;
        ``ylim`` runs upward (downward with ``y_down``)."""
        l, t, r, b = box
        d = self.draw
        d.rectangle((l - 1, t - 1, r, b), outline="black", width=1)
        x0, x1 = xlim
        y0, y1 = ylim
        if xticks:
            xs = ticks(x0, x1)
            for v, s in zip(xs, tick_labels(xs)):
                px = l + (v - x0) / ((x1 - x0) or 1) * (r - l)
                d.line((px, b, px, b + 4), fill="black")
                self.text((px, b + 6), s, _TICK_PX, "ma")
        ys = ticks(min(y0, y1), max(y0, y1))
        width = 0
        for v, s in zip(ys, tick_labels(ys)):
            frac = (v - y0) / ((y1 - y0) or 1)
            py = t + frac * (b - t) if y_down else b - frac * (b - t)
            if right_ticks:
                d.line((r, py, r + 4, py), fill="black")
                self.text((r + 6, py), s, _TICK_PX, "lm")
            else:
                d.line((l - 5, py, l - 1, py), fill="black")
                self.text((l - 7, py), s, _TICK_PX, "rm")
            width = max(width, _font(_TICK_PX).getlength(s))
        if title:
            self.text(((l + r) / 2, t - 6), title, _TITLE_PX, "md")
        if xlabel:
            self.text(((l + r) / 2, b + 8 + _TICK_PX), xlabel, _LABEL_PX, "ma")
        if ylabel:
            x = r + 10 + width + _LABEL_PX / 2 if right_ticks else l - 10 - width - _LABEL_PX / 2
            self.text((x, (t + b) / 2), ylabel, _LABEL_PX, rotate=True)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.image.save(path, dpi=(DPI, DPI), compress_level=3)
        return path


def rgba(p: MapPanel) -> np.ndarray:
    """The map coloured as drawn (uint8 RGB): colour map over its colour range, NaN in its NaN colour."""
    lut = (np.asarray(matplotlib.colormaps[p.cmap](np.linspace(0, 1, 256)))[:, :3] * 255).round().astype(np.uint8)
    lo, hi = p.clim
    scaled = (np.nan_to_num(p.z, nan=lo) - lo) / (hi - lo if hi > lo else 1.0)
    out = lut[np.clip((scaled * 255).round(), 0, 255).astype(np.intp)]
    out[~np.isfinite(p.z)] = (np.asarray(to_rgba(p.nan_color)[:3]) * 255).round().astype(np.uint8)
    return out


#: Pixels around each map in the PNG: left (y ticks and label), top (title), bottom (x ticks and label), and right
#: of the map: gap, colour bar, its ticks and label.
_LEFT, _TOP, _BOTTOM, _GAP, _BAR, _BAR_TEXT = 62, 30, 50, 12, 14, 80


def maps_png(panels: list[MapPanel], path: str | os.PathLike, *, cols: int = 4, width: int = 290) -> Path:
    """The maps, ``cols`` to a row, each ``width`` pixels wide (equal aspect, y downward) with its title,
    axes and colour bar, as one PNG."""
    cols = max(1, min(cols, len(panels)))
    rows = -(-len(panels) // cols)
    ih = int(min(max(width / p.aspect for p in panels), 3 * width))
    cell_w, cell_h = _LEFT + width + _GAP + _BAR + _BAR_TEXT, _TOP + ih + _BOTTOM
    canvas = Canvas(cell_w * cols, cell_h * rows)
    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        w, h = (width, round(width / p.aspect)) if width / p.aspect <= ih else (round(ih * p.aspect), ih)
        w, h = max(w, 1), max(h, 1)
        left, top = c * cell_w + _LEFT, r * cell_h + _TOP
        canvas.image.paste(Image.fromarray(rgba(p)).resize((w, h), Image.NEAREST), (left, top))
        ny, nx = p.z.shape
        canvas.axes((left, top, left + w, top + h), (p.x0, p.x0 + nx * p.dx), (p.y0, p.y0 + ny * p.dy),
                    title=p.title, xlabel="x", ylabel="y", y_down=True)
        bl = left + w + _GAP
        bar = MapPanel(np.linspace(p.clim[1], p.clim[0], max(h, 2))[:, None], 0, 0, 1, 1, "", "", p.cmap,
                       p.nan_color, p.clim)
        canvas.image.paste(Image.fromarray(rgba(bar)).resize((_BAR, h), Image.NEAREST), (bl, top))
        canvas.axes((bl, top, bl + _BAR, top + h), (0, 1), p.clim, ylabel=p.name, right_ticks=True, xticks=False)
    return canvas.save(path)


def scatter_png(x: np.ndarray, columns: dict[str, np.ndarray], titles: Sequence[str], label: str,
                path: str | os.PathLike, *, cols: int = 4, size: int = 300, color: str = "#1f77b4",
                alpha: float = 0.5) -> Path:
    """One panel per column (``x`` against it), ``cols`` to a row: dots of ``alpha`` composited as
    Matplotlib draws them (``k`` dots on a pixel: ``1 − (1 − alpha)^k`` of the colour)."""
    cols = max(1, min(cols, len(columns)))
    rows = -(-len(columns) // cols)
    left, top, right, bottom = 78, 30, 18, 52
    cell_w, cell_h = left + size + right, top + size + bottom
    canvas = Canvas(cell_w * cols, cell_h * rows)
    rgb = np.asarray(to_rgba(color)[:3]) * 255
    ok_x = np.isfinite(x)
    xlo, xhi = _padded(x[ok_x])
    for i, ((name, y), title) in enumerate(zip(columns.items(), titles)):
        r, c = divmod(i, cols)
        l, t = c * cell_w + left, r * cell_h + top
        ok = ok_x & np.isfinite(y)
        ylo, yhi = _padded(y[ok])
        px = np.clip(((x[ok] - xlo) / (xhi - xlo) * (size - 2)).astype(np.intp), 0, size - 2)
        py = np.clip(((yhi - y[ok]) / (yhi - ylo) * (size - 2)).astype(np.intp), 0, size - 2)
        hits = np.zeros((size, size), np.int32)
        for dy in (0, 1):  # each dot 2 × 2 pixels (s=2 at 120 dpi)
            for dx in (0, 1):
                np.add.at(hits, (py + dy, px + dx), 1)
        cover = 1.0 - (1.0 - alpha) ** hits[..., None]
        tile = (255 * (1 - cover) + rgb * cover).round().astype(np.uint8)
        canvas.image.paste(Image.fromarray(tile), (l, t))
        canvas.axes((l, t, l + size, t + size), (xlo, xhi), (ylo, yhi), title=title, xlabel=label, ylabel=name)
    return canvas.save(path)


def _padded(v: np.ndarray) -> tuple[float, float]:
    """The data range with 5 % margins (as Matplotlib's autoscale)."""
    if not v.size:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


@lru_cache(maxsize=8)
def _maps_page(shapes: tuple, cols: int, frame: int) -> tuple[Page, list]:
    panels = [MapPanel(np.zeros((ny, nx)), x0, y0, dx, dy, "", "value", units=units)
              for ny, nx, x0, y0, dx, dy, units in shapes]
    made = [bokeh_map(p, frame) for p in panels]
    return Page(bokeh_grid([m[0] for m in made], cols)), made


def maps_figure(panels: list[MapPanel], stem: str | os.PathLike, *, cols: int, frame: int) -> Path:
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
    save_static(draw_maps([look(p) for p in panels], cols), stem)
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


__all__ = ["Canvas", "MapPanel", "Page", "bokeh_grid", "bokeh_map", "forget_pages", "map_panel", "maps_figure",
           "maps_png", "palette", "rgba", "scatter_figure", "scatter_grid_html", "scatter_png", "tick_labels", "ticks",
           "write_html"]
