"""Pieces of ``vaearr report``'s page: embedded PNGs, HTML tables, downsampled maps, linked map axes.

A report is a list of :class:`Section`; each holds blocks that are either HTML text or a
:class:`Fig` (a HoloViews object drawn with Bokeh). :func:`vaearr.viz.report.write_page` turns
them into one page with a single inline BokehJS bundle.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from vaearr.viz.static import draw_maps, look_of

#: Longest side of a map drawn in the report, in pixels (bigger maps are subsampled by a stride).
MAX_MAP_SIDE = 300
#: Maps per tab when a variable has many (latent dims, components).
PER_PAGE = 8


@dataclass
class Fig:
    """A HoloViews object to draw with Bokeh; ``linked``: a map of the store's (y, x) grid (shared zoom/pan)."""

    obj: Any
    linked: bool = False
    tabs: list[tuple[str, Any]] | None = None  # (title, object) pages, drawn as Bokeh tabs


@dataclass
class Section:
    """One part of the page: an anchor id, a heading and its blocks (HTML text or :class:`Fig`)."""

    id: str
    title: str
    blocks: list[Any] = field(default_factory=list)

    def html(self, text: str) -> None:
        self.blocks.append(text)

    def fig(self, obj: Any, *, linked: bool = False) -> None:
        self.blocks.append(Fig(obj, linked=linked))

    def tabs(self, pages: list[tuple[str, Any]], *, linked: bool = False) -> None:
        if len(pages) == 1:
            self.fig(pages[0][1], linked=linked)
        elif pages:
            self.blocks.append(Fig(None, linked=linked, tabs=pages))

    @property
    def figures(self) -> int:
        """How many blocks draw something (Bokeh figures and embedded images)."""
        return sum(1 for b in self.blocks if isinstance(b, Fig) or (isinstance(b, str) and "<img " in b))


def esc(value: Any) -> str:
    return html.escape(str(value))


#: Resolution of the pictures the report embeds: a screen's (the files beside it keep ``--dpi``, 300 by default).
REPORT_DPI = 90


def png_uri(source: Figure | str | Path | bytes) -> str:
    """A ``data:image/png;base64,...`` URI of a Matplotlib figure, a PNG file or PNG bytes, at :data:`REPORT_DPI`
    (a PNG written at more, for print, is scaled down: the page stays light)."""
    if isinstance(source, Figure):
        buf = io.BytesIO()
        FigureCanvasAgg(source)
        source.savefig(buf, format="png", dpi=REPORT_DPI, bbox_inches="tight", facecolor="white")
        data = buf.getvalue()
    else:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        picture = Image.open(io.BytesIO(data))
        dpi = float(picture.info.get("dpi", (REPORT_DPI, REPORT_DPI))[0])
        if dpi > 1.2 * REPORT_DPI:
            size = tuple(max(1, round(v * REPORT_DPI / dpi)) for v in picture.size)
            buf = io.BytesIO()
            picture.resize(size, Image.Resampling.LANCZOS).save(buf, format="PNG", dpi=(REPORT_DPI, REPORT_DPI))
            data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def img(source: Figure | str | Path | bytes, alt: str, *, width: int | None = None) -> str:
    style = f' style="max-width:{width}px"' if width else ""
    return f'<figure><img src="{png_uri(source)}" alt="{esc(alt)}"{style}><figcaption>{esc(alt)}</figcaption></figure>'


def fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        v = float(v)
        if not math.isfinite(v):
            return "—"
        return f"{v:.4g}"
    return str(v)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, sortable: bool = False, id: str | None = None,
          caption: str | None = None, scroll: bool = False) -> str:
    """An HTML table; ``sortable``: a click on a header sorts by that column (numbers as numbers)."""
    cls = ' class="sortable"' if sortable else ""
    ident = f' id="{esc(id)}"' if id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(
            f'<td data-v="{float(c)!r}">{esc(fmt(c))}</td>' if isinstance(c, int | float | np.number) and not isinstance(c, bool)
            else f"<td>{esc(fmt(c))}</td>" for c in row) + "</tr>"
        for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    out = f"<table{ident}{cls}>{cap}<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"
    return f'<div class="scroll">{out}</div>' if scroll else out


def definitions(items: dict[str, Any]) -> str:
    """A two-column table of names and values."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v))}</td></tr>" for k, v in items.items())
    return f'<table class="defs"><tbody>{rows}</tbody></table>'


def stride_of(ds: xr.Dataset) -> int:
    """The subsampling stride that brings the (y, x) grid to at most :data:`MAX_MAP_SIDE` a side."""
    if "y" not in ds.sizes or "x" not in ds.sizes:
        return 1
    return max(1, math.ceil(max(ds.sizes["y"], ds.sizes["x"]) / MAX_MAP_SIDE))


def small(da: xr.DataArray, stride: int) -> xr.DataArray:
    """Every ``stride``-th pixel along y and x, loaded (labels stay labels: no averaging)."""
    if stride > 1:
        da = da.isel(y=slice(None, None, stride), x=slice(None, None, stride))
    return da.load()


def categorical_colors(n: int) -> list[str]:
    """``n`` distinct colours (tab10, tab20, then a cycle)."""
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    k = 10 if n <= 10 else 20
    return ["#%02x%02x%02x" % tuple(int(255 * c) for c in cmap(i % k)[:3]) for i in range(max(n, 1))]


def image_rows(rows: list[tuple[str, np.ndarray]], *, title: str = "", clim: tuple[float, float] | None = None) -> Figure:
    """A grid of grey images, one row per ``(label, images)`` (images: ``(n, H, W)``)."""
    n = max(len(imgs) for _, imgs in rows)
    fig = Figure(figsize=(1.3 * n + 0.8, 1.4 * len(rows) + (0.4 if title else 0)))
    FigureCanvasAgg(fig)
    for r, (label, imgs) in enumerate(rows):
        for c, im in enumerate(imgs):
            ax = fig.add_subplot(len(rows), n, r * n + c + 1)
            lo, hi = clim if clim else (np.nanmin(im), np.nanmax(im))
            ax.imshow(im, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def maps_png(panels: list[tuple[str, xr.DataArray, str]], *, cols: int = 4) -> Figure:
    """Maps ``(title, (y, x) DataArray, cmap)`` as one Matplotlib figure, drawn as every static map is
    (:func:`~vaearr.viz.static.draw_maps`: axes in µm, colour bar, scale bar): for maps that need no zoom, so the
    page keeps few live Bokeh plots."""
    return draw_maps([look_of(da, title=title, cmap=cmap) for title, da, cmap in panels], cols)


def link_ranges(models: list[Any]) -> None:
    """Give every Bokeh plot in ``models`` the x and y ranges of the first one (shared zoom and pan)."""
    from bokeh.models import Plot

    plots = [p for m in models for p in m.select({"type": Plot})]
    if len(plots) < 2:
        return
    xr_, yr_ = plots[0].x_range, plots[0].y_range
    for p in plots[1:]:
        p.x_range, p.y_range = xr_, yr_


__all__ = ["MAX_MAP_SIDE", "PER_PAGE", "Fig", "Section", "categorical_colors", "definitions", "esc", "fmt",
           "image_rows", "img", "link_ranges", "maps_png", "png_uri", "small", "stride_of", "table"]
