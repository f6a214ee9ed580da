"""The figure machinery: HoloViews with both backends, and saving a figure as offline HTML and PNG (SVG, PDF).

Every figure is a HoloViews object with options for both plotting backends, so one object gives
an interactive Bokeh page (:func:`save_figure` writes it with BokehJS inlined, no CDN, so it opens
on a machine with no network) and a static PNG drawn by Matplotlib (no browser needed).
HoloViews and Bokeh come with the ``viz`` extra and are imported when a figure is made.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from vaearr.errors import require
from vaearr.files import write_bytes_whole
from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.viz.static import MapLook, decor_of, draw_maps, save_static

#: Width of a map's frame in the HTML figure, in screen pixels.
FRAME_WIDTH = 420
#: Longest side of one map in the PNG figure, in inches.
FIG_INCHES = 5.0
#: Resolution of the PNG figures unless ``--dpi`` says otherwise (:class:`~vaearr.options.FigureOptions`).
DPI = FigureOptions().dpi


def _use_agg() -> None:
    # PNGs are drawn off-screen; Agg needs no display. A session that chose a backend already
    # (a notebook's inline backend, MPLBACKEND) keeps it: savefig renders PNG with Agg anyway.

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


def holoviews():
    """HoloViews with both backends loaded (options can be set for each)."""
    _use_agg()
    hv = require("holoviews", "viz")
    require("bokeh", "viz")
    # importing a backend registers its options; the first one imported becomes current
    import holoviews.plotting.bokeh  # noqa: F401
    import holoviews.plotting.mpl  # noqa: F401

    return hv


def both(obj, common: dict | None = None, *, bokeh: dict | None = None, mpl: dict | None = None):
    """Set ``common`` options on both backends plus backend-specific ones."""
    common = common or {}
    obj = obj.opts(backend="bokeh", **{**common, **(bokeh or {})})
    return obj.opts(backend="matplotlib", **{**common, **(mpl or {})})


# --------------------------------------------------------------------------------------------
# saving


def save_figure(obj: Any, path_stem: str | os.PathLike, *, png: Any = None,
                figures: FigureOptions = DEFAULT_FIGURES) -> tuple[Path, Path]:
    """Save a HoloViews (or hvPlot) object as ``<stem>.html`` and ``<stem>.png`` (or the formats ``figures``
    gives, ``--format``, at its ``--dpi``).

    The HTML is a standalone Bokeh document with BokehJS inlined
    (:data:`bokeh.resources.INLINE`): it opens offline, with pan, zoom and hover. The static files
    are drawn by Matplotlib (maps directly, anything else through HoloViews' Matplotlib backend),
    so no browser is needed.

    Parameters
    ----------
    obj
        An element, overlay or layout, e.g. from :func:`image_map`, :func:`histogram`,
        :func:`map_grid` or ``da.hvplot.image()``.
    path_stem
        Path without suffix (a ``.html``/``.png`` suffix is dropped). Missing parent folders
        are created.
    png
        A Matplotlib ``Figure`` to save as the PNG instead of drawing ``obj`` through
        HoloViews (which takes about a second a panel: many-panel scatters draw their own).
    figures
        The static files' formats and dpi (the run's :attr:`vaearr.context.Context.figures`).

    Returns
    -------
    tuple of Path
        The HTML path and the first static file's (the PNG unless ``--format`` leaves it out).

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> from vaearr.viz.maps import image_map
    >>> da = xr.DataArray(np.random.rand(4, 6), dims=("y", "x"), name="bc")
    >>> html, png = save_figure(image_map(da), os.path.join(tempfile.mkdtemp(), "bc"))
    >>> html.name, png.name
    ('bc.html', 'bc.png')
    """
    hv = holoviews()
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    stem = Path(path_stem)
    if stem.suffix.lower() in (".html", ".png", ".svg", ".pdf"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    html_path = stem.with_name(stem.name + ".html")

    title = _title_of(obj) or stem.name
    model = hv.render(obj, backend="bokeh")
    with quiet_bokeh():
        html = file_html(model, INLINE, title=title)
    write_bytes_whole(html_path, drop_external_tags(html))

    fig = png if png is not None else static_figure(obj)
    # savefig draws through Agg for PNG whatever the session's backend; HoloViews has
    # already closed the figure in pyplot (and ours never entered it), so nothing accumulates
    return html_path, save_static(fig, stem, figures)[0]


def static_figure(obj: Any):
    """The Matplotlib figure :func:`save_figure` writes as the PNG (SVG, PDF) of ``obj``: maps and grids of maps
    drawn directly (:func:`~vaearr.viz.static.draw_maps`: axes in µm with ticks on pixel centres, colour bars with
    the values' units, scale bars, legends, insets), anything else through HoloViews' Matplotlib backend.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from vaearr.viz.maps import image_map
    >>> da = xr.DataArray(np.random.rand(4, 6), dims=("y", "x"), name="kam", attrs={"units": "degree"})
    >>> fig = static_figure(image_map(da))
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['y', 'kam (°)']
    """
    fig = _maps_png_figure(obj)
    return fig if fig is not None else holoviews().render(obj, backend="matplotlib")


def _maps_png_figure(obj: Any):
    """The PNG of a map or a layout of maps (``hv.Image``, IPF colours as ``hv.RGB``), drawn with Matplotlib directly.

    HoloViews' Matplotlib backend spends about a second per panel laying out text; maps are
    the most common figure here (grids of latent dims, top-N maps), so they are drawn straight
    from the same element options (cmap, clim, NaN colour, colourbar, title, y downward).
    Anything else returns None and goes through HoloViews.
    """
    hv = holoviews()
    if type(obj) in (hv.Image, hv.RGB):
        panels, cols = [obj], 1
    elif type(obj) is hv.Layout and len(obj) and all(type(e) in (hv.Image, hv.RGB) for e in obj):
        panels = list(obj)
        cols = min(len(panels), getattr(obj, "_max_cols", None) or 4)
    else:
        return None

    looks = []
    for el in panels:
        data = el.data  # (y, x) values, or (y, x, rgb) colours of an IPF map
        if not isinstance(data, np.ndarray) or data.ndim != (3 if type(el) is hv.RGB else 2):
            return None
        plot = hv.Store.lookup_options("matplotlib", el, "plot").kwargs
        style = hv.Store.lookup_options("matplotlib", el, "style").kwargs
        l, b, r, t = el.bounds.lbrt()
        # hv.Image holds its first row at the top (largest y); y downward flips it back
        invert = plot.get("invert_yaxis", False)
        shown = plot.get("xaxis", True) is not None and plot.get("yaxis", True) is not None
        looks.append(MapLook(np.asarray(data, dtype=float)[::-1] if invert else data,
                             (l, r, t, b) if invert else (l, r, b, t), style.get("cmap", "viridis"),
                             plot.get("clim", (None, None)), plot.get("clipping_colors", {}).get("NaN", "lightgray"),
                             str(plot.get("title", el.label or "")), el.kdims[0].pprint_label,
                             el.kdims[1].pprint_label,
                             el.vdims[0].pprint_label if plot.get("colorbar") and type(el) is hv.Image else None,
                             decor_of(plot.get("hooks")), shown))
    w, h = hv.Store.lookup_options("matplotlib", panels[0], "plot").kwargs.get("fig_inches", (FIG_INCHES + 1.2, FIG_INCHES))
    return draw_maps(looks, cols, inches=(float(w), float(h)))


@contextlib.contextmanager
def quiet_bokeh():
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


def drop_external_tags(html: str) -> str:
    """``html`` without ``<script src>`` and stylesheet ``<link>`` tags (everything it needs is inline)."""
    # BokehJS and the bundles of any extension the figure uses are inlined by INLINE. Other
    # packages that register Bokeh models on import (Panel, pulled in by HoloViews) add
    # <script src> tags for their own, unused, files: offline they only fail to load.
    return _EXTERNAL_LINK.sub("", _EXTERNAL_SCRIPT.sub("", html))


def _title_of(obj: Any) -> str:
    try:
        opts = obj.opts.get().kwargs
    except Exception:  # noqa: BLE001 - layouts and some containers have no single options set
        return ""
    title = opts.get("title")
    return title if isinstance(title, str) and "{" not in title else ""

