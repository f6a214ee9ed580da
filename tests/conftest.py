"""Shared fixtures: small real data, the stores made from it, and the runs trained on them, each built once per
test process (session scope) and copied before a test writes into it. Plain helpers are in ``tests/helpers.py``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MAP_MODEL,
    MAP_NX,
    MAP_NY,
    MAP_P,
    MAP_STEP,
    cli,
    make_run,
    map_patterns,
)
from vaearr.numba_cache import guard_gufunc_cache

# the test process calls kikuchipy/orix directly too: guard it as vaearr guards itself
guard_gufunc_cache()


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(config, items) -> None:
    """``e2e`` on every test in ``tests/e2e/`` (docs build, notebooks, demo, S3 server) and on every test that
    drives the browser (the ``chromium`` fixture), wherever it sits; ``make test`` runs them after the rest."""
    for item in items:
        if E2E in Path(item.path).parents or "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session's browser tests (each test opens its own pages or context);
    skipped with the reason when playwright or the chromium package is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the 'dev' extra (playwright)")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("needs the Debian chromium package (make sysdeps)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A path for a store that does not exist yet."""
    return tmp_path / "s.zarr"


@pytest.fixture(scope="session")
def kikuchipy_data_dir() -> Path:
    kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    return Path(kp.__file__).parent / "data"


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory):
    """The simulated 40×60 Ni map (kikuchipy master pattern) with its CSVs, built once per session."""
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    from vaearr.data import build_demo_map

    return build_demo_map(tmp_path_factory.mktemp("demo_data"), shape=(40, 60), seed=0)


@pytest.fixture(scope="session")
def demo_store_master(demo_files, tmp_path_factory) -> Path:
    """The demo map ingested with its tables and an Otsu ROI; copy it before writing (see demo_store)."""
    from vaearr.io.ebsd import ingest_ebsd
    from vaearr.maps.roi.roi import create_roi

    store = tmp_path_factory.mktemp("demo_store") / "ni.zarr"
    ingest_ebsd(demo_files.patterns, store, dataset="patterns", bandcontrast=demo_files.bandcontrast,
                elements=demo_files.elements, phase=demo_files.phase)
    create_roi(store, otsu=True)
    return store


@pytest.fixture
def demo_store(demo_store_master: Path, tmp_path: Path) -> Path:
    """A private copy of the ingested demo store, free to write into."""
    dst = tmp_path / "ni.zarr"
    shutil.copytree(demo_store_master, dst)
    return dst


