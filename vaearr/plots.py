"""Figures people look at: scan maps, histograms and map grids, saved as offline HTML and PNG.

Every figure is a HoloViews object with options for both plotting backends, so one object gives
an interactive Bokeh page (:func:`save_figure` writes it with BokehJS inlined, no CDN, so it opens
on a machine with no network) and a static PNG drawn by Matplotlib (no browser needed).

Maps follow the convention of scan maps: ``x`` to the right, ``y`` downward (the first scan row
at the top), equal aspect, a colourbar, and NaN pixels (outside a mask, no data) in a neutral
colour. HoloViews and Bokeh are imported inside the functions: they come with the ``viz`` extra.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import require

#: Width of a map's frame in the HTML figure, in screen pixels.
FRAME_WIDTH = 420
#: Longest side of one map in the PNG figure, in inches.
FIG_INCHES = 5.0
#: Resolution of the PNG figures.
DPI = 120


def _use_agg() -> None:
    # PNGs are drawn off-screen; Agg needs no display. A session that chose a backend already
    # (a notebook's inline backend, MPLBACKEND) keeps it: savefig renders PNG with Agg anyway.
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


def _hv():
    """HoloViews with both backends loaded (options can be set for each)."""
    _use_agg()
    hv = require("holoviews", "viz")
    require("bokeh", "viz")
    # importing a backend registers its options; the first one imported becomes current
    import holoviews.plotting.bokeh  # noqa: F401
    import holoviews.plotting.mpl  # noqa: F401

    return hv


def _both(obj, common: dict | None = None, *, bokeh: dict | None = None, mpl: dict | None = None):
    """Set ``common`` options on both backends plus backend-specific ones."""
    common = common or {}
    obj = obj.opts(backend="bokeh", **{**common, **(bokeh or {})})
    return obj.opts(backend="matplotlib", **{**common, **(mpl or {})})


# --------------------------------------------------------------------------------------------
# saving


def save_figure(obj: Any, path_stem: str | os.PathLike) -> tuple[Path, Path]:
    """Save a HoloViews (or hvPlot) object as ``<stem>.html`` and ``<stem>.png``.

    The HTML is a standalone Bokeh document with BokehJS inlined
    (:data:`bokeh.resources.INLINE`): it opens offline, with pan, zoom and hover. The PNG is
    drawn by HoloViews' Matplotlib backend, so no browser is needed.

    Parameters
    ----------
    obj
        An element, overlay or layout, e.g. from :func:`image_map`, :func:`histogram`,
        :func:`map_grid` or ``da.hvplot.image()``.
    path_stem
        Path without suffix (a ``.html``/``.png`` suffix is dropped). Missing parent folders
        are created.

    Returns
    -------
    tuple of Path
        The HTML and PNG paths.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> da = xr.DataArray(np.random.rand(4, 6), dims=("y", "x"), name="bc")
    >>> html, png = save_figure(image_map(da), os.path.join(tempfile.mkdtemp(), "bc"))
    >>> html.name, png.name
    ('bc.html', 'bc.png')
    """
    hv = _hv()
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    stem = Path(path_stem)
    if stem.suffix.lower() in (".html", ".png"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    html_path = stem.with_name(stem.name + ".html")
    png_path = stem.with_name(stem.name + ".png")

    title = _title_of(obj) or stem.name
    model = hv.render(obj, backend="bokeh")
    with _quiet_bokeh():
        html = file_html(model, INLINE, title=title)
    html_path.write_text(_drop_external_tags(html), encoding="utf-8")

    fig = _maps_png_figure(obj)
    if fig is None:
        fig = hv.render(obj, backend="matplotlib")
    # savefig draws through Agg for PNG whatever the session's backend; HoloViews has
    # already closed the figure in pyplot (and ours never entered it), so nothing accumulates
    fig.savefig(png_path, dpi=DPI, bbox_inches="tight", facecolor="white")
    return html_path, png_path


def _maps_png_figure(obj: Any):
    """The PNG of a map or a layout of maps (``hv.Image``), drawn with Matplotlib directly.

    HoloViews' Matplotlib backend spends about a second per panel laying out text; maps are
    the most common figure here (grids of latent dims, top-N maps), so they are drawn straight
    from the same element options (cmap, clim, NaN colour, colourbar, title, y downward).
    Anything else returns None and goes through HoloViews.
    """
    hv = _hv()
    if isinstance(obj, hv.Image):
        panels, cols = [obj], 1
    elif type(obj) is hv.Layout and len(obj) and all(type(e) is hv.Image for e in obj):
        panels = list(obj)
        cols = min(len(panels), getattr(obj, "_max_cols", None) or 4)
    else:
        return None
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    looks = []
    for el in panels:
        data = el.data
        if not isinstance(data, np.ndarray) or data.ndim != 2:
            return None
        plot = hv.Store.lookup_options("matplotlib", el, "plot").kwargs
        style = hv.Store.lookup_options("matplotlib", el, "style").kwargs
        looks.append((el, data, plot, style))
    rows = -(-len(panels) // cols)
    w, h = looks[0][2].get("fig_inches", (FIG_INCHES + 1.2, FIG_INCHES))
    scale = 1.0 if len(panels) == 1 else 0.6  # small multiples, as HoloViews draws layouts
    fig = Figure(figsize=(float(w) * scale * cols, float(h) * scale * rows + 0.3 * rows))
    FigureCanvasAgg(fig)
    for i, (el, data, plot, style) in enumerate(looks):
        ax = fig.add_subplot(rows, cols, i + 1)
        cmap = style.get("cmap", "viridis")
        cmap = ListedColormap(list(cmap)) if isinstance(cmap, (list, tuple)) else matplotlib.colormaps[cmap].copy()
        cmap = cmap.with_extremes(bad=plot.get("clipping_colors", {}).get("NaN", "lightgray"))
        l, b, r, t = el.bounds.lbrt()
        lo, hi = plot.get("clim", (None, None))
        # hv.Image holds its first row at the top (largest y); y downward flips it back
        invert = plot.get("invert_yaxis", False)
        img = ax.imshow(np.ma.masked_invalid(np.asarray(data, dtype=float)[::-1] if invert else data),
                        origin="upper", extent=(l, r, t, b) if invert else (l, r, b, t), cmap=cmap,
                        vmin=lo, vmax=hi, interpolation="nearest", aspect="equal")
        ax.set_title(str(plot.get("title", el.label or "")), fontsize=10 if scale < 1 else 12)
        if plot.get("xaxis", True) is None or plot.get("yaxis", True) is None:
            ax.set_axis_off()
        else:
            ax.set_xlabel(el.kdims[0].pprint_label)
            ax.set_ylabel(el.kdims[1].pprint_label)
        if plot.get("colorbar", False):
            cb = fig.colorbar(img, ax=ax, fraction=0.046, pad=0.04)
            cb.set_label(el.vdims[0].pprint_label)
    fig.tight_layout()
    return fig


@contextlib.contextmanager
def _quiet_bokeh():
    # HoloViews sizes plots by frame_width/frame_height, which Bokeh's validator reports as
    # "fixed sizing mode requires width and height" although the layout is fine
    from bokeh.core.validation.check import is_silenced, silenced
    from bokeh.core.validation.warnings import FIXED_SIZING_MODE

    if is_silenced(FIXED_SIZING_MODE):
        yield
        return
    with silenced(FIXED_SIZING_MODE):
        yield


_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"[^\"]*\"[^>]*>\s*</script>\s*", re.I)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\brel=\"stylesheet\"[^>]*>\s*", re.I)


def _drop_external_tags(html: str) -> str:
    # BokehJS and the bundles of any extension the figure uses are inlined by INLINE. Other
    # packages that register Bokeh models on import (Panel, pulled in by HoloViews) add
    # <script src> tags for their own, unused, files: offline they only fail to load.
    return _EXTERNAL_LINK.sub("", _EXTERNAL_SCRIPT.sub("", html))


def _title_of(obj: Any) -> str:
    try:
        opts = obj.opts.get().kwargs
    except Exception:  # layouts and some containers have no single options set
        return ""
    title = opts.get("title")
    return title if isinstance(title, str) and "{" not in title else ""


# --------------------------------------------------------------------------------------------
# maps


def _regular(v: np.ndarray) -> bool:
    if v.size < 3:
        return True
    d = np.diff(v)
    return bool(np.allclose(d, d[0], rtol=1e-3, atol=0))


def image_map(
    da: xr.DataArray,
    *,
    title: str | None = None,
    cmap: str | Sequence[str] = "viridis",
    nan_color: str = "lightgray",
    clim: tuple[float | None, float | None] | None = None,
    x: str | None = None,
    y: str | None = None,
    label: str | None = None,
    colorbar: bool = True,
    tools: Sequence[str] = ("hover",),
    frame_size: int = FRAME_WIDTH,
):
    """A 2D map of a ``(y, x)`` DataArray: x to the right, y downward, equal aspect, colourbar.

    Parameters
    ----------
    da
        Two-dimensional DataArray (numpy or dask; it is loaded). Coordinates along its dims are
        used when present, pixel indices otherwise. Booleans are drawn as 0/1.
    title
        Figure title; default the DataArray's name.
    cmap
        Colour map name or list of colours.
    nan_color
        Colour of NaN pixels.
    clim
        Colour range ``(low, high)``; default the finite data range.
    x, y
        Dims drawn across and down; default the DataArray's last and first dim.
    label
        Colourbar label; default the DataArray's name.
    colorbar
        Draw a colourbar.
    tools
        Extra Bokeh tools for the HTML figure.
    frame_size
        Longest side of the map in the HTML figure, in screen pixels.

    Returns
    -------
    holoviews.Image
        (or :class:`holoviews.QuadMesh` when coordinates are not evenly spaced).

    Examples
    --------
    >>> da = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("y", "x"),
    ...                   coords={"y": [0.0, 0.5], "x": [0.0, 0.5, 1.0]}, name="bc")
    >>> img = image_map(da)
    >>> [d.name for d in img.kdims], img.vdims[0].name
    (['x', 'y'], 'bc')
    """
    hv = _hv()
    if da.ndim != 2:
        raise ValueError(f"image_map needs a 2D DataArray, got dims {da.dims}")
    ydim = y or str(da.dims[0])
    xdim = x or str([d for d in da.dims if d != ydim][0])
    da = da.transpose(ydim, xdim)
    z = np.asarray(da.values)
    if z.dtype == bool:
        z = z.astype(np.uint8)
    elif z.dtype.kind in "iu":
        z = z.astype(np.float64)  # labels and counts: colour-mapped like any value
    xs = np.asarray(da[xdim].values, dtype=float) if xdim in da.coords else np.arange(z.shape[1], dtype=float)
    ys = np.asarray(da[ydim].values, dtype=float) if ydim in da.coords else np.arange(z.shape[0], dtype=float)
    name = str(da.name) if da.name is not None else "value"
    vdim = hv.Dimension(name, label=label or name)
    kdims = [hv.Dimension(xdim), hv.Dimension(ydim)]

    if _regular(xs) and _regular(ys):
        # bounds by pixel edges; an array given to hv.Image has its first row at the top (max y)
        sx = float(np.diff(xs)[0]) if xs.size > 1 else (float(np.diff(ys)[0]) if ys.size > 1 else 1.0)
        sy = float(np.diff(ys)[0]) if ys.size > 1 else sx
        if sx < 0:
            xs, z, sx = xs[::-1], z[:, ::-1], -sx
        if sy < 0:
            ys, z, sy = ys[::-1], z[::-1], -sy
        bounds = (xs[0] - sx / 2, ys[0] - sy / 2, xs[-1] + sx / 2, ys[-1] + sy / 2)
        element = hv.Image(z[::-1], bounds=bounds, kdims=kdims, vdims=[vdim])
    else:
        element = hv.QuadMesh((xs, ys, z), kdims=kdims, vdims=[vdim])

    finite = z[np.isfinite(z)] if z.dtype.kind == "f" else z.ravel()
    if clim is None:
        clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    else:
        lo, hi = clim
        clim = (
            float(finite.min()) if lo is None and finite.size else lo,
            float(finite.max()) if hi is None and finite.size else hi,
        )
    # width / height of the drawn extent, for the PNG's figure size
    (x0, x1), (y0, y1) = (element.range(0), element.range(1))
    aspect = abs((x1 - x0) / (y1 - y0)) if y1 != y0 else 1.0
    aspect = aspect if np.isfinite(aspect) and aspect > 0 else 1.0
    inches = (FIG_INCHES, FIG_INCHES / aspect) if aspect >= 1 else (FIG_INCHES * aspect, FIG_INCHES)
    # both frame sides fixed (Bokeh wants both for a fixed layout), their ratio the data's
    frame = (frame_size, frame_size / aspect) if aspect >= 1 else (frame_size * aspect, frame_size)
    frame_w, frame_h = (max(40, int(round(v))) for v in frame)
    return _both(
        element,
        dict(
            cmap=cmap,
            colorbar=colorbar,
            invert_yaxis=True,  # scan maps: first row at the top
            clipping_colors={"NaN": nan_color},
            clim=clim,
            title=title if title is not None else name,
            axiswise=True,  # in a layout, each map keeps its own colour range
        ),
        bokeh=dict(frame_width=frame_w, frame_height=frame_h, tools=list(tools), toolbar="above"),
        mpl=dict(aspect="equal", fig_inches=(inches[0] + 1.2, inches[1])),
    )


def shade_outside(mask: xr.DataArray, *, color: str = "crimson", alpha: float = 0.4, **kwargs: Any):
    """A translucent layer over the pixels where ``mask`` is False, to overlay on a map.

    Parameters
    ----------
    mask
        Boolean ``(y, x)`` DataArray with the same coordinates as the map underneath.
    color, alpha
        Colour and opacity of the shading.
    **kwargs
        ``x``/``y`` dim names, as for :func:`image_map`.

    Examples
    --------
    >>> m = xr.DataArray([[True, False]], dims=("y", "x"), name="roi")
    >>> bc = xr.DataArray([[1.0, 2.0]], dims=("y", "x"), name="bc")
    >>> fig = image_map(bc) * shade_outside(m)
    """
    outside = xr.where(mask.astype(bool), np.nan, 1.0).rename(f"outside {mask.name or 'mask'}")
    layer = image_map(outside, cmap=[color], nan_color="transparent", clim=(0, 1), colorbar=False,
                      tools=(), **kwargs)
    return _both(layer, dict(alpha=alpha), bokeh=dict(), mpl=dict())


def overlay(base: Any, *layers: Any):
    """``base * layer * ...``, keeping the base's title and figure size on both backends.

    (An overlay otherwise falls back to default sizes: its plot options are its own, not its
    first layer's.)

    Examples
    --------
    >>> m = xr.DataArray([[True, False]], dims=("y", "x"), name="roi")
    >>> bc = xr.DataArray([[1.0, 2.0]], dims=("y", "x"), name="bc")
    >>> type(overlay(image_map(bc), shade_outside(m))).__name__
    'Overlay'
    """
    hv = _hv()
    out = hv.Overlay([base, *layers])
    keep = {"bokeh": ("title", "frame_width", "frame_height", "toolbar"),
            "matplotlib": ("title", "fig_inches", "aspect")}
    for backend, keys in keep.items():
        given = hv.Store.lookup_options(backend, base, "plot").kwargs
        out = out.opts(backend=backend, **{k: given[k] for k in keys if k in given})
    return out


def map_grid(
    da: xr.DataArray,
    dim: str,
    *,
    cols: int = 4,
    shared_clim: bool = False,
    title: str | None = None,
    **kwargs: Any,
):
    """One :func:`image_map` per entry along ``dim``, as a layout (one map per latent, element...).

    Parameters
    ----------
    da
        Three-dimensional DataArray, ``dim`` plus the two map dims.
    dim
        The dim to split along; its coordinate values title the maps.
    cols
        Maps per row.
    shared_clim
        One colour range for all maps (comparable values); default each map its own.
    title
        Prefix for each map's title; default the DataArray's name.
    **kwargs
        Passed to :func:`image_map` (``cmap``, ``nan_color``, ``clim``, ``x``, ``y``...).

    Examples
    --------
    >>> da = xr.DataArray(np.random.rand(3, 4, 5), dims=("element", "y", "x"),
    ...                   coords={"element": ["Ni", "Cr", "Fe"]}, name="elements")
    >>> len(map_grid(da, "element", cols=2))
    3
    """
    hv = _hv()
    if dim not in da.dims:
        raise ValueError(f"'{dim}' is not a dim of {da.name!r} (dims {da.dims})")
    if shared_clim and "clim" not in kwargs:
        v = np.asarray(da.values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            kwargs["clim"] = (float(v.min()), float(v.max()))
    kwargs.setdefault("frame_size", max(200, 2 * FRAME_WIDTH // max(cols, 1)))
    prefix = title if title is not None else (str(da.name) if da.name is not None else "")
    labels = da[dim].values if dim in da.coords else np.arange(da.sizes[dim])
    maps = []
    for i, label in enumerate(labels):
        one = da.isel({dim: i}).rename(f"{da.name or 'value'}_{label}")
        maps.append(image_map(one, title=f"{prefix} {dim}={label}".strip(),
                              label=str(da.name or "value"), **kwargs))
    return _both(hv.Layout(maps).cols(cols), {}, mpl=dict(sublabel_format=""))


# --------------------------------------------------------------------------------------------
# histograms


def histogram(
    values: Any,
    *,
    bins: int | Sequence[float] = 100,
    title: str | None = None,
    vlines: Iterable[float | tuple[float, str]] = (),
    label: str = "value",
    color: str = "#4c72b0",
    line_color: str = "crimson",
):
    """A histogram of the finite values, with optional vertical lines (thresholds).

    Parameters
    ----------
    values
        Any array-like (DataArray, numpy, dask); NaN and inf are left out.
    bins
        Number of bins or bin edges, as for :func:`numpy.histogram`.
    title
        Figure title.
    vlines
        Values to mark, each a number or ``(value, label)``; ``None`` values are skipped.
    label
        Name of the value axis.
    color, line_color
        Colours of the bars and of the lines.

    Returns
    -------
    holoviews.Overlay or holoviews.Histogram

    Examples
    --------
    >>> h = histogram(np.r_[np.random.rand(100), np.nan], bins=10, vlines=[(0.5, "Otsu")])
    >>> type(h).__name__
    'Overlay'
    """
    hv = _hv()
    v = np.asarray(values.values if isinstance(values, xr.DataArray) else values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    counts, edges = np.histogram(v, bins=bins) if v.size else (np.zeros(1), np.array([0.0, 1.0]))
    kdim = hv.Dimension(label)
    hist = hv.Histogram((edges, counts), kdims=[kdim], vdims=["count"])
    hist = _both(
        hist,
        dict(color=color, title=title or "", xlabel=label, ylabel="count"),
        bokeh=dict(frame_width=520, frame_height=300, line_color=None, tools=["hover"]),
        mpl=dict(fig_inches=(6.5, 3.6), aspect=1.8, edgecolor=color),
    )
    layers = [hist]
    top = float(counts.max()) if counts.size else 1.0
    for item in vlines:
        value, text = (item if isinstance(item, tuple) else (item, None))
        if value is None or not np.isfinite(value):
            continue
        row = (len(layers) - 1) // 2  # captions of successive lines step down, not overlap
        caption = f" {text} = {value:.4g}" if text else f" {value:.4g}"
        layers.append(_both(hv.VLine(float(value)), dict(color=line_color),
                            bokeh=dict(line_dash="dashed", line_width=2),
                            mpl=dict(linestyle="--", linewidth=1.5)))
        layers.append(_both(hv.Text(float(value), top * (0.97 - 0.08 * row), caption,
                                    halign="left", valign="top"),
                            dict(color=line_color), bokeh=dict(text_font_size="10pt"),
                            mpl=dict(fontsize=9)))
    if len(layers) == 1:
        return hist
    # an overlay's figure size and title are its own options, not its first layer's
    return _both(hv.Overlay(layers), dict(title=title or ""),
                 bokeh=dict(), mpl=dict(fig_inches=(6.5, 3.6)))
