"""Unit quaternions ``(w, x, y, z)`` for the simulated maps: products, axis-angle, rotation vectors, misorientation.

Plain numpy, no crystal symmetry: the simulators turn one orientation by small rotations.
"""

from __future__ import annotations

import numpy as np


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a ⊗ b`` of (..., 4) quaternions ``(w, x, y, z)``."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def axis_angle_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Unit quaternions of rotations by ``angle`` (radians, (...)) about ``axis`` ((..., 3), any length)."""
    axis = np.asarray(axis, float)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    h = np.asarray(angle, float)[..., None] / 2
    return np.concatenate([np.cos(h), np.sin(h) * axis], axis=-1)


def rotvec_quat(v: np.ndarray) -> np.ndarray:
    """Unit quaternions of rotation vectors ``v`` (..., 3) (radians)."""
    ang = np.linalg.norm(v, axis=-1)
    ax = np.where(ang[..., None] > 0, v / np.maximum(ang, 1e-30)[..., None], np.array([1.0, 0, 0]))
    return axis_angle_quat(ax, ang)


def misorientation_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the rotation taking ``a`` to ``b`` (no crystal symmetry)."""
    dot = np.abs(np.sum(np.asarray(a) * np.asarray(b), axis=-1))
    return np.degrees(2 * np.arccos(np.clip(dot, 0, 1)))
