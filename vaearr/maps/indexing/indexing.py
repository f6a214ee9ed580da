"""Crystal orientations from the store's Kikuchi patterns: ``vaearr index``.

Two of the field's implementations, called on the store's ``patterns(y, x, py, px)`` one block
of rows at a time (a progress bar counts the patterns), for one phase or several (``--phase``
repeated; each a built-in ``fcc``/``bcc``/``hcp``, a kikuchipy master pattern, a CIF file, an
EMsoft master-pattern file or ``NAME:SPACEGROUP:LATTICE:ATOMS``, see
:func:`vaearr.crystals.resolve_phase`):

``hough``
    PyEBSDIndex's Hough/triplet-voting indexer (:class:`pyebsdindex.ebsd_index.EBSDIndexer`,
    built by kikuchipy's :meth:`EBSDDetector.get_indexer` with every phase in one phase list, so
    each pattern gets the phase whose bands fit best; the CPU path, or PyEBSDIndex's OpenCL path
    where ``pyopencl`` finds a GPU). Needs only the phases' structures. Quality: ``{name}_score`` = PyEBSDIndex's pattern fit (mean angular
    deviation between detected and simulated bands, degrees, lower is better),
    ``{name}_bands`` = the number of bands matched and ``{name}_ci`` = PyEBSDIndex's confidence
    metric (the share of the votes the solution won, 0–1: what its own ``.ang`` writer writes as the CI).
``dictionary``
    kikuchipy's dictionary indexing: patterns simulated from the phase's master pattern
    (:meth:`EBSDMasterPattern.get_patterns`) for orix's uniform sample of the fundamental
    zone (:func:`orix.sampling.get_sample_fundamental`, ``resolution`` degrees), matched by
    normalised cross-correlation (:meth:`EBSD.dictionary_indexing`), one dictionary per phase, the
    best score per pattern kept (:func:`kikuchipy.indexing.merge_crystal_maps`). ``{name}_score`` = NCC.
    A phase given by its structure gets a kinematical master pattern (computed once and cached,
    :func:`vaearr.crystals.kinematical_master_pattern`).

``refine`` (either method; needs master patterns) refines every solution by kikuchipy's
:meth:`EBSD.refine_orientation` (Nelder–Mead on the NCC against patterns projected from the
master pattern of the pattern's phase); ``{name}_score`` is then the refined NCC.

Before indexing, the backgrounds are removed as in the runs' preprocessing, with kikuchipy:
:meth:`EBSD.remove_static_background` (subtract the mean pattern over the mask) and
:meth:`EBSD.remove_dynamic_background` (subtract a Gaussian blur, kikuchipy's defaults).

Written, in one transaction: ``{name}(y, x, quaternion)`` float32 unit quaternions in orix's
convention (a, b, c, d; crystal ← sample as kikuchipy returns them), ``phase_id(y, x)`` int16
(``{name}_phase_id`` when ``name`` is not ``orientation``; −1 not indexed or outside the mask),
the quality maps, all NaN outside the mask. The phases (id, name, point group, space group,
lattice a, b, c, α, β, γ with its units, atoms, source) are the ``phases`` attr, as orix keeps them; the detector, the method's settings and the
indexing speed are attrs too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.crystals import PhaseSource, resolve_phases
from vaearr.crystals.master_patterns import KIKUCHIPY_PHASES, SHIPPED_PHASES, read_master_pattern, resolve_phase
from vaearr.errors import InputError, StoreError, require
from vaearr.io.detector import DEFAULT_SAMPLE_TILT, store_detector
from vaearr.maps.patterns.background import static_background
from vaearr.maps.index_methods import INDEXERS, Indexer, Setup
from vaearr.maps.options import IndexOptions
from vaearr.maps.indexing.orientations import orientation_maps
from vaearr.progress import bar, format_rate
from vaearr.store import open_store, refuse_inputs, require_whole, write_variables
from vaearr.store.schema import (
    PATTERNS,
    PX,
    PY,
    QUATERNION,
    QUATERNION_COMPONENTS,
    X,
    Y,
    auto_mask,
    mask_said,
    no_variable,
    orientation_map_name,
    phase_id_name,
)
from vaearr.numba_cache import guard_gufunc_cache

#: The indexing methods' names (:data:`~vaearr.maps.index_methods.INDEXERS`).
METHODS = INDEXERS.names()
#: Beam energy (kV) a kinematical master pattern is simulated at when --energy is not given.
DEFAULT_ENERGY = 20.0
__all__ = ["KIKUCHIPY_PHASES", "METHODS", "SHIPPED_PHASES", "IndexResult", "index_store", "load_master_pattern",
           "make_detector", "master_energy"]
#: Patterns per block of rows by default: as many as fill this many bytes as float32 (kikuchipy's
#: working type), e.g. 18 641 patterns of 60 × 60.
BLOCK_BYTES = 256 * 1024**2


@dataclass
class IndexResult:
    """What :func:`index_store` wrote: the variables, their attrs and the speed."""

    name: str
    variables: dict[str, xr.DataArray]
    attrs: dict[str, Any]
    n_patterns: int
    seconds: float
    messages: list[str] = field(default_factory=list)

    @property
    def patterns_per_second(self) -> float:
        return self.n_patterns / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        a = self.attrs
        how = a["method"] + (" + refinement" if a["refine"] else "")
        speed = format_rate(self.n_patterns, self.seconds, "patterns")
        lines = [*self.messages,
                 f"indexed {self.n_patterns} patterns ({how}, phase{'s' if len(a['phases']) > 1 else ''} "
                 f"{', '.join(repr(p['name']) for p in a['phases'])}) in "
                 f"{self.seconds:.1f} s{f' ({speed})' if speed else ''}; "
                 f"{a['n_indexed']} indexed; wrote {', '.join(self.variables)}"]
        return "\n".join(lines)


# -- inputs -------------------------------------------------------------------------------------


def load_master_pattern(phase: str | None, master_pattern: str | os.PathLike | None):
    """One phase's master pattern (square Lambert, both hemispheres) and where it came from.

    ``phase`` is anything ``--phase`` takes (:func:`vaearr.crystals.resolve_phase`; a structure gets
    its kinematical master pattern at 20 kV); ``master_pattern`` an EMsoft master-pattern file.
    """
    if (phase is None) == (master_pattern is None):
        raise InputError(None, "give one of `phase='NAME'` or `master_pattern='FILE'`")
    if master_pattern is not None:
        path = Path(master_pattern)
        return read_master_pattern(path), str(path.resolve())
    src = resolve_phase(phase)
    return src.master_pattern(DEFAULT_ENERGY), src.source


def master_energy(mp, energy: float | None) -> float:
    """The energy (kV) to project at: ``energy``, else the master pattern's highest."""
    if energy is not None:
        return float(energy)
    with contextlib.suppress(Exception):
        return float(mp.axes_manager["energy"].axis[-1])
    return DEFAULT_ENERGY  # a single-energy master pattern is used whatever the number


