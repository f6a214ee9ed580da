"""``vaearr index``'s own steps (:mod:`vaearr.maps.indexing.indexing`) without indexing anything: the summary, the
inputs it refuses in one line, the energies, the blocks of rows, the variables it writes (the indexing of simulated
maps: ``test_index.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.maps.indexing.indexing import (
    DEFAULT_ENERGY,
    IndexResult,
    _patterns_and_mask,  # noqa: PLC2701 - the checks before any work, each one line
    _row_blocks,  # noqa: PLC2701 - the blocks of whole chunk rows
    _variables,  # noqa: PLC2701 - the variables written and their attrs
    load_master_pattern,
    master_energy,
    masters_and_energies,
    phase_sources,
)


def test_the_summary_and_the_speed() -> None:
    attrs = {"method": "hough", "refine": True, "phases": [{"name": "ni"}, {"name": "fe"}], "n_indexed": 10}
    r = IndexResult("orientation", {"orientation": None, "phase_id": None}, attrs, 12, 2.0, ["built"])
    assert r.patterns_per_second == 6.0
    text = r.summary()
    assert text.startswith("built\nindexed 12 patterns (hough + refinement, phases 'ni', 'fe') in 2.0 s")
    assert text.endswith("; 10 indexed; wrote orientation, phase_id")
    assert IndexResult("o", {}, attrs, 3, 0.0).patterns_per_second == float("inf")


def test_what_the_phases_and_master_patterns_refuse() -> None:
    with pytest.raises(InputError, match=r"^give one of `phase='NAME'` or `master_pattern='FILE'`$"):
        load_master_pattern(None, None)
    with pytest.raises(InputError, match=r"^give one of `phase='NAME'` or `master_pattern='FILE'`$"):
        load_master_pattern("ni", "ni.h5")
    with pytest.raises(InputError, match=r"`phase` repeats: one per phase"):
        phase_sources([], None)
    with pytest.raises(InputError, match="no such master-pattern file"):
        phase_sources([], "/nowhere/ni.h5")


def test_the_energy_a_master_pattern_is_projected_at() -> None:
    assert master_energy(object(), 15) == 15.0
    assert master_energy(object(), None) == DEFAULT_ENERGY  # no energy axis: the default
    masters, energies = masters_and_energies([object(), object()], None, needed=False)
    assert masters is None and energies == [DEFAULT_ENERGY] * 2
    assert masters_and_energies([object()], 12.5, needed=False)[1] == [12.5]


def test_blocks_of_whole_chunk_rows() -> None:
    assert _row_blocks(10, 4, 0, 12) == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert _row_blocks(10, 4, 2, 12) == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8), slice(8, 10)]
    assert _row_blocks(10, 4, 2, 40) == [slice(0, 10)]
    assert _row_blocks(3, 100, 0, 10) == [slice(0, 1), slice(1, 2), slice(2, 3)]  # at least a row


def _ds(**extra) -> xr.Dataset:
    pats = xr.DataArray(np.zeros((2, 3, 4, 4), np.uint8), dims=("y", "x", "py", "px"))
    return xr.Dataset({"patterns": pats, **extra})


def test_the_patterns_and_the_mask_or_one_line() -> None:
    roi = xr.DataArray(np.array([[True, False, True], [False, False, True]]), dims=("y", "x"))
    pat, mask, m = _patterns_and_mask("s.zarr", _ds(roi=roi), "orientation", "hough", "auto", False)
    assert mask == "roi" and m.tolist() == roi.values.tolist() and pat.dims == ("y", "x", "py", "px")
    assert _patterns_and_mask("s.zarr", _ds(), "orientation", "hough", "auto", False)[2].all()
    cases = [
        (xr.Dataset(), None, r"^s\.zarr: no pattern variable 'patterns' in the store"),
        (xr.Dataset({"patterns": _ds().patterns.transpose("x", "y", "py", "px")}), None,
         r"'patterns' has dims \('x', 'y', 'py', 'px'\), not \(y, x, py, px\)"),
        (_ds(orientation_ci=roi), None, r"variable\(s\) \['orientation_ci'\] exist; pass `overwrite=True`"),
        (_ds(), "grains", r"no mask variable 'grains' in the store.*\(use `mask='none'` for every pixel\)"),
        (_ds(roi=roi.astype(int)), "roi", r"mask 'roi' must be a bool \(y, x\) variable"),
        (_ds(roi=roi & False), "roi", r"mask 'roi' selects no pixel"),
    ]
    for ds, mask, message in cases:
        with pytest.raises(StoreError, match=message):
            _patterns_and_mask("s.zarr", ds, "orientation", "hough", mask, False)


def test_the_variables_written() -> None:
    maps = {"quaternion": np.zeros((2, 3, 4), np.float32), "phase_id": np.zeros((2, 3), np.int16),
            "score": np.ones((2, 3), np.float32), "bands": np.ones((2, 3), np.float32),
            "ci": np.ones((2, 3), np.float32)}
    v = _variables("hough", maps, "hough", False, {"method": "hough"}, [{"id": 0, "name": "ni"}], {})
    assert list(v) == ["hough", "hough_phase_id", "hough_score", "hough_bands", "hough_ci"]
    assert v["hough"].dims == ("y", "x", "quaternion") and v["hough"].attrs == {"method": "hough"}
    assert v["hough_phase_id"].attrs == {"phases": [{"id": 0, "name": "ni"}], "nodata": -1, "orientation": "hough"}
    assert v["hough_score"].attrs["orix_property"] == "fit" and "angular deviation" in v["hough_score"].attrs["kind"]
    refined = _variables("orientation", maps, "dictionary", True, {}, [], {})
    assert list(refined) == ["orientation", "phase_id", "orientation_score"]
    assert refined["orientation_score"].attrs == {"kind": "NCC of the refined solution", "orientation": "orientation",
                                                  "orix_property": "scores"}
