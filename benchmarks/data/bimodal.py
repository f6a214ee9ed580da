"""A third family of simulated Ni maps with truth, built unlike :mod:`benchmarks.data.subgrains` and :mod:`benchmarks.data.patchwork`.

Settings chosen on two families must hold on a third, and this family differs from both of them:

* **another detector**: a non-square 4:3 screen, 90 rows × 120 columns by default (the other two:
  square 60 or 80 px), projection centre :data:`BIMODAL_PC` (Bruker), sample tilt 70°; a screen point
  spread (Gaussian blur of ``blur`` = 1 detector px on the recorded intensity; the first family: none,
  patchwork: none) and a static background of its own, :func:`screen_background` (a radial cos³-like
  falloff centred below and right of the PC on a gentle vertical gradient; not patchwork's vignetting,
  not kikuchipy's);
* **bimodal, elongated grains**: a few large grains elongated along x (aspect 2–3, as in a rolled
  sheet) and many small equiaxed ones between them (4 + 12 in ``subgrains``, 4 + 10 in ``deformed``),
  from a weighted anisotropic Voronoi (the others: equal-sized equiaxed Voronoi grains);
* **sub-grains of varying steps**: each large grain is cut into 2–4 compact sub-grains by a centroidal
  Voronoi of its own pixels (the first family: two halves of a straight cut; patchwork: a fine
  Voronoi dealt out as patches), each turned from its grain's orientation by its own small rotation
  (random axis) so that adjacent sub-grains differ by 0.4°–1.2° (the others: one angle for every
  grain); small grains have none; every pixel gets a 0.08° per-axis scatter;
* **another contrast and noise model**: intensity = ``counts`` × gain drift × background × (1 +
  ``contrast`` × the standardised pattern), blurred, then Poisson plus Gaussian read noise (σ = 2
  counts), kept as uint16 counts (the first family: Poisson grey levels in uint8; patchwork: Poisson
  only, on 0.35 + 0.65 × the pattern scaled to 0–1);
* **slow gain drift**: a smooth per-map gain field of ±10 % (the first family: ±3 % brightness drift;
  patchwork: an i.i.d. per-pixel gain 0.8–1.2);
* **boundary mixing that fades**: at every boundary, grain or sub-grain, on both sides, a pixel
  records its own pattern mixed with the pattern of the nearest pixel across the boundary by a weight
  0.5·exp(−d/0.8), d its distance to the boundary on the pixel grid (patchwork: 50/50 on one side;
  the first family: the neighbour grain's, fading from the exact Voronoi bisector); no holes (patchwork
  has pits and a scratch); ``bandcontrast`` from the patterns (:func:`vaearr.data.simulated.band_contrast`)
  divided by the static background, as vendor software does (the other two: by the map's mean pattern,
  which on this map carries the large grains' bands and would lower their contrast);
* **dark grain boundaries**: the Kikuchi contrast dips near grain boundaries (``boundary_dip`` = 0.5 at
  the boundary, fading over 0.8 px; not at sub-grain boundaries), as boundaries look in measured
  band-contrast maps (the first family: 0.25, and no band contrast; patchwork: none, its holes give
  the band contrast its low mode); without holes the dip is what gives it one, so that ``vaearr roi
  --otsu`` drops the pixels next to grain boundaries and keeps the grains (see :func:`bimodal_map`);
* the scan step is 0.75 µm (the others: 1 and 0.5 µm).

``deformed`` maps: 14 grains of the bimodal sizes, half bent at 0.2–1.5°/µm about a random axis
along a random direction, half recrystallised (:mod:`benchmarks.data.deformation`, at this family's
step), every pixel with a :data:`~benchmarks.data.deformation.DEFORMED_SPREAD` per-axis scatter;
truth KAM, GOS, the recrystallised grains and the bending rate, as patchwork's.

The scene (grains, sub-grains, orientations, bending, the gain drift and the per-pixel scatter
directions) depends on the seed alone; the physics options (counts, read noise, blur, contrast,
gain drift, spread, boundary dip, detector) change nothing of it. Simulated, not measured: kikuchipy's dynamical Ni master
pattern at 20 kV.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from benchmarks.data.deformation import (
    DEFORMED_SPREAD,
    bent_orientations,
    draw_bending,
    mean_orientations,
    spread_rotations,
    truth_gos,
    truth_kam,
)
from benchmarks.data.patchwork import kikuchi_scaled
from benchmarks.data.rotations import axis_angle_quat, misorientation_deg, quat_multiply
from benchmarks.data.subgrains import map_dataset, write_simulated
from vaearr.data.simulated import band_contrast, random_quaternions, spawn_rngs

#: The maps :func:`bimodal_map` builds.
BIMODAL_KINDS = ("subgrains", "deformed")
#: Projection centre (Bruker convention) and sample tilt of this family's 4:3 detector.
BIMODAL_PC = (0.47, 0.24, 0.71)
BIMODAL_SAMPLE_TILT = 70.0
#: Scan step (µm).
BIMODAL_STEP = 0.75
#: Per-axis σ (degrees) of every pixel's extra rotation in the sub-grain maps.
BIMODAL_SPREAD = 0.08
#: Band-pass relative std that scores 255 in ``bandcontrast`` (interior pixels near 150–220 at the default physics).
BIMODAL_BC_FULL_SCALE = 0.20
#: Large and small grains of the sub-grain and the deformed maps (the large ones are grains 0 … n_large − 1).
N_GRAINS = {"subgrains": (4, 12), "deformed": (4, 10)}
#: Misorientation (degrees) between adjacent sub-grains of a large grain: drawn within this range.
SUBGRAIN_STEPS = (0.4, 1.2)
#: Sub-grains per large grain (inclusive range); sub-grain ids are ``4·grain + cell``.
SUBGRAINS_PER_GRAIN = (2, 4)

_LARGE_FRACTION = 0.6  # of the map the large grains' ellipses cover, before the small grains cut into them
_ASPECT = (2.0, 3.0)
_MIX_LENGTH = 0.8  # px: the neighbour's share 0.5·exp(−d/0.8) at distance d from a boundary
_NOISE_BLOCK = 1024  # patterns per block of noise draws (fixed: the noise does not depend on memory)


def screen_background(pattern_shape: tuple[int, int]) -> np.ndarray:
    """This family's static background, mean 1: a radial falloff (1 + r²/0.6²)^(−3/2), r the distance in screen
    heights from a point below and right of the projection centre, times a gentle top-to-bottom gradient."""
    py, px = pattern_shape
    yy, xx = np.mgrid[0:py, 0:px].astype(float)
    u, v = yy / max(py - 1, 1), xx / max(px - 1, 1)  # fractions of the height and of the width
    r2 = (u - 0.58) ** 2 + ((v - 0.60) * px / py) ** 2
    bg = (1 + r2 / 0.6**2) ** -1.5 * (1 + 0.15 * (0.5 - u))
    return (bg / bg.mean()).astype(np.float32)


def _connected(labels: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """Every label one 4-connected piece: each smaller piece joins the label most of its neighbours have (inside the
    same ``within`` label when given)."""
    lab = labels.copy()
    for _ in range(10):
        changed = False
        for value in np.unique(lab):
            comp, m = ndi.label(lab == value)
            if m <= 1:
                continue
            keep = int(np.argmax(np.bincount(comp.ravel())[1:])) + 1
            for c in range(1, m + 1):
                frag = comp == c
                if c == keep:
                    continue
                ring = ndi.binary_dilation(frag) & ~frag
                if within is not None:
                    ring &= within == within[frag][0]
                cand = lab[ring]
                cand = cand[cand != value]
                if cand.size:
                    lab[frag] = np.bincount(cand).argmax()
                    changed = True
        if not changed:
            break
    return lab


def _spaced(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``points`` (m, 2) spread like nuclei (greedy Poisson-disk), each within 0.3 px of its pixel centre."""
    r = 0.8 * math.sqrt(len(points) / n)
    order = rng.permutation(len(points))
    while True:
        chosen: list[int] = []
        for i in order:
            if not chosen or np.min(np.sum((points[chosen] - points[i]) ** 2, axis=1)) >= r * r:
                chosen.append(i)
                if len(chosen) == n:
                    return points[chosen] + rng.uniform(-0.3, 0.3, size=(n, 2))
        r *= 0.8


