"""Kernel and domain spreads' building blocks (:mod:`vaearr.maps.deformation.measures`) on maps small enough to work by
hand: second differences, the noise they give, KAM, the gradient fit, domain spreads, each region's own noise (the
spreads of planted maps: ``test_spread.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.maps.deformation.measures import (
    CHI2_3_MEDIAN,
    MIN_INTERIOR,
    Spread,
    domain_spreads,
    feature_spreads,
    gradient_spread,
    neighbour_kam,
    noise_covariance,
    orientation_spreads,
    region_noise,
    second_differences,
)


def test_second_differences_stay_inside_a_region_and_vanish_on_a_plane() -> None:
    yy, xx = np.mgrid[0:4, 0:9].astype(float)
    regions = np.zeros((4, 9), int)
    # a parabola along x: z(x-3) - 2 z(x) + z(x+3) = 18 for every triple; columns give none (4 rows < 7)
    d = second_differences((xx ** 2)[..., None], regions, lag=3)
    assert d.shape == (4 * 3, 1) and np.allclose(d, 18.0)
    assert np.allclose(second_differences((2 * xx + 5 * yy)[..., None], regions, lag=1), 0.0)
    # a triple across two regions is left out
    regions[:, 5:] = 1
    assert second_differences((xx ** 2)[..., None], regions, lag=3).shape == (0, 1)
    # with each pixel's precision: divided by the noise's scale √((1/pa + 4/pb + 1/pc) / 6)
    d = second_differences((xx ** 2)[..., None], np.zeros((4, 9), int), lag=3, precision=np.full((4, 9), 4.0))
    assert np.allclose(d, 18.0 / np.sqrt((0.25 + 1.0 + 0.25) / 6))


def test_the_noise_covariance_of_white_noise_is_its_variance() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(scale=0.5, size=(60, 60, 2))
    cov, info = noise_covariance(z, np.zeros((60, 60), int))
    assert np.allclose(cov, 0.25 * np.eye(2), atol=0.03)
    assert info["noise_estimator"].startswith("robust covariance of second differences 3 pixel(s) apart")
    # too few triples for 3 pixels apart: 1 pixel apart
    _, info = noise_covariance(z[:6, :6], np.zeros((6, 6), int))
    assert "1 pixel(s) apart" in info["noise_estimator"]
    with pytest.raises(InputError, match=r"^too few pixels inside the regions \(0 triples\) to measure the noise of 2"):
        noise_covariance(z[:2, :2], np.zeros((2, 2), int))


def test_kam_is_the_mean_distance_to_the_neighbours_in_the_region() -> None:
    _, xx = np.mgrid[0:3, 0:5].astype(float)
    z = np.stack([xx, np.zeros_like(xx), np.zeros_like(xx)], -1)
    regions = np.zeros((3, 5), int)
    kam = neighbour_kam(z, regions)
    # every pixel: its row neighbours 1 away, its column neighbours 0 away
    assert kam[1, 2] == pytest.approx(0.5) and kam[0, 0] == pytest.approx(0.5) and kam[1, 0] == pytest.approx(1 / 3)
    regions[:, 2] = 1  # column 2 alone: only its column neighbours, at 0
    regions[1, 4] = -1
    kam = neighbour_kam(z, regions)
    assert (kam[:, 2] == 0).all() and kam[0, 1] == pytest.approx(0.5) and np.isnan(kam[1, 4])


def test_the_gradient_spread_of_a_plane_less_its_noise_part() -> None:
    _, xx = np.mgrid[0:7, 0:7].astype(float)
    g = 2.0
    out = gradient_spread((g * xx)[..., None], np.zeros((7, 7), int), radius=1)
    # a full 3 × 3 window: Σdx² = Σdy² = 6, so the noise part of |ĝ|² is 1/6 + 1/6
    assert out[3, 3] == pytest.approx(1 + g ** 2 - 1 / 3)
    # a corner's window of 4 pixels: Σdx² = Σdy² = 2 about the pixel, less the means: 1/(4·¼) each
    assert out[0, 0] == pytest.approx(1 + g ** 2 - 2.0)
    regions = np.zeros((7, 7), int)
    regions[:, 3] = -1
    regions[0, 0] = -1
    out = gradient_spread((g * xx)[..., None], regions, radius=1)
    assert np.isnan(out[:, 3]).all() and np.isnan(out[0, 0])


def test_domain_spreads_on_the_interior_or_all_pixels_of_a_small_region() -> None:
    z = np.zeros((12, 12, 1))
    z[::2, :, 0] = 2.0  # rows alternate 2, 0: mean about 1 (the interior's rows nearly even), squared distances 1
    regions = np.zeros((12, 12), int)
    regions[:2, :2] = 1  # 4 pixels, none inside: all its pixels
    z[:2, :2, 0] = [[0.0, 4.0], [0.0, 4.0]]
    spreads, info = domain_spreads(z, regions)
    assert spreads.tolist() == [pytest.approx(1.0, abs=1e-3), pytest.approx(4.0)]
    assert info["regions_on_all_pixels"] == 1 and f"fewer than {MIN_INTERIOR}" in info["domain_pixels"]
    assert domain_spreads(z, regions, squared=False)[0].tolist() == [pytest.approx(1.0, abs=1e-3), pytest.approx(2.0)]
    assert domain_spreads(z, regions, median=True)[0][1] == pytest.approx(4.0)
    # each distance times its pixel's precision
    assert domain_spreads(z, regions, precision=np.full((12, 12), 3.0))[0][1] == pytest.approx(12.0)


def test_each_regions_noise_is_read_from_its_own_second_differences() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(scale=0.1, size=(40, 40, 3))
    v[:, 20:] *= 3  # the right region is three times as noisy
    regions = (np.arange(40)[None] >= 20).repeat(40, 0).astype(int)
    noise = region_noise(v, regions)
    assert noise[0] == pytest.approx(0.01, rel=0.2) and noise[1] == pytest.approx(0.09, rel=0.2)
    assert np.isnan(region_noise(v[:4, :4], np.zeros((4, 4), int))).all()  # too few triples
    assert CHI2_3_MEDIAN == pytest.approx(2.366, abs=1e-3)


def test_spreads_of_noise_alone_are_one_and_recrystallised() -> None:
    rng = np.random.default_rng(2)
    s = feature_spreads(rng.normal(size=(30, 30, 3)), np.zeros((30, 30), int))
    assert isinstance(s, Spread) and s.region_domain[0] == pytest.approx(1.0, abs=0.2)
    assert s.recrystallised.all() and s.recrystallised_fraction == 1.0 and s.info["regions_measured"] == 1
    regions = np.zeros((30, 30), int)
    regions[:, :5] = -1  # outside: NaN, not recrystallised
    s = feature_spreads(rng.normal(size=(30, 30)), regions)
    assert np.isnan(s.kernel[:, :5]).all() and not s.recrystallised[:, :5].any()
    with pytest.raises(InputError, match="^no pixel of the regions has features"):
        feature_spreads(np.full((5, 5, 2), np.nan), np.zeros((5, 5), int))
    with pytest.raises(InputError, match="^no pixel of the regions has an orientation"):
        orientation_spreads(np.zeros((5, 5, 3)), np.full((5, 5), -1))


def test_gos_is_the_mean_misorientation_from_the_mean() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(scale=0.05, size=(20, 20, 3))
    regions = (np.arange(20)[None] >= 10).repeat(20, 0).astype(int)
    s = orientation_spreads(v, regions)
    for r in (0, 1):
        assert s.region_domain[r] == pytest.approx(np.linalg.norm(v[regions == r], axis=-1).mean())
    assert np.allclose(s.kernel, neighbour_kam(v, regions), equal_nan=True)