def phase_sources(phases: Sequence[str], master_pattern: str | os.PathLike | None) -> list[PhaseSource]:
    """The phases ``--phase`` (repeatable) and ``--master-pattern`` name, resolved (one line for a bad one)."""
    if bool(phases) == (master_pattern is not None):
        raise InputError(None, "give one of `phase='NAME'` or `master_pattern='FILE'` (`phase` repeats: one per phase)")
    if master_pattern is not None and not Path(master_pattern).is_file():
        raise InputError(master_pattern, "no such master-pattern file")
    return resolve_phases([*phases, *([str(master_pattern)] if master_pattern is not None else [])])


def masters_and_energies(sources: list[PhaseSource], energy: float | None,
                         needed: bool) -> tuple[list[Any] | None, list[float]]:
    """Each phase's master pattern (when ``needed``) and the energy (kV) its patterns are projected at."""
    if not needed:
        return None, [float(energy or DEFAULT_ENERGY)] * len(sources)
    masters, energies = [], []
    for src in sources:
        e = float(energy or DEFAULT_ENERGY) if src.kinematical else master_energy(src.loaded, energy)
        masters.append(src.master_pattern(e))
        energies.append(e)
    return masters, energies


def make_detector(shape: tuple[int, int], pc: Sequence[float], convention: str, sample_tilt: float,
                  detector_tilt: float, px_size: float | None = None):
    """kikuchipy's detector; its PC is kept in the Bruker convention whatever ``convention`` was given."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    kw = {"px_size": float(px_size)} if px_size else {}
    det = kp.detectors.EBSDDetector(shape=tuple(shape), pc=tuple(pc), convention=convention,
                                    sample_tilt=sample_tilt, tilt=detector_tilt, **kw)
    return det


# -- the work ------------------------------------------------------------------------------------


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _row_blocks(ny: int, nx: int, chunk_rows: int, block_patterns: int) -> list[slice]:
    rows = max(1, block_patterns // max(nx, 1))
    rows = max(chunk_rows, rows // chunk_rows * chunk_rows) if chunk_rows else rows
    return [slice(y0, min(y0 + rows, ny)) for y0 in range(0, ny, rows)]


def _patterns_and_mask(store: Any, ds: xr.Dataset, name: str, method: str, mask: str | None,
                       overwrite: bool) -> tuple[xr.DataArray, str | None, np.ndarray]:
    """The patterns, the mask's name (``auto`` resolved) and its pixels; refuses variables that exist."""
    if PATTERNS not in ds.data_vars:
        raise StoreError(store, no_variable(PATTERNS, ds.data_vars, kind="pattern variable"))
    pat = ds[PATTERNS]
    if tuple(pat.dims) != (Y, X, PY, PX):
        raise StoreError(store, f"'{PATTERNS}' has dims {pat.dims}, not (y, x, py, px)")
    names = [name, phase_id_name(name), orientation_map_name(name, "score")]
    names += [orientation_map_name(name, k) for k in INDEXERS[method].extra_maps]
    refuse_inputs(ds, names, store)
    clash = [v for v in names if v in ds.variables]
    if clash and not overwrite:
        raise StoreError(store, f"variable(s) {clash} exist; pass `overwrite=True` to replace them")
    mask = auto_mask(ds.data_vars, mask)
    require_whole(ds, [PATTERNS, mask], store)  # before any work: no orientations from damaged patterns
    if mask is not None:
        if mask not in ds.data_vars:
            raise StoreError(store, f"{no_variable(mask, ds.data_vars, kind='mask variable')} (use `mask='none'` for "
                                    "every pixel)")
        if ds[mask].dtype != bool or set(ds[mask].dims) != {Y, X}:
            raise StoreError(store, f"mask '{mask}' must be a bool (y, x) variable")
        m = np.asarray(ds[mask].transpose(Y, X).values, bool)
    else:
        m = np.ones((ds.sizes[Y], ds.sizes[X]), bool)
    if not m.any():
        raise StoreError(store, f"mask '{mask}' selects no pixel")
    return pat, mask, m


