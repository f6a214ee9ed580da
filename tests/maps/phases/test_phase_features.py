"""Features of a region's mean pattern for ``vaearr phases``: the sharpness read from the pattern's power at fine detail,
the noise left in a region's mean taken off (so a small region reads as sharp as a large one of its phase)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from vaearr.maps.phases.phase_features import region_means, spectral_sharpness


def _bands(rng: np.random.Generator, size: int = 60, n: int = 8) -> np.ndarray:
    """A pattern of ``n`` straight bands 2 px wide at random places and angles, standardised."""
    yy, xx = np.mgrid[:size, :size].astype(float)
    p = np.zeros((size, size))
    for _ in range(n):
        a, c = rng.uniform(0, np.pi), rng.uniform(-size / 3, size / 3)
        d = (xx - size / 2) * np.cos(a) + (yy - size / 2) * np.sin(a) - c
        p += np.exp(-0.5 * (d / 1.0) ** 2)
    return (p - p.mean()) / p.std()


def _standardised(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    return x / x.std(axis=(-2, -1), keepdims=True)


def test_blur_lowers_it_and_the_noise_of_a_small_region_does_not_raise_it() -> None:
    rng = np.random.default_rng(0)
    sharp = _bands(rng)
    blurred = _standardised(ndi.gaussian_filter(sharp, 1.5))
    # four regions on one map: sharp (large), sharp (small), blurred (large), blurred (small); noise σ 1.5 per pixel
    regions = np.full((20, 20), -1)
    regions[:, :10], regions[:4, 10:14], regions[4:, 10:] = 0, 1, 2
    regions[:4, 14:] = 3
    truth = [sharp, sharp, blurred, blurred]
    patterns = np.stack([[truth[r] if r >= 0 else np.zeros_like(sharp) for r in row] for row in regions])
    patterns = patterns + rng.normal(0, 1.5, patterns.shape)
    means, counts = region_means(patterns, regions)
    halves, half_counts = region_means(patterns, regions, halves=True)
    s = spectral_sharpness(_standardised(means), _standardised(halves), half_counts)
    assert counts.tolist() == [200, 16, 160, 24]
    assert min(s[0], s[1]) > 2.5 * max(s[2], s[3])  # SHARPNESS_SPLIT: the blurred phase is told apart
    assert abs(np.log(s[1] / s[0])) < np.log(1.15)  # 16 noisy pixels read as sharp as 200 (within 15 %)
    assert abs(np.log(s[3] / s[2])) < np.log(1.15)
    # without the noise taken off, the small blurred region reads far sharper than the large one
    zero = np.zeros_like(halves)
    raw = spectral_sharpness(_standardised(means), zero, half_counts)
    assert raw[3] > 1.6 * raw[2]
    noiseless = spectral_sharpness(_standardised(np.stack(truth)), zero, np.full(8, 10))
    assert np.allclose(s[[0, 2]], noiseless[[0, 2]], rtol=0.2)
