"""A second family of simulated Ni maps, built differently from :mod:`benchmarks.data.subgrains`, for choosing and checking settings.

Settings chosen on one family of maps must hold on another; this family differs from
:func:`benchmarks.data.science_map` wherever users' maps differ from each other:

* **sub-grains as patches**: each grain is cut by a fine Voronoi tessellation (about
  ``cells_per_grain`` cells a grain, seeds uniform, not spread) and every cell is dealt out to one
  of the grain's two orientations ``subgrain_angle`` apart, so a sub-grain is several patches of
  1 to a few hundred pixels, not one half of a straight cut;
* **another detector**: projection centre :data:`PATCHWORK_PC` (Bruker), 60 or 80 px patterns, a
  static background of its own (an off-centre vignetting with a tilt, not kikuchipy's scan);
* **another contrast model**: intensity = counts × gain × background × (0.35 + 0.65 × the
  pattern scaled to 0–1), Poisson, kept as uint16 counts (the first family: background × (1 +
  0.15 × the standardised pattern), grey levels in uint8);
* **per-pixel gain** 0.8–1.2 (beam current, surface), no slow drift;
* **boundary mixing**: a pixel whose right or lower neighbour lies in another sub-grain or grain
  records a 50/50 mix of its own pattern and that neighbour's (the first family: a mix that fades
  over 0.7 px);
* **holes**: two pits and a scratch inside grains record almost no pattern (contrast × 0.15,
  intensity × 0.7), so a band-contrast ROI has holes inside grains; ``bandcontrast`` is computed
  from the patterns (:func:`vaearr.data.simulated.band_contrast`);
* the scan step is 0.5 µm.

``deformed`` maps (both families have them, :mod:`benchmarks.data.deformation`): 12 grains, half bent
at 0.2–1.5°/µm about a random axis along a random direction, half recrystallised, every pixel with
a 0.05° per-axis spread; truth KAM, GOS and the recrystallised grains.

Simulated, not measured: the physics is kikuchipy's dynamical Ni master pattern at 20 kV.
"""

from __future__ import annotations

import math
import os
import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from benchmarks.data.deformation import (
    DEFORMED_SPREAD,
    bent_orientations,
    draw_bending,
    mean_orientations,
    spread_rotations,
    truth_gos,
    truth_kam,
)
from benchmarks.data.rotations import axis_angle_quat, misorientation_deg, quat_multiply
from vaearr.data.simulated import (
    DEMO_ENERGY,
    band_contrast,
    grain_seeds,
    random_quaternions,
    spawn_rngs,
    voronoi,
)
from benchmarks.data.subgrains import map_dataset, one_sided_boundaries, write_simulated
from vaearr.errors import require
from vaearr.numba_cache import guard_gufunc_cache

#: The maps :func:`patchwork_map` builds.
PATCHWORK_KINDS = ("subgrains", "deformed")
#: Projection centre (Bruker convention) and sample tilt of this family's detector.
PATCHWORK_PC = (0.51, 0.31, 0.62)
PATCHWORK_SAMPLE_TILT = 70.0
#: Scan step (µm).
PATCHWORK_STEP = 0.5
#: Per-pixel spread of the sub-grain maps: the root-mean-square angle (degrees) of each pixel's extra rotation.
PATCHWORK_SPREAD = 0.2
#: Band-pass relative std that scores 255 in ``bandcontrast`` (interior pixels near 200 at 60 counts, as vendors scale it).
PATCHWORK_BC_FULL_SCALE = 0.09
#: Grains of the sub-grain and the deformed maps.
N_GRAINS = {"subgrains": 10, "deformed": 12}


@lru_cache(maxsize=1)
def _master_pattern():
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    return kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")


