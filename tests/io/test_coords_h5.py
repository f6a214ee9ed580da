"""HDF5 image sets of ``/images`` + ``/coords`` (:mod:`vaearr.io.coords_h5`): the layout recognised, patterns placed
by their coordinates in either order and unit, and the one-line errors for a layout that is not this one."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from vaearr.errors import InputError, VaearrWarning
from vaearr.io.coords_h5 import is_coords_layout, read_coords_hdf5
from vaearr.io.patterns import PatternOptions


def _file(path: Path, images: np.ndarray, coords: np.ndarray, **coord_attrs) -> Path:
    with h5py.File(path, "w") as f:
        f["images"] = images
        f["coords"] = coords
        f["coords"].attrs.update(coord_attrs)
    return path


def _scan(ny: int = 2, nx: int = 3, p: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Images N×1×p×p whose every pixel is its row number, and [x, y] indices of a ny×nx scan, shuffled."""
    iy, ix = np.divmod(np.arange(ny * nx), nx)
    order = np.random.default_rng(0).permutation(ny * nx)
    images = np.broadcast_to(np.arange(ny * nx, dtype=np.uint8)[:, None, None, None], (ny * nx, 1, p, p)).copy()
    return images[order], np.column_stack([ix, iy])[order]


def test_the_layout_is_recognised_only_with_both_datasets(tmp_path) -> None:
    images, coords = _scan()
    assert is_coords_layout(_file(tmp_path / "a.h5", images, coords))
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["images"] = images
    assert not is_coords_layout(tmp_path / "b.h5")
    (tmp_path / "c.h5").write_bytes(b"not hdf5")
    assert not is_coords_layout(tmp_path / "c.h5") and not is_coords_layout(tmp_path / "none.h5")


def test_index_coordinates_place_every_image_at_its_node(tmp_path) -> None:
    images, coords = _scan()
    da = read_coords_hdf5(_file(tmp_path / "a.h5", images, coords), options=PatternOptions(step=0.5))
    assert da.dims == ("y", "x", "py", "px") and da.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(da.x.values, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(da.y.values, [0.0, 0.5])
    np.testing.assert_array_equal(np.asarray(da[..., 0, 0]), np.arange(6).reshape(2, 3))  # row-major, unshuffled
    assert da.attrs["coords_units"] == "index" and da.attrs["step_source"] == "given"
    assert "read as [x, y] (column 0 = x), whole numbers → scan indices × step 0.5 µm; grid 2×3" in da.attrs["coords_note"]


def test_yx_order_and_um_coordinates(tmp_path) -> None:
    images, coords = _scan()
    yx = read_coords_hdf5(_file(tmp_path / "a.h5", images, coords[:, ::-1]), options=PatternOptions(), coords_order="yx")
    np.testing.assert_array_equal(np.asarray(yx[..., 0, 0]), np.arange(6).reshape(2, 3))
    assert "default" in yx.attrs["step_source"] and "give `step`" in yx.attrs["coords_note"]
    um = read_coords_hdf5(_file(tmp_path / "b.h5", images, coords * 0.25 + 0.1), options=PatternOptions())
    np.testing.assert_allclose(um.x.values, [0.1, 0.35, 0.6])
    assert um.attrs["coords_units"] == "µm" and "not whole numbers, so not indices" in um.attrs["coords_note"]
    # whole numbers with a unit attr are µm, not indices; a step given is then ignored, with a warning
    with pytest.warns(VaearrWarning, match="step ignored"):
        given = read_coords_hdf5(_file(tmp_path / "c.h5", images, coords * 2, units="um"), options=PatternOptions(step=9))
    np.testing.assert_array_equal(given.x.values, [0.0, 2.0, 4.0])


def test_a_missing_node_is_zeros_and_counted(tmp_path) -> None:
    images, coords = _scan()
    keep = ~((coords[:, 0] == 1) & (coords[:, 1] == 1))
    da = read_coords_hdf5(_file(tmp_path / "a.h5", images[keep, 0], coords[keep]), options=PatternOptions())
    assert da.attrs["missing_patterns"] == 1 and "1 nodes without an image (zeros)" in da.attrs["coords_note"]
    assert not np.asarray(da[1, 1]).any()


@pytest.mark.parametrize(("images", "coords", "words"), [
    (np.zeros((6, 2, 4, 4), np.uint8), None, "'/images' is 6×2×4×4: 2 channels"),
    (np.zeros((6, 4), np.uint8), None, "'/images' has shape 6×4; expected N×1×H×W or N×H×W"),
    (np.array([b"a"] * 6), None, "'/images' holds |S1, not numbers"),
    (None, np.zeros((6, 3)), "'/coords' has shape 6×3; expected N×2 (6×2)"),
    (None, np.zeros((5, 2)), "'/coords' has 5 rows but '/images' holds 6 images"),
    (None, np.full((6, 2), np.nan), "'/coords' has missing or non-finite values in 6 rows"),
    (None, np.array([[0, 0], [0, 0], [1, 0], [2, 0], [0, 1], [1, 1]]), "duplicated coordinate"),
])
def test_a_file_not_of_the_layout_is_one_line(tmp_path, images, coords, words) -> None:
    good_images, good_coords = _scan()
    path = _file(tmp_path / "a.h5", good_images if images is None else images,
                 good_coords if coords is None else coords)
    with pytest.raises(InputError, match="a.h5") as err:
        read_coords_hdf5(path, options=PatternOptions())
    assert words in str(err.value)


def test_bad_options_are_one_line(tmp_path) -> None:
    path = _file(tmp_path / "a.h5", *_scan())
    with pytest.raises(InputError, match="`coords_order` must be xy or yx, got 'zx'"):
        read_coords_hdf5(path, options=PatternOptions(), coords_order="zx")
    with pytest.raises(InputError, match="`coords_units` must be auto, index or um, got 'mm'"):
        read_coords_hdf5(path, options=PatternOptions(), coords_units="mm")
    with pytest.raises(InputError, match="leave out `scan_shape`"):
        read_coords_hdf5(path, options=PatternOptions(scan_shape=(2, 3)))
    frac = _file(tmp_path / "f.h5", _scan()[0], _scan()[1] * 0.5)
    with pytest.raises(InputError, match=r"row \d is .*: not whole numbers, so not scan indices"):
        read_coords_hdf5(frac, options=PatternOptions(), coords_units="index")
    hexagonal = np.array([[0, 0], [2, 0], [4, 0], [1, 1], [3, 1], [5, 1]])
    with pytest.raises(InputError, match="do not lie on a square grid"):
        read_coords_hdf5(_file(tmp_path / "h.h5", _scan()[0], hexagonal), options=PatternOptions())
