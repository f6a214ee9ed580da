"""vaearr segment (vaearr.maps.segmentation.regions, vaearr.maps.segmentation.segment): regions of a feature map by minimum description length, the two levels, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi
from sklearn.metrics import adjusted_rand_score

from tests.helpers import cli, tree_hash
from vaearr.errors import InputError, StoreError
from vaearr.maps.segmentation.merging import gap_owners, gap_pairs
from vaearr.maps.roi.neighbours import NeighbourAverage
from vaearr.maps.segmentation.pieces import connected_grains
from vaearr.maps.segmentation.regions import segment_features
from vaearr.maps.segmentation.segment import segment_store
from vaearr.store import write_variables

NY, NX = 24, 32


def planted(seed: int = 0, *, d: int = 4, step: float = 1.0, grain_step: float = 20.0) -> tuple[np.ndarray, ...]:
    """Two grains (left, right of x = 16), the left one cut in two sub-grains at y = 12: features with
    unit Gaussian noise, the sub-grains ``step`` σ apart, the grains ``grain_step`` σ apart."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:NY, 0:NX]
    grains = (xx >= 16).astype(int)
    regions = np.where(grains == 1, 2, (yy >= 12).astype(int))
    f = rng.normal(size=(NY, NX, d))
    f[..., 0] += grain_step * grains
    f[..., 1] += step * (regions == 1)
    return f, regions, grains


def test_two_regions_are_found_and_the_noise_is_measured() -> None:
    f, regions, grains = planted(step=3.0)
    seg = segment_features(f, np.ones((NY, NX), bool))
    assert seg.n_regions == 3 and seg.n_grains == 2, seg.info
    assert adjusted_rand_score(regions.ravel(), seg.regions.ravel()) > 0.95
    assert adjusted_rand_score(grains.ravel(), seg.grains.ravel()) > 0.99
    # the noise is unit Gaussian: its standard deviation is read back from the map, boundaries aside
    assert np.allclose(seg.info["noise_std_per_dim"], 1.0, atol=0.1), seg.info["noise_std_per_dim"]
    assert seg.info["noise_correlation_factor"] < 2  # 1 for independent noise, read a little high here
    # boundary codes: grain boundary along x = 15/16, low-angle along y = 11/12 in the left grain (within one
    # pixel, as boundary_f1 counts it: at ln 3 nats an edge, a 3 σ step's boundary may step aside by a pixel)
    assert (seg.boundaries[:, 15] == 2).mean() > 0.9
    assert (seg.boundaries[10:13, :15] == 1).any(axis=0).mean() > 0.8
    assert seg.boundaries[2:9, 2:13].max() == 0


def test_no_split_without_a_step() -> None:
    for seed in range(3):
        f, _, grains = planted(seed, step=0.0)
        seg = segment_features(f, np.ones((NY, NX), bool))
        assert seg.n_regions == 2 and adjusted_rand_score(grains.ravel(), seg.regions.ravel()) > 0.99, seg.info


def test_neighbour_averaged_features_are_not_taken_for_quieter_ones() -> None:
    """A 3 × 3 average makes neighbours alike: the correlation factor says so, and the segmentation
    does not cut the smoothed noise into pieces."""
    f, regions, _ = planted(1, step=0.0)
    smooth = NeighbourAverage(3).average(f)
    seg = segment_features(smooth, np.ones((NY, NX), bool))
    assert seg.info["noise_correlation_factor"] > 4
    assert seg.n_regions == 2, seg.info


def test_similarity_averaging_does_not_merge_across_a_planted_boundary() -> None:
    """The similarity-weighted average keeps the two sides of a planted boundary apart (the uniform
    one mixes them on the boundary's pixels)."""
    rng = np.random.default_rng(4)
    base = rng.normal(size=(2, 16, 16))
    yy, xx = np.mgrid[0:NY, 0:NX]
    side = (xx >= 16)
    patterns = (100 + 10 * base[side.astype(int)] + rng.normal(0, 3, (NY, NX, 16, 16))).astype(np.float32)
    fitted = NeighbourAverage.fit(patterns, np.ones((NY, NX), bool), size=3, background=np.full((16, 16), 100.0))
    sim, uni = fitted.average(patterns), NeighbourAverage(3).average(patterns)

    def to_other(avg: np.ndarray) -> float:  # how much of the other side's pattern is in column 15
        x = avg[:, 15].reshape(NY, -1) - 100
        return float(np.mean(x @ (10 * base[1]).ravel() / (np.linalg.norm(x, axis=1) * np.linalg.norm(10 * base[1]))))

    floor = to_other(patterns)  # the two random patterns' own correlation
    assert to_other(uni) > floor + 0.2 and to_other(sim) < floor + 0.05, (floor, to_other(uni), to_other(sim))
    # inside a side the similarity average is as good as the uniform one
    inner = (patterns[:, 4:12] - 100 - 10 * base[0]).std()
    assert (sim[2:-2, 4:12] - 100 - 10 * base[0]).std() < 0.5 * inner


def _store(path: Path, f: np.ndarray, **extra: xr.DataArray) -> Path:
    coords = {"y": np.arange(NY, dtype=float), "x": np.arange(NX, dtype=float)}
    write_variables(path, {"latent": xr.DataArray(f.astype(np.float32), dims=("y", "x", "latent_dim"), coords=coords),
                           **extra}, source=["test"])
    return path


