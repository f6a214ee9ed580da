"""Kinematical master patterns simulated from a crystal structure (kikuchipy's simulator), cached on disk by what made
them; :mod:`vaearr.crystals.master_patterns` gives them too."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vaearr.crystals.structures import MIN_DSPACING, check_reflectors, phase_record, structure_factors
from vaearr.errors import require
from vaearr.numba_cache import guard_gufunc_cache


#: Kinematical master patterns: half size (the Lambert square is 2·half + 1 wide); the smallest d (Å) is
#: :data:`~vaearr.crystals.structures.MIN_DSPACING`.
HALF_SIZE = 200
#: Reflectors weaker than this fraction of the strongest are left out (forbidden ones are 0).
MIN_STRUCTURE_FACTOR = 1e-3
#: Bump when the kinematical simulation changes: cached master patterns are then made again. 2: one numba thread
#: (:func:`one_numba_thread`); the patterns cached before held the race's lost updates.
KINEMATICAL_VERSION = 2


@contextlib.contextmanager
def one_numba_thread() -> Iterator[None]:
    """numba's parallel loops on one thread inside the block (the number of threads restored after).

    kikuchipy's kinematical master pattern (``kikuchi_pattern_simulator.get_pattern``, kikuchipy 0.13.1) is a numba
    ``prange`` over the reflectors in which every thread adds its band to the same output pixels
    (``pattern[j] = pattern[j] + intensity[i]``): a data race, so an update is now and then lost and a master pattern
    depends on the threads' timing (found 2026-11-27: the same phase and floor, computed after another phase in one
    process, differed by up to 2.5 in band intensities of about 11; the lattice fit and the simulated benchmark maps
    then differed from run to run). On one thread the loop is the serial sum it was meant to be.
    """
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """kikuchipy's, diffsims' and PyEBSDIndex's prints, bars and warnings kept from the terminal."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


def cache_dir() -> Path:
    """Where kinematical master patterns are kept: ``$VAEARR_CACHE/master_patterns``, default ``~/.cache/vaearr/...``."""
    root = os.environ.get("VAEARR_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "vaearr") / "master_patterns"


# --------------------------------------------------------------------------------------------
# kinematical master patterns


def reflectors(phase, energy_kv: float, min_dspacing: float = MIN_DSPACING):
    """The phase's reflectors down to ``min_dspacing`` Å with their structure factors and Bragg angles.

    The structure factors are :func:`~vaearr.crystals.structures.structure_factors` (diffsims'
    own are wrong for hexagonal cells); forbidden and negligible ones are left out.
    """
    with contextlib.suppress(AttributeError, TypeError):  # a phase without a lattice: diffsims says so below
        # before diffsims builds its box of Miller indices: a huge cell would take every byte of memory
        check_reflectors(str(phase.name), phase.structure.lattice.abcABG(), max(len(phase.structure), 1),
                         min_dspacing=min_dspacing)
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    crystallography = require("diffsims.crystallography", "ebsd")
    phase = phase.deepcopy()  # diffsims expands the asymmetric unit of the phase it is given, in place
    with quiet():
        ref = crystallography.ReciprocalLatticeVector.from_min_dspacing(phase, min_dspacing)
        ref.sanitise_phase()
    f = structure_factors(phase, ref.hkl)
    ref = ref[f > MIN_STRUCTURE_FACTOR * f.max()]
    f = f[f > MIN_STRUCTURE_FACTOR * f.max()]
    with quiet():
        ref.calculate_structure_factor()  # fills diffsims' own array, replaced below
        ref.calculate_theta(float(energy_kv) * 1e3)
    # diffsims 0.7 has no setter for the structure factors; kikuchipy's simulator reads this array
    ref._structure_factor = np.asarray(f, np.complex128).reshape(ref.shape)  # noqa: SLF001 - no public setter (above)
    return ref


def _cache_key(phase, energy_kv: float, half_size: int, min_dspacing: float) -> str:
    rec = {k: v for k, v in phase_record(phase).items() if k not in ("id", "source")}
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    text = json.dumps({"phase": rec, "energy_kv": float(energy_kv), "half_size": int(half_size),
                       "min_dspacing": float(min_dspacing), "version": KINEMATICAL_VERSION,
                       "kikuchipy": kp.__version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_slug(name: str, length: int = 40) -> str:
    """A phase's name as part of a file name in one folder: ``A-Z a-z 0-9 _ . -`` (others ``_``), no leading dot.

    Examples
    --------
    >>> file_slug("/tmp/evil"), file_slug("Iron fcc"), file_slug(".."), file_slug("")
    ('_tmp_evil', 'Iron_fcc', '_.', 'phase')
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", str(name) or "phase")[:length]
    return "_" + slug[1:] if slug.startswith(".") else slug


def cached_path(phase, energy_kv: float = 20.0, half_size: int = HALF_SIZE, min_dspacing: float = MIN_DSPACING) -> Path:
    """The file a phase's kinematical master pattern is kept in (whether or not it exists yet)."""
    return cache_dir() / f"{file_slug(str(phase.name))}-{_cache_key(phase, energy_kv, half_size, min_dspacing)}.npz"


def _as_master_pattern(data: np.ndarray, phase):
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    return kp.signals.EBSDMasterPattern(np.asarray(data, np.float32), projection="lambert", hemisphere="both",
                                        phase=phase.deepcopy())


def kinematical_master_pattern(phase, energy_kv: float = 20.0, *, half_size: int = HALF_SIZE,
                               min_dspacing: float = MIN_DSPACING, cache: bool = True):
    """The phase's kinematical master pattern at ``energy_kv``: square Lambert, both hemispheres.

    kikuchipy's :meth:`KikuchiPatternSimulator.calculate_master_pattern` (band intensities ∝ |F|)
    of :func:`reflectors`, then :meth:`EBSDMasterPattern.as_lambert`. With ``cache`` it is read
    from, or written to, :func:`cached_path` (written beside it and renamed: whole or not at all).

    Examples
    --------
    >>> from vaearr.crystals import BUILTIN, crystal_phase, kinematical_master_pattern
    >>> mp = kinematical_master_pattern(crystal_phase(BUILTIN["bcc"]), 20)  # doctest: +SKIP
    >>> mp.data.shape  # doctest: +SKIP
    (2, 401, 401)
    """
    path = cached_path(phase, energy_kv, half_size, min_dspacing)
    if cache and path.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError):  # an unreadable cache file is made again
            with np.load(path) as f:
                return _as_master_pattern(f["lambert"], phase)
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    ref = reflectors(phase, energy_kv, min_dspacing)
    with quiet(), one_numba_thread():  # kikuchipy's loop races on several threads (one_numba_thread)
        mp = kp.simulations.KikuchiPatternSimulator(ref).calculate_master_pattern(
            half_size=int(half_size), hemisphere="both", scaling="linear")
        lambert = np.asarray(mp.as_lambert(show_progressbar=False).data, np.float32)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.npz")
        try:
            np.savez_compressed(tmp, lambert=lambert, record=json.dumps(phase_record(phase)),
                                energy_kv=float(energy_kv))
            os.replace(tmp, path)
        except OSError:  # a cache that cannot be written costs time, not the result
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return _as_master_pattern(lambert, phase)
