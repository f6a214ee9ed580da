"""The options of the map commands (:mod:`vaearr.maps.options`): each dataclass's ``check()`` returns what the
command uses and says in one line which option is out of range, naming the field."""

from __future__ import annotations

import pytest

from vaearr.errors import InputError, OptionError
from vaearr.maps.options import (
    IndexOptions,
    PhasesOptions,
    QualityOptions,
    SpreadOptions,
    check_tilt,
)


def test_tilts_are_degrees_in_range() -> None:
    assert check_tilt("70", "sample_tilt") == 70.0
    for bad in (91.0, -90.5, float("nan")):
        with pytest.raises(OptionError, match=r"^sample_tilt must be degrees in \[-90, 90\], got "):
            check_tilt(bad, "sample_tilt", IndexOptions)


def test_index_options_give_what_the_command_uses() -> None:
    o = IndexOptions(store="s.zarr", phase="ni", pc="0.5, 0.3, 0.6", sample_tilt=70, detector_tilt=-10)
    assert o.check() == ("orientation", (0.5, 0.3, 0.6), 70.0, -10.0)
    assert o.phases() == ("ni",)
    assert IndexOptions(store="s.zarr", phase=["ni", " ", "fe"]).phases() == ("ni", "fe")
    assert IndexOptions(store="s.zarr").phases() == ()
    assert IndexOptions(store="s.zarr", phase="ni").check()[1:3] == (None, None)  # the store's PC and tilt


@pytest.mark.parametrize(("fields", "message"), [
    ({"method": "emsoft"}, r"^method 'emsoft' is unknown; choose hough, dictionary$"),
    ({"sample_tilt": 100}, r"^sample_tilt must be degrees in \[-90, 90\], got 100$"),
    ({"method": "dictionary", "resolution": 20}, r"^`resolution` must be 0\.5–10 degrees, got 20$"),
    ({"energy": float("nan")}, r"^energy must be above 0, got nan$"),
    ({"name": "bad name"}, r"^name 'bad name' is not a safe name"),
])
def test_index_options_out_of_range_are_one_line(fields: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        IndexOptions(store="s.zarr", phase="ni", **fields).check()
    assert "\n" not in str(err.value)


def test_spread_options_name_their_outputs() -> None:
    o = SpreadOptions(store="s.zarr")
    o.check()
    assert o.outputs() == ("latent_kernel_spread", "latent_domain_spread", "recrystallised")
    assert SpreadOptions(store="s.zarr", var="pca_weights", name="p", recrystallised="rex").outputs() == (
        "p_kernel_spread", "p_domain_spread", "rex")
    assert o.degree_outputs() == ("pattern_kam", "pattern_grod", "pattern_gos")
    assert SpreadOptions(store="s.zarr", pc="0.5,0.3,0.6").given_pc() == (0.5, 0.3, 0.6)
    assert o.given_pc() is None


def test_quality_options_need_two_names() -> None:
    QualityOptions(store="s.zarr").check()
    with pytest.raises(OptionError, match=r"^adp names the variable iq names \('q'\); give two names$"):
        QualityOptions(store="s.zarr", iq="q", adp="q").check()


def test_phases_options_choose_their_input_and_check_the_pc() -> None:
    assert PhasesOptions(store="s.zarr").input_var == "latent"
    assert PhasesOptions(store="s.zarr", method="lattice").input_var == "orientation"
    assert PhasesOptions(store="s.zarr", method="lattice", var="hough").input_var == "hough"
    assert PhasesOptions(store="s.zarr").check() is None
    assert PhasesOptions(store="s.zarr", pc="0.5,0.3,0.6").check() == (0.5, 0.3, 0.6)
    with pytest.raises(OptionError, match="pc"):
        PhasesOptions(store="s.zarr", pc="0.5,0.3").check()