def kikuchi_scaled(quats: np.ndarray, pattern_shape: tuple[int, int], pc: tuple[float, float, float],
                   sample_tilt: float = PATCHWORK_SAMPLE_TILT) -> np.ndarray:
    """Dynamical Ni patterns ``(n, py, px)`` for orientations ``(n, 4)``, each scaled to 0–1 (min to max)."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    from orix.quaternion import Rotation

    detector = kp.detectors.EBSDDetector(shape=pattern_shape, pc=pc, sample_tilt=sample_tilt, tilt=0.0)
    out = np.empty((len(quats), *pattern_shape), np.float32)
    for s in range(0, len(quats), 2048):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = _master_pattern().get_patterns(Rotation(np.asarray(quats[s:s + 2048])), detector,
                                                 energy=DEMO_ENERGY, compute=True, show_progressbar=False)
        k = np.asarray(sim.data, np.float32).reshape(-1, *pattern_shape)
        lo, hi = k.min(axis=(1, 2), keepdims=True), k.max(axis=(1, 2), keepdims=True)
        out[s:s + 2048] = (k - lo) / np.maximum(hi - lo, 1e-12)
    return out


def vignetting(pattern_shape: tuple[int, int]) -> np.ndarray:
    """This family's static background: an off-centre Gaussian vignetting on a tilted floor, mean 1."""
    py, px = pattern_shape
    yy, xx = np.mgrid[0:py, 0:px]
    u, v = yy / (py - 1), xx / (px - 1)
    bg = 0.55 + 0.45 * np.exp(-((u - 0.42) ** 2 + (v - 0.56) ** 2) / (2 * 0.33**2)) + 0.12 * (v - 0.5)
    return (bg / bg.mean()).astype(np.float32)


