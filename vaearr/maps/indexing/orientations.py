"""Maps derived from a crystal orientation map: IPF colours, KAM, grains, GROD and grain boundaries.

Input: ``{name}(y, x, quaternion)`` (unit quaternions in orix's convention) and ``phase_id(y, x)``
with the phases in their ``phases`` attr, as ``vaearr ingest orientations`` and ``vaearr index``
write them. Output (:func:`orientation_maps`, written by :func:`write_orientation_maps`):

- ``{name}_ipf(y, x, rgb)``: inverse pole figure colours in [0, 1] of the sample direction
  (orix's :class:`~orix.plot.IPFColorKeyTSL` of each phase's Laue group), NaN where not indexed;
- ``{name}_kam(y, x)``: kernel average misorientation (degrees) over the **first** neighbours
  (4-connected: left, right, up, down) of the same phase whose misorientation is below the
  grain angle (neighbours across a grain boundary are left out), NaN with no such neighbour;
- ``{name}_grains(y, x)``: grain ids 0, 1, … (numbered in raster order of their first pixel),
  −1 where not indexed or outside the mask;
- ``{name}_grod(y, x)``: misorientation (degrees) to the mean orientation of the pixel's grain;
- ``{name}_grain_boundaries(y, x)``: bool, a pixel with a 4-neighbour in another grain.

orix does the crystallography (the symmetry groups, :class:`~orix.crystal_map.Phase`, and the IPF
colour key); KAM, the grains, GROD and the grain boundaries are computed on the scan grid in
:mod:`vaearr.maps.indexing.grains`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import xarray as xr

from vaearr.errors import InputError, StoreError, require
from vaearr.io.options import IngestOrientationsOptions
from vaearr.maps.options import OrientationMapsOptions
from vaearr.io.orientations import ingest_orientations
from vaearr.io.tables import Derived
from vaearr.maps.indexing.grains import (
    GRAIN_ANGLE,
    grain_boundary_map,
    grod_map,
    kam_map,
    neighbour_angles,
    segment_grains,
)
from vaearr.store import open_store, refuse_inputs, write_variables
from vaearr.store.schema import (
    ORIENTATION,
    PHASE_ID,
    QUATERNION,
    RGB,
    RGB_COMPONENTS,
    X,
    Y,
    no_variable,
    orientation_map_name,
    phase_id_name,
)
from vaearr.numba_cache import guard_gufunc_cache

#: Sample directions an IPF can be coloured along.
DIRECTIONS = MappingProxyType({"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)})


# --------------------------------------------------------------------------------------------
# symmetry (orix)


def point_group(name: str | None):
    """orix's symmetry group of a point group name (``m-3m``, ``432``, ``6/mmm``…)."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    crystal_map = require("orix.crystal_map", "ebsd")
    if not name:
        raise InputError(None, "a phase has no point group; orientation maps need each phase's symmetry")
    try:
        return crystal_map.Phase(point_group=str(name)).point_group
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InputError(None, f"unknown point group '{name}' ({exc})") from None


def phase_groups(phases: list[dict] | None) -> dict[int, object]:
    """Phase id → orix symmetry group, from the ``phases`` attr of an orientation variable."""
    if not phases:
        raise InputError(None, "the orientation variable has no 'phases' attr (id, name, point_group)")
    return {int(p["id"]): point_group(p.get("point_group")) for p in phases}


def orientation_arrays(ds: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray, dict[int, object]]:
    """An orientation variable's quaternions ``(y, x, 4)`` (float64), its phase ids ``(y, x)`` (the variable's own
    ``{name}_phase_id`` or the store's ``phase_id``) and its phase groups (:func:`phase_groups`); one line when the
    phase ids are missing."""
    pid_name = phase_id_name(name) if phase_id_name(name) in ds.data_vars else PHASE_ID
    if pid_name not in ds.data_vars:
        raise InputError(None, f"no '{phase_id_name(name)}' beside the orientations '{name}'")
    q = np.asarray(ds[name].transpose(Y, X, QUATERNION).values, np.float64)
    phase_id = np.asarray(ds[pid_name].transpose(Y, X).values, np.int64)
    return q, phase_id, phase_groups(ds[name].attrs.get("phases") or ds[pid_name].attrs.get("phases"))


