"""Orientation maps read into the store (:mod:`vaearr.io.orientations`): an orix crystal map's points as quaternions
with a ≥ 0 and phases, placed on their grid or the store's, a header's point count checked against the file, and
the ingest written in one transaction or refused."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.errors import InputError, StoreError, VaearrWarning
from vaearr.io.crystal_map import CrystalMapData
from vaearr.io.orientations import crystal_map_data, ingest_orientations, orientation_variables, read_crystal_map

pytest.importorskip("orix", reason="needs the 'ebsd' extra")


def _data(n_missing: int = 0) -> CrystalMapData:
    iy, ix = np.divmod(np.arange(6), 3)
    q = np.tile([1.0, 0, 0, 0], (6, 1))
    q[1] = [0.0, 0.0, 0.0, 1.0]
    pid = np.array([0, 0, -1, 0, 0, 0])
    keep = slice(0, 6 - n_missing)
    return CrystalMapData(ix[keep] * 0.5, iy[keep] * 0.5, q[keep], pid[keep], [{"id": 0, "name": "ni"}],
                          {"ci": np.linspace(0, 1, 6)[keep]})


def test_points_on_their_own_grid() -> None:
    out, kind = orientation_variables(_data(), path="m.ang", name="hough")
    assert kind == "square" and set(out) == {"hough", "hough_phase_id", "ci"}
    q = out["hough"]
    assert q.dims == ("y", "x", "quaternion") and list(q.quaternion.values) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(q.values[0, 1], [0, 0, 0, 1])
    np.testing.assert_array_equal(q.x.values, [0, 0.5, 1])
    assert out["hough_phase_id"].values.tolist() == [[0, 0, -1], [0, 0, 0]] and out["hough_phase_id"].dtype == np.int16
    assert q.attrs["phases"] == [{"id": 0, "name": "ni"}] and "a ≥ 0" in q.attrs["convention"]
    np.testing.assert_allclose(out["ci"].values.ravel(), np.linspace(0, 1, 6), rtol=1e-6)


def test_on_the_stores_grid_missing_nodes_are_not_indexed_with_a_warning() -> None:
    with pytest.warns(VaearrWarning, match=r"m.ang: 2 of 6 grid nodes have no point in this orientation map"):
        out, kind = orientation_variables(_data(2), path="m.ang", grid_x=np.array([0, 0.5, 1]), grid_y=np.array([0, 0.5]))
    assert kind == "square" and np.isnan(out["orientation"].values[1, 1:]).all()
    assert out["phase_id"].values[1].tolist() == [0, -1, -1] and np.isnan(out["ci"].values[1, 1:]).all()
    with pytest.raises(InputError, match=r"m.ang: its scan grid does not match the store's \(2×2, step 0.5 µm, x 0–0.5, "
                                         r"y 0–0.5\): off-grid coordinate x=1"):
        orientation_variables(_data(), path="m.ang", grid_x=np.array([0, 0.5]), grid_y=np.array([0, 0.5]))


def _xmap():
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.quaternion import Rotation

    iy, ix = np.divmod(np.arange(4), 2)
    rot = Rotation([[-0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    phases = PhaseList([Phase("ni", point_group="m-3m")], ids=[1])
    return CrystalMap(rot, phase_id=np.array([1, 1, -1, 1]), x=ix * 2.0, y=iy * 2.0, phase_list=phases,
                      prop={"iq": np.arange(4.0), "unknown": np.ones(4)})


def test_what_the_store_keeps_of_a_crystal_map() -> None:
    data = crystal_map_data(_xmap())
    np.testing.assert_allclose(data.quaternions[0], [0.5, -0.5, -0.5, -0.5])  # one of ±q: a ≥ 0
    assert np.isnan(data.quaternions[2]).all() and data.phase_id.tolist() == [1, 1, -1, 1]  # not indexed: NaN
    assert [p["name"] for p in data.phases] == ["ni"] and set(data.quality) == {"iq"}
    np.testing.assert_array_equal(data.x, [0, 2, 0, 2])


def test_a_ctf_is_read_and_a_cut_one_refused(tmp_path) -> None:
    from vaearr.io.ctf import write_ctf

    xmap = _xmap()
    write_ctf(tmp_path / "m.ctf", xmap)
    data = read_crystal_map(tmp_path / "m.ctf")
    assert data.phase_id.tolist() == [1, 1, -1, 1] and data.quaternions.shape == (4, 4)
    text = (tmp_path / "m.ctf").read_text()
    (tmp_path / "cut.ctf").write_text(text[: text.rindex("\n", 0, len(text) - 1) + 1])
    with pytest.raises(InputError, match="cut.ctf: has 3 scan points but its header announces 4: truncated file?"):
        read_crystal_map(tmp_path / "cut.ctf")
    (tmp_path / "big.ctf").write_text(text + "1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\n" * 300)  # over 1 kB a point
    with pytest.raises(InputError, match="big.ctf: holds .* more than the 4 points its header announces can take"):
        read_crystal_map(tmp_path / "big.ctf")
    with pytest.raises(InputError, match="none.ang: no such file"):
        read_crystal_map(tmp_path / "none.ang")
    (tmp_path / "junk.ang").write_text("# nothing\nnot numbers\n")
    with pytest.raises(InputError, match="junk.ang"):
        read_crystal_map(tmp_path / "junk.ang")


def test_an_ingest_writes_a_new_store_once(tmp_path) -> None:
    from vaearr.io.ctf import write_ctf

    write_ctf(tmp_path / "m.ctf", _xmap())
    store = tmp_path / "s.zarr"
    ds = ingest_orientations(tmp_path / "m.ctf", store)
    assert set(ds.data_vars) >= {"orientation", "phase_id"} and ds.orientation.shape == (2, 2, 4)
    with pytest.raises(StoreError, match=r"variable\(s\) \['orientation', 'phase_id'.*exist; pass `overwrite=True`"):
        ingest_orientations(tmp_path / "m.ctf", store)
    again = ingest_orientations(tmp_path / "m.ctf", store, name="second", overwrite=True)  # its quality maps again
    assert "second" in again.data_vars and again["second_phase_id"].values.tolist() == [[1, 1], [-1, 1]]