@pytest.fixture(scope="session", autouse=True)
def master_pattern_cache(tmp_path_factory):
    """Kinematical master patterns the tests compute are cached in a folder of the session, not in ~/.cache
    (``VAEARR_CACHE``; the ``vaearr`` subprocesses inherit it)."""
    path = tmp_path_factory.mktemp("vaearr_cache")
    old = os.environ.get("VAEARR_CACHE")
    os.environ["VAEARR_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("VAEARR_CACHE", None)
    else:
        os.environ["VAEARR_CACHE"] = old


#: The two-phase test map: 24 × 32 pixels, 12 grains (6 FCC, 6 BCC), 60 × 60 patterns, 40 counts (seed 1).
TWO_PHASE = {"seed": 1, "shape": (24, 32), "n_grains": 12}


@pytest.fixture(scope="session")
def two_phase_master(tmp_path_factory) -> Path:
    """A simulated FCC + BCC map store (kinematical patterns, :func:`benchmarks.data.multiphase.write_phase_map`),
    written once per session; copy it before writing (see ``two_phase_store``)."""
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    from benchmarks.data.multiphase import write_phase_map

    store = tmp_path_factory.mktemp("two_phase") / "fcc_bcc.zarr"
    write_phase_map(store, "fcc-bcc", **TWO_PHASE)
    return store


@pytest.fixture
def two_phase_store(two_phase_master: Path, tmp_path: Path) -> Path:
    """A private copy of the two-phase map store."""
    dst = tmp_path / "fcc_bcc.zarr"
    shutil.copytree(two_phase_master, dst)
    return dst


# -- a small map (10 × 12) and the shared run ------------------------------------------------------


@pytest.fixture(scope="session")
def small_map(tmp_path_factory):
    """A simulated 10×12 Ni map: patterns (HDF5), band contrast, elements and phase CSVs."""
    pytest.importorskip("kikuchipy", reason="the small map is simulated with kikuchipy (the 'ebsd' extra)")
    from vaearr.data import build_demo_map

    return build_demo_map(tmp_path_factory.mktemp("small_map"), shape=(10, 12), seed=0)


@pytest.fixture(scope="session")
def map_master(small_map, tmp_path_factory) -> Path:
    """The small map ingested with its tables and an Otsu ROI (copy before writing)."""
    from vaearr.io.ebsd import ingest_ebsd
    from vaearr.maps.roi.roi import create_roi

    store = tmp_path_factory.mktemp("map_store") / "ni.zarr"
    ingest_ebsd(small_map.patterns, store, dataset="patterns", bandcontrast=small_map.bandcontrast,
                elements=small_map.elements, phase=small_map.phase)
    create_roi(store, otsu=True)
    return store


@pytest.fixture(scope="session")
def trained_run(demo_store_master: Path, tmp_path_factory) -> Path:
    """The shared run: one epoch of a small conv-VAE (3 latent dims, 24 × 24 inputs) on the demo map, trained once
    per test process for the tests that only need a run to encode with or read from. Do not write into it: copy it
    (``shutil.copytree``) first. A test of training itself trains its own."""
    from vaearr.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("trained")
    store = root / "ni.zarr"  # its own copy: training writes the variable its preprocessing derives (patterns_sim3)
    shutil.copytree(demo_store_master, store)
    run = root / "run"
    fit(TrainConfig(store=str(store), run=str(run), epochs=1, batch_size=128, latent_dim=3, resize=24,
                    model_options={"channels": [8, 16]}), progress=False)
    return run


# -- the map explorer's map: 12 × 16 patterns of 16 × 16, a briefly trained run and its latents ------------


@pytest.fixture(scope="session")
def map_run(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    """A 12 × 16 map of 16 × 16 uint8 patterns (4-row chunks) with roi, bandcontrast, orientation_ipf,
    a 3-dim conv-VAE run on it and its encoded latents; copy before writing."""
    from vaearr.encoding import encode
    from vaearr.store import write_variables

    root = tmp_path_factory.mktemp("explore_map")
    store = root / "map.zarr"
    pats = map_patterns()
    coords = {"y": np.arange(MAP_NY) * MAP_STEP, "x": np.arange(MAP_NX) * MAP_STEP}
    roi = np.ones((MAP_NY, MAP_NX), bool)
    roi[:2, :3] = False
    mean = pats.reshape(MAP_NY, MAP_NX, -1).mean(-1)
    rgb = np.stack([mean / mean.max(), np.linspace(0, 1, MAP_NX)[None].repeat(MAP_NY, 0), np.full((MAP_NY, MAP_NX), 0.3)], -1)
    write_variables(store, {
        "patterns": xr.DataArray(pats, dims=("y", "x", "py", "px"), coords=coords),
        "roi": xr.DataArray(roi, dims=("y", "x"), coords=coords),
        "bandcontrast": xr.DataArray(mean.astype(np.float32), dims=("y", "x"), coords=coords),
        "orientation_ipf": xr.DataArray(rgb.astype(np.float32), dims=("y", "x", "rgb"), coords=coords),
    }, chunks={"patterns": (4, MAP_NX, MAP_P, MAP_P)})
    # the model's inputs roughly as the run's pipeline makes them (2 × 2 means, standardised) to train on
    small = pats.reshape(MAP_NY * MAP_NX, 8, 2, 8, 2).mean((2, 4))
    small = (small - small.mean((1, 2), keepdims=True)) / small.std((1, 2), keepdims=True)
    make_run(root / "run", store, model=MAP_MODEL, sample_dims=("y", "x"), feature_dims=("py", "px"), var="patterns",
             mask="roi", train_on=small[:, None], steps=30, resize=8, standardize=True, subtract_background=True)
    encode(store, root / "run", progress=False)
    return store, root / "run", pats


@pytest.fixture(scope="session")
def whole(map_run, tmp_path_factory) -> tuple[Path, Path]:
    """The map with its run and latents, plus orientations and phase ids ingested from an ``.ang``; copy before
    writing."""
    pytest.importorskip("orix", reason="needs the 'ebsd' extra")
    from orix import io as orix_io
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.quaternion import Rotation

    store, run, _ = map_run
    root = tmp_path_factory.mktemp("damage")
    rot = Rotation(np.random.default_rng(4).normal(size=(MAP_NY * MAP_NX, 4)))
    y, x = (np.indices((MAP_NY, MAP_NX)).astype(float) * MAP_STEP).reshape(2, -1)
    xmap = CrystalMap(rot.unit, phase_id=np.ones(MAP_NY * MAP_NX, int), x=x, y=y, scan_unit="um",
                      phase_list=PhaseList([Phase("ni", point_group="m-3m")], ids=[1]))
    orix_io.save(root / "map.ang", xmap)
    copy = root / "map.zarr"
    shutil.copytree(store, copy)
    cli("ingest", "orientations", root / "map.ang", copy, "--no-maps", check=True)
    return copy, run


@pytest.fixture
def planted(demo_store: Path) -> Path:
    """The demo store with a 4-dim latent whose dim 2 follows the Cr map."""
    from vaearr.store import open_store, write_variable

    ds = open_store(demo_store)
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(40, 60, 4)).astype(np.float32)
    cr = ds.elements.sel(element="Cr").values
    lat[..., 2] = (cr - cr.mean()) / cr.std() + 0.5 * rng.normal(size=cr.shape)
    write_variable(demo_store, "latent", xr.DataArray(lat, dims=("y", "x", "latent_dim"),
                                                      coords={"y": ds.y, "x": ds.x, "latent_dim": np.arange(4)}), mask="roi")
    return demo_store


@pytest.fixture
def one_thread():
    """One thread in torch's pool while a test runs tiny convolutions: on a shared 2-core machine two threads spin
    against other jobs (a 0.003 s forward of the tiny autoencoder-kl took 0.5 s), as tests/helpers.py's make_run
    does; the count is put back after."""
    import torch  # here: the other fixtures run without it

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
