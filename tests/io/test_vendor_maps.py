"""Tests for vaearr.io.vendor_maps: ``vaearr ingest ebsd`` brings a vendor file in whole.

Files: kikuchipy's real Ni scan (3×3 patterns of 60×60 uint8) in the layouts kikuchipy ships
(EDAX h5ebsd) or creates (its Bruker h5ebsd and Oxford H5OINA dummies,
``vaearr.data.make_vendor_files``), with their indexing datasets rewritten here following each
vendor's published layout into a **two-phase** map with points not indexed (Ni fcc and Fe bcc), and an
H5OINA's EDS element maps (``1/EDS/Data/Window Integral``). The orientations read are checked
against orix (``orix.io.load`` of the Bruker file; ``Rotation.from_euler`` of the Euler angles
written) to float32.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import assert_one_line_error, tree_hash, vaearr_cli

kp = pytest.importorskip("kikuchipy", reason="EBSD ingest needs the 'ebsd' extra")
h5py = pytest.importorskip("h5py")
orix_io = pytest.importorskip("orix.io")
from orix.quaternion import Rotation  # noqa: E402

from vaearr.data import kikuchipy_files, make_vendor_files  # noqa: E402

N = 9  # the Ni scan: 3 × 3
#: Phase of each point, row by row: 1 = Ni (fcc), 2 = Fe (bcc), 0 = not indexed.
PHASES = np.array([1, 2, 1, 0, 2, 1, 1, 2, 0])
ELEMENTS = {"Fe Ka1": 10.0, "Ni Ka1": 20.0, "Cr Ka1": 30.0}


def _euler() -> np.ndarray:
    """Nine Bunge Euler triplets (radians) of a seeded random rotation each."""
    rng = np.random.default_rng(3)
    q = rng.normal(size=(N, 4))
    return Rotation(q / np.linalg.norm(q, axis=1, keepdims=True)).to_euler().astype(np.float32)


def _replace(group, name: str, data, **attrs) -> None:
    if name in group:
        del group[name]
    group.create_dataset(name, data=data)
    group[name].attrs.update(attrs)


def _quaternions(euler: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The reference: orix's quaternions of ``euler`` (a ≥ 0), NaN where not indexed."""
    q = Rotation.from_euler(np.asarray(euler, np.float64)).data
    q = np.where(q[:, :1] < 0, -q, q)
    q[phase < 0] = np.nan
    return q.astype(np.float32).reshape(3, 3, 4)


def write_h5oina(path: Path, template: Path, *, eds: bool = True, euler_rows: int = N, eds_rows: int = N) -> np.ndarray:
    """kikuchipy's H5OINA dummy with two phases, indexing and EDS maps as Oxford's spec lays them out."""
    shutil.copy(template, path)
    euler = _euler()
    with h5py.File(path, "r+") as f:
        data, header = f["1/EBSD/Data"], f["1/EBSD/Header"]
        _replace(data, "Euler", euler[:euler_rows], Unit="rad")
        _replace(data, "Phase", PHASES.astype(np.uint8))
        _replace(data, "Band Contrast", np.arange(N, dtype=np.uint8) * 20)
        _replace(data, "Band Slope", np.arange(N, dtype=np.uint8) + 100)
        _replace(data, "Bands", np.full(N, 8, np.uint8))
        _replace(data, "Mean Angular Deviation", np.deg2rad(np.linspace(0.2, 1.0, N)).astype(np.float32), Unit="rad")
        for pid, (name, sg) in {1: ("Ni", 225), 2: ("Fe", 229)}.items():
            g = header.create_group(f"Phases/{pid}")
            g["Phase Name"] = name.encode()
            g["Space Group"] = np.int32(sg)
            g["Laue Group"] = np.int32(11)
            g["Laue Group"].attrs["Symbol"] = b"m-3m"
            g["Lattice Dimensions"] = np.array([3.52 if pid == 1 else 2.87] * 3, np.float32)
            g["Lattice Angles"] = np.full(3, np.pi / 2, np.float32)
        if eds:
            wi = f.create_group("1/EDS/Data/Window Integral")
            for k, (name, base) in enumerate(ELEMENTS.items()):
                wi[name] = (base + np.arange(eds_rows)).astype(np.float32)
                wi[name].attrs["Atomic Number"] = np.int32([26, 28, 24][k])
            f.create_group("1/EDS/Header")
    return euler


