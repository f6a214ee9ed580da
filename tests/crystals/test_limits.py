"""The bounds a crystal structure is checked against before any work (:mod:`vaearr.crystals.limits`): phase names,
header fields, and the reflector estimate from a lattice's six numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vaearr.crystals.limits import (
    MAX_NAME_LENGTH,
    MAX_REFLECTORS,
    MIN_DSPACING,
    check_phase_name,
    check_reflectors,
    header_name,
)
from vaearr.crystals import limits
from vaearr.errors import InputError


@pytest.mark.parametrize("name", ["Ni", "Ni-superalloy (γ)", "a" * MAX_NAME_LENGTH, "x_1.2"])
def test_a_safe_phase_name_is_given_back(name) -> None:
    assert check_phase_name(name) == name


@pytest.mark.parametrize(("name", "words"), [
    ("/tmp/x", "holds '/'"), ("a\\b", "holds '\\\\'"), ("Ni#2", "holds '#'"), ("Ni\nFe", "holds '\\n'"),
    ("   ", "is empty"), ("a" * (MAX_NAME_LENGTH + 1), f"is {MAX_NAME_LENGTH + 1} characters long"),
])
def test_an_unsafe_phase_name_is_one_line_saying_why(name, words) -> None:
    with pytest.raises(InputError, match="phase name") as err:
        check_phase_name(name)
    assert words in str(err.value) and "\n" not in str(err.value).replace(repr(name), "")


def test_a_header_name_cannot_add_or_end_a_line() -> None:
    assert header_name("Ni\r\n# Phase 2") == "Ni Phase 2"
    assert header_name("Fe\tbcc") == "Fe bcc"
    assert header_name("") == "phase" and header_name("#", fallback="x") == "x"
    assert header_name(7) == "7"


def test_cell_geometry_is_the_known_volume_and_spacings() -> None:
    volume, spacings = limits._cell_geometry((3.0, 4.0, 5.0, 90, 90, 90))  # noqa: SLF001 - the formula under the checks
    assert volume == pytest.approx(60.0) and spacings == pytest.approx([3.0, 4.0, 5.0])
    a, c = 2.95, 4.69  # hexagonal: V = √3/2 a² c, d(100) = √3/2 a, d(001) = c
    volume, spacings = limits._cell_geometry((a, a, c, 90, 90, 120))  # noqa: SLF001 - the formula under the checks
    assert volume == pytest.approx(math.sqrt(3) / 2 * a * a * c)
    assert spacings == pytest.approx([math.sqrt(3) / 2 * a, math.sqrt(3) / 2 * a, c])
    assert limits._cell_geometry((3, 3, 3, 120, 120, 120)) is None  # noqa: SLF001 - angles that make a flat cell


def test_a_cell_within_the_limits_passes() -> None:
    assert check_reflectors("ni", (3.524, 3.524, 3.524, 90, 90, 90), 4) is None
    # a cubic cell just under the reflector bound: 4π/3 · a³ / d³ ≤ MAX_REFLECTORS
    a = (MAX_REFLECTORS * 3 / (4 * math.pi)) ** (1 / 3) * MIN_DSPACING * 0.99
    assert check_reflectors("big", (a, a, a, 90, 90, 90)) is None


@pytest.mark.parametrize(("lattice", "atoms", "words"), [
    ((1e6, 1e6, 1e6, 90, 90, 90), 1, "reflectors down to 0.7 Å, more than the 50000"),
    ((3, 3, 3, 120, 120, 120), 1, "lattice angles 120, 120, 120° make no cell"),
    ((0.5, 0.5, 0.5, 90, 90, 90), 1, "has no plane spacing of 0.7 Å or more"),
    ((15, 15, 15, 90, 90, 90), 5000, "structure-factor work"),
])
def test_a_cell_beyond_the_limits_is_one_line(lattice, atoms, words) -> None:
    with pytest.raises(InputError, match="phase 'p'") as err:
        check_reflectors("p", lattice, atoms)
    assert words in str(err.value)


def test_a_higher_floor_admits_a_larger_cell() -> None:
    lattice = (40.0, 40.0, 40.0, 90, 90, 90)
    with pytest.raises(InputError, match="reflectors"):
        check_reflectors("p", lattice)
    assert 4 / 3 * np.pi * 40.0**3 / 2.0**3 < MAX_REFLECTORS
    assert check_reflectors("p", lattice, min_dspacing=2.0) is None
