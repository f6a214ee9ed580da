"""What a vendor EBSD file holds beside its patterns: the indexing and the EDS element maps.

One HDF5 file of a scan often holds, with the patterns, the vendor's indexing (Euler angles,
phase, quality columns) and, for Oxford, the EDS element maps of the same points.
:func:`read_vendor_maps` reads them onto the patterns' scan grid so that ``vaearr ingest ebsd``
writes everything in one transaction:

* **Bruker** h5ebsd: :func:`orix.io.load` (orix's Bruker reader), as ``ingest orientations``;
* **EDAX** h5ebsd (OIM): hand-read (orix and kikuchipy have no reader for its indexing):
  ``Scan */EBSD/Data/{Phi1, Phi, Phi2}`` (Bunge, radians), ``Phase``, ``CI``, ``IQ``, ``Fit``, the
  phases from ``Header/Phase/<id>``; the conventions of orix's ``.ang`` reader (CI = −1: not
  indexed; phase 0 in a one-phase scan is that phase), so an OIM ``.ang`` export gives the same;
* **Oxford** H5OINA: hand-read following Oxford's published specification (kikuchipy reads the
  patterns only, orix has no reader): ``1/EBSD/Data/Euler`` (Bunge, radians), ``Phase`` (0: not
  indexed), ``Band Contrast``, ``Band Slope``, ``Bands``, ``Mean Angular Deviation`` (stored in
  degrees, as ``.ctf`` files give it), the phases from ``Header/Phases/<id>``, and the element maps
  of ``1/EDS/Data/Window Integral`` (else ``Peak Area``, else ``Composition``).

The indexing and element datasets list the scan points in the order of the patterns (row by
row); they are placed on the patterns' grid in that order, through
:func:`vaearr.io.orientations.orientation_variables`, so the variables have the names and attrs
``ingest orientations`` gives (``orientation``, ``phase_id``, the quality maps of
:data:`vaearr.store.schema.ORIENTATION_QUALITY`) and ``elements(element, y, x)`` those of
``ingest tables``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from vaearr.errors import InputError, require
from vaearr.io.orientations import NOT_INDEXED, CrystalMapData, orientation_variables, read_crystal_map
from vaearr.store.schema import ELEMENT, ELEMENTS, ORIENTATION, ORIENTATION_QUALITY, X, Y, phase_id_name

#: Root ``Manufacturer`` of each vendor's HDF5 file (its start, case-insensitive).
MANUFACTURERS = {"oxford": "oxford", "bruker": "bruker", "edax": "edax"}
#: H5OINA EDS groups with element maps, in the order they are taken, and their units.
EDS_GROUPS = {"Window Integral": "counts/s", "Peak Area": "counts/s", "Composition": "wt%"}


@dataclass
class VendorMaps:
    """The store variables read from a vendor file beside its patterns, and one line per thing found."""

    variables: dict[str, xr.DataArray] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def _text(obj) -> str:
    """A string dataset or attribute (bytes, arrays of one) as text."""
    value = obj[()] if isinstance(obj, h5py.Dataset) else obj
    value = np.ravel(value)[0] if np.ndim(value) else value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _number(group: h5py.Group, name: str, default: float | None = None) -> float | None:
    return float(np.ravel(group[name][()])[0]) if name in group else default


def vendor_of(path: str | os.PathLike) -> str | None:
    """``"oxford"``, ``"bruker"`` or ``"edax"`` from an HDF5 file's root ``Manufacturer``; else None."""
    if not h5py.is_hdf5(path):
        return None
    with h5py.File(path, "r") as f:
        key = next((k for k in f.keys() if k.strip() == "Manufacturer"), None)  # EDAX writes " Manufacturer"
        if key is None or not isinstance(f[key], h5py.Dataset):
            return None
        maker = _text(f[key]).strip().lower()
    return next((k for k, start in MANUFACTURERS.items() if maker.startswith(start)), None)


