"""``vaearr export`` and the orix/kikuchipy bridge: orientation maps ingested from ``.ang`` (written by orix),
``.ctf`` (Oxford AZtec's layout) and orix HDF5, two phases and points not indexed, exported to each format
and read back with :func:`orix.io.load`; ``vaearr index`` → ``.ang``; maps to CSV; bad input as one line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.helpers import assert_one_line_error, tree_hash, vaearr_cli

pytest.importorskip("orix", reason="needs the 'ebsd' extra")
from diffpy.structure import Lattice, Structure  # noqa: E402
from orix import io as orix_io  # noqa: E402
from orix.crystal_map import CrystalMap, Phase, PhaseList  # noqa: E402
from orix.quaternion import Rotation  # noqa: E402

import vaearr  # noqa: E402
from vaearr.cli import main  # noqa: E402
from vaearr.store import open_store, write_variables  # noqa: E402

NY, NX, STEP = 6, 8, 0.5
NOT_INDEXED = (5, 17, 30)
#: Exported → read back, largest misorientation (degrees) from the store's float32 quaternions: orix's .ang
#: writer keeps 5 decimals of radians; .ctf keeps 6 decimals of degrees (float32's own resolution is ~1e-5°).
TOLERANCE = {".ang": 1e-3, ".ctf": 2e-5}


def _truth():
    """48 random orientations on a 6 × 8 grid, ni (m-3m) and ti (6/mmm), three points not indexed."""
    rng = np.random.default_rng(31)
    q = rng.normal(size=(NY * NX, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    pid = np.where(np.arange(NY * NX) % 3 == 0, 2, 1)
    pid[list(NOT_INDEXED)] = -1
    y, x = np.indices((NY, NX)).astype(float) * STEP
    return Rotation(q), pid, x.ravel(), y.ravel()


def _source_orix(path: Path) -> Path:
    """``.ang`` or orix HDF5 (by the suffix), written by orix."""
    rot, pid, x, y = _truth()
    phases = PhaseList([Phase("ni", point_group="m-3m", structure=Structure(lattice=Lattice(3.52, 3.52, 3.52, 90, 90, 90))),
                        Phase("ti", point_group="6/mmm", structure=Structure(lattice=Lattice(2.95, 2.95, 4.68, 90, 90, 120)))],
                       ids=[1, 2])
    n = x.size
    xmap = CrystalMap(rot, phase_id=pid, x=x, y=y, phase_list=phases, scan_unit="um",
                      prop={"iq": np.arange(n, dtype=float), "ci": np.linspace(0, 1, n), "fit": np.full(n, 0.7)})
    orix_io.save(path, xmap)
    return path


def _source_ctf(path: Path) -> Path:
    """Oxford AZtec's layout, written here as AZtec writes it (tab-separated, phase 0 = not indexed)."""
    rot, pid, x, y = _truth()
    euler = np.degrees(rot.to_euler())
    head = ["Channel Text File", "Prj\ttest", "Author\t[Unknown]", "JobMode\tGrid", f"XCells\t{NX}", f"YCells\t{NY}",
            f"XStep\t{STEP}", f"YStep\t{STEP}", "AcqE1\t0", "AcqE2\t0", "AcqE3\t0",
            "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t100\tCoverage\t100\tDevice\t0\tKV\t20"
            "\tTiltAngle\t70\tTiltAxis\t0", "Phases\t2", "3.524;3.524;3.524\t90;90;90\tNickel\t11\t225",
            "2.951;2.951;4.684\t90;90;120\tTitanium\t9\t194",
            "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    rows = []
    for i in range(x.size):
        ph, err = (0, 3) if pid[i] < 0 else (int(pid[i]), 0)
        e = (0, 0, 0) if pid[i] < 0 else euler[i]
        rows.append(f"{ph}\t{x[i]:.4f}\t{y[i]:.4f}\t{8 + i % 3}\t{err}\t{e[0]:.4f}\t{e[1]:.4f}\t{e[2]:.4f}\t"
                    f"{0.3 + i / 100:.4f}\t{100 + i}\t{150 + i}")
    path.write_text("\n".join(head + rows) + "\n")
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """Each source format ingested through the CLI (no derived maps: the export does not need them)."""
    folder = tmp_path_factory.mktemp("export_sources")
    out = {}
    for suffix, make in ((".ang", _source_orix), (".ctf", _source_ctf), (".h5", _source_orix)):
        src = make(folder / f"map{suffix}")
        store = folder / f"map_{suffix[1:]}.zarr"
        _ingest(src, store)
        out[suffix] = store
    return out


def _ingest(src: Path, store: Path) -> None:
    argv, sys.argv = sys.argv, ["vaearr", "ingest", "orientations", str(src), str(store), "--no-maps"]
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, exc.code
    finally:
        sys.argv = argv


def _positive(q: np.ndarray) -> np.ndarray:
    return np.where(q[:, :1] < 0, -q, q)


def _phase_names(ds: xr.Dataset) -> np.ndarray:
    names = {p["id"]: p["name"] for p in ds.orientation.attrs["phases"]}
    return np.array([names.get(int(i), "") for i in ds.phase_id.values.ravel()])


@pytest.mark.parametrize("source", [".ang", ".ctf", ".h5"])
def test_ingest_export_load_gives_the_same_orientations_phases_and_coordinates(stores, tmp_path, capsys, source):
    ds = open_store(stores[source])
    q = ds.orientation.values.reshape(-1, 4)
    indexed = np.isfinite(q).all(axis=1)
    assert (~indexed).sum() == len(NOT_INDEXED)
    names = _phase_names(ds)
    for suffix in (".ang", ".ctf", ".h5"):
        out = tmp_path / f"out{suffix}"
        code, stdout, err = vaearr_cli("export", stores[source], "--var", "orientation", "--out", out)
        assert code == 0, err
        assert f"wrote {out}" in stdout and f"{NY * NX - len(NOT_INDEXED)} of {NY * NX} points indexed" in stdout
        if suffix == ".ang":  # an orientation map ingested alone holds no detector: said, and zeros written
            assert "projection centre: none in the store (x-star, y-star, z-star 0)" in stdout, stdout
        xmap = orix_io.load(out)
        assert xmap.size == NY * NX
        np.testing.assert_allclose(xmap.x, ds.x.values[None, :].repeat(NY, 0).ravel(), atol=1e-9)
        np.testing.assert_allclose(xmap.y, ds.y.values[:, None].repeat(NX, 1).ravel(), atol=1e-9)
        # the same phase at every point, by name, and the same crystal symmetry
        back = {int(i): p for i, p in xmap.phases if i >= 0}
        got = np.array([back[int(i)].name if i >= 0 else "" for i in xmap.phase_id])
        np.testing.assert_array_equal(got, names)
        pg = {p["name"]: p["point_group"] for p in ds.orientation.attrs["phases"]}
        for p in back.values():
            assert p.point_group.laue.name == Phase(point_group=pg[p.name]).point_group.laue.name
        rot = xmap.rotations.data[indexed]
        if suffix == ".h5":  # orix HDF5 keeps float64: the store's float32 quaternions (orix renormalises: ±1 ulp)
            np.testing.assert_array_max_ulp(_positive(rot).astype(np.float32), _positive(q[indexed]), maxulp=1)
        else:
            angle = np.degrees(Rotation(rot).angle_with(Rotation(q[indexed].astype(np.float64))))
            assert angle.max() < TOLERANCE[suffix], (suffix, angle.max())


def test_the_source_orientations_survive_ingest_and_export(stores, tmp_path, capsys):
    """File → store → .h5 is within float32 of the rotations the source file was written from."""
    rot, pid, _, _ = _truth()
    out = tmp_path / "back.h5"
    assert vaearr_cli("export", stores[".h5"], "--out", out)[0] == 0
    xmap = orix_io.load(out)
    ok = pid >= 0
    np.testing.assert_array_equal(xmap.phase_id, pid)
    angle = np.degrees(xmap.rotations[ok].angle_with(rot[ok]))
    assert angle.max() < 1e-4, angle.max()


def _assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    """Equal, the quaternions to float32 (orix renormalises them in float64: at most 1 ulp apart)."""
    xr.testing.assert_equal(a.drop_vars("orientation"), b.drop_vars("orientation"))
    qa, qb = a.orientation.values, b.orientation.values
    assert a.orientation.dims == b.orientation.dims and (np.isnan(qa) == np.isnan(qb)).all()
    np.testing.assert_array_max_ulp(np.nan_to_num(qa), np.nan_to_num(qb), maxulp=1)


@pytest.mark.parametrize("source", [".ang", ".ctf", ".h5"])
def test_from_crystal_map_of_to_crystal_map_is_the_store(stores, source):
    ds = open_store(stores[source])
    xmap = vaearr.to_crystal_map(ds)
    again = vaearr.from_crystal_map(xmap)
    names = list(again.data_vars)
    assert {"orientation", "phase_id"} <= set(names) and len(names) >= 4  # and the quality maps
    _assert_same(again, ds[names])
    keep = ("id", "name", "point_group", "lattice")
    assert [{k: p[k] for k in keep} for p in again.orientation.attrs["phases"]] == \
           [{k: p[k] for k in keep} for p in ds.orientation.attrs["phases"]]
    # ... and can be written with the store's write path
    other = stores[source].parent / f"again_{source[1:]}.zarr"
    write_variables(other, dict(again.data_vars), source="from_crystal_map", group_attrs=again.attrs)
    _assert_same(open_store(other)[names], ds[names])


def test_segmentation_as_phases_and_grains(stores, tmp_path, capsys):
    store = tmp_path / "seg.zarr"
    shutil.copytree(stores[".h5"], store)
    ds = open_store(store)
    labels = (np.arange(NY)[:, None] // 3) * 2 + np.arange(NX)[None, :] // 4  # four 3 × 4 blocks
    labels[0, 1] = -1  # outside the segmentation
    write_variables(store, {"seg": xr.DataArray(labels.astype(np.int32), dims=("y", "x"),
                                                coords={"y": ds.y, "x": ds.x})}, source="test")
    flat = labels.ravel()
    indexed = np.isfinite(ds.orientation.values.reshape(-1, 4)).all(1)
    for suffix in (".ang", ".h5"):
        out = tmp_path / f"seg{suffix}"
        code, stdout, err = vaearr_cli("export", store, "--out", out, "--phase-from", "seg", "--grain-from", "seg")
        assert code == 0, err
        xmap = orix_io.load(out)
        names = {int(i): p.name for i, p in xmap.phases if i >= 0}
        assert sorted(names.values()) == ["seg_0", "seg_1", "seg_2", "seg_3"]
        got = np.array([names[int(i)] if i >= 0 else "" for i in xmap.phase_id])
        want = np.array([f"seg_{k}" if k >= 0 and ok else "" for k, ok in zip(flat, indexed)])
        np.testing.assert_array_equal(got, want)
        grain = np.asarray(xmap.prop["grain_id"])
        np.testing.assert_array_equal(grain[want != ""], flat[want != ""])
    code, _, err = vaearr_cli("export", store, "--out", tmp_path / "seg.ctf", "--grain-from", "seg")
    assert_one_line_error(code, err, "seg.ctf", "no grain id column")
    assert not (tmp_path / "seg.ctf").exists()


def test_bad_input_is_one_line_and_writes_nothing(stores, tmp_path, capsys):
    store = stores[".ang"]
    before = tree_hash(store)
    existing = tmp_path / "there.ang"
    existing.write_text("keep me")
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases = [
        (["--out", tmp_path / "map.txt"], ["map.txt", "unknown suffix '.txt'"]),
        (["--out", tmp_path / "map.ang", "--var", "nope"], [str(store), "no orientation variable 'nope'",
                                                                    "its orientations: orientation"]),
        (["--out", existing], ["there.ang", "exists; pass --overwrite"]),
        (["--out", tmp_path / "map.ang", "--phase-from", "iq"], [str(store), "--phase-from", "'iq' is not a label map"]),
        (["--out", tmp_path / "map.ang", "--phase-from", "nothing"], ["--phase-from: no variable 'nothing'"]),
        (["--out", a_file / "map.ang"], ["cannot be written", "is not a folder"]),
        (["--out", tmp_path / "t.csv"], ["needs --vars"]),
        (["--out", tmp_path / "t.csv", "--vars", "orientation,nope"], ["--vars: no variable 'nope'"]),
    ]
    for args, needles in cases:
        code, _, err = vaearr_cli("export", store, *args)
        assert_one_line_error(code, err, *needles)
    assert existing.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "there.ang"]
    assert tree_hash(store) == before
    code, _, err = vaearr_cli("export", store, "--out", existing, "--overwrite")
    assert code == 0, err
    assert orix_io.load(existing).size == NY * NX


def test_maps_to_csv_in_the_x_y_layout(stores, tmp_path, capsys):
    store = tmp_path / "maps.zarr"
    coords = {"y": np.arange(NY) * STEP, "x": np.arange(NX) * STEP + 10.0}
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(NY, NX, 3)).astype(np.float32)
    clusters = rng.integers(0, 4, (NY, NX)).astype(np.int32)
    roi = np.ones((NY, NX), bool)
    roi[:2, :3] = False
    write_variables(store, {
        "latent": xr.DataArray(latent, dims=("y", "x", "latent_dim"), coords={**coords, "latent_dim": [0, 1, 2]}),
        "pca_weights": xr.DataArray(latent[..., :2] * 2, dims=("y", "x", "pca_component"), coords=coords),
        "clusters": xr.DataArray(clusters, dims=("y", "x"), coords=coords),
        "roi": xr.DataArray(roi, dims=("y", "x"), coords=coords)}, source="test")
    out = tmp_path / "results.csv"
    code, stdout, err = vaearr_cli("export", store, "--out", out, "--vars", "latent,pca_weights,clusters")
    assert code == 0, err
    assert f"{NY * NX} rows" in stdout and "NaN outside 'roi' (6 pixels)" in stdout
    fresh = tmp_path / "fresh"
    fresh.write_text("")
    assert out.stat().st_mode == fresh.stat().st_mode  # the user's umask, as any file they write
    table = pd.read_csv(out)
    assert list(table.columns) == ["x", "y", "latent_0", "latent_1", "latent_2", "pca_weights_0", "pca_weights_1",
                                   "clusters"]
    yy, xx = np.meshgrid(coords["y"], coords["x"], indexing="ij")
    np.testing.assert_array_equal(table.x, xx.ravel())
    np.testing.assert_array_equal(table.y, yy.ravel())
    inside = roi.ravel()
    lat = table[["latent_0", "latent_1", "latent_2"]].to_numpy()
    np.testing.assert_array_equal(lat[inside].astype(np.float32), latent.reshape(-1, 3)[inside])  # float32 exactly
    assert np.isnan(lat[~inside]).all() and table.clusters[~inside].isna().all()
    np.testing.assert_array_equal(table.clusters[inside], clusters.ravel()[inside])
    np.testing.assert_allclose(table.pca_weights_1[inside], 2 * latent[..., 1].ravel()[inside], rtol=1e-6)
    code, stdout, err = vaearr_cli("export", store, "--out", tmp_path / "roi.csv", "--vars", "clusters",
                                   "--mask", "roi")
    assert code == 0, err
    skipped = pd.read_csv(tmp_path / "roi.csv")
    assert len(skipped) == inside.sum() and not skipped.clusters.isna().any()