def test_segment_store_and_cli(tmp_path: Path) -> None:
    f, regions, grains = planted(step=3.0)
    store = _store(tmp_path / "s.zarr", f)
    figs = tmp_path / "figs"
    proc = cli("segment", store, "--var", "latent", "--name", "seg", "--out", figs)
    assert proc.returncode == 0, proc.stderr
    assert "3 regions in 2 grains" in proc.stdout and "mask: the store has no 'roi', so every pixel" in proc.stdout
    ds = xr.open_zarr(store)
    assert ds.seg.dtype == np.int32 and ds.seg_grains.dtype == np.int32 and ds.seg_boundaries.dtype == np.int8
    assert adjusted_rand_score(regions.ravel(), ds.seg.values.ravel()) > 0.95
    assert ds.seg.attrs["n_regions"] == 3 and "minimum-description-length" in ds.seg.attrs["rule"]
    assert ds.seg_boundaries.attrs["flag_meanings"] == "none low_angle grain"
    assert (figs / "seg.html").stat().st_size > 0 and (figs / "seg.png").stat().st_size > 0
    # a mask: −1 outside
    m = np.ones((NY, NX), bool)
    m[:, :4] = False
    write_variables(store, {"roi": xr.DataArray(m, dims=("y", "x"))}, source=["test"])
    segment_store(store, var="latent", name="seg2")
    assert (xr.open_zarr(store).seg2.values[:, :4] == -1).all()


def test_bad_inputs_change_nothing(tmp_path: Path) -> None:
    f, _, _ = planted()
    empty = np.zeros((NY, NX), bool)
    store = _store(tmp_path / "s.zarr", f, nothing=xr.DataArray(empty, dims=("y", "x")))
    before = tree_hash(store)
    cases = [
        (["--var", "latentz"], "no feature variable 'latentz'"),
        (["--mask", "nothing"], "selects no pixel"),
        (["--mask", "nope"], "no mask variable 'nope'"),
        (["--name", "../x"], "--name '../x' is not a safe name"),
        (["--boundary-cost", "-1"], "--boundary-cost must be"),
        (["--min-contrast", "2"], "--min-contrast must be"),
    ]
    for args, message in cases:
        proc = cli("segment", store, *args, "--out", tmp_path / "f")
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and tree_hash(store) == before
    # a figure folder that cannot be made: one line, before the store is written
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = cli("segment", store, "--out", blocker / "sub")
    assert proc.returncode == 2 and "--out: cannot write there" in proc.stderr and tree_hash(store) == before
    with pytest.raises(StoreError, match="no feature variable"):
        segment_store(store, var="nope")
    with pytest.raises(InputError, match="nothing to segment"):
        segment_features(f, np.zeros((NY, NX), bool) | (np.arange(NX) == 0)[None, :] & (np.arange(NY) == 0)[:, None])


def test_orientations_are_segmented_inside_their_grains() -> None:
    pytest.importorskip("orix")
    from benchmarks.data.subgrains import axis_angle_quat, quat_multiply
    from vaearr.maps.indexing.grains import grain_rotation_vectors
    from vaearr.maps.indexing.orientations import phase_groups

    rng = np.random.default_rng(5)
    base = np.array([0.9, 0.3, 0.2, 0.25])
    base /= np.linalg.norm(base)
    yy, xx = np.mgrid[0:NY, 0:NX]
    half = np.where(yy >= 12, 1.0, -1.0) * np.radians(0.25)
    q = quat_multiply(np.broadcast_to(base, (NY, NX, 4)), axis_angle_quat(np.broadcast_to([0, 0, 1.0], (NY, NX, 3)), half))
    noise = axis_angle_quat(rng.normal(size=(NY, NX, 3)), np.radians(0.05) * np.abs(rng.normal(size=(NY, NX))))
    q = quat_multiply(q, noise)
    groups = phase_groups([{"id": 0, "name": "ni", "point_group": "m-3m"}])
    vec = grain_rotation_vectors(q, np.zeros((NY, NX), int), np.zeros((NY, NX), int), groups)
    # the two halves are 0.5° apart about z, each 0.25° from the grain's mean
    assert np.nanmean(vec[yy >= 12], 0)[2] == pytest.approx(-np.nanmean(vec[yy < 12], 0)[2], rel=0.1)
    assert abs(np.nanmean(vec[yy >= 12], 0)[2]) == pytest.approx(0.25, abs=0.03)
    seg = segment_features(vec, np.ones((NY, NX), bool), grains=np.zeros((NY, NX), int), correlation=1.0)
    assert seg.n_regions == 2 and seg.n_grains == 1
    assert adjusted_rand_score((yy >= 12).ravel(), seg.regions.ravel()) > 0.95


def test_a_mask_hole_through_a_region_joins_its_two_halves() -> None:
    """A scratch (mask False) cuts the lower sub-grain of the left grain in two: its halves do not touch, and
    get one label because their features do not differ (said in the attrs)."""
    f, regions, grains = planted(step=3.0)
    valid = np.ones((NY, NX), bool)
    valid[12:, 7] = False  # from the low-angle boundary down to the map's edge
    seg = segment_features(f, valid)
    left, right = seg.regions[18, 3], seg.regions[18, 11]
    assert left >= 0 and left == right, seg.info
    assert seg.n_regions == 3 and seg.info["patches_joined"] >= 1
    assert "share a label" in seg.info["regions_are"]
    assert adjusted_rand_score(regions[valid], seg.regions[valid]) > 0.95


