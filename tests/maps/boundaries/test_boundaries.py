"""``vaearr boundaries``: boundary strength, grain and low-angle boundary masks, grain size, F1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi

from tests.helpers import cli, tree_hash
from benchmarks.data.scoring import boundary_f1
from vaearr.errors import InputError
from vaearr.maps.boundaries.boundaries import BoundaryResult, find_boundaries
from vaearr.maps.patterns.edges import neighbour_map, prepare_patterns, welch_edges
from vaearr.maps.boundaries.low_angle import principal_projection
from vaearr.store import open_store, write_variables

NY, NX, P = 16, 20, 24


def _templates(rng: np.random.Generator, n: int) -> np.ndarray:
    t = ndi.gaussian_filter(rng.normal(size=(n, P, P)), (0, 2, 2))
    return (t - t.mean((1, 2), keepdims=True)) / t.std((1, 2), keepdims=True)


def planted_map(seed: int = 0, step: float = 0.12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two grains split at column 10 (grain boundary: column 9); in the left grain, rows 8.. are
    turned slightly (a weak ridge along row 7; none with ``step=0``). Returns patterns (y, x, P, P)
    uint8, gb, lagb."""
    rng = np.random.default_rng(seed)
    a, b, d = _templates(rng, 3)
    a2 = a + step * d  # the weakly different sub-grain
    k = np.empty((NY, NX, P, P))
    k[:, :10], k[:, 10:] = a, b
    k[8:, :10] = a2
    img = 120 * (1 + 0.2 * k) + rng.normal(0, 4, size=k.shape)
    gb = np.zeros((NY, NX), bool)
    gb[:, 9] = True
    lagb = np.zeros((NY, NX), bool)
    lagb[7, :9] = step > 0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), gb, lagb


def write_map(path: Path, patterns: np.ndarray, **extra) -> Path:
    ny, nx = patterns.shape[:2]
    coords = {"y": np.arange(ny) * 0.5, "x": np.arange(nx) * 0.5}
    v = {"patterns": xr.DataArray(patterns, dims=("y", "x", "py", "px"), coords=coords),
         "roi": xr.DataArray(np.ones((ny, nx), bool), dims=("y", "x"), coords=coords)}
    v.update({k: xr.DataArray(a, dims=("y", "x", *[f"d{i}" for i in range(a.ndim - 2)]), coords=coords)
              for k, a in extra.items()})
    write_variables(path, v, source=["test"], group_attrs={"kind": "ebsd-map"})
    return path


def test_boundary_f1_on_hand_made_masks() -> None:
    t = np.zeros((6, 6), bool)
    t[:, 2] = True
    same = boundary_f1(t, t)
    assert same == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "ratio_marked": 1.0}
    shifted = np.roll(t, 1, axis=1)  # one pixel off: right within tolerance 1, wrong at 0
    assert boundary_f1(shifted, t)["f1"] == 1.0
    assert boundary_f1(shifted, t, tolerance=0)["f1"] == 0.0
    far = np.roll(t, 3, axis=1)
    assert boundary_f1(far, t)["f1"] == 0.0
    half = t.copy()
    half[3:] = False
    r = boundary_f1(half, t)
    assert r["precision"] == 1.0 and r["ratio_marked"] == 0.5 and 0.5 <= r["recall"] < 1
    thick = ndi.binary_dilation(t, np.ones((1, 3), bool))
    assert boundary_f1(thick, t)["ratio_marked"] == 3.0 and boundary_f1(thick, t)["precision"] == 1.0


def test_the_summary_of_a_map_too_small_for_sub_grains_prints_no_none() -> None:
    attrs = {"mask": "none", "gb_threshold": 0.56, "gb_threshold_rule": "Otsu", "ridge_median": 1.3,
             "grain_boundary_pixels": 2, "lagb_method": "segment", "low_angle_boundary_pixels": 0,
             "grain_size_um": 4.5, "grain_size_intercepts": 6, "grain_size_lines": 6,
             "grain_size_lines_without_boundary": 4}
    summary = BoundaryResult("ni.zarr", "patterns", None, None, None, attrs).summary()
    assert "None" not in summary and "4.5 µm from 6 intercepts on 6 lines (4 meet no boundary" in summary, summary


