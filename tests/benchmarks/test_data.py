"""The benchmarks' simulated maps (:mod:`benchmarks.data`): the big benchmark file, the science and patchwork maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
h5py = pytest.importorskip("h5py")

from benchmarks import data  # noqa: E402
from vaearr.data import band_contrast  # noqa: E402


# --------------------------------------------------------------------------------------------
# the big benchmark file


def test_big_scan_shape() -> None:
    assert data.big_scan_shape(5000) == (50, 100)
    assert data.big_scan_shape(1_100_000) == (1000, 1100)
    assert data.big_scan_shape(5001) == (71, 71)  # no near-square factorisation: round up
    assert data.big_scan_shape(1) == (1, 1)


def test_make_big_hdf5(tmp_path: Path) -> None:
    info = data.make_big_hdf5(tmp_path / "big.h5", 5000, pool_shape=(32, 32), chunk=700)
    assert info.n_patterns == 5000 and info.scan_shape == (50, 100)
    assert info.raw_bytes == 5000 * 3600 and 0 < info.file_bytes < info.raw_bytes
    assert info.mb_per_s > 0
    with h5py.File(info.path) as f:
        pats = f["patterns"]
        assert pats.shape == (5000, 60, 60) and pats.dtype == np.uint8
        assert pats.chunks == (700, 60, 60) and pats.compression == "gzip"
        p = pats[()]  # decodes every chunk, the partial last one included
        iy, ix = np.divmod(np.arange(5000), 100)
        np.testing.assert_array_equal(f["x"][()], ix * 1.0)
        np.testing.assert_array_equal(f["y"][()], iy * 1.0)
        assert f["grain_id"].shape == (5000,)
        assert list(f.attrs["shape"]) == [50, 100]
    assert p.reshape(5000, -1).std(axis=1).min() > 5  # no empty (zero-padded) patterns
    assert [q.name for q in tmp_path.iterdir()] == ["big.h5"]  # no staging file left
    # mirrored tiling: x = 31 and 32 show the same pool pattern, with different noise
    a, b = p[31].astype(float), p[32].astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9 and not np.array_equal(a, b)


def test_make_big_hdf5_band_contrast_table_describes_its_patterns(tmp_path: Path) -> None:
    import pandas as pd

    info = data.make_big_hdf5(tmp_path / "big.h5", 4000, scan_shape=(40, 100), pool_shape=(32, 32),
                              bandcontrast_csv=tmp_path / "bc.csv")
    t = pd.read_csv(tmp_path / "bc.csv")
    assert list(t.columns) == ["x", "y", "bandcontrast"] and len(t) == info.n_patterns
    iy, ix = np.divmod(np.arange(4000), 100)
    np.testing.assert_array_equal(t["x"], ix)
    np.testing.assert_array_equal(t["y"], iy)
    bc = t["bandcontrast"].to_numpy()
    assert 0 <= bc.min() and bc.max() <= 255 and bc.std() > 1
    assert bc[31] == bc[32]  # tiled like the patterns (mirrored at x = 32)
    with h5py.File(info.path) as f:
        own = band_contrast(f["patterns"][()])
    # the pool's BC, not each pattern's own: the noise frame added to every tiled pattern moves its
    # own BC a little (r = 0.76 here); an unrelated table would give r ≈ 0
    assert np.corrcoef(own, bc)[0, 1] > 0.6
    assert sorted(q.name for q in tmp_path.iterdir()) == ["bc.csv", "big.h5"]  # no staging file left


def test_make_big_hdf5_from_a_saved_pool_writes_the_same_file(tmp_path: Path) -> None:
    """A pool saved here (with kikuchipy) and loaded where there is none (a GPU box) tiles into the same map."""
    from benchmarks.data.bench import BigPool, big_pool

    saved = big_pool((32, 32)).save(tmp_path / "pool.npz")
    a = data.make_big_hdf5(tmp_path / "a.h5", 2000, scan_shape=(40, 50), pool_shape=(32, 32),
                           bandcontrast_csv=tmp_path / "a.csv")
    b = data.make_big_hdf5(tmp_path / "b.h5", 2000, scan_shape=(40, 50), pool=saved, bandcontrast_csv=tmp_path / "b.csv")
    with h5py.File(a.path) as fa, h5py.File(b.path) as fb:
        np.testing.assert_array_equal(fa["patterns"][()], fb["patterns"][()])
        np.testing.assert_array_equal(fa["grain_id"][()], fb["grain_id"][()])
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    with pytest.raises(ValueError, match="pattern_shape"):
        data.make_big_hdf5(tmp_path / "c.h5", 100, pattern_shape=(40, 40), pool=BigPool.load(saved))


# --------------------------------------------------------------------------------------------
# the science maps: clean, noisy, sub-grains, with boundary truth

SCI_SHAPE, SCI_PSHAPE = (24, 32), (30, 30)


@pytest.fixture(scope="session")
def science_subgrains():
    return data.science_map("subgrains", shape=SCI_SHAPE, pattern_shape=SCI_PSHAPE)


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


def test_science_map_shapes_and_truth(science_subgrains) -> None:
    ds = science_subgrains
    assert ds.patterns.dims == ("y", "x", "py", "px") and ds.patterns.dtype == np.uint8
    assert ds.patterns.shape == (*SCI_SHAPE, *SCI_PSHAPE)
    np.testing.assert_array_equal(ds.x.values, np.arange(SCI_SHAPE[1], dtype=float))
    np.testing.assert_array_equal(ds.y.values, np.arange(SCI_SHAPE[0], dtype=float))
    g, s = ds.grain_id.values, ds.subgrain_id.values
    assert g.dtype == np.int32 and s.dtype == np.int32
    assert set(np.unique(g)) == set(range(10))
    np.testing.assert_array_equal(s // 2, g)  # sub-grain 2g + side
    assert len(np.unique(s)) > 10
    gb, lagb = ds.grain_boundaries_true.values, ds.low_angle_boundaries_true.values
    assert gb.dtype == bool and lagb.dtype == bool
    np.testing.assert_array_equal(gb, _boundaries(g))
    np.testing.assert_array_equal(lagb, _boundaries(s, within=g))
    assert lagb.sum() > 0 and not (gb & lagb & (_boundaries(s) == 0)).any()
    # every low-angle pixel's right or lower neighbour is the other half of the same grain
    iy, ix = np.nonzero(lagb)
    for i, j in zip(iy, ix):
        nbrs = [(i, j + 1), (i + 1, j)]
        assert any(a < g.shape[0] and b < g.shape[1] and g[a, b] == g[i, j] and s[a, b] != s[i, j] for a, b in nbrs)


def test_science_subgrain_halves_are_half_a_degree_apart(science_subgrains) -> None:
    from benchmarks.data.subgrains import misorientation_deg

    q = np.asarray(science_subgrains.attrs["subgrain_rotations"])
    assert q.shape == (20, 4)
    np.testing.assert_allclose(misorientation_deg(q[0::2], q[1::2]), 0.5, atol=1e-9)
    grains = np.asarray(science_subgrains.attrs["grain_rotations"])
    np.testing.assert_allclose(misorientation_deg(q[0::2], grains), 0.25, atol=1e-9)
    # the per-pixel spread: |N(0, 0.1° I3)| has mean 0.1·sqrt(8/pi) ≈ 0.16°
    m = science_subgrains.misorientation_true.values
    assert 0.13 < m.mean() < 0.19


def test_science_map_is_deterministic_and_kinds_differ(science_subgrains) -> None:
    again = data.science_map("subgrains", shape=SCI_SHAPE, pattern_shape=SCI_PSHAPE)
    xr_testing = pytest.importorskip("xarray.testing")
    xr_testing.assert_identical(again, science_subgrains)
    clean = data.science_map("clean", shape=SCI_SHAPE, pattern_shape=SCI_PSHAPE)
    noisy = data.science_map("noisy", shape=SCI_SHAPE, pattern_shape=SCI_PSHAPE)
    other = data.science_map("clean", shape=SCI_SHAPE, pattern_shape=SCI_PSHAPE, seed=7)
    # one scene: same grains; no sub-grains nor low-angle boundaries in clean / noisy
    for ds in (clean, noisy):
        np.testing.assert_array_equal(ds.grain_id.values, science_subgrains.grain_id.values)
        np.testing.assert_array_equal(ds.subgrain_id.values, ds.grain_id.values)
        assert not ds.low_angle_boundaries_true.values.any()
        assert not ds.misorientation_true.values.any()
    assert not np.array_equal(clean.patterns.values, noisy.patterns.values)
    assert not np.array_equal(clean.grain_id.values, other.grain_id.values)
    # noise levels: shot noise at 25 counts is much stronger than the clean map's
    def noise(ds):
        p = ds.patterns.values.astype(np.float32)
        return float(np.std(p[:, 1:] - p[:, :-1]))
    assert noise(noisy) > 1.5 * noise(clean)
    with pytest.raises(ValueError, match="kind must be"):
        data.science_map("dirty")


def test_write_science_map_store(tmp_path: Path) -> None:
    from vaearr.store import open_store

    store = tmp_path / "sci.zarr"
    data.write_science_map(store, "clean", shape=(12, 16), pattern_shape=(20, 20))
    ds = open_store(store)
    assert ds.attrs["kind"] == "ebsd-map" and ds.attrs["scan_shape"] == [12, 16]
    assert ds.patterns.dims == ("y", "x", "py", "px") and ds.patterns.dtype == np.uint8
    assert bool(ds.roi.all()) and ds.roi.dtype == bool
    mem = data.science_map("clean", shape=(12, 16), pattern_shape=(20, 20))
    for k in ("patterns", "grain_id", "subgrain_id", "grain_boundaries_true", "low_angle_boundaries_true"):
        np.testing.assert_array_equal(ds[k].values, mem[k].values)


# --------------------------------------------------------------------------------------------
# the second family (benchmarks.data.patchwork) and the deformed maps of both


@pytest.fixture(scope="session")
def patchwork_subgrains():
    return data.patchwork_map("subgrains", seed=3, shape=(32, 40))


def test_patchwork_sub_grains_are_patches_and_the_roi_has_holes(patchwork_subgrains) -> None:
    ds = patchwork_subgrains
    assert ds.patterns.dtype == np.uint16 and ds.attrs["family"] == "patchwork" and ds.attrs["step"] == 0.5
    np.testing.assert_allclose(ds.x.values, 0.5 * np.arange(40))
    g, s, p = ds.grain_id.values, ds.subgrain_id.values, ds.patch_id.values
    # every grain holds both of its orientations; a sub-grain is several patches, some of a few pixels
    assert all(set(np.unique(s[g == k])) == {2 * k, 2 * k + 1} for k in np.unique(g))
    patches_per_subgrain = [len(np.unique(p[s == k])) for k in np.unique(s)]
    assert max(patches_per_subgrain) >= 2 and np.bincount(p.ravel()).min() <= 5
    np.testing.assert_array_equal(ds.low_angle_boundaries_true.values, _boundaries(s, within=g))
    # the two orientations of a grain are half a degree apart; pixels spread about them by about 0.2° rms
    assert 0.1 < float(np.median(ds.misorientation_true)) < 0.3
    # holes record almost no pattern: their band contrast is far below the grains'
    hole = ds.hole_true.values
    bc = ds.bandcontrast.values
    assert hole.sum() >= 10 and np.median(bc[hole]) < 0.5 * np.median(bc[~hole & ~ds.grain_boundaries_true.values])


def test_patchwork_is_deterministic_and_physics_leaves_the_scene(patchwork_subgrains) -> None:
    again = data.patchwork_map("subgrains", seed=3, shape=(32, 40))
    np.testing.assert_array_equal(again.patterns.values, patchwork_subgrains.patterns.values)
    other = data.patchwork_map("subgrains", seed=3, shape=(32, 40), counts=20.0,
                               subgrain_angle=1.0)
    for k in ("grain_id", "subgrain_id", "patch_id", "hole_true"):
        np.testing.assert_array_equal(other[k].values, patchwork_subgrains[k].values)
    assert other.patterns.values.mean() < 0.5 * patchwork_subgrains.patterns.values.mean()
    with pytest.raises(ValueError, match="kind must be one of"):
        data.patchwork_map("twins")


@pytest.mark.parametrize("family", ["science", "patchwork"])
def test_deformed_maps_bend_half_the_grains(family: str) -> None:
    make = data.science_map if family == "science" else data.patchwork_map
    ds = make("deformed", seed=2, shape=(30, 40), pattern_shape=(30, 30))
    g, rex, gos = ds.grain_id.values, ds.recrystallised_true.values, ds.gos_true.values
    n = int(g.max()) + 1
    assert n == 12 and ds.attrs["step"] == 0.5
    rex_g = np.array([rex[g == k][0] for k in range(n)])
    gos_g = np.array([gos[g == k][0] for k in range(n)])
    assert rex_g.sum() == 6
    # recrystallised grains spread by the 0.05° per-axis noise alone (GOS about 0.08°); bent ones far more
    assert np.all(gos_g[rex_g] < 0.12) and np.all(gos_g[~rex_g] > 0.15)
    kam = ds.kam_true.values
    assert np.nanmedian(kam[~rex]) > 1.5 * np.nanmedian(kam[rex])
    rate = ds.bend_rate_true.values
    assert 0.2 <= rate[~rex].min() and rate[~rex].max() <= 1.5 and (rate[rex] == 0).all()


def test_write_patchwork_map_store(tmp_path: Path) -> None:
    from vaearr.store import open_store

    store = tmp_path / "pw.zarr"
    data.write_patchwork_map(store, "subgrains", seed=1, shape=(12, 16), pattern_shape=(20, 20))
    ds = open_store(store)
    assert ds.attrs["kind"] == "ebsd-map" and ds.attrs["step"] == [0.5, 0.5] and "roi" not in ds
    assert ds.patterns.dtype == np.uint16 and ds.bandcontrast.dims == ("y", "x")
    assert ds.attrs["science_map"]["family"] == "patchwork"
