"""A store's detector (:mod:`vaearr.io.detector`): the projection centre found in the order the module promises, a
given PC over the store's, the stated default, what an ingest keeps, and the ``pc='store'`` refusal."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import OptionError, StoreError
from vaearr.io.detector import (
    DEFAULT_PC,
    DEFAULT_SOURCE,
    Detector,
    command_detector,
    detector_attrs,
    store_detector,
)


def _store(pattern_attrs: dict | None = None, **variables) -> xr.Dataset:
    ds = xr.Dataset({"patterns": (("y", "x", "py", "px"), np.zeros((1, 2, 3, 4), np.uint8), pattern_attrs or {})})
    for name, attrs in variables.items():
        ds[name] = xr.DataArray(np.zeros((1, 2)), dims=("y", "x"), attrs=attrs)
    return ds


class Owner:
    """Stands for the options class a command's errors name."""


def test_without_a_pc_the_default_is_stated() -> None:
    d = store_detector(_store())
    assert d == Detector(DEFAULT_PC, (3, 4), 70.0, 0.0, DEFAULT_SOURCE) and d.is_default
    assert d.said() == f"projection centre 0.5/0.3/0.6 (Bruker) from {DEFAULT_SOURCE}"
    assert store_detector(_store(), default=False) is None
    assert store_detector(_store(), sample_tilt=60).sample_tilt == 60.0


def test_the_patterns_own_pc_comes_first_and_its_attrs_round_trip() -> None:
    ds = _store({"pc": [0.4, 0.2, 0.55], "sample_tilt": 68.0, "detector_tilt": 3.0, "pc_source": "ingest"},
                orientation={"detector": {"pc_bruker": [0.1, 0.1, 0.1]}})
    d = store_detector(ds)
    assert (d.pc, d.sample_tilt, d.detector_tilt, d.source, d.is_default) == ((0.4, 0.2, 0.55), 68.0, 3.0, "ingest", False)
    assert d.attrs() == {"pc": [0.4, 0.2, 0.55], "pc_convention": "bruker", "sample_tilt": 68.0, "detector_tilt": 3.0,
                         "detector_shape": [3, 4], "pc_source": "ingest"}
    # a PC of another convention on the patterns is not read as Bruker
    assert store_detector(_store({"pc": [0.4, 0.2, 0.55], "pc_convention": "tsl"})).is_default


def test_then_an_indexed_map_preferred_then_the_vendor_file_then_the_simulation() -> None:
    ds = _store(a={"detector": {"pc_bruker": [0.1, 0.2, 0.3], "sample_tilt": 65}},
                b={"detector": {"pc_bruker": [0.4, 0.5, 0.6]}})
    assert store_detector(ds).source == "'a' (vaearr index)" and store_detector(ds).sample_tilt == 65.0
    assert store_detector(ds, prefer="b").pc == (0.4, 0.5, 0.6)
    vendor = _store({"detector_pc": [0.3, 0.3, 0.3], "detector_sample_tilt": 69.5})
    assert (store_detector(vendor).source, store_detector(vendor).sample_tilt) == ("the patterns' vendor file", 69.5)
    sim = _store()
    sim.attrs["science_map"] = {"pc": [0.42, 0.21, 0.5], "sample_tilt": "not a number"}
    assert (store_detector(sim).pc, store_detector(sim).sample_tilt) == ((0.42, 0.21, 0.5), 70.0)
    broken = _store({"pc": [0.4, float("nan"), 0.5]}, a={"detector": {"pc_bruker": "x"}})
    assert store_detector(broken).is_default  # what is not three finite numbers is no PC


def test_a_given_pc_wins_and_keeps_the_stores_tilt() -> None:
    ds = _store({"pc": [0.4, 0.2, 0.55], "sample_tilt": 68.0})
    d = store_detector(ds, (0.5, 0.5, 0.5))
    assert (d.pc, d.sample_tilt, d.source) == ((0.5, 0.5, 0.5), 68.0, "given")
    assert store_detector(_store(), (0.5, 0.5, 0.5), sample_tilt=72).sample_tilt == 72.0


def test_what_an_ingest_keeps() -> None:
    assert detector_attrs({}, None, None, "f.h5") == {}
    assert detector_attrs({}, "0.4,0.2,0.5", None, "f.h5") == {
        "pc": [0.4, 0.2, 0.5], "pc_convention": "bruker", "sample_tilt": 70.0, "pc_source": "given at ingest of f.h5"}
    vendor = detector_attrs({"detector_pc": [0.3, 0.3, 0.6], "detector_sample_tilt": 69.0}, None, None, "f.h5")
    assert vendor == {"pc": [0.3, 0.3, 0.6], "pc_convention": "bruker", "sample_tilt": 69.0,
                      "pc_source": "the vendor file f.h5"}
    plain = detector_attrs({"pc": [0.3, 0.3, 0.6], "sample_tilt": 60}, None, None, "f.h5")
    assert plain["pc_source"] == "the file f.h5" and plain["sample_tilt"] == 60.0
    with pytest.raises(OptionError, match="pc"):
        detector_attrs({}, "0.4,0.2,2", None, "f.h5")


def test_a_commands_pc_given_from_the_store_or_refused() -> None:
    kept = _store({"pc": [0.4, 0.2, 0.55]})
    assert command_detector(kept, "0.5,0.5,0.5", Owner, "s.zarr").source == "given"
    assert command_detector(kept, "store", Owner, "s.zarr").pc == (0.4, 0.2, 0.55)
    assert command_detector(_store(), None, Owner, "s.zarr").is_default
    with pytest.raises(StoreError, match=r"s.zarr: the store keeps no projection centre \(`pc='store'` refuses"):
        command_detector(_store(), "store", Owner, "s.zarr")
    with pytest.raises(OptionError, match="takes three numbers X,Y,Z"):
        command_detector(kept, "a,b,c", Owner, "s.zarr")
