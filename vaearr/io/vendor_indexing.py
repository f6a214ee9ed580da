"""The indexing a vendor's EBSD HDF5 file holds (Euler angles, phases, quality), read where orix cannot.

orix reads Bruker's h5ebsd crystal maps (:func:`vaearr.io.orientations.read_crystal_map` uses it);
neither orix nor kikuchipy reads the indexing of EDAX's h5ebsd or of Oxford's H5OINA, so they are
read here by hand, following:

* **Oxford** H5OINA, Oxford's published specification (github.com/oinanoanalysis/h5oina):
  ``1/EBSD/Data/Euler`` (Bunge, radians), ``Phase`` (0: not indexed), ``Band Contrast``,
  ``Band Slope``, ``Bands``, ``Mean Angular Deviation`` (radians; kept in degrees, as ``.ctf``
  files give it); phases from ``Header/Phases/<id>`` (``Phase Name``, ``Space Group``,
  ``Laue Group``, ``Lattice Dimensions``, ``Lattice Angles``); grid ``X Cells``, ``Y Cells``,
  ``X Step``, ``Y Step``;
* **EDAX** h5ebsd as OIM writes it: ``Scan */EBSD/Data/{Phi1, Phi, Phi2}`` (Bunge, radians),
  ``Phase``, ``CI``, ``IQ``, ``Fit``; phases from ``Header/Phase/<id>`` (``MaterialName``,
  ``Point Group``, ``Lattice Constant a…gamma``); grid ``nRows``, ``nColumns``, ``Step X/Y``. The
  conventions of orix's ``.ang`` reader: CI = −1 is not indexed, phase 0 of a one-phase scan is
  that phase — so an OIM ``.ang`` export of the scan gives the same map;
* **Bruker** h5ebsd, as orix's reader reads it (Euler in degrees, phase 0 not indexed, points in
  map order from ``SEM IX``/``IY``), for the files orix's reader stops on.

Points come in map order (row by row) with coordinates ``index × step`` from the header grid, as
kikuchipy places the file's patterns; every quaternion is orix's ``Rotation.from_euler`` of the
file's angles.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

import h5py
import numpy as np

from vaearr.errors import InputError, require
from vaearr.io.crystal_map import NOT_INDEXED, CrystalMapData
from vaearr.io.limits import check_dataset
from vaearr.store.schema import ORIENTATION_QUALITY
from vaearr.numba_cache import guard_gufunc_cache

#: Root ``Manufacturer`` of each vendor's HDF5 file (its start, case-insensitive).
MANUFACTURERS = MappingProxyType({"oxford": "oxford", "bruker": "bruker", "edax": "edax"})
#: Per vendor: the datasets of the indexing (Euler angles, then phase) and of the header grid
#: (columns, rows, x step, y step).
EULER = MappingProxyType({"oxford": ("Euler", "Phase"), "edax": ("Phi1", "Phi", "Phi2", "Phase"),
                          "bruker": ("phi1", "PHI", "phi2", "Phase")})
GRID = MappingProxyType({"oxford": ("X Cells", "Y Cells", "X Step", "Y Step"), "edax": ("nColumns", "nRows", "Step X", "Step Y"),
                         "bruker": ("NCOLS", "NROWS", "XSTEP", "YSTEP")})


def text(obj) -> str:
    """A string dataset or attribute (bytes, arrays of one) as text."""
    value = obj[()] if isinstance(obj, h5py.Dataset) else obj
    value = np.ravel(value)[0] if np.ndim(value) else value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _number(group: h5py.Group, name: str, default: float | None = None) -> float | None:
    return float(np.ravel(group[name][()])[0]) if name in group else default


def vendor_of(path: str | os.PathLike) -> str | None:
    """``"oxford"``, ``"bruker"`` or ``"edax"`` from an HDF5 file's root ``Manufacturer``; else None."""
    if not os.path.isfile(path) or not h5py.is_hdf5(path):
        return None
    try:
        with h5py.File(path, "r") as f:
            key = next((k for k in f.keys() if k.strip() == "Manufacturer"), None)  # EDAX writes " Manufacturer"
            if key is None or not isinstance(f[key], h5py.Dataset):
                return None
            maker = text(f[key]).strip().lower()
    except OSError:  # truncated or corrupt: the reader that needs it says so
        return None
    return next((k for k, start in MANUFACTURERS.items() if maker.startswith(start)), None)


def first_scan(f: h5py.File) -> h5py.Group | None:
    """The scan kikuchipy reads: the first top-level group."""
    return next((f[k] for k in f.keys() if isinstance(f[k], h5py.Group)), None)


