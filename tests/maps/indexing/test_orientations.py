"""Orientation maps: ``ingest orientations`` (.ang written by orix, .ctf in Oxford's layout), the maps derived
from them (IPF, KAM, grains, GROD, boundaries), ``orientation-maps``, and orientation as a rank reference.

Every orientation here is known to the test: the files are written from them, and the derived maps are
checked against values worked out by hand (KAM of a rotation gradient, a planted two-grain map) or
against orix called directly (IPF colours).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr.errors import InputError, StoreError

pytest.importorskip("orix", reason="needs the 'ebsd' extra")
from orix import io as orix_io  # noqa: E402
from orix.crystal_map import CrystalMap, Phase, PhaseList  # noqa: E402
from orix.quaternion import Orientation, Rotation, symmetry  # noqa: E402

from vaearr.io.orientations import ingest_orientations, read_crystal_map  # noqa: E402
from vaearr.maps.indexing.orientations import (  # noqa: E402
    orientation_maps,
    orientation_maps_derived,
    write_orientation_maps,
)
from vaearr.store import open_store, write_variables  # noqa: E402

NY, NX, STEP = 6, 8, 0.5


def _known_rotations(seed: int = 0, n: int = NY * NX) -> Rotation:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))


def _grid():
    y, x = np.indices((NY, NX)).astype(float) * STEP
    return x.ravel(), y.ravel()


def _write_ang(path: Path, rot: Rotation) -> Path:
    x, y = _grid()
    n = x.size
    xmap = CrystalMap(rotations=rot, x=x, y=y, phase_id=np.ones(n, int),
                      phase_list=PhaseList([Phase(name="ni", point_group="m-3m")], ids=[1]),
                      prop={"iq": np.arange(n, dtype=float), "ci": np.linspace(0, 1, n), "fit": np.full(n, 0.7)},
                      scan_unit="um")
    orix_io.save(path, xmap)
    return path


def _write_ctf(path: Path, euler_deg: np.ndarray, *, bc: np.ndarray, mad: np.ndarray, bands: np.ndarray) -> Path:
    """A Channel Text File in Oxford AZtec's layout (tab-separated header, one phase, rows in raster order)."""
    x, y = _grid()
    head = ["Channel Text File", "Prj\ttest", "Author\t[Unknown]", "JobMode\tGrid", f"XCells\t{NX}", f"YCells\t{NY}",
            f"XStep\t{STEP}", f"YStep\t{STEP}", "AcqE1\t0", "AcqE2\t0", "AcqE3\t0",
            "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t100\tCoverage\t100\tDevice\t0\tKV\t20"
            "\tTiltAngle\t70\tTiltAxis\t0", "Phases\t1", "3.524;3.524;3.524\t90;90;90\tNickel\t11\t225",
            "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    rows = [f"1\t{x[i]:.4f}\t{y[i]:.4f}\t{int(bands[i])}\t0\t{euler_deg[i, 0]:.5f}\t{euler_deg[i, 1]:.5f}\t"
            f"{euler_deg[i, 2]:.5f}\t{mad[i]:.4f}\t{int(bc[i])}\t{int(bc[i]) + 5}" for i in range(x.size)]
    path.write_text("\n".join(head + rows) + "\n")
    return path


def _grid_store(path: Path, step: float = STEP, shape=(NY, NX)) -> Path:
    gy, gx = np.arange(shape[0]) * step, np.arange(shape[1]) * step
    roi = xr.DataArray(np.ones(shape, bool), dims=("y", "x"), coords={"y": gy, "x": gx})
    write_variables(path, {"roi": roi}, source="test", group_attrs={"grid": "square"})
    return path


def _angles_deg(q_store: np.ndarray, rot: Rotation) -> np.ndarray:
    return Rotation(q_store.reshape(-1, 4).astype(np.float64)).angle_with(rot, degrees=True)


def _variables(q: np.ndarray, *, point_group: str = "m-3m", step: float = 1.0) -> dict[str, xr.DataArray]:
    ny, nx = q.shape[:2]
    coords = {"y": np.arange(ny) * step, "x": np.arange(nx) * step}
    phases = [{"id": 1, "name": "ni", "point_group": point_group, "lattice": None}]
    return {"orientation": xr.DataArray(q.astype(np.float32), dims=("y", "x", "quaternion"), coords=coords,
                                        attrs={"phases": phases}),
            "phase_id": xr.DataArray(np.ones((ny, nx), np.int16), dims=("y", "x"), coords=coords)}


