"""The store and the field's Python objects: orix's :class:`~orix.crystal_map.CrystalMap` and kikuchipy's
:class:`~kikuchipy.signals.EBSD`, both ways.

:func:`to_crystal_map` makes a crystal map from a store's orientations (``orientation(y, x, quaternion)``,
its ``phase_id`` and the phases in their ``phases`` attr), with the quality maps as properties under
the names orix's writers look for (``iq``, ``ci``, ``fit``, ``MAD``, ``BC``, ``BS``, ``bands``,
``scores``); a label map (segmentation, clusters) may stand for the phase id (``phase_from``) or ride
along as a ``grain_id`` property (``grain_from``). :func:`from_crystal_map` is its inverse: a dataset
in the store schema, as ``vaearr ingest orientations`` writes it. :func:`to_ebsd` gives the patterns
as a (lazy) kikuchipy signal with the crystal map and the detector the store has.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from types import MappingProxyType

import numpy as np
import xarray as xr

from vaearr.crystals import phase_list
from vaearr.errors import InputError, require
from vaearr.io.orientations import NOT_INDEXED, crystal_map_data, orientation_variables
from vaearr.store.schema import (
    ORIENTATION,
    ORIENTATION_QUALITY,
    PATTERNS,
    PX,
    PY,
    QUATERNION,
    X,
    Y,
    no_variable,
    phase_id_name,
)
from vaearr.numba_cache import guard_gufunc_cache

#: Store quality variable → orix property name (the first of :data:`ORIENTATION_QUALITY`'s keys), and
#: the quality maps ``vaearr index`` writes as ``{name}_score`` / ``{name}_bands``.
ORIX_PROPERTY = MappingProxyType({**{store: orix for orix, store in reversed(list(ORIENTATION_QUALITY.items()))},
                                  "score": "scores", "bands": "bands"})
#: Property a grain-id label map rides in (``grain_from``).
GRAIN_ID = "grain_id"


def orientation_names(ds: xr.Dataset) -> list[str]:
    """The store's orientation variables (those with a ``quaternion`` dim)."""
    return [str(k) for k, v in ds.data_vars.items() if QUATERNION in v.dims]


def check_orientation(ds: xr.Dataset, orientation: str, where: Any = None) -> xr.DataArray:
    """``ds[orientation]`` as ``(y, x, quaternion)``; an :class:`InputError` naming the choices when it is not one."""
    if orientation not in ds.data_vars or QUATERNION not in ds[orientation].dims:
        raise InputError(where, no_variable(orientation, orientation_names(ds), kind="orientation variable",
                                            listed="its orientations"))
    return ds[orientation].transpose(Y, X, QUATERNION)


def label_map(ds: xr.Dataset, name: str, option: str, where: Any = None) -> np.ndarray:
    """``ds[name]`` as an integer ``(y, x)`` array; an :class:`InputError` when it is not a label map."""
    if name not in ds.data_vars:
        raise InputError(where, f"{option}: {no_variable(name, ds.data_vars)}")
    v = ds[name]
    if set(v.dims) != {Y, X} or v.dtype.kind not in "iub":
        raise InputError(where, f"{option}: '{name}' is not a label map (an integer (y, x) variable such as a "
                                f"segmentation or clusters; it is {v.dtype} over {tuple(map(str, v.dims))})")
    return v.transpose(Y, X).values.astype(np.int64)


def score_property(score: xr.DataArray) -> str:
    """The orix property a ``vaearr index`` score becomes: ``fit`` for PyEBSDIndex's pattern fit (a mean angular
    deviation in degrees: the ``.ang`` fit column, the ``.ctf`` MAD), ``scores`` for an NCC (as kikuchipy keeps it)."""
    given = score.attrs.get("orix_property")
    if given:
        return str(given)
    return "fit" if "pattern fit" in str(score.attrs.get("kind", "")) else "scores"  # stores from before the attr


def _quality(ds: xr.Dataset, orientation: str) -> dict[str, np.ndarray]:
    """The orientation's quality maps as orix properties: ``{orientation}_{q}`` first, else plain ``q``."""
    out: dict[str, np.ndarray] = {}
    for store_name, orix_name in ORIX_PROPERTY.items():
        for var in (f"{orientation}_{store_name}", store_name):
            if var not in ds.data_vars or set(ds[var].dims) != {Y, X}:
                continue
            name = score_property(ds[var]) if store_name == "score" else orix_name
            if name not in out:
                out[name] = ds[var].transpose(Y, X).values.astype(np.float64).ravel()
    return out


