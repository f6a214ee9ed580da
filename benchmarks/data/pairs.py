"""Pairs of Kikuchi patterns a known rotation apart, for measuring the misorientation read from patterns.

Each pair: a random orientation and the same turned by ``angle`` degrees about a random axis, both simulated from
kikuchipy's dynamical Ni master pattern (20 kV) on a detector of ``shape`` at the projection centre ``pc``
(Bruker), recorded as :mod:`benchmarks.data.patchwork` records a pixel: ``counts`` × the static background (an
off-centre vignetting) × (0.35 + 0.65 × the pattern scaled to 0–1), Poisson (``counts=None``: no noise). ``average``
patterns of each orientation, each with its own noise, are averaged (a region's mean pattern).
"""

from __future__ import annotations

import numpy as np

from benchmarks.data.patchwork import kikuchi_scaled, vignetting
from benchmarks.data.rotations import axis_angle_quat, quat_multiply
from vaearr.data.simulated import random_quaternions


def pattern_pairs(n: int, angle: float, shape: tuple[int, int], pc: tuple[float, float, float],
                  counts: float | None, *, seed: int = 0, average: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` pairs ``angle`` degrees apart: the first and second patterns ``(n, *shape)`` float32 (photon counts) and
    the static background ``shape`` (mean 1)."""
    rng = np.random.default_rng([seed, int(round(angle * 1000))])  # the orientations: the same for every detector
    q = random_quaternions(n, rng)
    turn = axis_angle_quat(rng.normal(size=(n, 3)), np.full(n, np.radians(angle)))
    rng = np.random.default_rng([seed, int(round(angle * 1000)), *shape, int(counts or 0), average])  # the noise
    k = kikuchi_scaled(np.concatenate([q, quat_multiply(q, turn)]), shape, pc)
    bg = vignetting(shape)
    lam = (1.0 if counts is None else counts) * bg * (0.35 + 0.65 * k)
    if counts is None:
        rec = lam.astype(np.float32)
    else:
        rec = np.mean([rng.poisson(lam) for _ in range(average)], axis=0).astype(np.float32)
    return rec[:n], rec[n:], bg
