"""Phases by what a user types (``--phase``) and their master patterns: kikuchipy's, EMsoft files, or kinematical from a structure (cached).

:func:`resolve_phase` turns one ``--phase`` value into a :class:`PhaseSource`:

- ``fcc``, ``bcc``, ``hcp``: the built-in structures (:data:`~vaearr.crystals.structures.BUILTIN`);
- a kikuchipy master-pattern name: ``ni`` ships with kikuchipy; ``al``, ``si``, ``austenite``,
  ``ferrite``, … are downloaded by kikuchipy where the network allows, then read from its cache;
- a CIF file (``*.cif``) or an EMsoft master-pattern file (any other file);
- ``NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS`` (:func:`~vaearr.crystals.structures.parse_structure`);
- any of them as ``NAME=…`` to name the phase (two phases must not share a name).

A structure's master pattern is kinematical (:func:`kinematical_master_pattern`): its reflectors
down to ``min_dspacing`` (diffsims' :class:`~diffsims.crystallography.ReciprocalLatticeVector`),
their structure factors and Bragg angles at the beam energy, then kikuchipy's
:class:`~kikuchipy.simulations.KikuchiPatternSimulator` on both hemispheres, turned into the
square Lambert projection indexing takes. It is computed once per structure, energy and size and
kept in :func:`cache_dir` (``$VAEARR_CACHE/master_patterns``, default
``~/.cache/vaearr/master_patterns``) as ``{name}-{key}.npz``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from types import MappingProxyType

import h5py
import numpy as np
from PIL import Image

from vaearr.crystals.structures import (  # noqa: F401 - MIN_DSPACING: its users' name
    ANGSTROM,
    BUILTIN,
    MIN_DSPACING,
    check_phase_name,
    crystal_phase,
    parse_structure,
    phase_record,
    read_cif,
    record_phase,
)
from vaearr.crystals.options import MasterPatternOptions
from vaearr.errors import InputError, require, unreadable
from vaearr.numba_cache import guard_gufunc_cache
# moved to vaearr.crystals.kinematical; importable from here too
from vaearr.crystals.kinematical import (  # noqa: F401
    HALF_SIZE, MIN_STRUCTURE_FACTOR, KINEMATICAL_VERSION, one_numba_thread, quiet, cache_dir, reflectors,
    file_slug, cached_path, kinematical_master_pattern,
)

#: Master patterns kikuchipy ships inside its package (no network): phase name → loader.
SHIPPED_PHASES = MappingProxyType({"ni": "nickel_ebsd_master_pattern_small"})
#: Master patterns kikuchipy downloads from Zenodo (``kikuchipy.data.ebsd_master_pattern``).
KIKUCHIPY_PHASES = ("ni", "al", "si", "austenite", "ferrite", "steel_chi", "steel_sigma", "steel_sigma2",
                    "steel_r", "steel_pi", "steel_cr2n", "al6mn", "alpha_almnsi")


# --------------------------------------------------------------------------------------------
# what --phase names


@dataclass
class PhaseSource:
    """One phase as ``--phase`` gave it: its orix phase, where it came from, and how its master pattern is had.

    Attributes
    ----------
    name
        The phase's name in the store.
    phase
        orix :class:`~orix.crystal_map.Phase` (with structure and space group).
    source
        Where it came from, in words (for attrs and the terminal).
    kind
        ``builtin``, ``structure`` (CIF or text), ``kikuchipy`` or ``emsoft``.
    units
        The lattice's units: Å for structures, nm for EMsoft master patterns.
    """

    name: str
    phase: Any
    source: str
    kind: str
    units: str = ANGSTROM
    loaded: Any = field(default=None, repr=False)
    load: Callable[[], Any] | None = field(default=None, repr=False)

    @property
    def kinematical(self) -> bool:
        """Whether the master pattern is simulated from the structure (not read from a file)."""
        return self.kind in ("builtin", "structure")

    def master_pattern(self, energy_kv: float = 20.0):
        """The master pattern (square Lambert, both hemispheres) named after the phase."""
        if self.kinematical:
            return kinematical_master_pattern(self.phase, energy_kv)
        if self.loaded is None and self.load is not None:
            self.loaded = self.load()
        self.loaded.phase.name = self.name
        return self.loaded

    def record(self, pid: int) -> dict[str, Any]:
        """Its entry in a ``phases`` attr."""
        return phase_record(self.phase, pid, units=self.units, source=self.source)


def _kikuchipy_master_pattern(key: str, label: str):
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    with quiet():
        if key in SHIPPED_PHASES:
            return (getattr(kp.data, SHIPPED_PHASES[key])(projection="lambert", hemisphere="both"),
                    f"kikuchipy.data.{SHIPPED_PHASES[key]}")
        try:
            mp = kp.data.ebsd_master_pattern(key, allow_download=False, projection="lambert", hemisphere="both")
        except Exception:  # noqa: BLE001 - not in the cache: kikuchipy refuses without allow_download
            raise InputError(None, f"phase '{label}': kikuchipy's master pattern is not downloaded (no network "
                                   f"here); run kikuchipy.data.ebsd_master_pattern('{key}', allow_download=True) "
                                   "once, or give a built-in (fcc, bcc, hcp), a CIF file or NAME:SG:LATTICE:ATOMS"
                                   ) from None
    return mp, f"kikuchipy.data.ebsd_master_pattern('{key}')"


#: What ``--phase`` takes, for the line on a file that is none of them.
PHASE_FILES = "a phase file is a CIF (.cif) or an EMsoft master-pattern HDF5 file (EMEBSDmaster's output)"
#: Largest dataset read from an EMsoft master-pattern file (one of 21 energies × 2 hemispheres × 1001² float32 is
#: 170 MB).
MAX_MASTER_PATTERN_BYTES = 2**30


def _check_master_pattern_file(path: Path) -> None:
    """One line for a file that is no HDF5 file, or whose datasets declare more than
    :data:`MAX_MASTER_PATTERN_BYTES` (kikuchipy reads them whole), before kikuchipy opens it."""
    if not h5py.is_hdf5(path):
        raise unreadable(path, "an EBSD master pattern kikuchipy reads (an EMsoft master-pattern .h5)",
                         then=f"{PHASE_FILES}; or give fcc, bcc, hcp, a kikuchipy master pattern name or "
                              "NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS")
    big: list[tuple[str, int]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.size * obj.dtype.itemsize > MAX_MASTER_PATTERN_BYTES:
            big.append((name, int(obj.size * obj.dtype.itemsize)))

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as exc:
        raise InputError(path, f"cannot be read as HDF5 ({exc.strerror or 'truncated or corrupt'})") from None
    if big:
        raise InputError(path, f"its dataset '{big[0][0]}' holds {big[0][1] / 2**30:.3g} GB, more than the "
                               f"{MAX_MASTER_PATTERN_BYTES // 2**30} GB a master pattern is read whole here")


def read_master_pattern(path: str | os.PathLike):
    """An EMsoft master-pattern file as kikuchipy reads it (square Lambert, both hemispheres)."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    path = Path(path)
    if not _is_file(str(path)):
        raise InputError(path, "no such master-pattern file")
    _check_master_pattern_file(path)
    try:
        with quiet():
            mp = kp.load(path, projection="lambert", hemisphere="both")
    except Exception as exc:  # noqa: BLE001 - kikuchipy/rosettasciio raise many kinds on unreadable files
        raise unreadable(path, "an EBSD master pattern kikuchipy reads (an EMsoft master-pattern .h5, EMEBSDmaster's "
                               f"output; {PHASE_FILES})", exc, suffixes=(".h5", ".hdf5")) from None
    if not isinstance(mp, kp.signals.EBSDMasterPattern):
        raise InputError(path, f"is a {type(mp).__name__}, not an EBSD master pattern")
    return mp


