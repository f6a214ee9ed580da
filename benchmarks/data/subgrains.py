"""Small simulated Ni maps with known grains, sub-grains, per-pixel orientations and boundaries.

:func:`science_map` builds them in memory, :func:`write_science_map` writes one as a store.
The maps of one seed share one scene (grain seeds, grain orientations, the sub-grain cuts and
axes, brightness drift) and the physics of :mod:`vaearr.data.simulated` (kikuchipy's Ni master
pattern at 20 kV, the detector of kikuchipy's real Ni scan, its static background, Voronoi
grains, mixing and a contrast dip at grain boundaries); they differ in noise and sub-grains:

``clean``
    Every pixel of a grain has the grain's orientation; high-photon noise (Gaussian with the
    Poisson variance of 20 photons per grey level, 1 grey level read noise).
``noisy``
    Same orientations; Poisson shot noise at ``counts`` (default 25) per detector pixel.
``subgrains``
    Each grain is cut by a straight line through its centroid (random direction) into two
    sub-grains turned by ±``subgrain_angle``/2 about one random axis; every pixel also gets an
    i.i.d. rotation with rotation vector ~ N(0, ``spread``² I₃) (per-axis σ in degrees; the
    median misorientation from the sub-grain's orientation is about 1.54 σ) and is simulated
    on its own. Poisson noise at ``counts`` (default 60). Near grain boundaries the pattern
    mixed in is that of the neighbour grain's sub-grain on the pixel's side of its cut.

The physics is calibrated on kikuchipy's real Ni scan (``kikuchipy.data.nickel_ebsd_small``),
which is what the science maps must look like for their scores to mean anything:

* ``contrast`` (default :data:`KIKUCHI_CONTRAST` = 0.15, the Kikuchi modulation's standard
  deviation relative to the background): at 60 counts two patterns of one orientation, each
  divided by the static background and high-passed (σ = 7.5 px), correlate at 0.54; the real
  scan's pairs of pixels inside one grain correlate at 0.47–0.58.
* ``blur`` (default 0: none): the real scan's signal spectrum (the cross-spectrum of pixels of
  one grain, which noise leaves out) keeps its high frequencies as the unblurred master pattern
  does (log-spectrum error 1.0; 68 with the 0.8 px blur the demo map uses).

Until 2026-11-25 the science maps used the demo map's contrast 0.055 and 0.8 px blur: at 60
counts their same-orientation correlation was 0.13, a quarter of the real scan's, and
dictionary indexing + refinement reached only 0.20° median (0.02° on noise-free patterns, so no
geometry or convention error): the noise, not the method, set the anchor.

Truth (see :func:`science_map`): grain and sub-grain ids, one-pixel-wide grain-boundary and
low-angle-boundary masks (a pixel is on a boundary when its right or lower neighbour is on the
other side), each pixel's orientation, and its misorientation from its sub-grain's orientation.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import xarray as xr
import zarr
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
from benchmarks.data.rotations import axis_angle_quat, misorientation_deg, quat_multiply, rotvec_quat
from vaearr.data.simulated import (
    DEMO_PC,
    DEMO_SAMPLE_TILT,
    grain_seeds,
    random_quaternions,
    scan_coords,
    simulate_kikuchi,
    spawn_rngs,
    static_background,
    voronoi,
)
from vaearr.store import open_store, write_variables
from vaearr.store.inputs import SCHEMA_INPUTS

#: The maps :func:`science_map` builds.
SCIENCE_KINDS = ("clean", "noisy", "subgrains", "deformed")
#: Number of grains of every science map.
SCIENCE_N_GRAINS = 10
#: Misorientation (degrees) between the two sub-grains of a grain in the ``subgrains`` map.
SUBGRAIN_ANGLE = 0.5
#: Per-axis standard deviation (degrees) of each pixel's extra rotation vector (``subgrains``).
SPREAD_SIGMA = 0.10
#: Kikuchi modulation (std relative to the background) calibrated on kikuchipy's real Ni scan.
KIKUCHI_CONTRAST = 0.15
#: Mean photon counts per detector pixel of the noisy and the sub-grain maps.
DEFAULT_COUNTS = {"noisy": 25.0, "subgrains": 60.0, "deformed": 60.0}
#: Grains of the deformed maps (half bent, half recrystallised) and their scan step (µm).
DEFORMED_N_GRAINS, DEFORMED_STEP = 12, 0.5

_GB_WIDTH = 0.7
_STEP = 1.0  # µm, as the demo map


def one_sided_boundaries(labels: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label: a one-pixel-wide boundary.

    With ``within`` (labels of a coarser partition), only pairs with the same ``within`` label
    count: the sub-grain boundaries inside grains.

    Examples
    --------
    >>> one_sided_boundaries(np.array([[0, 0, 1], [0, 0, 1]])).astype(int).tolist()
    [[0, 1, 0], [0, 1, 0]]
    """
    labels = np.asarray(labels)
    m = np.zeros(labels.shape, bool)
    right = labels[:, :-1] != labels[:, 1:]
    down = labels[:-1, :] != labels[1:, :]
    if within is not None:
        right &= within[:, :-1] == within[:, 1:]
        down &= within[:-1, :] == within[1:, :]
    m[:, :-1] |= right
    m[:-1, :] |= down
    return m


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _subgrain_rotations(q_grain: np.ndarray, axes: np.ndarray, angle: float) -> np.ndarray:
    """The two halves of every grain: turned by ±``angle``/2 about the grain's axis, ``(2n, 4)`` (half 2g + side)."""
    half = math.radians(angle / 2)
    n = len(q_grain)
    q_sub = np.empty((2 * n, 4))
    q_sub[0::2] = quat_multiply(q_grain, axis_angle_quat(axes, np.full(n, +half)))
    q_sub[1::2] = quat_multiply(q_grain, axis_angle_quat(axes, np.full(n, -half)))
    return q_sub


