"""Full resolution on zoom for the report's maps: PNG tiles beside the page, drawn once a map is zoomed past its overview.

A report draws a large map every ``s``-th pixel (:func:`~vaearr.viz.report_media.small`), so the page
stays light and opens in seconds. Beside the page, :class:`Tiles` writes the whole map, coloured as
the overview is, in tiles of :data:`TILE` × :data:`TILE` pixels (``tiles/<map>/<row>_<col>.js``);
each overview gets an image layer that stays empty until the view is zoomed in so far that one of
the map's pixels covers a screen pixel or more, and then shows the tiles in view (the browser loads
only those). Each tile is a PNG wrapped in a one-line script (``<row>_<col>.js``: its data URL): a
page opened from disk may load a script beside it, where an image would be refused to the canvas by
the browser's cross-origin rule for ``file://``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import xarray as xr
from PIL import Image

from vaearr.viz.core import holoviews
from vaearr.viz.static import NEUTRAL, categories, label_kind

#: Side of a tile, in map pixels.
TILE = 256
#: Name of the tiles' renderer in a figure (and what :func:`attach` looks for).
NAME = "vaearr-zoom-tiles"

ZOOM_JS = """
const cache = (window.vaearrTiles = window.vaearrTiles || {});
const asked = (window.vaearrAsked = window.vaearrAsked || {});
function update() {
  const xs = fig.x_range, ys = fig.y_range;
  const x0 = Math.min(xs.start, xs.end), x1 = Math.max(xs.start, xs.end);
  const y0 = Math.min(ys.start, ys.end), y1 = Math.max(ys.start, ys.end);
  const width = fig.inner_width || fig.frame_width || 300;
  const d = {url: [], x: [], y: [], w: [], h: []};
  if ((x1 - x0) / width <= meta.limit) {
    for (const t of meta.tiles) {
      if (!(t[1] < x1 && t[1] + t[3] > x0 && t[2] < y1 && t[2] + t[4] > y0)) { continue; }
      if (t[0] in cache) {
        d.url.push(cache[t[0]]); d.x.push(t[1]); d.y.push(t[2]); d.w.push(t[3]); d.h.push(t[4]);
      } else if (!(t[0] in asked)) {  // a script beside the page: a page opened from disk may load those
        asked[t[0]] = true;
        const s = document.createElement("script");
        s.src = meta.root + t[0] + ".js";
        s.onload = update;
        document.head.appendChild(s);
      }
    }
  }
  if (d.url.join() !== src.data.url.join()) { src.data = d; }
}
update();
"""


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "_"


def colours(values: np.ndarray, *, cmap: Any, clim: tuple[float, float], nan_color: str) -> np.ndarray:
    """``values (y, x)`` as RGBA uint8 through ``cmap`` (a Matplotlib name or a list of colours) over ``clim``;
    NaN in ``nan_color`` (``"transparent"``: alpha 0)."""
    cm = matplotlib.colormaps[cmap] if isinstance(cmap, str) else matplotlib.colors.ListedColormap(list(cmap))
    lo, hi = (float(v) for v in clim)
    z = (np.asarray(values, np.float64) - lo) / (hi - lo if hi != lo else 1.0)
    rgba = cm(np.clip(z, 0, 1), bytes=True)
    nan = ~np.isfinite(values)
    if nan.any():
        rgba[nan] = (0, 0, 0, 0) if nan_color == "transparent" else \
            np.round(np.asarray(matplotlib.colors.to_rgba(nan_color)) * 255).astype(np.uint8)
    return rgba


@dataclass
class Tiles:
    """Writes tiles for a page in ``folder`` (the report's): into ``tiles.new/`` first, which :meth:`publish`
    renames to ``tiles/`` once the page is written (a report stopped on the way leaves the old page's)."""

    folder: Path
    written: int = 0
    bytes: int = 0
    maps: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def write(self, name: str, rgba: np.ndarray, da: xr.DataArray) -> dict[str, Any] | None:
        """Tiles of ``rgba (y, x, 4)``, the colours of ``da`` (its coordinates place them); the layer's
        description, or None where the map's coordinates are not a regular increasing grid."""
        ydim, xdim = (str(d) for d in da.dims[:2])
        xs = np.asarray(da[xdim].values, float) if xdim in da.coords else np.arange(rgba.shape[1], dtype=float)
        ys = np.asarray(da[ydim].values, float) if ydim in da.coords else np.arange(rgba.shape[0], dtype=float)
        if len(xs) < 2 or len(ys) < 2:
            return None
        dx, dy = float(np.diff(xs)[0]), float(np.diff(ys)[0])
        if dx <= 0 or dy <= 0 or not (np.allclose(np.diff(xs), dx) and np.allclose(np.diff(ys), dy)):
            return None
        key = _key(name)
        if key in self.maps:
            return self.maps[key]
        out = self.folder / "tiles.new" / key
        out.mkdir(parents=True, exist_ok=True)
        tiles = []
        for r in range(0, rgba.shape[0], TILE):
            for c in range(0, rgba.shape[1], TILE):
                part = rgba[r:r + TILE, c:c + TILE]
                tile = f"{key}/{r // TILE}_{c // TILE}"
                png = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(part), "RGBA").save(png, "PNG", compress_level=3)
                uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
                path = out / f"{r // TILE}_{c // TILE}.js"
                path.write_text(f"(window.vaearrTiles = window.vaearrTiles || {{}})[{json.dumps(tile)}] = "
                                f"{json.dumps(uri)};\n")
                self.written += 1
                self.bytes += path.stat().st_size
                tiles.append([tile, xs[c] - dx / 2, ys[r] - dy / 2, part.shape[1] * dx, part.shape[0] * dy])
        self.maps[key] = {"root": "tiles/", "limit": min(dx, dy), "tiles": tiles}
        return self.maps[key]

    def hook(self, name: str, rgba: np.ndarray | None, da: xr.DataArray):
        """A HoloViews Bokeh hook adding the tiles' (empty) layer to the map's figure (None: no tiles);
        ``rgba`` None: the tiles of ``name`` written before."""
        meta = self.maps.get(_key(name)) if rgba is None else self.write(name, rgba, da)
        if meta is None:
            return None

        def add(plot: Any, element: Any) -> None:
            from bokeh.models import ColumnDataSource

            fig = plot.state
            if any(getattr(r, "name", None) == NAME for r in fig.renderers):
                return
            src = ColumnDataSource({"url": [], "x": [], "y": [], "w": [], "h": []})
            r = fig.image_url(url="url", x="x", y="y", w="w", h="h", anchor="top_left", source=src)
            r.name, r.tags = NAME, [json.dumps(meta)]

        return add


def map_hook(tiles: Tiles | None, name: str, full: xr.DataArray, overview: xr.DataArray, *, cmap: Any = "viridis",
             clim: tuple[float | None, float | None] | None = None, nan_color: str = "lightgray",
             categorical: bool | None = None):
    """The tiles hook of a map drawn by :func:`~vaearr.viz.maps.image_map` from ``overview`` (every s-th pixel
    of ``full``), coloured as it is; None without ``tiles`` or where the overview's colours cannot be matched
    (a label map whose overview misses labels the full map has: its colours would shift)."""
    if tiles is None:
        return None
    if _key(name) in tiles.maps:
        return tiles.hook(name, None, full)
    full = full.transpose(*overview.dims)
    kind = label_kind(full) if categorical is None else ("mask" if full.dtype == bool else "labels") if categorical else None
    if kind is not None:
        codes, cats = categories(full, kind)
        if cats.values != categories(overview, kind)[1].values:
            return None
        rgba = colours(codes, cmap=list(cats.colors), clim=(-0.5, len(cats.values) - 0.5), nan_color=NEUTRAL)
    else:
        small = np.asarray(overview.values, np.float64)
        finite = small[np.isfinite(small)]
        lo, hi = clim if clim is not None else (None, None)
        lo = float(finite.min()) if lo is None and finite.size else (0.0 if lo is None else lo)
        hi = float(finite.max()) if hi is None and finite.size else (1.0 if hi is None else hi)
        rgba = colours(np.asarray(full.values, np.float64), cmap=cmap, clim=(lo, hi), nan_color=nan_color)
    return tiles.hook(name, rgba, full)


def rgb_hook(tiles: Tiles | None, name: str, rgb: xr.DataArray):
    """The tiles hook of an RGB map (``(y, x, 3)`` in 0..1, NaN drawn light grey as the overview draws it)."""
    if tiles is None:
        return None
    if _key(name) in tiles.maps:
        return tiles.hook(name, None, rgb)
    v = np.asarray(rgb.values, np.float64)
    v = np.where(np.isfinite(v), v, 0.85)
    rgba = np.concatenate([np.round(np.clip(v, 0, 1) * 255).astype(np.uint8),
                           np.full(v.shape[:2] + (1,), 255, np.uint8)], -1)
    return tiles.hook(name, rgba, rgb)


def publish(tiles: Tiles) -> None:
    """Put the tiles written for the new page in place of the old page's."""
    new, old = tiles.folder / "tiles.new", tiles.folder / "tiles"
    if new.is_dir():
        shutil.rmtree(old, ignore_errors=True)
        new.rename(old)


def with_hook(element: Any, hook: Any) -> Any:
    """``element`` with ``hook`` after its own Bokeh hooks (None: as it is)."""
    if hook is None:
        return element
    hv = holoviews()
    given = hv.Store.lookup_options("bokeh", element, "plot").kwargs.get("hooks", []) or []
    return element.opts(hooks=[*given, hook], backend="bokeh")


def attach(models: list[Any]) -> int:
    """After the page's ranges are linked: each tiles layer follows its figure's ranges. Returns the layers."""
    from bokeh.models import CustomJS, Plot

    n = 0
    for m in models:
        for plot in m.select({"type": Plot}):
            for r in plot.renderers:
                if getattr(r, "name", None) != NAME or not r.tags:
                    continue
                cb = CustomJS(args=dict(fig=plot, src=r.data_source, meta=json.loads(r.tags[0])), code=ZOOM_JS)
                for rng in (plot.x_range, plot.y_range):
                    rng.js_on_change("start", cb)
                    rng.js_on_change("end", cb)
                n += 1
    return n
