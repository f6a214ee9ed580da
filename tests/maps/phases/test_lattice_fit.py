"""The pieces of the lattice fit (:mod:`vaearr.maps.phases.lattice_fit`) worked by hand: the scales tried, the peak of
a curve refined by a parabola, the pixels a region is fitted at, its mean divided by the map's (the fit on a simulated
pattern: ``test_lattice_phases.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from vaearr.maps.phases.lattice_fit import BACKGROUND_SIGMA, SCALES, candidate_pixels, divided_means, peak


def test_the_scales_tried_are_log_spaced_from_080_to_125() -> None:
    assert SCALES[0] == pytest.approx(0.80) and 1.23 < SCALES[-1] <= 1.25
    assert np.allclose(SCALES[1:] / SCALES[:-1], 1.015, atol=1e-5)


def test_the_peak_of_a_parabola_in_log_scale() -> None:
    grid = np.exp(np.linspace(-0.2, 0.2, 21))
    top = 0.033
    values = -((np.log(grid) - top) ** 2)
    assert peak(values, grid) == pytest.approx(np.exp(top), rel=1e-9)
    # at an end of the grid: the end itself; a flat top of two points: halfway between them
    assert peak(np.arange(5.0), grid[:5]) == grid[4] and peak(-np.arange(5.0), grid[:5]) == grid[0]
    assert peak(np.array([0.0, 1.0, 1.0, 0.0]), grid[:4]) == pytest.approx(np.exp(np.log(grid[1]) + 0.5 * 0.02))


def test_the_pixels_deepest_inside_each_region_first() -> None:
    regions = np.full((7, 7), -1)
    regions[1:6, 1:6] = 0  # a 5 × 5 square: its centre deepest, then the 8 round it
    regions[0, :] = 1
    usable = np.ones((7, 7), bool)
    usable[3, 3] = False  # the centre has no orientation
    cands = candidate_pixels(regions, usable, 3, k=3)
    assert cands[0].tolist() == [2 * 7 + 2, 2 * 7 + 3, 2 * 7 + 4]  # depth 2, raster order among ties
    assert cands[1].tolist() == [0, 1, 2] and cands[2].size == 0 and cands[2].dtype == np.int64


def test_region_means_divided_by_the_smoothed_map_mean_and_standardised() -> None:
    rng = np.random.default_rng(0)
    means = rng.uniform(1, 2, (3, 16, 16))
    background = rng.uniform(1, 2, (16, 16))
    out = divided_means(means, background)
    bg = ndi.gaussian_filter(background, BACKGROUND_SIGMA * 16)
    ref = means / bg
    ref = (ref - ref.mean(axis=(1, 2), keepdims=True)) / ref.std(axis=(1, 2), keepdims=True)
    assert np.allclose(out, ref)
    assert np.allclose(out.mean(axis=(1, 2)), 0) and np.allclose(out.std(axis=(1, 2)), 1)
