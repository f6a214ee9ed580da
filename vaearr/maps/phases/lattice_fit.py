"""The lattice of each region, fitted to its mean pattern: ``vaearr phases --method lattice``.

Phases of one crystal structure that differ only in their lattice parameter (an FCC matrix and an
FCC precipitate, two cubic phases of one space group) index as one phase: the angles between the
bands, all Hough indexing sees, do not depend on the lattice parameter. The widths of the bands do
(a band of planes ``d`` apart is ``2θ_B ≈ λ / d`` wide), but measured one band at a time they move
more with the band's family and place on the screen than with a 10 % change of lattice
(BENCHMARKS "Phases from the data": Radon peak widths, PyEBSDIndex's band widths and the patterns'
spectra all gave phase ARI ≈ 0). A whole simulated pattern puts every band at its width at once:

1. the store's indexing (``vaearr index``, e.g. ``--phase fcc --method hough``: no lattice needs to
   be known) gives each pixel an orientation and the structure (space group, atoms, a lattice);
2. each region's mean pattern (noise averaged away) is divided by the map's smoothed mean pattern;
3. for each of :data:`SCALES` (the structure's lattice times 0.80 … 1.25, 1.5 % apart) a kinematical
   master pattern (:func:`~vaearr.crystals.kinematical_master_pattern`, cached) is projected at the
   orientations of :data:`CANDIDATES` pixels deepest inside the region; the normalised
   cross-correlation (NCC) with the region's pattern is a curve over the scales. Every scale draws
   the same bands, those the structure shows down to :data:`~vaearr.crystals.master_patterns.MIN_DSPACING`
   at its own lattice (the floor scales with the cell), so the curve reads the bands' widths and not
   which bands a cutoff lets in. A fixed floor (each scale drawing its crystal's bands down to one
   d-spacing, until 2026-11-27) made curves that step where a band family comes in; on maps
   drawn with the very floor the fit uses, the step sat at the true lattice and the lattice family read
   phase ARI 0.93–0.97, but on maps drawn with bands down to 0.5 Å (off the fit's model) every split was
   refused and a split would have read ARI 0.12–1.00 (BENCHMARKS "Phases from the data");
4. the candidate whose curve peaks highest (its orientation is the region's) gives the region's
   scale: the peak, refined by a parabola through it and its neighbours.

The scale read off a map is relative: a projection centre's distance (PC z) off by some per cent
scales every band width, and so every region's fitted lattice, by about as much. What is compared
between regions holds, the absolute lattice parameter only as well as the PC is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from vaearr.crystals.master_patterns import MIN_DSPACING, kinematical_master_pattern, quiet
from vaearr.crystals.structures import element_symbol, make_phase
from vaearr.errors import require
from vaearr.numba_cache import guard_gufunc_cache
from vaearr.progress import bar

#: Lattice scales tried, relative to the indexed structure's lattice: 0.80 … 1.25, 1.5 % apart (log-spaced).
SCALES = np.round(np.exp(np.arange(np.log(0.80), np.log(1.25) + 1e-9, np.log(1.015))), 6)
#: Pixels (deepest inside the region first) whose orientations each region's fit tries: each is a Hough orientation
#: off by its own error, and the best-fitting one gives the region's scale. 8, chosen on the tuning maps drawn off the
#: fit's model (lattice seeds 0–5: worst phase ARI 0.62 with 3, 0.78 with 8 and 16; one-phase maps refused with each).
CANDIDATES = 8
#: The smoothing (Gaussian σ, as a fraction of the pattern width) of the map's mean pattern the regions' means are divided by.
BACKGROUND_SIGMA = 1 / 8


@dataclass
class LatticeFit:
    """Per region: the fitted scale (NaN: no orientation to fit at), its peak NCC, the pixel whose orientation gave it,
    and its NCC curve over ``scales`` (NaN rows: no fit)."""

    scale: np.ndarray
    ncc: np.ndarray
    pixel: np.ndarray
    curves: np.ndarray
    scales: np.ndarray


def scaled_phase(record: dict[str, Any], scale: float):
    """The orix phase of a phase record with its lattice lengths (in Å) times ``scale``."""
    nm = str(record.get("lattice_units") or "").startswith("nm")
    lat = [float(v) * (10.0 if nm and i < 3 else 1.0) * (scale if i < 3 else 1.0)
           for i, v in enumerate(record["lattice"])]
    atoms = [(element_symbol(int(a["element"])) if str(a["element"]).isdigit() else a["element"], a["xyz"],
              a.get("occupancy", 1.0)) for a in record.get("atoms") or []]  # EMsoft files give atomic numbers
    return make_phase(f"{record['name']}x{scale:.4f}", record.get("space_group"), lat, atoms,
                      point_group=record.get("point_group"))


def candidate_pixels(regions: np.ndarray, usable: np.ndarray, n: int, k: int = CANDIDATES) -> list[np.ndarray]:
    """For each region ``0 … n−1``: up to ``k`` flat pixel indices among ``usable`` ones, deepest inside the region
    first (the distance to its edge; ties in raster order)."""
    depth = np.zeros(regions.shape)
    for r, sl in enumerate(ndi.find_objects(regions + 1, max_label=n)):
        if sl is None:
            continue
        inside = np.pad(regions[sl] == r, 1)
        depth[sl] = np.where(regions[sl] == r, ndi.distance_transform_edt(inside)[1:-1, 1:-1], depth[sl])
    flat, d, ok = regions.ravel(), depth.ravel(), usable.ravel()
    order = np.lexsort((np.arange(flat.size), -d))
    out: list[list[int]] = [[] for _ in range(n)]
    for i in order:
        r = flat[i]
        if r >= 0 and ok[i] and len(out[r]) < k:
            out[r].append(int(i))
    return [np.asarray(c, np.int64) for c in out]


def divided_means(means: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Region means divided by the map's mean pattern smoothed (Gaussian σ = width × :data:`BACKGROUND_SIGMA`),
    each standardised."""
    bg = ndi.gaussian_filter(np.asarray(background, np.float64), BACKGROUND_SIGMA * background.shape[-1])
    p = np.asarray(means, np.float64) / np.maximum(bg, 1e-12)
    p -= p.mean(axis=(1, 2), keepdims=True)
    return p / np.maximum(p.std(axis=(1, 2), keepdims=True), 1e-12)


