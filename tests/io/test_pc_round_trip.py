"""The projection centre carried (issue 63): a vendor file's PC kept in the store at ingest, shown by ``vaearr info``,
used by ``vaearr phases`` with no ``--pc``; a PC given to ``vaearr ingest ebsd --pc`` wins over the file's and is
said to be given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from tests.helpers import cli  # noqa: E402
from vaearr.data.shipped import kikuchipy_files  # noqa: E402
from vaearr.store import write_variables  # noqa: E402


@pytest.fixture
def vendor_file() -> Path:
    return kikuchipy_files()["kikuchipy_h5ebsd"]  # kikuchipy's real Ni scan, 3 × 3 patterns, PC in the file


def test_a_vendor_files_pc_reaches_phases_with_no_pc_given(vendor_file: Path, tmp_path: Path) -> None:
    import kikuchipy as kp

    store = tmp_path / "s.zarr"
    cli("ingest", "ebsd", vendor_file, store, check=True)
    ds = xr.open_zarr(store)
    truth = np.asarray(kp.load(vendor_file, lazy=True).detector.pc).reshape(-1, 3).mean(0)
    np.testing.assert_allclose(ds.patterns.attrs["pc"], truth, atol=1e-6)
    assert ds.patterns.attrs["pc_source"] == f"the vendor file {vendor_file}"
    shown = "/".join(f"{v:.4g}" for v in truth)
    info = cli("info", store, check=True).stdout
    assert f"projection centre {shown} (Bruker), sample tilt 70°, from the vendor file" in info, info
    seg = xr.DataArray(np.array([[0, 0, 1], [0, 1, 1], [0, 1, 1]]), dims=("y", "x"),
                       coords={"y": ds.y, "x": ds.x}, name="seg")
    write_variables(store, {"seg": seg})
    proc = cli("phases", store, "--regions", "seg", "--out", tmp_path / "fig", check=True)
    assert f"PC from the vendor file {vendor_file}" in proc.stdout, proc.stdout
    assert "phases" in xr.open_zarr(store)


def test_a_pc_given_at_ingest_wins_and_is_said_given(vendor_file: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    cli("ingest", "ebsd", vendor_file, store, "--pc", "0.5,0.3,0.6", "--tilt", "68", check=True)
    a = xr.open_zarr(store).patterns.attrs
    assert a["pc"] == pytest.approx([0.5, 0.3, 0.6]) and a["sample_tilt"] == 68.0
    assert "given" in a["pc_source"], a["pc_source"]
    info = cli("info", store, check=True).stdout
    assert "projection centre 0.5/0.3/0.6 (Bruker), sample tilt 68°" in info, info


def test_a_pc_off_the_screen_at_ingest_is_one_line_and_writes_nothing(vendor_file: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    proc = cli("ingest", "ebsd", vendor_file, store, "--pc", "1.5,0.3,0.6")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: ") and "--pc" in lines[0], proc.stderr
    assert not store.exists()
