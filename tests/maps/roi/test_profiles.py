"""What the band-contrast scripts looked at (:mod:`vaearr.maps.roi.profiles`): a map variable or the line for one the
store lacks, histogram bins on multiples of a width, a row's profile and its CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.maps.roi.profiles import MAX_BINS, export_profile, histogram_edges, map_variable, row_profile


def _ds() -> xr.Dataset:
    bc = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("y", "x"), coords={"y": [0.0, 0.5], "x": [0.0, 0.5, 1.0]},
                      name="bc")
    return xr.Dataset({"bc": bc, "iq": bc.T, "patterns": (("y", "x", "p"), np.zeros((2, 3, 2)))})


def test_a_map_variable_or_why_it_is_not_one() -> None:
    assert map_variable(_ds(), "iq").dims == ("y", "x")  # transposed
    with pytest.raises(StoreError, match=r"^m\.zarr: 'patterns' has dims \('y', 'x', 'p'\); a \(y, x\) map is needed$"):
        map_variable(_ds(), "patterns", label="m.zarr")
    with pytest.raises(StoreError, match=r"no variable 'bandcontrast' in the store; ingest a band-contrast CSV first"):
        map_variable(_ds(), "bandcontrast", label="m.zarr")
    with pytest.raises(StoreError, match=r"no variable 'iqq' in the store; did you mean 'iq'\?"):
        map_variable(_ds(), "iqq", label="m.zarr")


def test_bins_on_multiples_of_the_width() -> None:
    assert histogram_edges([-3.0, 12.0], 5).tolist() == [-5.0, 0.0, 5.0, 10.0, 15.0]
    assert histogram_edges([10.0, 10.0], 5).tolist() == [10.0, 15.0]  # one value: one bin
    with pytest.raises(InputError, match=r"^bin width must be a positive number, got 0$"):
        histogram_edges([1.0], 0)
    with pytest.raises(InputError, match=r"^no finite values to bin$"):
        histogram_edges([np.nan, np.inf], 1.0)
    with pytest.raises(InputError, match=rf"gives 100000 bins over 0\.\.1 \(at most {MAX_BINS}\); choose a wider bin"):
        histogram_edges([0.0, 1.0], 1e-5)


def test_a_rows_profile_and_its_csv(tmp_path: Path) -> None:
    prof = row_profile(_ds(), 1, var="bc", store="m.zarr")
    assert prof.values.tolist() == [3.0, 4.0, 5.0] and prof.attrs == {"row": 1, "y": 0.5} and "y" not in prof.coords
    with pytest.raises(InputError, match=r"^row 2 is outside the map's 2 rows \(0\.\.1\)$"):
        row_profile(_ds(), 2, var="bc")
    with pytest.raises(InputError, match=r"row 0\.5 is outside"):
        row_profile(_ds(), 0.5, var="bc")  # type: ignore[arg-type]
    path = export_profile(prof, tmp_path / "out" / "row1.csv")
    assert path.read_text().splitlines() == ["x,bc", "0,3", "0.5,4", "1,5"]