def _subgrain_pixels(grain, neigh, side, q_grain, axes, spread_dir, *, subgrain_angle: float, spread: float,
                     pattern_shape: tuple[int, ...], blur: float, progress: bool):
    """Sub-grain ids, per-pixel orientations and misorientations, and the patterns of each pixel and of the
    neighbour grain's half across the boundary."""
    ny, nx = grain.shape
    sub = (2 * grain + side(grain)).astype(np.int32)
    q_sub = _subgrain_rotations(q_grain, axes, subgrain_angle)
    q_pix = quat_multiply(q_sub[sub], rotvec_quat(spread_dir * math.radians(spread)))
    misori = misorientation_deg(q_pix, q_sub[sub]).astype(np.float32)
    k_pix = simulate_kikuchi(q_pix.reshape(-1, 4), pattern_shape, progress, blur).reshape(ny, nx, *pattern_shape)
    k_across = simulate_kikuchi(q_sub, pattern_shape, progress, blur)[2 * neigh + side(neigh)]
    return sub, q_pix, misori, k_pix, k_across


def _deformed_pixels(grain, neigh, dist, q_grain, spread_dir, rng, *, pattern_shape: tuple[int, ...], blur: float,
                     progress: bool):
    """Bent and recrystallised grains (:mod:`benchmarks.data.deformation`): per-pixel orientations, misorientations
    from the grain mean, the patterns of each pixel and of the neighbour grain (bent as it would be there), and
    the truth (KAM, GOS, recrystallised, bending rate)."""
    ny, nx = grain.shape
    bending = draw_bending(q_grain.shape[0], rng)
    q_pix = spread_rotations(bent_orientations(q_grain, grain, bending, DEFORMED_STEP), spread_dir, DEFORMED_SPREAD)
    misori = misorientation_deg(q_pix, mean_orientations(q_pix, grain)[grain]).astype(np.float32)
    k_pix = simulate_kikuchi(q_pix.reshape(-1, 4), pattern_shape, progress, blur).reshape(ny, nx, *pattern_shape)
    k_across = np.zeros_like(k_pix)
    near = dist < 3.5  # further in, the neighbour's share exp(-d/0.7) is under 1 %
    q_across = bent_orientations(q_grain, grain, bending, DEFORMED_STEP, at_grain=neigh)
    k_across[near] = simulate_kikuchi(q_across[near], pattern_shape, progress, blur)
    truth = {"kam_true": truth_kam(q_pix, grain).astype(np.float32),
             "gos_true": truth_gos(q_pix, grain)[grain].astype(np.float32),
             "recrystallised_true": ~bending.bent[grain], "bend_rate_true": bending.rate[grain].astype(np.float32)}
    return grain.astype(np.int32), q_pix, misori, k_pix, k_across, truth, {"bend_rates": bending.rate.tolist(),
                                                                           "spread_sigma_deg": DEFORMED_SPREAD}