# --------------------------------------------------------------------------------------------
# reading files


def test_ang_written_by_orix_reads_back_within_a_hundredth_of_a_degree(tmp_path):
    rot = _known_rotations(1)
    ang = _write_ang(tmp_path / "map.ang", rot)
    store = tmp_path / "s.zarr"
    proc = cli("ingest", "orientations", ang, store, check=True)
    assert "grains at 5°" in proc.stdout
    ds = open_store(store)
    assert ds["orientation"].dims == ("y", "x", "quaternion")
    assert ds["orientation"].dtype == np.float32
    assert list(ds["quaternion"].values) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(ds["x"].values, np.arange(NX) * STEP)
    q = ds["orientation"].values
    assert np.abs(_angles_deg(q, rot)).max() < 0.01
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1, atol=1e-6)
    assert (ds["phase_id"].values == 1).all()
    (phase,) = ds["orientation"].attrs["phases"]
    assert phase["name"] == "ni" and phase["point_group"] in ("m-3m", "432") and len(phase["lattice"]) == 6
    np.testing.assert_allclose(ds["iq"].values.ravel(), np.arange(NY * NX), atol=1e-4)
    np.testing.assert_allclose(ds["fit"].values, 0.7, atol=1e-4)
    for part in ("ipf", "kam", "grod", "grains", "grain_boundaries"):
        assert f"orientation_{part}" in ds


def test_orix_hdf5_reads_back_with_its_phase_and_properties(tmp_path):
    """orix's own HDF5 crystal map (what kikuchipy's indexing results are saved as), two phases."""
    rot = _known_rotations(3)
    x, y = _grid()
    n = x.size
    pid = np.where(np.arange(n) % 3 == 0, 2, 1)
    pid[5] = -1  # a point orix marks not indexed
    phases = PhaseList([Phase(name="ni", point_group="m-3m"), Phase(name="fe", point_group="m-3m")], ids=[1, 2])
    xmap = CrystalMap(rotations=rot, x=x, y=y, phase_id=pid, phase_list=phases,
                      prop={"scores": np.linspace(0.1, 0.9, n)}, scan_unit="um")
    h5 = tmp_path / "map.h5"
    orix_io.save(h5, xmap)
    store = tmp_path / "s.zarr"
    cli("ingest", "orientations", h5, store, check=True)
    ds = open_store(store)
    q = ds["orientation"].values.reshape(-1, 4)
    ok = pid != -1
    assert np.abs(Rotation(q[ok].astype(np.float64)).angle_with(rot[ok], degrees=True)).max() < 0.01
    assert np.isnan(q[~ok]).all()
    np.testing.assert_array_equal(ds["phase_id"].values.ravel(), pid)
    assert sorted(p["name"] for p in ds["phase_id"].attrs["phases"]) == ["fe", "ni"]
    np.testing.assert_allclose(ds["score"].values.ravel(), np.linspace(0.1, 0.9, n), atol=1e-6)


def test_ctf_in_oxford_layout_reads_back_onto_an_existing_grid(tmp_path):
    rng = np.random.default_rng(2)
    n = NY * NX
    euler = np.column_stack([rng.uniform(0, 360, n), rng.uniform(0, 90, n), rng.uniform(0, 360, n)])
    bc, mad, bands = rng.integers(50, 200, n), rng.uniform(0.2, 1.0, n), rng.integers(6, 12, n)
    ctf = _write_ctf(tmp_path / "map.ctf", euler, bc=bc, mad=mad, bands=bands)
    # the store's grid is larger than the map: points are placed by coordinate, the rest not indexed
    store = _grid_store(tmp_path / "s.zarr", shape=(NY + 2, NX + 1))
    with pytest.warns(UserWarning, match="have no point"):
        ingest_orientations(ctf, store, derive=orientation_maps_derived)
    ds = open_store(store)
    q = ds["orientation"].values[:NY, :NX]
    truth = Rotation.from_euler(np.deg2rad(euler))
    assert np.abs(_angles_deg(q, truth)).max() < 0.01
    assert np.isnan(ds["orientation"].values[NY:]).all() and (ds["phase_id"].values[NY:] == -1).all()
    np.testing.assert_array_equal(ds["bandcontrast"].values[:NY, :NX].ravel(), bc)
    np.testing.assert_array_equal(ds["bands"].values[:NY, :NX].ravel(), bands)
    np.testing.assert_allclose(ds["mad"].values[:NY, :NX].ravel(), mad, atol=1e-4)
    (phase,) = ds["phase_id"].attrs["phases"]
    assert phase["name"] == "Nickel" and phase["point_group"] == "m-3m"
    assert phase["lattice"] == pytest.approx([3.524, 3.524, 3.524, 90, 90, 90])
    assert (ds["orientation_grains"].values[NY:] == -1).all()


