"""``vaearr export``'s quality columns in their formats' ranges and the projection centre in the ``.ang`` header
(issue 41): kikuchipy's real Ni scan Hough-indexed, written out, read back with orix and kikuchipy."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli
from vaearr.store import open_store, write_variables

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
import kikuchipy as kp  # noqa: E402
from orix import io as orix_io  # noqa: E402


@pytest.fixture(scope="module")
def indexed(kikuchipy_data_dir: Path, tmp_path_factory) -> Path:
    """The real 3 × 3 Ni scan, Hough-indexed with the file's own projection centre, and a band contrast in 0–1
    (as a CSV of a lab's may hold it: the mean pattern intensity over 255)."""
    store = tmp_path_factory.mktemp("ni_indexed") / "ni.zarr"
    cli("ingest", "ebsd", kikuchipy_data_dir / "kikuchipy_h5ebsd" / "patterns.h5", store, check=True)
    ds = open_store(store)
    pc = ",".join(f"{v:.4f}" for v in ds.patterns.attrs["detector_pc"])
    cli("index", store, "--pc", pc, "--tilt", f"{ds.patterns.attrs['detector_sample_tilt']:g}", "--phase", "ni",
            check=True)
    bc = ds.patterns.astype(float).mean(("py", "px")) / 255
    write_variables(store, {"bandcontrast": bc.astype(np.float32).drop_encoding()}, source=["test"])
    return store


def _header_pc(path: Path) -> np.ndarray:
    text = path.read_text()
    return np.array([float(re.search(rf"^# {k}\s+(\S+)$", text, re.M).group(1)) for k in ("x-star", "y-star", "z-star")])


def exported(indexed: Path, out: Path) -> tuple[Path, Any, Any, Any, np.ndarray]:
    """``vaearr export`` of the indexed store to ``out``, read back with orix: the file, the process, the store, the
    crystal map and which of its points are indexed."""
    proc = cli("export", indexed, "--out", out, check=True)
    xmap = orix_io.load(out)
    return out, proc, open_store(indexed), xmap, np.asarray(xmap.phase_id).ravel() >= 0


def test_ang_has_a_ci_in_0_1_the_fit_in_degrees_and_the_projection_centre(indexed: Path, tmp_path: Path) -> None:
    out, proc, ds, xmap, on = exported(indexed, tmp_path / "ni.ang")
    assert on.sum() >= 6, proc.stdout
    ci, fit = np.asarray(xmap.prop["ci"]), np.asarray(xmap.prop["fit"])
    # CI: PyEBSDIndex's confidence metric, 0–1 where indexed, −1 where not (it wrote the Hough fit, 1.11, 1.15)
    assert ((ci[on] >= 0) & (ci[on] <= 1)).all() and (ci[~on] == -1).all(), ci
    np.testing.assert_allclose(ci[on], ds.orientation_ci.values.ravel()[on], atol=1e-5)
    # fit: the Hough pattern fit, a mean angular deviation in degrees
    np.testing.assert_allclose(fit[on], ds.orientation_score.values.ravel()[on], atol=1e-5)
    assert "CI: the store's CI ('ci')" in proc.stdout and "fit: 'fit' (degrees)" in proc.stdout, proc.stdout
    # the projection centre in the EDAX convention, as kikuchipy converts it, and back to the store's (Bruker)
    det = kp.detectors.EBSDDetector(shape=(60, 60), pc=ds.patterns.attrs["detector_pc"], convention="bruker")
    written = _header_pc(out)
    np.testing.assert_allclose(written, np.ravel(det.pc_tsl()), atol=1e-4)
    assert not np.allclose(written, 0)
    back = kp.detectors.EBSDDetector(shape=(60, 60), pc=written, convention="tsl")
    np.testing.assert_allclose(np.ravel(back.pc_bruker()), ds.patterns.attrs["detector_pc"], atol=1e-4)
    assert "projection centre x-star" in proc.stdout and "kikuchipy's pc_tsl" in proc.stdout


def test_ang_of_dictionary_scores_clips_the_ncc_and_takes_the_patterns_detector_pc(indexed: Path,
                                                                                       tmp_path: Path) -> None:
    store = tmp_path / "ncc.zarr"
    shutil.copytree(indexed, store)
    ds = open_store(store)
    ncc = xr.where(ds.phase_id >= 0, xr.DataArray(np.linspace(-0.2, 0.9, 9).reshape(3, 3), dims=("y", "x")), np.nan)
    variables = {"ncc": ds.orientation.drop_encoding(), "ncc_phase_id": ds.phase_id.drop_encoding(),
                 "ncc_score": ncc.astype(np.float32).assign_attrs(kind="NCC", orix_property="scores")}
    variables["ncc"].attrs = {k: v for k, v in ds.orientation.attrs.items() if k != "detector"}
    write_variables(store, variables, source=["test"])
    out = tmp_path / "ncc.ang"
    proc = cli("export", store, "--out", out, "--var", "ncc", check=True)
    ci = np.asarray(orix_io.load(out).prop["ci"])
    on = ds.phase_id.values.ravel() >= 0
    assert ((ci[on] >= 0) & (ci[on] <= 1)).all() and ci[on].max() == pytest.approx(0.9, abs=1e-5)
    assert "CI: the NCC of the best match ('scores')" in proc.stdout and "clipped to 0–1" in proc.stdout
    # the patterns' detector_pc stands in for the indexing's detector
    assert "from the patterns' detector_pc" in proc.stdout, proc.stdout


def test_ctf_has_mad_in_degrees_and_band_contrast_in_bytes(indexed: Path, tmp_path: Path) -> None:
    out, proc, ds, xmap, on = exported(indexed, tmp_path / "ni.ctf")
    mad, bc = np.asarray(xmap.prop["MAD"]), np.asarray(xmap.prop["BC"])
    np.testing.assert_allclose(mad[on], ds.orientation_score.values.ravel()[on], atol=1e-4)  # degrees
    # band contrast 0–1 in the store: 0–255 in the file, in the same order (it was rounded to 0 and 1)
    assert bc[on].min() == 0 and bc[on].max() == 255 and (bc == np.rint(bc)).all()
    store_bc = ds.bandcontrast.values.ravel()[on]
    assert np.corrcoef(bc[on], store_bc)[0, 1] > 0.999
    assert "BC: BC, rescaled from" in proc.stdout and "the .ctf format holds none" in proc.stdout, proc.stdout
