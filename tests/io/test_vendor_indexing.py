"""The indexing of Oxford H5OINA, EDAX and Bruker h5ebsd files read by hand (:mod:`vaearr.io.vendor_indexing`): the
vendor from the file's root, Euler angles as quaternions with a ≥ 0, each vendor's phase-id rules and phase records,
Bruker's points put in map order, and a grid that does not match refused in one line. Files a few points big, written
here with each vendor's dataset names."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from vaearr.errors import InputError
from vaearr.io.vendor_indexing import holds_indexing, read_vendor_indexing, text, vendor_of

pytest.importorskip("orix", reason="needs the 'ebsd' extra")

EULER = np.radians([[0, 0, 0], [90, 0, 0], [0, 0, 0], [0, 0, 0], [180, 0, 0], [0, 90, 0]])  # 2 × 3 scan


def _oxford(path, *, points: int = 6):
    with h5py.File(path, "w") as f:
        f["Manufacturer"] = "Oxford Instruments"
        d = f.create_group("1/EBSD/Data")
        d["Euler"] = EULER[:points].astype(np.float32)
        d["Phase"] = np.array([1, 1, 0, 1, 2, 1])[:points]
        d["MAD"] = np.full(points, np.radians(0.5))
        d["BC"] = np.arange(points)
        h = f.create_group("1/EBSD/Header")
        h["X Cells"], h["Y Cells"], h["X Step"], h["Y Step"] = [3], [2], [0.5], [0.25]
        p = h.create_group("Phases/1")
        p["Phase Name"], p["Space Group"] = "Nickel", [225]
        p["Lattice Dimensions"], p["Lattice Angles"] = [3.52, 3.52, 3.52], np.radians([90, 90, 90])
    return path


def test_the_vendor_is_read_from_the_root(tmp_path) -> None:
    assert vendor_of(_oxford(tmp_path / "a.h5oina")) == "oxford"
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f[" Manufacturer"] = np.array([b"EDAX"])  # EDAX writes a leading space and an array of one
    assert vendor_of(tmp_path / "e.h5") == "edax"
    with h5py.File(tmp_path / "n.h5", "w") as f:
        f["Manufacturer"] = "NORDIF"
    assert vendor_of(tmp_path / "n.h5") is None and vendor_of(tmp_path / "none.h5") is None
    (tmp_path / "t.h5").write_text("text")
    assert vendor_of(tmp_path / "t.h5") is None
    assert text(np.array([b"x"])) == "x" and text(b"\xffy") == "\ufffdy" and text(3) == "3"


def test_an_oxford_map(tmp_path) -> None:
    path = _oxford(tmp_path / "a.h5oina")
    assert holds_indexing(path, "oxford") and not holds_indexing(path, "edax")
    data = read_vendor_indexing(path)
    np.testing.assert_allclose(data.x, [0, 0.5, 1.0, 0, 0.5, 1.0])
    np.testing.assert_allclose(data.y, [0, 0, 0, 0.25, 0.25, 0.25])
    assert data.phase_id.tolist() == [1, 1, -1, 1, 2, 1]  # Oxford's 0 is not indexed
    np.testing.assert_allclose(data.quaternions[1], [np.cos(np.pi / 4), 0, 0, -np.sin(np.pi / 4)], atol=1e-6)
    np.testing.assert_allclose(data.quaternions[4], [0, 0, 0, 1], atol=1e-6)  # 180° about z: a = 0, kept as a ≥ 0
    assert np.isnan(data.quaternions[2]).all() and (data.quaternions[~np.isnan(data.quaternions[:, 0]), 0] >= 0).all()
    ni, unknown = data.phases
    assert (ni["id"], ni["name"], ni["space_group"], ni["point_group"]) == (1, "Nickel", 225, "m-3m")
    assert ni["lattice"] == pytest.approx([3.52, 3.52, 3.52, 90, 90, 90])
    assert (unknown["id"], unknown["name"], unknown["point_group"]) == (2, "phase 2", None)  # used, not defined
    np.testing.assert_allclose(data.quality["mad"], 0.5)  # radians in the file, degrees in the store
    assert data.quality["bandcontrast"].tolist() == [0, 1, 2, 3, 4, 5]


def test_an_indexing_of_another_size_than_the_scan_is_one_line(tmp_path) -> None:
    with pytest.raises(InputError, match=r"its indexing \(Euler/Phase\) has 5 points but its scan 2 × 3 = 6"):
        read_vendor_indexing(_oxford(tmp_path / "a.h5oina", points=5))
    with h5py.File(tmp_path / "none.h5", "w") as f:
        f["Manufacturer"] = "Oxford Instruments"
        f.create_group("1/EBSD/Data")
    assert read_vendor_indexing(tmp_path / "none.h5") is None


def test_an_edax_map_of_one_phase(tmp_path) -> None:
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f[" Manufacturer"] = "EDAX"
        d = f.create_group("Scan 1/EBSD/Data")
        for k, name in enumerate(("Phi1", "Phi", "Phi2")):
            d[name] = EULER[:, k]
        d["Phase"], d["CI"] = np.zeros(6, int), np.array([0.9, 0.8, -1, 0.7, 0.6, 0.5])
        h = f.create_group("Scan 1/EBSD/Header")
        h["nColumns"], h["nRows"], h["Step X"], h["Step Y"] = [3], [2], [1.0], [1.0]
        p = h.create_group("Phase/1")
        p["MaterialName"], p["Point Group"] = "Iron (Alpha)", "Cubic (Oh) [m3m]"
        for k, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), (2.87, 2.87, 2.87, 90, 90, 90)):
            p[f"Lattice Constant {k}"] = [v]
    data = read_vendor_indexing(tmp_path / "e.h5")
    assert data.phase_id.tolist() == [1, 1, -1, 1, 1, 1]  # phase 0 of a one-phase scan is its phase; CI −1 not indexed
    assert data.phases[0]["point_group"] == "m-3m" and data.phases[0]["lattice"] == [2.87, 2.87, 2.87, 90, 90, 90]
    np.testing.assert_allclose(data.quality["ci"][[0, 2]], [0.9, -1])


def test_a_bruker_map_in_degrees_put_in_map_order(tmp_path) -> None:
    order = np.array([5, 0, 3, 1, 4, 2])  # the file's rows, out of order; SEM IX/IY say where each is
    iy, ix = np.divmod(order, 3)
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["Manufacturer"] = "Bruker Nano"
        d = f.create_group("Scan 0/EBSD/Data")
        for k, name in enumerate(("phi1", "PHI", "phi2")):
            d[name] = np.degrees(EULER[order, k])
        d["Phase"] = np.ones(6, int)
        sem = f.create_group("Scan 0/EBSD/SEM")
        sem["IX"], sem["IY"] = ix + 10, iy + 4  # offsets are removed
        h = f.create_group("Scan 0/EBSD/Header")
        h["NCOLS"], h["NROWS"], h["XSTEP"], h["YSTEP"] = [3], [2], [2.0], [2.0]
        p = h.create_group("Phases/1")
        p["Name"], p["IT"], p["LatticeConstants"] = "Ni", [225], [3.52, 3.52, 3.52, 90, 90, 90]
        p["AtomPositions/1"] = "Ni,0,0,0,1,0.0035"
        p["AtomPositions/2"] = "unreadable"  # no x, y, z: left out (kept, its empty position broke record_phase)
        p["AtomPositions/3"] = "Ni,0.5"
    data = read_vendor_indexing(tmp_path / "b.h5")
    want = np.asarray(__import__("orix.quaternion", fromlist=["Rotation"]).Rotation.from_euler(EULER).data)
    want = np.where(want[:, :1] < 0, -want, want)
    np.testing.assert_allclose(data.quaternions, want, atol=1e-6)
    assert data.phases[0]["atoms"] == [{"element": "Ni", "xyz": [0.0, 0.0, 0.0], "occupancy": 1.0}]
    np.testing.assert_allclose(data.x, [0, 2, 4, 0, 2, 4])
