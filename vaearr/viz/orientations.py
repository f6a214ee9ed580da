"""Figures of orientation maps: the IPF map beside KAM and the grain boundaries, and the IPF colour key."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import pyplot as plt

from vaearr.errors import StoreError, require
from vaearr.maps.orientations import DIRECTIONS, phase_groups
from vaearr.store import open_store
from vaearr.store.schema import RGB, X, Y, orientation_map_name, phase_id_name
from vaearr.viz.core import FIG_INCHES, FRAME_WIDTH, both, holoviews, save_figure
from vaearr.viz.static import MapDecor, axis_units, save_static
from vaearr.viz.maps import image_map


def ipf_element(ipf: xr.DataArray, *, title: str = "IPF"):
    """A HoloViews RGB of an ``(y, x, rgb)`` IPF map (y downward; not indexed pixels light grey)."""
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
    return MapDecor(units).decorate(el)  # axes in µm with a scale bar, as every map


def orientation_figures(store: str | os.PathLike, folder: str | os.PathLike, *, name: str = "orientation") -> dict[str, Path]:
    """``{name}_maps`` (HTML + PNG: IPF, KAM, grain boundaries) and ``{name}_ipf_key.png`` (orix's colour key) in ``folder``
    (SVG/PDF too, or instead, as ``--format`` says)."""
    ds = open_store(store)
    ipf_name = orientation_map_name(name, "ipf")
    if ipf_name not in ds:
        raise StoreError(store, f"no '{ipf_name}'; run 'vaearr orientation-maps' first")
    hv = holoviews()
    ipf = ds[ipf_name].load()
    direction = str(ipf.attrs.get("sample_direction", "z"))
    panels = [ipf_element(ipf, title=f"{ipf_name} (sample {direction})")]
    for part in ("kam", "grain_boundaries"):  # the boundaries are a mask: categorical, with a legend
        var = orientation_map_name(name, part)
        if var in ds:
            panels.append(image_map(ds[var].load(), title=var))
    folder = Path(folder)
    html, png = save_figure(hv.Layout(panels).cols(len(panels)), folder / f"{name}_maps")
    files = {"maps_html": html, "maps_png": png}
    plot = require("orix.plot", "ebsd")
    vector = require("orix.vector", "ebsd")
    groups = phase_groups(ds[name].attrs.get("phases") if name in ds else ds[phase_id_name(name)].attrs.get("phases"))
    for pid, group in groups.items():
        key = plot.IPFColorKeyTSL(group.laue, direction=vector.Vector3d(DIRECTIONS[direction]))
        fig = key.plot(return_figure=True)
        stem = folder / (f"{name}_ipf_key" if len(groups) == 1 else f"{name}_ipf_key_phase{pid}")
        path = save_static(fig, stem)[0]  # in the --format/--dpi of every figure
        plt.close(fig)
        files[path.stem] = path
    return files
