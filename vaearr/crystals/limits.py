"""What a crystal structure may cost and be called (issue 63): the bounds on reflectors, cell atoms, CIF size and phase
names, checked before any work; :mod:`vaearr.crystals.structures` gives them too."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from vaearr.errors import InputError


# -- what a structure may cost (issue 63: a lattice of a = 10⁶ Å, a 50 MB CIF of atoms each took over 3 GB) --------
#: Smallest d-spacing (Å) of the reflectors a kinematical master pattern is simulated from.
MIN_DSPACING = 0.7
#: Shortest lattice length (Å): no crystal has a cell edge under 2 Å; below 1 Å diffpy's lattice degenerates and
#: no reflector reaches :data:`MIN_DSPACING`.
MIN_LATTICE_LENGTH = 1.0
#: Most reflectors down to :data:`MIN_DSPACING` (4π/3 · V / d³ of a cell of volume V): a cell of about 4000 Å³ (cubic
#: a ≈ 16 Å; α-AlMnSi, a = 12.7 Å, is 2000 Å³). kikuchipy's simulator takes about 5 ms a reflector on one thread.
MAX_REFLECTORS = 50_000
#: Most Miller indices the reflector search tries (its box of ±h, ±k, ±l: a very oblique cell has more than its
#: reflectors; orix and diffsims build the box as Python tuples, ~150 bytes each).
MAX_HKL_BOX = 1_000_000
#: Most atoms in the unit cell (the asymmetric unit expanded by the space group's operations).
MAX_CELL_ATOMS = 5_000
#: Most reflector × atom pairs of the structure factors (computed in blocks; ~1 s per 10⁷).
MAX_PAIRS = 50_000_000
#: Reflector × atom values computed at once by :func:`structure_factors` (its memory: a few arrays of this size).
SF_BLOCK = 2_000_000
#: Largest CIF file read (its parser takes ~3 s a MB): a phase's CIF is a few kB; strip a reflection list.
MAX_CIF_BYTES = 2**20
#: Characters a phase's name may not hold: it becomes part of file names (the master pattern's .png/.npz) and a line
#: of an .ang/.ctf header, where a line break or ``#`` would make the file read differently.
UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f#/\\]")
MAX_NAME_LENGTH = 64


def check_phase_name(name: str, where: Any = None) -> str:
    """``name`` when it can name a phase (it goes into file names and .ang/.ctf header lines); else one line.

    Examples
    --------
    >>> check_phase_name("Ni-superalloy (γ)")
    'Ni-superalloy (γ)'
    >>> check_phase_name("/tmp/x")
    Traceback (most recent call last):
    ...
    vaearr.errors.InputError: phase name '/tmp/x' holds '/': a phase's name goes into file names and .ang/.ctf header lines, so it holds no '/', '\\', '#' or control character (a line break, a tab) and at most 64 characters; name the phase with NAME=... (letters, digits, _ and -)
    """
    found = UNSAFE_NAME.search(name)
    if found is None and name.strip() and len(name) <= MAX_NAME_LENGTH:
        return name
    what = (f"holds {found.group()!r}" if found else "is empty" if not name.strip()
            else f"is {len(name)} characters long")
    raise InputError(where, f"phase name {name!r} {what}: a phase's name goes into file names and .ang/.ctf header "
                            f"lines, so it holds no '/', '\\', '#' or control character (a line break, a tab) and at "
                            f"most {MAX_NAME_LENGTH} characters; name the phase with NAME=... (letters, digits, _ and -)")


def header_name(name: Any, fallback: str = "phase") -> str:
    r"""A phase's name as one field of an .ang/.ctf header line: control characters (line breaks, tabs) and ``#`` made
    spaces, so a name read from a file (an orix HDF5 phase, a store from before :func:`check_phase_name`) cannot add
    a line or end one.

    Examples
    --------
    >>> header_name("Ni\n# Phase 2"), header_name("Iron fcc"), header_name("\t")
    ('Ni Phase 2', 'Iron fcc', 'phase')
    """
    return re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f#]", " ", str(name))).strip() or fallback


def _cell_geometry(lattice: Any) -> tuple[float, np.ndarray] | None:
    """The volume (Å³) and the spacings of (100), (010), (001) of a lattice ``(a, b, c, α, β, γ)``; None where the
    angles make no cell."""
    a, b, c = (float(v) for v in lattice[:3])
    cos = np.cos(np.radians(np.asarray(lattice[3:], np.float64)))
    factor = 1 - (cos**2).sum() + 2 * cos.prod()
    if not factor > 1e-9:
        return None
    # the direct basis (x ∥ a, b in the xy plane), its inverse's rows the reciprocal axes
    sg = math.sqrt(max(1 - cos[2] ** 2, 1e-300))
    basis = np.array([[a, 0.0, 0.0], [b * cos[2], b * sg, 0.0],
                      [c * cos[1], c * (cos[0] - cos[1] * cos[2]) / sg, c * math.sqrt(factor) / sg]])
    volume = abs(float(np.linalg.det(basis)))
    spacings = 1 / np.linalg.norm(np.linalg.inv(basis).T, axis=1)
    return volume, spacings


def check_reflectors(name: str, lattice: Any, cell_atoms: int = 1, *, min_dspacing: float = MIN_DSPACING,
                     where: Any = None) -> None:
    """One :class:`InputError` line when the reflectors of a lattice down to ``min_dspacing`` (and their structure
    factors over ``cell_atoms`` atoms) would take more time or memory than a phase is given here
    (:data:`MAX_REFLECTORS`, :data:`MAX_HKL_BOX`, :data:`MAX_PAIRS`), or when there is none: checked from the six
    numbers before orix or diffsims build anything.

    Examples
    --------
    >>> check_reflectors("ni", (3.524, 3.524, 3.524, 90, 90, 90))
    >>> check_reflectors("big", (1e6, 1e6, 1e6, 90, 90, 90))
    Traceback (most recent call last):
    ...
    vaearr.errors.InputError: phase 'big': its cell of 1e+18 Å³ has about 1.2e+19 reflectors down to 0.7 Å, more than the 50000 a kinematical master pattern is simulated from (a cell of up to about 4100 Å³); give its master pattern as an EMsoft file
    """
    geometry = _cell_geometry(lattice)
    if geometry is None:
        raise InputError(where, f"phase '{name}': lattice angles {', '.join(f'{float(v):g}' for v in lattice[3:])}° "
                                "make no cell (its volume is zero)")
    volume, spacings = geometry
    estimate = 4 / 3 * math.pi * volume / min_dspacing**3
    highest = np.ceil(spacings / min_dspacing) - 1  # orix's highest index along each axis
    box = float(np.prod(2 * highest + 1))
    if estimate > MAX_REFLECTORS:
        raise InputError(where, f"phase '{name}': its cell of {volume:.4g} Å³ has about {estimate:.2g} reflectors down "
                                f"to {min_dspacing:g} Å, more than the {MAX_REFLECTORS} a kinematical master pattern is "
                                f"simulated from (a cell of up to about {round(MAX_REFLECTORS * 3 * min_dspacing**3 / (4 * math.pi), -2):.0f} Å³); give its "
                                "master pattern as an EMsoft file")
    if box > MAX_HKL_BOX:
        raise InputError(where, f"phase '{name}': its cell is so oblique that the reflector search would try {box:.2g} "
                                f"Miller indices (at most {MAX_HKL_BOX} here); give its master pattern as an EMsoft file")
    if not (highest > 0).any():
        raise InputError(where, f"phase '{name}': its lattice ({', '.join(f'{float(v):g}' for v in lattice[:3])}) has no "
                                f"plane spacing of {min_dspacing:g} Å or more: no reflector to simulate")
    if estimate * cell_atoms > MAX_PAIRS:
        raise InputError(where, f"phase '{name}': {estimate:.2g} reflectors × {cell_atoms} atoms in the cell is more "
                                f"structure-factor work than a phase is given here ({MAX_PAIRS:.0e} pairs); give its "
                                "master pattern as an EMsoft file")
