"""Oxford .ctf export (:mod:`vaearr.io.ctf`): band contrast as bytes, and a small crystal map written and read back
by orix with its orientations, phases, steps and quality columns."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.io.ctf import to_byte_range, write_ctf


def test_byte_values_are_kept_and_others_rescaled_over_the_indexed_points() -> None:
    values, note = to_byte_range(np.array([0.0, 17.0, 255.0]), np.ones(3, bool))
    np.testing.assert_array_equal(values, [0, 17, 255])
    assert note is None
    values, note = to_byte_range(np.array([5.5, 1.0, 3.25, 99.0]), np.array([True, True, True, False]))
    np.testing.assert_array_equal(values, [255, 0, 128, 0])
    assert note == "rescaled from 1–5.5 to 0–255"
    values, note = to_byte_range(np.array([0.5, 0.5]), np.ones(2, bool))
    np.testing.assert_array_equal(values, [255, 255])
    assert note == "rescaled from 0.5–0.5 to 0–255"
    assert to_byte_range(np.array([300.0]), np.zeros(1, bool))[1] is None  # nothing indexed: nothing to scale


def test_a_crystal_map_round_trips_through_orix(tmp_path) -> None:
    pytest.importorskip("orix", reason="needs the 'ebsd' extra")
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.io import load
    from orix.quaternion import Rotation

    euler = np.radians([[10, 20, 30], [40, 50, 60], [0, 0, 0], [80, 10, 5]])
    phases = PhaseList([Phase("Ni", point_group="m-3m", space_group=225), Phase("Ti #2", space_group=194)], ids=[0, 1])
    phases.add_not_indexed()
    y, x = np.divmod(np.arange(4), 2)
    xmap = CrystalMap(Rotation.from_euler(euler), phase_id=np.array([0, 1, -1, 0]), x=x * 0.5, y=y * 0.5,
                      phase_list=phases, prop={"fit": np.array([0.5, 0.7, 9.0, 0.6]), "BC": np.array([0.1, 0.3, 0.0, 0.2]),
                                               "bands": np.array([8, 7, 0, 9])})
    lines = write_ctf(tmp_path / "m.ctf", xmap, project="p")
    assert lines == ["bands: bands", "MAD: fit (degrees)", "BC: BC, rescaled from 0.1–0.3 to 0–255"]
    text = (tmp_path / "m.ctf").read_text().splitlines()
    assert text[1] == "Prj\tp" and "XCells\t2" in text and "YCells\t2" in text and "XStep\t0.500000" in text
    assert "3.5240" not in text[13] and text[13].endswith("\tNi\t11\t225") and text[14].endswith("\tTi 2\t9\t194")
    back = load(tmp_path / "m.ctf")
    np.testing.assert_array_equal(back.phase_id, [1, 2, -1, 1])  # .ctf numbers phases from 1
    indexed = back.phase_id > 0
    np.testing.assert_allclose(back.rotations[indexed].to_euler(), euler[[0, 1, 3]], atol=1e-6)
    np.testing.assert_array_equal(back.prop["error"], [0, 0, 3, 0])  # 3: no solution
    np.testing.assert_array_equal(back.prop["BC"], [0, 255, 0, 128])
    np.testing.assert_allclose(back.prop["MAD"], [0.5, 0.7, 0.0, 0.6])
    np.testing.assert_array_equal(back.prop["bands"], [8, 7, 0, 9])
    assert not back.prop["BS"].any()  # a column the map has not: zeros
