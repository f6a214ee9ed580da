"""Read crystal orientation maps (EDAX/TSL ``.ang``, Oxford ``.ctf``, orix HDF5, h5ebsd) onto a scan grid.

orix (:func:`orix.io.load`) reads the file; :func:`read_crystal_map` keeps what the store needs
(each point's x/y in µm, its first orientation as a unit quaternion in orix's convention, its
phase id and the phases, and the quality columns). :func:`orientation_variables` places the
points **by coordinate** on a grid — the store's when there is one
(:func:`vaearr.io.grid.place_on_grid`, as CSV tables are placed), else the grid the points lie
on (:func:`vaearr.io.grid.infer_grid`) — and :func:`ingest_orientations` writes them in one
transaction, with maps derived from them (``derive``) in the same one.

Store variables (names in :mod:`vaearr.store.schema`): ``orientation(y, x, quaternion)``
float32 (coord ``quaternion`` = a, b, c, d; NaN where a point is not indexed or the grid node has
no point), ``phase_id(y, x)`` int16 (the file's phase ids, −1 not indexed / no point), the phases
in both variables' ``phases`` attr (id, name, point group, lattice a, b, c, α, β, γ), and the
quality columns as ``(y, x)`` float32 variables (``.ang``: ``iq``, ``ci``, ``fit``; ``.ctf``:
``mad``, ``bands``, ``bandcontrast``, ``bandslope``; orix HDF5 from kikuchipy's indexing: ``score``,
``osm``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.crystals import phase_record
from vaearr.errors import InputError, StoreError, VaearrError, VaearrWarning, require, unreadable, what_file
from vaearr.io.crystal_map import NOT_INDEXED, CrystalMapData
from vaearr.io.grid import infer_grid, place_on_grid
from vaearr.io.limits import check_budget, check_rows, check_text
from vaearr.io.tables import Derived
from vaearr.io.vendor_indexing import read_vendor_indexing, vendor_of
from vaearr.io.write import write_ingested
from vaearr.store import is_input, open_store, refuse_inputs, store_exists
from vaearr.store.schema import (
    ORIENTATION,
    ORIENTATION_QUALITY,
    QUATERNION,
    QUATERNION_COMPONENTS,
    X,
    Y,
    phase_id_name,
)
from vaearr.numba_cache import guard_gufunc_cache

#: The first bytes of a ``.ang``/``.ctf`` where its header is looked for (a header is a few kB).
HEADER_BYTES = 1 << 20
#: Written in the ``convention`` attr of every orientation variable.
CONVENTION = ("unit quaternions (a, b, c, d) in orix's convention (Bunge Euler angles of the file → "
              "orix Rotation.from_euler), crystal symmetry acting on the left; a ≥ 0")


def _header_points(path: Path) -> int | None:
    """Points a ``.ang``/``.ctf`` header announces (None: no such header), the file's sizes checked against it
    and against the memory budget first (:mod:`vaearr.io.limits`): a header read in a bounded piece, no NUL
    bytes, no more bytes than the announced points' rows can take, their values within the budget."""
    suffix = path.suffix.lower()
    if suffix not in (".ang", ".ctf"):
        return None
    with open(path, "rb") as f:
        start = f.read(HEADER_BYTES)
    check_text(path, start)
    head: dict[str, str] = {}
    offset, first_row = len(start), ""
    lines = start.decode("latin-1").splitlines(keepends=True)
    at = 0
    for line in lines[:2000]:
        if (suffix == ".ang" and not line.startswith("#")) or (suffix == ".ctf" and line.startswith("Phase\tX\tY")):
            offset = at + (len(line) if suffix == ".ctf" else 0)
            first_row = line if suffix == ".ang" else next(iter(lines[lines.index(line) + 1:]), "")
            break
        at += len(line)
        m = re.match(r"#?\s*([A-Za-z_]+)\s*:?\s+(\S+)", line)
        if m:
            head.setdefault(m.group(1).lower(), m.group(2))
    try:
        if suffix == ".ang":
            odd, even, rows = int(head["ncols_odd"]), int(head.get("ncols_even", head["ncols_odd"])), int(head["nrows"])
            points = (rows + 1) // 2 * odd + rows // 2 * even
        else:
            points = int(head["xcells"]) * int(head["ycells"])
    except (KeyError, ValueError):
        points = None
    columns = max(len(first_row.split()), 1)
    if points is not None:
        check_rows(path, points, offset, "header")
    # orix parses every row into float64 columns and copies them a few times on the way to a crystal map
    rows = points if points is not None else path.stat().st_size // 16
    check_budget(path, rows * columns * 8 * 4, f"its {rows} points of {columns} columns")
    return points


def _phases(xmap) -> list[dict]:
    """The map's phases as phase records (id, name, point and space group, lattice, atoms), as ``vaearr index`` keeps them."""
    return [phase_record(phase, int(pid), units="as the file gives them") for pid, phase in xmap.phases if int(pid) >= 0]


