"""Maps of misorientation on the scan grid: KAM, grain segmentation, GROD and grain boundaries.

From an orientation map ``(y, x, 4)`` (unit quaternions, orix's convention), its ``phase_id`` and
each phase's symmetry group (:func:`vaearr.maps.indexing.orientations.phase_groups`). orix does the
crystallography (the symmetry-reduced misorientation angle, :meth:`~orix.quaternion.Orientation.angle_with`);
the scan grid is written here, because orix has no version on one: the neighbour pairs of the
grid, KAM from them, the grain segmentation (connected components of the graph of neighbour pairs
below the grain angle, :func:`scipy.sparse.csgraph.connected_components` — a flood fill), and the
grain means (each orientation brought to the symmetry equivalent nearest its grain's first pixel,
then the eigenvector mean of orix's :meth:`Quaternion.mean` done for all grains at once).
:func:`vaearr.maps.indexing.orientations.orientation_maps` puts them together with the IPF colours.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from vaearr.errors import require
from vaearr.numba_cache import guard_gufunc_cache

#: Default misorientation (degrees) that separates grains (and caps KAM's neighbours).
GRAIN_ANGLE = 5.0


# --------------------------------------------------------------------------------------------
# misorientation (orix)


def misorientation_angles(q1: np.ndarray, q2: np.ndarray, group) -> np.ndarray:
    """Symmetry-reduced misorientation angle (degrees) of quaternion pairs ``(n, 4)`` of one phase (orix)."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
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


def _aligned(q: np.ndarray, grains: np.ndarray, phase_id: np.ndarray,
             groups: Mapping[int, object]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The orientations of the pixels in grains, each brought to its symmetry equivalent nearest its
    grain's first pixel: ``(aligned (m, 4), grain of each (m,), flat positions (m,), number of grains)``."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    quaternion = require("orix.quaternion", "ebsd")
    n = int(grains.max()) + 1 if grains.size and grains.max() >= 0 else 0
    g = grains.ravel()
    where = np.flatnonzero(g >= 0)
    gq = q.reshape(-1, 4)[where].astype(np.float64)
    gg = g[where]
    gp = phase_id.ravel()[where]
    if n == 0:
        return gq, gg, where, 0
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
    return aligned, gg, where, n


def grain_mean_orientations(q: np.ndarray, grains: np.ndarray, phase_id: np.ndarray,
                            groups: Mapping[int, object]) -> np.ndarray:
    """Mean orientation of every grain, ``(n_grains, 4)``.

    Each pixel's orientation is replaced by its symmetry equivalent nearest the orientation of
    its grain's first pixel (orix's symmetry operations, acting on the left), then the grain's
    mean is the eigenvector of the largest eigenvalue of Σ q qᵀ (orix's :meth:`Quaternion.mean`,
    for all grains at once).
    """
    aligned, gg, _, n = _aligned(q, grains, phase_id, groups)
    if n == 0:
        return np.zeros((0, 4))
    outer = np.einsum("ni,nj->nij", aligned, aligned).reshape(-1, 16)
    sums = np.stack([np.bincount(gg, weights=outer[:, k], minlength=n) for k in range(16)], axis=1)
    _, vecs = np.linalg.eigh(sums.reshape(n, 4, 4))
    mean = vecs[:, :, -1]
    return np.where(mean[:, :1] < 0, -mean, mean)


def grain_rotation_vectors(q: np.ndarray, grains: np.ndarray, phase_id: np.ndarray,
                           groups: Mapping[int, object]) -> np.ndarray:
    """Each pixel's rotation from its grain's mean orientation as a rotation vector (degrees), ``(ny, nx, 3)``.

    The symmetry equivalent nearest the grain is used (as for the mean), so the vector is small
    inside a grain and continuous across its sub-grains; NaN outside grains. The vector's length is
    the GROD angle.
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    quaternion = require("orix.quaternion", "ebsd")
    out = np.full((*grains.shape, 3), np.nan)
    aligned, gg, where, n = _aligned(q, grains, phase_id, groups)
    if n == 0:
        return out
    mean = grain_mean_orientations(q, grains, phase_id, groups)
    rel = ((~quaternion.Quaternion(mean[gg])) * quaternion.Quaternion(aligned)).data
    rel *= np.where(rel[:, :1] < 0, -1.0, 1.0)
    vec = rel[:, 1:]
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    angle = 2 * np.arctan2(norm, rel[:, :1])
    out.reshape(-1, 3)[where] = np.degrees(angle) * vec / np.maximum(norm, 1e-300)
    return out


def grod_map(q: np.ndarray, grains: np.ndarray, phase_id: np.ndarray, groups: Mapping[int, object]) -> np.ndarray:
    """Grain reference orientation deviation: misorientation (degrees) to the grain's mean; NaN outside grains."""
    mean = grain_mean_orientations(q, grains, phase_id, groups)
    out = np.full(grains.shape, np.nan)
    for pid, group in groups.items():
        sel = (grains >= 0) & (phase_id == pid)
        if sel.any():
            out[sel] = misorientation_angles(q[sel], mean[grains[sel]], group)
    return out