def ipf_colors(q: np.ndarray, phase_id: np.ndarray, valid: np.ndarray, groups: Mapping[int, object],
               direction: str = "z") -> np.ndarray:
    """IPF colours ``(ny, nx, 3)`` in [0, 1] of a sample direction (orix's IPFColorKeyTSL per phase); NaN elsewhere."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    quaternion = require("orix.quaternion", "ebsd")
    plot = require("orix.plot", "ebsd")
    vector = require("orix.vector", "ebsd")
    out = np.full((*valid.shape, 3), np.nan)
    for pid, group in groups.items():
        sel = valid & (phase_id == pid)
        if sel.any():
            key = plot.IPFColorKeyTSL(group.laue, direction=vector.Vector3d(DIRECTIONS[direction]))
            out[sel] = key.orientation2color(quaternion.Orientation(q[sel].astype(np.float64), symmetry=group))
    return out


# --------------------------------------------------------------------------------------------
# all maps of one orientation variable


@dataclass
class OrientationMaps:
    """What :func:`orientation_maps` made.

    Attributes
    ----------
    variables
        Store name → DataArray: ``{name}_ipf``, ``{name}_kam``, ``{name}_grod``,
        ``{name}_grains``, ``{name}_grain_boundaries``.
    source
        The variables they were made from.
    config
        The settings (grain angle, direction, mask, KAM neighbours).
    n_grains
        Grains found.
    """

    variables: dict[str, xr.DataArray]
    source: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    n_grains: int = 0

    def summary(self) -> str:
        c = self.config
        return (f"{', '.join(self.variables)}: {self.n_grains} grains at {c['grain_angle']:g}°, "
                f"IPF along sample {c['direction']}, KAM over first neighbours below {c['kam_max_angle']:g}°"
                + (f", mask '{c['mask']}'" if c.get("mask") else ""))


def _mask_array(variables: Mapping[str, xr.DataArray], mask, shape) -> tuple[np.ndarray, str | None]:
    if mask is None:
        return np.ones(shape, bool), None
    if isinstance(mask, str):
        if mask not in variables:
            raise InputError(None, no_variable(mask, variables, kind="mask"))
        da = variables[mask]
        label = mask
    else:
        da, label = mask, getattr(mask, "name", None) or "mask"
    if set(da.dims) != {Y, X} or da.dtype != bool:
        raise InputError(None, f"mask '{label}' must be a bool (y, x) variable, got {da.dtype} {da.dims}")
    m = np.asarray(da.transpose(Y, X).values, bool)
    if m.shape != tuple(shape):
        raise InputError(None, f"mask '{label}' is {m.shape}, the orientation map {tuple(shape)}")
    return m, label


def check_map_options(grain_angle: float, direction: str) -> None:
    """One line for a ``--direction`` or ``--grain-angle`` the maps cannot use (before any file or store is read)."""
    if direction not in DIRECTIONS:
        raise InputError(None, f"`direction` must be x, y or z, got '{direction}'")
    if not (0 < float(grain_angle) <= 180):
        raise InputError(None, f"`grain_angle` must be in (0, 180] degrees, got {grain_angle:g}")


def orientation_maps(
    variables: Mapping[str, xr.DataArray],
    *,
    name: str = ORIENTATION,
    mask: str | xr.DataArray | None = None,
    grain_angle: float = GRAIN_ANGLE,
    direction: str = "z",
) -> OrientationMaps:
    """IPF, KAM, grains, GROD and grain boundaries of ``variables[name]`` (see the module docstring).

    Parameters
    ----------
    variables
        A store's dataset or a dict holding ``name`` (y, x, quaternion), ``phase_id`` (y, x) and
        the mask.
    name
        The orientation variable; the maps are named ``{name}_ipf`` and so on.
    mask
        A bool (y, x) variable name or DataArray: pixels outside it count as not indexed.
    grain_angle
        Misorientation (degrees) at which neighbours belong to different grains; also KAM's cap.
    direction
        Sample direction of the IPF colours: ``x``, ``y`` or ``z``.

    Raises
    ------
    InputError
        Missing variables, a bad mask, angle or direction, a phase without symmetry.
    """
    check_map_options(grain_angle, direction)  # the options first: they need no store
    if name not in variables:
        have = [str(k) for k, v in variables.items() if QUATERNION in v.dims]
        raise InputError(None, no_variable(name, have or variables, kind="orientation variable", listed="its orientations"))
    pid_name = phase_id_name(name) if phase_id_name(name) in variables else PHASE_ID
    if pid_name not in variables:
        raise InputError(None, f"no '{phase_id_name(name)}' beside '{name}'")
    da = variables[name]
    if set(da.dims) != {Y, X, QUATERNION} or da.sizes[QUATERNION] != 4:
        raise InputError(None, f"'{name}' has dims {da.dims}; an orientation variable is (y, x, quaternion=4)")
    da = da.transpose(Y, X, QUATERNION)
    q = np.asarray(da.values, np.float64)
    phase_id = np.asarray(variables[pid_name].transpose(Y, X).values, np.int64)
    groups = phase_groups(da.attrs.get("phases") or variables[pid_name].attrs.get("phases"))
    m, mask_name = _mask_array(variables, mask, phase_id.shape)
    valid = m & np.isfinite(q).all(-1) & np.isin(phase_id, list(groups))
    right, down = neighbour_angles(q, phase_id, valid, groups)
    grains = segment_grains(right, down, valid, grain_angle=grain_angle)
    kam = np.where(valid, kam_map(right, down, max_angle=grain_angle), np.nan)
    grod = grod_map(q, grains, phase_id, groups)
    ipf = ipf_colors(q, phase_id, valid, groups, direction)
    coords = {Y: da[Y].values, X: da[X].values}
    config = {"name": name, "grain_angle": float(grain_angle), "direction": direction, "mask": mask_name,
              "kam_neighbours": "first (4-connected)", "kam_max_angle": float(grain_angle)}
    key = {"key": "orix.plot.IPFColorKeyTSL", "sample_direction": direction,
           "vector": list(DIRECTIONS[direction]),
           "laue_groups": {str(pid): str(g.laue.name) for pid, g in groups.items()},
           "note": "TSL colouring: for cubic phases red ⟨001⟩, green ⟨101⟩, blue ⟨111⟩ along the sample direction"}
    out = {
        orientation_map_name(name, "ipf"): xr.DataArray(
            ipf.astype(np.float32), dims=(Y, X, RGB), coords={**coords, RGB: list(RGB_COMPONENTS)},
            attrs={**key, "units": "RGB in [0, 1]"}),
        orientation_map_name(name, "kam"): xr.DataArray(
            kam.astype(np.float32), dims=(Y, X), coords=coords,
            attrs={"units": "degree", "neighbours": "first (4-connected)", "max_angle": float(grain_angle)}),
        orientation_map_name(name, "grod"): xr.DataArray(
            grod.astype(np.float32), dims=(Y, X), coords=coords,
            attrs={"units": "degree", "reference": "grain mean orientation"}),
        orientation_map_name(name, "grains"): xr.DataArray(
            grains.astype(np.int32), dims=(Y, X), coords=coords,
            attrs={"grain_angle": float(grain_angle), "nodata": -1, "connectivity": 4}),
        orientation_map_name(name, "grain_boundaries"): xr.DataArray(
            grain_boundary_map(grains), dims=(Y, X), coords=coords, attrs={"grain_angle": float(grain_angle)}),
    }
    src = [name, pid_name, *([mask_name] if mask_name else [])]
    return OrientationMaps(out, src, config, int(grains.max()) + 1 if grains.size and grains.max() >= 0 else 0)


def orientation_maps_derived(variables: Mapping[str, xr.DataArray], **kwargs) -> Derived:
    """:func:`orientation_maps` as a :class:`vaearr.io.tables.Derived`, for an ingest's ``derive`` hook."""
    maps = orientation_maps(variables, **kwargs)
    return Derived(maps.variables, maps.source, {"maps": maps.config})


