"""Inputs (``vaearr.store.inputs``): what an ingest reads carries the mark, and the one write path lets only an
ingest of it replace it (issue 63: ``phases --name patterns --overwrite`` replaced the map's patterns)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr.errors import StoreError
from vaearr.store import INGESTED, is_input, open_store, write_variables

pytest.importorskip("orix", reason="needs the 'ebsd' extra")


def _map(value: float = 0.0) -> xr.DataArray:
    return xr.DataArray(np.full((3, 4), value, np.float32), dims=("y", "x"),
                        coords={"y": np.arange(3.0), "x": np.arange(4.0)})


def test_the_write_path_refuses_to_replace_an_input_and_lets_its_ingest(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    write_variables(store, {"bandcontrast": _map(1.0), "iq": _map(2.0)}, source=["bc.csv"], inputs=["bandcontrast"])
    ds = open_store(store)
    assert is_input(ds, "bandcontrast") and not is_input(ds, "iq")
    before = tree_hash(store)
    for overwrite in (False, True):
        with pytest.raises(StoreError, match="'bandcontrast' is an input, read from bc.csv by an ingest: no command"):
            write_variables(store, {"bandcontrast": _map(3.0), "other": _map(3.0)}, overwrite=overwrite)
    assert tree_hash(store) == before
    write_variables(store, {"iq": _map(4.0)}, overwrite=True)  # a command's map: its command replaces it
    write_variables(store, {"bandcontrast": _map(5.0)}, overwrite=True, inputs=["bandcontrast"])  # read again
    ds = open_store(store)
    assert float(ds.bandcontrast[0, 0]) == 5.0 and float(ds.iq[0, 0]) == 4.0 and is_input(ds, "bandcontrast")


def test_a_map_made_from_an_input_with_its_attrs_is_no_input(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    write_variables(store, {"elements": _map(1.0)}, source=["el.csv"], inputs=["elements"])
    copied = open_store(store).elements * 2  # xarray keeps the attrs, the mark among them
    assert INGESTED in copied.attrs
    write_variables(store, {"doubled": copied})
    ds = open_store(store)
    assert INGESTED not in ds.doubled.attrs and not is_input(ds, "doubled")
    write_variables(store, {"doubled": copied}, overwrite=True)


def test_stores_from_before_the_mark_keep_their_ingested_variables(tmp_path: Path) -> None:
    """An ingest before the mark wrote the files it read in `source`; a command, the variables it read."""
    store = tmp_path / "s.zarr"
    write_variables(store, {"patterns": _map(1.0)}, source=["/data/scan.h5"])
    write_variables(store, {"bandcontrast": _map(1.0)}, source=["patterns"])  # a command's map of that name
    ds = open_store(store)
    assert INGESTED not in ds.patterns.attrs
    assert is_input(ds, "patterns") and not is_input(ds, "bandcontrast")
    with pytest.raises(StoreError, match="'patterns' is an input, read from /data/scan.h5"):
        write_variables(store, {"patterns": _map(2.0)}, overwrite=True)


def test_every_ingest_marks_what_it_read_and_not_what_it_made(map_master: Path, small_map, tmp_path: Path) -> None:
    """`ingest ebsd` (patterns, band contrast, elements, phase), `ingest tables` with a composite and `ingest
    orientations` with its maps: the variables read from the files are inputs, the composite and the maps are not."""
    from orix import io as orix_io

    from vaearr.io.bridge import to_crystal_map

    ds = open_store(map_master)
    for name in ("patterns", "bandcontrast", "elements", "phase"):
        assert ds[name].attrs.get(INGESTED), name
    assert not is_input(ds, "roi")
    store = tmp_path / "ni.zarr"
    shutil.copytree(map_master, store)
    cli("ingest", "tables", store, "--elements", small_map.elements, "--composite", "all", "--overwrite", check=True)
    rng = np.random.default_rng(0)
    q = rng.normal(size=(*ds.roi.shape, 4))
    oriented = xr.Dataset({"orientation": (("y", "x", "quaternion"), q / np.linalg.norm(q, axis=-1, keepdims=True),
                                           {"phases": [{"id": 0, "name": "ni", "point_group": "m-3m",
                                                        "space_group": 225, "lattice": None}]}),
                           "phase_id": (("y", "x"), np.zeros(ds.roi.shape, int))},
                          coords={"y": ds.y.values, "x": ds.x.values})
    orix_io.save(tmp_path / "map.ang", to_crystal_map(oriented))
    cli("ingest", "orientations", tmp_path / "map.ang", store, check=True)
    ds = open_store(store)
    assert is_input(ds, "elements") and not is_input(ds, "composite")
    assert is_input(ds, "orientation") and is_input(ds, "phase_id")
    assert json.loads(ds.orientation.attrs["source"]) == [str(tmp_path / "map.ang")]
    made = [n for n in map(str, ds.data_vars) if n.startswith("orientation_")]
    assert "orientation_ipf" in made and not any(is_input(ds, n) for n in made), made
    before = tree_hash(store)
    proc = cli("index", store, "--tilt", "70", "--pc", "0.4,0.2,0.5", "--overwrite")  # its default name: orientation
    assert proc.returncode == 2 and "'orientation' is an input" in proc.stderr, proc.stderr
    assert tree_hash(store) == before
    cli("orientation-maps", store, "--grain-angle", "10", check=True)  # the maps are made again (it replaces them)
