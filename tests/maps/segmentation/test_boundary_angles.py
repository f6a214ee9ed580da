"""Boundaries in degrees (:mod:`vaearr.maps.segmentation.boundary_angles`): the angles read across a 1° and a 5°
boundary of band patterns turned by hand, and from angles given by hand which count (over their noise, from the
touching pixels), regions merged and grains joined, the angle map, the patterns flattened (the angles of simulated Ni
maps: ``test_degrees.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import BAND_PC, BAND_SHAPE, band_patterns
from vaearr.maps.patterns.misorientation import Geometry, flattened
from vaearr.maps.segmentation.boundary_angles import (
    SIGNIFICANCE,
    PairAngles,
    angle_map,
    boundary_angles,
    decide,
)


def test_the_angles_across_a_one_and_a_five_degree_boundary() -> None:
    """Three bands of four columns turned about one axis: the middle one 1° from the left one, the right one 5° more."""
    axis = np.array([0.6, 0.0, 0.8])
    turns = np.repeat(np.array([0.0, 1.0, 6.0]), 4)[None, :, None] * axis * np.ones((6, 1, 1))
    regions = np.repeat(np.arange(3), 4)[None].repeat(6, 0)
    pairs = boundary_angles(regions, band_patterns(turns), np.ones(BAND_SHAPE), Geometry(BAND_PC, BAND_SHAPE))
    assert (pairs.i.tolist(), pairs.j.tolist(), pairs.edges.tolist()) == ([0, 1], [1, 2], [6, 6])
    assert pairs.angle == pytest.approx([1.0, 5.0], abs=0.15) and (pairs.noise < 0.1).all()
    assert not pairs.from_means.any()
    new, grains, info = decide(regions, pairs, grain_angle=2.0, low_angle=0.2)
    assert new[0].tolist() == regions[0].tolist() and grains[0].tolist() == [0] * 8 + [1] * 4
    assert info["angle_pairs_low_angle"] == 1 and info["angle_pairs_grain"] == 1


def _pairs(angle: list[float], noise: list[float] | None = None, touching: list[float] | None = None) -> PairAngles:
    """Pairs 0–1, 1–2, 2–3 of a line of four regions."""
    n = len(angle)
    return PairAngles(np.arange(n), np.arange(1, n + 1), np.array(angle), np.array(angle), np.zeros(n, bool),
                      np.ones(n, int), noise=None if noise is None else np.array(noise),
                      touching=None if touching is None else np.array(touching),
                      touching_noise=None if touching is None else np.zeros(n))


def test_an_angle_within_its_noise_is_no_boundary() -> None:
    p = _pairs([0.5, 0.5, 12.0], noise=[0.1, 0.3, np.nan])
    assert SIGNIFICANCE == 2.0
    assert p.decisive().tolist() == [0.5, 0.0, 12.0]  # 0.5 < 2 × 0.3; a NaN error counts as none
    assert p.read().tolist() == [0.5, 0.5, 12.0]


def test_a_pair_read_from_its_means_is_read_where_its_pixels_touch_under_the_grain_angle() -> None:
    p = _pairs([7.0, 1.0, 15.0], touching=[0.4, 0.5, 9.0])
    assert p.touched(2.0).tolist() == [True, False, False]
    assert p.decisive(2.0).tolist() == [0.4, 1.0, 15.0] and p.read(2.0).tolist() == [0.4, 1.0, 15.0]
    assert p.decisive().tolist() == [7.0, 1.0, 15.0]  # without a grain angle: as measured
    assert not _pairs([7.0]).touched(2.0).any()


def test_regions_merged_under_the_low_angle_grains_joined_under_the_grain_angle() -> None:
    regions = np.array([[0, 0, 1, 1, 2, 2, 3, 3]])
    p = _pairs([0.1, 1.0, np.inf])
    new, grains, info = decide(regions, p, grain_angle=2.0, low_angle=0.2)
    assert new.tolist() == [[0, 0, 0, 0, 1, 1, 2, 2]] and grains.tolist() == [[0, 0, 0, 0, 0, 0, 1, 1]]
    assert (info["angle_pairs_merged"], info["angle_pairs_low_angle"], info["angle_pairs_grain"],
            info["angle_pairs_beyond_search"]) == (1, 1, 1, 1)
    assert info["angle_median_low_angle"] == 1.0
    outside = np.array([[0, -1, 1]])
    new, grains, _ = decide(outside, _pairs([0.0]), grain_angle=2.0, low_angle=0.2)
    assert new.tolist() == [[0, -1, 0]] and grains.tolist() == [[0, -1, 0]]


def test_a_small_region_within_the_noise_of_two_sub_grains_does_not_join_them() -> None:
    """Sub-grains 0 and 2, 0.5° apart, touch each other and a small region 1 whose few patterns read within their
    noise of both: 1 joins the nearer one, never the two through it (a chain of joins did, on patchy sub-grains)."""
    regions = np.array([[0, 0, 1, 2, 2],
                        [0, 0, 2, 2, 2]])
    p = PairAngles(np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([0.25, 0.5, 0.3]), np.zeros(3),
                   np.zeros(3, bool), np.ones(3, int), noise=np.array([0.2, 0.02, 0.2]))
    assert p.decisive().tolist() == [0.0, 0.5, 0.0]
    new, grains, info = decide(regions, p, grain_angle=2.0, low_angle=0.2)
    assert new.tolist() == [[0, 0, 0, 1, 1], [0, 0, 1, 1, 1]]  # 1 joined 0 (listed first at the same angle)
    assert (info["angle_pairs_merged"], info["angle_pairs_kept_apart"], info["angle_pairs_low_angle"]) == (1, 1, 1)
    assert (grains == 0).all()
    # without the boundary between 0 and 2, all three are one
    q = _pairs([0.1, 0.1])
    new, _, info = decide(np.array([[0, 1, 2]]), q, grain_angle=2.0, low_angle=0.2)
    assert new.tolist() == [[0, 0, 0]] and info["angle_pairs_kept_apart"] == 0


def test_the_angle_map_marks_the_pixel_before_a_boundary() -> None:
    regions = np.array([[0, 0, 1],
                        [2, 2, 1]])
    p = PairAngles(np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([1.5, 3.0, 20.0]), np.zeros(3),
                   np.zeros(3, bool), np.ones(3, int))
    out = angle_map(regions, p)
    # (0, 1): right 0|1 at 1.5°, down 0|2 at 3°: the larger; (1, 1): right 2|1 at 20°
    assert out.dtype == np.float32 and np.isnan(out[0, 2])
    assert out[0, 0] == 3.0 and out[0, 1] == 3.0 and out[1, 1] == 20.0 and np.isnan(out[1, 0]) and np.isnan(out[1, 2])
    assert angle_map(regions, p, np.array([0.0, 0.0, 1.0]))[1, 1] == 1.0


def test_patterns_flattened_by_the_background_and_their_gain() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(10, 20, (2, 3, 4, 4))
    bg = rng.uniform(1, 2, (4, 4))
    f = flattened(p, bg)
    assert f.dtype == np.float32 and np.allclose(f.mean(axis=(-2, -1)), 1.0, atol=1e-6)
    assert np.allclose(f[1, 2], (p[1, 2] / bg) / (p[1, 2] / bg).mean(), atol=1e-6)
    assert np.allclose(flattened(3.0 * p, bg), f, atol=1e-6)  # a gain makes no difference
    assert pytest.approx(float(flattened(np.zeros((4, 4)), bg).sum())) == 0.0


def test_the_pairs_across_one_boundary_of_two_grains_are_searched_once() -> None:
    """Two grains 10° apart (beyond the identity's reach: the search finds it), each cut in two regions across the
    middle: the two pairs of regions across the grain boundary read the same 10°, searched once with the grains given
    (the other pair takes what it found), each on its own without them; what is decided is the same."""
    axis = np.array([0.0, 0.6, 0.8])
    turns = np.where(np.arange(8) < 4, 0.0, 10.0)[None, :, None] * axis * np.ones((12, 1, 1))
    grains = np.repeat((np.arange(8) >= 4).astype(int)[None], 12, 0)
    regions = grains * 2 + (np.arange(12) >= 6).astype(int)[:, None]  # 0, 1 left (top, bottom), 2, 3 right
    patterns, geometry = band_patterns(turns, counts=200.0), Geometry(BAND_PC, BAND_SHAPE)
    alone = boundary_angles(regions, patterns, np.ones(BAND_SHAPE), geometry)
    once = boundary_angles(regions, patterns, np.ones(BAND_SHAPE), geometry, grains=grains)
    across = [k for k, (i, j) in enumerate(zip(once.i, once.j)) if (i < 2) != (j < 2)]
    assert [(int(once.i[k]), int(once.j[k])) for k in across] == [(0, 2), (1, 3)]
    assert once.angle[across] == pytest.approx([10.0, 10.0], abs=0.5)  # 40 px bands
    assert alone.angle[across] == pytest.approx([10.0, 10.0], abs=0.5)
    assert once.shared is not None and int(once.shared.sum()) == 1 and once.shared[across].sum() == 1
    assert alone.shared is not None and not alone.shared.any()
    for pairs in (alone, once):
        new, joined, info = decide(regions, pairs, grain_angle=2.0, low_angle=0.2)
        assert np.array_equal(joined, grains) and len(np.unique(new)) == 2
    assert decide(regions, once, grain_angle=2.0, low_angle=0.2)[2]["angle_pairs_searched_once_for_their_grains"] == 1


def test_the_touching_pixels_of_a_thin_pair_are_searched_only_for_a_grain_angle_beyond_the_identity() -> None:
    """A piece three pixels long beside a grain 10° away is read from the regions' means (too thin for its rows) and
    from the pixels that touch across it; those count only under the grain angle, so under the 6° the identity reaches
    they are not searched (they read ``inf``), over it they are (10°). The angle decided is the means' 10° either way."""
    axis = np.array([0.0, 0.6, 0.8])
    turns = np.where(np.arange(8) < 4, 0.0, 10.0)[None, :, None] * axis * np.ones((8, 1, 1))
    regions = np.where(np.arange(8) < 4, 0, 2)[None].repeat(8, 0)
    regions[:3, 4:] = 1  # three pixels along the boundary with region 0
    patterns, geometry = band_patterns(turns, counts=200.0), Geometry(BAND_PC, BAND_SHAPE)
    read = {ga: boundary_angles(regions, patterns, np.ones(BAND_SHAPE), geometry, grain_angle=ga) for ga in (2.0, 15.0)}
    k = [(int(i), int(j)) for i, j in zip(read[2.0].i, read[2.0].j)].index((0, 1))
    for pairs in read.values():
        assert pairs.from_means[k] and pairs.angle[k] == pytest.approx(10.0, abs=0.5)
        assert pairs.touching is not None
    assert np.isinf(read[2.0].touching[k]) and read[15.0].touching[k] == pytest.approx(10.0, abs=1.0)