def _index_blocks(ix: Indexer, pat: xr.DataArray, m: np.ndarray, block_patterns: int, *, desc: str,
                  progress: bool) -> dict[str, np.ndarray]:
    """Index the masked patterns one block of whole chunk rows at a time: every map over the grid (NaN / −1 outside)."""
    ny, nx = m.shape
    maps = {"quaternion": np.full((ny, nx, 4), np.nan, np.float32), "phase_id": np.full((ny, nx), -1, np.int16),
            "score": np.full((ny, nx), np.nan, np.float32),
            **{k: np.full((ny, nx), np.nan, np.float32) for k in ix.method.extra_maps}}
    chunk_rows = (pat.chunks[0][0] if pat.chunks else 0) or 0
    with (bar(total=int(m.sum()), desc=desc, unit="pattern") if progress else contextlib.nullcontext(_NoBar())) as pbar:
        for rows in _row_blocks(ny, nx, int(chunk_rows), int(block_patterns)):
            sel = m[rows]
            if not sel.any():
                continue
            res = ix.run(np.asarray(pat.isel({Y: rows}).values)[sel])
            for key, grid in maps.items():
                grid[rows][sel] = res[key]
            pbar.update(int(sel.sum()))
    return maps


def _variables(name: str, maps: dict[str, np.ndarray], method: str, refine: bool, attrs: dict[str, Any],
               phases: list[dict], coords: dict) -> dict[str, xr.DataArray]:
    """The orientation, phase id and quality variables."""
    how = INDEXERS[method]
    score_kind = "NCC of the refined solution" if refine else how.score_kind
    variables = {
        name: xr.DataArray(maps["quaternion"], dims=(Y, X, QUATERNION),
                           coords={**coords, QUATERNION: list(QUATERNION_COMPONENTS)}, attrs=attrs),
        phase_id_name(name): xr.DataArray(maps["phase_id"], dims=(Y, X), coords=coords,
                                          attrs={"phases": phases, "nodata": -1, "orientation": name}),
        orientation_map_name(name, "score"): xr.DataArray(
            maps["score"], dims=(Y, X), coords=coords,
            attrs={"kind": score_kind, "orientation": name,
                   "orix_property": "scores" if refine else how.score_property}),
    }
    for key, kind in how.extra_maps.items():
        variables[orientation_map_name(name, key)] = xr.DataArray(
            maps[key], dims=(Y, X), coords=coords, attrs={"kind": kind, "orientation": name})
    return variables