def holds_indexing(path: str | os.PathLike, vendor: str) -> bool:
    """Whether the file's first scan has the vendor's Euler-angle and phase datasets."""
    with h5py.File(path, "r") as f:
        scan = first_scan(f)
        data = scan.get("EBSD/Data") if scan is not None else None
        return data is not None and all(k in data for k in EULER[vendor])


def _columns(data: h5py.Group, n: int, vendor: str) -> dict[str, np.ndarray]:
    """The vendor's Euler, phase and quality datasets of ``n`` values each, as ``(n, k)`` float64."""
    out = {}
    for name in (*EULER[vendor], *ORIENTATION_QUALITY):
        ds = data.get(name)
        if isinstance(ds, h5py.Dataset) and 1 <= ds.ndim <= 2 and ds.shape[0] == n and ds.dtype.kind in "fiub":
            check_dataset(ds.file.filename, ds, itemsize=8)  # read whole, as float64
            out[name] = np.asarray(ds[()], dtype=np.float64).reshape(n, -1)
    return out


def _atoms(group) -> list[dict]:
    """Bruker's ``AtomPositions`` (``"Ni,0,0,0,1,0.0035"``: element, x, y, z, occupancy, …) as phase-record atoms."""
    out = []
    for _, ds in sorted(group.items(), key=lambda kv: kv[0]) if group is not None else []:
        parts = text(ds).split(",")
        if len(parts) < 4:  # no x, y, z: not a position
            continue
        try:
            out.append({"element": parts[0].strip(), "xyz": [float(v) for v in parts[1:4]],
                        "occupancy": float(parts[4]) if len(parts) > 4 else 1.0})
        except (ValueError, IndexError):
            continue  # a position vaearr cannot read is left out, as a phase without atoms
    return out


def _phase(pid: int, name: str, point_group: str | None, space_group: int = 0, lattice=None,
           atoms: list[dict] | None = None) -> dict:
    """A phase as the store keeps it (the layout of :func:`vaearr.crystals.phase_record`); the point group orix's name
    of the space group's, or of the symbol given."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    crystal_map = require("orix.crystal_map", "ebsd")
    pg = None
    try:
        if space_group > 0:
            pg = str(crystal_map.Phase(space_group=space_group).point_group.name)
        elif point_group:
            pg = str(crystal_map.Phase(point_group=point_group).point_group.name)
    except (ValueError, KeyError, IndexError, TypeError):
        pg = None
    return {"id": pid, "name": name, "point_group": pg, "space_group": int(space_group) if space_group > 0 else None,
            "lattice": lattice, "lattice_units": "as the file gives them", "atoms": atoms or []}


def _phases(header: h5py.Group, vendor: str) -> list[dict]:
    group = header.get({"oxford": "Phases", "edax": "Phase", "bruker": "Phases"}[vendor], {})
    out = []
    for key, g in sorted(group.items(), key=lambda kv: int(kv[0])):
        if vendor == "oxford":
            symbol = text(g["Laue Group"].attrs.get("Symbol", b"")) if "Laue Group" in g else None
            lattice = ([float(v) for v in np.ravel(g["Lattice Dimensions"][()])]
                       + [float(v) for v in np.rad2deg(np.ravel(g["Lattice Angles"][()]))]
                       if "Lattice Dimensions" in g and "Lattice Angles" in g else None)
            out.append(_phase(int(key), text(g["Phase Name"]) if "Phase Name" in g else f"phase {key}", symbol,
                              int(_number(g, "Space Group", 0) or 0), lattice))
        elif vendor == "edax":
            pg = text(g["Point Group"]) if "Point Group" in g else ""
            pg = pg[pg.rfind("[") + 1:pg.rfind("]")] if "[" in pg else pg  # "Cubic (Oh) [m3m]" → m3m
            names = [f"Lattice Constant {k}" for k in ("a", "b", "c", "alpha", "beta", "gamma")]
            lattice = [_number(g, k) for k in names] if all(k in g for k in names) else None
            out.append(_phase(int(key), text(g["MaterialName"]) if "MaterialName" in g else f"phase {key}", pg,
                              lattice=lattice))
        else:
            lattice = [float(v) for v in np.ravel(g["LatticeConstants"][()])] if "LatticeConstants" in g else None
            out.append(_phase(int(key), text(g["Name"]) if "Name" in g else f"phase {key}", None,
                              int(_number(g, "IT", 0) or 0), lattice, _atoms(g.get("AtomPositions"))))
    return out


def _map_order(scan: h5py.Group, n: int) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Bruker: the order that puts the points in map order, and the map shape, from ``SEM IX``/``IY``."""
    sem = scan.get("EBSD/SEM") or scan.get("SEM") or {}
    iy, ix = (next((np.ravel(sem[k][()]) for k in names if k in sem), None) for names in (("IY", "SEM IY"), ("IX", "SEM IX")))
    if iy is None or ix is None or iy.size != n or ix.size != n:
        return np.arange(n), None
    iy, ix = iy - iy.min(), ix - ix.min()
    shape = (int(iy.max()) + 1, int(ix.max()) + 1)
    return np.ravel_multi_index((iy, ix), shape).argsort(), shape


