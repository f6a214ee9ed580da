"""The simulated map's scene (:mod:`vaearr.data.scene`): grain seeds and their Voronoi cells, the pore, random
orientations, recorded patterns from a hand-made scene, band contrast, element maps and scan coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from vaearr.data import scene
from vaearr.data.scene import (
    Scene,
    band_contrast,
    grain_elements,
    grain_seeds,
    noisy_patterns,
    random_quaternions,
    scan_coords,
    spawn_rngs,
    voronoi,
)


def test_spawned_streams_are_seeded_and_independent() -> None:
    a, b = spawn_rngs(3, 2)
    again = spawn_rngs(3, 2)
    assert a.random() == again[0].random() and b.random() == again[1].random()
    assert spawn_rngs(3, 1)[0].random() != spawn_rngs(4, 1)[0].random()
    x, y = spawn_rngs(0, 2)
    assert not np.array_equal(x.random(5), y.random(5))


def test_grain_seeds_sit_near_distinct_pixel_centres() -> None:
    seeds = grain_seeds((10, 12), 15, np.random.default_rng(0))
    assert seeds.shape == (15, 2)
    centres = np.rint(seeds)
    assert np.abs(seeds - centres).max() <= 0.3
    assert len({tuple(c) for c in centres}) == 15
    assert (centres >= 0).all() and (centres[:, 0] <= 9).all() and (centres[:, 1] <= 11).all()
    # every pixel a seed: the spacing relaxes until all fit
    assert len({tuple(c) for c in np.rint(grain_seeds((3, 3), 9, np.random.default_rng(1)))}) == 9
    with pytest.raises(ValueError, match="n_grains=10 exceeds the 3×3 scan"):
        grain_seeds((3, 3), 10, np.random.default_rng(0))


def test_voronoi_is_nearest_and_second_nearest_seed_with_the_bisector_distance() -> None:
    seeds = np.array([[1.1, 1.2], [0.8, 5.1], [3.9, 3.15]])  # no pixel centre on a bisector
    grain, neighbour, dist = voronoi((5, 7), seeds)
    yy, xx = np.mgrid[0:5, 0:7]
    d = np.hypot(yy[..., None] - seeds[:, 0], xx[..., None] - seeds[:, 1])
    order = np.argsort(d, axis=-1)
    np.testing.assert_array_equal(grain, order[..., 0])
    np.testing.assert_array_equal(neighbour, order[..., 1])
    assert grain.dtype == np.int32
    # the distance to the bisector, by projection on the line between the two seeds
    s1, s2 = seeds[grain], seeds[neighbour]
    u = (s2 - s1) / np.linalg.norm(s2 - s1, axis=-1, keepdims=True)
    along = ((np.stack([yy, xx], -1) - (s1 + s2) / 2) * u).sum(-1)
    np.testing.assert_allclose(dist, -along, atol=1e-12)
    assert (dist > 0).all()
    one, same, inf = voronoi((2, 2), np.array([[0.0, 0.0]]))
    assert (one == 0).all() and (same == 0).all() and np.isinf(inf).all()


def test_the_pore_covers_its_fraction_and_fades_at_the_rim() -> None:
    mask, badness = scene._pore((40, 50), 0.1, np.random.default_rng(0))  # noqa: SLF001 - the demo's bad region
    assert mask.mean() == pytest.approx(0.1, abs=0.01)
    assert (badness[mask] >= 0.85).all() and (badness <= 1).all() and (badness >= 0).all()
    assert badness[~ndi.binary_dilation(mask, iterations=3)].max() == 0  # nothing far from the pore
    assert 0 < badness[ndi.binary_dilation(mask) & ~mask].mean() < 0.85
    none, zero = scene._pore((4, 5), 0.0, np.random.default_rng(0))  # noqa: SLF001 - no pore asked for
    assert not none.any() and not zero.any()


def test_random_quaternions_are_unit_with_a_non_negative_scalar_part() -> None:
    q = random_quaternions(2000, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, rtol=1e-12)
    assert (q[:, 0] >= 0).all()
    # uniform on SO(3): the vector parts point every way (their mean is near zero)
    assert np.abs(q[:, 1:].mean(axis=0)).max() < 0.05
    np.testing.assert_array_equal(q[:5], random_quaternions(5, np.random.default_rng(0)))


def _scene(shape=(2, 3), p=8) -> Scene:
    k = np.stack([np.linspace(-1, 1, p * p).reshape(p, p), np.linspace(1, -1, p * p).reshape(p, p)]).astype(np.float32)
    grain = np.array([[0, 0, 1], [0, 1, 1]], np.int32)
    return Scene(grain=grain, neighbour=1 - grain, dist=np.full(shape, np.inf), badness=np.zeros(shape),
                 bad=np.zeros(shape, bool), drift=np.ones(shape), quats=np.tile([1.0, 0, 0, 0], (2, 1)),
                 kikuchi=k, background=np.full((p, p), 100.0, np.float32))


def test_noiseless_patterns_are_the_background_times_the_grains_contrast() -> None:
    sc = _scene()
    out = noisy_patterns(sc, np.arange(6), 0.0, np.random.default_rng(0))
    assert out.shape == (6, 8, 8) and out.dtype == np.uint8
    want = np.rint(100 * (1 + 0.055 * sc.kikuchi[sc.grain.ravel()]))
    np.testing.assert_array_equal(out, want.astype(np.uint8))
    # in the pore (badness 1): darker and almost flat
    sc.badness[:] = 1.0
    dark = noisy_patterns(sc, np.array([0]), 0.0, np.random.default_rng(0)).astype(float)
    assert dark.mean() == pytest.approx(55, abs=1) and np.ptp(dark) <= 2
    # noise: the same seed the same patterns, the mean kept
    sc.badness[:] = 0.0
    a = noisy_patterns(sc, np.arange(6), 1.0, np.random.default_rng(5))
    np.testing.assert_array_equal(a, noisy_patterns(sc, np.arange(6), 1.0, np.random.default_rng(5)))
    assert not np.array_equal(a, out) and abs(a.astype(float).mean() - out.astype(float).mean()) < 1


def test_band_contrast_scores_bands_not_noise() -> None:
    rng = np.random.default_rng(0)
    p = 60
    xx = np.mgrid[0:p, 0:p][1]
    bands = 100 * (1 + 0.05 * np.sin(2 * np.pi * xx / 12))
    flat = np.full((p, p), 100.0)
    noisy_flat = flat + rng.normal(0, 3, (4, p, p))
    noisy_bands = bands + rng.normal(0, 3, (4, p, p))
    bg = np.full((p, p), 100.0)
    bc = band_contrast(np.concatenate([noisy_flat, noisy_bands]), bg)
    assert bc.shape == (8,) and bc.dtype == np.float32
    assert (bc[:4] < 30).all() and (bc[4:] > 150).all()
    assert band_contrast(flat, bg) == 0  # one pattern: shape ()
    assert band_contrast(np.stack([bands] * 3).reshape(1, 3, p, p), bg).shape == (1, 3)
    assert band_contrast(bands, bg, full_scale=1e-3) == 255  # clipped at full scale
    assert band_contrast(bands * 3, bg * 3) == pytest.approx(band_contrast(bands, bg), rel=1e-5)  # relative contrast


def test_grain_elements_follow_the_grains() -> None:
    sc = _scene(shape=(2, 3))
    el = grain_elements(sc, np.random.default_rng(0))
    assert set(el) == {"Ni", "Cr", "Fe"} and all(v.shape == (2, 3) for v in el.values())
    assert ((el["Cr"] > 10) & (el["Cr"] < 26)).all() and ((el["Fe"] > 0) & (el["Fe"] < 14)).all()
    assert (np.abs(el["Ni"] + el["Cr"] + el["Fe"] - 100) < 6).all()  # wt% of an Inconel-like alloy, with noise
    assert all(np.array_equal(v, np.round(v, 3)) for v in el.values())


def test_scan_coords_are_row_major_in_steps() -> None:
    x, y = scan_coords((2, 3), 0.1)
    np.testing.assert_array_equal(x, [0.0, 0.1, 0.2, 0.0, 0.1, 0.2])
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.0, 0.1, 0.1, 0.1])
    assert float(str(float(x[2]))) == x[2] == 0.2  # written to CSV and read back, the same float


def test_the_static_background_is_kikuchipys_smoothed_to_the_pattern_shape() -> None:
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    bg = scene.static_background((30, 40))
    assert bg.shape == (30, 40) and bg.dtype == np.float32
    assert 0 < bg.min() < bg.max() <= 255
    assert np.abs(np.diff(bg, axis=1)).max() < 0.1 * np.ptp(bg)  # smooth: no pixel-to-pixel noise left