def index_store(store: str | os.PathLike, options: IndexOptions | None = None, /, **fields: Any) -> IndexResult:
    """Index the store's patterns and write the orientations (see the module docstring).

    Parameters
    ----------
    store
        An EBSD map store with ``patterns(y, x, py, px)``.
    options, **fields
        An :class:`~vaearr.maps.options.IndexOptions`, or its fields (``store`` aside):

    phase, master_pattern
        The phases: ``phase`` one or several of what :func:`vaearr.crystals.resolve_phase` takes
        (``fcc``, ``bcc``, ``hcp``, ``ni``, a CIF file, ``NAME:SG:LATTICE:ATOMS``…; ``NAME=…`` names
        one); or an EMsoft master-pattern file.
    pc, pc_convention, px_size
        Projection centre (X, Y, Z) in ``pc_convention`` (kikuchipy's: ``bruker`` default,
        ``tsl``, ``oxford``, ``emsoft`` with the detector's ``px_size`` in µm).
    sample_tilt, detector_tilt
        Degrees (kikuchipy's ``sample_tilt`` and ``tilt``).
    method, refine, resolution, energy
        A name in :data:`~vaearr.maps.index_methods.INDEXERS` (``hough`` or ``dictionary``); refine
        with the master pattern; the dictionary's sampling (degrees); the master pattern's
        energy (kV; default its highest).
    mask
        Bool (y, x) variable; ``"auto"``: ``roi`` when the store has one, else every pixel;
        None: every pixel.
    name
        The orientation variable; the quality maps are ``{name}_score`` (and for Hough ``{name}_bands``,
        ``{name}_ci``).
    block_patterns
        Patterns per block of rows read and indexed at once (rounded to whole chunks); default
        :data:`BLOCK_BYTES` of float32 patterns.

    Raises
    ------
    InputError
        Bad phase (unknown, a CIF that does not parse, two of one name), PC, tilt, method,
        resolution or name; a phase PyEBSDIndex cannot index.
    StoreError
        No patterns or mask in the store, an empty mask, a variable that exists without ``overwrite``.
    """
    if options is not None and fields:
        raise TypeError("give an IndexOptions or its fields, not both")
    o = options if options is not None else IndexOptions(store=os.fspath(store), **fields)
    # every check first: bad input leaves the store as it was, before any slow work
    name, pc, sample_tilt, detector_tilt = o.check()
    method, refine, resolution = o.method, o.refine, o.resolution
    pc_convention, px_size, energy, block_patterns = o.pc_convention, o.px_size, o.energy, o.block_patterns
    ds = open_store(store)
    pat, mask, m = _patterns_and_mask(store, ds, name, method, o.mask, o.overwrite)
    kept = None
    if pc is None or sample_tilt is None:  # the store's (vaearr.io.detector)
        kept = store_detector(ds, default=False)
        if pc is None and kept is None:
            raise StoreError(store, "the store keeps no projection centre: give `pc='X,Y,Z'` (or ingest the patterns "
                                    "with it)")
        if pc is None and kept is not None:
            pc, pc_convention = kept.pc, "bruker"
        sample_tilt = sample_tilt if sample_tilt is not None else (kept.sample_tilt if kept else DEFAULT_SAMPLE_TILT)
    sources = phase_sources(o.phases(), o.master_pattern)
    masters, energies = masters_and_energies(sources, energy, refine or INDEXERS[method].needs_master_pattern)
    shape = (int(pat.sizes[PY]), int(pat.sizes[PX]))
    if block_patterns is None:
        block_patterns = max(1, BLOCK_BYTES // (4 * shape[0] * shape[1]))
    elif int(block_patterns) < 1:
        raise InputError(None, f"block_patterns must be >= 1, got {block_patterns}")
    detector = make_detector(shape, pc, pc_convention, sample_tilt, detector_tilt, px_size)

    t0 = time.perf_counter()
    bg_mean = static_background(store, PATTERNS, (Y, X), mask, feature_dims=(PY, PX))
    info = np.iinfo(pat.dtype) if pat.dtype.kind in "iu" else None
    bg = (np.clip(np.rint(bg_mean), info.min, info.max) if info else bg_mean).astype(pat.dtype)
    ix = Indexer(method, refine, Setup(detector, sources, masters, energies, float(resolution), o.dictionary_memory), bg)
    maps = _index_blocks(ix, pat, m, block_patterns, desc=f"index ({method}{' + refine' if refine else ''})",
                         progress=o.progress)
    seconds = time.perf_counter() - t0

    n_total = int(m.sum())
    phases = [src.record(i) for i, src in enumerate(sources)]
    det_attrs = {"pc_bruker": [float(v) for v in np.ravel(detector.pc_bruker())[:3]],
                 "pc_source": "given" if o.pc is not None else f"the store ({kept.source if kept else ''})",
                 "pc_given": list(pc), "pc_convention": pc_convention, "sample_tilt": sample_tilt,
                 "detector_tilt": detector_tilt, "shape": list(shape),
                 **({"px_size_um": float(px_size)} if px_size else {})}
    attrs: dict[str, Any] = {
        "method": method, "refine": bool(refine), "phases": phases,
        "master_pattern": [src.source for src in sources] if masters is not None else None,
        "energy_kv": energies[0] if len(set(energies)) == 1 else energies, "detector": det_attrs,
        "background": "kikuchipy remove_static_background(subtract, the mean pattern over the mask) then "
                      "remove_dynamic_background(subtract, Gaussian std = width/8)",
        "n_patterns": n_total, "n_indexed": int((maps["phase_id"] >= 0).sum()), "seconds": round(seconds, 3),
        "patterns_per_second": round(n_total / seconds, 3) if seconds > 0 else None,
        "quaternion_convention": "orix (a, b, c, d): crystal <- sample, as kikuchipy returns them",
        **ix.info,
    }
    variables = _variables(name, maps, method, refine, attrs, phases, {Y: ds[Y].values, X: ds[X].values})
    config = {"phase": list(o.phases()), "master_pattern": None if o.master_pattern is None else str(o.master_pattern),
              "pc": list(pc), "pc_convention": pc_convention, "px_size": px_size, "sample_tilt": sample_tilt,
              "detector_tilt": detector_tilt, "method": method, "refine": bool(refine),
              "resolution": float(resolution) if ix.method.uses_resolution else None, "energy": energies[0],
              "mask": mask, "name": name, "block_patterns": int(block_patterns)}
    counts = np.bincount(maps["phase_id"][maps["phase_id"] >= 0].astype(int), minlength=len(sources))
    messages = [f"mask: '{mask}'" if mask else mask_said(ds.data_vars, o.mask) or "mask: none (every pixel)",
                *(f"phase {i} '{src.name}' ({src.phase.point_group.name}) from {src.source}"
                  + (f", {energies[i]:g} kV" if masters is not None else "")
                  + (f": {int(counts[i])} patterns ({100 * counts[i] / max(n_total, 1):.1f} %)" if len(sources) > 1 else "")
                  for i, src in enumerate(sources)),
                f"PC (Bruker) {', '.join(f'{v:.4f}' for v in det_attrs['pc_bruker'])}", *ix.method.messages(ix.info)]
    # NaN / −1 outside the mask are set above (−1 also marks unindexed pixels, so no store fill).
    # The maps derived from the orientations go in the same transaction, with their defaults
    # (re-made with other settings by ``vaearr orientation-maps``).
    maps = orientation_maps({**variables, **({mask: ds[mask]} if mask else {})}, name=name, mask=mask)
    messages.append(maps.summary())
    sources = [PATTERNS, *([mask] if mask else [])]
    write_variables(store, {**variables, **maps.variables},
                    source={**{k: sources for k in variables}, **{k: list(maps.source) for k in maps.variables}},
                    config={**config, "maps": maps.config}, attrs={"in_mask": mask or "none"}, overwrite=o.overwrite)
    return IndexResult(name, variables, attrs, n_total, seconds, messages)
