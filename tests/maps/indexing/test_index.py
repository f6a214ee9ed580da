"""``vaearr index``: Hough (PyEBSDIndex) and dictionary + refinement (kikuchipy) indexing of patterns
simulated here with kikuchipy's Ni master pattern from orientations the test knows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr.errors import InputError, StoreError
from vaearr.store import open_store, write_variables

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

NY, NX, PS = 6, 8, (60, 60)
COUNTS = 300.0  # Poisson counts per detector pixel on average


def _truth():
    from vaearr.data.simulated import random_quaternions

    # twelve 2 × 2 grains: the mean pattern (the static background) mixes twelve orientations
    q = random_quaternions(12, np.random.default_rng(7))
    grain = (np.arange(NY)[:, None] // 2) * 4 + np.arange(NX)[None, :] // 2
    return q, grain


@pytest.fixture(scope="module")
def ni_store(tmp_path_factory) -> Path:
    """6 × 8 map of 60 × 60 Ni patterns (kikuchipy's master pattern, the demo detector, the real
    scan's static background, Poisson noise) with ``roi`` leaving out pixel (0, 0)."""
    from vaearr.data.simulated import simulate_kikuchi, static_background

    q, grain = _truth()
    rng = np.random.default_rng(8)
    k = simulate_kikuchi(q, PS, False)
    bg = static_background(PS)
    img = bg * (1 + 0.055 * k[grain])
    pats = np.clip(np.rint(rng.poisson(COUNTS * img / bg.mean()) * 100 / COUNTS), 0, 255).astype(np.uint8)
    coords = {"y": np.arange(NY) * 1.0, "x": np.arange(NX) * 1.0}
    roi = np.ones((NY, NX), bool)
    roi[0, 0] = False
    path = tmp_path_factory.mktemp("index") / "ni.zarr"
    write_variables(path, {"patterns": xr.DataArray(pats, dims=("y", "x", "py", "px"), coords=coords),
                           "roi": xr.DataArray(roi, dims=("y", "x"), coords=coords)},
                    chunks={"patterns": (2, NX, *PS)})  # three row chunks: indexed block by block
    return path


def _errors(store: Path, name: str) -> np.ndarray:
    """Misorientation (degrees, m-3m symmetry) of the indexed pixels from the truth."""
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    q, grain = _truth()
    o = open_store(store)[name].transpose("y", "x", "quaternion").values.reshape(-1, 4)
    ok = np.isfinite(o).all(1)
    assert ok.sum() == NY * NX - 1  # every pixel of the mask indexed
    a = Orientation(q[grain.ravel()][ok], symmetry=Oh)
    b = Orientation(o[ok].astype(np.float64), symmetry=Oh)
    return np.degrees(a.angle_with(b))


def _check_common(store: Path, name: str, method: str) -> xr.Dataset:
    ds = open_store(store)
    roi = ds.roi.values
    o = ds[name]
    assert o.dims == ("y", "x", "quaternion") and o.dtype == np.float32
    assert list(ds.quaternion.values) == ["a", "b", "c", "d"]
    v = o.values
    assert np.isnan(v[~roi]).all() and np.allclose(np.linalg.norm(v[roi], axis=-1), 1, atol=1e-5)
    pid_name = "phase_id" if name == "orientation" else f"{name}_phase_id"
    pid = ds[pid_name].values
    assert pid[0, 0] == -1 and (pid[roi] == 0).all()
    phases = o.attrs["phases"]
    assert phases[0]["name"] == "ni" and phases[0]["point_group"] == "m-3m" and phases[0]["space_group"] == 225
    assert phases[0]["lattice"][:3] == pytest.approx([0.352] * 3, abs=0.001)  # nm
    assert o.attrs["method"] == method and o.attrs["in_mask"] == "roi"
    assert json.loads(o.attrs["source"]) == ["patterns", "roi"]
    score = ds[f"{name}_score"].values
    assert np.isnan(score[~roi]).all() and np.isfinite(score[roi]).all()
    return ds


def test_hough_indexes_known_orientations_within_half_a_degree(ni_store: Path) -> None:
    """One PyEBSDIndex call (its numba JIT takes ~70 s the first time), the PC given in the TSL convention."""
    from vaearr.data.simulated import DEMO_PC, DEMO_SAMPLE_TILT
    from vaearr.maps.indexing.indexing import index_store

    x, y, z = DEMO_PC
    tsl = (x, 1 - y, z)  # kikuchipy's TSL convention on a square detector: y* flipped
    res = index_store(ni_store, phase="ni", pc=tsl, pc_convention="tsl", sample_tilt=DEMO_SAMPLE_TILT,
                      method="hough", name="hough", block_patterns=16)
    assert res.n_patterns == NY * NX - 1 and "hough" in res.summary()
    ds = _check_common(ni_store, "hough", "hough")
    assert ds.hough.attrs["detector"]["pc_bruker"] == pytest.approx(list(DEMO_PC), abs=1e-6)
    assert ds.hough.attrs["detector"]["pc_convention"] == "tsl"
    assert json.loads(ds.hough.attrs["config"])["block_patterns"] == 16
    bands = ds.hough_bands.values
    roi = ds.roi.values
    assert np.isnan(bands[~roi]).all() and (bands[roi] >= 3).all()
    fit = ds.hough_score.values[roi]
    assert (fit >= 0).all() and np.median(fit) < 1.5  # pattern fit, degrees
    assert ds.hough_score.attrs["orix_property"] == "fit"  # exported as the .ang fit and the .ctf MAD, not the CI
    ci = ds.hough_ci.values  # PyEBSDIndex's confidence metric: 0–1 where indexed
    on = ds.hough_phase_id.values >= 0
    assert ((ci[on] >= 0) & (ci[on] <= 1)).all() and np.isnan(ci[~on]).all()
    err = _errors(ni_store, "hough")
    assert np.median(err) < 0.5, err


def test_dictionary_and_refinement_within_0_15_degrees_from_the_cli(ni_store: Path) -> None:
    from vaearr.data.simulated import DEMO_PC, DEMO_SAMPLE_TILT

    proc = cli("index", ni_store, "--phase", "ni", "--pc", ",".join(map(str, DEMO_PC)),
                   "--tilt", DEMO_SAMPLE_TILT, "--method", "dictionary", "--resolution", "4", "--refine",
                   check=True)
    assert "dictionary: 11935 orientations at 4°" in proc.stdout and "mask: 'roi'" in proc.stdout
    ds = _check_common(ni_store, "orientation", "dictionary")
    a = ds.orientation.attrs
    assert a["refine"] is True and a["dictionary"]["size"] == 11935 and a["refinement"]["metric"] == "ncc"
    assert "orientation_bands" not in ds and ds.orientation_score.attrs["orix_property"] == "scores"
    ncc = ds.orientation_score.values[ds.roi.values]
    assert (ncc > 0.2).all() and (ncc <= 1).all()
    err = _errors(ni_store, "orientation")
    assert np.median(err) < 0.15, err
    # the maps derived from the orientations, written in the same transaction
    roi = ds.roi.values
    grains = ds.orientation_grains.values
    assert (grains[~roi] == -1).all() and (grains[roi] >= 0).all()
    assert 2 <= len(np.unique(grains[roi])) <= 12
    assert np.isfinite(ds.orientation_kam.values[roi]).all() and np.isnan(ds.orientation_kam.values[~roi]).all()
    ipf = ds.orientation_ipf.values[roi]
    assert ((ipf >= 0) & (ipf <= 1)).all()
    assert "grains at 5°" in proc.stdout


def test_detector_conventions_match_kikuchipy() -> None:
    from vaearr.maps.indexing.indexing import make_detector

    det = make_detector(PS, (0.4, 0.7, 0.5), "tsl", 70, 0)
    assert np.ravel(det.pc_bruker())[:3] == pytest.approx([0.4, 0.3, 0.5])
    det = make_detector(PS, (0.4, 0.3, 0.5), "bruker", 70, 5)
    assert det.tilt == 5 and det.sample_tilt == 70


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"phase": "unobtainium"}, InputError, "unknown phase 'unobtainium'"),
    ({"phase": None}, InputError, "`phase='NAME'` or `master_pattern='FILE'`"),
    ({"pc": "0.4,1.2,0.5"}, InputError, "Y=1.2"),
    ({"pc": "0.4,0.2"}, InputError, "three finite numbers"),
    ({"pc": "0.4,0.2,-0.1"}, InputError, "Z=-0.1"),
    ({"pc_convention": "emsoft", "pc": "1,2,15000"}, InputError, "^pc_convention emsoft .* px_size"),
    ({"pc_convention": "nordif"}, InputError, "^pc_convention 'nordif' is unknown"),
    ({"sample_tilt": 95}, InputError, "^sample_tilt "),  # the field (the command line: --tilt)
    ({"sample_tilt": float("nan")}, InputError, "^sample_tilt "),
    ({"detector_tilt": -120}, InputError, "^detector_tilt "),
    ({"method": "radon"}, InputError, "^method 'radon' is unknown"),
    ({"method": "dictionary", "resolution": 0.1}, InputError, "`resolution` must be"),
    ({"mask": "nope"}, StoreError, "no mask variable 'nope'"),
    ({"name": "../x"}, InputError, "^name .* is not a safe name"),  # the field (the command line: --name)
])
def test_bad_input_is_one_error_and_leaves_the_store(ni_store: Path, kwargs, error, words) -> None:
    from vaearr.maps.indexing.indexing import index_store

    args = {"phase": "ni", "pc": "0.4,0.2,0.5", "sample_tilt": 70.0, "method": "hough", "name": "bad", **kwargs}
    before = tree_hash(ni_store)
    with pytest.raises(error, match=words.replace("(", r"\(").replace("[", r"\[")):
        index_store(ni_store, **args)
    assert tree_hash(ni_store) == before