def test_grid_mismatch_is_one_line_and_leaves_the_store_unchanged(tmp_path):
    ang = _write_ang(tmp_path / "map.ang", _known_rotations(3))
    store = _grid_store(tmp_path / "s.zarr", step=0.3)
    before = tree_hash(store)
    proc = cli("ingest", "orientations", ang, store)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not match the store's" in lines[0] and "map.ang" in lines[0]
    assert tree_hash(store) == before


@pytest.mark.parametrize("cut", ["mid-line", "whole-lines"])
@pytest.mark.parametrize("fmt", ["ang", "ctf"])
def test_truncated_file_is_one_error_and_leaves_the_store_unchanged(tmp_path, fmt, cut):
    if fmt == "ang":
        path = _write_ang(tmp_path / "map.ang", _known_rotations(4))
    else:
        n = NY * NX
        path = _write_ctf(tmp_path / "map.ctf", np.full((n, 3), 10.0), bc=np.full(n, 100), mad=np.full(n, 0.5),
                          bands=np.full(n, 8))
    text = path.read_text()
    path.write_text(text[: len(text) - 30] if cut == "mid-line" else "".join(text.splitlines(True)[:-5]))
    store = _grid_store(tmp_path / "s.zarr")
    before = tree_hash(store)
    with pytest.raises(InputError, match="truncated") as err:
        ingest_orientations(path, store)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert tree_hash(store) == before


def test_existing_variables_need_overwrite(tmp_path):
    ang = _write_ang(tmp_path / "map.ang", _known_rotations(5))
    store = tmp_path / "s.zarr"
    ingest_orientations(ang, store)
    before = tree_hash(store)
    with pytest.raises(StoreError, match="exist"):
        ingest_orientations(ang, store)
    assert tree_hash(store) == before
    with pytest.raises(InputError, match="no such file"):
        read_crystal_map(tmp_path / "missing.ang")


def test_a_file_orix_cannot_read_is_said_in_vaearrs_words(tmp_path):
    """A Markdown file given to ``ingest orientations`` (or ``master-pattern``): one line saying what it is and what
    the command reads, never orix's or kikuchipy's "Could not read …, please report this error"; a folder is a
    folder, and binary data under .h5's suffix a damaged file."""
    md = tmp_path / "README.md"
    md.write_text("# vaearr\n\nsome notes\n")
    proc = cli("ingest", "orientations", md, tmp_path / "s.zarr")
    error = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and error == (f"error: {md}: a Markdown text file beginning '# vaearr', not a crystal "
                                              "map orix reads (.ang, .ctf, orix HDF5 or h5ebsd)"), proc.stderr
    assert not (tmp_path / "s.zarr").exists()
    proc = cli("master-pattern", md, "--out", tmp_path / "mp")
    assert proc.returncode == 2 and proc.stderr.strip().startswith(
        f"error: {md}: a Markdown text file beginning '# vaearr', not an EBSD master pattern kikuchipy reads (an "
        "EMsoft master-pattern .h5); a phase file is a CIF"), proc.stderr
    with pytest.raises(InputError, match=r": a folder, not a file$"):
        read_crystal_map(tmp_path)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"cut.h5: cannot be read as a crystal map orix reads .*: truncated or "
                                         r"corrupt\?") as err:
        read_crystal_map(cut)
    assert "report" not in str(err.value)


# --------------------------------------------------------------------------------------------
# derived maps


