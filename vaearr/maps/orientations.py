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

orix does the crystallography: the symmetry groups (:class:`~orix.crystal_map.Phase`), the
symmetry-reduced misorientation angle (:meth:`~orix.quaternion.Orientation.angle_with`), the
IPF colour key. Written here, because orix has no version on a scan grid: the neighbour pairs of
the grid, KAM from them, the grain segmentation (connected components of the graph of
neighbour pairs below the grain angle, :func:`scipy.sparse.csgraph.connected_components` — a
flood fill), and the grain means (each orientation brought to the symmetry equivalent nearest
its grain's first pixel, then the eigenvector mean of orix's :meth:`Quaternion.mean` done for
all grains at once).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from vaearr.errors import InputError, StoreError, require
from vaearr.io.tables import Derived
from vaearr.store import open_store, write_variables
from vaearr.store.schema import (
    ORIENTATION,
    PHASE_ID,
    QUATERNION,
    RGB,
    RGB_COMPONENTS,
    X,
    Y,
    orientation_map_name,
    phase_id_name,
)

#: Default misorientation (degrees) that separates grains (and caps KAM's neighbours).
GRAIN_ANGLE = 5.0
#: Sample directions an IPF can be coloured along.
DIRECTIONS = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


# --------------------------------------------------------------------------------------------
# symmetry and misorientation (orix)


def point_group(name: str | None):
    """orix's symmetry group of a point group name (``m-3m``, ``432``, ``6/mmm``…)."""
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


def misorientation_angles(q1: np.ndarray, q2: np.ndarray, group) -> np.ndarray:
    """Symmetry-reduced misorientation angle (degrees) of quaternion pairs ``(n, 4)`` of one phase (orix)."""
    quaternion = require("orix.quaternion", "ebsd")
    if len(q1) == 0:
        return np.zeros(0)
    o1 = quaternion.Orientation(np.asarray(q1, np.float64), symmetry=group)
    o2 = quaternion.Orientation(np.asarray(q2, np.float64), symmetry=group)
    return np.asarray(o1.angle_with(o2, degrees=True), np.float64)


# --------------------------------------------------------------------------------------------
# on the grid (hand-written: orix has no scan-grid neighbours)


def neighbour_angles(q: np.ndarray, phase_id: np.ndarray, valid: np.ndarray,
                     groups: Mapping[int, object]) -> tuple[np.ndarray, np.ndarray]:
    """Misorientation (degrees) of each pixel to its right and lower neighbour.

    Returns ``right (ny, nx−1)`` and ``down (ny−1, nx)``; NaN where either pixel is not valid or
    the two are of different phases.
    """
    out = []
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        pa, pb = phase_id[a], phase_id[b]
        ok = valid[a] & valid[b] & (pa == pb)
        ang = np.full(pa.shape, np.nan)
        qa, qb = q[a], q[b]
        for pid, group in groups.items():
            sel = ok & (pa == pid)
            if sel.any():
                ang[sel] = misorientation_angles(qa[sel], qb[sel], group)
        out.append(ang)
    return out[0], out[1]


