"""Regions and grains put right by their connected pieces (:mod:`vaearr.maps.segmentation.pieces`) on grids drawn by
hand: a grain in two pieces made two, a strip without a core joined to its neighbour, regions of one grain that do not
differ joined."""

from __future__ import annotations

import numpy as np

from vaearr.maps.segmentation.merging import grid_pairs
from vaearr.maps.segmentation.pieces import absorb_slivers, connected_grains, join_patches

NO_GAPS = (np.zeros(0, np.int64), np.zeros(0, np.int64))


def test_a_grain_of_two_pieces_is_two_grains() -> None:
    grains = np.array([[0, 0, 0, 1, 1, 1, 0, 0, 0]] * 4)  # grain 0 on both sides of grain 1
    regions = grains.copy()
    valid = np.ones(grains.shape, bool)
    r, g, info = connected_grains(regions.ravel(), grains.ravel(), valid, grid_pairs(valid), min_size=4)
    g = g.reshape(4, 9)
    assert len(np.unique(g)) == 3 and g[0, 0] != g[0, 8] and (g[:, :3] == g[0, 0]).all()
    assert info == {"grain_pieces_made_grains": 1, "grain_piece_pixels_moved": 0}
    assert len(np.unique(r)) == 3  # the region of two pieces split with its grain
    # a gap closed across the middle grain joins the two pieces again
    a, b = np.array([3 * 9 + 2]), np.array([3 * 9 + 6])
    _, g, info = connected_grains(regions.ravel(), grains.ravel(), valid, (a, b), min_size=4)
    assert len(np.unique(g)) == 2 and info["grain_pieces_made_grains"] == 0


def test_a_small_piece_joins_the_region_it_shares_most_edges_with() -> None:
    grains = np.zeros((5, 5), int)
    grains[:, 3:] = 1
    grains[0, 0] = 1  # one pixel of grain 1 inside grain 0: too small and no core
    valid = np.ones((5, 5), bool)
    r, g, info = connected_grains(grains.ravel(), grains.ravel(), valid, NO_GAPS, min_size=4)
    assert info["grain_piece_pixels_moved"] == 1 and g[0] == g[1] and r[0] == r[1]
    assert len(np.unique(g)) == 2


def test_a_strip_without_a_core_joins_its_neighbour() -> None:
    labels = np.zeros((6, 6), int)
    labels[:, 3:] = 2
    labels[:, 3] = 1  # a strip one pixel wide between two regions, sharing one side with each
    labels[0, 3] = 0  # … and tipped into region 0's side at the top: more edges with 0
    valid = np.ones((6, 6), bool)
    a, b = grid_pairs(valid)
    out = absorb_slivers(labels.ravel(), a, b).reshape(6, 6)
    assert len(np.unique(out)) == 2 and (out[:, 3] == out[0, 0]).all() and out[0, 0] != out[0, 5]
    thick = np.zeros((6, 6), int)
    thick[:, 3:] = 1  # three columns: a core
    assert np.array_equal(absorb_slivers(thick.ravel(), a, b).reshape(6, 6), thick)
    # a patch beside a grain boundary has no core there either
    beside = np.zeros(36, bool)
    beside.reshape(6, 6)[:, 5] = True
    strip = np.zeros((6, 6), int)
    strip[:, 4:] = 1  # two columns: the inner one is a core, unless the outer is beside a grain boundary
    assert len(np.unique(absorb_slivers(strip.ravel(), a, b))) == 2
    assert len(np.unique(absorb_slivers(strip.ravel(), a, b, beside))) == 1


def test_regions_of_one_grain_that_do_not_differ_are_joined() -> None:
    z = np.array([[0.0], [0.0], [0.1], [0.1], [5.0], [5.0], [0.0], [0.0]])
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    grain_of = np.array([0, 0, 0, 1])  # region 3 alike, but in another grain
    new, grains, joins = join_patches(z, labels, grain_of, price=1.0)
    # Ward's cost of joining 0 and 1: (2·2 / 4) · 0.1² / 2 = 0.005 < 1; of 0+1 and 2: far above
    assert joins == 1 and new.tolist() == [0, 0, 0, 0, 1, 1, 2, 2] and grains.tolist() == [0, 0, 1]
    assert join_patches(z, labels, grain_of, price=0.001)[2] == 0
