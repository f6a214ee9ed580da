"""The options of the commands that find regions (:mod:`vaearr.maps.region_options`): roi's criteria, decompose's
references and components parsed from text, segment's and boundaries' checks, each a line naming the field."""

from __future__ import annotations

import math

import pytest

from vaearr.errors import InputError, OptionError
from vaearr.maps.region_options import (
    BOUNDARY_COST,
    BoundariesOptions,
    DecomposeOptions,
    RoiOptions,
    SegmentOptions,
    parse_components,
    parse_references,
)


def test_roi_criteria() -> None:
    assert not RoiOptions(store="s.zarr").criteria()
    for given in ({"otsu": True}, {"min": 3.0}, {"top_percent": 10.0}, {"x_index": (0, 4)}, {"threshold": 0.0}):
        assert RoiOptions(store="s.zarr", **given).criteria(), given
    with pytest.raises(OptionError, match="top_percent"):
        RoiOptions(store="s.zarr", top_percent=0.0).check()


def test_references_and_components_from_text() -> None:
    assert parse_references("3,4; 10,2;") == [(3, 4), (10, 2)]
    assert parse_references(" AUTO ") == "auto" and parse_references(None) is None
    with pytest.raises(OptionError, match=r"^references takes 'auto' or pixel rows and columns like '3,4;10,2', "
                                          r"got '1,2,3'$"):
        parse_references("1,2,3")
    with pytest.raises(OptionError, match=r"^references has no pixels: ' ; '$"):
        parse_references(" ; ")
    assert parse_components("7") == 7 and parse_components("auto") == "auto" and parse_components(2) == 2
    with pytest.raises(OptionError, match=r"^components takes a number or 'auto', got 'many'$"):
        parse_components("many")


def test_decompose_components_at_least_one() -> None:
    DecomposeOptions(store="s.zarr", components="3").check()
    with pytest.raises(OptionError, match=r"^components must be at least 1, got 0$"):
        DecomposeOptions(store="s.zarr", components=0).check()


@pytest.mark.parametrize(("fields", "message"), [
    ({"boundary_cost": float("nan")}, r"^boundary_cost must be at least 0, got nan$"),
    ({"min_size": 0}, r"^min_size must be >= 1 pixel, got 0$"),
    ({"min_contrast": 1.0}, r"^min_contrast must be in \[0, 1\), got 1$"),
    ({"grain_angle": 181.0}, r"^grain_angle must be in \(0, 180\] degrees, got 181$"),
    ({"low_angle": 2.0}, r"^low_angle must be in \[0, grain_angle\) degrees, got 2$"),
    ({"name": "a/b"}, r"^name 'a/b' is not a safe name"),
])
def test_segment_options_out_of_range_are_one_line(fields: dict, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        SegmentOptions(store="s.zarr", **fields).check()


def test_segment_options_name_their_outputs() -> None:
    o = SegmentOptions(store="s.zarr", name="seg", pc="0.5,0.3,0.6")
    o.check()
    assert o.outputs() == ("seg", "seg_grains", "seg_boundaries") and o.angle_output() == "seg_angle"
    assert o.given_pc() == (0.5, 0.3, 0.6)
    assert BOUNDARY_COST == pytest.approx(math.log(3), abs=1e-4)


def test_boundaries_angles_in_order() -> None:
    BoundariesOptions(store="s.zarr").check()
    with pytest.raises(InputError, match=r"^`low_angle` \(3°\) must be under `grain_angle` \(2°\)$"):
        BoundariesOptions(store="s.zarr", low_angle=3.0, grain_angle=2.0).check()
    with pytest.raises(OptionError, match="lagb_min_length"):
        BoundariesOptions(store="s.zarr", lagb_min_length=0).check()