def test_grains_of_a_planted_two_grain_map():
    ny, nx = 10, 12
    a = Rotation.from_axes_angles([1, 2, 3], 20, degrees=True)
    b = Rotation.from_axes_angles([0, 1, 1], 35, degrees=True) * a  # far from a under cubic symmetry
    rng = np.random.default_rng(0)
    jitter = Rotation.from_axes_angles(rng.normal(size=(ny * nx, 3)), rng.uniform(0, 0.3, ny * nx), degrees=True)
    left = (np.arange(nx)[None, :] < 5).repeat(ny, 0).ravel()
    base = np.where(left[:, None], a.data, b.data)
    q = (jitter * Rotation(base)).data.reshape(ny, nx, 4)
    v = _variables(q)
    v["roi"] = xr.DataArray(np.ones((ny, nx), bool), dims=("y", "x"))
    v["roi"][0, 0] = False
    maps = orientation_maps(v, mask="roi", grain_angle=5)
    grains = maps.variables["orientation_grains"].values
    assert maps.n_grains == 2
    assert grains[0, 0] == -1
    assert (grains.ravel()[left][1:] == 0).all() and (grains.ravel()[~left] == 1).all()
    gb = maps.variables["orientation_grain_boundaries"].values
    assert gb[:, 4:6].all() and not gb[:, :4].any() and not gb[:, 6:].any()
    grod = maps.variables["orientation_grod"].values
    assert np.nanmax(grod) < 0.6 and np.isnan(grod[0, 0])  # jitter up to 0.3° around each planted mean
    # the mean of grain 1 is b, within the jitter's averaging error
    truth = Orientation(np.where(left[:, None], a.data, b.data), symmetry.Oh)
    assert np.median(Orientation(q.reshape(-1, 4), symmetry.Oh).angle_with(truth, degrees=True)) < 0.3


