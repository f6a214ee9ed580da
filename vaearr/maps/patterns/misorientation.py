"""Misorientation in degrees read from two Kikuchi patterns, with no indexing: the rotation that registers one on the other.

A Kikuchi pattern is the crystal's band picture seen through the detector: every detector pixel looks along one
direction, fixed by the projection centre (PC), and records the master pattern of the crystal in that direction. Two
patterns of one phase whose crystals differ by a rotation ``Q`` (in the detector's frame) are the same picture seen along
rotated directions, ``B(d) = A(Q d)``: so ``Q`` is found by registering ``A`` on ``B`` over the sphere of directions, and
its angle is the misorientation, in degrees, whatever the pattern size, counts or detector. This is the rotational part
of high-resolution EBSD (Wilkinson et al., Ultramicroscopy 106, 2006, which measures it from the shifts of sub-regions;
the global form, one registration of the whole pattern by Gauss–Newton, is Ruggles et al., Ultramicroscopy 195, 2018,
"inverse compositional Gauss–Newton", and the pattern remapping of Maurice et al., Ultramicroscopy 113, 2012).

How it is done here (:func:`register`):

* Patterns are divided by the static background, their slow variation (a Gaussian of 1/10 of the width) subtracted,
  standardised (:func:`prepared`).
* ``B(d) ≈ s·A(Q d) + o`` is fitted for the rotation ``Q`` (three parameters, updated as ``Q ← exp([δ]×) Q``) and a
  contrast ``s`` and offset ``o`` by Gauss–Newton over the detector pixels whose rotated direction still falls on the
  detector, from coarse to fine (both patterns blurred by σ = 4, 2, 1 px of a 60 px pattern, scaled with the size).
* Where a rotation may be large (between two regions, :func:`misorientations`), the coarsest level first tries a set of
  starting rotations up to :data:`SEARCH_DEG` and keeps the one whose correlation is best: a 20° rotation is outside
  Gauss–Newton's reach from the identity.
* The fit's correlation says whether it holds: two patterns of unrelated orientations (a grain boundary of tens of
  degrees, a twin) correlate near 0 however they are turned, a registered pair near 1 less the noise. A pair that does
  not register (:data:`MIN_CORRELATION`, corrected for the noise), or registers beyond :data:`SEARCH_DEG`, is further
  apart than the search reaches: its angle is reported as ``inf`` (more than :data:`SEARCH_DEG`), which every rule
  here reads as a grain boundary.

The angle needs the PC's ``z`` most: a PC ``z`` wrong by a fraction ``f`` scales out-of-plane rotations by about
``1 + f`` (``BENCHMARKS.md`` "Misorientation from the patterns" measures it). Crystal symmetry needs no care: patterns
are the same for symmetry-equivalent orientations, so the registration finds the smallest rotation, the disorientation.

Hand-written (numba): kikuchipy refines orientations against a master pattern (it needs the phase and indexing first);
its pattern matching has no pattern-to-pattern registration, and pyebsdindex indexes bands. The registration needs
neither the phase nor a master pattern.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from vaearr.errors import InputError
from vaearr.maps.patterns.registration_kernels import correlations, gauss_newton

#: Blur (pixels of a 60 px pattern, scaled with the pattern's width) of each level of the registration, coarse to fine.
LEVELS_60 = (4.0, 2.0, 1.0)
#: With a reference free of noise (``sharp``), one more level reads the patterns as recorded: single patterns registered
#: on a region's reference lost precision to the blur (KAM from them on the science family's deformed tuning map at
#: Spearman 0.80 with σ = 1 last, 0.90 with this level). Not with two noisy patterns: the sum of squares of a noisy
#: moving pattern is smaller between its pixels than on them, which pulls a fit half a pixel off (0.1° read as 0.5°).
SHARP_LEVEL = 0.0
#: Slow variation taken out of every pattern: a Gaussian of this fraction of the pattern's width (dynamic background).
HIGH_PASS = 0.1
#: The largest rotation (degrees) the starting rotations of :func:`misorientations` reach; beyond it a pair reads ``inf``.
SEARCH_DEG = 24.0
#: Spacing (degrees) of the starting rotations tried, how many of the best are refined, and the level they are tried
#: at: σ = 2 px (of 60) ranked the true rotation's neighbourhood first on noisy single patterns 5–20° apart, σ = 4 px
#: often did not (a blurrier picture correlates with more wrong rotations).
SEARCH_STEP_DEG = 4.0
SEARCH_KEEP = 3
#: Starts the search reads on every pixel, the best on a quarter of them (:func:`_best_starts`).
SEARCH_SHORTLIST = 16
SEARCH_LEVEL = 1
#: A registration holds when its correlation, freed of the noise, is at least this (unrelated patterns: about 0).
MIN_CORRELATION = 0.5
#: Pixels of the detector's rim where a rotated direction is not sampled (the bilinear stencil and the blur's edge).
RIM_PX = 1.0
#: Gauss–Newton stops when the rotation's update is under this (radians), or after :data:`MAX_ITER` steps a level.
TOLERANCE = 1e-6
MAX_ITER = 30
#: Pairs a worker registers at a time (threads: the kernel releases the GIL).
CHUNK = 64


@dataclass(frozen=True)
class Geometry:
    """The detector geometry a misorientation needs: the projection centre (Bruker convention: ``x*``, ``y*`` fractions
    of the width from the left and of the height from the top, ``z*`` the distance over the height) and the pattern's
    shape (rows, cols). ``source`` says where the PC came from."""

    pc: tuple[float, float, float]
    shape: tuple[int, int]
    source: str = ""

    def check(self) -> None:
        """One line when the PC cannot be this detector's: outside the screen, or ``z*`` not positive."""
        x, y, z = self.pc
        if not all(math.isfinite(v) for v in self.pc):
            raise InputError(None, f"the projection centre {self.pc} is not three finite numbers")
        if not (0 <= x <= 1 and 0 <= y <= 1) or not 0.05 <= z <= 5:
            raise InputError(None, f"the projection centre ({x:g}, {y:g}, {z:g}) is outside the screen (Bruker: x*, y* "
                                   "in [0, 1], z* in [0.05, 5])")

    @property
    def scale(self) -> float:
        """Pixels per unit of gnomonic coordinate (the detector distance in pixels: ``z*`` × rows)."""
        return self.pc[2] * self.shape[0]

    @property
    def centre(self) -> tuple[float, float]:
        """The PC in pixel coordinates (row, col) of pixel centres."""
        return self.pc[1] * self.shape[0] - 0.5, self.pc[0] * self.shape[1] - 0.5

    def directions(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Unit directions ``(n, 3)`` in the detector's frame of the pixels ``(rows, cols)`` (kikuchipy's gnomonic
        coordinates: x to the right, y up, z towards the sample)."""
        r0, c0 = self.centre
        g = np.stack([(np.asarray(cols, float) - c0) / self.scale, (r0 - np.asarray(rows, float)) / self.scale,
                      np.ones(np.shape(rows))], axis=-1)
        return g / np.linalg.norm(g, axis=-1, keepdims=True)


def levels(shape: Sequence[int], sharp: bool = False) -> list[float]:
    """The blur σ (pixels) of each level for patterns of ``shape`` (``sharp``: the moving patterns are free of noise)."""
    return [s * shape[1] / 60 for s in LEVELS_60] + ([SHARP_LEVEL] if sharp else [])


def prepared(patterns: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Patterns ``(n, rows, cols)`` as registration reads them: divided by ``background`` (static: the mean pattern when
    not given), less their slow variation, each to zero mean and unit variance (float32)."""
    x = np.asarray(patterns, np.float32)
    bg = x.mean(0) if background is None else np.asarray(background, np.float32)
    x = x / np.maximum(bg, 1e-6 * max(float(np.max(bg)), 1e-30))
    sigma = HIGH_PASS * x.shape[-1]
    x = x - ndi.gaussian_filter(x, (0, sigma, sigma), mode="nearest")
    return standardised(x)