def write_edax(path: Path, template: Path) -> np.ndarray:
    """kikuchipy's shipped EDAX h5ebsd with two phases (OIM's header layout) and CI = -1 where not indexed."""
    shutil.copy(template, path)
    euler = _euler()
    with h5py.File(path, "r+") as f:
        data, header = f["Scan 1/EBSD/Data"], f["Scan 1/EBSD/Header"]
        for k, name in enumerate(("Phi1", "Phi", "Phi2")):
            _replace(data, name, euler[:, k])
        _replace(data, "Phase", np.where(PHASES == 0, 1, PHASES).astype(np.int8))
        _replace(data, "CI", np.where(PHASES == 0, -1, 0.5).astype(np.float32))
        _replace(data, "IQ", np.linspace(100, 900, N).astype(np.float32))
        g = header.create_group("Phase/2")
        g["MaterialName"] = np.array([b"Iron"])
        g["Point Group"] = np.array([b"Cubic (Oh) [m3m]"])
        for k, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), (2.87, 2.87, 2.87, 90, 90, 90)):
            g[f"Lattice Constant {k}"] = np.array([v], ">f4")
    return euler


def write_bruker(path: Path, template: Path, *, map_order: bool = True) -> np.ndarray:
    """kikuchipy's Bruker dummy with two phases, Euler angles in degrees and real sample coordinates."""
    shutil.copy(template, path)
    euler = _euler()
    with h5py.File(path, "r+") as f:
        data, phases = f["Scan 0/EBSD/Data"], f["Scan 0/EBSD/Header/Phases"]
        for k, name in enumerate(("phi1", "PHI", "phi2")):
            _replace(data, name, np.rad2deg(euler[:, k]).astype(np.float32))
        _replace(data, "Phase", PHASES.astype(np.int32))
        _replace(data, "MAD", np.linspace(0.3, 1.1, N).astype(np.float32))
        _replace(data, "RadonQuality", np.linspace(0.1, 0.9, N).astype(np.float32))
        _replace(data, "X SAMPLE", np.tile([0.0, 1.5, 3.0], 3).astype(np.float32))
        _replace(data, "Y SAMPLE", np.repeat([0.0, 1.5, 3.0], 3).astype(np.float32))
        if map_order:  # each point's map column and row (the dummy has one placeholder value)
            _replace(f["Scan 0/SEM"], "SEM IX", np.tile([0, 1, 2], 3).astype(np.int32))
            _replace(f["Scan 0/SEM"], "SEM IY", np.repeat([0, 1, 2], 3).astype(np.int32))
        # occupancy last, as orix's Bruker reader parses an atom
        _replace(phases["1/AtomPositions"], "1", np.array([b"Ni,0,0,0,1"]))
        g = phases.create_group("2")
        g["Name"] = np.array([b"Iron"])
        g["IT"] = np.int32(229)
        g["LatticeConstants"] = np.array([2.87, 2.87, 2.87, 90, 90, 90], np.float32)
        g.create_group("AtomPositions")["1"] = np.array([b"Fe,0,0,0,1"])
    return euler


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("vendor")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = {**kikuchipy_files(), **make_vendor_files(d / "kikuchipy")}
    out = {"kp_oxford": base["oxford_h5oina"], "kp_bruker": base["bruker_h5ebsd"], "kp_edax": base["edax_h5ebsd"],
           "oxford": d / "map.h5oina", "edax": d / "edax.h5", "bruker": d / "bruker.h5",
           "oxford_short": d / "short.h5oina", "eds_only": d / "eds_only.h5oina",
           "no_patterns": d / "no_patterns.h5oina", "bruker_one_ix": d / "bruker_one_ix.h5",
           "eds_short": d / "eds_short.h5oina"}
    write_h5oina(out["oxford"], base["oxford_h5oina"])
    write_edax(out["edax"], base["edax_h5ebsd"])
    write_bruker(out["bruker"], base["bruker_h5ebsd"])
    write_h5oina(out["oxford_short"], base["oxford_h5oina"], euler_rows=N - 1)
    write_bruker(out["bruker_one_ix"], base["bruker_h5ebsd"], map_order=False)
    write_h5oina(out["eds_short"], base["oxford_h5oina"], eds_rows=N - 1)
    write_h5oina(out["no_patterns"], base["oxford_h5oina"])
    with h5py.File(out["no_patterns"], "r+") as f:  # AZtec's export without patterns: the indexing only
        del f["1/EBSD/Data/Processed Patterns"], f["1/EBSD/Data/Unprocessed Patterns"]
    with h5py.File(out["eds_only"], "w") as f:  # an EDS map exported alone: no EBSD group
        f["Format Version"], f["Index"], f["Manufacturer"] = b"7.0", b"1", b"Oxford Instruments"
        f.create_group("1/EDS/Data/Window Integral")["Fe Ka1"] = np.ones(N, np.float32)
        f.create_group("1/EDS/Header")
    return out