def test_pattern_strength_matches_kikuchipy() -> None:
    kp = pytest.importorskip("kikuchipy")
    rng = np.random.default_rng(1)
    p = rng.integers(0, 255, size=(5, 7, 12, 12)).astype(np.uint8)
    p[:, 4:] = np.clip(p[:, 4:].astype(int) // 2 + 60, 0, 255)
    ref = kp.signals.EBSD(p.astype(np.float32)).get_average_neighbour_dot_product_map(show_progressbar=False)
    ours = neighbour_map(p, metric="dot", prepare=prepare_patterns, rows=2)  # row blocks with a halo
    np.testing.assert_allclose(ours, np.asarray(ref), atol=1e-5)
    # outside the mask: NaN, and masked pixels are not neighbours
    mask = np.ones((5, 7), bool)
    mask[2, 3] = False
    m = neighbour_map(p, mask, metric="dot", prepare=prepare_patterns, rows=2)
    assert np.isnan(m[2, 3]) and np.isfinite(m[mask]).all()
    assert not np.isclose(m[1, 3], ours[1, 3])


def test_planted_two_grain_map(tmp_path: Path) -> None:
    patterns, gb, lagb = planted_map()
    store = write_map(tmp_path / "m.zarr", patterns)
    for method in ("segment", "t2"):
        # the patterns are random pictures, not Kikuchi patterns: no angle to class the lines by
        r = find_boundaries(store, lagb_method=method, overwrite=True, degrees=False)
        found_gb, found_lagb = r.grain_boundaries.values, r.low_angle_boundaries.values
        g = boundary_f1(found_gb, gb)
        assert g["f1"] >= 0.9 and g["ratio_marked"] <= 1.5, g
        lo = boundary_f1(found_lagb, lagb)
        assert lo["f1"] >= 0.6 and lo["ratio_marked"] <= 1.5, (method, lo)
    ds = open_store(store)  # the t2 run's attrs
    a = ds.boundary_strength.attrs
    assert a["lagb_threshold"] == 16.0 and a["lagb_low"] == 5.0 and "Welch t²" in a["lagb_threshold_rule"]
    assert a["grain_interiors"] == 2 and a["lagb_lines"] == 1
    assert "Otsu" in a["gb_threshold_rule"] and a["grain_size_um"] > 0
    # the grain boundary is where the strength is highest
    s = ds.boundary_strength.values
    assert np.nanmean(s[:, 9:11]) > 2 * np.nanmean(s[:, :5])
    # thresholds can be given: a huge low-angle threshold marks no low-angle boundary
    r2 = find_boundaries(store, lagb_method="t2", lagb_threshold=1e6, overwrite=True, degrees=False)
    assert not r2.low_angle_boundaries.values.any() and r2.attrs["lagb_threshold_rule"].startswith("given")
    r3 = find_boundaries(store, overwrite=True, degrees=False)
    assert r3.attrs["lagb_method"] == "segment" and r3.attrs["lagb_regions"] == 3, r3.attrs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_low_angle_boundary_where_there_is_none(tmp_path: Path, seed: int) -> None:
    """The same two grains without the sub-grain step: the significance rule marks nothing."""
    patterns, gb, _ = planted_map(seed, step=0.0)
    r = find_boundaries(write_map(tmp_path / "m.zarr", patterns), degrees=False)  # random pictures: no angles
    assert boundary_f1(r.grain_boundaries.values, gb)["f1"] >= 0.9
    assert int(r.low_angle_boundaries.values.sum()) == 0, r.attrs
    with_step = find_boundaries(write_map(tmp_path / "s.zarr", planted_map(seed)[0]), degrees=False)
    assert with_step.low_angle_boundaries.values.sum() >= 5  # the same seed with the step: found


def test_welch_t2_and_principal_projection_against_the_formulas() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 9, 2))
    z[:, 5:] += 0.7
    w = np.ones((6, 9), bool)
    w[0, 0] = False
    t2 = welch_edges(z, w, 3, 2)
    # edge (2, 4)-(2, 5): boxes rows 1..3, columns 3..4 and 5..6
    left, right = z[1:4, 3:5].reshape(-1, 2), z[1:4, 5:7].reshape(-1, 2)
    var = lambda a: float(np.sum(a.var(axis=0, ddof=1)))  # noqa: E731
    want = np.sum((left.mean(0) - right.mean(0)) ** 2) / (var(left) / 6 + var(right) / 6)
    assert t2[2, 4] == pytest.approx(want, rel=1e-9)
    # a box with the masked pixel leaves it out; edges touching it are NaN
    left = np.delete(z[0:2, 0:2].reshape(-1, 2), 0, axis=0)
    right = z[0:2, 2:4].reshape(-1, 2)
    want = np.sum((left.mean(0) - right.mean(0)) ** 2) / (var(left) / 3 + var(right) / 4)
    assert t2[0, 1] == pytest.approx(want, rel=1e-9)
    assert np.isnan(t2[0, 0]) and np.isnan(t2[:, -1]).all()
    # the projection on the first principal direction equals numpy's SVD (up to sign)
    x = rng.normal(size=(300, 40)) + np.outer(rng.normal(size=300) * 3, rng.normal(size=40))
    ours = principal_projection(x, 1)[:, 0]
    xc = x - x.mean(0)
    ref = xc @ np.linalg.svd(xc, full_matrices=False)[2][0]
    assert abs(np.corrcoef(ours, ref)[0, 1]) > 1 - 1e-9


