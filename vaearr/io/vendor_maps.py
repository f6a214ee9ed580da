"""What a vendor EBSD file holds beside its patterns: the indexing and the EDS element maps.

One HDF5 file of a scan often holds, with the patterns, the vendor's indexing (Euler angles,
phase, quality columns) and, for Oxford, the EDS element maps of the same points.
:func:`read_vendor_maps` reads them onto the patterns' scan grid so that ``vaearr ingest ebsd``
writes everything in one transaction. The indexing comes from
:func:`vaearr.io.orientations.read_crystal_map` (orix for Bruker h5ebsd; Oxford H5OINA and EDAX
h5ebsd by hand, :mod:`vaearr.io.vendor_indexing`); the element maps of an H5OINA from
``1/EDS/Data/Window Integral`` (else ``Peak Area``, else ``Composition``), following Oxford's
published specification.

The indexing and element datasets list the scan points in the order of the patterns (row by
row); they are placed on the patterns' grid in that order, through
:func:`vaearr.io.orientations.orientation_variables`, so the variables have the names and attrs
``ingest orientations`` gives (``orientation``, ``phase_id``, the quality maps of
:data:`vaearr.store.schema.ORIENTATION_QUALITY`), and ``elements(element, y, x)`` those of
``ingest tables``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import h5py
import numpy as np
import xarray as xr

from vaearr.errors import InputError
from vaearr.io.orientations import orientation_variables, read_crystal_map
from vaearr.io.limits import check_dataset
from vaearr.io.vendor_indexing import first_scan, holds_indexing, vendor_of
from vaearr.store.schema import ELEMENT, ELEMENTS, ORIENTATION, X, Y, phase_id_name

#: The patterns' datasets in each vendor's ``EBSD/Data`` (what kikuchipy reads).
PATTERN_DATASETS = MappingProxyType({"oxford": ("Processed Patterns", "Unprocessed Patterns"), "edax": ("Pattern",),
                                     "bruker": ("RawPatterns",)})
#: H5OINA EDS groups with element maps, in the order they are taken, and their units.
EDS_GROUPS = MappingProxyType({"Window Integral": "counts/s", "Peak Area": "counts/s", "Composition": "wt%"})


@dataclass
class VendorMaps:
    """The store variables read from a vendor file beside its patterns, and one line per thing found."""

    variables: dict[str, xr.DataArray] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def require_patterns(path: str | os.PathLike) -> None:
    """Refuse, in one line, a vendor HDF5 file that holds no EBSD patterns: an H5OINA exported without
    EBSD data (EDS only) or without its patterns (indexing only, which ``ingest orientations`` reads)."""
    vendor = vendor_of(path)
    if vendor is None:
        return
    with h5py.File(path, "r") as f:
        scan = first_scan(f)
        if scan is None or "EBSD" not in scan:
            held = ", ".join(scan.keys()) if scan is not None else ""
            raise InputError(path, f"holds no EBSD data (its scan holds: {held or 'nothing'}); "
                                   "export the EBSD map with its patterns")
        data = scan.get("EBSD/Data", {})
        if not any(k in data for k in PATTERN_DATASETS[vendor]):
            hint = "; 'vaearr ingest orientations' reads its indexing" if holds_indexing(path, vendor) else ""
            raise InputError(path, f"holds no patterns (no {' or '.join(PATTERN_DATASETS[vendor])} in its EBSD data)"
                                   + hint)


def _oxford_elements(scan: h5py.Group, n: int, path) -> tuple[list[str], np.ndarray, str] | None:
    data = scan.get("EDS/Data")
    if data is None:
        return None
    group = next((g for g in EDS_GROUPS if g in data and len(data[g])), None)
    if group is None:
        return None
    names = list(data[group].keys())
    for k in names:
        check_dataset(path, data[group][k], itemsize=4)  # read whole, as float32
    values = [np.asarray(data[group][k][()], dtype=np.float32).reshape(-1) for k in names]
    if any(v.size != n for v in values):
        raise InputError(path, f"its EDS maps ({group}) have {values[0].size} points but its patterns a {n}-point "
                               "scan: the EDS grid does not match the patterns (`eds=False` reads without them)")
    symbols = [k.split()[0] for k in names]  # "Fe Ka1" → Fe, unless two lines of one element
    return (symbols if len(set(symbols)) == len(symbols) else names), np.stack(values), group


def _orientation_line(variables: dict[str, xr.DataArray], name: str) -> str:
    pid = variables[phase_id_name(name)].values
    phases = variables[name].attrs["phases"]
    used = [p for p in phases if (pid == p["id"]).any()] or phases
    quality = sorted(k for k in variables if k not in (name, phase_id_name(name)))
    return (f"orientations: {len(used)} phase{'s' if len(used) != 1 else ''} ({', '.join(p['name'] for p in used)}), "
            f"{100 * float((pid >= 0).mean()):.0f} % indexed"
            + (f"; quality maps {', '.join(quality)}" if quality else ""))


def read_vendor_maps(
    path: str | os.PathLike,
    grid_y: np.ndarray,
    grid_x: np.ndarray,
    *,
    orientations: bool = True,
    eds: bool = True,
    say: Callable[[str], None] | None = None,
) -> VendorMaps:
    """The indexing and EDS element maps a vendor HDF5 file holds, on its patterns' grid.

    Parameters
    ----------
    path
        A Bruker, EDAX or Oxford HDF5 file (other files give nothing).
    grid_y, grid_x
        The patterns' scan grid (µm): the file's points fill it row by row.
    orientations, eds
        Read the indexing (``orientation``, ``phase_id``, the quality maps) / the element maps.
    say
        Called with one line for each thing found, as it is found.

    Raises
    ------
    InputError
        The indexing or the EDS maps have another number of points than the patterns' grid.
    """
    path = Path(path)
    vendor = vendor_of(path)
    out = VendorMaps()
    if vendor is None:
        return out
    ny, nx = len(grid_y), len(grid_x)
    n = ny * nx
    gy, gx = np.asarray(grid_y, float), np.asarray(grid_x, float)
    data = read_crystal_map(path) if orientations and holds_indexing(path, vendor) else None
    if data is not None and data.phase_id.size != n:
        raise InputError(path, f"its indexing has {data.phase_id.size} points but its patterns a {ny} × {nx} scan: "
                               "the indexing grid does not match the patterns (`orientations=False` reads without it)")
    if data is not None:
        # the points in the patterns' order: row by row over the patterns' grid
        data.y, data.x = np.repeat(gy, nx), np.tile(gx, ny)
        variables, _ = orientation_variables(data, path=path, grid_x=gx, grid_y=gy, name=ORIENTATION)
        for v in variables.values():
            v.attrs["vendor"] = vendor
        out.variables.update(variables)
        out.lines.append(_orientation_line(variables, ORIENTATION))
        if say:
            say(out.lines[-1])
    found = None
    if eds and vendor == "oxford":
        with h5py.File(path, "r") as f:
            found = _oxford_elements(first_scan(f), n, path)
    if found is not None:
        names, values, group = found
        out.variables[ELEMENTS] = xr.DataArray(
            values.reshape(len(names), ny, nx), dims=(ELEMENT, Y, X), name=ELEMENTS,
            coords={ELEMENT: np.array(names, dtype=str), Y: gy, X: gx},
            attrs={"file": os.fspath(path.resolve()), "eds_group": group, "units": EDS_GROUPS[group]})
        out.lines.append(f"elements: {', '.join(names)} (EDS {group}, {EDS_GROUPS[group]})")
        if say:
            say(out.lines[-1])
    return out