def _from_euler(euler: np.ndarray, phase_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit quaternions (a ≥ 0; NaN where not indexed or the angles are NaN) via orix, and the phase ids."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    rotation = require("orix.quaternion", "ebsd").Rotation
    bad = ~np.isfinite(euler).all(axis=1)
    phase_id = np.where(bad, NOT_INDEXED, phase_id).astype(np.int64)
    q = np.asarray(rotation.from_euler(np.where(bad[:, None], 0.0, euler)).data, dtype=np.float64)
    q = np.where(q[:, :1] < 0, -q, q)
    q[phase_id < 0] = np.nan
    return q, phase_id


def _vendor_phase_ids(vendor: str, cols: dict[str, np.ndarray], phases: list[dict]) -> np.ndarray:
    phase = np.nan_to_num(cols["Phase"][:, 0], nan=0).astype(np.int64)
    if vendor != "edax":
        return np.where(phase == 0, NOT_INDEXED, phase)
    ids = {p["id"] for p in phases}
    # as orix's .ang reader: a one-phase scan writes phase 0 for its phase; CI = -1 is not indexed
    phase = np.where((phase == 0) & (0 not in ids), phases[0]["id"] if len(phases) == 1 else NOT_INDEXED, phase)
    return np.where(cols["CI"][:, 0] == -1, NOT_INDEXED, phase) if "CI" in cols else phase


def read_vendor_indexing(path: str | os.PathLike, vendor: str | None = None) -> CrystalMapData | None:
    """The indexing of an Oxford H5OINA, EDAX or Bruker h5ebsd file, read by hand (None: it holds none).

    Raises
    ------
    InputError
        The indexing datasets have another number of points than the header's scan grid.
    """
    path = Path(path)
    vendor = vendor or vendor_of(path)
    if vendor is None or vendor not in EULER or not holds_indexing(path, vendor):
        return None
    with h5py.File(path, "r") as f:
        scan = first_scan(f)
        data, header = scan["EBSD/Data"], scan["EBSD/Header"]
        ncol, nrow, dx, dy = (_number(header, k) for k in GRID[vendor])
        n = int(data[EULER[vendor][0]].shape[0])
        order, shape = _map_order(scan, n) if vendor == "bruker" else (np.arange(n), None)
        ny, nx = shape or (int(nrow or 1), int(ncol or n))
        cols = _columns(data, ny * nx, vendor)
        if not all(k in cols for k in EULER[vendor]):
            raise InputError(path, f"its indexing ({'/'.join(EULER[vendor])}) has {n} points but its scan "
                                   f"{ny} × {nx} = {ny * nx}: the indexing grid does not match the scan")
        cols = {k: v[order] for k, v in cols.items()}
        phases = _phases(header, vendor)
    euler = cols["Euler"] if vendor == "oxford" else np.column_stack([cols[k][:, 0] for k in EULER[vendor][:3]])
    q, phase_id = _from_euler(np.deg2rad(euler) if vendor == "bruker" else euler,
                              _vendor_phase_ids(vendor, cols, phases))
    known = {p["id"] for p in phases}  # phases the data use but the header does not define: no symmetry known
    phases += [_phase(int(k), f"phase {int(k)}", None) for k in np.unique(phase_id) if k >= 0 and int(k) not in known]
    quality = {ORIENTATION_QUALITY[k]: v[:, 0] for k, v in cols.items() if k in ORIENTATION_QUALITY}
    if vendor == "oxford" and "mad" in quality:  # H5OINA stores radians; .ctf files (and the store) degrees
        quality["mad"] = np.rad2deg(quality["mad"])
    y, x = np.divmod(np.arange(ny * nx), nx)
    return CrystalMapData(x * (dx or 1.0), y * (dy or dx or 1.0), q, phase_id, phases, quality)
