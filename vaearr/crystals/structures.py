"""Crystal structures as orix phases: built-in FCC/BCC/HCP, ``NAME:SPACEGROUP:LATTICE:ATOMS`` text, CIF files, and the phase records a store keeps.

A phase's structure is built in orix's crystal frame (x ∥ a, z ∥ c*) from the start: orix
(0.15) re-expresses a structure given in diffpy's default frame in its own by keeping the atoms'
Cartesian positions, which moves them within the cell of a hexagonal or trigonal crystal (Ti at
(1/3, 2/3, 1/4) would land at (0.577, 0.577, 1/4)); given the aligned lattice, orix changes
nothing and the fractional positions stay those of the International Tables.

A phase record (:func:`phase_record`, the layout of a ``phases`` attr) is what orix keeps of a
phase: id, name, space group, point group, lattice ``[a, b, c, α, β, γ]`` with its units, and the
atoms (element, fractional position, occupancy); :func:`record_phase` is its inverse.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from types import MappingProxyType

import numpy as np

from vaearr.errors import InputError, require
from vaearr.numba_cache import guard_gufunc_cache
# moved to vaearr.crystals.limits; importable from here too
from vaearr.crystals.limits import (  # noqa: F401
    MIN_DSPACING, MIN_LATTICE_LENGTH, MAX_REFLECTORS, MAX_HKL_BOX, MAX_CELL_ATOMS, MAX_PAIRS, SF_BLOCK,
    MAX_CIF_BYTES, UNSAFE_NAME, MAX_NAME_LENGTH, check_phase_name, header_name, check_reflectors,
)

#: Ångström: the unit of structures given here (CIF, text, built-ins); EMsoft master patterns give nm.
ANGSTROM = "Å, degrees"
#: diffsims' atomic scattering factors used (International Tables Vol. C 4.3.2.3, for electrons).
SCATTERING = "xtables"


@dataclass(frozen=True)
class Crystal:
    """A crystal structure in numbers: space group, lattice (Å, degrees) and atoms.

    Attributes
    ----------
    name
        The phase's name.
    space_group
        International Tables number, 1–230.
    lattice
        ``(a, b, c, α, β, γ)`` in Å and degrees.
    atoms
        ``(element, (x, y, z), occupancy)`` per site of the asymmetric unit (fractional positions).
    """

    name: str
    space_group: int
    lattice: tuple[float, float, float, float, float, float]
    atoms: tuple[tuple[str, tuple[float, float, float], float], ...]


#: The built-in phases, by name: FCC as Ni, BCC as α-Fe, HCP as α-Ti (room-temperature lattices).
BUILTIN = MappingProxyType({
    "fcc": Crystal("fcc", 225, (3.524, 3.524, 3.524, 90.0, 90.0, 90.0), (("Ni", (0.0, 0.0, 0.0), 1.0),)),
    "bcc": Crystal("bcc", 229, (2.8665, 2.8665, 2.8665, 90.0, 90.0, 90.0), (("Fe", (0.0, 0.0, 0.0), 1.0),)),
    "hcp": Crystal("hcp", 194, (2.9508, 2.9508, 4.6855, 90.0, 90.0, 120.0),
                                    (("Ti", (1 / 3, 2 / 3, 0.25), 1.0),)),
})
#: Space groups of the hexagonal and trigonal systems (two lattice numbers mean a and c, γ = 120°).
HEXAGONAL = range(143, 195)
#: What ``NAME:SPACEGROUP:LATTICE:ATOMS`` looks like, for the error lines.
STRUCTURE_TEXT = "NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS (ATOMS like Fe or Ti@0.3333,0.6667,0.25;Al@0,0,0@0.5)"


def _symmetry_operations(space_group: int) -> int:
    """How many operations space group ``space_group`` has (diffpy's tables)."""
    spacegroups = require("diffpy.structure.spacegroups", "ebsd")
    return len(spacegroups.GetSpaceGroup(int(space_group)).symop_list)


def _elements() -> dict[str, str]:
    """Element symbols diffsims has scattering factors for, lower case → as written."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    params = require("diffsims.utils.atomic_scattering_params", "ebsd")
    return {k.lower(): k for k in params.ATOMIC_SCATTERING_PARAMS}


def check_crystal(c: Crystal, where: Any = None, *, expanded: bool = False) -> Crystal:
    """``c`` when its numbers make a crystal whose master pattern can be simulated here; one :class:`InputError` line
    naming what does not (a bad number, a cell too large or too small: :func:`check_reflectors`).

    ``expanded``: its atoms are the whole unit cell (a CIF, as diffpy reads it), not the asymmetric unit."""
    check_phase_name(c.name, where)
    if not (1 <= int(c.space_group) <= 230):
        raise InputError(where, f"phase '{c.name}': space group must be 1–230, got {c.space_group}")
    a, b, cc, al, be, ga = c.lattice
    if not all(math.isfinite(v) and v > 0 for v in (a, b, cc)):
        raise InputError(where, f"phase '{c.name}': lattice lengths must be > 0 Å, got {a:g}, {b:g}, {cc:g}")
    if not all(math.isfinite(v) and 0 < v < 180 for v in (al, be, ga)):
        raise InputError(where, f"phase '{c.name}': lattice angles must be in (0, 180)°, got {al:g}, {be:g}, {ga:g}")
    if min(a, b, cc) < MIN_LATTICE_LENGTH:
        raise InputError(where, f"phase '{c.name}': lattice lengths must be at least {MIN_LATTICE_LENGTH:g} Å (no "
                                f"crystal's cell is smaller), got {a:g}, {b:g}, {cc:g}")
    if not c.atoms:
        raise InputError(where, f"phase '{c.name}' has no atoms (its structure factors need them)")
    cell_atoms = len(c.atoms) * (1 if expanded else _symmetry_operations(c.space_group))
    if cell_atoms > MAX_CELL_ATOMS:
        raise InputError(where, f"phase '{c.name}': {len(c.atoms)} sites make up to {cell_atoms} atoms in the unit cell, "
                                f"more than the {MAX_CELL_ATOMS} a phase may have here")
    check_reflectors(c.name, c.lattice, cell_atoms, where=where)
    known = _elements()
    for el, xyz, occ in c.atoms:
        if el.lower() not in known:
            raise InputError(where, f"phase '{c.name}': unknown element '{el}'")
        if not all(math.isfinite(v) for v in xyz) or not (0 < occ <= 1):
            raise InputError(where, f"phase '{c.name}': atom {el} at {xyz} occupancy {occ:g} is not a site")
    return c


def _lattice(numbers: list[float], space_group: int, text: str) -> tuple[float, ...]:
    n = len(numbers)
    if n == 1:
        return (numbers[0],) * 3 + (90.0,) * 3
    if n == 2:
        return (numbers[0], numbers[0], numbers[1], 90.0, 90.0, 120.0 if space_group in HEXAGONAL else 90.0)
    if n == 3:
        return (*numbers, 90.0, 90.0, 90.0)
    if n == 6:
        return tuple(numbers)
    raise InputError(None, f"'{text}': the lattice takes 1 (cubic a), 2 (a, c), 3 (a, b, c) or 6 numbers, got {n}")


def _atom(item: str, text: str) -> tuple[str, tuple[float, float, float], float]:
    parts = item.split("@")
    try:
        xyz = tuple(float(v) for v in parts[1].split(",")) if len(parts) > 1 else (0.0, 0.0, 0.0)
        occ = float(parts[2]) if len(parts) > 2 else 1.0
    except ValueError:
        raise InputError(None, f"'{text}': atom '{item}' is not ELEMENT[@x,y,z[@occupancy]]") from None
    if len(xyz) != 3 or len(parts) > 3 or not parts[0].strip():
        raise InputError(None, f"'{text}': atom '{item}' is not ELEMENT[@x,y,z[@occupancy]]")
    return parts[0].strip(), xyz, occ


def parse_structure(text: str) -> Crystal:
    """``NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS`` as a :class:`Crystal` (lattice in Å, degrees).

    ATOMS are sites of the asymmetric unit separated by ``;`` or ``+``: ``Fe`` (at the origin),
    ``Ti@0.3333,0.6667,0.25``, or with an occupancy ``Al@0,0,0@0.5``. One lattice number is a cubic
    a; two are a and c (γ = 120° in a hexagonal or trigonal space group, else 90°); three a, b, c.

    Examples
    --------
    >>> parse_structure("ferrite:229:2.8665:Fe")
    Crystal(name='ferrite', space_group=229, lattice=(2.8665, 2.8665, 2.8665, 90.0, 90.0, 90.0), atoms=(('Fe', (0.0, 0.0, 0.0), 1.0),))
    >>> parse_structure("ti:194:2.95,4.69:Ti@0.3333,0.6667,0.25").lattice
    (2.95, 2.95, 4.69, 90.0, 90.0, 120.0)
    """
    parts = text.split(":")
    if len(parts) != 4 or not parts[0].strip():
        raise InputError(None, f"'{text}' is not a phase name, a file or {STRUCTURE_TEXT}")
    name, sg_text, lat_text, atoms_text = (p.strip() for p in parts)
    try:
        space_group = int(sg_text)
        numbers = [float(v) for v in lat_text.split(",")]
    except ValueError:
        raise InputError(None, f"'{text}': the space group is a number 1–230 and the lattice numbers "
                               f"separated by commas ({STRUCTURE_TEXT})") from None
    atoms = tuple(_atom(a, text) for a in re.split(r"[;+]", atoms_text) if a.strip())
    known = _elements()
    atoms = tuple((known.get(el.lower(), el), xyz, occ) for el, xyz, occ in atoms)
    try:
        return check_crystal(Crystal(name, space_group, _lattice(numbers, space_group, text), atoms))
    except InputError as exc:
        raise InputError(None, f"'{text}': {exc.problem}") from None


def aligned_lattice(abcabg):
    """diffpy's lattice of ``(a, b, c, α, β, γ)`` in orix's crystal frame (x ∥ a, z ∥ c*)."""
    diffpy = require("diffpy.structure", "ebsd")
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    c = require("orix.crystal_map", "ebsd")
    base = c.Phase(structure=diffpy.Structure(lattice=diffpy.Lattice(*map(float, abcabg)))).structure.lattice.base
    return diffpy.Lattice(base=np.asarray(base, np.float64))


def make_phase(name: str, space_group: int | None, lattice, atoms, *, point_group: str | None = None):
    """An orix :class:`~orix.crystal_map.Phase` with its structure in orix's frame (see the module docstring).

    ``atoms``: ``(element, (x, y, z), occupancy)`` with fractional positions; ``lattice`` the six numbers.
    """
    diffpy = require("diffpy.structure", "ebsd")
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    cm = require("orix.crystal_map", "ebsd")
    lat = aligned_lattice(lattice)
    structure = diffpy.Structure(lattice=lat, title=str(name))
    for el, xyz, occ in atoms:
        structure.addNewAtom(str(el), xyz=[float(v) for v in xyz], occupancy=float(occ))
    if space_group is not None:
        return cm.Phase(name=str(name), space_group=int(space_group), structure=structure)
    return cm.Phase(name=str(name), point_group=point_group, structure=structure)


def crystal_phase(c: Crystal, name: str | None = None):
    """The orix phase of a :class:`Crystal`."""
    return make_phase(name or c.name, c.space_group, c.lattice, c.atoms)


def read_cif(path: str | os.PathLike, name: str | None = None):
    """A CIF file's phase (diffpy's CIF parser, as orix's ``Phase.from_cif``), built in orix's frame.

    Raises
    ------
    InputError
        No such file, a file the parser refuses, no space group or no atoms in it.
    """
    path = Path(path)
    try:
        size = path.stat().st_size if path.is_file() else None
    except OSError as exc:  # a name too long to be a file's
        raise InputError(path, f"cannot be read ({exc.strerror})") from None
    if size is None:
        raise InputError(path, "no such CIF file")
    if size > MAX_CIF_BYTES:  # before the parser, which takes seconds a MB and more memory
        raise InputError(path, f"is {size / 2**20:.3g} MB; a phase's CIF is a few kB and vaearr reads up to "
                               f"{MAX_CIF_BYTES // 2**20} MB (keep one data block of the structure; drop a reflection list)")
    check_phase_name(name or path.stem, path)
    parser_class: Any = require("diffpy.structure.parsers.p_cif", "ebsd").P_cif

    class Bounded(parser_class):
        """diffpy's CIF parser that refuses to expand more than :data:`MAX_CELL_ATOMS` atoms into the cell."""

        def _expandAsymmetricUnit(self, block: Any) -> None:  # noqa: N802 - diffpy's name
            n = len(self.stru) * len(self.spacegroup.symop_list)
            if n > MAX_CELL_ATOMS:
                raise _TooManyAtoms(len(self.stru), n)
            super()._expandAsymmetricUnit(block)

    parser = Bounded()
    try:
        with warnings_quiet():
            structure = parser.parseFile(str(path))
        space_group = int(parser.spacegroup.number)
    except _TooManyAtoms as exc:
        raise InputError(path, f"its {exc.sites} sites make up to {exc.atoms} atoms in the unit cell, more than the "
                               f"{MAX_CELL_ATOMS} a phase may have here") from None
    except Exception as exc:  # noqa: BLE001 - diffpy raises its StructureFormatError, ValueError, KeyError...
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"cannot be read as a CIF file ({why})") from None
    atoms = tuple((str(a.element), tuple(float(v) for v in a.xyz), float(a.occupancy)) for a in structure)
    crystal = Crystal(name or path.stem, space_group, tuple(float(v) for v in structure.lattice.abcABG()),
                      atoms)
    return crystal_phase(check_crystal(crystal, path, expanded=True))


