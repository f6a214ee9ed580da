"""The simulated map's scene: grains, pore, orientations, Kikuchi patterns and their noise, band contrast, element maps.

Everything needs the ``ebsd`` extra (kikuchipy, orix).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.transform import resize

from vaearr.errors import require
from vaearr.numba_cache import guard_gufunc_cache


#: Pattern centre (Bruker convention) and sample tilt of the detector the demo is simulated
#: for: those kikuchipy gives for its real Ni scan, so simulated and real patterns look alike.
DEMO_PC = (0.425, 0.213, 0.501)
DEMO_SAMPLE_TILT = 70.0
DEMO_ENERGY = 20

#: Band contrast of a pattern whose band-pass relative std equals this is 255 (see
#: :func:`band_contrast`); chosen so noisy interior patterns of the demo land near 200.
_BC_FULL_SCALE = 0.04

#: Decay length (scan pixels) of grain-boundary effects: pattern mixing, contrast loss, Cr.
_GB_WIDTH = 0.7


@dataclass
class Scene:
    """Everything about a map except the noisy patterns (cheap to hold for any size)."""

    grain: np.ndarray  # (Y, X) int32 nearest seed
    neighbour: np.ndarray  # (Y, X) int32 second-nearest seed: the grain across the boundary
    dist: np.ndarray  # (Y, X) float distance (px) to the boundary with `neighbour`
    badness: np.ndarray  # (Y, X) float 0..1, how much of the pore the beam sees
    bad: np.ndarray  # (Y, X) bool: the pore
    drift: np.ndarray  # (Y, X) float ~1: slow beam-current / brightness drift
    quats: np.ndarray  # (n_grains, 4) unit quaternions
    kikuchi: np.ndarray  # (n_grains, py, px) float32, standardised simulated patterns
    background: np.ndarray  # (py, px) float32 static background, grey levels


def spawn_rngs(seed: int, n: int) -> list[np.random.Generator]:
    # independent streams, so a change in how one part draws does not shift the others
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def grain_seeds(shape: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` grain seeds (y, x) in pixels, spread like nuclei (greedy Poisson-disk sampling).

    Seeds sit within 0.3 px of distinct pixel centres, so every grain owns at least that
    pixel, while boundaries do not run through pixel centres more often than chance.
    """
    ny, nx = shape
    if n > ny * nx:
        raise ValueError(f"n_grains={n} exceeds the {ny}×{nx} scan")
    order = rng.permutation(ny * nx)
    pts = np.stack(np.unravel_index(order, shape), axis=1).astype(float)
    r = 0.8 * math.sqrt(ny * nx / n)
    while True:
        chosen: list[int] = []
        for i in range(len(pts)):
            if not chosen or np.min(np.sum((pts[chosen] - pts[i]) ** 2, axis=1)) >= r * r:
                chosen.append(i)
                if len(chosen) == n:
                    return pts[chosen] + rng.uniform(-0.3, 0.3, size=(n, 2))
        r *= 0.8  # too crowded for this spacing: relax it


