"""A store variable as a map: picking an entry of its extra dim, the value at a point, and the one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError
from vaearr.viz.variable import at_point, ipf_insets, selected, variable_map


def elements() -> xr.DataArray:
    return xr.DataArray(np.arange(12.0).reshape(2, 2, 3), dims=("element", "y", "x"), name="elements",
                        coords={"element": ["Ni", "Cr"], "y": [0.0, 2.0], "x": [0.0, 2.0, 4.0]})


def test_selected_by_label_or_position() -> None:
    el = elements()
    assert selected(el, "Cr").values.tolist() == [[6, 7, 8], [9, 10, 11]]
    assert selected(el) is el
    bare = el.drop_vars("element")
    assert selected(bare, 1).values[0, 0] == 6.0


@pytest.mark.parametrize(("da", "dim", "message"), [
    (elements(), "Fe", r"'elements' has no element 'Fe'; it has Ni, Cr"),
    (elements().drop_vars("element"), 2, r"'elements' has 2 entries along 'element': dim= takes 0 to 1"),
    (elements().drop_vars("element"), "Ni", r"dim= takes 0 to 1"),
    (elements().isel(element=0), 0, r"'elements' has dims \('y', 'x'\): dim= picks along one dim beside y and x"),
])
def test_selected_errors(da: xr.DataArray, dim, message: str) -> None:
    with pytest.raises(InputError, match=message):
        selected(da, dim)


def test_at_point_is_the_nearest_pixel_within_half_a_pixel() -> None:
    el = elements()
    assert at_point(el, x=2.9, y=0.9).values.tolist() == [1.0, 7.0]
    assert float(at_point(el.isel(element=0), x=5.0, y=3.0)) == 5.0  # the last pixel's outer edge
    with pytest.raises(InputError, match=r"x=5.1 is outside the scan \(x from 0 to 4\)"):
        at_point(el, x=5.1, y=0.0)
    with pytest.raises(InputError, match=r"y=nan is outside the scan"):
        at_point(el, x=0.0, y=float("nan"))
    with pytest.raises(InputError, match=r"'elements' has no 'y' dim"):
        at_point(el.isel(y=0), x=0.0, y=0.0)
    pixels = xr.DataArray(np.arange(4.0).reshape(2, 2), dims=("y", "x"), name="v")  # no coordinates: indices
    assert float(at_point(pixels, x=1.4, y=0.2)) == 1.0


def test_variable_map_refuses_what_is_not_one_map() -> None:
    with pytest.raises(InputError, match=r"'t' is not a map: its dims are \('t',\), not \(y, x, …\)"):
        variable_map(xr.DataArray(np.zeros(3), dims="t", name="t"))
    stack = xr.DataArray(np.zeros((2, 2, 3, 3)), dims=("y", "x", "py", "px"), name="patterns")
    with pytest.raises(InputError, match="more than one beside y and x"):
        variable_map(stack)


def test_colour_maps_without_laue_groups_have_no_key() -> None:
    # (the key drawn from Laue groups: tests/viz/test_orientations.py)
    ipf = xr.DataArray(np.zeros((2, 2, 3)), dims=("y", "x", "rgb"), name="orientation_ipf")
    assert ipf_insets(ipf) == [] and ipf_insets(ipf.assign_attrs(laue_groups={})) == []
    assert ipf_insets(ipf.assign_attrs(laue_groups=["m-3m"])) == []
