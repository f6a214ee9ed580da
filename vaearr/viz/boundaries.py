"""``vaearr boundaries``' figure: the boundary strength with both boundary masks overlaid."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.files import beside_store
from vaearr.maps.boundaries.boundaries import BoundaryResult
from vaearr.viz.core import save_figure
from vaearr.viz.maps import image_map, overlay


def _layer(mask: xr.DataArray, color: str, alpha: float):
    shown = xr.where(mask.astype(bool), 1.0, np.nan).rename(str(mask.name))
    layer = image_map(shown, cmap=[color], nan_color="transparent", clim=(0, 1), colorbar=False, tools=())
    return layer.opts(alpha=alpha, backend="bokeh").opts(alpha=alpha, backend="matplotlib")


def boundary_figure(strength: xr.DataArray, grain_boundaries: xr.DataArray, low_angle_boundaries: xr.DataArray,
                    folder: str | os.PathLike, *, name: str = "boundaries", title: str | None = None, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """Save the strength map (grey) with grain boundaries (red) and low-angle boundaries (cyan) on top, the colours
    in a legend with each kind's pixel count.

    Returns the HTML and PNG paths (:func:`vaearr.viz.save_figure`) as ``map_html``, ``map_png``.
    """
    kinds = [(grain_boundaries, "grain boundaries", "red"), (low_angle_boundaries, "low-angle boundaries", "cyan")]
    legend = [(f"{what} ({int(m.sum())} px)", color) for m, what, color in kinds]
    base = image_map(strength, title=title or "boundary strength", cmap="gray", legend=legend)
    # an empty layer is left out (HoloViews warns on an all-NaN image)
    layers = [_layer(m, color, 0.8) for m, _, color in kinds if bool(np.asarray(m).any())]
    fig = overlay(base, *layers) if layers else base
    html, png = save_figure(fig, Path(folder) / name, figures=figures)
    return {"map_html": html, "map_png": png}


def angle_figure(angle: xr.DataArray, folder: str | os.PathLike, *, name: str, grain_angle: float,
                 title: str | None = None, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """Save the misorientation across each boundary pixel (degrees, read from the patterns) as HTML and PNG
    (``angle_html``, ``angle_png``): colours up to ``grain_angle`` (every grain boundary at the top colour; one beyond
    the registration's reach is shown there too), the value on hover."""
    shown = angle.where(np.isfinite(angle), float(grain_angle)).where(angle.notnull()).clip(max=float(grain_angle))
    shown = shown.rename(str(angle.name)).assign_attrs(units="degree")
    fig = image_map(shown, title=title or f"misorientation across the boundaries (°, {grain_angle:g}° and over: top "
                                          "colour)", cmap="plasma", nan_color="white", clim=(0.0, float(grain_angle)))
    html, png = save_figure(fig, Path(folder) / name, figures=figures)
    return {"angle_html": html, "angle_png": png}


def boundary_files(result: BoundaryResult, folder: str | os.PathLike | None = None, *,
                   name: str | None = None, title: str | None = None, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """:func:`boundary_figure` of what :func:`~vaearr.maps.boundaries.boundaries.find_boundaries` found.

    ``folder`` defaults to ``STORE_boundaries`` beside the store (in the working folder for a URL), ``name`` to
    ``boundaries_{source}``; the paths are also added to ``result.files``.
    """
    folder = Path(folder) if folder is not None else beside_store(result.store, "boundaries")
    files = boundary_figure(result.strength, result.grain_boundaries, result.low_angle_boundaries, folder,
                            name=name or f"boundaries_{result.source}", title=title, figures=figures)
    if result.angle is not None:  # classed in degrees: the angle of every boundary pixel
        files.update(angle_figure(result.angle, folder, name=f"{name or f'boundaries_{result.source}'}_angle",
                                  grain_angle=float(result.attrs["grain_angle"]), figures=figures))
    result.files.update(files)
    return files
