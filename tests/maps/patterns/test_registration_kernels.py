"""The compiled kernels of the registration (:mod:`vaearr.maps.patterns.registration_kernels`) on a smooth picture
turned by a known rotation, sampled with scipy: the correlation at a start, and Gauss–Newton finding the rotation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from vaearr.maps.patterns.misorientation import RIM_PX, Geometry
from vaearr.maps.patterns.registration_kernels import correlations, gauss_newton

SHAPE = (48, 48)
GEOMETRY = Geometry((0.5, 0.5, 0.7), SHAPE)


def _picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    p = ndi.gaussian_filter(rng.normal(size=SHAPE), 3.0)
    return ((p - p.mean()) / p.std())[None].astype(np.float32)  # (1, rows, cols), float32 as the registration's


def _dirs() -> np.ndarray:
    rows, cols = np.mgrid[4:SHAPE[0] - 4:2, 4:SHAPE[1] - 4:2]
    return GEOMETRY.directions(rows.ravel(), cols.ravel())


def _sampled(picture: np.ndarray, q: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """``picture(q d)`` at each direction, bilinear (scipy), the kernels' gnomonic projection written out."""
    v = dirs @ q.T
    r0, c0 = GEOMETRY.centre
    c = c0 + GEOMETRY.scale * v[:, 0] / v[:, 2]
    r = r0 - GEOMETRY.scale * v[:, 1] / v[:, 2]
    return ndi.map_coordinates(picture[0].astype(np.float64), [r, c], order=1).astype(np.float32)


def test_the_correlation_at_each_start() -> None:
    moving, dirs = _picture(), _dirs()
    turn = Rotation.from_rotvec(np.radians([0.0, 0.0, 3.0])).as_matrix()
    fixed = np.stack([_sampled(moving, np.eye(3), dirs), -_sampled(moving, np.eye(3), dirs),
                      _sampled(moving, turn, dirs)])
    starts = np.stack([np.eye(3), turn, Rotation.from_rotvec([0.0, np.pi, 0.0]).as_matrix()])
    cand = np.array([[0, 2], [0, 0], [0, 1]])
    out = np.zeros((3, 2))
    r0, c0 = GEOMETRY.centre
    correlations(moving, fixed, np.zeros(3, np.int64), np.arange(3), dirs, r0, c0, GEOMETRY.scale, RIM_PX,
                 np.repeat(np.eye(3)[None], 3, 0), starts, cand, out)
    assert out[0, 0] == pytest.approx(1.0, abs=1e-6) and out[1, 0] == pytest.approx(-1.0, abs=1e-6)
    assert out[0, 1] == -2.0  # turned half round: nothing falls on the detector
    assert out[2, 1] == pytest.approx(1.0, abs=1e-6) and out[2, 0] < 0.99  # the turn's own start reads it


def test_gauss_newton_finds_a_small_rotation() -> None:
    moving, dirs = _picture(), _dirs()
    grad_r, grad_c = (np.ascontiguousarray(g, np.float32) for g in np.gradient(moving, axis=(1, 2)))
    truth = Rotation.from_rotvec(np.radians([0.3, -0.2, 0.8])).as_matrix()
    fixed = (_sampled(moving, truth, dirs) * np.float32(2.0) + np.float32(0.5))[None]  # a gain and an offset the fit takes out
    q = np.eye(3)[None].copy()
    corr, count, rvar = np.zeros(1), np.zeros(1, np.int64), np.zeros(1)
    r0, c0 = GEOMETRY.centre
    gauss_newton(moving, grad_r, grad_c, fixed, np.zeros(1, np.int64), np.zeros(1, np.int64), dirs,
                 np.ones(len(dirs)), r0, c0, GEOMETRY.scale, RIM_PX, q, 30, 1e-8, corr, count, rvar, True)
    error = np.degrees(np.linalg.norm(Rotation.from_matrix(q[0] @ truth.T).as_rotvec()))
    assert error < 0.02, error
    assert corr[0] > 0.999 and count[0] == len(dirs) and 0 < rvar[0] < 1e-6