def bimodal_grains(shape: tuple[int, int], n_large: int, n_small: int, rng: np.random.Generator) -> np.ndarray:
    """Grain ids (y, x): ``n_large`` large grains elongated along x (ids 0 … n_large − 1) and ``n_small`` small
    equiaxed ones between them, each one 4-connected piece.

    A weighted anisotropic Voronoi: a pixel belongs to the seed of the smallest scaled distance, for a large
    grain the distance in its ellipse (semi-axes ``a`` along x, ``b = a / aspect`` along y, aspect 2–3, together
    covering 60 % of the map), for a small one the distance over the radius of a disk of its share of the rest.
    The large grains' centres keep their ellipses mostly apart; the small grains' seeds are spread over the
    pixels outside every ellipse.
    """
    ny, nx = shape
    if ny * nx < 4 * (n_large + n_small):
        raise ValueError(f"shape {shape} is too small for {n_large} + {n_small} grains")
    aspect = rng.uniform(*_ASPECT, n_large)
    b = np.sqrt(_LARGE_FRACTION * ny * nx / n_large / (np.pi * aspect))
    a = aspect * b
    centres: list[np.ndarray] = []
    sep, tries = 0.8, 0
    while len(centres) < n_large:
        c = np.array([rng.uniform(0.1, 0.9) * (ny - 1), rng.uniform(0.15, 0.85) * (nx - 1)])
        i = len(centres)
        if all(((c[0] - d[0]) / (b[i] + b[j])) ** 2 + ((c[1] - d[1]) / (a[i] + a[j])) ** 2 >= sep**2
               for j, d in enumerate(centres)):
            centres.append(c)
        tries += 1
        if tries % 200 == 0:  # too crowded for this spacing: relax it
            sep *= 0.9
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    rho_large = np.stack([np.hypot((yy - c[0]) / b[i], (xx - c[1]) / a[i]) for i, c in enumerate(centres)])
    outside = rho_large.min(axis=0)
    level = 1.0
    while np.count_nonzero(outside > level) < 3 * n_small:
        level *= 0.9
    seeds = _spaced(np.argwhere(outside > level).astype(float), n_small, rng)
    r_small = math.sqrt((1 - _LARGE_FRACTION) * ny * nx / n_small / np.pi)
    rho_small = np.stack([np.hypot(yy - s[0], xx - s[1]) / r_small for s in seeds])
    grain = np.concatenate([rho_large, rho_small]).argmin(axis=0).astype(np.int32)
    return _connected(grain)