def test_cli_writes_variables_attrs_and_figure(tmp_path: Path) -> None:
    patterns, gb, _ = planted_map()
    grain = np.where(np.arange(NX) < 10, 0.0, 1.0)[None, :].repeat(NY, 0)
    latent = np.stack([grain, 1 - grain], -1) + np.random.default_rng(2).normal(0, 0.05, (NY, NX, 2))
    store = write_map(tmp_path / "m.zarr", patterns, latent=latent)
    figs = tmp_path / "figs"
    proc = cli("boundaries", store, "--out", figs)
    assert proc.returncode == 0, proc.stderr
    assert "grain-boundary threshold" in proc.stdout and "Otsu" in proc.stdout and "µm" in proc.stdout
    ds = open_store(store)
    for v in ("boundary_strength", "grain_boundaries", "low_angle_boundaries"):
        assert ds[v].dims == ("y", "x")
    assert ds.grain_boundaries.dtype == bool and ds.boundary_strength.dtype == np.float32
    # a 10 × 8 µm map: 16 rows of 10 µm crossing the boundary once each, 20 columns of 8 µm meeting none
    # (one intercept each): 320 µm / 36 intercepts (it said 20 µm, twice the map's width)
    a = ds.boundary_strength.attrs
    assert a["grain_size_um"] == pytest.approx(320 / 36, rel=0.15) and a["grain_size_um"] <= 10.0
    assert a["grain_size_intercepts"] == pytest.approx(36, abs=4) and a["grain_size_lines"] == 36
    assert f"from {a['grain_size_intercepts']} intercepts on 36 lines" in proc.stdout, proc.stdout
    assert (figs / "boundaries_patterns.html").stat().st_size > 0 and (figs / "boundaries_patterns.png").stat().st_size > 0
    # again without --overwrite: one line, store unchanged
    before = tree_hash(store)
    proc = cli("boundaries", store, "--out", figs)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr and tree_hash(store) == before
    # from the latent
    proc = cli("boundaries", store, "--var", "latent", "--overwrite", "--out", figs, "--gb-threshold", "0.5")
    assert proc.returncode == 0, proc.stderr
    ds = open_store(store)
    assert ds.boundary_strength.attrs["source_variable"] == "latent"
    assert ds.boundary_strength.attrs["gb_threshold"] == 0.5
    assert boundary_f1(ds.grain_boundaries.values, gb)["f1"] >= 0.9
    assert (figs / "boundaries_latent.png").exists()


