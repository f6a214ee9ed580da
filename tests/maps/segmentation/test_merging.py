"""Steps 1–3 of a segmentation (:mod:`vaearr.maps.segmentation.merging`) on lines and grids small enough to check by
hand or against the formulas: the grid's pairs and the pairs across mask gaps, region pairs and means, the merges
that pay, the merging, small regions absorbed, the robust covariance and the noise whitening."""

from __future__ import annotations

import numpy as np

from vaearr.maps.segmentation.merging import (
    absorb_small,
    gap_owners,
    gap_pairs,
    grid_pairs,
    group_sums,
    merge_regions,
    noise_whitening,
    pair_distances,
    paying_merges,
    region_means,
    region_pairs,
    relabel,
    robust_covariance,
)


def test_regions_their_pairs_and_means() -> None:
    assert relabel(np.array([[7, 3], [7, 9]])).tolist() == [[1, 0], [1, 2]]
    labels = np.array([0, 0, 1, 1, 2, 2])  # a line of six pixels
    a, b = np.arange(5), np.arange(1, 6)
    i, j, length = region_pairs(labels, a, b)
    assert (i.tolist(), j.tolist(), length.tolist()) == ([0, 1], [1, 2], [1, 1])
    grid = np.array([[0, 0, 1], [0, 1, 1]])  # regions 0 and 1 share three pixel edges
    ga, gb = grid_pairs(np.ones((2, 3), bool))
    assert region_pairs(grid.ravel(), ga, gb)[2].tolist() == [3]
    z = np.array([[0.0], [2.0], [4.0], [6.0], [1.0], [1.0]])
    mu, size = region_means(z, labels)
    assert mu.ravel().tolist() == [1.0, 5.0, 1.0] and size.tolist() == [2, 2, 2]
    assert pair_distances(mu, np.array([0, 0]), np.array([1, 2]), block=1).tolist() == [16.0, 0.0]


def test_the_merges_of_one_round_that_pay() -> None:
    # a line of regions 0-1-2-3; pair costs (negative: the merge pays)
    i, j = np.array([0, 1, 2]), np.array([1, 2, 3])
    size = np.array([1, 5, 1, 1])
    cost = np.array([-3.0, 2.0, -1.0])
    merges = paying_merges(i, j, cost, size)
    # 0 joins the larger 1; 2 and 3 (equal size) join towards the higher id, 3, which is not itself joining
    assert sorted(merges.tolist()) == [0, 2]
    assert paying_merges(i, j, np.array([1.0, 2.0, 3.0]), size).size == 0


def test_steps_against_their_formulas() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4000, 3)) @ np.diag([1.0, 2.0, 0.5])
    x[:200] += 30  # 5 % far outliers
    cov = robust_covariance(x)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [1.0, 2.0, 0.5], rtol=0.08)
    # merging: two halves of a line of pixels, far apart, stay apart; each half becomes one region
    z = np.r_[np.zeros((10, 2)), np.full((10, 2), 50.0)] + rng.normal(0, 0.1, (20, 2))
    a, b = np.arange(19), np.arange(1, 20)
    labels, rounds = merge_regions(z, a, b, boundary_cost=8.0)
    assert len(np.unique(labels)) == 2 and labels[0] != labels[-1] and rounds >= 1
    # a region of one pixel joins its nearest neighbour
    lab = np.r_[np.zeros(10, int), np.ones(9, int), [2]]
    out = absorb_small(z, a, b, lab, 2)
    assert len(np.unique(out)) == 2 and out[-1] == out[-2]
    # pairs at an offset
    valid = np.ones((3, 4), bool)
    pa, pb = grid_pairs(valid, 0, 3)
    assert pa.tolist() == [0, 4, 8] and pb.tolist() == [3, 7, 11]
    w, kappa, info = noise_whitening(rng.normal(size=(24 * 32, 2)), np.ones((24, 32), bool), correlation=1.0)
    assert kappa == 1.0 and info["noise_correlation"] == "given" and w.shape == (2, 2)


def test_gap_pairs_close_a_narrow_gap_and_not_a_wide_one() -> None:
    """Pixels either side of a masked strip two pixels wide are neighbours (their cells touch across it); across a
    strip wider than twice ``max_gap`` nothing is; pairs already on the grid are not repeated."""
    valid = np.ones((6, 20), bool)
    valid[:, 8:10] = False
    a, b = gap_pairs(valid, gap_owners(valid, 3.0))
    assert a.size >= 6
    ya, xa = np.divmod(a, 20)
    yb, xb = np.divmod(b, 20)
    assert set(xa.tolist()) == {7} and set(xb.tolist()) == {10}, (xa, xb)  # only across the strip
    assert np.abs(ya - yb).max() <= 1 and set(ya.tolist()) == set(range(6))
    gx, gy = grid_pairs(valid)
    assert not set(zip(a.tolist(), b.tolist())) & set(zip(gx.tolist(), gy.tolist()))
    valid[:, 8:16] = False  # eight wide: its middle lies four pixels from either side
    assert gap_pairs(valid, gap_owners(valid, 3.0))[0].size == 0
    assert gap_pairs(valid, gap_owners(valid, 4.0))[0].size > 0


def test_group_sums_are_add_at_to_the_last_bit():
    """The sums that read a map's patterns once (region moments, side rows, region means) are
    :func:`numpy.add.at`'s, bit for bit, in float64; groups with no row sum to zero."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=(5000, 37)).astype(np.float32)
    ids = rng.integers(0, 60, 5000)
    ids[ids == 7] = 8  # an empty group
    want = np.zeros((61, 37))
    np.add.at(want, ids, values)
    got = group_sums(ids, values, 61)
    assert got.dtype == np.float64 and np.array_equal(got, want)
    assert not got[7].any() and not got[60].any()
    assert group_sums(np.zeros(0, int), np.zeros((0, 4)), 3).shape == (3, 4)
