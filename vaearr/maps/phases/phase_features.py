"""Features of a region's mean pattern that say which phase it is and not how it is turned (for ``vaearr phases``).

A region (a grain or sub-grain of a segmentation) has one orientation, so its mean pattern is that
orientation's pattern with the noise averaged away. PyEBSDIndex's band detection (its Radon
transform, :meth:`BandDetect.find_bands`) finds its bands, and the projection centre turns them
into plane normals (:meth:`Radon.radon2pole`). What stays the same from grain to grain of one
phase, whatever the orientation:

- the **angles between its planes**: every triangle of three of the ``N_BANDS`` strongest bands
  has three interplanar angles of the crystal (FCC's strongest bands meet at 35°, 55°, 70°; BCC's
  at 30°, 45°, 60°; HCP's at 28°, 52°, 61°…). Two grains of one phase show different bands but of
  the same families, so their triangles repeat; two structures share few
  (:func:`triplet_distance`);
- the **sharpness of its bands**: the share of the standardised pattern's power at fine detail
  (:func:`spectral_sharpness`), lowered by blur (defects, strain, a finer microstructure) whatever
  the bands. (Until 2026-11-27: the Radon peak height of the strongest bands, :func:`sharpness`,
  which moves with the orientation about as much as with a 1.5 px blur; see there.)

Both on each region's mean pattern with the backgrounds removed as ``vaearr index`` removes them
(the map's mean pattern subtracted, then a Gaussian blur), scaled to unit variance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.spatial import cKDTree

from vaearr.crystals import BUILTIN, crystal_phase
from vaearr.crystals.master_patterns import quiet
from vaearr.errors import require
from vaearr.maps.segmentation.merging import group_sums
from vaearr.progress import bar
from vaearr.numba_cache import guard_gufunc_cache

#: Bands whose triangles are compared (the strongest by Radon peak height).
N_BANDS = 12
#: Two triangles match when each of their angles agrees within this many degrees.
TRIPLET_TOL = 1.5
#: Bands PyEBSDIndex looks for in each pattern.
DETECT_BANDS = 16


@dataclass
class Geometry:
    """The detector the band normals are computed for: PC (Bruker), sample and detector tilt (degrees)."""

    pc: tuple[float, float, float]
    sample_tilt: float = 70.0
    detector_tilt: float = 0.0


def prepare(means: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Mean patterns (n, py, px) with the static background subtracted and a Gaussian blur (kikuchipy's dynamic
    background) removed, each scaled to zero mean and unit variance."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    with quiet():
        s = kp.signals.EBSD(np.asarray(means, np.float32).copy())
        s.remove_static_background(operation="subtract", static_bg=np.asarray(background, np.float32),
                                   show_progressbar=False)
        s.remove_dynamic_background(operation="subtract", show_progressbar=False)
    p = np.asarray(s.data, np.float64)
    p -= p.mean(axis=(1, 2), keepdims=True)
    return p / np.maximum(p.std(axis=(1, 2), keepdims=True), 1e-12)


def detect_bands(patterns: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """PyEBSDIndex's band data ``(n, DETECT_BANDS)`` of prepared patterns, and the bands' plane normals ``(n, bands, 3)``."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    cm = require("orix.crystal_map", "ebsd")
    det = kp.detectors.EBSDDetector(shape=patterns.shape[1:], pc=geometry.pc, sample_tilt=geometry.sample_tilt,
                                    tilt=geometry.detector_tilt)
    with quiet():
        # the phase list only sets up the indexer; band detection and normals do not depend on it
        ix = det.get_indexer(cm.PhaseList(crystal_phase(BUILTIN["fcc"])), None, nBands=DETECT_BANDS, tSigma=2.0,
                             rSigma=2.0)
        bands = ix.bandDetectPlan.find_bands(np.asarray(patterns, np.float32))
        normals = ix.bandDetectPlan.radonPlan.radon2pole(bands, PC=ix.PC, vendor=ix.vendor)
    return bands, np.asarray(normals, np.float64)


def band_sets(bands: np.ndarray, normals: np.ndarray, n_bands: int = N_BANDS) -> list[np.ndarray]:
    """The unit plane normals of the ``n_bands`` strongest valid bands (highest Radon peak) of each pattern."""
    out = []
    for b, nv in zip(bands, normals):
        ok = b["valid"] > 0
        order = np.argsort(-np.where(ok, b["max"], -np.inf))[:n_bands]
        order = order[ok[order]]
        n = nv[order]
        out.append(n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12))
    return out


def triplets(normals: np.ndarray) -> np.ndarray:
    """The sorted angles (degrees) of every triangle of three band normals, ``(t, 3)``."""
    if len(normals) < 3:
        return np.zeros((0, 3))
    ang = np.degrees(np.arccos(np.clip(np.abs(normals @ normals.T), 0, 1)))
    a, b, c = np.array(list(combinations(range(len(normals)), 3))).T
    return np.sort(np.stack([ang[a, b], ang[a, c], ang[b, c]], axis=1), axis=1)


