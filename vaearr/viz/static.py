"""What every map shows the same way, and the static files (PNG, SVG, PDF) of every figure.

* :func:`label_kind`: the one rule that says a variable holds labels (phase, clusters, grains,
  segments) or a mask, drawn with categorical colours and a legend (:func:`categories`) instead of
  a colour bar; NaN and −1 (not indexed, noise) in a neutral colour, named in the legend.
* :func:`axis_units`: the scan's unit along a map dim (the coordinate's ``units`` attr, µm for a
  map's ``x``/``y``; None where there is no coordinate: pixel indices, and no scale bar).
* :class:`MapDecor`: the scale bar (a round length about a fifth of the width, :func:`scale_length`)
  and the legend of one map, added to the Bokeh figure (HTML) and to the Matplotlib axes (static files)
  as HoloViews hooks, or directly.
* :func:`value_label`: a colour bar's label, the variable's name with the unit its ``units`` attr holds (``°``).
* :func:`pixel_ticks`: axis ticks on pixel centres (never on the half pixels between them).
* :func:`save_static`: a Matplotlib figure in each format its figure options give, at their dpi.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from types import MappingProxyType

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from vaearr.files import write_whole
from vaearr.options import DEFAULT_FIGURES, FigureOptions
# moved to vaearr.viz.decor; importable from here too
from vaearr.viz.decor import (  # noqa: F401
    INSET_DPI, pixel_ticks, scale_length, scale_text, MapDecor, decor_of,
)

#: Colour of NaN / not-indexed / noise pixels in label maps, and their name in the legend.
NEUTRAL, NOT_INDEXED = "#d9d9d9", "not indexed"
#: Categorical colours (Okabe–Ito first, then Tableau): label ``i`` (in order of value) takes colour ``i``.
CATEGORICAL = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
               "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#aec7e8", "#ffbb78")
#: Colours of a mask: outside, inside.
MASK_COLORS = ("#bdbdbd", "#2c7fb8")
#: Variable names (or name endings) that hold labels when their values are whole numbers.
LABEL_NAMES = ("phase_id", "phase", "roi", "grains", "segments", "regions", "labels", "label", "clusters")
#: Attrs that mark an integer variable as labels (a cluster's ``noise``, a segmentation's ``nodata``...).
LABEL_ATTRS = ("noise", "fill_outside_mask", "nodata", "flag_values", "phases", "phase_names", "labels")
#: Most labels a legend lists one by one; more are drawn in cycled colours with a key of the count.
MAX_LEGEND = len(CATEGORICAL)
#: Length units spelled as the scale bar writes them.
_UNITS = MappingProxyType({"um": "µm", "µm": "µm", "micron": "µm", "microns": "µm", "micrometer": "µm", "micrometre": "µm",
                           "nm": "nm", "mm": "mm", "m": "m"})
#: Value units spelled as a colour bar writes them (any other ``units`` attr is written as it is).
_VALUE_UNITS = MappingProxyType({"degree": "°", "degrees": "°", "deg": "°", "°": "°", "radian": "rad", "radians": "rad"})
#: ``units`` attrs that describe colours, not a quantity on a colour bar.
_NOT_UNITS = ("rgb",)


def label_kind(da: xr.DataArray) -> str | None:
    """``"mask"`` (booleans), ``"labels"`` (whole-number labels) or None (values on a colour scale).

    Integers are labels when the variable says so (``attrs["categorical"]``, or one of
    :data:`LABEL_ATTRS`) or its name is one of :data:`LABEL_NAMES` (or ends in ``_grains``, starts
    with ``cluster``); counts such as ``bands`` stay values. Floats are labels only by
    ``attrs["categorical"]``.

    Examples
    --------
    >>> label_kind(xr.DataArray(np.zeros((2, 2), bool), dims=("y", "x"), name="roi"))
    'mask'
    >>> label_kind(xr.DataArray(np.zeros((2, 2), np.int8), dims=("y", "x"), name="phase_id"))
    'labels'
    >>> label_kind(xr.DataArray(np.zeros((2, 2), np.int8), dims=("y", "x"), name="bands")) is None
    True
    """
    flag = da.attrs.get("categorical")
    if da.dtype == bool:
        return "mask"
    if flag is not None:
        return "labels" if bool(flag) else None
    if da.dtype.kind not in "iu":
        return None
    name = str(da.name or "")
    named = (name in LABEL_NAMES or name.endswith("_grains") or name.startswith("cluster")
             or any(name.endswith("_" + n) for n in LABEL_NAMES))
    if named or any(k in da.attrs for k in LABEL_ATTRS):
        values = np.unique(np.asarray(da.values))
        return "mask" if name == "roi" and set(values.tolist()) <= {0, 1} else "labels"
    return None


@dataclass(frozen=True)
class Categories:
    """The labels of a label map: ``codes`` ``0..n-1`` drawn for ``values``, named ``names``, coloured ``colors``;
    ``missing`` names the NaN/−1 pixels (None where there are none), drawn in :data:`NEUTRAL`."""

    values: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[str, ...]
    missing: str | None = None

    @property
    def legend(self) -> list[tuple[str, str]]:
        """``(name, colour)`` of each legend entry, the missing pixels last; one entry of the count beyond
        :data:`MAX_LEGEND` labels."""
        if len(self.values) > MAX_LEGEND:
            items = [(f"{len(self.values)} labels (cycled colours)", self.colors[0])]
        else:
            items = list(zip(self.names, self.colors))
        return items + ([(self.missing, NEUTRAL)] if self.missing else [])


def _names(da: xr.DataArray, values: Sequence[int], kind: str) -> list[str]:
    if kind == "mask":  # a boolean map: a region (inside/outside), or lines such as grain boundaries
        lines = str(da.name or "").endswith("boundaries")
        return [("boundary" if lines else "inside") if v else ("no boundary" if lines else "outside") for v in values]
    given = da.attrs.get("phase_names") or da.attrs.get("labels")
    meanings = str(da.attrs.get("flag_meanings", "")).split()
    flags = list(da.attrs.get("flag_values", []))
    out = []
    for v in values:
        if isinstance(given, dict) and str(v) in given:
            out.append(f"{v}: {given[str(v)]}")
        elif isinstance(given, (list, tuple)) and 0 <= v < len(given):
            out.append(f"{v}: {given[v]}")
        elif v in flags and len(meanings) == len(flags):
            out.append(f"{v}: {meanings[flags.index(v)]}")
        else:
            out.append(str(v))
    return out


def categories(da: xr.DataArray, kind: str | None = None) -> tuple[np.ndarray, Categories]:
    """The codes to draw (float, NaN where not indexed) and the :class:`Categories` of a label map or mask.

    Negative labels (−1 not indexed, −1 noise, −2 outside a mask) and NaN are drawn in the neutral colour and named
    once in the legend (``not indexed``, or the variable's own words).

    Examples
    --------
    >>> da = xr.DataArray(np.array([[-1, 0], [2, 2]]), dims=("y", "x"), name="phase_id")
    >>> codes, cats = categories(da)
    >>> codes.tolist(), cats.values, cats.missing
    ([[nan, 0.0], [1.0, 1.0]], (0, 2), 'not indexed')
    """
    kind = kind or label_kind(da) or "labels"
    z = np.asarray(da.values)
    valid = np.isfinite(z) if z.dtype.kind == "f" else np.ones(z.shape, bool)
    zi = np.where(valid, z, -1).astype(np.int64)
    known = valid & (zi >= 0)
    values = np.unique(zi[known]).tolist() if kind != "mask" else [0, 1]
    codes = np.full(z.shape, np.nan)
    codes[known] = np.searchsorted(values, zi[known])
    palette = MASK_COLORS if kind == "mask" else tuple(CATEGORICAL[i % len(CATEGORICAL)] for i in range(len(values)))
    noise = "fill_outside_mask" in da.attrs or "noise" in da.attrs
    missing = ("noise / outside the mask" if noise else NOT_INDEXED) if (~known).any() else None
    return codes, Categories(tuple(int(v) for v in values), tuple(_names(da, values, kind)), tuple(palette), missing)


def axis_units(da: xr.DataArray, dim: str) -> str | None:
    """The length unit along ``dim``: its coordinate's ``units`` attr, else µm for a map's ``x``/``y``
    (the store's scan grid); None where there is no coordinate (pixel indices) or the unit is not a length.

    Examples
    --------
    >>> da = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"), coords={"x": [0, 1.5, 3], "y": [0, 1.5]})
    >>> axis_units(da, "x"), axis_units(da.drop_vars("x"), "x")
    ('µm', None)
    """
    if dim not in da.coords:
        return None
    attrs = da[dim].attrs
    unit = attrs.get("units", attrs.get("unit"))
    if unit is None:
        return "µm" if dim in ("x", "y") else None
    return _UNITS.get(str(unit).strip().lower().replace("μ", "µ"))


def value_units(da: xr.DataArray) -> str | None:
    """The unit of a variable's values, as a colour bar writes it: its ``units`` attr (``degree`` → ``°``), or None.

    Examples
    --------
    >>> kam = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), name="orientation_kam", attrs={"units": "degree"})
    >>> value_units(kam), value_units(kam.rename("bc").drop_attrs())
    ('°', None)
    """
    unit = da.attrs.get("units", da.attrs.get("unit"))
    if unit is None or not str(unit).strip() or str(unit).strip().lower().startswith(_NOT_UNITS):
        return None
    text = str(unit).strip()
    return _VALUE_UNITS.get(text.lower(), text)


def value_label(da: xr.DataArray, label: str | None = None) -> str:
    """A colour bar's label: ``label`` (default the variable's name) and the unit of its values, ``name (unit)``.

    Examples
    --------
    >>> kam = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), name="orientation_kam", attrs={"units": "degree"})
    >>> value_label(kam), value_label(kam, "KAM")
    ('orientation_kam (°)', 'KAM (°)')
    """
    text = label if label is not None else str(da.name if da.name is not None else "value")
    unit = value_units(da)
    return f"{text} ({unit})" if unit and not text.endswith(f"({unit})") else text


@dataclass
class MapLook:
    """One map as every static figure draws it: ``z`` (first row at the top) over ``extent``
    ``(left, right, bottom, top)`` (bottom > top: y downward), its colours, title, axis labels, colour bar label
    (None: no colour bar) and :class:`MapDecor`."""

    z: np.ndarray
    extent: tuple[float, float, float, float]
    cmap: Any = "viridis"
    clim: tuple[float | None, float | None] = (None, None)
    nan_color: str = "lightgray"
    title: str = ""
    xlabel: str = "x"
    ylabel: str = "y"
    colorbar: str | None = None
    decor: MapDecor | None = None
    axes: bool = True


def _cmap(cmap: Any, nan_color: str):
    cm = ListedColormap(list(cmap)) if isinstance(cmap, (list, tuple)) else matplotlib.colormaps[cmap].copy()
    return cm.with_extremes(bad=nan_color)


def look_of(da: xr.DataArray, *, title: str = "", cmap: Any = "viridis", nan_color: str = "lightgray",
            clim: tuple[float | None, float | None] | None = None, colorbar: str | None = "") -> MapLook:
    """The :class:`MapLook` of a ``(y, x)`` DataArray by the rules of :func:`~vaearr.viz.maps.image_map`: axes in the
    scan's units with a scale bar, labels and masks in categorical colours with a legend, else ``cmap`` over
    ``clim`` (default the finite range) with a colour bar labelled ``colorbar`` (default the name and the unit of
    its values, :func:`value_label`; None: none)."""
    da = da.transpose("y", "x")
    ny, nx = da.shape
    edges = []
    for dim, n in (("x", nx), ("y", ny)):
        v = np.asarray(da[dim].values, float) if dim in da.coords else np.arange(n, dtype=float)
        step = float(v[1] - v[0]) if n > 1 else 1.0
        edges.append((float(v[0]) - step / 2, float(v[-1]) + step / 2))
    units = (axis_units(da, "x"), axis_units(da, "y"))
    kind = label_kind(da)
    name = str(da.name or "value")
    if kind is not None:
        z, cats = categories(da, kind)
        cmap, nan_color, clim, colorbar = list(cats.colors), NEUTRAL, (-0.5, len(cats.values) - 0.5), None
    else:
        z, cats = np.asarray(da.values, dtype=float), None
        finite = z[np.isfinite(z)]
        clim = clim or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
        colorbar = value_label(da) if colorbar == "" else colorbar
    decor = MapDecor(units[0] if units[0] == units[1] else None, cats)
    return MapLook(z, (edges[0][0], edges[0][1], edges[1][1], edges[1][0]), cmap, clim, nan_color, title or name,
                   f"x ({units[0]})" if units[0] else "x", f"y ({units[1]})" if units[1] else "y", colorbar, decor)


def draw_maps(looks: Sequence[MapLook], cols: int, *, inches: tuple[float, float] | None = None) -> Figure:
    """The maps, ``cols`` to a row, as one Matplotlib figure: equal aspect, the same fonts, axes (ticks on pixel
    centres), colour bars, scale bars, legends and insets for every map of every figure (HTML aside, the one
    drawing of maps)."""
    cols = max(1, min(cols, len(looks)))
    rows = -(-len(looks) // cols)
    small = len(looks) > 1  # small multiples
    if inches is None:
        l, r, b, t = looks[0].extent
        aspect = abs((r - l) / (b - t)) if b != t else 1.0
        inches = (5.0 + 1.2, 5.0 / aspect) if aspect >= 1 else (5.0 * aspect + 1.2, 5.0)
    scale = 0.6 if small else 1.0
    fig = Figure(figsize=(inches[0] * scale * cols, inches[1] * scale * rows + 0.3 * rows))
    FigureCanvasAgg(fig)
    size = 7 if small else 8
    for i, look in enumerate(looks):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = ax.imshow(np.ma.masked_invalid(np.asarray(look.z, dtype=float)), origin="upper", extent=look.extent,
                        cmap=_cmap(look.cmap, look.nan_color), vmin=look.clim[0], vmax=look.clim[1],
                        interpolation="nearest", aspect="equal")
        ax.set_title(look.title, fontsize=10 if small else 12)
        if look.axes:
            ax.set_xlabel(look.xlabel, fontsize=size + 2)
            ax.set_ylabel(look.ylabel, fontsize=size + 2)
            ax.tick_params(labelsize=size + 1)
            pixel_ticks(ax, look.extent, np.shape(look.z))
        else:
            ax.set_axis_off()
        if look.colorbar is not None:
            cb = fig.colorbar(img, ax=ax, fraction=0.046, pad=0.04)
            cb.set_label(look.colorbar, fontsize=size + 2)
            cb.ax.tick_params(labelsize=size + 1)
        if look.decor is not None:
            look.decor.draw(ax, look.extent, fontsize=size)
    fig.tight_layout()
    return fig


def save_static(fig: Any, stem: str | os.PathLike, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """``fig`` (a Matplotlib figure) as ``<stem>.png``/``.svg``/``.pdf``, the formats of ``figures`` (``--format``)
    at its dpi (``--dpi``); returns the paths."""
    options = figures
    stem = Path(stem)
    out = []
    # SVG and PDF keep text as text (editable, searchable) and lines as vectors; the maps inside are images
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
        for fmt in options.formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            write_whole(path, lambda tmp, fmt=fmt: fig.savefig(tmp, dpi=options.dpi, bbox_inches="tight",
                                                               facecolor="white", format=fmt))
            out.append(path)
    return out
