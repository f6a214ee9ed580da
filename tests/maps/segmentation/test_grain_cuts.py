"""Grains cut in pattern space (vaearr.maps.segmentation.grain_cuts): two unrelated orientations in one grain are parted; a scratch,
a gradient and a row of mixed patterns are not taken for a grain boundary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi
from sklearn.metrics import adjusted_rand_score

from vaearr.maps.segmentation.grain_cuts import cut_grains, move_pieces, neighbour_dots
from vaearr.maps.segmentation.segment import segment_store
from vaearr.store import write_variables

from tests.helpers import COLUMN_MAP_SHAPE as SHAPE
from tests.helpers import column_map as _map
from tests.helpers import picture as _pattern
from tests.helpers import unit_patterns as _prepare


def _cut(patterns: np.ndarray, grains: np.ndarray, regions: np.ndarray | None = None):
    valid = grains >= 0
    right, down = neighbour_dots(patterns, _prepare, valid)
    return cut_grains(grains if regions is None else regions, grains, right, down, patterns, _prepare)


def test_two_unrelated_orientations_in_one_grain_are_cut_along_their_boundary() -> None:
    rng = np.random.default_rng(0)
    u, v = _pattern(rng), _pattern(rng)
    half = np.arange(SHAPE[1]) >= 13
    patterns = _map(np.stack([v if h else u for h in half]))
    one = np.zeros(SHAPE, int)
    regions, grains, info = _cut(patterns, one)
    assert info["grains_cut"] == 1
    assert adjusted_rand_score(np.broadcast_to(half, SHAPE).ravel(), grains.ravel()) == 1.0
    assert (regions >= 0).all() and len(np.unique(regions)) == 2  # the one region cut with its grain


def test_a_row_of_mixed_patterns_joins_one_side_and_the_sides_are_parted() -> None:
    rng = np.random.default_rng(1)
    u, v = _pattern(rng), _pattern(rng)
    cols = [u] * 15 + [(u + v) / np.sqrt(2)] + [v] * 16
    patterns = _map(np.stack(cols))
    _, grains, info = _cut(patterns, np.zeros(SHAPE, int))
    assert info["grains_cut"] == 1
    left, right = grains[:, :15], grains[:, 16:]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1 and left[0, 0] != right[0, 0]
    assert set(np.unique(grains[:, 15])) <= {left[0, 0], right[0, 0]}


def test_a_scratch_through_a_grain_does_not_cut_it() -> None:
    """A column of blank patterns (noise only) parts the grain's pixels into two pieces: across it they still
    correlate, so the grain stays one."""
    rng = np.random.default_rng(2)
    u = _pattern(rng)
    cols = np.stack([u] * SHAPE[1])
    cols[14:16] = 0.0
    patterns = _map(cols)
    regions, grains, info = _cut(patterns, np.zeros(SHAPE, int))
    assert info["grains_cut"] == 0 and (grains == 0).all()


def test_a_gradient_that_ends_unrelated_is_one_grain() -> None:
    """From one picture to an unrelated one in small steps across the grain (a bent grain whose two ends share
    nothing): no neighbour pair is cut, so nothing is."""
    rng = np.random.default_rng(3)
    u, v = _pattern(rng), _pattern(rng)
    t = np.linspace(0, np.pi / 2, SHAPE[1])
    patterns = _map(np.stack([np.cos(a) * u + np.sin(a) * v for a in t]))
    _, grains, info = _cut(patterns, np.zeros(SHAPE, int))
    assert info["grains_cut"] == 0 and (grains == 0).all()


def test_only_the_grain_that_holds_two_orientations_is_cut() -> None:
    rng = np.random.default_rng(4)
    u, v, w = _pattern(rng), _pattern(rng), _pattern(rng)
    patterns = _map(np.stack([u] * 10 + [v] * 10 + [w] * 12))
    grains = np.where(np.arange(SHAPE[1]) < 10, 0, 1)[None].repeat(SHAPE[0], 0)  # grain 1 holds v and w
    grains[:, :2] = -1  # outside the mask
    regions, cut, info = _cut(patterns, grains)
    assert info["grains_cut"] == 1
    assert (cut[:, :2] == -1).all() and (regions[:, :2] == -1).all()
    truth = np.select([np.arange(SHAPE[1]) < 10, np.arange(SHAPE[1]) < 20], [0, 1], 2)[None].repeat(SHAPE[0], 0)
    assert adjusted_rand_score(truth[:, 2:].ravel(), cut[:, 2:].ravel()) == 1.0


def test_segment_parts_two_grains_whose_features_do_not_differ(tmp_path: Path) -> None:
    """`segment` on a deformed map whose features give two touching grains the same values (the latents of a
    model that does not tell them apart): the regions join them, the patterns part them again."""
    pytest.importorskip("kikuchipy")
    from benchmarks import data

    ds = data.patchwork_map("deformed", seed=2, shape=(36, 48))
    grain = ds.grain_id.values
    # the two grains that share the longest boundary
    a = np.r_[grain[:, :-1].ravel(), grain[:-1].ravel()]
    b = np.r_[grain[:, 1:].ravel(), grain[1:].ravel()]
    pairs, n = np.unique(np.sort(np.stack([a, b], 1)[a != b], 1), axis=0, return_counts=True)
    g1, g2 = pairs[np.argmax(n)]
    same = np.where(grain == g2, g1, grain)
    rng = np.random.default_rng(0)
    k = int(grain.max()) + 1
    f = 6.0 * np.eye(k)[same] + rng.normal(size=(*grain.shape, k))
    coords = {"y": ds.y.values, "x": ds.x.values}
    store = tmp_path / "m.zarr"
    write_variables(store, {"patterns": ds.patterns, "feat": xr.DataArray(f, dims=("y", "x", "c"), coords=coords)})
    result = segment_store(store, var="feat", mask=None)
    inside = ~ndi.binary_dilation(ds.grain_boundaries_true.values, iterations=1)
    found = result.segmentation.grains
    assert result.segmentation.info["grains_cut"] >= 1, result.summary()
    assert "grains cut in pattern space" in result.summary()
    assert adjusted_rand_score(grain[inside], found[inside]) > 0.99  # 0.84 without the cut
    one, two = found[(grain == g1) & inside], found[(grain == g2) & inside]
    assert len(np.unique(one)) == 1 and len(np.unique(two)) == 1 and one[0] != two[0]


def test_a_tongue_of_one_grain_drawn_into_the_next_moves_back() -> None:
    """A 3 × 4 block of v's pixels given to u's grain, beside v's grain: it correlates with v, not with u, and moves
    (regions with it); a column of mixed pixels on the other boundary stays where it was."""
    rng = np.random.default_rng(5)
    u, v, w = _pattern(rng), _pattern(rng), _pattern(rng)
    cols = [w] * 8 + [(w + u) / np.sqrt(2)] + [u] * 11 + [v] * 12
    patterns = _map(np.stack(cols))
    truth = np.select([np.arange(SHAPE[1]) < 8, np.arange(SHAPE[1]) < 20], [0, 1], 2)[None].repeat(SHAPE[0], 0)
    grains = truth.copy()
    grains[:, 8] = 0  # the mixed column given to w's grain
    grains[10:13, 20:24] = 1  # a tongue of v's pixels given to u's grain
    right, down = neighbour_dots(patterns, _prepare, grains >= 0)
    regions, moved, info = move_pieces(grains, grains, right, down, patterns, _prepare)
    assert info["grain_piece_pixels_moved"] == 12
    assert adjusted_rand_score(truth[:, 9:].ravel(), moved[:, 9:].ravel()) == 1.0
    assert (moved[:, 8] == moved[0, 0]).all()  # the mixed column stays
    assert adjusted_rand_score(moved.ravel(), regions.ravel()) == 1.0