def subgrain_cells(grain: np.ndarray, n_large: int, rng: np.random.Generator) -> np.ndarray:
    """Sub-grain ids (y, x), ``4·grain + cell``: every large grain cut into 2–4 compact cells (a centroidal Voronoi
    of its pixels: farthest-point seeds, then Lloyd's iterations), each cell one 4-connected piece; cell 0 elsewhere."""
    sub = (4 * grain).astype(np.int32)
    for g in range(n_large):
        pix = np.argwhere(grain == g).astype(float)
        k = int(rng.integers(SUBGRAINS_PER_GRAIN[0], SUBGRAINS_PER_GRAIN[1] + 1))
        centres = [pix[rng.integers(len(pix))]]
        for _ in range(k - 1):
            d = np.min([np.sum((pix - c) ** 2, axis=1) for c in centres], axis=0)
            centres.append(pix[int(np.argmax(d))])
        cen = np.array(centres)
        for _ in range(20):
            cell = np.argmin(((pix[:, None, :] - cen[None]) ** 2).sum(-1), axis=1)
            cen = np.array([pix[cell == j].mean(0) if np.any(cell == j) else cen[j] for j in range(k)])
        _, cell = np.unique(cell, return_inverse=True)  # no empty cell
        sub[grain == g] = 4 * g + cell
    return _connected(sub, within=grain)