def ingest_orientation_map(options: IngestOrientationsOptions, *, progress: bool | str = False) -> xr.Dataset:
    """``vaearr ingest orientations`` (:class:`~vaearr.io.options.IngestOrientationsOptions`): the orientation map
    into its store (:meth:`~vaearr.io.options.IngestOrientationsOptions.target`) with, unless ``maps`` is off, its
    IPF, KAM, GROD and grain maps in the same transaction; the map options are checked before any file is read."""
    if options.maps:
        check_map_options(options.grain_angle, options.direction)
    derive = (partial(orientation_maps_derived, name=options.name, grain_angle=options.grain_angle,
                      direction=options.direction) if options.maps else None)
    return ingest_orientations(options.src, options.target(), name=options.name, overwrite=options.overwrite,
                               derive=derive, progress=progress)


def orientation_maps_store(options: OrientationMapsOptions, *, progress: bool | str = False) -> OrientationMaps:
    """``vaearr orientation-maps`` (:class:`~vaearr.maps.options.OrientationMapsOptions`): :func:`write_orientation_maps`
    of ``options.var``, replacing the maps there."""
    return write_orientation_maps(options.store, name=options.var, mask=options.mask, grain_angle=options.grain_angle,
                                  direction=options.direction, overwrite=True, progress=progress)


def write_orientation_maps(
    store: str | os.PathLike,
    *,
    name: str = ORIENTATION,
    mask: str | None = None,
    grain_angle: float = GRAIN_ANGLE,
    direction: str = "z",
    overwrite: bool = False,
    progress: bool | str = False,
) -> OrientationMaps:
    """Make :func:`orientation_maps` from the store's ``{name}`` and ``phase_id`` and write them in one transaction.

    Returns
    -------
    OrientationMaps
        The maps written (``variables``), their settings and the number of grains.

    Raises
    ------
    InputError
        See :func:`orientation_maps`.
    StoreError
        A map exists and ``overwrite`` is false (nothing is written).
    """
    ds = open_store(store)
    names = [orientation_map_name(name, p) for p in ("ipf", "kam", "grod", "grains", "grain_boundaries")]
    refuse_inputs(ds, names, store)
    clash = [n for n in names if n in ds.variables]
    if clash and not overwrite:
        raise StoreError(store, f"variable(s) {clash} exist; pass `overwrite=True` to replace them")
    try:
        maps = orientation_maps(ds, name=name, mask=mask, grain_angle=grain_angle, direction=direction)
    except InputError as exc:
        if exc.path is None:
            raise InputError(store, exc.problem) from None
        raise
    write_variables(store, maps.variables, source=maps.source, config=maps.config, overwrite=overwrite,
                    progress=progress)
    return maps
