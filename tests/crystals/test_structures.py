"""Crystal structures in numbers and as orix phases (:mod:`vaearr.crystals.structures`): structure text, the checks
of a crystal, phase records both ways, structure factors against the textbook extinction rules."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from vaearr.crystals.structures import (  # noqa: E402 - after the extra's skip
    BUILTIN,
    Crystal,
    check_crystal,
    crystal_phase,
    element_symbol,
    parse_structure,
    phase_list,
    phase_record,
    record_phase,
    structure_factors,
)


@pytest.mark.parametrize(("text", "lattice"), [
    ("cu:225:3.615:Cu", (3.615,) * 3 + (90.0,) * 3),
    ("zn:194:2.66,4.95:Zn@0.3333,0.6667,0.25", (2.66, 2.66, 4.95, 90.0, 90.0, 120.0)),
    ("t:139:3.2,5.1:Fe", (3.2, 3.2, 5.1, 90.0, 90.0, 90.0)),  # tetragonal: two numbers, γ = 90°
    ("o:47:3,4,5:Fe", (3.0, 4.0, 5.0, 90.0, 90.0, 90.0)),
    ("m:10:3,4,5,90,100,90:Fe", (3.0, 4.0, 5.0, 90.0, 100.0, 90.0)),
])
def test_structure_text_gives_the_lattice_it_says(text, lattice) -> None:
    assert parse_structure(text).lattice == pytest.approx(lattice)


def test_structure_text_atoms_with_positions_occupancies_and_either_separator() -> None:
    c = parse_structure("gamma:225:3.6:fe@0,0,0@0.5;ni@0,0,0@0.5+Cr@0.5,0.5,0.5")
    assert c == Crystal("gamma", 225, (3.6,) * 3 + (90.0,) * 3,
                        (("Fe", (0.0, 0.0, 0.0), 0.5), ("Ni", (0.0, 0.0, 0.0), 0.5), ("Cr", (0.5, 0.5, 0.5), 1.0)))


@pytest.mark.parametrize(("text", "words"), [
    ("cu:225:3.6", "is not a phase name, a file or NAME:SPACEGROUP"),
    ("cu:fcc:3.6:Cu", "the space group is a number 1–230"),
    ("cu:225:3.6,3.6,3.6,90:Cu", "the lattice takes 1 (cubic a), 2 (a, c), 3 (a, b, c) or 6 numbers, got 4"),
    ("cu:225:3.6:Cu@0,0", "atom 'Cu@0,0' is not ELEMENT[@x,y,z[@occupancy]]"),
    ("cu:225:3.6:Cu@a,b,c", "is not ELEMENT"),
    ("cu:231:3.6:Cu", "space group must be 1–230, got 231"),
    ("cu:225:-3.6:Cu", "lattice lengths must be > 0 Å"),
    ("cu:225:3,3,3,90,180,90:Cu", "lattice angles must be in (0, 180)°"),
    ("cu:225:0.5:Cu", "lattice lengths must be at least 1 Å"),
    ("cu:225:3.6:", "has no atoms"),
    ("cu:225:3.6:Xx", "unknown element 'Xx'"),
    ("cu:225:3.6:Cu@0,0,0@1.5", "occupancy 1.5 is not a site"),
])
def test_bad_structure_text_is_one_line_naming_the_text(text, words) -> None:
    with pytest.raises(InputError) as err:
        parse_structure(text)
    assert f"'{text}'" in str(err.value) and words in str(err.value)


def test_check_crystal_counts_the_expanded_cell_against_the_atom_bound() -> None:
    many = tuple(("Fe", (i / 100, 0.1, 0.2), 1.0) for i in range(60))
    with pytest.raises(InputError, match=r"60 sites make up to 11520 atoms in the unit cell, more than the 5000"):
        check_crystal(Crystal("x", 225, (8.0,) * 3 + (90.0,) * 3, many))  # Fm-3m: 192 operations
    # the same sites given as a whole cell (a CIF) are 60 atoms
    assert check_crystal(Crystal("x", 225, (8.0,) * 3 + (90.0,) * 3, many), expanded=True).name == "x"


def test_a_phase_record_and_its_phase_are_inverses() -> None:
    ti = crystal_phase(BUILTIN["hcp"], "titanium")
    rec = phase_record(ti, 3, source="built-in")
    assert rec["id"] == 3 and rec["name"] == "titanium" and rec["space_group"] == 194
    assert rec["point_group"] == "6/mmm" and rec["source"] == "built-in"
    assert rec["lattice"] == pytest.approx([2.9508, 2.9508, 4.6855, 90, 90, 120])
    assert [a["element"] for a in rec["atoms"]] == ["Ti"]
    assert rec["atoms"][0]["xyz"] == pytest.approx([1 / 3, 2 / 3, 0.25])  # the Tables' site, not orix's 0.577
    again = phase_record(record_phase(rec), 3, source="built-in")
    assert {k: v for k, v in again.items() if k != "atoms"} == {k: v for k, v in rec.items() if k != "atoms"}
    assert again["atoms"][0]["xyz"] == pytest.approx(rec["atoms"][0]["xyz"], abs=1e-12)
    assert "source" not in phase_record(ti)


def test_a_record_without_a_lattice_is_a_phase_of_its_symmetry_only() -> None:
    phase = record_phase({"id": 1, "name": "unknown", "point_group": "m-3m", "space_group": None, "lattice": None})
    assert phase.name == "unknown" and phase.point_group.name == "m-3m" and phase.space_group is None


def test_a_phase_list_keeps_the_records_ids() -> None:
    records = [phase_record(crystal_phase(BUILTIN[k]), pid) for k, pid in (("fcc", 1), ("bcc", 4))]
    pl = phase_list(records)
    assert list(pl.ids) == [1, 4] and list(pl.names) == ["fcc", "bcc"]


def test_element_symbols_by_atomic_number() -> None:
    assert [element_symbol(z) for z in (1, 26, 28, 22)] == ["H", "Fe", "Ni", "Ti"]


def test_structure_factors_follow_the_extinction_rules() -> None:
    """FCC: h, k, l all even or all odd; BCC: h + k + l even; an allowed F of one atom per lattice point is the
    number of lattice points times the atom's scattering factor, so FCC's {200} is twice BCC-like in-phase sums."""
    fcc = crystal_phase(BUILTIN["fcc"])
    hkl = np.array([[1, 0, 0], [1, 1, 0], [2, 1, 0], [1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1]])
    f = structure_factors(fcc, hkl)
    mixed = np.array([len({int(v) % 2 for v in h}) > 1 for h in hkl])
    assert (f[mixed] < 1e-9).all() and (f[~mixed] > 1).all()
    assert f[3] > f[4] > f[5] > f[6]  # the atomic scattering factor falls with g
    bcc = crystal_phase(BUILTIN["bcc"])
    fb = structure_factors(bcc, hkl)
    odd = hkl.sum(1) % 2 == 1
    assert (fb[odd] < 1e-9).all() and (fb[~odd] > 1).all()
    # a single reflector is an array of one, the same as within a list
    assert structure_factors(fcc, [1, 1, 1]) == pytest.approx(f[3:4])