def _adjacent_pairs(labels: np.ndarray) -> np.ndarray:
    """The distinct pairs (a < b) of labels that are 4-neighbours somewhere, ``(m, 2)``."""
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    diff = a != b
    pairs = np.stack([np.minimum(a, b)[diff], np.maximum(a, b)[diff]], axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def subgrain_orientations(q_grain: np.ndarray, grain: np.ndarray, sub: np.ndarray, rng: np.random.Generator,
                          steps: tuple[float, float] = SUBGRAIN_STEPS) -> np.ndarray:
    """Every sub-grain's orientation ``(4n, 4)`` (row ``4·grain + cell``; the grain's own for unused rows): each
    sub-grain of a grain turned from the grain's orientation by its own rotation (random axis, 0.2–0.8°), drawn
    again until every two adjacent sub-grains of the grain differ by ``steps`` (degrees)."""
    n = len(q_grain)
    q_sub = np.repeat(q_grain, 4, axis=0)
    pairs = _adjacent_pairs(sub)
    pairs = pairs[pairs[:, 0] // 4 == pairs[:, 1] // 4]  # inside one grain
    for g in range(n):
        cells = np.unique(sub[grain == g])
        if len(cells) < 2:
            continue
        mine = pairs[pairs[:, 0] // 4 == g]
        for _ in range(100_000):
            turned = quat_multiply(q_grain[g], axis_angle_quat(rng.normal(size=(len(cells), 3)),
                                                               np.radians(rng.uniform(0.2, 0.8, len(cells)))))
            trial = q_sub.copy()
            trial[cells] = turned
            angle = misorientation_deg(trial[mine[:, 0]], trial[mine[:, 1]])
            if np.all((angle >= steps[0]) & (angle <= steps[1])):
                q_sub = trial
                break
        else:  # pragma: no cover - the acceptance rate is tens of per cent
            raise RuntimeError(f"no sub-grain rotations of grain {g} {steps[0]}–{steps[1]}° apart")
    return q_sub


def low_angle_misorientation(sub: np.ndarray, grain: np.ndarray, q_sub: np.ndarray) -> np.ndarray:
    """At every pixel of a true low-angle boundary (its right or lower neighbour another sub-grain of its grain):
    the misorientation (degrees) of the two sub-grains' orientations (the larger of the two neighbours'); NaN
    elsewhere."""
    out = np.full(sub.shape, np.nan, np.float32)
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        on = (sub[a] != sub[b]) & (grain[a] == grain[b])
        ang = misorientation_deg(q_sub[sub[a]], q_sub[sub[b]]).astype(np.float32)
        view = out[a]
        view[on] = np.fmax(view[on], ang[on])
    return out


def _nearest_across(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel: the flat index of the nearest pixel (centre to centre) with another label, and the distance
    (px) from the pixel's centre to the boundary between them (that distance less half a pixel)."""
    ny, nx = labels.shape
    other = np.zeros((ny, nx), np.int64)
    dist = np.full((ny, nx), np.inf)
    for value in np.unique(labels):
        sel = labels == value
        d, (iy, ix) = ndi.distance_transform_edt(sel, return_indices=True)
        other[sel] = (iy * nx + ix)[sel]
        dist[sel] = d[sel] - 0.5
    return other, dist


def bimodal_map(
    kind: str = "subgrains",
    *,
    seed: int = 0,
    shape: tuple[int, int] = (48, 64),
    pattern_shape: tuple[int, int] = (90, 120),
    counts: float = 30.0,
    read_noise: float = 2.0,
    blur: float = 1.0,
    contrast: float = 0.25,
    gain_drift: float = 0.10,
    spread: float = BIMODAL_SPREAD,
    boundary_dip: float = 0.5,
    pc: tuple[float, float, float] = BIMODAL_PC,
) -> xr.Dataset:
    """One map of the third family, with its truth, in memory (see the module docstring).

    Parameters
    ----------
    kind
        ``subgrains`` (large grains of 2–4 sub-grains 0.4–1.2° apart among small grains) or ``deformed``
        (bent and recrystallised grains of bimodal sizes).
    seed
        The scene (grains, sub-grains, orientations, bending, gain drift, scatter directions) and the
        noise are functions of the seed; the physics below changes nothing of the scene.
    shape, pattern_shape
        Scan (Y, X) and pattern (rows, columns) shapes; the default screen is 4:3, 90 × 120 px.
    counts, read_noise
        Mean photon counts per detector pixel (Poisson) and the σ (counts) of the Gaussian read noise.
    blur
        σ (detector px) of the screen's Gaussian point spread (0: none).
    contrast
        Kikuchi modulation: the standard deviation of the pattern relative to the background.
    gain_drift
        Amplitude of the smooth gain field across the map (0.1: ±10 %).
    spread
        ``subgrains``: per-axis σ (degrees) of each pixel's extra rotation (``deformed``:
        :data:`~benchmarks.data.deformation.DEFORMED_SPREAD`).
    boundary_dip
        Kikuchi contrast lost at grain boundaries (lattice distortion, a polishing groove): the contrast
        × (1 − ``boundary_dip``·exp(−d/0.8)), d the distance to the nearest grain boundary. With the
        default 0.5, Otsu's threshold (``vaearr roi --otsu``) on a 48 × 64 map keeps 73–76 % of it: 96–97 %
        of the pixels over a pixel from a grain boundary, hardly any next to one. With 0 the band contrast
        has no low mode and the threshold cuts through the spread between grains (57–62 % kept, whole
        grains out).
    pc
        Projection centre (Bruker).

    Returns
    -------
    xarray.Dataset
        ``patterns (y, x, py, px)`` uint16 counts, ``bandcontrast (y, x)``; truth: ``grain_id``,
        ``subgrain_id`` (``4·grain + cell``; the grain in ``deformed``), ``large_grain_true``,
        ``grain_boundaries_true``, ``low_angle_boundaries_true``, ``low_angle_misorientation_true``
        (degrees across each true low-angle boundary pixel, NaN elsewhere), ``orientation_true (y, x,
        quaternion)``, ``misorientation_true`` (from the sub-grain's orientation; the grain's mean in
        ``deformed``); ``deformed`` adds ``kam_true``, ``gos_true`` (the grain's GOS at each of its
        pixels), ``recrystallised_true``, ``bend_rate_true`` (°/µm). Attrs: the physics, ``pc``,
        ``sample_tilt``, ``large_grains``, ``grain_rotations``, ``subgrain_rotations``...
    """
    if kind not in BIMODAL_KINDS:
        raise ValueError(f"kind must be one of {', '.join(BIMODAL_KINDS)}, got {kind!r}")
    if not counts > 0:
        raise ValueError(f"counts must be > 0, got {counts}")
    if read_noise < 0 or blur < 0 or contrast < 0 or not 0 <= gain_drift < 1 or not 0 <= boundary_dip <= 1:
        raise ValueError("read_noise, blur and contrast must be ≥ 0, gain_drift in [0, 1) and boundary_dip in [0, 1]")
    ny, nx = (int(v) for v in shape)
    pshape = (int(pattern_shape[0]), int(pattern_shape[1]))
    if min(pshape) < 8:
        raise ValueError(f"pattern_shape {pattern_shape} is too small")
    n_large, n_small = N_GRAINS[kind]
    n = n_large + n_small
    r_grain, r_rot, r_cells, r_sub, r_spread, r_drift, r_bend, r_noise = spawn_rngs(seed + 1299709, 8)
    # the scene: the seed alone
    grain = bimodal_grains((ny, nx), n_large, n_small, r_grain)
    q_grain = random_quaternions(n, r_rot)
    directions = r_spread.normal(0, 1, size=(ny, nx, 3))
    field = ndi.gaussian_filter(r_drift.normal(size=(ny, nx)), max(ny, nx) / 5, mode="reflect")
    field -= field.mean()
    field /= np.abs(field).max() or 1.0
    truth: dict[str, Any] = {"large_grain_true": grain < n_large}
    attrs: dict[str, Any] = {}
    if kind == "subgrains":
        sub = subgrain_cells(grain, n_large, r_cells)
        q_sub = subgrain_orientations(q_grain, grain, sub, r_sub)
        q_ref = q_sub[sub]
        q_pix = spread_rotations(q_ref, directions, spread)
        truth["low_angle_misorientation_true"] = low_angle_misorientation(sub, grain, q_sub)
        attrs.update(spread_per_axis_deg=float(spread), subgrain_steps_deg=list(SUBGRAIN_STEPS),
                     subgrain_rotations=q_sub.tolist())
    else:
        bending = draw_bending(n, r_bend)
        q_pix = spread_rotations(bent_orientations(q_grain, grain, bending, BIMODAL_STEP), directions,
                                 DEFORMED_SPREAD)
        sub = grain.astype(np.int32)
        truth.update(kam_true=truth_kam(q_pix, grain).astype(np.float32),
                     gos_true=truth_gos(q_pix, grain)[grain].astype(np.float32),
                     recrystallised_true=~bending.bent[grain], bend_rate_true=bending.rate[grain].astype(np.float32))
        q_ref = mean_orientations(q_pix, grain)[grain]
        truth["low_angle_misorientation_true"] = np.full((ny, nx), np.nan, np.float32)
        attrs.update(spread_per_axis_deg=DEFORMED_SPREAD, bend_rates=bending.rate.tolist())

    # the physics: detector, contrast, mixing, point spread, gain, noise
    k = kikuchi_scaled(q_pix.reshape(-1, 4), pshape, pc, BIMODAL_SAMPLE_TILT)
    k -= k.mean(axis=(1, 2), keepdims=True)
    k /= np.maximum(k.std(axis=(1, 2), keepdims=True), 1e-6)
    other, dist = _nearest_across(sub)
    w = (0.5 * np.exp(-dist / _MIX_LENGTH)).ravel()
    near = w > 1e-3
    k[near] = (1 - w[near, None, None]) * k[near] + w[near, None, None] * k[other.ravel()[near]]
    gain = (1 + gain_drift * field).astype(np.float32).ravel()[:, None, None]
    kontrast = np.full(ny * nx, contrast, np.float32)
    if boundary_dip > 0:
        kontrast *= (1 - boundary_dip * np.exp(-_nearest_across(grain)[1] / _MIX_LENGTH)).ravel()
    lam = np.maximum(1 + kontrast[:, None, None] * k, 0.05)
    static = screen_background(pshape)
    lam *= counts * gain * static
    del k
    if blur > 0:
        lam = ndi.gaussian_filter(lam, (0, blur, blur), mode="nearest")
        static = ndi.gaussian_filter(static, blur, mode="nearest")
    patterns = np.empty(lam.shape, np.uint16)
    for s in range(0, len(lam), _NOISE_BLOCK):
        block = r_noise.poisson(lam[s:s + _NOISE_BLOCK]).astype(np.float32)
        block += read_noise * r_noise.standard_normal(block.shape, dtype=np.float32)
        patterns[s:s + _NOISE_BLOCK] = np.clip(np.rint(block), 0, 65535)
    del lam
    patterns = patterns.reshape(ny, nx, *pshape)
    bc = band_contrast(patterns, counts * static, full_scale=BIMODAL_BC_FULL_SCALE)  # the background a vendor records
    extra = {"bandcontrast": bc.astype(np.float32), **truth}
    return map_dataset(patterns, grain, sub, q_pix, misorientation_deg(q_pix, q_ref), step=BIMODAL_STEP, extra=extra,
                       attrs={"family": "bimodal", "kind": kind, "seed": int(seed), "n_grains": n, "n_large": n_large,
                              "large_grains": list(range(n_large)), "counts": float(counts),
                              "read_noise": float(read_noise), "blur": float(blur), "contrast": float(contrast),
                              "gain_drift": float(gain_drift), "boundary_dip": float(boundary_dip),
                              "pc": [float(v) for v in pc],
                              "sample_tilt": BIMODAL_SAMPLE_TILT,
                              "noise": f"Poisson, {counts:g} counts per detector pixel on average, plus Gaussian "
                                       f"read noise σ = {read_noise:g} counts, kept as counts (uint16)",
                              "grain_rotations": q_grain.tolist(),
                              "note": "SIMULATED with benchmarks.data.bimodal_map from kikuchipy's Ni master pattern: "
                                      "not a measurement.", **attrs})


#: Truth variables :func:`bimodal_map` returns beside ``patterns`` and ``bandcontrast``.
BIMODAL_TRUTH = ("grain_id", "subgrain_id", "large_grain_true", "grain_boundaries_true", "low_angle_boundaries_true",
                 "low_angle_misorientation_true", "orientation_true", "misorientation_true", "kam_true", "gos_true",
                 "recrystallised_true", "bend_rate_true")


def write_bimodal_map(path: str | os.PathLike, kind: str = "subgrains", *, seed: int = 0,
                      overwrite: bool = False, **physics: Any) -> xr.Dataset:
    """Simulate a map of this family (:func:`bimodal_map`) and write it as an ``ebsd-map`` store (no ROI:
    ``vaearr roi --otsu`` makes one from ``bandcontrast``, as for a measured map)."""
    ds = bimodal_map(kind, seed=seed, **physics)
    keep = ["patterns", "bandcontrast", *(v for v in BIMODAL_TRUTH if v in ds)]
    config = {"family": "bimodal", "kind": kind, "seed": int(seed),
              **{k: (list(v) if isinstance(v, tuple) else v) for k, v in physics.items()}}
    return write_simulated(path, ds, keep, source=f"bimodal_map:{kind}", config=config,
                           patterns_source=f"benchmarks.data.bimodal_map({kind!r}, seed={seed})", overwrite=overwrite)
