"""Figures of orientation maps: the IPF map (its colour key an inset) beside KAM and the grain boundaries, and the
IPF colour key on its own."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import pyplot as plt
from PIL import Image

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.errors import StoreError, require
from vaearr.maps.indexing.orientations import DIRECTIONS, phase_groups
from vaearr.store import open_store
from vaearr.store.schema import RGB, X, Y, orientation_map_name, phase_id_name
from vaearr.viz.core import FIG_INCHES, FRAME_WIDTH, both, holoviews, save_figure, static_figure
from vaearr.viz.static import INSET_DPI, MapDecor, axis_units, save_static
from vaearr.viz.maps import image_map
from vaearr.numba_cache import guard_gufunc_cache


def ipf_element(ipf: xr.DataArray, *, title: str = "IPF", legend: Sequence[tuple[str, str]] = (),
                insets: Sequence[tuple[str, np.ndarray]] = ()):
    """A HoloViews RGB of an ``(y, x, rgb)`` IPF map (y downward; not indexed pixels light grey), with ``legend``
    entries ``(name, colour)`` of what is drawn over it and ``insets`` ``(title, RGBA image)`` beside it in the
    static files (its colour key: :func:`ipf_keys`)."""
    hv = holoviews()
    rgb = np.asarray(ipf.transpose(Y, X, RGB).values, np.float64)
    rgb = np.where(np.isfinite(rgb), rgb, 0.85)
    xs, ys = ipf[X].values.astype(float), ipf[Y].values.astype(float)
    sx = float(np.diff(xs)[0]) if xs.size > 1 else 1.0
    sy = float(np.diff(ys)[0]) if ys.size > 1 else 1.0
    bounds = (xs[0] - sx / 2, ys[0] - sy / 2, xs[-1] + sx / 2, ys[-1] + sy / 2)
    aspect = (bounds[2] - bounds[0]) / (bounds[3] - bounds[1]) if bounds[3] != bounds[1] else 1.0
    units = axis_units(ipf, X) if axis_units(ipf, X) == axis_units(ipf, Y) else None
    el = hv.RGB(rgb[::-1], bounds=bounds, kdims=[hv.Dimension(X, unit=units), hv.Dimension(Y, unit=units)])
    el = both(el, dict(title=title, invert_yaxis=True),
              bokeh=dict(frame_width=FRAME_WIDTH, frame_height=max(40, int(FRAME_WIDTH / aspect))),
              mpl=dict(aspect="equal", fig_inches=(FIG_INCHES, FIG_INCHES / max(aspect, 0.2))))
    return MapDecor(units, None, tuple(legend), tuple(insets)).decorate(el)  # axes in µm with a scale bar, as every map


#: Size (inches) and font size (points) of an IPF key drawn as an inset (shown at that size beside the map).
KEY_INCHES, KEY_FONT = (1.5, 1.2), 7


def ipf_keys(phases: list[dict] | None, direction: str = "z") -> list[tuple[int, str, Any, np.ndarray]]:
    """orix's IPF colour key (:class:`~orix.plot.IPFColorKeyTSL`) of each phase along the sample ``direction``:
    ``(phase id, title, the key, an RGBA image of it for an inset)``; the inset's image is drawn at
    :data:`KEY_INCHES` with the corner labels at :data:`KEY_FONT` points and the white margins cut, the Laue group
    in its title. orix draws through pyplot: its figure is closed again (a notebook would show it)."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    plot = require("orix.plot", "ebsd")
    vector = require("orix.vector", "ebsd")
    names = {int(p["id"]): str(p.get("name") or p["id"]) for p in phases or []}
    groups = phase_groups(phases)
    out = []
    for pid, group in groups.items():
        key = plot.IPFColorKeyTSL(group.laue, direction=vector.Vector3d(DIRECTIONS[direction]))
        small = key.plot(return_figure=True)
        for ax in small.axes:
            ax.set_title("")
            for text in ax.texts:
                text.set_fontsize(KEY_FONT)
        small.set_size_inches(*KEY_INCHES)
        buf = io.BytesIO()
        small.savefig(buf, format="png", dpi=INSET_DPI, facecolor="white")
        plt.close(small)
        image = np.asarray(Image.open(buf).convert("RGBA"))
        ink = np.nonzero((image[..., :3] < 250).any(-1))
        if ink[0].size:
            image = image[ink[0].min():ink[0].max() + 1, ink[1].min():ink[1].max() + 1]
        laue = getattr(group.laue, "name", "")
        title = f"IPF-{direction} key ({laue})" if len(groups) == 1 else f"{names.get(pid, pid)} ({laue}), IPF-{direction}"
        out.append((pid, title, key, image))
    return out


def orientation_figures(store: str | os.PathLike, folder: str | os.PathLike, *, name: str = "orientation", figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """``{name}_maps`` (HTML + PNG: IPF with its colour key as an inset, KAM, grain boundaries; the HTML shows the
    key beside the IPF map) and ``{name}_ipf_key.png`` (orix's colour key on its own) in ``folder`` (SVG/PDF too, or
    instead, as ``--format`` says)."""
    ds = open_store(store)
    ipf_name = orientation_map_name(name, "ipf")
    if ipf_name not in ds:
        raise StoreError(store, f"no '{ipf_name}'; run 'vaearr orientation-maps' first")
    hv = holoviews()
    ipf = ds[ipf_name].load()
    direction = str(ipf.attrs.get("sample_direction", "z"))
    keys = ipf_keys(ds[name].attrs.get("phases") if name in ds else ds[phase_id_name(name)].attrs.get("phases"),
                    direction)
    insets = [(title, image) for _, title, _, image in keys]
    panels = [ipf_element(ipf, title=f"{ipf_name} (sample {direction})", insets=insets)]
    for part in ("kam", "grain_boundaries"):  # the boundaries are a mask: categorical, with a legend
        var = orientation_map_name(name, part)
        if var in ds:
            panels.append(image_map(ds[var].load(), title=var))
    # the HTML shows each key as a picture beside the IPF map (a Bokeh figure has no insets)
    shown = [panels[0], *(key_element(image, title) for title, image in insets), *panels[1:]]
    folder = Path(folder)
    png = static_figure(hv.Layout(panels).cols(len(panels)))
    html, first = save_figure(hv.Layout(shown).cols(len(shown)), folder / f"{name}_maps", png=png, figures=figures)
    files = {"maps_html": html, "maps_png": first}
    for pid, _, key, _ in keys:
        stem = folder / (f"{name}_ipf_key" if len(keys) == 1 else f"{name}_ipf_key_phase{pid}")
        fig = key.plot(return_figure=True)
        path = save_static(fig, stem, figures=figures)[0]  # in the --format/--dpi of every figure
        plt.close(fig)
        files[path.stem] = path
    return files


def key_element(image: np.ndarray, title: str):
    """A colour key (an RGBA image) as a small HoloViews RGB panel without axes, for the HTML figure."""
    hv = holoviews()
    h, w = image.shape[:2]
    el = hv.RGB(np.asarray(image[..., :3], np.float64) / 255, bounds=(0, 0, w / h, 1))
    return both(el, dict(title=title, xaxis=None, yaxis=None),
                bokeh=dict(frame_width=int(FRAME_WIDTH / 2), frame_height=int(FRAME_WIDTH / 2 * h / w), toolbar=None),
                mpl=dict(aspect="equal"))