def _ingest(capsys, tmp_path, src, *args):
    import xarray as xr

    store = tmp_path / "s.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, out, err = vaearr_cli("ingest", "ebsd", src, store, *args)
    assert code == 0, err
    return xr.open_zarr(store), out


def _check_orientations(ds, euler):
    phase = np.where(PHASES == 0, -1, PHASES)
    np.testing.assert_array_equal(ds.phase_id.values, phase.reshape(3, 3))
    np.testing.assert_allclose(ds.orientation.values, _quaternions(euler, phase), atol=2e-7)
    assert [p["id"] for p in ds.orientation.attrs["phases"]] == [1, 2]


def test_h5oina_brings_patterns_indexing_and_eds_in_one_go(files, capsys, tmp_path):
    ds, out = _ingest(capsys, tmp_path, files["oxford"])
    lines = out.splitlines()
    assert lines[0].startswith("patterns: 3 × 3 scan of 60 × 60 px uint8")
    assert lines[1] == ("orientations: 2 phases (Ni, Fe), 78 % indexed; "
                        "quality maps bandcontrast, bands, bandslope, mad")
    assert lines[2] == "elements: Cr, Fe, Ni (EDS Window Integral, counts/s)"
    euler = _euler()
    _check_orientations(ds, euler)
    phases = {p["id"]: (p["name"], p["point_group"], p["lattice"][0]) for p in ds.orientation.attrs["phases"]}
    assert phases == {1: ("Ni", "m-3m", pytest.approx(3.52)), 2: ("Fe", "m-3m", pytest.approx(2.87))}
    np.testing.assert_array_equal(ds.bandcontrast.values.ravel(), np.arange(N) * 20)
    np.testing.assert_allclose(ds.mad.values.ravel(), np.linspace(0.2, 1.0, N), rtol=1e-5)  # degrees, as .ctf
    assert ds.elements.dims == ("element", "y", "x") and ds.elements.element.values.tolist() == ["Cr", "Fe", "Ni"]
    np.testing.assert_array_equal(ds.elements.sel(element="Ni").values.ravel(), 20.0 + np.arange(N))
    assert ds.patterns.shape == (3, 3, 60, 60)
    # one transaction: every variable names the file and carries the same config
    assert {ds[v].attrs["source"] for v in ds.data_vars} == {f'["{files["oxford"]}"]'}


