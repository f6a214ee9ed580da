"""Small simulated maps of one or two phases with known phases, grains and orientations, from kinematical master patterns.

:func:`phase_map` builds one in memory, :func:`write_phase_map` writes it as a store. Grains are
Voronoi cells (as :mod:`vaearr.data.simulated`); every grain gets a phase (half of the grains each,
in a seeded random order) and a random orientation; its pattern is projected from the phase's
kinematical master pattern (:func:`vaearr.crystals.kinematical_master_pattern`, 20 kV, bands down to
each family's floor, :class:`Family`) on the demo
detector (kikuchipy's real Ni scan's PC and tilt), standardised per pattern so that every phase has
the same brightness and Kikuchi contrast, mixed with the neighbour grain's near grain boundaries,
on the real scan's static background, with Poisson noise at ``counts`` photons per detector pixel.

The families (:data:`FAMILIES`):

``fcc-bcc``, ``fcc-hcp``
    Two phases of different structure: FCC (Ni) with BCC (α-Fe) or HCP (α-Ti).
``sharpness``
    Two phases of one structure (FCC, Ni) whose patterns differ in sharpness only: the second's
    are blurred (Gaussian σ = ``blur`` px) before standardising, as a phase with more defects
    (martensite beside ferrite) gives blurrier bands.
``lattice``
    Two FCC phases whose lattice parameters differ (Ni, a = 3.524 Å, and Al, a = 4.05 Å): the
    same bands at the same angles, narrower in the larger cell.
``single``
    One phase (FCC, Ni): a map where no phase split is right.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from vaearr.crystals import BUILTIN, Crystal, band_families, crystal_phase, kinematical_master_pattern, phase_record
from vaearr.crystals.master_patterns import MIN_DSPACING
from vaearr.data.simulated import (
    DEMO_PC,
    DEMO_SAMPLE_TILT,
    band_contrast,
    grain_seeds,
    random_quaternions,
    scan_coords,
    spawn_rngs,
    static_background,
    voronoi,
)
from vaearr.errors import require
from vaearr.store import open_store, write_variables
from vaearr.store.inputs import SCHEMA_INPUTS
from vaearr.numba_cache import guard_gufunc_cache

#: Beam energy (kV) of the simulated maps.
ENERGY = 20.0
#: Kikuchi modulation (std relative to the background), as the science maps (calibrated on the real Ni scan).
CONTRAST = 0.15
#: The smallest d-spacing (Å) of the bands the one-structure maps (``sharpness``, ``lattice``, ``single``) are drawn
#: with: 0.5, not the 0.7 of the master patterns ``vaearr`` fits lattices with
#: (:data:`vaearr.crystals.master_patterns.MIN_DSPACING`), so that the lattice fit does not read the maps through the
#: very model that drew them. Drawn with 0.7, the fit found the floor, not the lattice: its curves stepped where a
#: band family came in, at the true cell (BENCHMARKS "Phases from the data"). The ``single`` maps are the control of
#: the other two, so all three are drawn alike. The two-structure families keep 0.7: Hough indexing reads no master
#: pattern (drawn at 0.5, the tests' FCC + BCC map indexes at 97.3 % against 98 % and more at 0.7; the dictionary
#: anchor reads them through their own model).
GENERATOR_MIN_DSPACING = 0.5
_GB_WIDTH = 0.3
_STEP = 1.0


@dataclass(frozen=True)
class Family:
    """A map family: its phases (crystals), the blur (px) of each phase's patterns and the smallest d-spacing (Å) of
    the bands its master patterns draw."""

    crystals: tuple[Crystal, ...]
    blur: tuple[float, ...]
    note: str
    min_dspacing: float = MIN_DSPACING


_AL = Crystal("al", 225, (4.05, 4.05, 4.05, 90.0, 90.0, 90.0), (("Al", (0.0, 0.0, 0.0), 1.0),))
#: The map families by name (see the module docstring).
FAMILIES = {
    "fcc-bcc": Family((BUILTIN["fcc"], BUILTIN["bcc"]), (0.0, 0.0), "FCC (Ni) and BCC (α-Fe): different structures"),
    "fcc-hcp": Family((BUILTIN["fcc"], BUILTIN["hcp"]), (0.0, 0.0), "FCC (Ni) and HCP (α-Ti): different structures"),
    "sharpness": Family((BUILTIN["fcc"], BUILTIN["fcc"]), (0.0, 1.5),
                        "two FCC (Ni) phases: the second's patterns blurred (σ 1.5 px)", GENERATOR_MIN_DSPACING),
    "lattice": Family((BUILTIN["fcc"], _AL), (0.0, 0.0), "two FCC phases: Ni (a = 3.524 Å) and Al (a = 4.05 Å)",
                      GENERATOR_MIN_DSPACING),
    "single": Family((BUILTIN["fcc"],), (0.0,), "one phase: FCC (Ni)", GENERATOR_MIN_DSPACING),
}


def _phase_names(family: Family) -> list[str]:
    names = [c.name for c in family.crystals]
    return names if len(set(names)) == len(names) else [f"{n}_{i}" for i, n in enumerate(names)]


def _standardised(k: np.ndarray, blur: float) -> np.ndarray:
    if blur > 0:
        k = ndi.gaussian_filter(k, (0, blur, blur))
    k = k - k.mean(axis=(1, 2), keepdims=True)
    return k / k.std(axis=(1, 2), keepdims=True)


def _grain_patterns(family: Family, names: list[str], phase_of: np.ndarray, q: np.ndarray,
                    pattern_shape: tuple[int, int]) -> np.ndarray:
    """Standardised patterns ``(n_grains, py, px)``: each grain's orientation through its phase's master pattern."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    quaternion = require("orix.quaternion", "ebsd")
    det = kp.detectors.EBSDDetector(shape=pattern_shape, pc=DEMO_PC, sample_tilt=DEMO_SAMPLE_TILT)
    out = np.zeros((len(q), *pattern_shape), np.float32)
    for p, (crystal, blur) in enumerate(zip(family.crystals, family.blur)):
        sel = np.flatnonzero(phase_of == p)
        if sel.size == 0:
            continue
        mp = kinematical_master_pattern(crystal_phase(crystal, names[p]), ENERGY, min_dspacing=family.min_dspacing)
        sim = mp.get_patterns(quaternion.Rotation(q[sel]), det, energy=ENERGY, compute=True, show_progressbar=False)
        out[sel] = _standardised(np.asarray(sim.data, np.float32).reshape(sel.size, *pattern_shape), blur)
    return out


