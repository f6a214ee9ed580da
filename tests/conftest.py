"""Shared fixtures: small real data paths and a hash of a store tree."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vaearr.numba_cache import guard_gufunc_cache

# the test process calls kikuchipy/orix directly too: guard it as vaearr guards itself
guard_gufunc_cache()

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium, driven by playwright (its own download needs the network)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session's browser tests (each test opens its own pages or context);
    skipped with the reason when playwright or the chromium package is missing."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the 'dev' extra (playwright)")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("needs the Debian chromium package (make sysdeps)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def served_page(chromium, url: str, viewport: dict):
    """A page of ``chromium`` in a context of its own that may load only ``url`` (and blob:/data:): any other
    request (a CDN) is aborted and listed in ``blocked``; page and console errors go to ``errors``. Returns
    ``(context, page, blocked, errors)``; close the context when done."""
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith((url, "blob:", "data:")):
            r.continue_()
        else:  # a served app brings its own BokehJS and Panel bundles
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return context, page, blocked, errors


def tree_hash(path: str | os.PathLike) -> str:
    """SHA-256 over every file's relative path and bytes under ``path`` (empty string if absent)."""
    root = Path(path)
    if not root.exists():
        return ""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_cli(*args: str, check: bool = False, env: dict | None = None, cwd: str | os.PathLike | None = None):
    """Run the real ``vaearr`` command in a subprocess; returns the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "vaearr", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "VAEARR_PROGRESS": "off", **(env or {})},
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vaearr {' '.join(map(str, args))} failed (exit {proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


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
    from vaearr.maps.roi import create_roi

    store = tmp_path_factory.mktemp("demo_store") / "ni.zarr"
    ingest_ebsd(demo_files.patterns, store, dataset="patterns", bandcontrast=demo_files.bandcontrast,
                elements=demo_files.elements, phase=demo_files.phase)
    create_roi(store, otsu=True)
    return store


@pytest.fixture
def demo_store(demo_store_master: Path, tmp_path: Path) -> Path:
    """A private copy of the ingested demo store, free to write into."""
    import shutil

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
    """A simulated FCC + BCC map store (kinematical patterns, :func:`vaearr.data.multiphase.write_phase_map`),
    written once per session; copy it before writing (see ``two_phase_store``)."""
    pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    from vaearr.data.multiphase import write_phase_map

    store = tmp_path_factory.mktemp("two_phase") / "fcc_bcc.zarr"
    write_phase_map(store, "fcc-bcc", **TWO_PHASE)
    return store


@pytest.fixture
def two_phase_store(two_phase_master: Path, tmp_path: Path) -> Path:
    """A private copy of the two-phase map store."""
    import shutil

    dst = tmp_path / "fcc_bcc.zarr"
    shutil.copytree(two_phase_master, dst)
    return dst