def test_a_small_island_of_the_mask_joins_the_region_it_resembles() -> None:
    """A few pixels the mask leaves alone (a bright spot inside a pit) touch no region: they join the nearest region
    that is not small, as a small region with neighbours does, instead of standing as a grain of their own."""
    f, regions, grains = planted(step=3.0)
    valid = np.ones((NY, NX), bool)
    valid[2:8, 2:8] = False
    valid[4, 4:7] = True  # an island of 3 pixels (fewer than the 4 a region needs) in a pit of the upper-left sub-grain
    seg = segment_features(f, valid)
    island, around = seg.regions[4, 4], seg.regions[1, 1]
    assert island >= 0 and island == around, seg.info
    assert seg.grains[4, 4] == seg.grains[1, 1]
    assert len(np.unique(seg.grains[valid])) == len(np.unique(grains)), seg.info


def test_a_grain_the_mask_leaves_only_as_speckle_is_a_grain_of_its_own() -> None:
    """A dim grain whose band contrast passes the threshold only at scattered pixels (islands of one to a few pixels)
    is one grain of its own: its speckle is closed into one piece across the gaps, and joins neither of the grains
    beside it (it did when every island went to the nearest region that was not small)."""
    rng = np.random.default_rng(5)
    ny, nx = 24, 36
    xx = np.mgrid[0:ny, 0:nx][1]
    grain = np.digitize(xx, [12, 24])  # 0 | 1 | 2
    f = rng.normal(size=(ny, nx, 4))
    f[..., 0] += 20.0 * (grain == 1)
    f[..., 1] += 20.0 * (grain == 2)
    valid = (grain != 1) | (rng.random((ny, nx)) < 0.3)
    assert (valid & (grain == 1)).sum() > 40
    seg = segment_features(f, valid)
    speckle = seg.grains[valid & (grain == 1)]
    assert len(np.unique(speckle)) == 1, np.unique(speckle, return_counts=True)
    assert speckle[0] not in seg.grains[valid & (grain != 1)]
    assert adjusted_rand_score(grain[valid], seg.grains[valid]) > 0.99, seg.info
    assert seg.info["gap_pairs"] > 0


def test_a_bent_grain_cut_by_a_scratch_stays_one_grain() -> None:
    """A grain whose features drift steadily across it (an orientation gradient) is cut by a scratch three pixels
    wide: the two sides' means differ by the gradient, but across the scratch the pixels are alike, so the sides are
    neighbours of one grain (with the gaps left open, ``max_gap=0``, they come out as two grains)."""
    rng = np.random.default_rng(2)
    ny, nx = 24, 40
    xx = np.mgrid[0:ny, 0:nx][1]
    f = rng.normal(size=(ny, nx, 4))
    f[..., 0] += np.where(xx < 28, 0.5 * xx, 0.0)  # the bent grain: 0.5 σ a pixel, 14 σ across it
    f[..., 1] += 25.0 * (xx >= 28)  # a second grain on the right
    valid = np.ones((ny, nx), bool)
    valid[:, 12:15] = False
    closed, open_ = segment_features(f, valid), segment_features(f, valid, max_gap=0)
    bent = valid & (xx < 28)
    assert len(np.unique(closed.grains[bent])) == 1 and closed.n_grains == 2, closed.info
    assert len(np.unique(open_.grains[bent])) == 2, open_.info


def test_a_grain_is_connected_pixels() -> None:
    """Grain 0 in two compact pieces parted by grain 1 becomes two grains (each keeps its regions); a one-pixel-wide
    strip of grain 0 inside grain 1 (too thin to be a grain) joins grain 1's region beside it; pieces that touch only
    across a closed gap of the mask stay one grain."""
    ny, nx = 12, 30
    grains = np.zeros((ny, nx), int)
    grains[:, 10:20] = 1
    grains[:, 14] = 0  # a strip of grain 0 down the middle of grain 1
    regions = grains * 10
    regions[:, 20:] = 5  # the right piece of grain 0 is another region of it
    valid = np.ones((ny, nx), bool)
    gaps = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    r, g, info = connected_grains(regions.ravel(), grains.ravel(), valid, gaps, min_size=8)
    r, g = r.reshape(ny, nx), g.reshape(ny, nx)
    assert len(np.unique(g)) == 3 and g[0, 0] != g[0, 25] and g[0, 0] != g[0, 12], np.unique(g)
    assert g[5, 14] == g[5, 12] and r[5, 14] == r[5, 12]  # the strip went to grain 1
    assert len(np.unique(r)) == 3 and info["grain_pieces_made_grains"] == 1 and info["grain_piece_pixels_moved"] == ny
    # grain 1 masked out: the two pieces of grain 0 touch across a closed gap (here the whole band: max_gap 6)
    valid = grains != 1
    valid[:, 14] = False
    owner = gap_owners(valid, 6.0)
    r2, g2, _ = connected_grains(regions.ravel(), np.where(valid, grains, -1).ravel(), valid, gap_pairs(valid, owner),
                                 min_size=8)
    assert len(np.unique(g2[valid.ravel()])) == 1


