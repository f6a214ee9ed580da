"""Pixels set aside while a map without a mask is segmented (vaearr.maps.segmentation.mixed_pixels): the patterns that resemble
none of their neighbours — mixed along a grain boundary, blank in a hole — wait while the regions form, then join the
neighbour they resemble; a map without such pixels gives up only its far tail; a mask turns the step off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from vaearr.maps.segmentation.grain_cuts import neighbour_dots
from vaearr.maps.segmentation.mixed_pixels import absorb_small, best_neighbour, fill_set_aside, set_aside
from vaearr.maps.segmentation.segment import segment_store
from vaearr.store import open_store, write_variables

from tests.helpers import COLUMN_MAP_SHAPE as SHAPE
from tests.helpers import column_map as _map
from tests.helpers import picture as _pattern
from tests.helpers import unit_patterns as _prepare


def test_best_neighbour_is_the_highest_correlation_with_any_of_four() -> None:
    right = np.array([[0.1, 0.5], [0.2, np.nan]])  # (2, 2): pairs (y, x)-(y, x+1) of a 2 x 3 map
    down = np.array([[0.3, 0.9, np.nan]])  # (1, 3): pairs (0, x)-(1, x)
    best = best_neighbour(right, down)
    np.testing.assert_array_equal(best, [[0.3, 0.9, 0.5], [0.3, 0.9, np.nan]])  # (1, 2): both its pairs unmeasured
    assert np.isnan(best_neighbour(np.full((1, 1), np.nan), np.full((0, 2), np.nan))).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_column_of_mixed_patterns_is_set_aside_and_joins_the_side_it_resembles(seed: int) -> None:
    """A grain boundary's column of mixed patterns: both grains' patterns at half the contrast (two unrelated band
    sets averaged), under the same noise."""
    rng = np.random.default_rng(seed)
    u, v = _pattern(rng), _pattern(rng)
    patterns = _map(np.stack([u] * 15 + [(u + v) / 4] + [v] * 16), seed=seed)
    valid = np.ones(SHAPE, bool)
    right, down = neighbour_dots(patterns, _prepare, valid)
    aside, info = set_aside(right, down, valid)
    assert aside[:, 15].all() and aside.sum() == SHAPE[0] == info["pixels_set_aside"]  # the column and nothing else
    regions = np.where(np.arange(SHAPE[1]) < 15, 0, 1) * np.ones(SHAPE, int)
    regions[aside] = -1
    filled, filled_grains = fill_set_aside(regions, regions + 10, aside, right, down)
    assert (filled >= 0).all() and (filled_grains == filled + 10).all()
    # each to the side it correlates with more (its up and down neighbours were set aside too)
    np.testing.assert_array_equal(filled[:, 15], np.where(right[:, 14] >= right[:, 15], 0, 1))


def test_a_map_of_one_mode_gives_up_only_its_far_tail() -> None:
    """Without mixed or blank pixels the best neighbour correlation has one mode: Otsu's threshold would halve it; the
    median less 3 robust σ keeps all but a few."""
    rng = np.random.default_rng(3)
    patterns = _map(np.stack([_pattern(rng)] * SHAPE[1]), noise=1.0)
    valid = np.ones(SHAPE, bool)
    aside, info = set_aside(*neighbour_dots(patterns, _prepare, valid), valid)
    assert info["pixels_set_aside"] <= 0.02 * valid.sum()
    assert info["set_aside_threshold"] < float(np.nanmedian(best_neighbour(*neighbour_dots(patterns, _prepare, valid))))


def test_a_gap_is_filled_from_its_edges_inwards() -> None:
    """A hole three pixels wide: its edge pixels take the side beside them, the middle one the side it resembles."""
    regions = np.array([[0, -1, -1, -1, 1]] * 3)
    aside = regions < 0
    right = np.array([[0.1, 0.1, 0.2, 0.1]] * 3)  # the middle column resembles its right neighbour more
    down = np.full((2, 5), 0.0)
    filled, _ = fill_set_aside(regions, regions.copy(), aside, right, down)
    assert filled.tolist() == [[0, 0, 1, 1, 1]] * 3


def test_segment_without_a_mask_sets_mixed_boundary_pixels_aside(tmp_path: Path) -> None:
    """`segment` on a patchwork map's patterns with no mask: the pixels set aside lie along the grain boundaries and in
    the holes, every pixel still gets a region, the rule is in the attrs; with the ROI nothing is set aside."""
    pytest.importorskip("kikuchipy")
    from benchmarks import data

    ds = data.patchwork_map("subgrains", seed=3, shape=(36, 48))
    sub = ds.subgrain_id.values
    rng = np.random.default_rng(0)
    f = 4.0 * np.eye(int(sub.max()) + 1)[sub] + rng.normal(size=(*sub.shape, int(sub.max()) + 1))
    coords = {"y": ds.y.values, "x": ds.x.values}
    store = tmp_path / "m.zarr"
    bc = ds.bandcontrast.values
    roi = xr.DataArray(bc >= threshold_otsu(bc), dims=("y", "x"), coords=coords)  # as `vaearr roi --otsu`
    write_variables(store, {"patterns": ds.patterns, "roi": roi,
                            "feat": xr.DataArray(f, dims=("y", "x", "c"), coords=coords)})
    result = segment_store(store, var="feat", mask=None)
    seg = result.segmentation
    aside = seg.info["pixels_set_aside"]
    near = ndi.binary_dilation(ds.grain_boundaries_true.values, iterations=1)
    hole = ds.hole_true.values if "hole_true" in ds else np.zeros(sub.shape, bool)
    assert 0.03 * sub.size < aside < 0.25 * sub.size, aside
    assert (seg.regions >= 0).all() and (seg.grains >= 0).all()
    assert "set aside while regions formed" in result.summary()
    written = open_store(store)["segments"].attrs
    assert written["pixels_set_aside"] == aside and "Otsu" in written["set_aside_rule"]
    assert "strip" in written["set_aside_small_regions_rule"]
    # which pixels: read the rule again on the store's patterns
    from vaearr.maps.segmentation.pattern_levels import PatternSpace

    space = PatternSpace(store, open_store(store), None)
    picked, _ = set_aside(*neighbour_dots(space.data, space.prepare, np.ones(sub.shape, bool)), np.ones(sub.shape, bool))
    assert picked.sum() == aside
    assert (picked & (near | hole)).sum() >= 0.85 * aside
    in_roi = segment_store(store, var="feat", mask="roi", name="seg_roi").segmentation
    assert "pixels_set_aside" not in in_roi.info


def test_a_small_region_beside_the_set_aside_band_joins_its_grain_neighbour() -> None:
    """A strip of 4 pixels between a set-aside column and its grain's region joins that region; a small region away
    from the set-aside pixels stays."""
    regions = np.array([[0, 0, 0, 3, 9, 1, 1],
                        [0, 0, 0, 3, 9, 1, 1],
                        [0, 0, 0, 3, 9, 1, 1],
                        [0, 4, 0, 3, 9, 1, 1]])
    grains = np.where(np.isin(regions, [0, 3, 4]), 0, 1)
    aside = np.zeros(regions.shape, bool)
    aside[:, 4] = True
    regions = np.where(aside, 1, regions)  # the set-aside pixels, filled (given to grain 1's region)
    out, moved = absorb_small(regions, grains, aside, size=6)
    assert moved == 4 and (out[:, 3] == 0).all()  # the strip joined region 0, its grain's
    assert out[3, 1] == 4  # a small region away from the band stays
    assert (out[:, 4:] == 1).all()  # grain 1's region as it was


def test_a_strip_along_the_set_aside_band_joins_and_a_compact_or_crossing_region_stays() -> None:
    """A strip two pixels wide along the set-aside column, larger than ``size``, has no core pixel and lies beside the
    band: it joins its grain's region (science held-out map 3: such a strip was drawn as a low-angle boundary). A
    compact region beside the band, and a thin one that only ends at it (a thin patch of a sub-grain), stay."""
    regions = np.zeros((12, 14), int)
    regions[:11, 7:9] = 2  # the strip along the band, grain 0
    regions[11, :9] = 7  # a one-pixel row of grain 0 that meets the band at one end
    regions[:, 9:] = 1  # the set-aside column (filled) and grain 1's lower region
    regions[:6, 10:] = 5  # grain 1's upper region: compact, beside the band
    grains = np.where(np.arange(14)[None, :] < 9, 0, 1).repeat(12, 0)
    aside = np.zeros(regions.shape, bool)
    aside[:, 9] = True
    out, moved = absorb_small(regions, grains, aside, size=6)
    assert moved == 22 and (out[:11, 7:9] == 0).all()
    assert (out[11, :9] == 7).all()
    assert (out[:6, 10:] == 5).all() and (out[6:, 10:] == 1).all()
    kept, none_moved = absorb_small(regions, grains, aside, size=6, thin=0.0)  # by size alone the strip stays
    assert none_moved == 0 and (kept == regions).all()