def test_orientation_maps_run_on_what_the_vendor_file_brought(files, capsys, tmp_path):
    ds, _ = _ingest(capsys, tmp_path, files["oxford"], "--no-elements")
    assert "elements" not in ds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, out, err = vaearr_cli("orientation-maps", tmp_path / "s.zarr")
    assert code == 0, err
    import xarray as xr

    ds = xr.open_zarr(tmp_path / "s.zarr")
    assert (ds.orientation_grains.values[ds.phase_id.values < 0] < 0).all()
    assert np.isfinite(ds.orientation_ipf.values[ds.phase_id.values >= 0]).all()


def test_edax_h5ebsd_two_phases_ci_iq(files, capsys, tmp_path):
    ds, out = _ingest(capsys, tmp_path, files["edax"])
    assert "orientations: 2 phases (Nickel, Iron), 78 % indexed; quality maps ci, fit, iq" in out
    assert "elements" not in out and "elements" not in ds
    _check_orientations(ds, _euler())
    assert [p["point_group"] for p in ds.orientation.attrs["phases"]] == ["m-3m", "m-3m"]
    np.testing.assert_allclose(ds.iq.values.ravel(), np.linspace(100, 900, N))
    assert (ds.ci.values.ravel()[PHASES == 0] == -1).all()


def test_bruker_h5ebsd_through_orix(files, capsys, tmp_path):
    ds, out = _ingest(capsys, tmp_path, files["bruker"])
    assert "orientations: 2 phases (Nickel, Iron), 78 % indexed" in out
    xmap = orix_io.load(files["bruker"])  # the reference: what orix reads of the file
    phase = np.where(PHASES == 0, -1, PHASES)
    q = xmap.rotations.data
    q = np.where(q[:, :1] < 0, -q, q)
    q[phase < 0] = np.nan
    np.testing.assert_allclose(ds.orientation.values, q.astype(np.float32).reshape(3, 3, 4), atol=2e-7)
    np.testing.assert_array_equal(ds.phase_id.values.ravel(), xmap.phase_id)
    np.testing.assert_allclose(ds.radonquality.values.ravel(), np.linspace(0.1, 0.9, N), rtol=1e-6)
    assert {"mad", "bands", "radonquality", "radonbandcount"} <= set(ds.data_vars)


def test_bruker_read_by_hand_equals_orix(files, capsys, tmp_path):
    # orix orders Bruker points by SEM IX/IY and gives no map for kikuchipy's one placeholder value
    # there; vaearr then reads the datasets by hand, in the row order kikuchipy reads the patterns in
    ds, _ = _ingest(capsys, tmp_path, files["bruker_one_ix"])
    ref, _ = _ingest(capsys, tmp_path / "ref", files["bruker"])
    for name in ("phase_id", "mad", "radonquality", "bands"):
        np.testing.assert_array_equal(ds[name].values, ref[name].values)
    # orix converts the float32 degrees in float32, vaearr in float64: equal to float32
    np.testing.assert_allclose(ds.orientation.values, ref.orientation.values, atol=2e-7)
    for got, want in zip(ds.orientation.attrs["phases"], ref.orientation.attrs["phases"], strict=True):
        assert got == {**want, "lattice": pytest.approx(want["lattice"], rel=1e-6)}


@pytest.mark.parametrize("key", ["kp_oxford", "kp_bruker", "kp_edax"])
def test_kikuchipy_files_bring_their_indexing(key, files, capsys, tmp_path):
    # kikuchipy's own files: one phase, every point indexed (the Bruker dummy's header is read by
    # hand, orix's reader stops at its atom's Debye-Waller factor)
    ds, out = _ingest(capsys, tmp_path, files[key])
    assert "orientations: 1 phase" in out and "100 % indexed" in out
    assert (ds.phase_id.values >= 0).all() and np.isfinite(ds.orientation.values).all()
    np.testing.assert_allclose(np.linalg.norm(ds.orientation.values, axis=-1), 1, atol=1e-6)