class _TooManyAtoms(Exception):
    """Out of diffpy's parser (not a ValueError, which it would rephrase): the cell it would expand is too big."""

    def __init__(self, sites: int, atoms: int):
        super().__init__(sites, atoms)
        self.sites, self.atoms = sites, atoms


@contextlib.contextmanager
def warnings_quiet():
    """diffpy's and orix's warnings and prints (deprecations, a CIF parser's syntax report) kept from the terminal."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------------------------
# records: what a store's ``phases`` attr holds


def phase_record(phase, pid: int = 0, *, units: str = ANGSTROM, source: str | None = None) -> dict[str, Any]:
    """One entry of a ``phases`` attr: id, name, point group, space group, lattice, atoms (as orix keeps them)."""
    lattice = None
    with contextlib.suppress(AttributeError, TypeError):
        # rounded: a lattice rebuilt in orix's frame gives back 2.9507999999998944 for 2.9508
        lattice = [round(float(v), 9) for v in phase.structure.lattice.abcABG()]
    atoms = []
    with contextlib.suppress(AttributeError, TypeError):
        atoms = [{"element": str(a.element), "xyz": [float(v) for v in a.xyz], "occupancy": float(a.occupancy)}
                 for a in phase.structure]
    sg = phase.space_group
    out = {"id": int(pid), "name": str(phase.name),
           "point_group": None if phase.point_group is None else str(phase.point_group.name),
           "space_group": None if sg is None else int(sg.number), "lattice": lattice, "lattice_units": units,
           "atoms": atoms}
    return {**out, "source": source} if source else out


def record_phase(record: dict[str, Any]):
    """The orix :class:`~orix.crystal_map.Phase` of a phase record (the inverse of :func:`phase_record`)."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    cm = require("orix.crystal_map", "ebsd")
    diffpy = require("diffpy.structure", "ebsd")
    name = str(record["name"])
    sg, pg = record.get("space_group"), record.get("point_group")
    if record.get("lattice"):
        atoms = [(a["element"], a["xyz"], a.get("occupancy", 1.0)) for a in record.get("atoms") or []]
        return make_phase(name, sg, record["lattice"], atoms, point_group=pg)
    return cm.Phase(name=name, point_group=pg, space_group=sg, structure=diffpy.Structure(title=name))