def _patches(grain: np.ndarray, cells: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Connected patches of (grain, cell) and the side (0/1) each is dealt to; both sides in every grain."""
    key = grain.astype(np.int64) * (int(cells.max()) + 1) + cells
    patch = np.zeros(grain.shape, np.int64)
    n = 0
    for k in np.unique(key):
        lab, m = ndi.label(key == k)
        patch[lab > 0] = lab[lab > 0] + n - 1
        n += m
    side_of = rng.integers(0, 2, n)
    for g in np.unique(grain):
        ids = np.unique(patch[grain == g])
        if np.unique(side_of[ids]).size == 1 and ids.size > 1:  # a grain with one orientation has no sub-grain
            sizes = np.bincount(patch[grain == g], minlength=n)[ids]
            side_of[ids[np.argmax(sizes)]] ^= 1
    return patch, side_of[patch].astype(np.int32)


def _holes(grain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two round pits (radius 1.5–2.5 px) and a scratch (1 px wide, 8–14 px long) away from grain boundaries."""
    ny, nx = grain.shape
    gb = one_sided_boundaries(grain)
    rim = ~np.pad(np.ones((max(ny - 4, 0), max(nx - 4, 0)), bool), 2)[:ny, :nx]
    far = ~ndi.binary_dilation(gb | rim, iterations=2)
    if not far.any():  # a map too small for holes away from every boundary: away from the rim at least
        far = ~rim if (~rim).any() else np.ones((ny, nx), bool)
    yy, xx = np.mgrid[0:ny, 0:nx]
    hole = np.zeros((ny, nx), bool)
    spots = np.argwhere(far)
    for _ in range(2):
        cy, cx = spots[rng.integers(len(spots))]
        hole |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.uniform(1.5, 2.5) ** 2
    cy, cx = spots[rng.integers(len(spots))]
    theta, half = rng.uniform(0, np.pi), rng.uniform(4, 7)
    t = np.linspace(-half, half, 64)
    ys, xs = np.rint(cy + t * np.sin(theta)).astype(int), np.rint(cx + t * np.cos(theta)).astype(int)
    ok = (ys >= 0) & (ys < ny) & (xs >= 0) & (xs < nx)
    hole[ys[ok], xs[ok]] = True
    return hole


def _mixed_with(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel whose right (else lower) neighbour has another label: that neighbour's flat index; −1 elsewhere."""
    ny, nx = labels.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    other = np.full((ny, nx), -1)
    down = np.zeros((ny, nx), bool)
    down[:-1] = labels[:-1] != labels[1:]
    other[down] = idx[1:][down[:-1]]
    right = np.zeros((ny, nx), bool)
    right[:, :-1] = labels[:, :-1] != labels[:, 1:]
    other[right] = idx[:, 1:][right[:, :-1]]
    return other, other >= 0


def patchwork_map(
    kind: str = "subgrains",
    *,
    seed: int = 0,
    shape: tuple[int, int] = (48, 64),
    pattern_shape: tuple[int, int] = (60, 60),
    counts: float = 60.0,
    spread: float = PATCHWORK_SPREAD,
    subgrain_angle: float = 0.5,
    cells_per_grain: float = 6.0,
    pc: tuple[float, float, float] = PATCHWORK_PC,
) -> xr.Dataset:
    """One map of the second family, with its truth, in memory (see the module docstring).

    Parameters
    ----------
    kind
        ``subgrains`` (patchy sub-grains ``subgrain_angle`` apart) or ``deformed`` (bent and
        recrystallised grains).
    seed
        The scene (grains, cells, orientations, holes, bending) and the noise are functions of
        the seed; the physics below changes nothing of the scene.
    shape, pattern_shape
        Scan (Y, X) and pattern (py, px) shapes.
    counts
        Mean photon counts per detector pixel (Poisson).
    spread
        ``subgrains``: the rms angle (degrees) of each pixel's extra rotation (``deformed``:
        :data:`~benchmarks.data.deformation.DEFORMED_SPREAD` per axis).
    subgrain_angle, cells_per_grain
        Misorientation (degrees) of a grain's two orientations; Voronoi cells per grain.
    pc
        Projection centre (Bruker).

    Returns
    -------
    xarray.Dataset
        ``patterns (y, x, py, px)`` uint16 counts, ``bandcontrast (y, x)``; truth: ``grain_id``,
        ``subgrain_id`` (2·grain + side; the grain in ``deformed``), ``patch_id``,
        ``grain_boundaries_true``, ``low_angle_boundaries_true``, ``hole_true``,
        ``orientation_true (y, x, quaternion)``, ``misorientation_true``; ``deformed`` adds
        ``kam_true``, ``gos_true`` (the grain's GOS at each of its pixels), ``recrystallised_true``,
        ``bend_rate_true`` (°/µm).
    """
    if kind not in PATCHWORK_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PATCHWORK_KINDS)}, got {kind!r}")
    if not counts > 0:
        raise ValueError(f"counts must be > 0, got {counts}")
    ny, nx = (int(v) for v in shape)
    pshape = tuple(int(v) for v in pattern_shape)
    n = N_GRAINS[kind]
    r_grain, r_rot, r_cells, r_sides, r_spread, r_gain, r_holes, r_noise, r_bend = spawn_rngs(seed + 104729, 9)
    grain, _, _ = voronoi((ny, nx), grain_seeds((ny, nx), n, r_grain))
    q_grain = random_quaternions(n, r_rot)
    directions = r_spread.normal(0, 1, size=(ny, nx, 3))
    hole = _holes(grain, r_holes)
    truth: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    if kind == "subgrains":
        n_cells = max(2, int(round(cells_per_grain * n)))
        cell_seeds = np.stack([r_cells.uniform(-0.5, ny - 0.5, n_cells), r_cells.uniform(-0.5, nx - 0.5, n_cells)], 1)
        cells = cKDTree(cell_seeds).query(np.argwhere(np.ones((ny, nx), bool)).astype(float))[1].reshape(ny, nx)
        patch, side = _patches(grain, cells, r_sides)
        axes = r_sides.normal(size=(n, 3))
        half = math.radians(subgrain_angle / 2)
        q_sub = np.empty((2 * n, 4))
        q_sub[0::2] = quat_multiply(q_grain, axis_angle_quat(axes, np.full(n, +half)))
        q_sub[1::2] = quat_multiply(q_grain, axis_angle_quat(axes, np.full(n, -half)))
        sub = (2 * grain + side).astype(np.int32)
        q_ref = q_sub[sub]
        q_pix = spread_rotations(q_ref, directions, spread / math.sqrt(3))
        attrs.update(subgrain_angle=float(subgrain_angle), spread_rms_deg=float(spread),
                     cells_per_grain=float(cells_per_grain))
    else:
        bending = draw_bending(n, r_bend)
        q_ref = bent_orientations(q_grain, grain, bending, PATCHWORK_STEP)
        q_pix = spread_rotations(q_ref, directions, DEFORMED_SPREAD)
        sub, patch = grain.astype(np.int32), grain.astype(np.int64)
        gos = truth_gos(q_pix, grain)
        truth.update(kam_true=truth_kam(q_pix, grain).astype(np.float32), gos_true=gos[grain].astype(np.float32),
                     recrystallised_true=~bending.bent[grain], bend_rate_true=bending.rate[grain].astype(np.float32))
        q_ref = mean_orientations(q_pix, grain)[grain]
        attrs.update(spread_per_axis_deg=DEFORMED_SPREAD, bend_rates=bending.rate.tolist())
    k = kikuchi_scaled(q_pix.reshape(-1, 4), pshape, pc)
    other, mixed = _mixed_with(sub)
    k[mixed.ravel()] = 0.5 * k[mixed.ravel()] + 0.5 * k[other[mixed]]
    gain = r_gain.uniform(0.8, 1.2, (ny, nx)).astype(np.float32)
    contrast = np.where(hole, 0.15, 1.0).astype(np.float32).ravel()[:, None, None]
    level = (gain * np.where(hole, 0.7, 1.0)).ravel()[:, None, None]
    bg = vignetting(pshape)
    mean_signal = 0.35 + 0.65 * k.reshape(len(k), -1).mean(1)[:, None, None]
    lam = counts * level * bg * (mean_signal + contrast * (0.35 + 0.65 * k - mean_signal))
    patterns = np.minimum(r_noise.poisson(lam), 65535).astype(np.uint16).reshape(ny, nx, *pshape)
    del k, lam
    extra = {"bandcontrast": band_contrast(patterns, full_scale=PATCHWORK_BC_FULL_SCALE).astype(np.float32),
             "patch_id": patch.astype(np.int32), "hole_true": hole, **truth}
    return map_dataset(patterns, grain, sub, q_pix, misorientation_deg(q_pix, q_ref), step=PATCHWORK_STEP, extra=extra,
                       attrs={"family": "patchwork", "kind": kind, "seed": int(seed), "n_grains": n,
                              "counts": float(counts), "pc": list(pc), "sample_tilt": PATCHWORK_SAMPLE_TILT,
                              "noise": f"Poisson, {counts:g} counts per detector pixel on average, kept as counts "
                                       "(uint16)",
                              "note": "SIMULATED with benchmarks.data.patchwork_map from kikuchipy's Ni master pattern: "
                                      "not a measurement.", **attrs})