def science_map(
    kind: str,
    *,
    seed: int = 2024,
    shape: tuple[int, int] = (48, 64),
    pattern_shape: tuple[int, int] = (60, 60),
    counts: float | None = None,
    spread: float = SPREAD_SIGMA,
    subgrain_angle: float = SUBGRAIN_ANGLE,
    contrast: float = KIKUCHI_CONTRAST,
    blur: float = 0.0,
    progress: bool = False,
) -> xr.Dataset:
    """One simulated study map, with its truth, in memory.

    Parameters
    ----------
    kind
        ``clean``, ``noisy`` or ``subgrains`` (see the module docstring).
    seed
        The scene and the noise are functions of the seed (and of the physics below): two
        calls give identical maps. The scene (grains, orientations, cuts, axes, drift) does not
        depend on ``counts``, ``spread``, ``subgrain_angle``, ``contrast`` or ``blur``, and the
        per-pixel rotations scale with ``spread`` along fixed directions, so maps of one seed
        differ only in what was asked.
    shape, pattern_shape
        Scan shape (Y, X), 10 grains whatever the shape; pattern shape (py, px).
    counts
        Mean photons per detector pixel (Poisson): default 25 (``noisy``), 60 (``subgrains``);
        ignored by ``clean``.
    spread
        Per-axis σ (degrees) of each pixel's extra rotation (``subgrains``).
    subgrain_angle
        Misorientation (degrees) between the two halves of a grain (``subgrains``).
    contrast, blur
        Kikuchi modulation relative to the background, and the Gaussian σ (px) of the
        pattern blur (see the module docstring for how the defaults were calibrated).
    progress
        Show kikuchipy's progress bars.

    Returns
    -------
    xarray.Dataset
        ``patterns (y, x, py, px)`` uint8 with ``x``, ``y`` in µm (step 1 µm, as the demo map);
        ``grain_id``, ``subgrain_id`` (y, x) int32 (sub-grain ``2·grain + side`` in the
        ``subgrains`` map, the grain id otherwise); ``grain_boundaries_true``,
        ``low_angle_boundaries_true`` (y, x) bool (one pixel wide, see
        :func:`one_sided_boundaries`; no low-angle boundaries but in ``subgrains``);
        ``orientation_true (y, x, quaternion)`` float32 (each pixel's own orientation, in the
        convention kikuchipy simulates and indexes in); ``misorientation_true`` (y, x)
        float32, degrees from the pixel's sub-grain orientation. Attrs: ``kind``, ``seed``,
        the physics, ``subgrain_rotations``...

    Examples
    --------
    >>> ds = science_map("clean", shape=(6, 8), pattern_shape=(20, 20))  # doctest: +SKIP
    >>> ds.patterns.shape, int(ds.grain_boundaries_true.sum()) > 0  # doctest: +SKIP
    ((6, 8, 20, 20), True)
    """
    if kind not in SCIENCE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SCIENCE_KINDS)}, got {kind!r}")
    ny, nx = (int(v) for v in shape)
    pshape = tuple(int(v) for v in pattern_shape)
    if ny * nx < SCIENCE_N_GRAINS or min(pshape) < 8:
        raise ValueError(f"shape {shape} and pattern_shape {pattern_shape} are too small")
    counts = float(DEFAULT_COUNTS.get(kind, 0.0) if counts is None else counts)
    if kind != "clean" and not counts > 0:
        raise ValueError(f"counts must be > 0, got {counts}")
    n = DEFORMED_N_GRAINS if kind == "deformed" else SCIENCE_N_GRAINS
    step = DEFORMED_STEP if kind == "deformed" else _STEP
    r_seed, r_rot, r_drift, r_cut, r_spread, r_noise, r_bend = spawn_rngs(seed, 7)
    grain, neigh, dist = voronoi((ny, nx), grain_seeds((ny, nx), n, r_seed))
    drift = ndi.gaussian_filter(r_drift.normal(size=(ny, nx)), max(ny, nx) / 6, mode="reflect")
    drift = (1 + 0.03 * drift / (drift.std() or 1)).astype(np.float32)
    q_grain = random_quaternions(n, r_rot)
    bg = static_background(pshape)
    near = np.exp(-dist / _GB_WIDTH).astype(np.float32)
    mix = (0.5 * near)[..., None, None]
    kontrast = (contrast * (1 - 0.25 * near)).astype(np.float32)[..., None, None]
    level = bg * drift[..., None, None]

    # the scene's cut of every grain is drawn for every kind, so the maps of a seed share it
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    cen = np.array([[yy[grain == g].mean(), xx[grain == g].mean()] for g in range(n)])
    theta = r_cut.uniform(0, np.pi, n)
    normal = np.stack([np.cos(theta), np.sin(theta)], 1)
    axes = r_cut.normal(size=(n, 3))
    spread_dir = r_spread.normal(0, 1, size=(ny, nx, 3))

    def side(g: np.ndarray) -> np.ndarray:  # which half of grain g's cut each pixel lies in
        return (((yy - cen[g, 0]) * normal[g, 0] + (xx - cen[g, 1]) * normal[g, 1]) > 0).astype(np.int32)

    attrs: dict[str, Any] = {}
    truth: dict[str, np.ndarray] = {}
    if kind == "deformed":
        sub, q_pix, misori, k_pix, k_across, truth, more = _deformed_pixels(
            grain, neigh, dist, q_grain, spread_dir, r_bend, pattern_shape=pshape, blur=blur, progress=progress)
        attrs.update(more)
    elif kind == "subgrains":
        sub, q_pix, misori, k_pix, k_across = _subgrain_pixels(
            grain, neigh, side, q_grain, axes, spread_dir, subgrain_angle=subgrain_angle, spread=spread,
            pattern_shape=pshape, blur=blur, progress=progress)
        attrs.update(subgrain_rotations=_subgrain_rotations(q_grain, axes, subgrain_angle).tolist(),
                     spread_sigma_deg=float(spread), subgrain_angle=float(subgrain_angle))
    else:
        sub = grain.astype(np.int32)
        q_pix = q_grain[grain]
        misori = np.zeros((ny, nx), np.float32)
        k_grain = simulate_kikuchi(q_grain, pshape, progress, blur)
        k_pix, k_across = k_grain[grain], k_grain[neigh]
        attrs.update(subgrain_angle=0.0)
    img = level * (1 + kontrast * ((1 - mix) * k_pix + mix * k_across))
    del k_pix, k_across
    if kind == "clean":
        sd = np.sqrt(np.clip(img, 0, None) / 20.0 + 1.0)
        patterns = _to_uint8(img + sd * r_noise.standard_normal(img.shape, dtype=np.float32))
        noise = "Gaussian (Poisson variance of 20 photons per grey level) + 1 grey level read noise"
    else:
        patterns = _to_uint8(r_noise.poisson(counts * img / bg.mean()).astype(np.float32) * (100.0 / counts))
        noise = f"Poisson, {counts:g} counts per pixel on average, grey = counts * 100/{counts:g}"
    del img

    return map_dataset(patterns, grain, sub, q_pix, misori, step=step, extra=truth, attrs={
        "kind": kind, "seed": int(seed), "n_grains": n, "noise": noise,
        "counts": counts if kind != "clean" else None, "contrast": float(contrast), "blur": float(blur),
        "grain_rotations": q_grain.tolist(), "static_background_mean": float(bg.mean()),
        "pc": list(DEMO_PC), "sample_tilt": DEMO_SAMPLE_TILT,
        "note": "SIMULATED with benchmarks.data.science_map from kikuchipy's Ni master pattern: not a measurement.",
        **attrs})