def voronoi(shape: tuple[int, int], seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest seed, second-nearest seed and distance to their bisector for every pixel."""

    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    p = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(float)
    k = min(2, len(seeds))
    d, i = cKDTree(seeds).query(p, k=k)
    if k == 1:
        return (i.reshape(shape).astype(np.int32),) * 2 + (np.full(shape, np.inf),)
    s1, s2 = seeds[i[:, 0]], seeds[i[:, 1]]
    # exact distance from p to the perpendicular bisector of s1 and s2
    dist = (d[:, 1] ** 2 - d[:, 0] ** 2) / (2 * np.linalg.norm(s1 - s2, axis=1))
    return (
        i[:, 0].reshape(shape).astype(np.int32),
        i[:, 1].reshape(shape).astype(np.int32),
        dist.reshape(shape),
    )


def _pore(shape: tuple[int, int], fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An irregular elongated blob (a pore or smeared scratch) covering ``fraction`` of the scan.

    Returns the hard mask and a soft ``badness`` (0..1) that fades over about a pixel at the
    rim, as a beam half on the pore edge sees a weaker pattern.
    """

    ny, nx = shape
    if fraction <= 0:
        return np.zeros(shape, bool), np.zeros(shape)
    cy = rng.uniform(0.3, 0.7) * (ny - 1)
    cx = rng.uniform(0.3, 0.7) * (nx - 1)
    angle = rng.uniform(0, np.pi)
    aspect = rng.uniform(1.3, 2.2)
    harm = [(k, rng.normal(0, 0.2 / k), rng.uniform(0, 2 * np.pi)) for k in range(2, 6)]
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    rho = np.hypot(u / aspect, v)
    theta = np.arctan2(v, u / aspect)
    wobble = np.clip(1 + sum(a * np.cos(k * theta + ph) for k, a, ph in harm), 0.3, None)
    q = rho / wobble  # blob = {q < r0}; pick r0 so the area is `fraction` of the scan
    r0 = np.quantile(q, fraction)
    mask = q <= r0
    badness = np.clip(ndi.gaussian_filter(mask.astype(float), 0.5) * 1.6 - 0.3, 0, 1)
    badness[mask] = np.maximum(badness[mask], 0.85)
    return mask, badness


def random_quaternions(n: int, rng: np.random.Generator) -> np.ndarray:
    # normalised 4-D Gaussians are uniform on SO(3); orix' own Rotation.random is not seedable
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    return q


@lru_cache(maxsize=1)
def _master_pattern():
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    return kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")


def _detector(pattern_shape: tuple[int, int]):
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    return kp.detectors.EBSDDetector(
        shape=pattern_shape, pc=DEMO_PC, sample_tilt=DEMO_SAMPLE_TILT, tilt=0.0
    )


def simulate_kikuchi(quats: np.ndarray, pattern_shape: tuple[int, int], progress: bool,
                     blur: float = 0.8) -> np.ndarray:
    """Dynamical Ni patterns for each orientation, blurred by ``blur`` px (Gaussian σ; 0: none) and standardised.

    The demo map keeps its 0.8 px; the science maps use none, as kikuchipy's real Ni scan's
    signal spectrum fits best (see ``benchmarks/data/subgrains.py`` in the repository).
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    require("orix", "ebsd")
    from orix.quaternion import Rotation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kikuchipy/hyperspy deprecation chatter
        sim = _master_pattern().get_patterns(
            Rotation(quats), _detector(pattern_shape), energy=DEMO_ENERGY, compute=True,
            show_progressbar=progress,
        )
    k = np.asarray(sim.data, dtype=np.float32).reshape(len(quats), *pattern_shape)
    if blur > 0:
        k = ndi.gaussian_filter(k, (0, blur, blur))
    k -= k.mean(axis=(1, 2), keepdims=True)
    k /= k.std(axis=(1, 2), keepdims=True)
    return k


def static_background(pattern_shape: tuple[int, int]) -> np.ndarray:
    """The real Ni scan's static background (vignetting of the detector), smoothed, in grey levels."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = np.asarray(kp.data.nickel_ebsd_small().static_background, dtype=np.float64)
    bg = resize(bg, pattern_shape, order=1, mode="edge", anti_aliasing=True)
    # the recorded background carries its own noise; ours adds fresh noise per pattern
    return ndi.gaussian_filter(bg, 1.5 * max(pattern_shape) / 60).astype(np.float32)


def simulate_scene(
    shape: tuple[int, int],
    pattern_shape: tuple[int, int],
    n_grains: int,
    seed: int,
    bad_fraction: float,
    progress: bool,
) -> Scene:
    r_seed, r_rot, r_pore, r_drift = spawn_rngs(seed, 4)
    grain, neighbour, dist = voronoi(shape, grain_seeds(shape, n_grains, r_seed))
    bad, badness = _pore(shape, bad_fraction, r_pore)
    drift = ndi.gaussian_filter(r_drift.normal(size=shape), max(shape) / 6, mode="reflect")
    drift = 1 + 0.03 * drift / (drift.std() or 1)
    quats = random_quaternions(n_grains, r_rot)
    return Scene(
        grain=grain, neighbour=neighbour, dist=dist, badness=badness, bad=bad, drift=drift,
        quats=quats, kikuchi=simulate_kikuchi(quats, pattern_shape, progress),
        background=static_background(pattern_shape),
    )


def noisy_patterns(
    sc: Scene, idx: np.ndarray, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Recorded patterns (len(idx), py, px) uint8 for flat pixel indices ``idx``.

    Per pixel: the grain's pattern mixed with the neighbour grain's near the boundary (the
    interaction volume straddles both), Kikuchi contrast lowered at boundaries and almost gone
    in the pore (darker too), times the static background and a slow brightness drift, then
    shot noise and read noise. Shot noise is drawn as a Gaussian of the Poisson variance: at
    ≥ 200 photons per pixel the two are indistinguishable, and it is 4× cheaper.
    """
    g1 = sc.grain.ravel()[idx]
    g2 = sc.neighbour.ravel()[idx]
    near = np.exp(-sc.dist.ravel()[idx] / _GB_WIDTH)  # 1 on the boundary, ~0 two pixels in
    b = sc.badness.ravel()[idx]
    mix = (0.5 * near).astype(np.float32)[:, None, None]
    k = (1 - mix) * sc.kikuchi[g1] + mix * sc.kikuchi[g2]
    contrast = (0.055 * (1 - 0.25 * near) * (1 - 0.93 * b)).astype(np.float32)
    level = (sc.drift.ravel()[idx] * (1 - 0.45 * b)).astype(np.float32)
    img = sc.background[None] * level[:, None, None] * (1 + contrast[:, None, None] * k)
    if noise > 0:
        photons = 20.0 / noise**2  # photons per grey level: sets the shot-noise level
        read = 1.0 * noise  # grey levels
        sd = np.sqrt(np.clip(img, 0, None) / photons + read**2)
        img += sd * rng.standard_normal(size=img.shape, dtype=np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def band_contrast(patterns: np.ndarray, background: np.ndarray | None = None, *,
                  full_scale: float = _BC_FULL_SCALE) -> np.ndarray:
    """A band-contrast-like pattern quality, 0–255 per pattern (higher = sharper Kikuchi bands).

    The relative contrast of a band-pass filtered pattern inside a central disk: divide by
    the static background (as vendor software does before its Hough transform), band-pass
    with a difference of Gaussians (σ = 1 px minus σ = 1/8 of the pattern) relative to the
    wide blur, and take the standard deviation. The part of that variance due to pixel noise
    is estimated from the pattern's own finest scale (pattern minus its σ = 1 blur) and
    subtracted, so, like a Hough-peak BC, the value hardly depends on the noise level: a
    featureless noisy pattern scores near 0. Scaled so ``_BC_FULL_SCALE`` → 255, clipped.

    Parameters
    ----------
    patterns
        (..., py, px) array of patterns.
    background
        (py, px) static background. Default: the mean of ``patterns`` (fine for a map, not
        for a handful of patterns).
    full_scale
        The band-pass relative std that scores 255.

    Returns
    -------
    np.ndarray
        float32 of shape ``patterns.shape[:-2]``.
    """

    p = np.asarray(patterns, dtype=np.float32)
    lead, (py, px) = p.shape[:-2], p.shape[-2:]
    p = p.reshape(-1, py, px)
    bg = p.mean(axis=0) if background is None else np.asarray(background, dtype=np.float32)
    p = p / np.maximum(bg, 1.0)
    s_fine, s_wide = 1.0, max(py, px) / 8
    fine = ndi.gaussian_filter(p, (0, s_fine, s_fine), mode="nearest")
    wide = np.maximum(ndi.gaussian_filter(p, (0, s_wide, s_wide), mode="nearest"), 1e-3)
    yy, xx = np.mgrid[0:py, 0:px]
    disk = ((yy - (py - 1) / 2) / py) ** 2 + ((xx - (px - 1) / 2) / px) ** 2 <= 0.4**2
    band = ((fine - wide) / wide)[:, disk]
    finest = ((p - fine) / wide)[:, disk]
    # white noise passes the band-pass and the finest-scale filter in a fixed ratio: the
    # ratio of the two kernels' L2 norms
    delta = np.zeros((2 * py + 1, 2 * px + 1))
    delta[py, px] = 1
    g_fine = ndi.gaussian_filter(delta, s_fine)
    ratio = np.linalg.norm(g_fine - ndi.gaussian_filter(delta, s_wide)) / np.linalg.norm(delta - g_fine)
    m = np.sqrt(np.clip(band.var(axis=1) - ratio**2 * finest.var(axis=1), 0, None))
    return np.clip(255 * m / full_scale, 0, 255).astype(np.float32).reshape(lead)


def grain_elements(sc: Scene, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Ni, Cr, Fe (wt%) per pixel, derived from the grains (not measured).

    Each grain gets its own composition of an Inconel-like alloy; on top: a slow Fe gradient
    along x and Cr along y (segregation across the sample), Cr enrichment at grain boundaries
    (as Cr carbides decorate them), and EDS counting noise, four times larger in the pore.
    """
    ny, nx = sc.grain.shape
    n = sc.quats.shape[0]
    cr_g = rng.uniform(14, 22, n)
    fe_g = rng.uniform(4, 10, n)
    yy, xx = np.mgrid[0:ny, 0:nx]
    gb = np.exp(-sc.dist / _GB_WIDTH)
    cr = cr_g[sc.grain] + 1.5 * (yy / max(ny - 1, 1) - 0.5) + 3.0 * gb
    fe = fe_g[sc.grain] + 2.0 * (xx / max(nx - 1, 1) - 0.5)
    ni = 100.0 - cr - fe
    sd = 0.6 * (1 + 3 * sc.badness)
    return {name: np.round(v + rng.normal(0, 1, v.shape) * sd, 3)
            for name, v in (("Ni", ni), ("Cr", cr), ("Fe", fe))}


def scan_coords(shape: tuple[int, int], step: float) -> tuple[np.ndarray, np.ndarray]:
    # rounded so that writing to CSV (shortest repr) and reading back gives the same float
    ny, nx = shape
    iy, ix = np.divmod(np.arange(ny * nx), nx)
    return np.round(ix * step, 9), np.round(iy * step, 9)