def phase_list(records: list[dict[str, Any]]):
    """An orix :class:`~orix.crystal_map.PhaseList` of phase records, with their ids."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    cm = require("orix.crystal_map", "ebsd")
    return cm.PhaseList([record_phase(r) for r in records], ids=[int(r["id"]) for r in records])


# --------------------------------------------------------------------------------------------
# reflectors


def element_symbol(z: int) -> str:
    """The symbol of the element of atomic number ``z`` (``28`` → ``Ni``)."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    table = require("diffsims.structure_factor.atomic_scattering_parameters", "ebsd")
    return str(table.ELEMENTS[int(z) - 1]).capitalize()


def structure_factors(phase, hkl: np.ndarray) -> np.ndarray:
    """Kinematical structure factors |F| of the reflections ``hkl`` (n, 3) of ``phase``.

    F = Σⱼ oⱼ fⱼ(g) exp(2πi h·xⱼ − B g²/4) over every atom of the unit cell (orix's
    :meth:`~orix.crystal_map.Phase.expand_asymmetric_unit`), with diffsims' atomic scattering
    factors (International Tables' electron ones, its default), as diffsims computes it. Written here because diffsims 0.7 (``calculate_structure_factor``) re-expresses
    the positions of a hexagonal or trigonal cell in another frame and gets F wrong there (Ti's
    forbidden {11-21} comes out non-zero); for cubic phases the two agree.
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    crystallography = require("diffsims.crystallography", "ebsd")
    sim = require("diffsims.utils.sim_utils", "ebsd")
    hkl = np.atleast_2d(np.asarray(hkl, np.float64))
    with warnings_quiet():
        cell = (phase.expand_asymmetric_unit() if phase.space_group is not None else phase.deepcopy()).structure
        g2 = np.ravel(crystallography.ReciprocalLatticeVector(phase, hkl=hkl).gspacing) ** 2
    for atom in cell:  # EMsoft files name elements by atomic number ("28"): the tables want symbols
        if str(atom.element).strip().isdigit():
            atom.element = element_symbol(int(atom.element))
    coeffs, xyz, occupancy, dw = sim.get_vectorized_list_for_atomic_scattering_factors(
        structure=cell, debye_waller_factors={}, scattering_params=SCATTERING)
    xyz = np.asarray(xyz, np.float64)
    out = np.empty(len(hkl))
    # in blocks of reflectors (each row is its own sum): a few (n, atoms) arrays of ~2·10⁶ values at a time
    step = max(1, SF_BLOCK // max(len(xyz), 1))
    for i in range(0, len(hkl), step):
        rows = slice(i, i + step)
        f = sim.get_atomic_scattering_factors(g2[rows], coeffs, SCATTERING)  # (n, atoms)
        phase_term = np.exp(2j * np.pi * hkl[rows] @ xyz.T - 0.25 * np.outer(g2[rows], dw))
        out[rows] = np.abs(np.sum(f * occupancy * phase_term, axis=-1))
    return out


def band_families(phase, n: int | None = None, *, max_index: int = 4) -> list[list[int]]:
    """The phase's Kikuchi band families, widest first: ``{hkl}`` of the first order each band shows.

    Every direction up to ``max_index`` is one band; its reflector is the lowest order ``n·hkl``
    with a structure factor (FCC's {200}, not the forbidden {100}); bands are sorted by that
    reflector's d-spacing, largest first, and the first ``n`` kept (default 4 for a cubic phase, 8
    otherwise: PyEBSDIndex's own FCC, BCC and HCP families come out of this rule).
    """
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    crystallography = require("diffsims.crystallography", "ebsd")
    rng = np.arange(-max_index, max_index + 1)
    hkl = np.stack(np.meshgrid(rng, rng, rng, indexing="ij"), -1).reshape(-1, 3)
    hkl = hkl[(np.abs(hkl).sum(1) > 0) & (np.gcd.reduce(np.abs(hkl), axis=1) == 1)]
    with warnings_quiet():
        fam = crystallography.ReciprocalLatticeVector(phase, hkl=hkl.astype(float)).unique(use_symmetry=True)
    reps = np.rint(fam.hkl).astype(int)
    orders = np.arange(1, 5)
    candidates = (reps[:, None, :] * orders[None, :, None]).reshape(-1, 3)
    f = structure_factors(phase, candidates).reshape(len(reps), len(orders))
    tol = 1e-3 * f.max()
    out = []
    for rep, row in zip(reps, f):
        allowed = np.flatnonzero(row > tol)
        if allowed.size:
            first = rep * orders[allowed[0]]
            with warnings_quiet():
                d = float(np.ravel(crystallography.ReciprocalLatticeVector(phase, hkl=[first]).dspacing)[0])
            out.append((d, [int(v) for v in first]))
    out.sort(key=lambda t: -t[0])
    cubic = phase.point_group is not None and phase.point_group.laue.name in ("m-3m", "m-3")
    keep = n if n is not None else (4 if cubic else 8)
    return [h for _, h in out[:keep]]