def map_dataset(patterns: np.ndarray, grain: np.ndarray, sub: np.ndarray, q_pix: np.ndarray, misori: np.ndarray, *,
                step: float, attrs: dict[str, Any], extra: dict[str, np.ndarray] | None = None) -> xr.Dataset:
    """A simulated map and its truth as a Dataset: ``patterns``, grain and sub-grain ids, one-sided boundary masks,
    orientations (a ≥ 0, as the store keeps them), misorientations, and ``extra`` (y, x) truth, on a grid of
    ``step`` µm."""
    ny, nx = grain.shape
    x, y = scan_coords((ny, nx), step)
    grid = ("y", "x")
    q_pix = np.where(q_pix[..., :1] < 0, -q_pix, q_pix)
    return xr.Dataset(
        {
            "patterns": (("y", "x", "py", "px"), patterns),
            "grain_id": (grid, grain.astype(np.int32)),
            "subgrain_id": (grid, sub.astype(np.int32)),
            "grain_boundaries_true": (grid, one_sided_boundaries(grain)),
            "low_angle_boundaries_true": (grid, one_sided_boundaries(sub, within=grain)),
            "orientation_true": (("y", "x", "quaternion"), q_pix.astype(np.float32)),
            "misorientation_true": (grid, np.asarray(misori, np.float32), {"units": "degrees"}),
            **{k: (grid, v) for k, v in (extra or {}).items()},
        },
        coords={"y": ("y", y.reshape(ny, nx)[:, 0], {"units": "µm"}), "x": ("x", x.reshape(ny, nx)[0], {"units": "µm"}),
                "quaternion": ("quaternion", ["a", "b", "c", "d"])},
        attrs={**attrs, "step": step},
    )