def test_to_ebsd_is_a_lazy_kikuchipy_signal_with_the_map_and_the_detector(stores, tmp_path):
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    store = tmp_path / "pats.zarr"
    shutil.copytree(stores[".ang"], store)
    ds = open_store(store)
    pats = np.random.default_rng(2).integers(0, 255, (NY, NX, 12, 14)).astype(np.uint8)
    write_variables(store, {"patterns": xr.DataArray(pats, dims=("y", "x", "py", "px"), coords={"y": ds.y, "x": ds.x},
                                                     attrs={"detector_pc": [0.4, 0.3, 0.5], "detector_sample_tilt": 68.0,
                                                            "detector_tilt": 2.0})}, source="test")
    s = vaearr.to_ebsd(open_store(store))
    assert type(s).__name__ == "LazyEBSD" and s.data.shape == (NY, NX, 12, 14)
    np.testing.assert_array_equal(s.inav[3, 2].data.compute(), pats[2, 3])
    x_axis, y_axis = s.axes_manager.navigation_axes
    assert (x_axis.scale, y_axis.scale, x_axis.units) == (STEP, STEP, "um")
    assert s.xmap.shape == (NY, NX) and s.xmap.phases.names[1:] == ["ni", "ti"]
    np.testing.assert_allclose(np.ravel(s.detector.pc)[:3], [0.4, 0.3, 0.5])
    assert (s.detector.sample_tilt, s.detector.tilt) == (68.0, 2.0)