def test_kam_of_a_known_rotation_gradient():
    ny, nx, delta = 5, 7, 0.4  # each column turned 0.4° further about z
    angles = np.tile(np.arange(nx) * delta, (ny, 1))
    q = Rotation.from_axes_angles([0, 0, 1], angles.ravel(), degrees=True).data.reshape(ny, nx, 4)
    maps = orientation_maps(_variables(q))
    kam = maps.variables["orientation_kam"].values
    # interior: two neighbours at delta (left, right), two at 0 (up, down)
    np.testing.assert_allclose(kam[1:-1, 1:-1], delta / 2, atol=2e-3)
    np.testing.assert_allclose(kam[1:-1, 0], delta / 3, atol=2e-3)  # right, up, down
    np.testing.assert_allclose(kam[0, 0], delta / 2, atol=2e-3)  # right, down
    np.testing.assert_allclose(kam[0, 1:-1], 2 * delta / 3, atol=2e-3)  # left, right, down
    assert maps.n_grains == 1
    # the grain mean is the middle column's orientation: GROD = |column offset| × delta
    np.testing.assert_allclose(maps.variables["orientation_grod"].values,
                               np.abs(angles - angles[0, nx // 2]), atol=5e-3)
    # a grain angle below delta cuts every column off
    assert orientation_maps(_variables(q), grain_angle=0.3).n_grains == nx


@pytest.mark.parametrize("direction", ["z", "x"])
def test_ipf_colours_equal_orix_ipfcolorkeytsl(direction):
    from orix.plot import IPFColorKeyTSL
    from orix.vector import Vector3d

    rot = _known_rotations(7, 6 * 9)
    q = rot.data.reshape(6, 9, 4)
    ipf = orientation_maps(_variables(q), direction=direction).variables["orientation_ipf"]
    assert ipf.dims == ("y", "x", "rgb") and list(ipf["rgb"].values) == ["r", "g", "b"]
    vec = Vector3d.zvector() if direction == "z" else Vector3d.xvector()
    key = IPFColorKeyTSL(symmetry.Oh, direction=vec)
    ori = Orientation(q.reshape(-1, 4).astype(np.float32).astype(np.float64), symmetry.Oh)
    np.testing.assert_allclose(ipf.values.reshape(-1, 3), key.orientation2color(ori), atol=1e-5)
    assert ipf.attrs["sample_direction"] == direction


def test_a_500_by_500_map_takes_seconds_not_minutes():
    import time

    n = 500
    q = np.tile(Rotation.from_axes_angles([0, 0, 1], np.arange(n) * 0.01, degrees=True).data[None], (n, 1, 1))
    t = time.perf_counter()
    maps = orientation_maps(_variables(q))
    assert time.perf_counter() - t < 60
    assert maps.n_grains == 1


def test_orientation_maps_command_and_its_bad_options(tmp_path):
    ang = _write_ang(tmp_path / "map.ang", _known_rotations(8))
    store = tmp_path / "s.zarr"
    ingest_orientations(ang, store)  # no maps
    assert "orientation_kam" not in open_store(store)
    before = tree_hash(store)
    for args, msg in ((["--direction", "w"], "`direction`"), (["--grain-angle", "-1"], "`grain_angle`"),
                      (["--mask", "nosuch"], "no mask 'nosuch'"), (["--name", "ori"], "no orientation variable")):
        with pytest.raises(InputError, match=msg):
            kw = {"direction": "w"} if args[0] == "--direction" else {"grain_angle": -1.0} if args[0] == "--grain-angle" \
                else {"mask": "nosuch"} if args[0] == "--mask" else {"name": "ori"}
            write_orientation_maps(store, **kw)
    assert tree_hash(store) == before
    proc = cli("orientation-maps", store, "--direction", "w")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "--direction" in proc.stderr
    assert tree_hash(store) == before
    out = tmp_path / "figs"
    proc = cli("orientation-maps", store, "--grain-angle", "2", "--direction", "y", "--out", out, check=True)
    assert "IPF along sample y" in proc.stdout
    ds = open_store(store)
    assert ds["orientation_grains"].attrs["grain_angle"] == 2.0
    assert ds["orientation_ipf"].attrs["sample_direction"] == "y"
    assert (out / "orientation_maps.png").stat().st_size > 0 and (out / "orientation_ipf_key.png").stat().st_size > 0


# --------------------------------------------------------------------------------------------
# orientation as a reference


def test_rank_against_orientation_kam_and_ipf(tmp_path):
    from vaearr.analysis.ranking import rank_latents

    ny, nx = 12, 14
    rng = np.random.default_rng(0)
    # a rotation gradient that grows along x: KAM rises from left to right
    turn = np.cumsum(np.tile(np.linspace(0.05, 1.5, nx), (ny, 1)), axis=1)
    q = Rotation.from_axes_angles([0, 0, 1], turn.ravel(), degrees=True).data.reshape(ny, nx, 4)
    store = tmp_path / "s.zarr"
    v = _variables(q)
    write_variables(store, v, source="test")
    write_orientation_maps(store)
    kam = open_store(store)["orientation_kam"].values
    lat = np.stack([kam + rng.normal(0, 0.01, kam.shape), rng.normal(size=kam.shape)], axis=-1).astype(np.float32)
    coords = {"y": v["orientation"]["y"].values, "x": v["orientation"]["x"].values}
    write_variables(store, {
        "latent": xr.DataArray(lat, dims=("y", "x", "latent_dim"), coords={**coords, "latent_dim": [0, 1]}),
        "roi": xr.DataArray(np.ones((ny, nx), bool), dims=("y", "x"), coords=coords)}, source="test")
    result = rank_latents(store, against=["orientation_kam", "orientation_ipf"], out=tmp_path / "rank",
                          metrics=["pearson", "spearman"])
    refs = list(result.association["reference"].values)
    assert refs == ["orientation_kam", "orientation_ipf_r", "orientation_ipf_g", "orientation_ipf_b"]
    r = result.association.sel(reference="orientation_kam", metric="pearson").values
    assert r[0] > 0.99 and abs(r[1]) < 0.5


def test_cluster_figure_shows_the_ipf_map_beside_the_cluster_map(tmp_path):
    from vaearr.viz.clustering import cluster_figure, store_ipf

    q = _known_rotations(9, 4 * 5).data.reshape(4, 5, 4)
    store = tmp_path / "s.zarr"
    write_variables(store, _variables(q), source="test")
    write_orientation_maps(store)
    xs, ys = np.arange(1, 4) * 1.0, np.arange(0, 3) * 1.0
    ipf = store_ipf(store, xs, ys)
    np.testing.assert_array_equal(ipf.values, open_store(store)["orientation_ipf"].values[0:3, 1:4])
    labels = np.zeros(9, int)
    fig = cluster_figure(np.ones((3, 3, 3)), xs, ys, np.arange(9.0), None, labels, ipf=ipf)
    assert len(fig) == 3
    assert store_ipf(tmp_path / "s.zarr", xs, ys, name="missing") is None
