"""A store's orientations and patterns as orix and kikuchipy objects and back (:mod:`vaearr.io.bridge`): the crystal
map of a tiny store, its quality properties, labels as phases or grains, the one-line errors, the detector kept."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from vaearr.crystals.structures import BUILTIN, crystal_phase, phase_record  # noqa: E402 - after the extra's skip
from vaearr.io.bridge import (  # noqa: E402
    check_orientation,
    from_crystal_map,
    label_map,
    orientation_names,
    score_property,
    store_detector,
    to_crystal_map,
    to_ebsd,
)


def _store() -> xr.Dataset:
    """A 2×3 map: a rotation about z by 0°, 10°, … 50°; the last pixel not indexed (NaN); Ni is phase 1."""
    angles = np.radians(np.arange(6) * 10.0)
    q = np.stack([np.cos(angles / 2), 0 * angles, 0 * angles, np.sin(angles / 2)], -1).reshape(2, 3, 4)
    q[1, 2] = np.nan
    phases = [phase_record(crystal_phase(BUILTIN["fcc"], "ni"), 1)]
    coords = {"y": [0.0, 0.5], "x": [0.0, 0.5, 1.0]}
    return xr.Dataset({
        "orientation": (("y", "x", "quaternion"), q.astype(np.float32), {"phases": phases}),
        "phase_id": (("y", "x"), np.array([[1, 1, 1], [1, -1, 1]], np.int16)),
        "orientation_ci": (("y", "x"), np.linspace(0, 1, 6).reshape(2, 3)),
        "mad": (("y", "x"), np.full((2, 3), 0.4)),
        "orientation_score": (("y", "x"), np.ones((2, 3)), {"kind": "pattern fit (degrees)"}),
        "segments": (("y", "x"), np.array([[0, 0, 1], [1, -1, 1]], np.int32)),
        "bandcontrast": (("y", "x"), np.ones((2, 3), np.float32)),
        "patterns": (("y", "x", "py", "px"), np.arange(6 * 20, dtype=np.uint8).reshape(2, 3, 4, 5),
                     {"detector_pc": [0.4, 0.3, 0.5], "detector_sample_tilt": 69.0}),
    }, coords=coords)


def test_orientation_variables_and_label_maps_are_checked() -> None:
    ds = _store()
    assert orientation_names(ds) == ["orientation"]
    assert check_orientation(ds, "orientation").dims == ("y", "x", "quaternion")
    with pytest.raises(InputError, match=r"s.zarr: no orientation variable 'orientations'"):
        check_orientation(ds, "orientations", "s.zarr")
    np.testing.assert_array_equal(label_map(ds, "segments", "`phase_from`"), ds.segments.values)
    with pytest.raises(InputError, match=r"`grain_from`: 'bandcontrast' is not a label map \(an integer \(y, x\)"):
        label_map(ds, "bandcontrast", "`grain_from`")
    with pytest.raises(InputError, match="`grain_from`: no variable 'nothing'"):
        label_map(ds, "nothing", "`grain_from`")


def test_a_score_is_fit_for_a_pattern_fit_else_scores() -> None:
    assert score_property(xr.DataArray(0, attrs={"orix_property": "osm"})) == "osm"
    assert score_property(xr.DataArray(0, attrs={"kind": "PyEBSDIndex pattern fit"})) == "fit"
    assert score_property(xr.DataArray(0)) == "scores"


def test_the_crystal_map_of_a_store() -> None:
    xmap = to_crystal_map(_store())
    np.testing.assert_array_equal(xmap.phase_id, [1, 1, 1, 1, -1, -1])  # phase −1 and NaN: not indexed
    np.testing.assert_allclose(xmap.x, [0.0, 0.5, 1.0] * 2)
    np.testing.assert_allclose(xmap.y, [0] * 3 + [0.5] * 3)
    assert xmap.phases[1].name == "ni" and xmap.phases[1].space_group.number == 225
    angles = np.degrees(xmap.rotations.angle)
    np.testing.assert_allclose(angles[:4], [0, 10, 20, 30], atol=1e-4)
    assert angles[4:] == pytest.approx([0, 0])  # not indexed: the identity
    np.testing.assert_allclose(xmap.prop["ci"], np.linspace(0, 1, 6))  # {orientation}_ci
    np.testing.assert_allclose(xmap.prop["MAD"], 0.4)  # plain mad
    assert "fit" in xmap.prop and "scores" not in xmap.prop


def test_labels_as_phases_and_grains() -> None:
    xmap = to_crystal_map(_store(), phase_from="segments", grain_from="segments")
    np.testing.assert_array_equal(xmap.phase_id, [0, 0, 1, 1, -1, -1])
    assert [xmap.phases[i].name for i in (0, 1)] == ["segments_0", "segments_1"]
    assert xmap.phases[1].point_group.name == "m-3m"  # the crystal of the phase its pixels had
    np.testing.assert_array_equal(xmap.prop["grain_id"], [0, 0, 1, 1, -1, 1])


def test_a_crystal_map_back_in_the_store_schema() -> None:
    back = from_crystal_map(to_crystal_map(_store()), name="hough")
    assert back.attrs["step"] == [0.5, 0.5] and back.attrs["scan_shape"] == [2, 3] and back.attrs["grid"] == "square"
    q = back["hough"].transpose("y", "x", "quaternion").values
    np.testing.assert_allclose(np.abs(q[0, 1]), np.abs(_store().orientation.values[0, 1]), atol=1e-6)
    assert np.isnan(q[1, 1]).all() and np.isnan(q[1, 2]).all()
    assert back["hough_phase_id"].values.tolist() == [[1, 1, 1], [1, -1, -1]]


def test_the_detector_kept_and_the_patterns_as_a_signal() -> None:
    ds = _store()
    det = store_detector(ds)
    assert det.shape == (4, 5) and det.sample_tilt == 69.0
    np.testing.assert_allclose(det.pc.ravel(), [0.4, 0.3, 0.5])
    ds["orientation"].attrs["detector"] = {"pc_bruker": [0.5, 0.2, 0.6], "sample_tilt": 70.0, "shape": [4, 5]}
    np.testing.assert_allclose(store_detector(ds).pc.ravel(), [0.5, 0.2, 0.6])  # vaearr index's first
    assert store_detector(ds.drop_vars("patterns")).shape == (4, 5)
    assert store_detector(ds.drop_vars("patterns"), orientation=None) is None
    s = to_ebsd(_store(), lazy=False)
    np.testing.assert_array_equal(s.data, _store().patterns.values)
    nav = s.axes_manager.navigation_axes
    assert [(a.name, a.scale, a.size) for a in nav] == [("x", 0.5, 3), ("y", 0.5, 2)]
    assert s.xmap.shape == (2, 3)
    with pytest.raises(InputError, match="no pattern variable 'raw'"):
        to_ebsd(_store(), "raw")