def test_a_blob_of_one_grains_orientation_inside_another_is_a_grain_of_its_own() -> None:
    """A 3 × 3 blob with the features of the left grain sits inside the middle grain: too small for the first merging,
    it once joined the left grain two regions away (nearest mean), giving that grain a piece it does not touch; every
    grain is now connected and the blob is a grain of its own."""
    rng = np.random.default_rng(7)
    ny, nx = 24, 36
    xx = np.mgrid[0:ny, 0:nx][1]
    grain = np.digitize(xx, [12, 24])
    f = rng.normal(size=(ny, nx, 4))
    f[..., 0] += 20.0 * (grain == 1)
    f[..., 1] += 20.0 * (grain == 2)
    f[11:14, 17:20, 0] -= 20.0  # the blob: the left grain's features
    seg = segment_features(f, np.ones((ny, nx), bool))
    for g in np.unique(seg.grains):
        assert ndi.label(seg.grains == g)[1] == 1, g
    blob = seg.grains[11:14, 17:20]
    assert len(np.unique(blob)) == 1 and blob[0, 0] not in (seg.grains[0, 0], seg.grains[0, 18], seg.grains[0, 30])


def test_the_regions_do_not_depend_on_the_mask() -> None:
    """Holes in the mask (a tenth of the pixels) change no region of the pixels they leave."""
    f, regions, _ = planted(step=3.0)
    rng = np.random.default_rng(1)
    valid = rng.random((NY, NX)) > 0.1
    everywhere = segment_features(f, np.ones((NY, NX), bool))
    masked = segment_features(f, valid)
    assert adjusted_rand_score(everywhere.regions[valid], masked.regions[valid]) > 0.97
    truth = [adjusted_rand_score(regions[valid], s.regions[valid]) for s in (everywhere, masked)]
    assert abs(truth[0] - truth[1]) <= 0.02 and min(truth) > 0.95, truth
    assert adjusted_rand_score(everywhere.grains[valid], masked.grains[valid]) > 0.99


