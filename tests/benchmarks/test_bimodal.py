"""The third family of simulated maps (:mod:`benchmarks.data.bimodal`): bimodal elongated grains, sub-grains of varying
steps, a 4:3 detector, Poisson + read noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from benchmarks import data  # noqa: E402
from benchmarks.data.bimodal import BIMODAL_PC, N_GRAINS, SUBGRAIN_STEPS  # noqa: E402
from benchmarks.data.deformation import mean_orientations  # noqa: E402
from benchmarks.data.rotations import misorientation_deg  # noqa: E402
from vaearr.maps.roi.roi import create_roi  # noqa: E402

SHAPE, PSHAPE = (24, 32), (45, 60)
SCENE = ("grain_id", "subgrain_id", "large_grain_true", "grain_boundaries_true", "low_angle_boundaries_true",
         "low_angle_misorientation_true")


@pytest.fixture(scope="module")
def subgrains():
    return data.bimodal_map("subgrains", seed=1, shape=SHAPE, pattern_shape=PSHAPE)


@pytest.fixture(scope="module")
def deformed():
    return data.bimodal_map("deformed", seed=2, shape=SHAPE, pattern_shape=PSHAPE)


def _boundaries(labels: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """Independent reference: a pixel is on a boundary when its right or lower neighbour differs."""
    ny, nx = labels.shape
    out = np.zeros(labels.shape, bool)
    for i in range(ny):
        for j in range(nx):
            for a, b in ((i, j + 1), (i + 1, j)):
                if a < ny and b < nx and labels[a, b] != labels[i, j]:
                    if within is None or within[a, b] == within[i, j]:
                        out[i, j] = True
    return out


def _adjacent(labels: np.ndarray, within: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of labels that are right or lower neighbours somewhere inside one ``within`` label."""
    pairs = set()
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        on = (labels[a] != labels[b]) & (within[a] == within[b])
        pairs |= {(int(min(u, v)), int(max(u, v))) for u, v in zip(labels[a][on], labels[b][on])}
    return pairs


