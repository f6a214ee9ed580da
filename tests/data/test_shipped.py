"""kikuchipy's shipped real Ni scan in every vendor layout (:mod:`vaearr.data.shipped`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
h5py = pytest.importorskip("h5py")

from vaearr import data  # noqa: E402


@pytest.fixture(scope="session")
def ni_small() -> np.ndarray:
    return np.asarray(kp.data.nickel_ebsd_small().data)




@pytest.mark.filterwarnings("ignore:Returned signal has one navigation dimension:UserWarning")
def test_kikuchipy_files_hold_the_ni_scan(ni_small: np.ndarray) -> None:
    files = data.kikuchipy_files()
    assert set(files) == {
        "kikuchipy_h5ebsd", "edax_h5ebsd", "oxford_binary", "nordif", "edax_binary_up1", "edax_binary_up2",
    }
    assert all(p.is_file() for p in files.values())
    # what the docstring promises, file by file
    for key in ("kikuchipy_h5ebsd", "edax_h5ebsd", "oxford_binary", "nordif"):
        s = kp.load(files[key])
        assert s.data.dtype == np.uint8 and s.data.shape == (3, 3, 60, 60), key
        np.testing.assert_array_equal(s.data, ni_small, err_msg=key)
    up1 = kp.load(files["edax_binary_up1"]).data
    assert up1.shape == (9, 60, 60) and up1.dtype == np.uint8
    np.testing.assert_array_equal(up1.reshape(3, 3, 60, 60), ni_small)
    up2 = kp.load(files["edax_binary_up2"]).data
    assert up2.shape == (10, 60, 60) and up2.dtype == np.uint16
    np.testing.assert_array_equal(up2[:9], ni_small.reshape(9, 60, 60).astype(np.uint16))
    assert not up2[9].any()
    # the raw HDF5 datasets are the patterns in scan order, no flips
    with h5py.File(files["edax_h5ebsd"]) as f:
        np.testing.assert_array_equal(f["Scan 1/EBSD/Data/Pattern"][()], ni_small.reshape(9, 60, 60))
    with h5py.File(files["kikuchipy_h5ebsd"]) as f:
        np.testing.assert_array_equal(f["Scan 1/EBSD/Data/patterns"][()], ni_small.reshape(9, 60, 60))
    raw = np.fromfile(files["nordif"], dtype=np.uint8)
    np.testing.assert_array_equal(raw.reshape(3, 3, 60, 60), ni_small)


def test_make_vendor_files(tmp_path: Path, ni_small: np.ndarray) -> None:
    files = data.make_vendor_files(tmp_path)
    assert set(files) == {"bruker_h5ebsd", "oxford_h5oina"} and all(p.is_file() for p in files.values())
    bruker = kp.load(files["bruker_h5ebsd"]).data
    np.testing.assert_array_equal(bruker, ni_small)
    with h5py.File(files["bruker_h5ebsd"]) as f:
        np.testing.assert_array_equal(f["Scan 0/EBSD/Data/RawPatterns"][()], ni_small.reshape(9, 60, 60))
    # H5OINA holds background-corrected patterns: same scan, different numbers
    oina = kp.load(files["oxford_h5oina"]).data
    assert oina.shape == ni_small.shape and oina.dtype == np.uint8
    assert not np.array_equal(oina, ni_small)
    s = kp.data.nickel_ebsd_small()
    s.remove_static_background()
    np.testing.assert_array_equal(oina, s.data)
    with h5py.File(files["oxford_h5oina"]) as f:
        processed = f["1/EBSD/Data/Processed Patterns"][()]
        np.testing.assert_array_equal(f["1/EBSD/Data/Unprocessed Patterns"][()], processed + np.uint8(1))
