"""``vaearr segment``'s figure: the regions in categorical colours, grain boundaries black, low-angle boundaries white."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.files import beside_store
from vaearr.options import writable_folder
from vaearr.maps.segmentation.segment import SegmentResult
from vaearr.viz.boundaries import angle_figure
from vaearr.viz.core import save_figure
from vaearr.viz.maps import image_map, overlay

#: Categorical colours (Okabe–Ito and Tableau, distinguishable side by side); regions cycle through them.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999",
           "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")


def region_colours(regions: xr.DataArray) -> xr.DataArray:
    """Region ids → colour index 0..len(PALETTE)-1, neighbours apart where the palette allows; NaN outside."""
    ids = np.asarray(regions.values)
    n = int(ids.max()) + 1 if (ids >= 0).any() else 0
    colour = np.full(n, -1)
    # greedy colouring in id order: each region avoids its neighbours' colours when it can
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for a, b in ((ids[:, :-1], ids[:, 1:]), (ids[:-1], ids[1:])):
        sel = (a >= 0) & (b >= 0) & (a != b)
        for i, j in zip(a[sel].ravel(), b[sel].ravel()):
            nbrs[i].add(int(j))
            nbrs[j].add(int(i))
    for r in range(n):
        used = {colour[j] for j in nbrs[r]}
        colour[r] = next((c for c in range(len(PALETTE)) if c not in used), r % len(PALETTE))
    out = np.where(ids >= 0, colour[np.clip(ids, 0, None)] if n else -1, -1).astype(float)
    out[ids < 0] = np.nan
    return regions.copy(data=out).rename(str(regions.name))


def _boundary_layer(codes: xr.DataArray, code: int, color: str):
    shown = xr.where(codes == code, 1.0, np.nan).rename(f"{codes.name}_{code}")
    layer = image_map(shown, cmap=[color], nan_color="transparent", clim=(0, 1), colorbar=False, tools=())
    return layer.opts(alpha=0.9, backend="bokeh").opts(alpha=0.9, backend="matplotlib")


def segment_figure(regions: xr.DataArray, boundaries: xr.DataArray, folder: str | os.PathLike, *,
                   name: str = "segments", title: str | None = None, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """Save the region map with its boundaries as HTML and PNG (``map_html``, ``map_png``), the boundaries' colours
    in a legend with their pixel counts."""
    n_regions = int(regions.max()) + 1 if int(regions.max()) >= 0 else 0
    n_gb, n_lagb = int((boundaries == 2).sum()), int((boundaries == 1).sum())
    title = title or f"{regions.name}: {n_regions} regions"
    legend = [(f"grain boundaries ({n_gb} px)", "black"), (f"low-angle boundaries ({n_lagb} px)", "white")]
    base = image_map(region_colours(regions), title=title, cmap=PALETTE, clim=(-0.5, len(PALETTE) - 0.5),
                     colorbar=False, categorical=False, legend=legend)
    # an empty layer is left out (HoloViews warns on an all-NaN image)
    layers = [_boundary_layer(boundaries, code, color) for code, color in ((2, "black"), (1, "white"))
              if bool((boundaries == code).any())]
    fig = overlay(base, *layers) if layers else base
    html, png = save_figure(fig, Path(folder) / name, figures=figures)
    return {"map_html": html, "map_png": png}


def figure_folder(store: str | os.PathLike, figures: str | os.PathLike | None, suffix: str = "segment") -> Path:
    """The folder a figure goes to (``figures``, or :func:`~vaearr.files.beside_store`'s ``STORE_{suffix}``),
    created and proven writable, so a command fails before it writes the store."""
    return writable_folder(figures if figures is not None else beside_store(store, suffix))


def segment_files(result: SegmentResult, folder: str | os.PathLike | None = None, *, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """:func:`segment_figure` of what :func:`~vaearr.maps.segmentation.segment.segment_store` wrote."""
    folder = figure_folder(result.store, folder)
    name, _, boundaries = result.options.outputs()
    files = segment_figure(result.variables[name], result.variables[boundaries], folder, name=name, figures=figures)
    angle = result.variables.get(result.options.angle_output())
    if angle is not None:  # decided in degrees: the angle of every boundary pixel
        files.update(angle_figure(angle, folder, name=str(angle.name), grain_angle=result.options.grain_angle,
                                  figures=figures))
    return files