def _named(spec: str) -> tuple[str | None, str]:
    """``NAME=SOURCE`` → (NAME, SOURCE); a spec without a name → (None, spec)."""
    head, sep, rest = spec.partition("=")
    if sep and head.strip() and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", head.strip()):
        return head.strip(), rest.strip()
    return None, spec.strip()


def unknown_phase(spec: str) -> InputError:
    """The one line for a ``--phase`` that is none of the kinds."""
    return InputError(None, f"unknown phase '{spec}': give fcc, bcc or hcp (built in), a kikuchipy master "
                            f"pattern name ({', '.join(KIKUCHIPY_PHASES)}; ni works offline), a .cif file, an "
                            "EMsoft master-pattern file, or NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS")


def _is_file(text: str) -> bool:
    """Whether ``text`` names a file (structure text longer than a file name can be is none)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def resolve_phase(spec: str) -> PhaseSource:
    """One ``--phase`` value as a :class:`PhaseSource` (see the module docstring).

    kikuchipy's and EMsoft master patterns are read here (their phase is in them); kinematical
    ones are simulated when first asked for (:meth:`PhaseSource.master_pattern`).

    Raises
    ------
    InputError
        An unknown name, a file that is neither CIF nor master pattern, bad structure text, a
        kikuchipy master pattern that is not downloaded.
    """
    name, what = _named(str(spec))
    key = what.lower()
    if key in BUILTIN:
        c = BUILTIN[key]
        atoms = ", ".join(el for el, _, _ in c.atoms)
        return PhaseSource(name or key, crystal_phase(c, name or key),
                           f"built-in {key} ({atoms}, space group {c.space_group}, a = {c.lattice[0]:g} Å)", "builtin")
    if key in KIKUCHIPY_PHASES:
        mp, source = _kikuchipy_master_pattern(key, what)
        mp.phase.name = name or key
        return PhaseSource(name or key, mp.phase, source, "kikuchipy", "nm, degrees (EMsoft master pattern)", mp)
    if key.endswith(".cif"):
        phase = read_cif(what, name)
        return PhaseSource(phase.name, phase, f"CIF {Path(what).resolve()}", "structure")
    if _is_file(what) or key.endswith((".h5", ".hdf5")):
        mp = read_master_pattern(what)
        label = check_phase_name(name or mp.phase.name or Path(what).stem, what)
        mp.phase.name = label
        return PhaseSource(label, mp.phase, str(Path(what).resolve()), "emsoft", "nm, degrees (EMsoft master pattern)", mp)
    if ":" in what:
        c = parse_structure(what)
        return PhaseSource(name or c.name, crystal_phase(c, name or c.name), f"structure {what}", "structure")
    raise unknown_phase(what)


def resolve_phases(specs: Sequence[str]) -> list[PhaseSource]:
    """Every ``--phase`` value resolved; one line for two phases of one name."""
    out = [resolve_phase(s) for s in specs]
    seen: dict[str, str] = {}
    for spec, ps in zip(specs, out):
        if ps.name.lower() in seen:
            raise InputError(None, f"two phases named '{ps.name}' ('{seen[ps.name.lower()]}' and '{spec}'); "
                                   f"name one with `phase` NAME=…")
        seen[ps.name.lower()] = spec
    return out


def record_source(record: dict[str, Any]) -> PhaseSource:
    """A phase record (a store's ``phases`` attr entry) as a structure :class:`PhaseSource`."""
    phase = record_phase(record)
    return PhaseSource(str(record["name"]), phase, str(record.get("source") or "phase record"), "structure",
                       str(record.get("lattice_units") or ANGSTROM))


def save_master_pattern(mp, folder: str | os.PathLike, name: str | None = None) -> dict[str, Path]:
    """A master pattern written for inspection: ``{name}_master_pattern.png`` (both hemispheres of the square
    Lambert projection side by side, upper left, grey levels scaled to its range) and ``.npz`` (the arrays,
    ``lambert`` (2, n, n) float32 upper then lower, and the phase record)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # the name as a file name of the folder's own, whatever it holds ('/', '..', a line break): never a path elsewhere
    name = file_slug(name or str(mp.phase.name))
    data = np.asarray(mp.data, np.float32)
    data = data.reshape(-1, *data.shape[-2:])[-2:]  # the last energy's two hemispheres
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    grey = np.rint(255 * (data - lo) / ((hi - lo) or 1.0)).astype(np.uint8)
    gap = np.full((grey.shape[1], 4), 255, np.uint8)
    files = {"png": folder / f"{name}_master_pattern.png", "npz": folder / f"{name}_master_pattern.npz"}
    Image.fromarray(np.hstack([grey[0], gap, grey[-1]])).save(files["png"])
    np.savez_compressed(files["npz"], lambert=data, record=json.dumps(phase_record(mp.phase)))
    return files


@dataclass
class MasterPatternResult:
    """What ``vaearr master-pattern`` made: the phase's source, its master pattern, and the files written."""

    source: PhaseSource
    master_pattern: Any
    energy: float
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        """The lines the command prints."""
        src, mp = self.source, self.master_pattern
        lines = [f"phase '{src.name}' ({src.phase.point_group.name}, space group "
                 f"{src.phase.space_group.number if src.phase.space_group else '?'}) from {src.source}",
                 f"master pattern: {' × '.join(map(str, mp.data.shape))}, square Lambert, both hemispheres"]
        if src.kinematical:
            lines.append(f"kinematical at {self.energy:g} kV, cached in {cached_path(src.phase, self.energy)}")
        return "\n".join([*lines, *(f"wrote {p}" for p in self.files.values())])


def master_pattern_of(options: MasterPatternOptions) -> MasterPatternResult:
    """``vaearr master-pattern`` and :func:`vaearr.master_pattern`: the master pattern of ``options.phase`` at
    ``options.energy`` kV (kinematical, computed once and cached, or read), written to ``options.out`` when given."""
    src = resolve_phase(options.phase)
    mp = src.master_pattern(options.energy)
    files = save_master_pattern(mp, options.out, src.name) if options.out is not None else {}
    return MasterPatternResult(src, mp, options.energy, files)
