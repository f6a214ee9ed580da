"""Scan maps, map grids and histograms: x to the right, y downward, equal aspect, NaN in a neutral colour."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.store import open_store
from vaearr.viz.core import FIG_INCHES, FRAME_WIDTH, both, holoviews, save_figure
from vaearr.viz.static import NEUTRAL, MapDecor, axis_units, categories, label_kind, value_units

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
    categorical: bool | None = None,
    scale_bar: bool = True,
    legend: Sequence[tuple[str, str]] = (),
):
    """A 2D map of a ``(y, x)`` DataArray: x to the right, y downward, equal aspect, axes in the scan's
    units (µm) with a scale bar, a colour bar, or categorical colours and a legend for labels and masks.

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
        Colourbar label; default the DataArray's name. The unit of the values (the ``units`` attr, degrees as °:
        :func:`~vaearr.viz.static.value_units`) follows it in brackets.
    colorbar
        Draw a colourbar.
    tools
        Extra Bokeh tools for the HTML figure.
    frame_size
        Longest side of the map in the HTML figure, in screen pixels.
    categorical
        Draw the values as labels: one colour each and a legend, NaN/−1 neutral and named (no colour
        bar, ``cmap`` and ``clim`` unused). Default: :func:`~vaearr.viz.static.label_kind` decides
        (booleans, phase ids, clusters, grains, segments, ROI).
    scale_bar
        A scale bar where the axes have a length unit (:func:`~vaearr.viz.static.axis_units`).
    legend
        ``(name, colour)`` legend entries of what is drawn over the map (boundaries in an overlay: a
        legend, not colours named in the title).

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
    hv = holoviews()
    if da.ndim != 2:
        raise ValueError(f"image_map needs a 2D DataArray, got dims {da.dims}")
    ydim = y or str(da.dims[0])
    xdim = x or str([d for d in da.dims if d != ydim][0])
    da = da.transpose(ydim, xdim)
    kind = label_kind(da) if categorical is None else ("mask" if da.dtype == bool else "labels") if categorical else None
    cats = None
    if kind is not None:
        z, cats = categories(da, kind)
        cmap, nan_color, clim, colorbar = list(cats.colors), NEUTRAL, (-0.5, len(cats.values) - 0.5), False
    else:
        z = np.asarray(da.values)
        z = z.astype(np.float64) if z.dtype.kind in "biu" else z  # counts: colour-mapped like any value
    xs = np.asarray(da[xdim].values, dtype=float) if xdim in da.coords else np.arange(z.shape[1], dtype=float)
    ys = np.asarray(da[ydim].values, dtype=float) if ydim in da.coords else np.arange(z.shape[0], dtype=float)
    name = str(da.name) if da.name is not None else "value"
    vdim = hv.Dimension(name, label=label or name, unit=value_units(da))
    units = (axis_units(da, xdim), axis_units(da, ydim))
    kdims = [hv.Dimension(xdim, unit=units[0]), hv.Dimension(ydim, unit=units[1])]
    decor = MapDecor(units[0] if scale_bar and units[0] == units[1] else None, cats, tuple(legend))

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
    return both(
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
        bokeh=dict(frame_width=frame_w, frame_height=frame_h, tools=list(tools), toolbar="above",
                   hooks=decor.hooks()["bokeh"]),
        mpl=dict(aspect="equal", fig_inches=(inches[0] + 1.2, inches[1]), hooks=decor.hooks()["matplotlib"]),
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
    return both(layer, dict(alpha=alpha), bokeh=dict(), mpl=dict())


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
    hv = holoviews()
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
    hv = holoviews()
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
    return both(hv.Layout(maps).cols(cols), {}, mpl=dict(sublabel_format=""))


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
    hv = holoviews()
    v = np.asarray(values.values if isinstance(values, xr.DataArray) else values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    counts, edges = np.histogram(v, bins=bins) if v.size else (np.zeros(1), np.array([0.0, 1.0]))
    kdim = hv.Dimension(label)
    hist = hv.Histogram((edges, counts), kdims=[kdim], vdims=["count"])
    hist = both(
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
        layers.append(both(hv.VLine(float(value)), dict(color=line_color),
                            bokeh=dict(line_dash="dashed", line_width=2),
                            mpl=dict(linestyle="--", linewidth=1.5)))
        layers.append(both(hv.Text(float(value), top * (0.97 - 0.08 * row), caption,
                                    halign="left", valign="top"),
                            dict(color=line_color), bokeh=dict(text_font_size="10pt"),
                            mpl=dict(fontsize=9)))
    if len(layers) == 1:
        return hist
    # an overlay's figure size and title are its own options, not its first layer's
    return both(hv.Overlay(layers), dict(title=title or ""),
                 bokeh=dict(), mpl=dict(fig_inches=(6.5, 3.6)))


#: The colour map of latent values: diverging about 0, the prior's mean.
LATENT_CMAP = "RdBu_r"


def latent_range(da: xr.DataArray) -> tuple[float, float]:
    """One colour range for every latent dim of a map: symmetric about 0 (the prior's mean), out to the 99.5th
    percentile of |value| over all dims, so an inactive dim is drawn flat instead of stretched to its noise.

    Examples
    --------
    >>> latent_range(xr.DataArray([[-0.5, 2.0], [np.nan, 1.0]]))
    (-1.99, 1.99)
    """
    v = np.abs(np.asarray(da.values, dtype=float))
    v = v[np.isfinite(v)]
    m = float(np.percentile(v, 99.5)) if v.size else 0.0
    m = m if m > 0 else 1.0
    return (-round(m, 12), round(m, 12))


def latent_maps(ds: xr.Dataset, name: str, folder: str | Path, *, cols: int = 4, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """One map per latent dim, all on one colour range symmetric about 0 (:func:`latent_range`, as the report
    draws them), and the reconstruction-error map, as HTML + PNG."""
    folder = Path(folder)
    out = []
    grid = map_grid(ds[name], "latent_dim", cols=cols, cmap=LATENT_CMAP, clim=latent_range(ds[name]))
    html, _ = save_figure(grid, folder / f"{name}_maps", figures=figures)
    out.append(Path(html))
    if f"{name}_recon_error" in ds:
        html, _ = save_figure(
            image_map(ds[f"{name}_recon_error"], title="reconstruction error (MSE per pattern)", cmap="magma"),
            folder / f"{name}_recon_error_map",
         figures=figures)
        out.append(Path(html))
    return out


def encoded_maps(store: Any, name: str, folder: str | Path | None, *, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """:func:`latent_maps` of the latent ``name`` a run encoded into ``store``, when it is a map
    (``(y, x, latent_dim)``: other latents have no maps) and ``folder`` is given; else none.

    The rule ``vaearr encode --out`` and the ``encode`` flow share.
    """
    if folder is None:
        return []
    ds = open_store(store)
    if not ({"y", "x", "latent_dim"} <= set(ds[name].dims)):
        return []
    return latent_maps(ds, name, folder, figures=figures)
