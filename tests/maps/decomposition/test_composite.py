"""Element composites (:mod:`vaearr.maps.decomposition.composite`): the weighted sum and the RGB of min–max normalised
element maps, their luminance, the weights parsed from text, and the one-line errors of what cannot be combined."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.maps.decomposition.composite import LUMINANCE, composite_variables, element_composite, parse_weights


def _elements() -> xr.DataArray:
    """Three 2 × 3 element maps: Ni 0..5, Cr 10..0 (falling), Fe constant."""
    ni = np.arange(6.0).reshape(2, 3)
    return xr.DataArray(np.stack([ni, 10 - 2 * ni, np.full((2, 3), 7.0)]), dims=("element", "y", "x"),
                        coords={"element": ["Ni", "Cr", "Fe"], "y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]})


def test_the_weighted_sum_of_normalised_maps() -> None:
    el = _elements()
    ni = np.arange(6.0).reshape(2, 3) / 5
    s = element_composite(el, weights={"Ni": 3.0, "Cr": 1.0})  # Fe weighs 0; a constant map normalises to 0
    assert s.dims == ("y", "x") and np.allclose(s.values, (3 * ni + (1 - ni)) / 4)
    assert np.allclose(element_composite(el, weights=[1, 0, 0]).values, ni)
    # the mask sets the min and max: inside it Ni runs 1..4
    mask = xr.DataArray(np.array([[False, True, True], [True, True, False]]), dims=("y", "x"))
    assert np.allclose(element_composite(el, weights={"Ni": 1}, mask=mask).values, (np.arange(6).reshape(2, 3) - 1) / 3)


def test_the_rgb_composite_clips_its_weighted_channels() -> None:
    rgb = element_composite(_elements(), mode="rgb", weights=[2.0, 1.0, 1.0])
    assert rgb.dims == ("y", "x", "channel") and rgb.name == "element_rgb"
    ni = np.arange(6.0).reshape(2, 3) / 5
    assert np.allclose(rgb.values[..., 0], np.clip(2 * ni, 0, 1)) and np.allclose(rgb.values[..., 1], 1 - ni)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights": {"Au": 1.0}}, r"^weights for unknown elements \['Au'\]; the maps have \['Ni', 'Cr', 'Fe'\]$"),
    ({"weights": [1.0, 2.0]}, r"^2 weights for 3 elements"),
    ({"mode": "hsv"}, r"^mode must be 'sum' or 'rgb', got 'hsv'$"),
    ({"dim": "channel"}, r"^element maps have no 'channel' dim"),
])
def test_what_cannot_be_combined_is_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        element_composite(_elements(), **kwargs)


def test_weights_from_text() -> None:
    assert parse_weights("Ni=1, Fe=0.5; Cr") == {"Ni": 1.0, "Fe": 0.5, "Cr": 1.0}
    assert parse_weights(" ALL ") == {}
    for text, message in (("Ni=x", r"weight of 'Ni' is 'x', not a number"), ("=2", r"'=2' is not element=weight"),
                          ("Ni=inf", r"'Ni=inf' is not element=weight"), ("Ni,Ni=2", r"'Ni' is given twice"),
                          (" , ", r"names no element")):
        with pytest.raises(InputError, match=message):
            parse_weights(text)


def test_the_store_variables_of_a_sum_and_of_an_rgb() -> None:
    el = _elements()
    d = composite_variables({"elements": el}, weights={"Ni": 3, "Cr": 1})
    comp = d.variables["composite"]
    ni = np.arange(6.0).reshape(2, 3) / 5
    assert comp.dtype == np.float32 and np.allclose(comp.values, (3 * ni + (1 - ni)) / 4)
    assert json.loads(comp.attrs["weights"]) == {"Ni": 0.75, "Cr": 0.25} and comp.attrs["mode"] == "sum"
    assert d.source == ["elements"] and d.config["composite"]["elements"] == ["Ni", "Cr"]
    # two elements as R and G: blue is their mean; the composite is the luminance
    d = composite_variables({"elements": el}, rgb=["Ni", "Cr"])
    image = d.variables["composite_rgb"]
    assert image.dims == ("y", "x", "channel") and image.channel.values.tolist() == ["R", "G", "B"]
    assert np.allclose(image.values[..., 2], 0.5)
    assert json.loads(image.attrs["channels"]) == {"R": "Ni", "G": "Cr", "B": None}
    expected = LUMINANCE[0] * ni + LUMINANCE[1] * (1 - ni) + LUMINANCE[2] * 0.5
    assert np.allclose(d.variables["composite"].values, expected, atol=1e-6)
    # one element: grey
    grey = composite_variables({"elements": el}, rgb=["Ni"]).variables["composite_rgb"].values
    assert np.allclose(grey[..., 0], grey[..., 2]) and np.allclose(grey[..., 1], ni)


def test_a_composite_that_cannot_be_made_is_one_line() -> None:
    el = _elements()
    with pytest.raises(InputError, match="not both"):
        composite_variables({"elements": el}, weights={"Ni": 1}, rgb=["Ni"])
    with pytest.raises(StoreError, match=r"^s\.zarr: no 'elements' variable in the store"):
        composite_variables({}, store="s.zarr")
    with pytest.raises(StoreError, match=r"'elements' has dims \('y', 'x'\)"):
        composite_variables({"elements": el.isel(element=0)})
    with pytest.raises(InputError, match=r"element\(s\) \['Au'\] are not in the element maps \(Ni, Cr, Fe\)"):
        composite_variables({"elements": el}, weights={"Au": 1})
    with pytest.raises(InputError, match="one to three different elements"):
        composite_variables({"elements": el}, rgb=["Ni", "Ni"])
    with pytest.raises(InputError, match="weights sum to 0"):
        composite_variables({"elements": el}, weights={"Ni": 1, "Cr": -1})
    with pytest.raises(StoreError, match=r"no mask variable 'roi' in the store.*\(to normalise the composite in\)"):
        composite_variables({"elements": el}, mask="roi")
