"""The ingest and export options (:mod:`vaearr.io.options`): their command-line parsers, their checks, and what
each hands the library (the reading options, the tables, a store's default name, a table export)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaearr.errors import InputError, OptionError
from vaearr.io.options import (
    ExportOptions,
    IngestEbsdOptions,
    IngestNiftiOptions,
    IngestOrientationsOptions,
    IngestTablesOptions,
    library_keywords,
)
from vaearr.options import parsed


def test_shapes_and_names_are_parsed_from_the_command_line() -> None:
    assert parsed(IngestEbsdOptions, {"scan_shape": "40x60"}) == {"scan_shape": (40, 60)}
    assert parsed(IngestEbsdOptions, {"scan_shape": [3, 4]}) == {"scan_shape": (3, 4)}
    assert parsed(IngestEbsdOptions, {"scan_shape": None}) == {"scan_shape": None}
    with pytest.raises(InputError, match="`scan_shape` must be 2 positive integers"):
        parsed(IngestEbsdOptions, {"scan_shape": "40x60x2"})
    assert parsed(IngestNiftiOptions, {"shape": "64x64x32"}) == {"shape": (64, 64, 32)}
    with pytest.raises(InputError, match="`shape` must be 3 positive integers"):
        parsed(IngestNiftiOptions, {"shape": "64x64"})
    assert parsed(ExportOptions, {"variables": " a, b ,,c"}) == {"variables": ["a", "b", "c"]}
    assert parsed(ExportOptions, {"variables": ("a",)}) == {"variables": ["a"]}


def test_the_ebsd_checks_and_its_reading_options() -> None:
    o = IngestEbsdOptions(src=Path("f.h5"), store="s.zarr", step=0.5, binning=2)
    o.check()
    assert o.read_options() == {"dataset": None, "x_dataset": "x", "y_dataset": "y", "scan_shape": None,
                                "step": 0.5, "crop": None, "binning": 2}
    given = IngestEbsdOptions(src=Path("f.h5"), store="s.zarr", coords_order="yx").read_options()
    assert given["coords_order"] == "yx" and "coords_units" not in given  # only where given: other layouts refuse them
    with pytest.raises(OptionError, match="binning must be at least 1, got 0"):
        IngestEbsdOptions(src=Path("f.h5"), store="s.zarr", binning=0).check()


def test_library_keywords_leave_out_what_the_command_takes_itself() -> None:
    o = IngestOrientationsOptions(src=Path("m.ang"))
    kw = library_keywords(o)
    assert "src" not in kw and "store" not in kw and kw["name"] == "orientation" and kw["grain_angle"] == 5.0
    assert set(library_keywords(o, skip=())) >= {"src", "store"}


def test_an_orientation_map_goes_to_a_store_of_its_name_by_default() -> None:
    assert IngestOrientationsOptions(src=Path("data/scan 1.ang")).target() == str(Path("stores") / "scan 1.zarr")
    assert IngestOrientationsOptions(src=Path("m.ctf"), store="s3://b/m.zarr").target() == "s3://b/m.zarr"


def test_the_tables_options() -> None:
    o = IngestTablesOptions(store="s.zarr", elements=Path("e.csv"), composite="Ni,Cr")
    o.check()
    tables = o.tables()
    assert tables["elements"] == Path("e.csv") and not {"store", "composite", "composite_rgb", "composite_mask"} & set(tables)
    with pytest.raises(InputError, match="`composite_mask` needs `composite` or `composite_rgb`"):
        IngestTablesOptions(store="s.zarr", composite_mask="roi").check()


@pytest.mark.parametrize(("out", "variables", "table"), [
    ("map.csv", None, True), ("MAP.CSV", None, True), ("map.ang", None, False), ("map.h5", ["roi"], True),
])
def test_an_export_is_a_table_by_its_suffix_or_its_variables(out, variables, table) -> None:
    assert ExportOptions(store="s.zarr", out=Path(out), variables=variables).table() is table
