"""Grains, low-angle boundaries and deformation decided in degrees read from the patterns (``vaearr segment``,
``vaearr spread`` on a store with patterns): a 1° and a 15° boundary, a bent and a flat grain, the projection centre
from the store, bad geometry one line and the store unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from tests.helpers import assert_one_line_error, tree_hash, turned_map, vaearr_cli  # noqa: E402
from vaearr.maps.segmentation.segment import segment_store  # noqa: E402
from vaearr.maps.deformation.spread import spread_store  # noqa: E402
from vaearr.store import write_variables  # noqa: E402

SHAPE = (10, 18)


def _bands() -> np.ndarray:
    """Three bands of six columns: the middle one 1° from the left one, the right one 15° from the middle one."""
    turns = np.zeros((*SHAPE, 3))
    turns[:, 6:] += np.array([0.6, 0.8, 0.0])  # 1°
    turns[:, 12:] += 15.0 * np.array([0.0, 0.6, 0.8])  # 15° more (about another axis)
    return turns


@pytest.fixture(scope="module")
def bands_master(tmp_path_factory) -> Path:
    band = np.repeat(np.arange(3), 6)[None].repeat(SHAPE[0], 0)
    features = np.eye(3)[band] + 0.05 * np.random.default_rng(0).normal(size=(*SHAPE, 3))
    return turned_map(tmp_path_factory.mktemp("degrees") / "bands.zarr", _bands(), shape=SHAPE, features=features)


@pytest.fixture
def bands(bands_master: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "bands.zarr"
    shutil.copytree(bands_master, dst)
    return dst


def test_a_one_degree_and_a_fifteen_degree_boundary_get_one_class_each(bands: Path) -> None:
    result = segment_store(bands, var="feat", mask=None)
    seg = result.segmentation
    assert (seg.n_regions, seg.n_grains) == (3, 2)
    codes, angles = seg.boundaries, seg.angles
    assert angles is not None
    # a pixel is on a boundary when its right neighbour is in another region: columns 5 and 11
    assert (codes[:, 5] == 1).all() and (codes[:, 11] == 2).all()
    assert np.count_nonzero(codes) == 2 * SHAPE[0]
    assert np.all(np.abs(angles[:, 5] - 1.0) < 0.2)
    assert np.all(angles[:, 11] > 10)
    ds = xr.open_zarr(bands)
    written = ds["segments_angle"]
    assert written.attrs["units"] == "degree" and written.attrs["grain_angle"] == result.options.grain_angle == 2.0
    assert ds["segments_boundaries"].attrs["low_angle"] == result.options.low_angle
    assert "projection centre 0.51/0.31/0.62 (Bruker) from the simulation" in result.summary()


def test_regions_closer_than_the_low_angle_are_one(bands: Path) -> None:
    seg = segment_store(bands, var="feat", mask=None, low_angle=1.5).segmentation
    assert (seg.n_regions, seg.n_grains) == (2, 2)
    assert not (seg.boundaries == 1).any()


def test_an_angle_within_twice_its_error_is_no_boundary() -> None:
    # three regions in a row: 0.3° apart read at 0.2° of error (the noise can make it: one region), then 0.3° at
    # 0.05° (a low-angle boundary)
    from vaearr.maps.segmentation.boundary_angles import PairAngles, decide

    regions = np.repeat(np.arange(3), 4)[None].repeat(3, 0)
    pairs = PairAngles(np.array([0, 1]), np.array([1, 2]), np.array([0.3, 0.3]), np.array([0.3, 0.3]),
                       np.zeros(2, bool), np.array([3, 3]), np.ones(2), np.array([0.2, 0.05]))
    merged, grains, info = decide(regions, pairs, grain_angle=2.0, low_angle=0.2)
    assert len(np.unique(merged)) == 2 and (merged[:, :8] == merged[0, 0]).all() and (grains == grains[0, 0]).all()
    assert info["angle_pairs_within_noise"] == 1 and info["angle_pairs_low_angle"] == 1


def test_a_grain_angle_over_the_boundary_joins_the_grains(bands: Path) -> None:
    seg = segment_store(bands, var="feat", mask=None, grain_angle=20.0).segmentation
    assert (seg.n_regions, seg.n_grains) == (3, 1)


@pytest.mark.parametrize("pc, needle", [("2,0.3,0.6", "--pc"), ("0.5,0.3", "--pc")])
def test_a_projection_centre_off_the_screen_is_one_line_and_the_store_unchanged(bands: Path, pc: str,
                                                                                needle: str) -> None:
    before = tree_hash(bands)
    code, _, err = vaearr_cli("segment", str(bands), "--var", "feat", "--mask", "none", "--pc", pc)
    assert_one_line_error(code, err, needle)
    assert tree_hash(bands) == before


def test_no_projection_centre_and_no_default_wanted_is_one_line(tmp_path: Path) -> None:
    band = np.repeat(np.arange(3), 6)[None].repeat(SHAPE[0], 0)
    store = turned_map(tmp_path / "nopc.zarr", _bands(), shape=SHAPE, features=np.eye(3)[band], pc_attrs=False)
    before = tree_hash(store)
    code, _, err = vaearr_cli("segment", str(store), "--var", "feat", "--mask", "none", "--pc", "store")
    assert_one_line_error(code, err, "keeps no projection centre")
    assert tree_hash(store) == before
    # without it the default is used, and said
    code, out, _ = vaearr_cli("segment", str(store), "--var", "feat", "--mask", "none")
    assert code == 0 and "the default" in out


def test_spread_reads_a_bent_grain_and_a_flat_one_in_degrees(tmp_path: Path) -> None:
    shape = (10, 20)
    rng = np.random.default_rng(4)
    turns = 0.05 * rng.normal(size=(*shape, 3))  # each pixel's own scatter (per axis, degrees)
    x = np.arange(shape[1])[None, :, None]
    turns = turns + np.where(x >= 10, (x - 10) * 0.4 * np.array([0.0, 0.0, 1.0]), 0.0)  # right half bent 0.4°/px
    regions = np.where(np.arange(shape[1]) >= 10, 1, 0)[None].repeat(shape[0], 0)
    store = turned_map(tmp_path / "bent.zarr", turns, shape=shape, features=rng.normal(size=(*shape, 2)))
    write_variables(store, {"reg": xr.DataArray(regions.astype(np.int32), dims=("y", "x"))}, source=["test"],
                    config={})
    r = spread_store(store, var="feat", regions="reg")
    ds = xr.open_zarr(store)
    kam, gos = ds["pattern_kam"].values, ds["pattern_gos"].values
    flat, bent = regions == 0, regions == 1
    # KAM as MTEX computes it: the mean over the four neighbours (0.4° along x, the scatter along y)
    true_kam = _true_kam(turns, regions)
    assert np.nanmedian(kam[bent]) == pytest.approx(np.median(true_kam[bent]), abs=0.05)
    assert np.nanmedian(kam[flat]) == pytest.approx(np.median(true_kam[flat]), abs=0.08)
    assert gos[bent].mean() > 1.0 > 0.3 > gos[flat].mean()
    rex = ds["recrystallised"].values
    assert rex[flat].all() and not rex[bent].any()
    assert ds["pattern_kam"].attrs["units"] == "degrees"
    assert "read these" in r.summary()


def test_spread_without_patterns_writes_no_degrees(bands: Path, tmp_path: Path) -> None:
    r = spread_store(bands, var="feat", regions=_regions(bands), patterns=False)
    assert r.degrees is None
    assert "pattern_kam" not in xr.open_zarr(bands)


def _true_kam(turns: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """The mean misorientation (degrees) of each pixel to its 4-neighbours of its region, from the rotations given."""
    from benchmarks.data.deformation import truth_kam
    from benchmarks.data.rotations import rotvec_quat

    return truth_kam(rotvec_quat(np.radians(turns)), regions)


def _regions(store: Path) -> str:
    band = np.repeat(np.arange(3), 6)[None].repeat(SHAPE[0], 0)
    write_variables(store, {"bands": xr.DataArray(band.astype(np.int32), dims=("y", "x"))}, source=["test"], config={})
    return "bands"


def test_boundaries_class_their_lines_in_degrees(bands: Path) -> None:
    from vaearr.maps.boundaries.boundaries import find_boundaries

    r = find_boundaries(bands)
    gb, lagb = r.grain_boundaries.values, r.low_angle_boundaries.values
    # the 15° boundary (between columns 11 and 12) a grain boundary; the 1° one, which the edges alone draw as a grain
    # boundary too (find_boundaries(degrees=False)), a low-angle one (a stray edge pixel at the map's rim stays as drawn)
    assert gb[:, 10:13].any(axis=1).all() and gb[:, :9].sum() <= 1
    assert lagb[:, 4:7].any(axis=1).mean() > 0.8 and not lagb[:, 9:].any()
    assert find_boundaries(bands, degrees=False, overwrite=True).grain_boundaries.values[:, 4:7].any(axis=1).all()
    r = find_boundaries(bands, overwrite=True)
    angle = xr.open_zarr(bands)["boundary_angle"].values
    assert np.nanmax(angle[:, 4:7]) < 1.3 and np.nanmin(angle[:, 10:13]) > 10
    assert r.attrs["grain_angle"] == 2.0 and r.attrs["low_angle"] == 0.2
    # with a low-angle threshold over the step, the 1° line is no boundary at all
    r2 = find_boundaries(bands, low_angle=1.5, overwrite=True)
    assert not r2.low_angle_boundaries.values.any()


def test_the_figures_show_the_angle_of_every_boundary_pixel(bands: Path, tmp_path: Path) -> None:
    # "boundary maps can show the angle": segment's and boundaries' figures gain a map of the angle (HTML and PNG)
    pytest.importorskip("holoviews", reason="needs the 'viz' extra")
    from vaearr.maps.boundaries.boundaries import find_boundaries
    from vaearr.viz.boundaries import boundary_files
    from vaearr.viz.segment import segment_files

    seg = segment_store(bands, var="feat", mask=None)
    files = segment_files(seg, tmp_path / "seg")
    assert files["angle_html"].name == "segments_angle.html" and files["angle_png"].stat().st_size > 0
    assert "segments_angle" in files["angle_html"].read_text()
    r = find_boundaries(bands)
    assert r.angle is not None and np.nanmax(r.angle.values[:, 4:7]) < 1.3
    files = boundary_files(r, tmp_path / "bnd")
    assert files["angle_html"].is_file() and files["angle_png"].is_file() and "map_html" in files
    plain = find_boundaries(bands, degrees=False, overwrite=True)
    assert plain.angle is None and "angle_html" not in boundary_files(plain, tmp_path / "plain")


def test_a_thin_piece_of_a_bent_grain_stays_in_its_grain(tmp_path: Path) -> None:
    # one grain bent 0.8°/px along x; a strip of it two pixels thick reaches into a second grain (15° off) and touches
    # the rest of its grain at two edges: the regions' means lie 9 pixels (7°) apart, the pixels that touch 0.8°
    from tests.helpers import TURNED_PC
    from vaearr.maps.segmentation.boundary_angles import angle_map, boundary_angles, decide
    from vaearr.maps.patterns.misorientation import Geometry

    shape = (10, 20)
    x = np.arange(shape[1])[None, :, None]
    turns = np.broadcast_to(x * 0.8 * np.array([0.0, 0.0, 1.0]), (*shape, 3)).copy()
    regions = np.full(shape, 2)
    regions[:, :12] = 0
    regions[4:6, 12:18] = 1
    turns[regions == 2] = 15.0 * np.array([0.0, 0.6, 0.8])
    store = turned_map(tmp_path / "strip.zarr", turns, shape=shape)
    patterns = xr.open_zarr(store).patterns.values
    pairs = boundary_angles(regions, patterns, patterns.mean(axis=(0, 1)), Geometry(TURNED_PC, (60, 60)))
    strip = np.flatnonzero((pairs.i == 0) & (pairs.j == 1))[0]
    assert pairs.from_means[strip] and pairs.angle[strip] > 5.0  # the means: 9 pixels of bending apart
    assert pairs.touching is not None and 0.4 < pairs.touching[strip] < 1.2  # the pixels that touch: one pixel's
    merged, grains, info = decide(regions, pairs, grain_angle=2.0, low_angle=0.2)
    assert grains[5, 14] == grains[5, 5] != grains[0, 15]
    assert len(np.unique(merged)) == 3 and info["angle_pairs_read_where_pixels_touch"] == 1
    # the angle a figure shows on that boundary is the touching pixels'
    shown = angle_map(regions, pairs, pairs.read(2.0))
    assert float(np.nanmax(shown[4:6, 11])) < 2.0


def test_sub_grains_the_features_do_not_see_are_read_from_the_pixels_rotations(tmp_path: Path) -> None:
    # grain A (columns 0–11) holds a 6 × 6 patch turned 0.6° (a sub-grain), grain C (12–17) is 15° off; the features
    # tell the grains apart but not the patch: `subgrains features` cannot find it, the rotations can
    shape = (12, 18)
    turns = np.zeros((*shape, 3))
    turns[3:9, 3:9] = 0.6 * np.array([0.0, 0.6, 0.8])
    turns[:, 12:] = 15.0 * np.array([0.8, 0.0, 0.6])
    grain = (np.arange(shape[1]) >= 12)[None].repeat(shape[0], 0).astype(int)
    features = np.eye(2)[grain] + 0.05 * np.random.default_rng(1).normal(size=(*shape, 2))
    store = turned_map(tmp_path / "patch.zarr", turns, shape=shape, features=features)
    by_features = segment_store(store, var="feat", mask=None, subgrains="features", name="f")
    assert by_features.segmentation.n_grains == 2 and not (by_features.segmentation.boundaries == 1).any()
    result = segment_store(store, var="feat", mask=None)  # auto: a small map reads the rotations
    seg = result.segmentation
    assert (seg.n_regions, seg.n_grains) == (3, 2)
    patch = seg.regions[5, 5]
    assert (seg.regions[3:9, 3:9] == patch).mean() > 0.9 and (seg.regions[:, :12] == patch).sum() < 36 + 8
    low = seg.boundaries == 1
    assert low.sum() >= 16 and seg.angles is not None and np.all(np.abs(seg.angles[low] - 0.6) < 0.25)
    assert "sub-grains from every pixel's rotation" in result.summary()
    ds = xr.open_zarr(store)
    assert ds["segments"].attrs["subgrains_from"] == "rotations" and ds["f"].attrs["subgrains_from"] == "features"
    # `boundaries` from the patterns reads the same rotations inside the grains its edges draw
    from vaearr.maps.boundaries.boundaries import find_boundaries

    b = find_boundaries(store)
    lagb = b.low_angle_boundaries.values
    assert b.attrs["lagb_subgrains_from"] == "rotations" and lagb.sum() >= 12
    ring = np.zeros(shape, bool)
    ring[1:11, 1:11] = True
    ring[4:8, 4:8] = False
    assert lagb[ring].sum() == lagb.sum()  # on the patch's edge (a pixel either side), nowhere else
    assert "every pixel's rotation" in ds["segments"].attrs["rule"]
