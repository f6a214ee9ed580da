"""Bent and recrystallised grains for the simulated maps, and their truth: KAM per pixel, GOS per grain.

A *bent* grain turns about one axis at a constant rate (degrees per µm) along one in-plane
direction through its centroid, as a grain bent around a geometrically necessary dislocation
wall does; a *recrystallised* grain does not turn. Every pixel then gets a small i.i.d. spread
(:func:`spread_rotations`). The truth is computed from the per-pixel orientations the way EBSD
software computes it from indexed ones: KAM as the mean misorientation to the 4-neighbours of the
same grain, GOS as the mean misorientation of a grain's pixels from its mean orientation.
Misorientations inside a grain are small rotations of one orientation, so no crystal symmetry
is needed (and the maps need nothing of :mod:`vaearr.maps`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchmarks.data.rotations import axis_angle_quat, misorientation_deg, quat_multiply, rotvec_quat

#: Range of bending rates (degrees per µm) of the bent grains, and the per-axis σ (degrees) of every
#: pixel's extra rotation in a deformed map (a GOS of about 0.08° in a recrystallised grain).
BEND_RATES = (0.2, 1.5)
DEFORMED_SPREAD = 0.05


@dataclass
class Bending:
    """The bending of every grain of a map: rate (°/µm, 0 = recrystallised), axis and in-plane direction."""

    rate: np.ndarray  # (n,) degrees per µm
    axis: np.ndarray  # (n, 3) rotation axes (crystal frame)
    direction: np.ndarray  # (n, 2) unit (dy, dx): the direction the rotation grows along

    @property
    def bent(self) -> np.ndarray:
        return self.rate > 0


def draw_bending(n: int, rng: np.random.Generator, *, rates: tuple[float, float] = BEND_RATES,
                 fraction_bent: float = 0.5) -> Bending:
    """Half (``fraction_bent``) of ``n`` grains bent at rates drawn evenly over ``rates``; the rest recrystallised."""
    n_bent = int(round(fraction_bent * n))
    order = rng.permutation(n)
    rate = np.zeros(n)
    rate[order[:n_bent]] = np.linspace(*rates, n_bent) if n_bent > 1 else rates[1]
    theta = rng.uniform(0, 2 * np.pi, n)
    return Bending(rate=rate, axis=rng.normal(size=(n, 3)), direction=np.stack([np.sin(theta), np.cos(theta)], 1))


def bent_orientations(q_grain: np.ndarray, grain: np.ndarray, bending: Bending, step_um: float,
                      at_grain: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel orientations ``(ny, nx, 4)`` of grains turned along their direction (no spread).

    ``at_grain`` (default ``grain``): the grain whose bending is evaluated at each pixel (the
    neighbour grain, for the pattern mixed in across a boundary). The rotation is zero at each
    grain's centroid.
    """
    ny, nx = grain.shape
    g = grain if at_grain is None else at_grain
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    n = q_grain.shape[0]
    cen = np.zeros((n, 2))
    for k in range(n):
        sel = grain == k
        if sel.any():
            cen[k] = yy[sel].mean(), xx[sel].mean()
    along = ((yy - cen[g, 0]) * bending.direction[g, 0] + (xx - cen[g, 1]) * bending.direction[g, 1]) * step_um
    angle = np.radians(bending.rate[g] * along)
    return quat_multiply(q_grain[g], axis_angle_quat(bending.axis[g], angle))


def spread_rotations(q: np.ndarray, directions: np.ndarray, sigma_deg: float) -> np.ndarray:
    """``q`` turned by rotation vectors ``directions × sigma_deg`` (per-axis σ when ``directions`` ~ N(0, 1))."""
    return quat_multiply(q, rotvec_quat(directions * math.radians(sigma_deg)))


def truth_kam(q: np.ndarray, grain: np.ndarray) -> np.ndarray:
    """Mean misorientation (degrees) of each pixel to its 4-neighbours of the same grain (NaN: none)."""
    ny, nx = grain.shape
    total, count = np.zeros((ny, nx)), np.zeros((ny, nx))
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        same = grain[a] == grain[b]
        ang = np.where(same, misorientation_deg(q[a], q[b]), 0.0)
        total[a] += ang
        total[b] += ang
        count[a] += same
        count[b] += same
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def mean_orientations(q: np.ndarray, grain: np.ndarray) -> np.ndarray:
    """Each grain's mean orientation ``(n, 4)``: the normalised sum of its quaternions, brought to one hemisphere."""
    n = int(grain.max()) + 1
    flat_q, flat_g = q.reshape(-1, 4), grain.ravel()
    ref = np.zeros((n, 4))
    ref[flat_g[::-1]] = flat_q[::-1]  # the first pixel of every grain
    sign = np.where(np.sum(flat_q * ref[flat_g], axis=1) < 0, -1.0, 1.0)
    sums = np.zeros((n, 4))
    np.add.at(sums, flat_g, flat_q * sign[:, None])
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-30)


def truth_gos(q: np.ndarray, grain: np.ndarray) -> np.ndarray:
    """Grain orientation spread (degrees): mean misorientation of each grain's pixels from its mean, ``(n,)``."""
    mean = mean_orientations(q, grain)
    dev = misorientation_deg(q.reshape(-1, 4), mean[grain.ravel()])
    n = mean.shape[0]
    return np.bincount(grain.ravel(), dev, minlength=n) / np.maximum(np.bincount(grain.ravel(), minlength=n), 1)