def test_patchy_sub_grains_keep_their_small_patches() -> None:
    """A sub-grain of many patches (Voronoi cells dealt out to two classes, patches of 10–80 pixels) comes out as
    two classes, not as one region per patch nor as one region: small patches join their own class."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(3)
    ny, nx = 40, 48
    cells = cKDTree(rng.uniform(0, [ny, nx], size=(30, 2))).query(np.argwhere(np.ones((ny, nx), bool)))[1]
    side = rng.integers(0, 2, 30)[cells].reshape(ny, nx)
    f = rng.normal(size=(ny, nx, 3))
    f[..., 0] += 4.0 * side
    seg = segment_features(f, np.ones((ny, nx), bool))
    assert seg.n_grains == 1
    assert adjusted_rand_score(side.ravel(), seg.regions.ravel()) > 0.9, seg.info


@pytest.mark.parametrize("family", ["science", "patchwork"])
def test_bent_grains_stay_whole_in_pattern_space(family: str) -> None:
    """The grain rule reads the patterns (vaearr.maps.segmentation.pattern_levels): cut every grain of a deformed map (half the
    grains bent by up to 1.5°/µm) into pieces, and the pieces of each grain join again, grains stay apart."""
    pytest.importorskip("kikuchipy")
    from scipy.spatial import cKDTree

    from benchmarks import data
    from vaearr.maps.patterns.edges import prepare_patterns
    from vaearr.maps.segmentation.merging import relabel
    from vaearr.maps.segmentation.pattern_levels import pattern_grains

    make = data.science_map if family == "science" else data.patchwork_map
    ds = make("deformed", seed=4, shape=(36, 48))
    grain = ds.grain_id.values
    cells = cKDTree(np.random.default_rng(0).uniform(0, [36, 48], size=(10, 2))).query(
        np.argwhere(np.ones((36, 48), bool)))[1].reshape(36, 48)
    pieces = relabel(grain * 100 + cells)
    assert len(np.unique(pieces)) > 1.5 * len(np.unique(grain))
    patterns = ds.patterns.values
    bg = patterns.reshape(-1, *patterns.shape[2:]).astype(np.float64).mean(0).astype(np.float32)
    region_grain, info = pattern_grains(pieces, patterns, lambda b: prepare_patterns(b, bg, 0.0), patterns[0, 0].size)
    found = np.asarray(region_grain)[pieces]
    assert adjusted_rand_score(grain.ravel(), found.ravel()) > 0.99, info
    assert info["grain_boundary_pairs"] > 0 and "pattern space" in info["grain_rule"]



def test_binned_patterns_are_the_prepared_patterns_binned() -> None:
    """Without a background the binned reading is ``prepare`` of the binned patterns exactly; with one (a detector-sized
    static background, as every store's pattern space has) it still runs on the binned size."""
    from vaearr.maps.patterns.edges import prepare_patterns
    from vaearr.maps.segmentation.pattern_levels import binned

    rng = np.random.default_rng(0)
    block = rng.integers(0, 255, size=(3, 5, 12, 12)).astype(np.uint8)
    plain = binned(lambda b: prepare_patterns(b, None, 0.0), 2)(block)
    summed = block.astype(np.float32).reshape(3, 5, 6, 2, 6, 2).sum(axis=(-3, -1))
    np.testing.assert_allclose(plain, prepare_patterns(summed, None, 0.0), atol=1e-5)
    bg = rng.uniform(50, 200, size=(12, 12)).astype(np.float32)
    divided = binned(lambda b: prepare_patterns(b, bg, 0.0), 4)(block)
    assert divided.shape == (3, 5, 9)
    np.testing.assert_allclose(np.linalg.norm(divided, axis=-1), 1.0, atol=1e-5)


def test_a_map_too_big_for_the_row_sums_is_read_binned_and_keeps_its_grains() -> None:
    """On a map whose side rows would pass the sums' budget the grain rule reads the patterns binned (here forced by a
    small budget: 4 × 4, as a 1000 × 1000 map of 60 × 60 patterns is read); with the store's detector-sized static
    background that once failed (shapes (…, 15, 15) against (60, 60)). The pieces of each grain still join."""
    pytest.importorskip("kikuchipy")
    from scipy.spatial import cKDTree

    from benchmarks import data
    from vaearr.maps.patterns.edges import prepare_patterns
    from vaearr.maps.segmentation.merging import relabel
    from vaearr.maps.segmentation.pattern_levels import pattern_grains

    ds = data.science_map("deformed", seed=4, shape=(36, 48))
    grain = ds.grain_id.values
    cells = cKDTree(np.random.default_rng(0).uniform(0, [36, 48], size=(10, 2))).query(
        np.argwhere(np.ones((36, 48), bool)))[1].reshape(36, 48)
    pieces = relabel(grain * 100 + cells)
    patterns = ds.patterns.values
    bg = patterns.reshape(-1, *patterns.shape[2:]).astype(np.float64).mean(0).astype(np.float32)
    rows_floats = 1_000  # far below what the rows hold: binned as far as it goes
    region_grain, info = pattern_grains(pieces, patterns, lambda b: prepare_patterns(b, bg, 0.0), patterns[0, 0].size,
                                        sum_budget=rows_floats)
    assert info["grain_patterns_binned"] == 8
    found = np.asarray(region_grain)[pieces]
    assert adjusted_rand_score(grain.ravel(), found.ravel()) > 0.99, info


def test_the_rows_compared_across_a_boundary_leave_out_pixels_on_a_third_regions_boundary() -> None:
    """A strip region two pixels wide between regions 0 and 2: its depth-2 row toward region 2 is its column next to
    region 0, pixels that record region 0 as well, so it is left out (the pair is read from what is left: here
    nothing, unmeasured), while a wide region's rows keep every pixel; a pair with a tiny region keeps them all."""
    from vaearr.maps.segmentation.pattern_levels import DEPTH, boundary_rows

    def members(rows, pair: int, side: int, depth: int) -> set[tuple[int, int]]:
        sel = rows.row == (pair * 2 + side) * DEPTH + depth - 1
        return {divmod(int(p), 20) for p in rows.pixel[sel]}

    regions = np.zeros((20, 20), int)
    regions[:, 9:11] = 1
    regions[:, 11:] = 2
    rows = boundary_rows(regions)
    assert list(zip(rows.i.tolist(), rows.j.tolist())) == [(0, 1), (1, 2)]
    assert members(rows, 1, 0, 1) == {(y, 10) for y in range(20)}  # the strip's own row next to region 2
    assert members(rows, 1, 0, 2) == set()  # column 9 touches region 0: out
    assert members(rows, 0, 1, 2) == set()  # toward region 0, column 10 touches region 2: out
    assert members(rows, 1, 1, 2) == {(y, 12) for y in range(20)}  # region 2's second column is inside: kept
    assert members(rows, 0, 0, 3) == {(y, 6) for y in range(20)}  # deeper rows are not filtered

    regions[4:, 9:11] = 0  # the strip shrinks to 8 pixels (tiny): its pairs keep every pixel
    rows = boundary_rows(regions)
    pair = list(zip(rows.i.tolist(), rows.j.tolist())).index((1, 2))
    assert members(rows, pair, 0, 2) == {(y, 9) for y in range(4)}


@pytest.mark.parametrize("near_rows", ["mixed", "the other grain's"])
def test_a_side_whose_first_rows_are_not_its_own_is_read_from_deeper(near_rows: str) -> None:
    """Two grains side by side, the second region's first two columns either 50/50 mixtures of both grains (a
    boundary drawn into the mixed pixels) or pixels of the first grain (drawn a step too far): across the boundary
    its rows at depth 2 read alike to the first grain, yet the grain rule keeps two grains, reading the second
    region from its row at depth 3 (vaearr.maps.segmentation.pattern_levels.MIXED_ROWS)."""
    pytest.importorskip("kikuchipy")
    from scipy import ndimage as ndi

    from benchmarks import data
    from vaearr.maps.patterns.edges import prepare_patterns
    from vaearr.maps.options import GRAIN_EXCESS
    from vaearr.maps.segmentation.pattern_levels import boundary_rows, excess_dissimilarity, pattern_grains, pseudo_angle, row_moments

    ds = data.patchwork_map("subgrains", seed=1, shape=(36, 48))
    grain, patterns = ds.grain_id.values, ds.patterns.values.astype(np.float32)
    core = ~ndi.binary_dilation(ds.grain_boundaries_true.values, iterations=2)
    ids, n = np.unique(grain[core], return_counts=True)
    a, b = ids[np.argsort(-n)[:2]]
    rng = np.random.default_rng(0)

    def draw(k: int, shape: tuple[int, int]) -> np.ndarray:  # patterns of grain k's inner pixels, drawn at random
        pix = np.argwhere(core & (grain == k))[rng.integers(0, int((core & (grain == k)).sum()), shape[0] * shape[1])]
        return patterns[pix[:, 0], pix[:, 1]].reshape(*shape, *patterns.shape[2:])

    ny, half = 24, 16
    pat = np.concatenate([draw(a, (ny, half)), draw(b, (ny, half))], 1)
    pat[:, half:half + 2] = 0.5 * (draw(a, (ny, 2)) + draw(b, (ny, 2))) if near_rows == "mixed" else draw(a, (ny, 2))
    regions = np.zeros((ny, 2 * half), int)
    regions[:, half:] = 1
    bg = patterns.reshape(-1, *patterns.shape[2:]).mean(0)  # the static background of the whole map (of many grains)
    prepare = lambda block: prepare_patterns(block, bg, 0.0)  # noqa: E731
    rows = boundary_rows(regions)
    sums, sq, count = row_moments(pat, regions.shape, rows, prepare)
    excess, across = excess_dissimilarity(sums, sq, count, 1)
    assert pseudo_angle(across)[0] < 1.0  # the rows at depth 2: the second region's one is (half) the first grain
    assert excess[0] > 2 * GRAIN_EXCESS
    region_grain, info = pattern_grains(regions, pat, prepare, pat[0, 0].size)
    assert region_grain[0] != region_grain[1] and info["grain_boundary_pairs"] == 1


def _join_patches_recomputing_every_cost(z, labels, region_grain, price):
    """join_patches as first written: every pair's cost computed again after each join (the reference)."""
    from vaearr.maps.segmentation.merging import region_means, relabel

    mu, size = region_means(z, labels)
    target, joins = np.arange(size.size), 0
    for g in np.unique(region_grain):
        ids = np.flatnonzero(region_grain == g)
        m, n, live = mu[ids].copy(), size[ids].copy(), np.ones(ids.size, bool)
        while live.sum() > 1:
            diff = m[:, None, :] - m[None, :, :]
            cost = (n[:, None] * n[None, :] / (n[:, None] + n[None, :])) * np.einsum("abk,abk->ab", diff, diff) / 2
            cost[~live, :] = np.inf
            cost[:, ~live] = np.inf
            np.fill_diagonal(cost, np.inf)
            a, b = np.unravel_index(int(np.argmin(cost)), cost.shape)
            if not cost[a, b] < price:
                break
            m[a] = (n[a] * m[a] + n[b] * m[b]) / (n[a] + n[b])
            n[a] += n[b]
            live[b] = False
            target[target == ids[b]] = ids[a]
            joins += 1
    return relabel(target[labels]), joins


def test_joining_patches_updates_one_row_of_costs_and_joins_as_recomputing_them_all() -> None:
    """join_patches updates only the joined region's costs after each join (a grain of a 1000 × 1000 map holds a
    thousand regions); the joins, their order and the labels are those of recomputing every cost, ties included."""
    from vaearr.maps.segmentation.pieces import join_patches

    rng = np.random.default_rng(1)
    for trial in range(30):
        r = int(rng.integers(2, 80))
        n = int(rng.integers(r, 3000))
        d = int(rng.integers(1, 12))
        labels = np.r_[np.arange(r), rng.integers(0, r, n - r)]
        centres = rng.normal(size=(r, d)) * rng.choice([0.1, 1.0, 3.0])
        if trial % 3 == 0:
            centres = np.round(centres, 1)  # equal means: ties in the costs
        z = centres[labels] + rng.normal(size=(n, d))
        grain = rng.integers(0, int(rng.integers(1, 5)), r)
        price = float(rng.choice([1.0, 10.0, 50.0, 1e3]))
        want, want_joins = _join_patches_recomputing_every_cost(z, labels, grain, price)
        got, grain_of, joins = join_patches(z, labels, grain, price)
        assert joins == want_joins and np.array_equal(got, want), trial
        assert np.array_equal(grain_of[got], grain[labels])


def test_a_mixed_strip_along_a_grain_boundary_is_no_sub_grain() -> None:
    """A strip two pixels wide between a grain boundary and its grain's region has no core pixel: its pixels beside
    the other grain count as edge though the pairs inside grains do not list that neighbour (with the strip's third
    column it kept a "core" and lined the grain boundary with a low-angle one)."""
    from vaearr.maps.segmentation.merging import grid_pairs
    from vaearr.maps.segmentation.pieces import absorb_slivers
    from vaearr.maps.segmentation.subgrain_level import beside_grain_boundary

    ny, nx = 8, 10
    grains = np.where(np.arange(nx) >= 6, 1, 0)[None, :].repeat(ny, 0)
    labels = np.where(grains == 1, 2, np.where(np.arange(nx) >= 4, 1, 0)[None, :].repeat(ny, 0))  # strip: x = 4, 5
    valid = np.ones((ny, nx), bool)
    a, b = grid_pairs(valid)
    same = grains.ravel()[a] == grains.ravel()[b]
    a, b = a[same], b[same]
    beside = beside_grain_boundary(valid, np.arange(ny * nx), grains)
    assert beside.reshape(ny, nx)[:, [5, 6]].all() and beside.sum() == 2 * ny
    kept = absorb_slivers(labels.ravel(), a, b)
    assert len(np.unique(kept[grains.ravel() == 0])) == 2  # without `beside` the strip has a core column (x = 5)
    joined = absorb_slivers(labels.ravel(), a, b, beside).reshape(ny, nx)
    assert len(np.unique(joined[grains == 0])) == 1 and len(np.unique(joined[grains == 1])) == 1
    assert joined[0, 0] != joined[0, 9]


def test_the_ring_along_grain_boundaries_is_left_out_and_filled_from_inside() -> None:
    """``grain_ring`` marks the pixels within its width of another grain (a grain that would keep none is left
    whole); ``fill_ring`` gives each the neighbouring region whose mean its features are nearest, inward step by
    step, never across a grain."""
    from vaearr.maps.segmentation.merging import grid_pairs
    from vaearr.maps.segmentation.subgrain_level import fill_ring, grain_ring

    ny, nx = 6, 12
    grains = np.zeros((ny, nx), int)
    grains[:, 6:] = 1
    grains[0:2, 9:11] = 2  # a grain of 4 pixels: all ring, kept whole
    ring = grain_ring(np.ones((ny, nx), bool), grains, 1)
    assert ring[:, [5, 6]].all() and not ring[:, :5].any() and not ring[3:, 8].any()
    assert not ring[0:2, 9:11].any() and ring[2, 9]
    # a pixel without a region between two takes the one whose mean its features are nearest; the ring of the right
    # grain fills from that grain only
    regions = np.where(np.arange(ny)[:, None] < 3, 0, 1) * np.ones((1, nx), int)
    regions = np.where(grains == 0, regions, np.where(grains == 1, 2, 3))
    z = np.where(regions == 1, 1.0, np.where(regions == 0, 0.0, 5.0)).ravel()[:, None]
    labels = np.where(ring, -1, regions).ravel()
    for p, value in (((2, 2), 0.9), ((3, 3), 0.1)):  # on the wrong side of the line by their features
        labels[p[0] * nx + p[1]] = -1
        z[p[0] * nx + p[1]] = value
    a, b = grid_pairs(np.ones((ny, nx), bool))
    same = grains.ravel()[a] == grains.ravel()[b]
    filled = fill_ring(z, labels, a[same], b[same]).reshape(ny, nx)
    assert (filled >= 0).all()
    assert filled[2, 2] == 1 and filled[3, 3] == 0, filled
    assert (filled[:, 5][:3] == 0).all() and (filled[:, 5][3:] == 1).all()
    assert (filled[2:, 6] == 2).all()  # from its own grain, not from the left one


def _averaged_patchy_map(seed: int, *, average: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two grains; every cell of a Voronoi tessellation (8 cells) dealt out to two sub-grains 4 noise σ apart along a
    random direction of 16 feature dims; the noise of each pixel averaged with its 3 × 3 neighbours (κ ≈ 9), as the
    README path's latents of neighbour-averaged patterns."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    ny, nx, d = 40, 64, 16
    grain = (np.mgrid[0:ny, 0:nx][1] >= 32).astype(int)
    cells = cKDTree(rng.uniform(0, [ny, nx], size=(8, 2))).query(np.argwhere(np.ones((ny, nx), bool)))[1]
    side = (np.arange(8) % 2)[cells].reshape(ny, nx)
    u = rng.normal(size=d)
    mean = 8.0 * grain[..., None] * np.eye(d)[0] + 4.0 * side[..., None] * u / np.linalg.norm(u)
    noise = rng.normal(size=(ny, nx, d))
    f = mean + (ndi.uniform_filter(noise * 3, size=(3, 3, 1)) if average else noise)
    return f, grain * 2 + side


def test_correlated_features_read_their_sub_grains_on_each_grains_principal_directions() -> None:
    """Features whose noise is correlated pixel to pixel (κ ≈ 9 inside the regions) are merged again on each grain's
    first principal directions: patchy sub-grains that the whole feature space's price merged come out (ARI against
    the planted sub-grains over four maps, the columns beside the grain boundary left out); features of independent
    noise keep the first merging."""
    inside = np.ones((40, 64), bool)
    inside[:, 30:34] = False
    new, old = [], []
    for seed in range(4):
        f, truth = _averaged_patchy_map(seed)
        seg = segment_features(f, np.ones(truth.shape, bool))
        assert seg.info["noise_correlation_inside_regions"] > 5 and seg.info["subgrain_components"] == 2
        new.append(adjusted_rand_score(truth[inside], seg.regions[inside]))
        first = segment_features(f, np.ones(truth.shape, bool), components=None)
        old.append(adjusted_rand_score(truth[inside], first.regions[inside]))
    assert min(new) >= 0.8 and np.mean(new) >= np.mean(old) + 0.1, (new, old)
    # patches of a grain are joined at the price of a mean in the dims merged on: 2 here, 16 on the first merging
    assert seg.info["patches_join_price"] == pytest.approx(math.log(40 * 64), abs=1e-3)
    assert first.info["patches_join_price"] == pytest.approx(8 * math.log(40 * 64), abs=1e-3)
    f, truth = _averaged_patchy_map(0, average=False)
    seg = segment_features(f, np.ones(truth.shape, bool))
    assert "subgrain_level" not in seg.info and seg.info["noise_correlation_inside_regions"] < 2


def test_small_patches_of_a_sub_grain_stay_on_the_level_of_two_directions() -> None:
    """On the sub-grain level of correlated features a region needs as many core pixels as that level's features have
    dims (2), not the 16 of the features: on maps whose sub-grains are 96 Voronoi cells dealt out (patches of a few
    to sixty pixels, 5 noise σ apart in that level's units), keeping the small patches reads the sub-grains as well on
    every map (to 0.005) and better over the six; ``min_size`` given applies to that level too."""
    from scipy.spatial import cKDTree

    inside = np.ones((40, 64), bool)
    inside[:, 30:34] = False
    kept, absorbed = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        ny, nx, d = 40, 64, 16
        grain = (np.mgrid[0:ny, 0:nx][1] >= 32).astype(int)
        cells = cKDTree(rng.uniform(0, [ny, nx], size=(96, 2))).query(np.argwhere(np.ones((ny, nx), bool)))[1]
        side = (rng.random(96) < 0.5)[cells].reshape(ny, nx).astype(int)
        u = rng.normal(size=d)
        f = (8.0 * grain[..., None] * np.eye(d)[0] + 15.0 * side[..., None] * u / np.linalg.norm(u)
             + ndi.uniform_filter(rng.normal(size=(ny, nx, d)) * 3, size=(3, 3, 1)))
        truth = grain * 2 + side
        seg = segment_features(f, np.ones((ny, nx), bool))
        old = segment_features(f, np.ones((ny, nx), bool), min_size=16)
        assert seg.info["subgrain_min_size"] == 2 and old.info["subgrain_min_size"] == 16
        kept.append(adjusted_rand_score(truth[inside], seg.regions[inside]))
        absorbed.append(adjusted_rand_score(truth[inside], old.regions[inside]))
    assert all(k >= a - 0.005 for k, a in zip(kept, absorbed)), (kept, absorbed)
    assert np.mean(kept) >= np.mean(absorbed) + 0.01, (kept, absorbed)


def test_a_map_of_patterns_segmented_on_every_pixel_is_told_of_the_quality_roi(tmp_path: Path) -> None:
    """Without a mask, on a store with patterns, `segment` says how a ROI of the patterns' quality is made (blank and
    mixed patterns out of the sub-grains); with a mask, or on a store without patterns, it does not."""
    pytest.importorskip("kikuchipy")
    from benchmarks import data
    from vaearr.maps.segmentation.segment import NO_MASK_HINT

    ds = data.patchwork_map("subgrains", seed=2, shape=(24, 32))
    store = tmp_path / "p.zarr"
    coords = {"y": ds.y.values, "x": ds.x.values}
    rng = np.random.default_rng(0)
    f = rng.normal(size=(24, 32, 3)) + 6.0 * ds.grain_id.values[..., None] * np.eye(3)[0]
    write_variables(store, {"patterns": ds.patterns,
                            "feat": xr.DataArray(f, dims=("y", "x", "c"), coords=coords),
                            "roi": xr.DataArray(np.ones((24, 32), bool), dims=("y", "x"), coords=coords)})
    said = segment_store(store, var="feat", mask=None).summary()
    assert NO_MASK_HINT in said and "vaearr quality" in said
    assert NO_MASK_HINT not in segment_store(store, var="feat", mask="roi", overwrite=True).summary()
    plain = _store(tmp_path / "f.zarr", f)
    assert NO_MASK_HINT not in segment_store(plain, var="latent", mask=None).summary()


def test_sub_grains_from_rotations_up_to_a_size_and_a_bad_choice_is_one_line(tmp_path: Path) -> None:
    from vaearr.maps.options import SegmentOptions
    from vaearr.maps.region_options import ROTATIONS_MAX_PIXELS
    from vaearr.maps.segmentation.segment import rotations_wanted

    auto = SegmentOptions(store="s")
    assert auto.subgrains == "auto" and rotations_wanted(auto, ROTATIONS_MAX_PIXELS)
    assert not rotations_wanted(auto, ROTATIONS_MAX_PIXELS + 1)
    assert rotations_wanted(SegmentOptions(store="s", subgrains="rotations"), 10 * ROTATIONS_MAX_PIXELS)
    assert not rotations_wanted(SegmentOptions(store="s", subgrains="features"), 10)
    f, _, _ = planted()
    store = tmp_path / "f.zarr"
    write_variables(store, {"latent": xr.DataArray(f, dims=("y", "x", "latent_dim"))}, source=["test"])
    before = tree_hash(store)
    proc = cli("segment", store, "--subgrains", "degrees", check=False)
    assert proc.returncode != 0 and "subgrains" in proc.stderr and "degrees" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and tree_hash(store) == before
