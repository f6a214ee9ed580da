"""Grain boundaries refined on local means (vaearr.maps.segmentation.refine) and read through segment_features."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from vaearr.maps.segmentation.refine import refine_grain_boundaries
from vaearr.maps.segmentation.regions import segment_features


def _refine(f: np.ndarray, grains: np.ndarray, **kw: float) -> tuple[np.ndarray, int]:
    ny, nx, d = f.shape
    return refine_grain_boundaries(f.reshape(-1, d), grains, np.arange(ny * nx), **kw)


def test_a_drifted_grain_boundary_goes_back_where_the_features_change() -> None:
    """The coarse merging put a boundary two pixels into one grain on some rows and two into the other on the rest;
    refinement puts every row's boundary back at x = 15, in noise and with a gradient in the left grain."""
    rng = np.random.default_rng(3)
    ny, nx = 16, 30
    xx = np.mgrid[0:ny, 0:nx][1]
    truth = (xx >= 15).astype(int)
    f = rng.normal(scale=0.3, size=(ny, nx, 2))
    f[..., 0] += np.where(truth == 1, 3.0, 0.05 * xx)
    drawn = truth.copy()
    drawn[:8] = (xx[:8] >= 13)
    drawn[8:] = (xx[8:] >= 17)
    out, moved = _refine(f, drawn, boundary_cost=1.0)
    assert moved >= 0.9 * int((drawn != truth).sum())
    assert (out == truth).mean() >= 0.99, out


def test_a_bent_grain_keeps_its_far_end_that_its_mean_would_give_away() -> None:
    """A grain whose features run up to the next grain's (a bent grain): beside the boundary the pixel is nearer the
    next grain's mean than its own grain's, but nearest its own neighbours — a window of radius 2 keeps it, a window
    the size of the map (the grain's mean) moves it."""
    ny, nx = 8, 30
    xx = np.mgrid[0:ny, 0:nx][1]
    truth = (xx >= 20).astype(int)
    f = np.where(truth == 1, 6.0, 0.25 * xx)[..., None].astype(float)
    local, moved_local = _refine(f, truth, boundary_cost=0.1, radius=2)
    assert moved_local == 0 and (local == truth).all()
    _, moved_global = _refine(f, truth, boundary_cost=0.1, radius=40)
    assert moved_global >= ny


def test_a_pixel_without_its_own_grain_around_it_is_not_moved() -> None:
    """A pixel whose own grain has fewer than three pixels in its window (speckle a mask leaves) stays: its grain
    cannot be judged there."""
    f = np.zeros((5, 5, 1))
    grains = np.zeros((5, 5), int)
    grains[2, 2] = 1
    f[2, 2, 0] = 0.2
    out, moved = _refine(f, grains, boundary_cost=0.1)
    assert moved == 0 and out[2, 2] == 1


def test_segment_records_the_refinement_and_places_blurred_boundaries_better() -> None:
    """Through segment_features, on six maps of two grains, the left one bent towards the right, whose features are
    3 × 3 averages (as latents of neighbour-averaged patterns): with the step (the default) fewer pixels lie in the
    wrong grain than without it (grain_radius=0), summed over the maps, and the info says what was done."""
    on_total = off_total = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        ny, nx = 24, 40
        xx = np.mgrid[0:ny, 0:nx][1]
        truth = (xx >= 22).astype(int)
        f = rng.normal(size=(ny, nx, 3))
        f[..., 0] += np.where(truth == 1, 4.0, 0.12 * xx)
        f = ndi.uniform_filter(f, size=(3, 3, 1), mode="nearest")
        valid = np.ones((ny, nx), bool)
        on, off = segment_features(f, valid), segment_features(f, valid, grain_radius=0)
        assert on.info["grain_refine_radius"] == 2 and off.info["grain_boundary_pixels_moved"] == 0
        assert on.n_grains == off.n_grains == 2
        on_total += int(min((on.grains != truth).sum(), (on.grains != 1 - truth).sum()))
        off_total += int(min((off.grains != truth).sum(), (off.grains != 1 - truth).sum()))
    assert on_total < off_total, (on_total, off_total)