def kam_map(right: np.ndarray, down: np.ndarray, *, max_angle: float = GRAIN_ANGLE) -> np.ndarray:
    """Kernel average misorientation over the first (4-connected) neighbours, degrees.

    Neighbours at ``max_angle`` or more (across a grain boundary) and missing ones (NaN) are left
    out; NaN where no neighbour is left. From :func:`neighbour_angles`.
    """
    ny, nx = right.shape[0], right.shape[1] + 1
    total, count = np.zeros((ny, nx)), np.zeros((ny, nx))
    r = np.where(right < max_angle, right, np.nan)
    d = np.where(down < max_angle, down, np.nan)
    for ang, a, b in ((r, (slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                      (d, (slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        ok = np.isfinite(ang)
        v = np.where(ok, ang, 0.0)
        total[a] += v
        total[b] += v
        count[a] += ok
        count[b] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def segment_grains(right: np.ndarray, down: np.ndarray, valid: np.ndarray, *,
                   grain_angle: float = GRAIN_ANGLE) -> np.ndarray:
    """Grain ids on the grid: connected pixels joined by neighbour misorientations below ``grain_angle``.

    A flood fill written as the connected components of the 4-neighbour graph; ids 0, 1, … in
    raster order of each grain's first pixel, −1 where ``valid`` is false.

    Examples
    --------
    >>> right = np.array([[1.0, 9.0]]); down = np.zeros((0, 3)); valid = np.ones((1, 3), bool)
    >>> segment_grains(right, down, valid).tolist()
    [[0, 0, 1]]
    """
    ny, nx = valid.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    joins_r = np.nan_to_num(right, nan=np.inf) < grain_angle
    joins_d = np.nan_to_num(down, nan=np.inf) < grain_angle
    src = np.concatenate([idx[:, :-1][joins_r], idx[:-1, :][joins_d]])
    dst = np.concatenate([idx[:, 1:][joins_r], idx[1:, :][joins_d]])
    graph = coo_matrix((np.ones(src.size, np.int8), (src, dst)), shape=(ny * nx, ny * nx))
    _, labels = connected_components(graph, directed=False)
    labels = labels.reshape(ny, nx)
    out = np.full((ny, nx), -1, np.int64)
    if valid.any():
        first_seen, first = np.unique(labels[valid], return_index=True)
        order = np.argsort(first)  # raster order of each grain's first valid pixel
        rank = np.empty(first_seen.size, np.int64)
        rank[order] = np.arange(first_seen.size)
        lookup = np.full(labels.max() + 1, -1, np.int64)
        lookup[first_seen] = rank
        out[valid] = lookup[labels[valid]]
    return out


def grain_boundary_map(grains: np.ndarray) -> np.ndarray:
    """True at pixels with a 4-neighbour in another grain (both in grains, ids ≥ 0)."""
    out = np.zeros(grains.shape, bool)
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        diff = (grains[a] != grains[b]) & (grains[a] >= 0) & (grains[b] >= 0)
        out[a] |= diff
        out[b] |= diff
    return out


def grain_mean_orientations(q: np.ndarray, grains: np.ndarray, phase_id: np.ndarray,
                            groups: Mapping[int, object]) -> np.ndarray:
    """Mean orientation of every grain, ``(n_grains, 4)``.

    Each pixel's orientation is replaced by its symmetry equivalent nearest the orientation of
    its grain's first pixel (orix's symmetry operations, acting on the left), then the grain's
    mean is the eigenvector of the largest eigenvalue of Σ q qᵀ (orix's :meth:`Quaternion.mean`,
    for all grains at once).
    """
    quaternion = require("orix.quaternion", "ebsd")
    n = int(grains.max()) + 1 if grains.size and grains.max() >= 0 else 0
    if n == 0:
        return np.zeros((0, 4))
    g = grains.ravel()
    inside = g >= 0
    gq = q.reshape(-1, 4)[inside].astype(np.float64)
    gg = g[inside]
    gp = phase_id.ravel()[inside]
    first = np.full(n, -1)
    order = np.arange(gg.size)[::-1]
    first[gg[order]] = order  # the lowest index of each grain wins
    ref = gq[first][gg]
    aligned = np.empty_like(gq)
    for pid, group in groups.items():
        sel = gp == pid
        if not sel.any():
            continue
        ops = quaternion.Quaternion(group.data)
        m = quaternion.Quaternion(gq[sel]) * ~quaternion.Quaternion(ref[sel])
        best = np.argmax(np.abs(m.dot_outer(ops)), axis=1)  # s·ref nearest q  ⇔  s⁻¹·q nearest ref
        eq = (~quaternion.Quaternion(group.data[best])) * quaternion.Quaternion(gq[sel])
        aligned[sel] = eq.data
    sign = np.sign(np.einsum("ij,ij->i", aligned, ref))
    aligned *= np.where(sign == 0, 1.0, sign)[:, None]
    outer = np.einsum("ni,nj->nij", aligned, aligned).reshape(-1, 16)
    sums = np.stack([np.bincount(gg, weights=outer[:, k], minlength=n) for k in range(16)], axis=1)
    _, vecs = np.linalg.eigh(sums.reshape(n, 4, 4))
    mean = vecs[:, :, -1]
    return np.where(mean[:, :1] < 0, -mean, mean)


def grod_map(q: np.ndarray, grains: np.ndarray, phase_id: np.ndarray, groups: Mapping[int, object]) -> np.ndarray:
    """Grain reference orientation deviation: misorientation (degrees) to the grain's mean; NaN outside grains."""
    mean = grain_mean_orientations(q, grains, phase_id, groups)
    out = np.full(grains.shape, np.nan)
    for pid, group in groups.items():
        sel = (grains >= 0) & (phase_id == pid)
        if sel.any():
            out[sel] = misorientation_angles(q[sel], mean[grains[sel]], group)
    return out


def ipf_colors(q: np.ndarray, phase_id: np.ndarray, valid: np.ndarray, groups: Mapping[int, object],
               direction: str = "z") -> np.ndarray:
    """IPF colours ``(ny, nx, 3)`` in [0, 1] of a sample direction (orix's IPFColorKeyTSL per phase); NaN elsewhere."""
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
            raise InputError(None, f"no mask '{mask}' in the store (have {sorted(map(str, variables))})")
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
    if name not in variables:
        raise InputError(None, f"no orientation variable '{name}' (have {sorted(map(str, variables))}); "
                               "run 'vaearr ingest orientations' or 'vaearr index' first")
    pid_name = phase_id_name(name) if phase_id_name(name) in variables else PHASE_ID
    if pid_name not in variables:
        raise InputError(None, f"no '{phase_id_name(name)}' beside '{name}'")
    if direction not in DIRECTIONS:
        raise InputError(None, f"--direction must be x, y or z, got '{direction}'")
    if not (0 < float(grain_angle) <= 180):
        raise InputError(None, f"--grain-angle must be in (0, 180] degrees, got {grain_angle:g}")
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
    clash = [n for n in names if n in ds.variables]
    if clash and not overwrite:
        raise StoreError(store, f"variable(s) {clash} exist; pass overwrite=True (--overwrite) to replace them")
    try:
        maps = orientation_maps(ds, name=name, mask=mask, grain_angle=grain_angle, direction=direction)
    except InputError as exc:
        if exc.path is None:
            raise InputError(store, exc.problem) from None
        raise
    write_variables(store, maps.variables, source=maps.source, config=maps.config, overwrite=overwrite,
                    progress=progress)
    return maps