def peak(values: np.ndarray, grid: np.ndarray) -> float:
    """The grid value at the curve's highest point, refined (in log scale) by a parabola through it and its neighbours."""
    i = int(np.argmax(values))
    if not 0 < i < len(values) - 1:
        return float(grid[i])
    y0, y1, y2 = values[i - 1:i + 2]
    den = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / den if den < 0 else 0.0
    step = np.log(grid[i + 1]) - np.log(grid[i])
    return float(np.exp(np.log(grid[i]) + float(np.clip(shift, -0.5, 0.5)) * step))


def fit_scales(patterns: np.ndarray, quaternions: np.ndarray, candidates: Sequence[np.ndarray], record: dict[str, Any],
               detector: dict[str, Any], energy_kv: float, *, scales: np.ndarray = SCALES,
               progress: str | bool = False) -> LatticeFit:
    """Fit every region's lattice scale (see the module docstring).

    ``patterns`` (n, py, px): the regions' prepared means (:func:`divided_means`); ``quaternions`` (pixels, 4): the
    indexing's orientations, flat; ``candidates``: each region's pixels to try; ``detector``: the indexing's
    ``detector`` attr (``pc_bruker``, ``sample_tilt``, ``detector_tilt``).
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    rot = require("orix.quaternion", "ebsd")
    n, py, px = patterns.shape
    pix = np.concatenate(list(candidates)) if candidates else np.zeros(0, np.int64)
    owner = np.concatenate([np.full(len(c), r) for r, c in enumerate(candidates)]) if candidates else np.zeros(0, int)
    ncc = np.full((len(pix), len(scales)), np.nan)
    if len(pix):
        det = kp.detectors.EBSDDetector(shape=(py, px), pc=tuple(detector["pc_bruker"][:3]),
                                        sample_tilt=float(detector.get("sample_tilt", 70.0)),
                                        tilt=float(detector.get("detector_tilt", 0.0) or 0.0))
        rotations = rot.Rotation(np.asarray(quaternions[pix], np.float64))
        target = patterns[owner].reshape(len(pix), -1)
        steps = bar(scales, desc=progress if isinstance(progress, str) else "lattice", unit="lattice") if progress \
            else scales
        for j, s in enumerate(steps):
            # the same bands at every scale: the floor scales with the cell (module docstring, step 3)
            mp = kinematical_master_pattern(scaled_phase(record, float(s)), energy_kv, min_dspacing=MIN_DSPACING * float(s))
            with quiet():
                sim = np.asarray(mp.get_patterns(rotations, det, energy=energy_kv, compute=True,
                                                 show_progressbar=False).data, np.float64)
            sim = sim.reshape(len(pix), -1)
            sim -= sim.mean(1, keepdims=True)
            sim /= np.maximum(sim.std(1, keepdims=True), 1e-12)
            ncc[:, j] = (sim * target).mean(1)
    scale, best, pixel = np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1, np.int64)
    curves = np.full((n, len(scales)), np.nan)
    for r in range(n):
        rows = np.flatnonzero(owner == r)
        if rows.size == 0:
            continue
        top = rows[int(np.argmax(ncc[rows].max(1)))]
        scale[r], best[r], pixel[r] = peak(ncc[top], scales), float(ncc[top].max()), int(pix[top])
        curves[r] = ncc[top]
    return LatticeFit(scale, best, pixel, curves, np.asarray(scales))