def _next_to_grain_boundary(grain: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour in another grain (both sides of every grain boundary)."""
    out = np.zeros(grain.shape, bool)
    right, down = grain[:, :-1] != grain[:, 1:], grain[:-1] != grain[1:]
    out[:, :-1] |= right
    out[:, 1:] |= right
    out[:-1] |= down
    out[1:] |= down
    return out


def _elongation(grain: np.ndarray, k: int) -> float:
    yy, xx = np.nonzero(grain == k)
    return float(np.sqrt(xx.var() / max(yy.var(), 1e-9)))


def test_shapes_dtypes_and_the_detector(subgrains) -> None:
    ds = subgrains
    assert ds.patterns.dims == ("y", "x", "py", "px") and ds.patterns.shape == (*SHAPE, *PSHAPE)
    assert ds.patterns.dtype == np.uint16 and ds.bandcontrast.dtype == np.float32
    assert ds.bandcontrast.dims == ("y", "x") and 0 <= float(ds.bandcontrast.min()) and float(ds.bandcontrast.max()) <= 255
    assert ds.orientation_true.dims == ("y", "x", "quaternion") and ds.orientation_true.dtype == np.float32
    assert ds.attrs["family"] == "bimodal" and ds.attrs["step"] == 0.75
    assert ds.attrs["pc"] == list(BIMODAL_PC) and ds.attrs["sample_tilt"] == 70.0
    np.testing.assert_allclose(ds.x.values, 0.75 * np.arange(SHAPE[1]))
    np.testing.assert_allclose(ds.y.values, 0.75 * np.arange(SHAPE[0]))
    # Poisson at 30 counts on a background of mean 1 under a gain drift of mean about 1; no holes
    assert 25 < float(ds.patterns.mean()) < 35 and "hole_true" not in ds
    # grain boundaries are dark in the band contrast (the contrast dip and the mixing)
    bc, next_to = ds.bandcontrast.values, _next_to_grain_boundary(ds.grain_id.values)
    assert np.median(bc[next_to]) < 0.8 * np.median(bc[~next_to])
    with pytest.raises(ValueError, match="kind must be one of"):
        data.bimodal_map("twins")


def test_truth_is_consistent(subgrains) -> None:
    ds = subgrains
    g, s = ds.grain_id.values, ds.subgrain_id.values
    n_large, n_small = N_GRAINS["subgrains"]
    assert g.dtype == np.int32 and set(np.unique(g)) == set(range(n_large + n_small))
    np.testing.assert_array_equal(s // 4, g)  # sub-grain 4·grain + cell
    np.testing.assert_array_equal(ds.large_grain_true.values, g < n_large)
    np.testing.assert_array_equal(ds.grain_boundaries_true.values, _boundaries(g))
    np.testing.assert_array_equal(ds.low_angle_boundaries_true.values, _boundaries(s, within=g))
    # sub-grains only in the large grains: 2–4 each; the small grains are one sub-grain
    assert all(2 <= len(np.unique(s[g == k])) <= 4 for k in range(n_large))
    assert all(len(np.unique(s[g == k])) == 1 for k in range(n_large, n_large + n_small))
    # every grain and sub-grain one 4-connected piece
    assert all(ndi.label(g == k)[1] == 1 for k in np.unique(g))
    assert all(ndi.label(s == k)[1] == 1 for k in np.unique(s))
    # the misorientation across a true low-angle boundary: on its pixels only
    lagb, angle = ds.low_angle_boundaries_true.values, ds.low_angle_misorientation_true.values
    np.testing.assert_array_equal(~np.isnan(angle), lagb)
    assert SUBGRAIN_STEPS[0] <= angle[lagb].min() and angle[lagb].max() <= SUBGRAIN_STEPS[1]
    # each pixel scattered about its sub-grain's orientation by 0.08° per axis: mean |N(0, 0.08² I3)| ≈ 0.128°
    assert 0.1 < float(ds.misorientation_true.mean()) < 0.16


def test_adjacent_subgrains_are_four_tenths_to_one_point_two_degrees_apart(subgrains) -> None:
    ds = subgrains
    g, s = ds.grain_id.values, ds.subgrain_id.values
    pairs = _adjacent(s, g)
    assert len(pairs) >= N_GRAINS["subgrains"][0]
    # measured from the per-pixel true orientations (their means), not from the attrs: a mean of about 30 pixels
    # scattered by 0.08° per axis is a few hundredths of a degree off its sub-grain's orientation
    mean = mean_orientations(ds.orientation_true.values.astype(float), s)
    measured = np.array([misorientation_deg(mean[a], mean[b]) for a, b in pairs])
    assert np.all((measured > SUBGRAIN_STEPS[0] - 0.08) & (measured < SUBGRAIN_STEPS[1] + 0.08)), measured
    assert measured.max() - measured.min() > 0.1  # the steps vary
    q_sub = np.asarray(ds.attrs["subgrain_rotations"])
    drawn = np.array([misorientation_deg(q_sub[a], q_sub[b]) for a, b in pairs])
    assert np.all((drawn >= SUBGRAIN_STEPS[0]) & (drawn <= SUBGRAIN_STEPS[1]))
    np.testing.assert_allclose(measured, drawn, atol=0.08)


def test_large_grains_are_elongated_along_x_and_far_larger(subgrains) -> None:
    g = subgrains.grain_id.values
    n_large = N_GRAINS["subgrains"][0]
    assert np.mean([_elongation(g, k) for k in range(n_large)]) > 1.5
    sizes = np.bincount(g.ravel())
    assert np.median(sizes[:n_large]) > 3 * np.median(sizes[n_large:])


def test_deterministic_per_seed_and_physics_leaves_the_scene(subgrains) -> None:
    xr_testing = pytest.importorskip("xarray.testing")
    again = data.bimodal_map("subgrains", seed=1, shape=SHAPE, pattern_shape=PSHAPE)
    xr_testing.assert_identical(again, subgrains)
    other = data.bimodal_map("subgrains", seed=1, shape=SHAPE, pattern_shape=(30, 40), counts=60.0, read_noise=0.0,
                             blur=0.0, contrast=0.4, gain_drift=0.0, spread=0.2, boundary_dip=0.0,
                             pc=(0.5, 0.3, 0.6))
    for k in SCENE:
        np.testing.assert_array_equal(other[k].values, subgrains[k].values)
    assert other.attrs["subgrain_rotations"] == subgrains.attrs["subgrain_rotations"]
    assert 1.7 < float(other.patterns.mean()) / float(subgrains.patterns.mean()) < 2.3
    assert other.misorientation_true.values.mean() > 2 * subgrains.misorientation_true.values.mean()
    seed2 = data.bimodal_map("subgrains", seed=2, shape=SHAPE, pattern_shape=(30, 40))
    assert not np.array_equal(seed2.grain_id.values, subgrains.grain_id.values)


def test_deformed_bends_half_the_grains(deformed) -> None:
    ds = deformed
    g, rex, gos = ds.grain_id.values, ds.recrystallised_true.values, ds.gos_true.values
    n = int(g.max()) + 1
    assert n == sum(N_GRAINS["deformed"]) == 14 and ds.attrs["step"] == 0.75
    np.testing.assert_array_equal(ds.subgrain_id.values, g)
    assert not ds.low_angle_boundaries_true.values.any() and np.isnan(ds.low_angle_misorientation_true.values).all()
    rex_g = np.array([rex[g == k][0] for k in range(n)])
    gos_g = np.array([gos[g == k][0] for k in range(n)])
    assert rex_g.sum() == 7
    # recrystallised grains spread by the 0.05° per-axis scatter alone (GOS about 0.08°); bent ones far more
    assert np.all(gos_g[rex_g] < 0.12) and np.all(gos_g[~rex_g] > 0.15)
    kam = ds.kam_true.values
    assert np.nanmedian(kam[~rex]) > 1.5 * np.nanmedian(kam[rex])
    rate = ds.bend_rate_true.values
    assert 0.2 <= rate[~rex].min() and rate[~rex].max() <= 1.5 and (rate[rex] == 0).all()
    assert np.mean([_elongation(g, k) for k in range(N_GRAINS["deformed"][0])]) > 1.5


def test_write_bimodal_map_store_and_its_otsu_roi(tmp_path: Path) -> None:
    store = tmp_path / "bm.zarr"
    kw = {"shape": (16, 20), "pattern_shape": (30, 40)}
    data.write_bimodal_map(store, "subgrains", seed=3, **kw)
    ds = xr.open_zarr(store)
    assert ds.attrs["kind"] == "ebsd-map" and ds.attrs["step"] == [0.75, 0.75] and "roi" not in ds
    sm = ds.attrs["science_map"]
    assert sm["family"] == "bimodal" and sm["pc"] == list(BIMODAL_PC) and sm["sample_tilt"] == 70.0
    assert ds.patterns.dtype == np.uint16 and ds.patterns.shape == (16, 20, 30, 40)
    mem = data.bimodal_map("subgrains", seed=3, **kw)
    for k in ("patterns", "bandcontrast", *SCENE, "orientation_true"):
        np.testing.assert_array_equal(ds[k].values, mem[k].values)
    create_roi(store, otsu=True)  # as benchmarks/bench_families.py prepares a map
    roi = xr.open_zarr(store).roi.values
    next_to = _next_to_grain_boundary(mem.grain_id.values)
    assert roi.dtype == bool and roi[~next_to].mean() > 0.8 and roi[next_to].mean() < 0.5  # the grains, not their rims