def triplet_distance(sets: Sequence[np.ndarray], tol: float = TRIPLET_TOL) -> np.ndarray:
    """``(n, n)`` distances between the band sets of ``n`` patterns: 1 − the share of each one's band triangles
    the other has too (every angle within ``tol`` degrees), averaged both ways; 1 where either has no triangle."""
    trip = [triplets(n) for n in sets]
    trees = [cKDTree(t) if len(t) else None for t in trip]
    n = len(sets)
    share = np.eye(n)
    for i in range(n):
        for j in range(n):
            if i != j and trees[j] is not None and len(trip[i]):
                d, _ = trees[j].query(trip[i], k=1, p=np.inf)
                share[i, j] = float(np.mean(d <= tol))
    return 1 - (share + share.T) / 2


def sharpness(bands: np.ndarray, n_bands: int = 3) -> np.ndarray:
    """The median Radon peak height of the ``n_bands`` strongest bands of each standardised pattern (NaN without a
    band). Blur lowers every peak, but which bands are strongest changes with the orientation and with them the
    height: on maps drawn with bands down to 0.5 Å one phase's regions split at ratios up to 1.31 and two phases
    blurred apart (1.5 px) at 1.44–1.56, too close for one threshold (``auto`` found three phases on three of twelve
    such maps). Kept for comparison; ``vaearr phases`` reads :func:`spectral_sharpness`."""
    out = np.full(len(bands), np.nan)
    for i, b in enumerate(bands):
        ok = b["valid"] > 0
        if ok.any():
            out[i] = float(np.median(np.sort(b["max"][ok])[::-1][:n_bands]))
    return out


#: The spatial frequency (cycles per pixel) above which :func:`spectral_sharpness` counts a pattern's power.
SHARPNESS_CUTOFF = 0.15


def spectral_sharpness(prepared: np.ndarray, halves: np.ndarray, half_counts: np.ndarray,
                       cutoff: float = SHARPNESS_CUTOFF) -> np.ndarray:
    """Pattern sharpness: the share of each prepared mean pattern's power (:func:`prepare`; the mean term left out)
    at spatial frequencies above ``cutoff`` cycles per pixel, the noise's share taken off.

    ``halves`` (2n, py, px): each region's two checkerboard halves prepared alike (:func:`region_means` with
    ``halves``), ``half_counts`` their pixel counts. Their difference is noise only; scaled by ``c₀c₁ / (c₀ + c₁)²``
    its power is that of the noise left in the region's mean, so a small region (noisier mean, more power at fine
    detail) reads as sharp as a large one of its phase. Blur of σ pixels keeps ``exp(−2π²σ²f²)`` of the power at
    frequency ``f``: at the cutoff a 1.5 px blur keeps 37 %, beyond it less.

    Chosen over the Radon peak height of the strongest bands (:func:`sharpness`) on the phases benchmark's tuning maps
    (seeds 0–5; ratio of the two parts' means of the best split): phases blurred apart 3.8–5.1 (Radon 1.44–1.56), one
    phase split within at most 1.70 (Radon 1.31), the 15 science maps (dynamical Ni) 1.02–1.10 (Radon 1.09–1.21).
    """
    p = np.asarray(prepared, np.float64)
    h = np.asarray(halves, np.float64)
    c0, c1 = np.asarray(half_counts[0::2], np.float64), np.asarray(half_counts[1::2], np.float64)
    py, px = p.shape[1:]
    f = np.sqrt(np.fft.fftfreq(py)[:, None] ** 2 + np.fft.fftfreq(px)[None, :] ** 2)
    power = np.abs(np.fft.fft2(p)) ** 2
    noise = np.abs(np.fft.fft2(h[0::2] - h[1::2])) ** 2 * (c0 * c1 / np.maximum(c0 + c1, 1) ** 2)[:, None, None]
    fine = ((power - noise) * (f > cutoff)).sum((1, 2))
    total = (power * (f > 0)).sum((1, 2))
    out = np.maximum(fine / np.maximum(total, 1e-12), 1e-6)
    out[(c0 == 0) & (c1 == 0)] = np.nan
    return out


def region_means(patterns, regions: np.ndarray, *, halves: bool = False, rows_at_once: int = 16,
                 progress: str | bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean pattern of every region ``0 … n−1`` (``regions`` (y, x), −1 left out) and its pixel count.

    ``patterns`` is (y, x, py, px), a numpy or dask array read ``rows_at_once`` rows at a time (a
    progress bar named ``progress`` counts them). With ``halves`` each region is split in two by a
    checkerboard, giving ``(2n, …)``: half 0 of region r at 2r, half 1 at 2r + 1.
    """
    ny, nx = regions.shape
    n = int(regions.max()) + 1 if (regions >= 0).any() else 0
    labels = regions.astype(np.int64)
    if halves:
        parity = (np.add.outer(np.arange(ny), np.arange(nx)) % 2).astype(np.int64)
        labels = np.where(labels >= 0, 2 * labels + parity, -1)
        n *= 2
    shape = tuple(int(v) for v in patterns.shape[2:])
    total = np.zeros((n, int(np.prod(shape))))
    count = np.bincount(labels[labels >= 0], minlength=n).astype(np.float64)
    starts = range(0, ny, rows_at_once)
    for y0 in (bar(starts, desc=progress if isinstance(progress, str) else "region means", unit="block")
               if progress else starts):
        lab = labels[y0:y0 + rows_at_once].ravel()
        keep = lab >= 0
        if not keep.any():
            continue
        block = np.asarray(patterns[y0:y0 + rows_at_once], np.float64).reshape(lab.size, -1)
        total += group_sums(lab[keep], block[keep], n)
    return (total / np.maximum(count, 1)[:, None]).reshape(n, *shape), count
