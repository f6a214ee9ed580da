"""The simulated demo EBSD map (:mod:`vaearr.data.simulated`; its scene: tests/data/test_scene.py; the benchmarks'
maps: tests/benchmarks/test_data.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
h5py = pytest.importorskip("h5py")

from vaearr import data  # noqa: E402

SHAPE = (40, 60)
N_GRAINS = 12


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> data.DemoPaths:
    """The default demo map (shape (40, 60), 12 grains, seed 0), built once for the session."""
    return data.build_demo_map(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def demo_arrays(demo: data.DemoPaths) -> dict:
    with h5py.File(demo.patterns) as f:
        out = {k: f[k][()] for k in ("patterns", "x", "y", "grain_id", "static_background", "rotations")}
        out["attrs"] = dict(f.attrs)
        out["chunks"] = f["patterns"].chunks
        out["compression"] = f["patterns"].compression
    out["grains"] = np.load(demo.grains)
    out["bad"] = np.load(demo.bad)
    return out


def _on_grid(df: pd.DataFrame, values: str, step: float = 1.0) -> np.ndarray:
    """Put a shuffled CSV column back on the (y, x) grid by its coordinates."""
    iy = np.rint(df["y"].to_numpy() / step).astype(int)
    ix = np.rint(df["x"].to_numpy() / step).astype(int)
    vals = df[values].to_numpy()
    out = np.empty(SHAPE, dtype=vals.dtype)
    out[iy, ix] = vals
    return out


# --------------------------------------------------------------------------------------------
# the simulated map


def test_demo_hdf5_layout(demo_arrays: dict) -> None:
    a = demo_arrays
    n = SHAPE[0] * SHAPE[1]
    assert a["patterns"].shape == (n, 60, 60) and a["patterns"].dtype == np.uint8
    assert a["compression"] == "gzip" and a["chunks"][1:] == (60, 60)
    # row-major scan order: index = iy * X + ix, coords in µm
    iy, ix = np.divmod(np.arange(n), SHAPE[1])
    np.testing.assert_array_equal(a["x"], ix * 1.0)
    np.testing.assert_array_equal(a["y"], iy * 1.0)
    np.testing.assert_array_equal(a["grain_id"], a["grains"].ravel())
    assert a["rotations"].shape == (N_GRAINS, 4)
    np.testing.assert_allclose(np.linalg.norm(a["rotations"], axis=1), 1)
    assert a["attrs"]["step"] == 1.0 and list(a["attrs"]["shape"]) == list(SHAPE) and a["attrs"]["seed"] == 0
    assert "SIMULATED" in a["attrs"]["note"]
    # realistic grey levels: like kikuchipy's real Ni scan (mean ~146, std ~42), no blank patterns
    good = a["patterns"][~a["bad"].ravel()]
    assert 110 < good.mean() < 170 and 30 < good.std() < 55
    assert a["patterns"].reshape(n, -1).std(axis=1).min() > 5


def test_grains_cover_all_ids(demo_arrays: dict) -> None:
    g = demo_arrays["grains"]
    assert g.shape == SHAPE and g.dtype == np.int32
    ids, counts = np.unique(g, return_counts=True)
    np.testing.assert_array_equal(ids, np.arange(N_GRAINS))
    assert counts.min() >= 20  # seeds are spread: no sliver grains


def test_bad_region_is_separated_by_otsu_on_band_contrast(demo: data.DemoPaths, demo_arrays: dict) -> None:
    from skimage.filters import threshold_otsu

    bad = demo_arrays["bad"]
    assert bad.shape == SHAPE and bad.dtype == bool
    assert 0.05 <= bad.mean() <= 0.10
    bc = _on_grid(pd.read_csv(demo.bandcontrast), "bandcontrast")
    low = bc < threshold_otsu(bc)
    assert low[bad].mean() >= 0.8
    assert low[~bad].mean() <= 0.05
    assert np.median(bc[bad]) < 0.3 * np.median(bc[~bad])


def test_csvs_are_shuffled_but_on_the_grid(demo: data.DemoPaths, demo_arrays: dict) -> None:
    n = SHAPE[0] * SHAPE[1]
    grid = {(float(x), float(y)) for x, y in zip(demo_arrays["x"], demo_arrays["y"])}
    tables = {
        demo.bandcontrast: ["x", "y", "bandcontrast"],
        demo.elements: ["x", "y", "Ni", "Cr", "Fe"],
        demo.phase: ["x", "y", "phase"],
    }
    for path, cols in tables.items():
        df = pd.read_csv(path)
        assert list(df.columns) == cols, path.name
        assert len(df) == n
        assert set(zip(df["x"], df["y"])) == grid, path.name  # every pixel once, exact coords
        scan_order = np.rint(df["y"] * SHAPE[1] + df["x"]).to_numpy()
        assert not np.array_equal(scan_order, np.arange(n)), f"{path.name} is in scan order"
        assert (np.diff(scan_order) < 0).sum() > n // 4, f"{path.name} is barely shuffled"

    bc = pd.read_csv(demo.bandcontrast)
    assert bc["bandcontrast"].dtype.kind == "i" and bc["bandcontrast"].between(0, 255).all()
    # BC is derived from the written patterns, aligned by coordinate
    expected = np.rint(data.band_contrast(demo_arrays["patterns"], demo_arrays["static_background"]))
    np.testing.assert_array_equal(_on_grid(bc, "bandcontrast").ravel(), expected)

    # elements are derived from grains: an Inconel-like wt%, per-grain means differ
    el = pd.read_csv(demo.elements)
    total = _on_grid(el.assign(total=el[["Ni", "Cr", "Fe"]].sum(axis=1)), "total")
    good = ~demo_arrays["bad"]
    assert np.abs(total[good] - 100).max() < 6 and np.abs(total - 100).max() < 25  # noisier in the pore
    cr = _on_grid(el, "Cr")
    grain_means = [cr[(demo_arrays["grains"] == g) & good].mean() for g in range(N_GRAINS)]
    assert np.ptp(grain_means) > 2

    phase = _on_grid(pd.read_csv(demo.phase), "phase")
    assert set(np.unique(phase)) == {"Ni", "notindexed"}
    np.testing.assert_array_equal(phase == "notindexed", demo_arrays["bad"])


def test_same_grain_patterns_correlate_more(demo_arrays: dict) -> None:
    from scipy import ndimage as ndi

    g = demo_arrays["grains"]
    # grain interiors: at least 2 px from any boundary, out of the pore
    edge = (ndi.minimum_filter(g, 5) != g) | (ndi.maximum_filter(g, 5) != g)
    interior = np.flatnonzero(~edge.ravel() & ~demo_arrays["bad"].ravel())
    rng = np.random.default_rng(0)
    pick = rng.choice(interior, 400, replace=False)
    p = demo_arrays["patterns"][pick].astype(np.float64) / demo_arrays["static_background"]
    p = p.reshape(len(pick), -1)
    p -= p.mean(axis=1, keepdims=True)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    ncc = p @ p.T
    gid = g.ravel()[pick]
    same = (gid[:, None] == gid[None, :]) & ~np.eye(len(pick), dtype=bool)
    diff = gid[:, None] != gid[None, :]
    assert ncc[same].mean() > ncc[diff].mean() + 0.2
    # and each pattern's best match (besides itself) is in its own grain
    np.fill_diagonal(ncc, -np.inf)
    assert (gid[ncc.argmax(axis=1)] == gid).mean() > 0.95


def test_seed_determinism_and_demo_cache(tmp_path: Path, demo: data.DemoPaths, monkeypatch) -> None:
    cached = data.demo_paths(tmp_path / "cache")  # builds the default map again
    assert json.loads(cached.manifest.read_text())["seed"] == 0
    with h5py.File(cached.patterns) as f1, h5py.File(demo.patterns) as f2:
        assert f1["patterns"][()].tobytes() == f2["patterns"][()].tobytes()
    for name in ("bandcontrast", "elements", "phase", "grains", "bad"):
        assert getattr(cached, name).read_bytes() == getattr(demo, name).read_bytes(), name

    # reused, not rebuilt: from the given root, and from $VAEARR_DATA
    def no_build(*a, **k):
        raise AssertionError("rebuilt a current demo map")

    monkeypatch.setattr(data, "build_demo_map", no_build)
    assert data.demo_paths(tmp_path / "cache") == cached
    shutil.copytree(cached.out_dir, tmp_path / "env")
    monkeypatch.setenv("VAEARR_DATA", str(tmp_path / "env"))
    assert data.demo_paths().out_dir == tmp_path / "env"
    assert not list(tmp_path.glob(".*tmp-*"))  # no staging folders left behind


def test_other_seed_and_shape(tmp_path: Path) -> None:
    a = data.build_demo_map(tmp_path / "a", shape=(12, 15), n_grains=5, seed=1, step=0.5, pattern_shape=(40, 48))
    b = data.build_demo_map(tmp_path / "b", shape=(12, 15), n_grains=5, seed=2, step=0.5, pattern_shape=(40, 48))
    with h5py.File(a.patterns) as fa, h5py.File(b.patterns) as fb:
        assert fa["patterns"].shape == (180, 40, 48)
        assert not np.array_equal(fa["patterns"][()], fb["patterns"][()])
        assert fa["x"][()].max() == 7.0 and fa["y"][()].max() == 5.5
    np.testing.assert_array_equal(np.unique(np.load(a.grains)), np.arange(5))
    df = pd.read_csv(a.bandcontrast)
    assert set(zip(df["x"], df["y"])) == {(ix * 0.5, iy * 0.5) for iy in range(12) for ix in range(15)}
    with pytest.raises(ValueError, match="n_grains"):
        data.build_demo_map(tmp_path / "c", shape=(3, 3), n_grains=10)


# --------------------------------------------------------------------------------------------
# the module's small parts


def test_the_paths_of_a_build_are_named_in_its_folder(tmp_path: Path) -> None:
    paths = data.DemoPaths.in_dir(tmp_path / "d")
    assert {k: p.name for k, p in vars(paths).items() if k != "out_dir"} == {
        "patterns": "patterns.h5", "bandcontrast": "bandcontrast.csv", "elements": "elements.csv",
        "phase": "phase.csv", "grains": "grains.npy", "bad": "bad.npy", "manifest": "manifest.json"}
    assert all(p.parent == tmp_path / "d" for p in vars(paths).values() if p != paths.out_dir)


@pytest.mark.parametrize(("n", "size", "slices"), [
    (10, 4, [(0, 4), (4, 8), (8, 10)]), (8, 4, [(0, 4), (4, 8)]), (3, 1024, [(0, 3)]), (0, 4, []),
])
def test_progress_blocks_cover_every_index_once(n, size, slices) -> None:
    from vaearr.data.simulated import progress_blocks

    assert [(s.start, s.stop) for s in progress_blocks(n, size, False, "x")] == slices
    assert [(s.start, s.stop) for s in progress_blocks(n, size, True, "x")] == slices


def test_a_demo_folder_is_current_only_with_the_default_manifest_and_every_file(tmp_path: Path, demo) -> None:
    from vaearr.data import simulated

    copy = simulated.DemoPaths.in_dir(tmp_path / "copy")
    shutil.copytree(demo.out_dir, copy.out_dir)
    assert simulated._is_current(copy)  # noqa: SLF001 - the reuse rule of demo_paths
    made = json.loads(copy.manifest.read_text())
    copy.manifest.write_text(json.dumps({**made, "version": simulated.DEMO_VERSION + 1}))
    assert not simulated._is_current(copy)  # noqa: SLF001 - an older build is rebuilt
    copy.manifest.write_text(json.dumps(made))
    copy.bad.unlink()
    assert not simulated._is_current(copy)  # noqa: SLF001 - a file missing is rebuilt
    shutil.copy(demo.bad, copy.bad)
    assert simulated._is_current(copy)  # noqa: SLF001 - whole again
    copy.manifest.write_text("{not json")
    assert not simulated._is_current(simulated.DemoPaths.in_dir(tmp_path / "none"))  # noqa: SLF001 - no folder
    assert not simulated._is_current(copy)  # noqa: SLF001 - an unreadable manifest


def test_the_cache_root_is_the_argument_then_vaearr_data_then_home(tmp_path: Path, monkeypatch) -> None:
    from vaearr.data import simulated

    monkeypatch.setenv("VAEARR_DATA", str(tmp_path / "env"))
    assert simulated._cache_root(tmp_path / "arg") == tmp_path / "arg"  # noqa: SLF001 - demo_paths' folder rule
    assert simulated._cache_root(None) == tmp_path / "env"  # noqa: SLF001 - demo_paths' folder rule
    monkeypatch.delenv("VAEARR_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert simulated._cache_root(None) == tmp_path / "home/.cache/vaearr/demo"  # noqa: SLF001 - the default