def test_vaearr_index_then_export_ang_opens_in_orix(tmp_path, capsys):
    """Orientations from ``vaearr index`` (dictionary indexing of 12 simulated Ni patterns) out to .ang."""
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    from vaearr.data.simulated import (
        DEMO_PC,
        DEMO_SAMPLE_TILT,
        random_quaternions,
        simulate_kikuchi,
        static_background,
    )

    ny, nx, ps = 3, 4, (40, 40)
    img = static_background(ps) * (1 + 0.1 * simulate_kikuchi(random_quaternions(ny * nx, np.random.default_rng(7)),
                                                               ps, False))
    pats = np.clip(np.rint(img / img.max() * 250), 0, 255).astype(np.uint8).reshape(ny, nx, *ps)
    store = tmp_path / "ni.zarr"
    write_variables(store, {"patterns": xr.DataArray(pats, dims=("y", "x", "py", "px"),
                                                     coords={"y": np.arange(ny) * 1.5, "x": np.arange(nx) * 1.5})})
    code, _, err = vaearr_cli("index", store, "--phase", "ni", "--pc", ",".join(map(str, DEMO_PC)),
                              "--tilt", DEMO_SAMPLE_TILT, "--method", "dictionary", "--resolution", 8)
    assert code == 0, err
    out = tmp_path / "ni.ang"
    code, stdout, err = vaearr_cli("export", store, "--out", out)
    assert code == 0 and "12 of 12 points indexed; phases: ni (m-3m)" in stdout, err
    xmap = orix_io.load(out)
    ds = open_store(store)
    q = ds.orientation.values.reshape(-1, 4).astype(np.float64)
    assert np.degrees(xmap.rotations.angle_with(Rotation(q))).max() < 1e-3
    assert xmap.phases[1].name == "ni" and xmap.phases[1].point_group.laue.name == "m-3m"
    assert xmap.phases[1].structure.lattice.a == pytest.approx(3.524, abs=0.01)  # Å, from the master pattern's nm
    np.testing.assert_allclose(xmap.prop["ci"], ds.orientation_score.values.ravel(), atol=1e-5)  # the NCC as CI
    np.testing.assert_allclose(xmap.x, np.tile(np.arange(nx) * 1.5, ny))