def _first_scan(f: h5py.File) -> h5py.Group:
    """The scan kikuchipy reads: the first top-level group."""
    return next(f[k] for k in f.keys() if isinstance(f[k], h5py.Group))


def require_ebsd(path: str | os.PathLike) -> None:
    """Refuse an H5OINA file whose first slice holds no EBSD data (an EDS-only export) in one line."""
    if vendor_of(path) != "oxford":
        return
    with h5py.File(path, "r") as f:
        groups = [k for k in f.keys() if isinstance(f[k], h5py.Group)]
        if not groups or "EBSD" not in f[groups[0]]:
            held = ", ".join(f[groups[0]].keys()) if groups else "no slice"
            raise InputError(path, f"is an H5OINA file without EBSD data (slice holds: {held or 'nothing'}); "
                                   "export the EBSD map with its patterns from AZtec")


def _columns(data: h5py.Group, n: int, path) -> dict[str, np.ndarray]:
    """Every per-point dataset of ``data`` (``n`` values) as a flat float64 array; patterns left out."""
    out = {}
    for name, ds in data.items():
        if isinstance(ds, h5py.Dataset) and ds.ndim <= 2 and ds.shape[0] == n and ds.dtype.kind in "fiub":
            out[name] = np.asarray(ds[()], dtype=np.float64).reshape(n, -1)
    return out


def _phase(pid: int, name: str, point_group: str | None, lattice: list[float] | None) -> dict:
    crystal_map = require("orix.crystal_map", "ebsd")
    pg = None
    if point_group:
        try:
            pg = str(crystal_map.Phase(point_group=point_group).point_group.name)
        except (ValueError, KeyError, IndexError, TypeError):
            pg = None
    return {"id": pid, "name": name, "point_group": pg, "lattice": lattice}


def _oxford_phases(header: h5py.Group) -> list[dict]:
    crystal_map = require("orix.crystal_map", "ebsd")
    out = []
    for key, g in sorted(header.get("Phases", {}).items(), key=lambda kv: int(kv[0])):
        pg = None
        if "Space Group" in g and int(np.ravel(g["Space Group"][()])[0]) > 0:
            pg = str(crystal_map.Phase(space_group=int(np.ravel(g["Space Group"][()])[0])).point_group.name)
        elif "Laue Group" in g:
            pg = _text(g["Laue Group"].attrs.get("Symbol", b""))
        lattice = None
        if "Lattice Dimensions" in g and "Lattice Angles" in g:
            lattice = [float(v) for v in np.ravel(g["Lattice Dimensions"][()])] + \
                      [float(v) for v in np.rad2deg(np.ravel(g["Lattice Angles"][()]))]
        name = _text(g["Phase Name"]) if "Phase Name" in g else f"phase {key}"
        out.append(_phase(int(key), name, pg, lattice))
    return out


def _edax_phases(header: h5py.Group) -> list[dict]:
    out = []
    for key, g in sorted(header.get("Phase", {}).items(), key=lambda kv: int(kv[0])):
        pg = _text(g["Point Group"]) if "Point Group" in g else ""
        pg = pg[pg.rfind("[") + 1:pg.rfind("]")] if "[" in pg else pg  # "Cubic (Oh) [m3m]" → m3m
        names = ("a", "b", "c", "alpha", "beta", "gamma")
        lattice = ([_number(g, f"Lattice Constant {k}") for k in names]
                   if all(f"Lattice Constant {k}" in g for k in names) else None)
        name = _text(g["MaterialName"]) if "MaterialName" in g else f"phase {key}"
        out.append(_phase(int(key), name, pg, lattice))
    return out


def _undeclared(phase_id: np.ndarray, phases: list[dict]) -> list[dict]:
    """Phases the data use but the header does not define (no symmetry known)."""
    known = {p["id"] for p in phases}
    return [_phase(int(k), f"phase {int(k)}", None, None) for k in np.unique(phase_id) if k >= 0 and int(k) not in known]


