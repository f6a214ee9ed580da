"""Misorientation on the scan grid (:mod:`vaearr.maps.indexing.grains`) on maps of turns about one axis, whose angles
are known by hand: neighbour angles with the cubic symmetry, KAM, grains, their boundaries, mean orientations, GROD and
the rotation vectors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("orix", reason="needs the 'ebsd' extra")

from vaearr.maps.indexing.grains import (  # noqa: E402
    grain_boundary_map,
    grain_mean_orientations,
    grain_rotation_vectors,
    grod_map,
    kam_map,
    misorientation_angles,
    neighbour_angles,
    segment_grains,
)
from vaearr.maps.indexing.orientations import point_group  # noqa: E402


def _about_z(degrees: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) of turns about z."""
    half = np.radians(np.asarray(degrees, float)) / 2
    return np.stack([np.cos(half), np.zeros_like(half), np.zeros_like(half), np.sin(half)], -1)


def test_the_cubic_symmetry_reduces_the_angle() -> None:
    cubic = point_group("m-3m")
    q1 = _about_z(np.zeros(3))
    angles = misorientation_angles(q1, _about_z([3.0, 95.0, 180.0]), cubic)
    assert angles == pytest.approx([3.0, 5.0, 0.0], abs=1e-6)
    assert misorientation_angles(np.zeros((0, 4)), np.zeros((0, 4)), cubic).shape == (0,)


def _map() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3 × 4 map: columns turned 0, 1, 2 and 20° about z (a grain boundary before the last), one phase."""
    turns = np.array([0.0, 1.0, 2.0, 20.0])[None].repeat(3, 0)
    return _about_z(turns), np.zeros((3, 4), int), np.ones((3, 4), bool)


def test_neighbour_angles_kam_grains_and_their_boundaries() -> None:
    q, pid, valid = _map()
    groups = {0: point_group("m-3m")}
    right, down = neighbour_angles(q, pid, valid, groups)
    assert right.shape == (3, 3) and down.shape == (2, 4)
    assert right == pytest.approx(np.array([[1.0, 1.0, 18.0]] * 3), abs=1e-6) and down == pytest.approx(0.0, abs=1e-6)
    # KAM: the 18° neighbour is left out; the others are 1° along the row, 0° along the column
    kam = kam_map(right, down)
    assert kam[1] == pytest.approx([1 / 3, 0.5, 1 / 3, 0.0], abs=1e-6) and kam[0, 0] == pytest.approx(0.5, abs=1e-6)
    grains = segment_grains(right, down, valid)
    assert grains.tolist() == [[0, 0, 0, 1]] * 3
    assert segment_grains(right, down, valid, grain_angle=0.5).tolist() == [[0, 1, 2, 3]] * 3
    assert grain_boundary_map(grains)[:, 2:].all() and not grain_boundary_map(grains)[:, :2].any()
    # another phase or an invalid pixel: no angle, and not in a grain
    pid[0, 1] = 1
    valid[2, 0] = False
    right, down = neighbour_angles(q, pid, valid, groups)
    assert np.isnan(right[0, :2]).all() and np.isnan(down[0, 1]) and np.isnan(right[2, 0])
    grains = segment_grains(right, down, valid)
    assert grains[2, 0] == -1 and grains[0, 1] != grains[0, 0]


def test_a_grains_mean_grod_and_rotation_vectors() -> None:
    q, pid, _ = _map()
    grains = np.array([[0, 0, 0, 1]] * 3)
    groups = {0: point_group("m-3m")}
    q[0, 2] = _about_z(92.0)  # the same orientation as 2° to the cubic symmetry
    mean = grain_mean_orientations(q, grains, pid, groups)
    assert mean.shape == (2, 4) and np.allclose(mean, _about_z([1.0, 20.0]), atol=1e-9)
    grod = grod_map(q, grains, pid, groups)
    assert grod == pytest.approx(np.array([[1.0, 0.0, 1.0, 0.0]] * 3), abs=1e-6)
    vectors = grain_rotation_vectors(q, grains, pid, groups)
    assert vectors[..., 2] == pytest.approx(np.array([[-1.0, 0.0, 1.0, 0.0]] * 3), abs=1e-6)
    assert vectors[..., :2] == pytest.approx(0.0, abs=1e-9)
    grains[:, 3] = -1
    assert np.isnan(grain_rotation_vectors(q, grains, pid, groups)[:, 3]).all() and np.isnan(
        grod_map(q, grains, pid, groups)[:, 3]).all()
    none = np.full((3, 4), -1)
    assert grain_mean_orientations(q, none, pid, groups).shape == (0, 4)
    assert np.isnan(grain_rotation_vectors(q, none, pid, groups)).all()