def test_a_phase_name_with_a_line_break_or_hash_stays_one_header_field(tmp_path):
    """A phase named in an orix HDF5 file with line breaks and '#' ("Ni\\n# Phase 2\\n# MaterialName evil#") was
    written as header lines of its own into the .ang (`# # Phase 2`: the file then read differently) and broke the
    .ctf's phase line (orix could not read it back). Now the name is one field: one phase line each, read back as one
    phase with the store's orientations (issue 63)."""
    hostile = "Ni\n# Phase 2\n# MaterialName evil#\tx"
    rng = np.random.default_rng(5)
    y, x = (np.indices((NY, NX)).astype(float) * STEP).reshape(2, -1)
    structure = Structure(lattice=Lattice(3.52, 3.52, 3.52, 90, 90, 90))
    xmap = CrystalMap(Rotation(rng.normal(size=(NY * NX, 4))).unit, x=x, y=y, phase_id=np.ones(NY * NX, int),
                      phase_list=PhaseList([Phase(hostile, point_group="m-3m", structure=structure)], ids=[1]))
    orix_io.save(tmp_path / "m.h5", xmap)
    code, _, err = vaearr_cli("ingest", "orientations", tmp_path / "m.h5", tmp_path / "s.zarr", "--no-maps")
    assert code == 0, err
    assert open_store(tmp_path / "s.zarr").orientation.attrs["phases"][0]["name"] == hostile  # kept as the file says
    for suffix in (".ang", ".ctf"):
        out = tmp_path / f"m{suffix}"
        code, said, err = vaearr_cli("export", tmp_path / "s.zarr", "--out", out)
        assert code == 0, err
        assert "phases: Ni Phase 2 MaterialName evil x (m-3m)" in said
        text = out.read_text()
        if suffix == ".ang":
            header = [ln for ln in text.splitlines() if ln.startswith("#")]
            assert sum(ln.startswith("# Phase") for ln in header) == 1, header
            assert "# MaterialName    Ni Phase 2 MaterialName evil x" in header
            assert not any(ln.startswith("# #") for ln in header), header
        else:
            lines = text.splitlines()
            at = lines.index("Phases\t1")
            assert lines[at + 1].split("\t")[2] == "Ni Phase 2 MaterialName evil x"
            assert lines[at + 2].startswith("Phase\tX\tY"), lines[at + 2]
        back = orix_io.load(out)
        assert back.phases.size == 1 and back.size == NY * NX
        assert np.allclose(np.abs(np.sum(back.rotations.data * xmap.rotations.data, axis=1)), 1, atol=1e-4)