def test_bad_inputs_leave_the_store_unchanged(tmp_path: Path) -> None:
    patterns, _, _ = planted_map()
    store = write_map(tmp_path / "m.zarr", patterns)
    before = tree_hash(store)
    proc = cli("boundaries", store, "--var", "latent", "--out", tmp_path / "f")
    assert proc.returncode == 2 and "no variable 'latent' in the store; run 'vaearr encode" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and tree_hash(store) == before
    proc = cli("boundaries", store, "--mask", "nope", "--out", tmp_path / "f")
    assert proc.returncode == 2 and "no mask 'nope'" in proc.stderr and tree_hash(store) == before
    images = tmp_path / "img.zarr"
    write_variables(images, {"images": xr.DataArray(np.zeros((3, 4, 5), np.uint8), dims=("sample", "row", "col"))},
                    source=["test"])
    before = tree_hash(images)
    proc = cli("boundaries", images, "--out", tmp_path / "f")
    assert proc.returncode == 2 and "no (y, x) grid" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and tree_hash(images) == before
    with pytest.raises(InputError, match="no \\(y, x\\) grid"):
        find_boundaries(images)


def test_low_angle_boundaries_on_the_simulated_sub_grain_map(tmp_path: Path) -> None:
    """The 0.5° sub-grain boundaries of the science map are found (issue 32's goal: F1 ≥ 0.7 with at
    most 1.5× as many pixels as there are), and the clean map of the same scene gets almost none."""
    pytest.importorskip("kikuchipy")
    from benchmarks.data import write_science_map

    sub = write_science_map(tmp_path / "sub.zarr", "subgrains")
    r = find_boundaries(tmp_path / "sub.zarr")
    lo = boundary_f1(r.low_angle_boundaries.values, sub.low_angle_boundaries_true.values.astype(bool))
    assert lo["f1"] >= 0.7 and lo["ratio_marked"] <= 1.5, lo
    gb = boundary_f1(r.grain_boundaries.values, sub.grain_boundaries_true.values.astype(bool))
    assert gb["f1"] >= 0.95, gb
    write_science_map(tmp_path / "clean.zarr", "clean")
    clean = find_boundaries(tmp_path / "clean.zarr")
    assert clean.low_angle_boundaries.values.sum() <= 10  # 186 true pixels in the sub-grain map


def test_a_mask_that_leaves_out_the_boundaries_is_said_in_one_line(tmp_path: Path) -> None:
    """A band-contrast ROI leaves out the boundaries (band contrast is low there): the summary says so,
    and by default boundaries are looked for over every pixel."""
    patterns, gb, _ = planted_map()
    store = write_map(tmp_path / "m.zarr", patterns)
    bc_like = ~ndi.binary_dilation(gb, np.ones((3, 3), bool))
    write_variables(store, {"roi": xr.DataArray(bc_like, dims=("y", "x"))}, source=["test"], overwrite=True)
    r = find_boundaries(store)
    assert r.attrs["mask"] == "none" and r.attrs["messages"] == []
    assert boundary_f1(r.grain_boundaries.values, gb)["f1"] >= 0.9
    masked = find_boundaries(store, mask="roi", overwrite=True)
    lines = [line for line in masked.summary().splitlines() if "leaves out" in line]
    assert len(lines) == 1 and "roi" in lines[0] and "`mask='none'` finds them" in lines[0], masked.summary()
    said = cli("boundaries", store, "--mask", "roi", "--overwrite", check=True).stdout  # the command line: the flag
    assert "leaves out" in said and "--mask none finds them" in said and "`" not in said, said