def test_bad_files_and_stores_are_one_line(ni_store: Path, tmp_path: Path) -> None:
    from vaearr.maps.indexing.indexing import index_store

    # a store without patterns
    other = tmp_path / "maps.zarr"
    write_variables(other, {"bandcontrast": xr.DataArray(np.ones((2, 3), np.float32), dims=("y", "x"))})
    before = tree_hash(other)
    proc = cli("index", other, "--phase", "ni", "--pc", "0.4,0.2,0.5", "--tilt", "70")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "no pattern variable 'patterns' in the store; run 'vaearr ingest ebsd FILE STORE' first" in proc.stderr and tree_hash(other) == before
    # a master pattern that is not one; both --phase and --master-pattern
    junk = tmp_path / "mp.h5"
    junk.write_bytes(b"not hdf5 at all")
    before = tree_hash(ni_store)
    with pytest.raises(InputError, match="EBSD master pattern"):
        index_store(ni_store, master_pattern=junk, pc="0.4,0.2,0.5", sample_tilt=70, name="bad")
    with pytest.raises(InputError, match="no such master-pattern file"):
        index_store(ni_store, master_pattern=tmp_path / "absent.h5", pc="0.4,0.2,0.5", sample_tilt=70, name="bad")
    with pytest.raises(InputError, match="give one of"):
        index_store(ni_store, phase="ni", master_pattern=junk, pc="0.4,0.2,0.5", sample_tilt=70, name="bad")
    # an existing variable without --overwrite (roi stands in for it)
    with pytest.raises(StoreError, match="exist"):
        index_store(ni_store, phase="ni", pc="0.4,0.2,0.5", sample_tilt=70, name="roi")
    assert tree_hash(ni_store) == before
    proc = cli("index", ni_store, "--phase", "zz", "--pc", "0.4,0.2,0.5", "--tilt", "70", "--name", "other")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "unknown phase 'zz'" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and tree_hash(ni_store) == before


def test_master_pattern_file_is_the_phase_kikuchipy_ships() -> None:
    """--master-pattern FILE on a real EMsoft master-pattern file (the Ni one kikuchipy ships as EMsoft wrote it)
    gives the master pattern --phase ni gives: the same arrays (both hemispheres) and point group."""
    import kikuchipy as kp

    from vaearr.maps.indexing.indexing import load_master_pattern

    emsoft = Path(kp.__file__).parent / "data" / "emsoft_ebsd_master_pattern" / "ni_mc_mp_20kv_uint8_gzip_opts9.h5"
    from_file, source = load_master_pattern(None, emsoft)
    shipped, _ = load_master_pattern("ni", None)
    assert source == str(emsoft.resolve())
    np.testing.assert_array_equal(np.asarray(from_file.data), np.asarray(shipped.data))
    assert from_file.phase.point_group.name == shipped.phase.point_group.name == "m-3m"
    assert from_file.data.shape == shipped.data.shape == (2, 401, 401)  # both hemispheres, one (20 kV) energy
