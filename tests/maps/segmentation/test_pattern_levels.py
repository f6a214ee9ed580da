"""The grain level read in pattern space (:mod:`vaearr.maps.segmentation.pattern_levels`) on a small map of two
smooth pictures with noise: the side rows of a boundary, their moments, the pseudo-angle, the binning, the grains and
the sub-grain floor (the rule on simulated EBSD maps: ``test_segment.py``, ``test_degrees.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from vaearr.maps.patterns.edges import prepare_patterns
from vaearr.maps.segmentation.pattern_levels import (
    DEPTH,
    binned,
    boundary_rows,
    merge_by_pattern_contrast,
    pattern_grains,
    pseudo_angle,
    row_moments,
    strip_sides,
)

NY, NX, P = 24, 20, 12


def _map(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Patterns (y, x, P, P): one smooth picture left of column 10, another right of it, with noise; regions: the
    left half 0, the right half cut in two (1 above row 12, 2 below), all of one picture."""
    rng = np.random.default_rng(seed)
    a, b = (ndi.gaussian_filter(rng.normal(size=(P, P)), 1.5) for _ in range(2))
    pats = np.where((np.arange(NX) < 10)[None, :, None, None], a, b) * np.ones((NY, 1, 1, 1))
    pats = pats / pats.std() + 0.3 * rng.normal(size=pats.shape)
    regions = np.zeros((NY, NX), int)
    regions[:12, 10:], regions[12:, 10:] = 1, 2
    return pats, regions


def _prepare(block: np.ndarray) -> np.ndarray:
    return prepare_patterns(block)


def test_the_side_rows_of_a_boundary() -> None:
    regions = np.zeros((10, 10), int)
    regions[:, 5:] = 1
    rows = boundary_rows(regions)
    assert rows.i.tolist() == [0] and rows.j.tolist() == [1] and rows.n_rows == 2 * DEPTH
    for side, k, column in ((0, 0, 4), (0, 3, 1), (1, 1, 6), (1, 3, 8)):
        members = rows.pixel[rows.row == side * DEPTH + k]
        assert sorted(members % 10) == [column] * 10 and sorted(members // 10) == list(range(10)), (side, k)
    assert boundary_rows(np.zeros((4, 4), int)).i.size == 0


def test_row_moments_are_the_rows_sums() -> None:
    pats, regions = _map()
    rows = boundary_rows(regions)
    sums, sq, count = row_moments(pats, regions.shape, rows, _prepare)
    f = _prepare(pats).reshape(NY * NX, -1)
    for r in (0, 5, rows.n_rows - 1):
        members = rows.pixel[rows.row == r]
        assert count[r] == members.size
        assert np.allclose(sums[r], f[members].sum(0)) and sq[r] == pytest.approx((f[members] ** 2).sum())


def test_the_pseudo_angle_and_the_binning() -> None:
    delta = np.array([0.0, 1 - np.exp(-0.25), 0.999])
    assert pseudo_angle(delta) == pytest.approx([0.0, 0.5, np.sqrt(-np.log(0.01))])
    rng = np.random.default_rng(1)
    block = rng.uniform(1, 2, (3, 8, 8))
    by2 = binned(_prepare, 2)(block)
    assert by2.shape == (3, 16)
    assert np.allclose(by2, _prepare(block.reshape(3, 4, 2, 4, 2).sum(axis=(2, 4))), atol=1e-6)
    assert binned(_prepare, 1) is _prepare


def test_grains_from_the_excess_dissimilarity() -> None:
    pats, regions = _map()
    grains, info = pattern_grains(regions, pats, _prepare, P * P)
    assert grains[1] == grains[2] != grains[0]
    assert info["grain_pairs"] == 3 and info["grain_boundary_pairs"] == 2 and info["grain_patterns_binned"] == 1
    assert info["grain_excess_median_grain_boundary"] > 0.45 > info["grain_excess_median_inside"]
    # a budget the side rows pass: the patterns binned 2 × 2, the grains the same
    grains2, info2 = pattern_grains(regions, pats, _prepare, P * P, sum_budget=1000)
    assert info2["grain_patterns_binned"] >= 2 and grains2[1] == grains2[2] != grains2[0]
    assert pattern_grains(np.zeros((4, 4), int), pats, _prepare, P * P)[1] == {"grain_rule": "no adjacent regions",
                                                                             "grain_pairs": 0}


def test_sub_grains_under_the_floor_are_merged() -> None:
    pats, regions = _map()
    grains = np.where(regions == 0, 0, 1)
    merged, info = merge_by_pattern_contrast(pats, regions, grains, _prepare, 0.1)
    assert merged[0, 10] == merged[23, 10] != merged[0, 0] and info["lagb_pairs_merged_by_floor"] == 1
    assert info["lagb_grain_contrast"] > 0.5  # two unrelated pictures
    kept, _ = merge_by_pattern_contrast(pats, regions, grains, _prepare, 0.0)
    assert np.array_equal(kept, regions)
    one, info = merge_by_pattern_contrast(pats, regions, np.zeros_like(regions), _prepare, 0.1)
    assert np.array_equal(one, regions) and info == {"lagb_contrast_floor": None}  # no neighbouring grains


def test_a_strip_side() -> None:
    regions = np.zeros((10, 10), int)
    regions[:, 5] = 1  # a strip one pixel wide
    regions[:, 6:] = 2
    rows = boundary_rows(regions)
    count = np.bincount(rows.row, minlength=rows.n_rows).astype(float)
    strip = strip_sides(count, rows, tiny=np.zeros(3, bool))
    pairs = list(zip(rows.i.tolist(), rows.j.tolist()))
    assert strip[pairs.index((0, 1))] and strip[pairs.index((1, 2))]
    assert not strip_sides(count, rows, tiny=np.array([False, True, False])).any()