def test_low_angle_boundaries_run_on_to_the_grain_boundary(tmp_path: Path) -> None:
    """The interiors leave out the ring beside a grain boundary; the regions are carried into it (nearest interior
    pixel of the same piece), so the planted sub-grain boundary (row 7, columns 0–8) is marked up to column 8, next to
    the grain boundary (column 9), and nothing is carried across it."""
    from vaearr.maps.boundaries.low_angle import extend_regions

    regions = np.full((6, 7), -1)
    labels = np.zeros((6, 7), int)
    regions[:3, :2], regions[3:, :2] = 0, 1  # interior: columns 0–1 of grain 1, two regions
    labels[:, :2] = 1
    regions[:, 5:], labels[:, 5:] = 2, 2  # grain 2 right of the boundary (column 4)
    reach = np.ones((6, 7), bool)
    reach[:, 4] = False  # the grain boundary
    out, grains = extend_regions(regions, labels, reach)
    assert out[:3, 2:4].tolist() == [[0, 0]] * 3 and out[3:, 2:4].tolist() == [[1, 1]] * 3
    assert (grains[:, :4] == 1).all() and (out[:, 4] == -1).all() and (out[:, 5:] == 2).all()

    # a ring pixel whose features are the other region's takes that region (within RING_RADIUS), not the nearest's
    from vaearr.maps.boundaries.low_angle import ring_by_features

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8), rng.normal(size=8)
    feats = np.where(np.arange(8)[:, None, None] < 4, a, b) + 0.05 * rng.normal(size=(8, 8, 8))
    feats[1, 6] = b + 0.05 * rng.normal(size=8)  # a sliver of the lower region along the boundary
    inner = np.full((8, 8), -1)
    inner[:4, :6], inner[4:, :6] = 0, 1
    labels = np.where(inner >= 0, 1, 0)
    reach = np.ones((8, 8), bool)
    reach[:, 7] = False
    ext, grains = extend_regions(inner, labels, reach)
    assert ext[1, 6] == 0  # nearest: the upper region
    out = ring_by_features(feats, None, 2, labels, inner, ext, grains)
    assert out[1, 6] == 1 and (out[[0, 2, 3], 6] == 0).all() and (out[4:, 6] == 1).all()
    assert (out[:, :6] == inner[:, :6]).all()  # the interiors are not touched

    patterns, gb, lagb = planted_map()
    r = find_boundaries(write_map(tmp_path / "m.zarr", patterns), degrees=False)  # random pictures: no angles
    found = r.low_angle_boundaries.values
    assert r.attrs["lagb_to_grain_boundaries"] and found[6:9, 8].any(), found[5:10].astype(int)
    assert not found[:, 9:].any()  # none on the grain boundary or in the right grain


def test_low_angle_boundaries_on_the_patchwork_map(tmp_path: Path) -> None:
    """The second family (patchy sub-grains, another detector, gain, boundary mixing, a band-contrast ROI with holes):
    F1 ≥ 0.7 marking ≤ 1.5× with the ROI and without (issue 37; 0.80 / 0.80 before the regions reached the grain
    boundaries, 0.89 / 0.84 after)."""
    pytest.importorskip("kikuchipy")
    from benchmarks.data.patchwork import write_patchwork_map
    from vaearr.maps.roi.roi import create_roi

    ds = write_patchwork_map(tmp_path / "p.zarr", "subgrains", seed=1)
    create_roi(tmp_path / "p.zarr", otsu=True)
    true = ds.low_angle_boundaries_true.values.astype(bool)
    for mask in (None, "roi"):
        r = find_boundaries(tmp_path / "p.zarr", mask=mask, overwrite=True)
        lo = boundary_f1(r.low_angle_boundaries.values, true)
        assert lo["f1"] >= 0.7 and lo["ratio_marked"] <= 1.5, (mask, lo)