def _labels_as_phases(labels: np.ndarray, pid: np.ndarray, phases: list[dict], name: str) -> tuple[np.ndarray, list[dict]]:
    """Label ``k ≥ 0`` → phase ``k`` named ``{name}_k``, with the crystal of the phase most of its pixels have."""
    by_id = {int(p["id"]): p for p in phases}
    new_pid = np.where((labels >= 0) & (pid >= 0), labels, NOT_INDEXED)
    out = []
    for k in np.unique(new_pid[new_pid >= 0]):
        common = Counter(pid[new_pid == k].tolist()).most_common(1)[0][0]
        base = by_id.get(int(common), phases[0] if phases else {"point_group": None, "lattice": None})
        out.append({**base, "id": int(k), "name": f"{name}_{int(k)}"})
    return new_pid, out


def to_crystal_map(ds: xr.Dataset, orientation: str = ORIENTATION, *, phase_from: str | None = None,
                   grain_from: str | None = None, where: Any = None):
    """A store's orientations as an :class:`orix.crystal_map.CrystalMap`.

    Parameters
    ----------
    ds
        A store (:func:`vaearr.open_store`) or a dataset in the store schema.
    orientation
        Orientation variable ``(y, x, quaternion)``; its phase ids are ``phase_id`` (``{orientation}_phase_id``
        for another name), its phases the ``phases`` attr.
    phase_from
        A label map (segmentation, clusters) whose labels become the phase ids: label ``k`` is phase
        ``"{phase_from}_k"`` with the crystal of the phase most of its pixels had; a negative label is
        not indexed.
    grain_from
        A label map written as the ``grain_id`` property.
    where
        The store, named by the one-line errors (a missing variable, a variable that is not a label map).

    Returns
    -------
    CrystalMap
        One point per pixel in raster order (x fastest), x/y in µm; a point whose quaternion is NaN
        or whose phase id is −1 is not indexed (identity rotation, phase −1).
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    cm = require("orix.crystal_map", "ebsd")
    quat = require("orix.quaternion", "ebsd")
    o = check_orientation(ds, orientation, where)
    q = o.values.astype(np.float64).reshape(-1, 4)
    pid_var = phase_id_name(orientation)
    phases = list(o.attrs.get("phases") or (ds[pid_var].attrs.get("phases") if pid_var in ds else None) or [])
    if pid_var in ds.data_vars:
        pid = ds[pid_var].transpose(Y, X).values.astype(np.int64).ravel()
    else:
        pid = np.full(q.shape[0], int(phases[0]["id"]) if phases else 0, np.int64)
    pid = np.where(np.isfinite(q).all(axis=1), pid, NOT_INDEXED)
    if not phases:  # orientations without their phases: one phase without a crystal
        phases = [{"id": int(i), "name": f"phase {int(i)}", "point_group": None, "lattice": None}
                  for i in np.unique(pid[pid >= 0])]
    prop = _quality(ds, orientation)
    if phase_from is not None:
        pid, phases = _labels_as_phases(label_map(ds, phase_from, "`phase_from`", where).ravel(), pid, phases,
                                        phase_from)
    if grain_from is not None:
        prop[GRAIN_ID] = label_map(ds, grain_from, "`grain_from`", where).ravel().astype(np.float64)
    pid = np.where(np.isin(pid, [int(p["id"]) for p in phases]), pid, NOT_INDEXED)
    q[pid < 0] = (1.0, 0.0, 0.0, 0.0)
    yy, xx = np.meshgrid(ds[Y].values.astype(np.float64), ds[X].values.astype(np.float64), indexing="ij")
    return cm.CrystalMap(rotations=quat.Rotation(q), phase_id=pid, x=xx.ravel(), y=yy.ravel(),
                         phase_list=phase_list(phases), prop=prop, scan_unit="um")


def from_crystal_map(xmap, name: str = ORIENTATION) -> xr.Dataset:
    """An :class:`orix.crystal_map.CrystalMap` as a dataset in the store schema.

    The variables :func:`vaearr.io.orientations.ingest_orientations` writes: ``{name}(y, x, quaternion)``
    float32 (NaN not indexed), its phase ids (−1 not indexed) with the phases in the ``phases`` attr,
    and the quality properties orix's readers name (``iq``, ``ci``, ``MAD``, ``BC``, …) as ``(y, x)``
    maps; the root attrs of a new store (grid, step). Write it with :func:`vaearr.write_variables`.
    """
    variables, kind = orientation_variables(crystal_map_data(xmap), name=name)
    gx, gy = variables[name][X].values, variables[name][Y].values
    step = [float(np.median(np.diff(gy))) if gy.size > 1 else 1.0, float(np.median(np.diff(gx))) if gx.size > 1 else 1.0]
    return xr.Dataset(variables, attrs={"grid": kind, "step": step, "step_units": "µm",
                                        "scan_shape": [int(gy.size), int(gx.size)]})


def store_detector(ds: xr.Dataset, orientation: str | None = ORIENTATION, pattern_shape: tuple[int, int] | None = None):
    """kikuchipy's :class:`~kikuchipy.detectors.EBSDDetector` from what ``vaearr index`` (the orientation's
    ``detector`` attr) or a vendor reader (``detector_*`` attrs of the patterns, the Bruker convention) kept;
    None when the store has neither. ``pattern_shape`` defaults to the patterns' (or the indexing's)."""
    if pattern_shape is None:
        idx = ds[orientation].attrs.get("detector") if orientation in ds.data_vars else None
        if PATTERNS in ds.data_vars and {PY, PX} <= set(ds[PATTERNS].dims):
            pattern_shape = (int(ds.sizes[PY]), int(ds.sizes[PX]))
        elif idx and idx.get("shape"):
            pattern_shape = tuple(int(v) for v in idx["shape"][-2:])
        else:
            return None
    return _detector(ds, orientation, pattern_shape)


def _detector(ds: xr.Dataset, orientation: str | None, pattern_shape: tuple[int, int]):
    """kikuchipy's detector from what ``vaearr index`` (the orientation's ``detector`` attr) or a vendor
    reader (``detector_*`` attrs of the patterns) kept; None when the store has neither."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    idx = ds[orientation].attrs.get("detector") if orientation in ds.data_vars else None
    pat = ds[PATTERNS].attrs if PATTERNS in ds.data_vars else {}
    if idx and idx.get("pc_bruker"):
        kw = {"pc": idx["pc_bruker"], "sample_tilt": idx.get("sample_tilt", 70.0), "tilt": idx.get("detector_tilt", 0.0)}
        if idx.get("px_size_um"):
            kw["px_size"] = idx["px_size_um"]
    elif pat.get("detector_pc"):
        kw = {"pc": pat["detector_pc"], "sample_tilt": pat.get("detector_sample_tilt", 70.0),
              "tilt": pat.get("detector_tilt", 0.0)}
        kw.update({k: pat[f"detector_{k}"] for k in ("azimuthal", "binning", "px_size") if f"detector_{k}" in pat})
    else:
        return None
    return kp.detectors.EBSDDetector(shape=pattern_shape, convention="bruker",
                                     **{k: (tuple(v) if k == "pc" else v) for k, v in kw.items()})