def _from_euler(euler: np.ndarray, phase_id: np.ndarray, phases: list[dict], quality: dict) -> CrystalMapData:
    """Unit quaternions (a ≥ 0; NaN where not indexed) of Bunge Euler angles in radians, via orix."""
    rotation = require("orix.quaternion", "ebsd").Rotation
    bad = ~np.isfinite(euler).all(axis=1)
    phase_id = np.where(bad, NOT_INDEXED, phase_id).astype(np.int64)
    q = np.asarray(rotation.from_euler(np.where(bad[:, None], 0.0, euler)).data, dtype=np.float64)
    q = np.where(q[:, :1] < 0, -q, q)
    q[phase_id < 0] = np.nan
    n = phase_id.size
    return CrystalMapData(np.zeros(n), np.zeros(n), q, phase_id, phases + _undeclared(phase_id, phases), quality)


def _quality(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {ORIENTATION_QUALITY[k]: v[:, 0] for k, v in columns.items() if k in ORIENTATION_QUALITY}


def _oxford_indexing(scan: h5py.Group, n: int, path) -> CrystalMapData | None:
    data = scan["EBSD/Data"]
    if "Euler" not in data or "Phase" not in data:
        return None
    cols = _columns(data, n, path)
    if "Euler" not in cols or cols["Euler"].shape[1] != 3 or "Phase" not in cols:
        return _mismatch(path, "Euler/Phase", data["Euler"].shape[0], n)
    quality = _quality(cols)
    if "mad" in quality:  # H5OINA stores radians; .ctf files (and the store) degrees
        quality["mad"] = np.rad2deg(quality["mad"])
    phase = np.nan_to_num(cols["Phase"][:, 0], nan=0).astype(np.int64)
    phase = np.where(phase == 0, NOT_INDEXED, phase)
    return _from_euler(cols["Euler"], phase, _oxford_phases(scan["EBSD/Header"]), quality)


def _edax_indexing(scan: h5py.Group, n: int, path) -> CrystalMapData | None:
    data = scan["EBSD/Data"]
    if not all(k in data for k in ("Phi1", "Phi", "Phi2", "Phase")):
        return None
    cols = _columns(data, n, path)
    if not all(k in cols for k in ("Phi1", "Phi", "Phi2", "Phase")):
        return _mismatch(path, "Phi1/Phi/Phi2/Phase", data["Phi1"].shape[0], n)
    phases = _edax_phases(scan["EBSD/Header"])
    phase = cols["Phase"][:, 0].astype(np.int64)
    ids = {p["id"] for p in phases}
    # as orix's .ang reader: a one-phase scan writes phase 0 for its phase; CI = -1 is not indexed
    phase = np.where((phase == 0) & (0 not in ids), phases[0]["id"] if len(phases) == 1 else NOT_INDEXED, phase)
    if "CI" in cols:
        phase = np.where(cols["CI"][:, 0] == -1, NOT_INDEXED, phase)
    euler = np.column_stack([cols["Phi1"][:, 0], cols["Phi"][:, 0], cols["Phi2"][:, 0]])
    return _from_euler(euler, phase, phases, _quality(cols))


def _mismatch(path, what: str, have: int, n: int):
    raise InputError(path, f"its indexing ({what}) has {have} points but its patterns a {n}-point scan: "
                           "the indexing grid does not match the patterns (--no-orientations reads the patterns only)")


def _bruker_phases(header: h5py.Group) -> list[dict]:
    crystal_map = require("orix.crystal_map", "ebsd")
    out = []
    for key, g in sorted(header.get("Phases", {}).items(), key=lambda kv: int(kv[0])):
        it = int(_number(g, "IT", 0) or 0)
        pg = str(crystal_map.Phase(space_group=it).point_group.name) if it > 0 else None
        lattice = [float(v) for v in np.ravel(g["LatticeConstants"][()])] if "LatticeConstants" in g else None
        out.append(_phase(int(key), _text(g["Name"]) if "Name" in g else f"phase {key}", pg, lattice))
    return out


def _bruker_by_hand(scan: h5py.Group, n: int, path) -> CrystalMapData:
    """Bruker's indexing read as orix reads it (Euler in degrees, phase 0 not indexed), points in map order."""
    data = scan["EBSD/Data"]
    cols = _columns(data, n, path)
    if not all(k in cols for k in ("phi1", "PHI", "phi2", "Phase")):
        _mismatch(path, "phi1/PHI/phi2/Phase", data["phi1"].shape[0], n)
    sem = scan.get("EBSD/SEM") or scan.get("SEM") or {}
    iy, ix = (next((sem[k][()] for k in names if k in sem), None) for names in (("IY", "SEM IY"), ("IX", "SEM IX")))
    order = np.arange(n)
    if iy is not None and ix is not None and np.size(iy) == n:  # a region of interest: points in map order
        iy, ix = np.ravel(iy) - np.min(iy), np.ravel(ix) - np.min(ix)
        order = np.ravel_multi_index((iy, ix), (int(iy.max()) + 1, int(ix.max()) + 1)).argsort()
    cols = {k: v[order] for k, v in cols.items()}
    phase = cols["Phase"][:, 0].astype(np.int64)
    euler = np.deg2rad(np.column_stack([cols["phi1"][:, 0], cols["PHI"][:, 0], cols["phi2"][:, 0]]))
    return _from_euler(euler, np.where(phase == 0, NOT_INDEXED, phase), _bruker_phases(scan["EBSD/Header"]),
                       _quality(cols))


def _bruker_indexing(path: Path, n: int) -> CrystalMapData | None:
    with h5py.File(path, "r") as f:
        data = _first_scan(f).get("EBSD/Data", {})
        if not all(k in data for k in ("phi1", "PHI", "phi2", "Phase")):
            return None
    try:
        cm = read_crystal_map(path)
    except InputError:
        # orix's Bruker reader fails on some headers (e.g. an atom's Debye-Waller factor after
        # its occupancy): the same datasets read by hand
        with h5py.File(path, "r") as f:
            return _bruker_by_hand(_first_scan(f), n, path)
    if cm.phase_id.size != n:
        _mismatch(path, "phi1/PHI/phi2/Phase", cm.phase_id.size, n)
    return cm


def _oxford_elements(scan: h5py.Group, n: int, path) -> tuple[list[str], np.ndarray, str] | None:
    data = scan.get("EDS/Data")
    if data is None:
        return None
    group = next((g for g in EDS_GROUPS if g in data and len(data[g])), None)
    if group is None:
        return None
    names = list(data[group].keys())
    values = [np.asarray(data[group][k][()], dtype=np.float32).reshape(-1) for k in names]
    if any(v.size != n for v in values):
        raise InputError(path, f"its EDS maps ({group}) have {values[0].size} points but its patterns a {n}-point "
                               "scan: the EDS grid does not match the patterns (--no-elements reads without them)")
    symbols = [k.split()[0] for k in names]  # "Fe Ka1" → Fe, unless two lines of one element
    return (symbols if len(set(symbols)) == len(symbols) else names), np.stack(values), group


def _indexing(vendor: str, path: Path, n: int) -> CrystalMapData | None:
    if vendor == "bruker":
        return _bruker_indexing(path, n)
    with h5py.File(path, "r") as f:
        scan = _first_scan(f)
        if "EBSD/Data" not in scan:
            return None
        return (_oxford_indexing if vendor == "oxford" else _edax_indexing)(scan, n, path)


def _orientation_line(variables: dict[str, xr.DataArray], name: str) -> str:
    pid = variables[phase_id_name(name)].values
    phases = variables[name].attrs["phases"]
    used = [p for p in phases if (pid == p["id"]).any()] or phases
    quality = [k for k in variables if k not in (name, phase_id_name(name))]
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
    data = _indexing(vendor, path, n) if orientations else None
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
            found = _oxford_elements(_first_scan(f), n, path)
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