def test_no_orientations_reads_patterns_and_elements_only(files, capsys, tmp_path):
    ds, out = _ingest(capsys, tmp_path, files["oxford"], "--no-orientations")
    assert set(ds.data_vars) == {"patterns", "elements"} and "orientations:" not in out


def test_bad_vendor_files_give_one_line_and_no_store(files, capsys, tmp_path):
    for key, needle in (("eds_only", "holds no EBSD data"),
                        ("no_patterns", "holds no patterns (no Processed Patterns or Unprocessed Patterns in its "
                                        "EBSD data); 'vaearr ingest orientations' reads its indexing"),
                        ("oxford_short", "its indexing (Euler/Phase) has 8 points but its scan 3 × 3 = 9"),
                        ("eds_short", "its EDS maps (Window Integral) have 8 points but its patterns a 9-point "
                                      "scan: the EDS grid does not match the patterns")):
        store = tmp_path / f"{key}.zarr"
        code, _, err = vaearr_cli("ingest", "ebsd", files[key], store)
        assert_one_line_error(code, err, str(files[key]), needle)
        assert not store.exists()
    # an existing store is left as it was
    store = tmp_path / "existing.zarr"
    _ingest(capsys, tmp_path, files["kp_edax"])
    shutil.copytree(tmp_path / "s.zarr", store)
    before = tree_hash(store)
    code, _, err = vaearr_cli("ingest", "ebsd", files["oxford_short"], store, "--overwrite")
    assert_one_line_error(code, err, "indexing grid does not match")
    assert tree_hash(store) == before
    # the patterns alone still come in with --no-orientations
    ds, _ = _ingest(capsys, tmp_path / "x", files["oxford_short"], "--no-orientations", "--no-elements")
    assert set(ds.data_vars) == {"patterns"}


def test_ingest_orientations_reads_the_indexing_of_h5oina_and_edax(files, capsys, tmp_path):
    # the same map as ingest ebsd gives, on the same grid: from a file without patterns too
    import xarray as xr

    for key in ("no_patterns", "edax"):
        store = tmp_path / f"{key}.zarr"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code, out, err = vaearr_cli("ingest", "orientations", files[key], store, "--no-maps")
        assert code == 0, err
        ds = xr.open_zarr(store)
        _check_orientations(ds, _euler())
        assert ds.x.values.tolist() == [0.0, 1.5, 3.0] and ds.y.values.tolist() == [0.0, 1.5, 3.0]


def test_edax_map_equals_its_ang_written_by_orix(files, capsys, tmp_path):
    # the EDAX h5ebsd is read with orix's .ang conventions: the same map saved by orix's .ang
    # writer and read back by `ingest orientations` gives the same orientations and phases
    from orix.crystal_map import CrystalMap, Phase, PhaseList

    ds, _ = _ingest(capsys, tmp_path, files["edax"])
    phase = np.where(PHASES == 0, -1, PHASES)
    y, x = np.divmod(np.arange(N), 3)
    xmap = CrystalMap(Rotation.from_euler(_euler().astype(np.float64)), phase_id=phase, x=x * 1.5, y=y * 1.5,
                      phase_list=PhaseList([Phase("Nickel", point_group="m-3m"), Phase("Iron", point_group="m-3m")],
                                           ids=[1, 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        orix_io.save(tmp_path / "map.ang", xmap)
        code, _, err = vaearr_cli("ingest", "orientations", tmp_path / "map.ang",
                                  tmp_path / "ang.zarr", "--no-maps")
    assert code == 0, err
    import xarray as xr

    ang = xr.open_zarr(tmp_path / "ang.zarr")
    np.testing.assert_array_equal(ang.phase_id.values, ds.phase_id.values)
    np.testing.assert_allclose(ang.orientation.values, ds.orientation.values, atol=1e-5)  # .ang: 5 decimals
