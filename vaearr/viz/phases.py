"""Phase maps: ``vaearr phases``' figure, and the report's section (phase maps with their fractions and a legend, IPF per phase)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.errors import StoreError
from vaearr.store import open_store
from vaearr.store.schema import QUATERNION, RGB, X, Y, no_variable, orientation_map_name, phase_id_name
from vaearr.viz.core import holoviews, save_figure
from vaearr.viz.maps import image_map
from vaearr.viz.orientations import ipf_element
from vaearr.viz.report_media import Section, esc, small, stride_of, table


def phase_fractions(da: xr.DataArray) -> list[tuple[int, str, float, int]]:
    """``(id, name, fraction, pixels)`` of every phase of a phase map; the fraction of the pixels that have a phase."""
    v = np.asarray(da.values)
    total = max(int((v >= 0).sum()), 1)
    names = {int(p["id"]): str(p.get("name", f"phase {p['id']}"))
             for p in (da.attrs.get("phases") or da.attrs.get("phase_list") or []) if isinstance(p, dict)}
    return [(int(k), names.get(int(k), f"phase {int(k)}"), float((v == k).sum()) / total, int((v == k).sum()))
            for k in np.unique(v[v >= 0])]


def phase_names(da: xr.DataArray) -> dict[str, str]:
    """Phase id → legend entry: its name and fraction (``fcc 52.1 %``)."""
    return {str(k): f"{name} {100 * f:.1f} %" for k, name, f, _ in phase_fractions(da)}


def phase_map(da: xr.DataArray, *, title: str | None = None, frame_size: int = 300):
    """A phase map in categorical colours, its legend naming each phase with its fraction."""
    shown = da.copy(data=np.asarray(da.values)).assign_attrs(phase_names=phase_names(da), nodata=-1)
    k = len(shown.attrs["phase_names"])
    return image_map(shown, title=title or f"{da.name}: {k} phase{'s' if k != 1 else ''}", categorical=True,
                     frame_size=frame_size)


def phase_figure(store: str | os.PathLike, folder: str | os.PathLike, *, name: str = "phases", figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """``{name}`` (HTML + PNG) in ``folder``: the phase map with fractions and legend."""
    ds = open_store(store)
    if name not in ds.data_vars:
        raise StoreError(store, no_variable(name, phase_maps(ds), kind="phase map", listed="its phase maps"))
    html, png = save_figure(phase_map(ds[name].load()), Path(folder) / name, figures=figures)
    return {"map_html": html, "map_png": png}


def phase_maps(ds: xr.Dataset) -> list[str]:
    """The store's phase maps: ``phase_id`` of each orientation, and what ``vaearr phases`` wrote."""
    out = []
    for n, v in ds.data_vars.items():
        if set(v.dims) != {Y, X} or v.dtype.kind not in "iu":
            continue
        if "phase_list" in v.attrs or (str(n).endswith("phase_id") and v.attrs.get("phases")):
            out.append(str(n))
    return out


def ipf_per_phase(ds: xr.Dataset, orientation: str, s: int) -> list[Any]:
    """The IPF map of ``orientation`` once per phase (the other phases grey): each phase's colours follow its own key."""
    ipf_name, pid_name = orientation_map_name(orientation, "ipf"), phase_id_name(orientation)
    if ipf_name not in ds or pid_name not in ds:
        return []
    ipf, pid = small(ds[ipf_name], s).transpose(Y, X, RGB), small(ds[pid_name], s).transpose(Y, X)
    names = {int(p["id"]): p["name"] for p in ds[pid_name].attrs.get("phases") or []}
    panels = []
    for k in np.unique(pid.values[pid.values >= 0]):
        keep = (pid.values == k)[..., None]
        panels.append(ipf_element(ipf.copy(data=np.where(keep, ipf.values, np.nan)),
                                  title=f"{ipf_name}: {names.get(int(k), k)} only"))
    return panels


def phases_section(ds: xr.Dataset) -> Section | None:
    """The report's phase maps (fractions in the legend and a table) and, for an orientation of several phases, its IPF
    map per phase; None when the store has no phase map."""
    names = phase_maps(ds)
    if not names:
        return None
    hv = holoviews()
    s = stride_of(ds)
    sec = Section("phases", "Phases")
    sec.html("<p>Phase maps: <code>phase_id</code> from indexing (<code>vaearr index --phase A --phase B</code>, the "
             "phases named), and phases found in the data with no crystallography (<code>vaearr phases</code>, "
             "numbered). Each phase's share of the pixels that have one is in the legend.</p>")
    sec.fig(hv.Layout([phase_map(small(ds[n], s)) for n in names]).cols(3), linked=True)
    rows = []
    for n in names:
        how = ds[n].attrs.get("rule") or f"indexing ({ds[n].attrs.get('orientation', '')})"
        rows += [[n, k, name, f"{100 * f:.1f} %", px, how] for k, name, f, px in phase_fractions(ds[n])]
    sec.html(table(["variable", "id", "phase", "fraction", "pixels", "how"], rows))
    for n in names:
        orientation = ds[n].attrs.get("orientation")
        if orientation and orientation in ds and QUATERNION in ds[orientation].dims:
            panels = ipf_per_phase(ds, orientation, s)
            if len(panels) > 1:
                sec.html(f"<h3>IPF per phase: {esc(orientation)}</h3><p>Each phase's pixels in its own colour key "
                         "(the others grey).</p>")
                sec.fig(hv.Layout(panels).cols(3), linked=True)
    return sec