def smooth_background(background: np.ndarray) -> np.ndarray:
    """The static background as registration divides by it: the map's mean pattern smoothed by a Gaussian of
    :data:`HIGH_PASS` of its width. A map of a few grains keeps their bands in its mean pattern (a tenth of their
    contrast over a dozen grains), and divided by it every pattern carries that fixed picture, which pulls every
    registration towards no rotation (a 1° pair of a three-grain map read 1.75°, 0.5° sub-grain steps 0.43° on
    average); a screen's vignetting is smooth at that scale."""
    bg = np.asarray(background, np.float32)
    sigma = HIGH_PASS * bg.shape[-1]
    return ndi.gaussian_filter(bg, sigma, mode="nearest")


def flattened(block: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Raw patterns ``(..., py, px)`` divided by the static background and by their own mean (the gain), float32."""
    p = np.asarray(block, np.float32) / np.maximum(np.asarray(background, np.float32), 1e-6)
    return p / np.maximum(p.mean(axis=(-2, -1), keepdims=True), 1e-12)


def standardised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    return x / np.maximum(x.std(axis=(-2, -1), keepdims=True), 1e-12)


# --------------------------------------------------------------------------------------------
# rotations


def rotvec_matrix(v: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` of rotation vectors ``(..., 3)`` (radians; Rodrigues)."""
    v = np.asarray(v, float)
    a = np.linalg.norm(v, axis=-1)[..., None, None]
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    safe = np.where(a > 1e-12, a, 1.0)
    s = np.where(a > 1e-12, np.sin(safe) / safe, 1.0)
    c = np.where(a > 1e-12, (1 - np.cos(safe)) / safe**2, 0.5)
    return np.eye(3) + s * k + c * (k @ k)


def matrix_rotvec(m: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(..., 3)`` (radians) of rotation matrices ``(..., 3, 3)``."""
    m = np.asarray(m, float)
    cos = np.clip((np.trace(m, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    ang = np.arccos(cos)
    w = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], axis=-1)
    s = np.sin(ang)
    scale = np.where(s > 1e-9, ang / (2 * np.where(s > 1e-9, s, 1.0)), 0.5)[..., None]
    return w * scale


def angle_deg(m: np.ndarray) -> np.ndarray:
    """The angle (degrees) of rotation matrices ``(..., 3, 3)``."""
    cos = np.clip((np.trace(np.asarray(m, float), axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    return np.degrees(np.arccos(cos))


def search_rotations(limit_deg: float = SEARCH_DEG, step_deg: float = SEARCH_STEP_DEG) -> np.ndarray:
    """Starting rotations ``(k, 3, 3)``: the identity and rotation vectors on a cubic grid of ``step_deg`` inside a ball
    of ``limit_deg``."""
    n = int(limit_deg // step_deg)
    g = np.arange(-n, n + 1) * math.radians(step_deg)
    v = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    v = v[np.linalg.norm(v, axis=1) <= math.radians(limit_deg) + 1e-9]
    v = v[np.argsort(np.linalg.norm(v, axis=1), kind="stable")]
    return rotvec_matrix(v)


# --------------------------------------------------------------------------------------------
# registration


@dataclass
class Registration:
    """What :func:`register` found for each pair: the rotation ``Q`` (detector frame, ``B(d) = A(Q d)``), its angle in
    degrees (``inf`` where the pair did not register), the correlation of the registered pair at the finest level and the
    share of the detector the two patterns overlap on."""

    rotation: np.ndarray  # (n, 3, 3)
    angle: np.ndarray  # (n,) degrees; inf where the fit does not hold
    correlation: np.ndarray  # (n,)
    overlap: np.ndarray  # (n,)
    likeness: np.ndarray | None = None  # (n,) the correlation over what the pair's noise lets it reach (1: alike)
    noise: np.ndarray | None = None  # (n,) degrees: the angle's standard error from the patterns' noise (rms, 3 axes)

    @property
    def rotvec_deg(self) -> np.ndarray:
        """Rotation vectors ``(n, 3)`` in degrees (NaN where the pair did not register)."""
        v = np.degrees(matrix_rotvec(self.rotation))
        v[~np.isfinite(self.angle)] = np.nan
        return v


@dataclass
class _Level:
    sigma: float
    moving: np.ndarray
    grad_r: np.ndarray
    grad_c: np.ndarray
    fixed: np.ndarray
    dirs: np.ndarray
    weights: np.ndarray


def _blurred(x: np.ndarray, sigma: float) -> np.ndarray:
    return standardised(ndi.gaussian_filter(x, (0, sigma, sigma), mode="nearest") if sigma > 0 else x)


class Pyramid:
    """Moving patterns ``(m, rows, cols)`` as :func:`register` reads them at each level (blurred, standardised, and
    their gradients) and their :func:`noise_share`, each made once and kept with ``keep``: the references of a map's
    regions, registered on the map block after block, are blurred once, not once a block (the same numbers)."""

    def __init__(self, patterns: np.ndarray, keep: bool = True):
        self.patterns = np.asarray(patterns, np.float32)
        self.keep = keep
        self._made: dict[tuple[str, float], Any] = {}

    def _kept(self, key: tuple[str, float], make: Callable[[], Any]) -> Any:
        if key in self._made:
            return self._made[key]
        value = make()
        if self.keep:
            self._made[key] = value
        return value

    def level(self, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The patterns blurred by ``sigma`` and standardised, and their gradients along rows and columns."""

        def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            a = _blurred(self.patterns, sigma)
            gr, gc = np.gradient(a, axis=(1, 2))
            return a, np.ascontiguousarray(gr, np.float32), np.ascontiguousarray(gc, np.float32)

        return self._kept(("level", sigma), make)

    def noise_share(self, sigma: float) -> np.ndarray:
        return self._kept(("noise", sigma), lambda: noise_share(self.patterns, sigma))


def _level(moving: Pyramid, fixed: np.ndarray, geometry: Geometry, sigma: float,
           weights: np.ndarray | None = None) -> _Level:
    a, gr, gc = moving.level(sigma)
    # one set of patterns registered among themselves: one copy
    b = a if fixed is moving.patterns else _blurred(fixed, sigma)
    stride = max(1, int(round(sigma / 2)))
    rows, cols = np.mgrid[0:fixed.shape[1]:stride, 0:fixed.shape[2]:stride]
    rows, cols = rows.ravel(), cols.ravel()
    w = np.ones(rows.size) if weights is None else np.asarray(weights, float)[rows, cols]
    return _Level(sigma, a, gr, gc, np.ascontiguousarray(b[:, rows, cols]), geometry.directions(rows, cols),
                  w / w.mean())


def _best_starts(moving: Pyramid, fixed: np.ndarray, geometry: Geometry, im: np.ndarray, jf: np.ndarray,
                 q0: np.ndarray) -> np.ndarray:
    """The :data:`SEARCH_KEEP` starting rotations (indices into :func:`search_rotations`, best first) whose turn of
    ``q0`` correlates each pair best at the search level: every start ranked on every other detector pixel of each
    axis first (a quarter of them; the level is blurred over 2 of its samples, so the ranking barely moves), the best
    :data:`SEARCH_SHORTLIST` read again on every pixel and the best of those kept, ties to the earlier start."""
    sigma = levels(geometry.shape)[SEARCH_LEVEL]
    coarse = _level(moving, fixed, geometry, sigma)
    starts = search_rotations()
    n = len(im)
    every = np.ascontiguousarray(np.broadcast_to(np.arange(len(starts)), (n, len(starts))))
    stride = max(1, int(round(sigma / 2)))  # the level's own sampling (_level)
    rows, cols = np.mgrid[0:fixed.shape[1]:stride, 0:fixed.shape[2]:stride]
    sparse = ((rows // stride % 2 == 0) & (cols // stride % 2 == 0)).ravel()
    dirs = np.ascontiguousarray(coarse.dirs[sparse])
    b = np.ascontiguousarray(coarse.fixed[:, sparse])
    rough = np.empty((n, len(starts)))
    keep = min(SEARCH_SHORTLIST, len(starts))
    short = np.empty((n, keep), np.int64)
    fine = np.empty((n, keep))

    def pick(s: int, e: int) -> None:
        correlations(coarse.moving, b, im[s:e], jf[s:e], dirs, *geometry.centre, geometry.scale, RIM_PX, q0[s:e],
                     starts, every[s:e], rough[s:e])
        # the shortlist in the order of the starts, so a tie below goes to the earlier one as before
        short[s:e] = np.sort(np.argsort(-rough[s:e], axis=1, kind="stable")[:, :keep], axis=1)
        correlations(coarse.moving, coarse.fixed, im[s:e], jf[s:e], coarse.dirs, *geometry.centre, geometry.scale,
                     RIM_PX, q0[s:e], starts, short[s:e], fine[s:e])

    _run_chunks(pick, n)
    order = np.argsort(-fine, axis=1, kind="stable")[:, :SEARCH_KEEP]
    return np.take_along_axis(short, order, axis=1)


def _threads(n: int) -> int:
    return max(1, min(os.cpu_count() or 1, math.ceil(n / CHUNK)))


def _run_chunks(fn, n: int) -> None:
    chunks = [(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]
    workers = _threads(n)
    if workers == 1:
        for s, e in chunks:
            fn(s, e)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda se: fn(*se), chunks))


def register(moving: np.ndarray | Pyramid, fixed: np.ndarray, geometry: Geometry, *, pairs: tuple[np.ndarray, np.ndarray]
             | None = None, start: np.ndarray | None = None, search: bool = False, first: int = 0,
             weights: np.ndarray | None = None, sharp: bool = False) -> Registration:
    """Register ``moving[i]`` on ``fixed[j]`` for each pair ``(i, j)``: the rotation ``Q`` with ``fixed(d) ≈
    moving(Q d)``.

    Parameters
    ----------
    moving, fixed
        Patterns ``(m, rows, cols)`` and ``(f, rows, cols)`` as :func:`prepared` makes them (the moving ones are sampled
        at rotated directions: give the less noisy side there, a region's mean). A :class:`Pyramid` of the moving ones
        keeps their levels from call to call.
    geometry
        The detector's PC and the patterns' shape.
    pairs
        Indices ``(i, j)`` into ``moving`` and ``fixed``; default: pattern ``k`` with pattern ``k``.
    start
        Starting rotations ``(n, 3, 3)`` (default: the identity).
    search
        Try :func:`search_rotations` around the start at the coarsest level first (rotations up to :data:`SEARCH_DEG`).
    first
        The level to start from (0: the coarsest; a start already within a degree or so needs none of the coarser).
    weights
        ``(rows, cols)``: each detector pixel's noise precision in the fixed patterns (shot noise: the static
        background, once divided by it); default: all alike.
    sharp
        The moving patterns are free of noise (a region's reference): the last level reads the fixed patterns
        unblurred (:data:`SHARP_LEVEL`).

    The fit holds when its correlation at the finest level is over :data:`MIN_CORRELATION` of what the pair's noise
    lets it reach (:func:`noise_share` of both sides) and the two overlap on a quarter of the detector at least.
    """
    moving = moving if isinstance(moving, Pyramid) else Pyramid(moving, keep=False)
    fixed = np.asarray(fixed, np.float32)
    shape = moving.patterns.shape
    if shape[1:] != tuple(geometry.shape) or fixed.shape[1:] != tuple(geometry.shape):
        raise InputError(None, f"patterns of {shape[1:]} and {fixed.shape[1:]} for a detector of "
                               f"{tuple(geometry.shape)}")
    geometry.check()
    if pairs is None:
        if shape[0] != len(fixed):
            raise InputError(None, "as many moving as fixed patterns are needed when no pairs are given")
        pairs = (np.arange(shape[0]), np.arange(len(fixed)))
    im = np.ascontiguousarray(pairs[0], np.int64)
    jf = np.ascontiguousarray(pairs[1], np.int64)
    n = len(im)
    q = np.repeat(np.eye(3)[None], n, 0) if start is None else np.array(start, float, copy=True).reshape(n, 3, 3)
    if search and n:
        # the best few starting rotations at the search level, each refined from there; the best fit is kept
        best = _best_starts(moving, fixed, geometry, im, jf, np.ascontiguousarray(q))
        starts = search_rotations()
        q0 = np.ascontiguousarray(q)
        tries = _fit(moving, fixed, geometry, np.repeat(im, SEARCH_KEEP), np.repeat(jf, SEARCH_KEEP),
                     (starts[best] @ q0[:, None]).reshape(-1, 3, 3), first=SEARCH_LEVEL, weights=weights,
                     sharp=sharp)
        pick_k = np.argmax(tries[1].reshape(n, SEARCH_KEEP), axis=1) + np.arange(n) * SEARCH_KEEP
        q, corr, overlap, noise = tries[0][pick_k], tries[1][pick_k], tries[2][pick_k], tries[3][pick_k]
    else:
        q, corr, overlap, noise = _fit(moving, fixed, geometry, im, jf, q, first=first, weights=weights, sharp=sharp)
    finest = levels(geometry.shape, sharp)[-1]
    share = moving.noise_share(finest)
    ceiling = np.sqrt((1 - share)[im] * (1 - (share if fixed is moving.patterns else noise_share(fixed, finest)))[jf])
    angle = angle_deg(q)
    # beyond the search's reach a fit is not to be trusted for its angle, only for "more than that"
    holds = (corr >= MIN_CORRELATION * ceiling) & (overlap >= 0.25) & (angle <= SEARCH_DEG)
    return Registration(q, np.where(holds, angle, np.inf), corr, overlap, corr / ceiling, noise)


def _fit(moving: Pyramid, fixed: np.ndarray, geometry: Geometry, im: np.ndarray, jf: np.ndarray,
         q: np.ndarray, first: int = 0, weights: np.ndarray | None = None,
         sharp: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Newton through the levels from ``first`` on, from the rotations ``q``: the rotations, the correlations at
    the finest level, the share of the detector the pair overlaps on and the angle's standard error (degrees: the
    kernel's variance, its samples' residuals counted once per blur area, 4πσ², where the blur joins them)."""
    n = len(im)
    q = np.ascontiguousarray(q, float).copy()
    corr = np.zeros(n)
    count = np.zeros(n, np.int64)
    rvar = np.zeros(n)
    r0, c0 = geometry.centre
    overlap = np.zeros(n)
    sigmas = levels(geometry.shape, sharp)[first:]
    for i, sigma in enumerate(sigmas):
        lv = _level(moving, fixed, geometry, sigma, weights)
        read = i == len(sigmas) - 1  # the correlation and overlap at the final rotation: the finest level's alone

        def fit(s: int, e: int, lv: _Level = lv, read: bool = read) -> None:
            qs = q[s:e].copy()
            gauss_newton(lv.moving, lv.grad_r, lv.grad_c, lv.fixed, im[s:e], jf[s:e], lv.dirs, lv.weights, r0, c0,
                         geometry.scale, RIM_PX, qs, MAX_ITER, TOLERANCE, corr[s:e], count[s:e], rvar[s:e], read)
            q[s:e] = qs

        _run_chunks(fit, n)
        overlap = count / max(len(lv.dirs), 1)
        stride = max(1, int(round(sigma / 2)))
        joined = max(1.0, 4 * math.pi * sigma**2 / stride**2)  # samples per independent residual
    return q, corr, overlap, np.degrees(np.sqrt(np.maximum(rvar, 0) * joined))


def noise_share(patterns: np.ndarray, sigma: float) -> np.ndarray:
    """Each pattern's share of white noise in its variance once blurred by ``sigma`` px (0–0.99): the noise read from
    each pixel's difference to the mean of its four neighbours (white noise: 5/4 of its variance there; the bands,
    blurred by the detector, hardly differ at one pixel)."""
    x = np.asarray(patterns, np.float32)
    r = x[:, 1:-1, 1:-1] - 0.25 * (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:])
    var_noise = r.var(axis=(1, 2)) / 1.25
    blurred = ndi.gaussian_filter(x, (0, sigma, sigma), mode="nearest") if sigma > 0 else x
    kept = 1 / (4 * math.pi * sigma**2) if sigma >= 0.5 else 1.0  # white noise's variance through the blur
    return np.clip(var_noise * kept / np.maximum(blurred.var(axis=(1, 2)), 1e-12), 0, 0.99)


def misorientations(a: np.ndarray, b: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The misorientation (degrees) of each pair ``(a[k], b[k])`` of prepared patterns, with the starting rotations
    tried (angles up to :data:`SEARCH_DEG`; ``inf`` beyond). Each pair is registered both ways and the angle of the
    better correlation is kept (the noisier side is then the one sampled on the grid)."""
    ab = register(a, b, geometry, search=True)
    ba = register(b, a, geometry, search=True)
    return np.where(ab.correlation >= ba.correlation, ab.angle, ba.angle)
