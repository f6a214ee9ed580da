"""``vaearr spread``'s figure: kernel spread, domain spread and the recrystallised regions side by side, zoom shared."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.maps.deformation.spread import SpreadResult
from vaearr.viz.core import holoviews, save_figure
from vaearr.viz.maps import image_map
from vaearr.viz.segment import figure_folder


def _units(da: xr.DataArray) -> str:
    return "°" if da.attrs.get("units") == "degrees" else "× noise"


def spread_figure(kernel: xr.DataArray, domain: xr.DataArray, recrystallised: xr.DataArray,
                  folder: str | os.PathLike, *, name: str = "spread", figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """The three maps as one HTML (shared zoom) and PNG (``map_html``, ``map_png``); spreads on a log-like scale
    (their range spans the noise floor to deformed grains, orders of magnitude apart)."""
    hv = holoviews()
    inside = np.isfinite(domain.values)
    hi = float(np.nanpercentile(kernel.values, 99)) if np.isfinite(kernel.values).any() else 1.0
    # domain spreads run from the noise floor to deformed grains orders of magnitude above: drawn as log10
    log_domain = np.log10(domain.where(domain > 0)).rename(f"log10 {domain.name}")
    rex = xr.where(recrystallised, 1.0, 0.0).where(inside).rename(str(recrystallised.name))
    rex.attrs["labels"] = ["deformed", "recrystallised"]
    panels = [
        image_map(kernel, title=f"{kernel.name} ({_units(kernel)})", cmap="viridis",
                  clim=(0.0, hi if hi > 0 else 1.0)),
        image_map(log_domain, title=f"log10 {domain.name} ({_units(domain)})", cmap="magma"),
        image_map(rex, title=f"{recrystallised.name}: {100 * float(recrystallised.values[inside].mean()):.0f} % "
                  "of the pixels", categorical=True),
    ]
    html, png = save_figure(hv.Layout(panels).cols(3), Path(folder) / name, figures=figures)
    return {"map_html": html, "map_png": png}


def spread_files(result: SpreadResult, folder: str | os.PathLike | None = None, *, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """:func:`spread_figure` of what :func:`~vaearr.maps.deformation.spread.spread_store` wrote, beside the store by default."""
    folder = figure_folder(result.store, folder, suffix="spread")
    kernel, domain, rex = result.options.outputs()
    return spread_figure(result.variables[kernel], result.variables[domain], result.variables[rex], folder,
                         name=f"{result.options.name or result.options.var}_spread", figures=figures)