def to_ebsd(ds: xr.Dataset, patterns: str = PATTERNS, orientation: str | None = ORIENTATION, *, lazy: bool = True,
            where: Any = None):
    """A store's patterns as a kikuchipy :class:`~kikuchipy.signals.EBSD` signal (``LazyEBSD`` when ``lazy``).

    The navigation axes are the scan's ``x``/``y`` in µm; ``xmap`` is :func:`to_crystal_map` of
    ``orientation`` when the store has it (None: leave it out); the detector is the one ``vaearr index``
    used, else the vendor file's (``detector_*`` attrs of the patterns), else kikuchipy's default.
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    if patterns not in ds.data_vars or set(ds[patterns].dims) != {Y, X, PY, PX}:
        raise InputError(where, no_variable(patterns, [n for n, v in ds.data_vars.items() if set(v.dims) == {Y, X, PY, PX}],
                                            kind="pattern variable", listed="its (y, x, py, px) patterns"))
    p = ds[patterns].transpose(Y, X, PY, PX)
    data = p.data if lazy else np.asarray(p.values)
    if lazy and isinstance(data, np.ndarray):
        data = require("dask.array", "ebsd").from_array(data)
    signal = (kp.signals.LazyEBSD if lazy else kp.signals.EBSD)(data)
    for ax, dim in zip(signal.axes_manager.navigation_axes, (X, Y)):  # hyperspy: x first
        c = ds[dim].values.astype(float)
        ax.name, ax.units, ax.offset = dim, "um", float(c[0])
        ax.scale = float(np.median(np.diff(c))) if c.size > 1 else 1.0
    shape = (int(p.sizes[PY]), int(p.sizes[PX]))
    if orientation is not None and orientation in ds.data_vars:
        signal.xmap = to_crystal_map(ds, orientation)
    detector = _detector(ds, orientation, shape)
    if detector is not None:
        signal.detector = detector
    return signal