#: Truth variables :func:`science_map` returns beside ``patterns``.
TRUTH_VARIABLES = ("grain_id", "subgrain_id", "grain_boundaries_true", "low_angle_boundaries_true",
                   "orientation_true", "misorientation_true", "kam_true", "gos_true", "recrystallised_true",
                   "bend_rate_true")


def write_science_map(
    path: str | os.PathLike,
    kind: str,
    *,
    seed: int = 2024,
    shape: tuple[int, int] = (48, 64),
    pattern_shape: tuple[int, int] = (60, 60),
    overwrite: bool = False,
    progress: bool = False,
    **physics: float,
) -> xr.Dataset:
    """Simulate a science map (:func:`science_map`) and write it as an ``ebsd-map`` store.

    One :func:`vaearr.store.write_variables` transaction writes ``patterns``, the truth
    variables and ``roi`` (all True: every pixel is a good pattern), with the root attrs an
    EBSD ingest writes (``kind``, ``grid``, ``step``, ``step_units``, ``scan_shape``), so
    ``vaearr train / encode / boundaries`` run on it as on an ingested map.

    Parameters
    ----------
    path
        Store path or URL; created if absent.
    kind, seed, shape, pattern_shape, progress
        See :func:`science_map`.
    physics
        ``counts``, ``spread``, ``subgrain_angle``, ``contrast``, ``blur``: see :func:`science_map`.
    overwrite
        Replace variables the store has already.

    Returns
    -------
    xarray.Dataset
        The store, opened lazily.
    """
    ds = science_map(kind, seed=seed, shape=shape, pattern_shape=pattern_shape, progress=progress, **physics)
    config = {"kind": kind, "seed": int(seed), "shape": list(ds.patterns.shape[:2]),
              "pattern_shape": list(ds.patterns.shape[2:]), **{k: float(v) for k, v in physics.items()}}
    return write_simulated(path, ds, ["patterns", *(k for k in TRUTH_VARIABLES if k in ds)], roi=True,
                           source=f"science_map:{kind}", config=config,
                           patterns_source=f"benchmarks.data.science_map({kind!r}, seed={seed})", overwrite=overwrite)


def write_simulated(path: str | os.PathLike, ds: xr.Dataset, names: list[str], *, source: str, config: dict,
                    patterns_source: str, roi: bool = False, overwrite: bool = False) -> xr.Dataset:
    """The variables ``names`` of a simulated map (and ``roi`` all True when asked) as an ``ebsd-map`` store, in one
    transaction, with the root attrs an EBSD ingest writes (``kind``, ``grid``, ``step``, ``scan_shape``) and the
    map's attrs under ``science_map``."""
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    variables: dict[str, xr.DataArray] = {k: ds[k] for k in names}
    if roi:
        variables["roi"] = xr.DataArray(np.ones((ny, nx), bool), dims=("y", "x"), coords={"y": ds.y, "x": ds.x})
    step = float(ds.attrs["step"])
    group_attrs = {
        "kind": "ebsd-map", "grid": "square", "step": [step, step], "step_units": "µm",
        "scan_shape": [ny, nx], "patterns_source": patterns_source,
        "science_map": {k: v for k, v in ds.attrs.items() if not k.endswith("rotations")},
    }
    with zarr.config.set({"array.write_empty_chunks": True}):
        write_variables(path, variables, source=[source], config=config, group_attrs=group_attrs,
                        overwrite=overwrite, inputs=[k for k in variables if k in SCHEMA_INPUTS])  # as ingested
    return open_store(path)
