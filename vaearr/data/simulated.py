"""A simulated Ni polycrystal EBSD map with ground truth, from kikuchipy's dynamical master pattern.

Everything needs the ``ebsd`` extra (kikuchipy, orix).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from vaearr.progress import bar
# moved to vaearr.data.scene; importable from here too
from vaearr.data.scene import (  # noqa: F401
    DEMO_PC, DEMO_SAMPLE_TILT, DEMO_ENERGY, Scene, spawn_rngs, grain_seeds, voronoi, random_quaternions,
    simulate_kikuchi, static_background, simulate_scene, noisy_patterns, band_contrast, grain_elements,
    scan_coords,
)

#: Bump when the simulation changes, so cached demo maps are rebuilt.
DEMO_VERSION = 1

# Patterns simulated, noised and written per block: bounds memory for big demo maps.
_BLOCK = 1024


# --------------------------------------------------------------------------------------------
# the simulated map


@dataclass(frozen=True)
class DemoPaths:
    """Files of one simulated demo map (see :func:`build_demo_map`).

    Attributes
    ----------
    out_dir
        The folder holding all of them.
    patterns
        HDF5: ``/patterns`` (N, py, px) uint8 in row-major scan order, ``/x``, ``/y`` (µm),
        ``/grain_id``, ``/rotations`` (true grain orientations), ``/static_background``.
    bandcontrast
        CSV ``x,y,bandcontrast`` (rows shuffled).
    elements
        CSV ``x,y,Ni,Cr,Fe`` in wt% (rows shuffled; derived from grain ids, not measured).
    phase
        CSV ``x,y,phase``: ``Ni`` or ``notindexed`` (rows shuffled).
    grains
        NPY (Y, X) int32: true grain id of every pixel, 0..n_grains-1 (the pore covers grains
        but does not change this).
    bad
        NPY (Y, X) bool: true where the pore is (patterns mostly noise).
    manifest
        JSON with the build parameters and :data:`DEMO_VERSION`.
    """

    out_dir: Path
    patterns: Path
    bandcontrast: Path
    elements: Path
    phase: Path
    grains: Path
    bad: Path
    manifest: Path

    @classmethod
    def in_dir(cls, out_dir: str | os.PathLike) -> DemoPaths:
        """The paths a build into ``out_dir`` writes (whether or not they exist yet)."""
        d = Path(out_dir)
        return cls(
            out_dir=d,
            patterns=d / "patterns.h5",
            bandcontrast=d / "bandcontrast.csv",
            elements=d / "elements.csv",
            phase=d / "phase.csv",
            grains=d / "grains.npy",
            bad=d / "bad.npy",
            manifest=d / "manifest.json",
        )


def _write_csv(path: Path, columns: dict[str, np.ndarray], order: np.ndarray) -> None:
    pd.DataFrame({k: v[order] for k, v in columns.items()}).to_csv(path, index=False)


def progress_blocks(n: int, size: int, progress: bool, desc: str) -> Iterator[slice]:
    starts = range(0, n, size)
    if progress:

        starts = bar(starts, total=len(starts), desc=desc, unit="block")
    for s in starts:
        yield slice(s, min(s + size, n))


def build_demo_map(
    out_dir: str | os.PathLike,
    *,
    shape: tuple[int, int] = (40, 60),
    pattern_shape: tuple[int, int] = (60, 60),
    n_grains: int = 12,
    step: float = 1.0,
    seed: int = 0,
    noise: float = 1.0,
    bad_fraction: float = 0.08,
    progress: bool = False,
) -> DemoPaths:
    """Simulate a Ni polycrystal EBSD map with known grains and write it as an experiment would.

    Grains are Voronoi cells of ``n_grains`` well-spread seed pixels, each with a random
    orientation; each orientation is simulated once with kikuchipy's dynamical Ni master
    pattern (20 kV, PC = :data:`DEMO_PC`, 70° tilt), blurred by the screen's point spread.
    Every pixel then gets its own recording (see ``_noisy_patterns``): mixing with the
    neighbouring grain and lower contrast near boundaries, the real Ni detector's static
    background, slow brightness drift, shot and read noise (noise like kikuchipy's real Ni
    scan, Kikuchi contrast two to three times its fast-acquisition patterns'). A pore (an
    irregular elongated blob over ``bad_fraction`` of the scan) gives dark, almost featureless
    patterns, so an Otsu threshold on band contrast separates it.

    Written into ``out_dir`` (see :class:`DemoPaths`):

    * ``patterns.h5``: ``/patterns`` (N, py, px) uint8, N = Y·X in row-major scan order
      (index = iy·X + ix), chunked and gzip'd; ``/x``, ``/y`` (N,) float64 µm (x = ix·step);
      ``/grain_id`` (N,) int32; ``/rotations`` (n_grains, 4) true orientations (quaternions);
      ``/static_background`` (py, px) float32; attrs ``step``, ``shape``, ``seed``, ``note``...
    * ``bandcontrast.csv`` ``x,y,bandcontrast``: 0–255 integers computed from the simulated
      patterns by :func:`band_contrast`, rows shuffled (real exports are not always in scan
      order; readers must align by coordinate);
    * ``elements.csv`` ``x,y,Ni,Cr,Fe``: wt% **derived from the grain ids** (per-grain
      composition, gradients, Cr at boundaries, noise) — a stand-in for EDS, not a simulation
      of it; rows shuffled;
    * ``phase.csv`` ``x,y,phase``: ``Ni``, or ``notindexed`` in the pore; rows shuffled;
    * ``grains.npy`` (Y, X) int32 and ``bad.npy`` (Y, X) bool: the ground truth.

    Parameters
    ----------
    out_dir
        Folder to write into (created; files of these names are replaced).
    shape
        Scan shape (Y, X).
    pattern_shape
        Pattern shape (py, px).
    n_grains
        Number of grains; every id 0..n_grains-1 occurs in ``grains.npy``.
    step
        Scan step in µm (same in x and y).
    seed
        Everything is a function of the seed: two builds give identical patterns.
    noise
        Scale of the detector noise: 1 is about the real Ni scan's, 0 gives noiseless patterns.
    bad_fraction
        Fraction of the scan covered by the pore (0 for none).
    progress
        Show progress bars.

    Returns
    -------
    DemoPaths
    """

    ny, nx = (int(v) for v in shape)
    py, px = (int(v) for v in pattern_shape)
    if ny < 1 or nx < 1 or py < 8 or px < 8:
        raise ValueError(f"shape {shape} and pattern_shape {pattern_shape} are too small")
    if not 1 <= n_grains <= ny * nx:
        raise ValueError(f"n_grains must be between 1 and {ny * nx}, got {n_grains}")
    if step <= 0 or noise < 0 or not 0 <= bad_fraction < 0.5:
        raise ValueError("step must be > 0, noise >= 0 and 0 <= bad_fraction < 0.5")
    paths = DemoPaths.in_dir(out_dir)
    paths.out_dir.mkdir(parents=True, exist_ok=True)

    sc = simulate_scene((ny, nx), (py, px), n_grains, seed, bad_fraction, progress)
    r_noise, r_elem, r_shuffle = spawn_rngs(seed + 1_000_003, 3)
    n = ny * nx
    x, y = scan_coords((ny, nx), step)
    bc = np.empty(n, np.float32)
    params = {
        "shape": [ny, nx], "pattern_shape": [py, px], "n_grains": n_grains, "step": step,
        "seed": seed, "noise": noise, "bad_fraction": bad_fraction, "version": DEMO_VERSION,
    }

    with h5py.File(paths.patterns, "w", track_order=True) as f:
        chunk = max(1, min(n, (1 << 20) // (py * px)))  # ~1 MB chunks
        dset = f.create_dataset(
            "patterns", shape=(n, py, px), dtype=np.uint8, chunks=(chunk, py, px),
            compression="gzip", compression_opts=4, track_times=False,
        )
        for sl in progress_blocks(n, _BLOCK, progress, "simulate patterns"):
            pats = noisy_patterns(sc, np.arange(sl.start, sl.stop), noise, r_noise)
            dset[sl] = pats
            bc[sl] = band_contrast(pats, sc.background)
        f.create_dataset("x", data=x, track_times=False).attrs["units"] = "µm"
        f.create_dataset("y", data=y, track_times=False).attrs["units"] = "µm"
        f.create_dataset("grain_id", data=sc.grain.ravel(), track_times=False)
        f.create_dataset("rotations", data=sc.quats, track_times=False).attrs["convention"] = (
            "unit quaternions (a, b, c, d), orix Rotation of each grain, row = grain id"
        )
        f.create_dataset("static_background", data=sc.background, track_times=False)
        f.attrs.update(
            step=step, shape=[ny, nx], seed=seed, pattern_shape=[py, px], n_grains=n_grains,
            noise=noise, bad_fraction=bad_fraction, pc=list(DEMO_PC),
            sample_tilt=DEMO_SAMPLE_TILT, energy_kV=DEMO_ENERGY, version=DEMO_VERSION,
            note=(
                "SIMULATED with vaearr.data.build_demo_map from kikuchipy's Ni master pattern: "
                "not a measurement. Patterns in row-major scan order, index = iy*X + ix."
            ),
        )

    _write_csv(paths.bandcontrast, {"x": x, "y": y, "bandcontrast": np.rint(bc).astype(np.int64)},
               r_shuffle.permutation(n))
    el = grain_elements(sc, r_elem)
    _write_csv(paths.elements, {"x": x, "y": y, **{k: v.ravel() for k, v in el.items()}},
               r_shuffle.permutation(n))
    phase = np.where(sc.bad.ravel(), "notindexed", "Ni")
    _write_csv(paths.phase, {"x": x, "y": y, "phase": phase}, r_shuffle.permutation(n))
    np.save(paths.grains, sc.grain)
    np.save(paths.bad, sc.bad)
    paths.manifest.write_text(json.dumps(params, indent=1) + "\n")
    return paths


def _cache_root(root: str | os.PathLike | None) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get("VAEARR_DATA")
    return Path(env) if env else Path.home() / ".cache" / "vaearr" / "demo"


def demo_paths(root: str | os.PathLike | None = None) -> DemoPaths:
    """The default demo map, built once into a cache folder and reused after.

    Parameters
    ----------
    root
        Folder for the demo files. Default: ``$VAEARR_DATA`` if set, else
        ``~/.cache/vaearr/demo``. A folder whose ``manifest.json`` matches the current
        :data:`DEMO_VERSION` and default parameters is reused as is; otherwise it is rebuilt.

    Returns
    -------
    DemoPaths
    """
    paths = DemoPaths.in_dir(_cache_root(root))
    if _is_current(paths):
        return paths
    # build beside the target and rename in, so a reader never sees a half-written map and
    # two processes building at once both end with one complete copy
    target = paths.out_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        build_demo_map(tmp)
        if target.exists() and not _is_current(paths):
            shutil.rmtree(target)  # stale (older version or interrupted by hand)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_current(paths):  # lost a race to something that is not a demo map
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


def _default_params() -> dict:
    sig = inspect.signature(build_demo_map)
    p = {k: v.default for k, v in sig.parameters.items() if k not in ("out_dir", "progress")}
    p["shape"], p["pattern_shape"] = list(p["shape"]), list(p["pattern_shape"])
    return {**p, "version": DEMO_VERSION}


# what manifest.json of a default build says; taken once, from the signature, so the two agree
_DEFAULT_MANIFEST = _default_params()


def _is_current(paths: DemoPaths) -> bool:
    try:
        made = json.loads(paths.manifest.read_text())
    except (OSError, ValueError):
        return False
    files = (paths.patterns, paths.bandcontrast, paths.elements, paths.phase, paths.grains, paths.bad)
    return made == _DEFAULT_MANIFEST and all(p.is_file() for p in files)
