"""The ``lattice`` phase method's own steps (:mod:`vaearr.maps.phases.lattice_grouping`) without a fit: the indexing it
reads (and refuses in one line), how decisively NCC curves take a side, each region moved to the lattice its curve
prefers (the method on simulated maps: ``test_lattice_phases.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import StoreError
from vaearr.maps.phases.lattice_fit import SCALES
from vaearr.maps.phases.lattice_grouping import curve_assignment, curve_margin, read_indexing

GRID = np.log(SCALES)


def _curves(peaks: list[float]) -> np.ndarray:
    """NCC curves over the scales, each a parabola in log scale peaking at its scale."""
    return np.stack([1 - (GRID - np.log(p)) ** 2 for p in peaks])


def test_the_margin_is_the_curves_drop_at_the_other_sides_lattice() -> None:
    peaks = [1.0, 1.0, 1.0, 1.12, 1.12, 1.12]
    margin = curve_margin(_curves(peaks), np.log(peaks), np.arange(3), np.arange(3, 6))
    assert margin == pytest.approx(np.log(1.12) ** 2, rel=1e-3)


def test_a_region_moves_to_the_lattice_its_curve_prefers() -> None:
    peaks = [1.0, 1.0, 1.09, 1.12, 1.12, 1.12]  # region 2 peaks nearer the second lattice
    curves = _curves(peaks)
    groups = [(0, np.array([0, 1, 2])), (0, np.array([3, 4, 5]))]
    out = curve_assignment(groups, np.zeros(6, int), curves, np.log(peaks), big=np.arange(6))
    assert [(p, g.tolist()) for p, g in out] == [(0, [0, 1]), (0, [2, 3, 4, 5])]
    # another structure: never joined to this one's lattices; a region without a curve stays
    curves[1] = np.nan
    out = curve_assignment([(0, np.array([0, 1, 2])), (1, np.array([3, 4, 5]))], np.array([0, 0, 0, 1, 1, 1]),
                           curves, np.log(peaks), big=np.arange(6))
    assert [(p, g.tolist()) for p, g in out] == [(0, [0, 1, 2]), (1, [3, 4, 5])]


def _ds(records: list[dict] | None, pid: np.ndarray | None = None) -> xr.Dataset:
    q = np.zeros((2, 2, 4))
    q[..., 0] = 1.0
    q[1, 1] = np.nan
    data = {"orientation": xr.DataArray(q, dims=("y", "x", "quaternion"),
                                        attrs={"phases": records} if records else {})}
    if pid is not None:
        data["phase_id"] = xr.DataArray(pid, dims=("y", "x"))
    return xr.Dataset(data)


FCC = {"id": 3, "name": "fcc", "lattice": [3.52, 3.52, 3.52, 90, 90, 90], "atoms": [{"element": "Ni", "xyz": [0, 0, 0]}]}
BCC = {"id": 1, "name": "bcc", "lattice": [2.87, 2.87, 2.87, 90, 90, 90], "atoms": [{"element": "Fe", "xyz": [0, 0, 0]}]}


def test_the_indexing_read_with_its_phases_in_id_order() -> None:
    valid = np.array([[True, True], [False, True]])
    ix = read_indexing(_ds([FCC, BCC], np.array([[3, 1], [3, 3]])), "orientation", valid, "s.zarr")
    assert [r["name"] for r in ix.records] == ["bcc", "fcc"] and ix.energies == [20.0, 20.0]
    # ids → positions; an invalid pixel and a NaN orientation: −1
    assert ix.phase_id.tolist() == [1, 0, -1, -1] and ix.sources == ["orientation", "phase_id"]
    assert ix.quaternions.shape == (4, 4)
    alone = read_indexing(_ds([{**FCC, "id": 0}]), "orientation", np.ones((2, 2), bool), "s.zarr")
    assert alone.phase_id.tolist() == [0, 0, 0, -1] and alone.sources == ["orientation"]  # no phase ids: phase 0


def test_an_indexing_the_method_cannot_read_is_one_line() -> None:
    valid = np.ones((2, 2), bool)
    with pytest.raises(StoreError, match=r"^s\.zarr: no orientation variable 'hough' in the store.*`method='lattice'` "
                                         r"reads them\), or give `var`$"):
        read_indexing(_ds([FCC]), "hough", valid, "s.zarr")
    with pytest.raises(StoreError, match=r"'orientation' keeps no phase list: run 'vaearr index STORE --phase fcc"):
        read_indexing(_ds(None), "orientation", valid, "s.zarr")
    with pytest.raises(StoreError, match=r"phase 'fcc' of 'orientation' has no structure \(lattice and atoms\)"):
        read_indexing(_ds([{**FCC, "atoms": []}]), "orientation", valid, "s.zarr")