def phase_map(family: str = "fcc-bcc", *, seed: int = 0, shape: tuple[int, int] = (24, 32),
              n_grains: int = 12, pattern_shape: tuple[int, int] = (60, 60), counts: float = 40.0,
              contrast: float = CONTRAST) -> xr.Dataset:
    """One simulated map of a family (see the module docstring), with its truth, in memory.

    Parameters
    ----------
    family
        A name in :data:`FAMILIES`.
    seed
        Grains, phases, orientations and noise are functions of the seed.
    shape, n_grains, pattern_shape
        Scan (Y, X), grains, pattern (py, px).
    counts
        Mean photons per detector pixel (Poisson).
    contrast
        Kikuchi modulation relative to the background.

    Returns
    -------
    xarray.Dataset
        ``patterns (y, x, py, px)`` uint8; ``bandcontrast (y, x)`` (:func:`vaearr.data.band_contrast`);
        the truth: ``phase_true``, ``grain_id`` (y, x) int32, ``orientation_true (y, x, quaternion)``.
        Attrs: the family, the phases (records, as a store's ``phases`` attr), PC, tilt, energy,
        the grain orientations and phases, each phase's Hough band families.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    fam = FAMILIES[family]
    names = _phase_names(fam)
    ny, nx = (int(v) for v in shape)
    pshape = (int(pattern_shape[0]), int(pattern_shape[1]))
    r_seed, r_rot, r_phase, r_noise = spawn_rngs(seed, 4)
    grain, neigh, dist = voronoi((ny, nx), grain_seeds((ny, nx), n_grains, r_seed))
    q = random_quaternions(n_grains, r_rot)
    n_ph = len(fam.crystals)
    phase_of = r_phase.permutation(np.arange(n_grains) % n_ph).astype(np.int32)
    k = _grain_patterns(fam, names, phase_of, q, pshape)
    bg = static_background(pshape)
    near = np.exp(-dist / _GB_WIDTH).astype(np.float32)
    mix = (0.5 * near)[..., None, None]
    img = bg * (1 + contrast * (1 - 0.25 * near)[..., None, None] * ((1 - mix) * k[grain] + mix * k[neigh]))
    patterns = np.clip(np.rint(r_noise.poisson(counts * img / bg.mean()) * (100.0 / counts)), 0, 255).astype(np.uint8)
    x, y = scan_coords((ny, nx), _STEP)
    coords = {"y": ("y", y.reshape(ny, nx)[:, 0], {"units": "µm"}), "x": ("x", x.reshape(ny, nx)[0], {"units": "µm"})}
    grid = ("y", "x")
    records = [phase_record(crystal_phase(c, n), i) for i, (c, n) in enumerate(zip(fam.crystals, names))]
    q_pix = q[grain]
    return xr.Dataset(
        {"patterns": (("y", "x", "py", "px"), patterns),
         "bandcontrast": (grid, band_contrast(patterns, bg)),
         "phase_true": (grid, phase_of[grain].astype(np.int32), {"phases": records}),
         "grain_id": (grid, grain.astype(np.int32)),
         "orientation_true": (("y", "x", "quaternion"), np.where(q_pix[..., :1] < 0, -q_pix, q_pix).astype(np.float32))},
        coords={**coords, "quaternion": ("quaternion", ["a", "b", "c", "d"])},
        attrs={"family": family, "note": fam.note, "seed": int(seed), "n_grains": int(n_grains),
               "counts": float(counts), "contrast": float(contrast), "blur": list(fam.blur), "phases": records,
               "grain_phases": phase_of.tolist(), "grain_rotations": q.tolist(), "pc": list(DEMO_PC),
               "sample_tilt": DEMO_SAMPLE_TILT, "energy_kv": ENERGY, "step": _STEP,
               "band_families": {n: band_families(crystal_phase(c, n)) for c, n in zip(fam.crystals, names)},
               "simulated": "SIMULATED with benchmarks.data.phase_map from kinematical master patterns: not a measurement."},
    )


#: Truth variables :func:`phase_map` returns beside ``patterns`` and ``bandcontrast``.
TRUTH_VARIABLES = ("phase_true", "grain_id", "orientation_true")


def write_phase_map(path: str | os.PathLike, family: str = "fcc-bcc", *, overwrite: bool = False,
                    **kwargs: Any) -> xr.Dataset:
    """Simulate a map (:func:`phase_map`, its keywords) and write it as an ``ebsd-map`` store in one transaction.

    Written: ``patterns``, ``bandcontrast``, the truth variables and ``roi`` (every pixel).
    """
    ds = phase_map(family, **kwargs)
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    variables = {"patterns": ds.patterns, "bandcontrast": ds.bandcontrast, **{k: ds[k] for k in TRUTH_VARIABLES},
                 "roi": xr.DataArray(np.ones((ny, nx), bool), dims=("y", "x"), coords={"y": ds.y, "x": ds.x})}
    group_attrs = {"kind": "ebsd-map", "grid": "square", "step": [_STEP, _STEP], "step_units": "µm",
                   "scan_shape": [ny, nx], "patterns_source": f"benchmarks.data.phase_map({family!r})",
                   "phase_map": {k: v for k, v in ds.attrs.items() if k != "grain_rotations"}}
    write_variables(path, variables, source=[f"phase_map:{family}"],
                    config={"family": family, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}},
                    group_attrs=group_attrs, overwrite=overwrite,
                    inputs=[k for k in variables if k in SCHEMA_INPUTS])  # what an ingest would read: inputs
    return open_store(path)
