"""``vaearr roi``'s figures: the value histogram with its thresholds, and the map with the outside shaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.viz.core import save_figure
from vaearr.viz.maps import histogram, image_map, overlay, shade_outside


def roi_figures(ds: xr.Dataset, mask: xr.DataArray, info: dict, folder: str | os.PathLike,
                name: str = "roi", var: str = "bandcontrast") -> dict[str, Path]:
    """Save the value histogram with the thresholds marked and the value map with the outside
    of the ROI shaded (HTML + PNG each, :func:`vaearr.viz.save_figure`)."""
    folder = Path(folder)
    c = info["counts"]
    kept = f"{name}: {c['kept']} of {c['total']} pixels kept ({100 * c['kept'] / max(c['total'], 1):.1f} %)"
    files: dict[str, Path] = {}
    mask = mask.rename(name)
    if var in ds.variables:
        values = ds[var].load()
        marks = [(t, label) for label, t in (("min", info["thresholds"].get("bc_min")),
                                              ("Otsu", info["thresholds"].get("otsu"))) if t is not None]
        hist = histogram(values, bins=100, title=f"{var} histogram — {kept}", vlines=marks, label=var)
        files["histogram_html"], files["histogram_png"] = save_figure(hist, folder / f"{name}_{var}_histogram")
        # band contrast is read in grey; red marks what the ROI leaves out
        base = image_map(values, title=f"{var} — {kept}", cmap="gray")
    else:
        base = image_map(mask.astype(np.uint8).rename(name), title=kept, cmap="gray", colorbar=False)
    fig = overlay(base, shade_outside(mask))
    files["map_html"], files["map_png"] = save_figure(fig, folder / f"{name}_{var}_map")
    return files