def read_crystal_map(path: str | os.PathLike) -> CrystalMapData:
    """Read a crystal map with :func:`orix.io.load` and keep what the store needs.

    Parameters
    ----------
    path
        ``.ang`` (EDAX/TSL), ``.ctf`` (Oxford), orix HDF5 or an h5ebsd file orix reads (EMsoft,
        Bruker), or the indexing of an Oxford ``.h5oina`` or an EDAX h5ebsd (read by
        :func:`vaearr.io.vendor_indexing.read_vendor_indexing`, as is a Bruker file orix's reader
        stops on). With several solutions per point, the first (best) is kept.

    Raises
    ------
    InputError
        No such file, a file orix cannot read, or fewer points than the header announces
        (a truncated file).
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    orix_io = require("orix.io", "ebsd")
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else f"{what_file(path)}, not a file")
    vendor = vendor_of(path)
    if vendor in ("oxford", "edax"):  # orix has no reader for their indexing
        data = read_vendor_indexing(path, vendor)
        if data is None:
            raise InputError(path, "holds no indexing (no Euler angles and phases in its EBSD data)")
        return data
    expected = _header_points(path)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xmap = orix_io.load(path)
    except VaearrError:
        raise
    except Exception as exc:  # noqa: BLE001 - orix's readers raise what numpy/h5py raise: one line for all of them
        # orix's Bruker reader stops on some headers (an atom's Debye-Waller factor after its occupancy)
        data = read_vendor_indexing(path, vendor) if vendor == "bruker" else None
        if data is not None:
            return data
        raise unreadable(path, "a crystal map orix reads (.ang, .ctf, orix HDF5 or h5ebsd)", exc,
                         suffixes=(".ang", ".ctf", ".h5", ".hdf5", ".h5ebsd")) from None
    if vendor == "bruker" and (xmap.x is None or xmap.y is None):
        # orix orders Bruker points by SEM IX/IY; placeholders there leave it a map without x/y
        data = read_vendor_indexing(path, vendor)
        if data is not None:
            return data
    if expected is not None and int(xmap.size) != expected:
        raise InputError(path, f"has {int(xmap.size)} scan points but its header announces {expected}: truncated file?")
    return crystal_map_data(xmap, path=path)


def crystal_map_data(xmap, *, path: str | os.PathLike = "") -> CrystalMapData:
    """What the store keeps of an :class:`orix.crystal_map.CrystalMap` (read from ``path``, if any).

    Raises
    ------
    InputError
        The map has no x/y coordinates.
    """
    n = int(xmap.size)
    if xmap.x is None or xmap.y is None:
        raise InputError(path, "is not a 2D map (no x/y coordinates)")
    rot = np.asarray(xmap.rotations.data, dtype=np.float64)
    if rot.ndim == 3:  # several solutions per point: the first is the best
        rot = rot[:, 0]
    rot = rot.reshape(n, 4)
    phase_id = np.asarray(xmap.phase_id, dtype=np.int64).reshape(n)
    phases = _phases(xmap)
    known = np.isin(phase_id, [p["id"] for p in phases])
    phase_id = np.where(known, phase_id, NOT_INDEXED)
    norm = np.linalg.norm(rot, axis=1, keepdims=True)
    q = rot / np.where(norm > 0, norm, 1.0)
    q = np.where(q[:, :1] < 0, -q, q)  # one of ±q: a ≥ 0
    q[phase_id < 0] = np.nan
    # per point; with several solutions per point (kikuchipy's keep_n) the first, as for the rotations
    quality = {ORIENTATION_QUALITY[k]: np.asarray(v, dtype=np.float64).reshape(n, -1)[:, 0]
               for k, v in xmap.prop.items() if k in ORIENTATION_QUALITY}
    return CrystalMapData(np.asarray(xmap.x, float), np.asarray(xmap.y, float), q, phase_id, phases, quality)


def orientation_variables(
    data: CrystalMapData,
    *,
    path: str | os.PathLike = "",
    grid_x: np.ndarray | None = None,
    grid_y: np.ndarray | None = None,
    nearest: bool = False,
    name: str = ORIENTATION,
) -> tuple[dict[str, xr.DataArray], str]:
    """Place a crystal map's points on a grid by coordinate; return the store variables and the grid kind.

    Without ``grid_x``/``grid_y`` the grid is the one the points lie on (hexagonal scans are
    assembled onto a square grid by nearest point, with a warning).

    Raises
    ------
    InputError
        The points do not fit the given grid (off-grid, outside it, a duplicated coordinate).
    """
    if grid_x is None or grid_y is None:
        grid = infer_grid(data.x, data.y, path=path)
        gx, gy, index, kind = grid.x, grid.y, grid.index, grid.kind
    else:
        gx, gy = np.asarray(grid_x, float), np.asarray(grid_y, float)
        try:
            index = place_on_grid(data.x, data.y, gx, gy, path=path, nearest=nearest)
        except InputError as exc:
            step = float(np.median(np.diff(gx))) if gx.size > 1 else 1.0
            raise InputError(path, f"its scan grid does not match the store's ({gy.size}×{gx.size}, step {step:g} µm, "
                                   f"x {gx[0]:g}–{gx[-1]:g}, y {gy[0]:g}–{gy[-1]:g}): {exc.problem}") from None
        kind = "non-square" if nearest else "square"
    have = index >= 0
    rows = index[have]
    shape = index.shape
    coords = {Y: gy, X: gx}
    attrs = {"file": os.fspath(Path(path).resolve()) if path else "", "phases": data.phases}
    q = np.full((*shape, 4), np.nan, np.float32)
    q[have] = data.quaternions[rows]
    pid = np.full(shape, NOT_INDEXED, np.int16)
    pid[have] = data.phase_id[rows]
    out = {
        name: xr.DataArray(q, dims=(Y, X, QUATERNION), coords={**coords, QUATERNION: list(QUATERNION_COMPONENTS)},
                           attrs={**attrs, "convention": CONVENTION, "not_indexed": "NaN"}),
        phase_id_name(name): xr.DataArray(pid, dims=(Y, X), coords=coords, attrs={**attrs, "not_indexed": NOT_INDEXED}),
    }
    for var, values in data.quality.items():
        v = np.full(shape, np.nan, np.float32)
        v[have] = values[rows]
        out[var] = xr.DataArray(v, dims=(Y, X), coords=coords, attrs={"file": attrs["file"]})
    missing = int((~have).sum())
    if missing:
        warnings.warn(f"{path}: {missing} of {index.size} grid nodes have no point in this orientation map; "
                      f"they are not indexed (NaN, phase_id {NOT_INDEXED})", VaearrWarning, stacklevel=2)
    return out, kind


def ingest_orientations(
    path: str | os.PathLike,
    store: str | os.PathLike,
    *,
    name: str = ORIENTATION,
    overwrite: bool = False,
    derive: Callable[[Mapping[str, xr.DataArray]], Derived] | None = None,
    progress: bool | str = False,
) -> xr.Dataset:
    """Read an orientation map onto the store's scan grid (a new store when there is none) and write it.

    Everything is read and checked first; then one transaction writes ``{name}``, ``phase_id``,
    the quality variables and what ``derive`` returns (e.g. the maps of
    :func:`vaearr.maps.indexing.orientations.orientation_maps`), so a bad file changes nothing.

    Parameters
    ----------
    path
        ``.ang``, ``.ctf``, orix HDF5 or h5ebsd file (see :func:`read_crystal_map`).
    store
        Store to add to (aligned by coordinate to its ``y``/``x``) or to create.
    name
        Name of the orientation variable.
    overwrite
        Replace variables that exist.
    derive
        Called with the variables read; its variables are written in the same transaction.

    Raises
    ------
    InputError
        A bad file or a grid that does not match the store's.
    StoreError
        A variable exists and ``overwrite`` is false.
    """
    path = Path(path)
    exists = store_exists(store)
    ds = open_store(store) if exists else None
    if ds is not None and not (Y in ds.coords and X in ds.coords):
        raise StoreError(store, "has no y/x scan grid to align orientations to; write them to a new store")
    data = read_crystal_map(path)
    nearest = False
    if ds is not None:
        nearest = str(ds.attrs.get("grid_kind", ds.attrs.get("grid", "square"))) != "square"
        variables, kind = orientation_variables(data, path=path, grid_x=ds[X].values, grid_y=ds[Y].values,
                                                nearest=nearest, name=name)
    else:
        variables, kind = orientation_variables(data, path=path, name=name)
    source = {k: [os.fspath(path)] for k in variables}
    config: dict = {"file": os.fspath(path.resolve()), "name": name, "nearest": nearest}
    derived: list[str] = []
    if derive is not None:
        extra = derive(variables)
        derived = list(extra.variables)
        variables = {**variables, **extra.variables}
        source.update({k: list(extra.source) for k in extra.variables})
        config.update(extra.config)
    if ds is not None:  # the file's variables may replace the inputs they read again; derived maps none
        refuse_inputs(ds, variables, store, ingest=[k for k in variables if k not in derived])
        if is_input(ds, name) and QUATERNION not in ds[name].dims:  # `name` given another kind of input's name
            raise StoreError(store, f"variable '{name}' is an input over {tuple(map(str, ds[name].dims))}, not "
                                    "orientations: give `name` another name")
    if ds is not None and not overwrite:
        clash = [k for k in variables if k in ds.variables]
        if clash:
            raise StoreError(store, f"variable(s) {clash} exist; pass `overwrite=True` to replace them")
    group_attrs = None
    if ds is None:
        gx, gy = variables[name][X].values, variables[name][Y].values
        step = [float(np.median(np.diff(gy))) if gy.size > 1 else 1.0, float(np.median(np.diff(gx))) if gx.size > 1 else 1.0]
        group_attrs = {"grid": kind, "step": step, "step_units": "µm", "scan_shape": [int(gy.size), int(gx.size)],
                       "orientations_source": os.fspath(path.resolve())}
    written = write_ingested(store, variables, source=source, config=json.loads(json.dumps(config, default=str)),
                             kind="ebsd-map" if ds is None else None, group_attrs=group_attrs, overwrite=overwrite,
                             progress=progress, src=path, what="orientations", expects="ebsd-map",
                             derived=derived)
    return written[list(variables)]
