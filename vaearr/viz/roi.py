"""``vaearr roi``'s figures: the value histogram with its thresholds, the map with the outside shaded, row profiles."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import xarray as xr

from vaearr.errors import InputError
from vaearr.files import writable_folders
from vaearr.maps.options import RoiOptions
from vaearr.maps.roi.profiles import export_profile, histogram_edges, map_variable, row_profile
from vaearr.maps.roi.roi import RoiResult, create_roi
from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.store import open_store
from vaearr.viz.core import both, holoviews, save_figure
from vaearr.viz.maps import histogram, image_map, overlay, shade_outside

#: How each threshold is marked on the histogram (a mask's record keeps `min` and `max` as bc_min, bc_max).
_MARKS = MappingProxyType({"bc_min": "min", "bc_max": "max", "otsu": "Otsu", "top_percent": "top"})


@dataclass
class RoiFigures:
    """What :func:`roi_store` drew when no criterion was given: the figures of ``var`` alone, no mask."""

    var: str
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for a terminal: no mask, the files."""
        return "\n".join([f"no ROI criterion: figures of '{self.var}' only, no mask written",
                          *(f"  wrote {p}" for p in self.files.values())])


def roi_store(options: RoiOptions, figures: FigureOptions = DEFAULT_FIGURES) -> RoiResult | RoiFigures:
    """``vaearr roi``: the mask of ``options`` written into its store (:func:`~vaearr.maps.roi.roi.create_roi`) and, with
    ``out``, its histogram, map and row profiles drawn there; with ``out`` and no criterion, only the figures (to
    choose a threshold). The folders and the figure options are checked before the store is written."""
    o, folder = options, options.out
    writable_folders(export=o.export, out=folder)  # before the store is written
    if (o.bin_width is not None or o.profile_row) and folder is None:
        raise InputError(None, "`bin_width` and `profile_row` draw figures: give `out`, a folder")
    figures_only = not o.criteria()
    if figures_only and folder is not None and o.export is not None:
        raise InputError(None, "`export` writes the mask's pixels: give an ROI criterion (or leave out `export`)")
    ds = open_store(o.store)
    # checked before anything is written: a bad figure option must not leave a new mask behind
    if folder is not None and (figures_only or o.bin_width is not None or o.profile_row):
        values = map_variable(ds, o.var, label=o.store)
        if o.bin_width is not None:
            histogram_edges(values.values, o.bin_width)
        for row in o.profile_row or []:
            row_profile(ds, row, var=o.var, store=o.store)

    def profiles() -> dict[str, Path]:
        files: dict[str, Path] = {}
        for row in o.profile_row or []:
            files.update(profile_figure(ds, row, folder, name=o.name, var=o.var, figures=figures))
            files[f"row{row}_csv"] = export_profile(row_profile(ds, row, var=o.var, store=o.store),
                                                    Path(folder) / f"{o.name}_{o.var}_row{row}.csv")
        return files

    if figures_only and folder is not None:
        drawn = roi_figures(ds, None, None, folder, o.name, o.var, bin_width=o.bin_width, figures=figures)
        return RoiFigures(o.var, {**drawn, **profiles()})
    result = create_roi(o.store, o)
    if folder is not None:
        result.files.update(roi_figures(open_store(o.store), result.mask, result.info, folder, o.name, o.var,
                                        bin_width=o.bin_width, figures=figures))
        result.files.update(profiles())
    return result


def roi_figures(ds: xr.Dataset, mask: xr.DataArray | None, info: dict | None, folder: str | os.PathLike,
                name: str = "roi", var: str = "bandcontrast", *, bin_width: float | None = None, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """Save the value histogram with the thresholds marked and the value map with the outside
    of the ROI shaded (HTML + PNG each, :func:`vaearr.viz.save_figure`).

    ``mask`` and ``info`` may be None: the histogram and map alone, to choose a threshold.
    ``bin_width`` bins the histogram on multiples of it (:func:`vaearr.maps.roi.profiles.histogram_edges`);
    default 100 bins.
    """
    folder = Path(folder)
    files: dict[str, Path] = {}
    if mask is not None and info is not None:
        c = info["counts"]
        kept = f"{name}: {c['kept']} of {c['total']} pixels kept ({100 * c['kept'] / max(c['total'], 1):.1f} %)"
        mask = mask.rename(name)
        marks = [(t, _MARKS.get(label, label)) for label, t in info["thresholds"].items()]
    else:
        kept, marks = "no mask", []
    if var in ds.variables:
        values = ds[var].load()
        bins = histogram_edges(values.values, bin_width) if bin_width is not None else 100
        width = f", bins {bin_width:g} wide" if bin_width is not None else ""
        hist = histogram(values, bins=bins, title=f"{var} histogram{width} — {kept}", vlines=marks, label=var)
        files["histogram_html"], files["histogram_png"] = save_figure(hist, folder / f"{name}_{var}_histogram", figures=figures)
        # band contrast is read in grey; red marks what the ROI leaves out
        base = image_map(values, title=f"{var} — {kept}", cmap="gray")
    elif mask is not None:
        base = image_map(mask.astype(np.uint8).rename(name), title=kept, cmap="gray", colorbar=False)
    else:
        return files
    fig = overlay(base, shade_outside(mask)) if mask is not None else base
    files["map_html"], files["map_png"] = save_figure(fig, folder / f"{name}_{var}_map", figures=figures)
    return files


def profile_figure(ds: xr.Dataset, row: int, folder: str | os.PathLike, *, name: str = "roi",
                   var: str = "bandcontrast", figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """The map with row ``row`` marked, beside the values along that row (HTML + PNG).

    Files ``{name}_{var}_row{row}.html``/``.png``; the values are :func:`vaearr.maps.roi.profiles.row_profile`.
    """
    hv = holoviews()
    prof = row_profile(ds, row, var=var)
    values = ds[var].load()
    ycoord = prof.attrs["y"]
    base = image_map(values, title=f"{var}, row {row} (y = {ycoord:g})", cmap="gray")
    line = both(hv.HLine(ycoord), dict(color="crimson"), bokeh=dict(line_width=2), mpl=dict(linewidth=1.5))
    xs = np.asarray(prof["x"].values, dtype=float) if "x" in prof.coords else np.arange(prof.size, dtype=float)
    curve = both(hv.Curve((xs, np.asarray(prof.values, dtype=float)), kdims=["x"], vdims=[var]),
                 dict(color="#4c72b0", title=f"{var} along row {row}"),
                 bokeh=dict(frame_width=420, frame_height=300, tools=["hover"]), mpl=dict(fig_inches=(5.5, 3.6)))
    fig = both(hv.Layout([overlay(base, line), curve]).cols(2), {}, mpl=dict(hspace=0.6, sublabel_format=""))
    out: dict[str, Path] = {}
    out[f"row{row}_html"], out[f"row{row}_png"] = save_figure(fig, Path(folder) / f"{name}_{var}_row{row}", figures=figures)
    return out