#: Truth variables :func:`patchwork_map` returns beside ``patterns`` and ``bandcontrast``.
PATCHWORK_TRUTH = ("grain_id", "subgrain_id", "patch_id", "grain_boundaries_true", "low_angle_boundaries_true",
                   "hole_true", "orientation_true", "misorientation_true", "kam_true", "gos_true",
                   "recrystallised_true", "bend_rate_true")


def write_patchwork_map(path: str | os.PathLike, kind: str = "subgrains", *, seed: int = 0,
                        overwrite: bool = False, **physics: Any) -> xr.Dataset:
    """Simulate a map of this family (:func:`patchwork_map`) and write it as an ``ebsd-map`` store (no ROI:
    ``vaearr roi --otsu`` makes one from ``bandcontrast``, as for a measured map)."""
    ds = patchwork_map(kind, seed=seed, **physics)
    keep = ["patterns", "bandcontrast", *(v for v in PATCHWORK_TRUTH if v in ds)]
    config = {"family": "patchwork", "kind": kind, "seed": int(seed),
              **{k: (list(v) if isinstance(v, tuple) else v) for k, v in physics.items()}}
    return write_simulated(path, ds, keep, source=f"patchwork_map:{kind}", config=config,
                           patterns_source=f"benchmarks.data.patchwork_map({kind!r}, seed={seed})", overwrite=overwrite)
