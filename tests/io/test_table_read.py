"""One per-pixel CSV table onto a known scan grid (:mod:`vaearr.io.table_read`): headers matched by name and unit,
separators and decimal commas sniffed, each kind's variable (band contrast, elements, phase codes, weights), scan
indices, nodes without a row, and the one-line errors naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaearr.errors import InputError, VaearrWarning
from vaearr.io.table_read import read_table

GX, GY = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5])


def _csv(tmp_path, text: str, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _read(path, kind, **kw):
    return read_table(path, kind, grid_x=GX, grid_y=GY, **kw)


ROWS = [(1.0, 0.5, 6), (0.0, 0.0, 1), (0.5, 0.0, 2), (1.0, 0.0, 3), (0.0, 0.5, 4), (0.5, 0.5, 5)]


@pytest.mark.parametrize(("header", "sep", "fmt"), [
    ("x,y,bandcontrast", ",", "{}"), ("X (µm);Y [um];BC", ";", "{}"), ("# comment\n\nXPos\tYPos\tBand Contrast", "\t", "{}"),
    ("x;y;bc", ";", "{},25"),  # European: decimal commas in a ';' file
])
def test_band_contrast_in_any_spelling_and_row_order(tmp_path, header, sep, fmt) -> None:
    body = "\n".join(sep.join([str(x).replace(".", ",") if "," in fmt else str(x),
                               str(y).replace(".", ",") if "," in fmt else str(y), fmt.format(v)]) for x, y, v in ROWS)
    bc = _read(_csv(tmp_path, f"{header}\n{body}\n"), "bandcontrast")
    want = np.arange(1, 7).reshape(2, 3) + (0.25 if "," in fmt else 0)
    np.testing.assert_allclose(bc.values, want)
    assert bc.dtype == np.float32
    assert bc.dims == ("y", "x") and bc.attrs["xy_units"] == "µm"


def test_elements_phase_and_weights(tmp_path) -> None:
    el = _read(_csv(tmp_path, "x,y, Ni ,Cr\n" + "\n".join(f"{x},{y},{v},{10 * v}" for x, y, v in ROWS) + "\n"),
               "elements")
    assert el.dims == ("element", "y", "x") and el.element.values.tolist() == ["Ni", "Cr"]
    np.testing.assert_array_equal(el.sel(element="Cr").values, 10 * np.arange(1, 7).reshape(2, 3))
    ph = _read(_csv(tmp_path, "x,y,phase\n" + "\n".join(f"{x},{y},{'Ni fcc' if v % 2 else 'Fe'}" for x, y, v in ROWS)
                    + "\n"), "phase")
    assert ph.dtype == np.int16 and json.loads(ph.attrs["categories"]) == ["Fe", "Ni fcc"]  # sorted: codes by name
    assert ph.values.tolist() == [[1, 0, 1], [0, 1, 0]] and ph.attrs["flag_meanings"] == "Fe Ni_fcc"
    ids = _read(_csv(tmp_path, "x,y,phase_id\n" + "\n".join(f"{x},{y},{v * 3}" for x, y, v in ROWS) + "\n"), "phase")
    assert ids.values.tolist() == [[3, 6, 9], [12, 15, 18]] and ids.attrs["flag_values"] == [3, 6, 9, 12, 15, 18]
    w = _read(_csv(tmp_path, "x,y,PCA_2,PCA_1\n" + "\n".join(f"{x},{y},{v},{-v}" for x, y, v in ROWS) + "\n"),
              "pca_weights")
    assert w.dims == ("y", "x", "pca_component") and w.attrs["columns"] == ["PCA_1", "PCA_2"]
    np.testing.assert_array_equal(w.values[..., 0], -np.arange(1, 7).reshape(2, 3))


def test_missing_rows_are_nodata_with_a_warning(tmp_path) -> None:
    with pytest.warns(VaearrWarning, match=r"t.csv: 2 of 6 grid nodes have no row in this phase table; they are -1"):
        ph = _read(_csv(tmp_path, "x,y,phase\n0,0,Ni\n0.5,0,\n1,0,Fe\n0,0.5,Ni\n"), "phase")
    assert ph.values.tolist() == [[1, -1, 0], [1, -1, -1]]
    with pytest.warns(VaearrWarning, match="they are NaN"):
        bc = _read(_csv(tmp_path, "x,y,bc\n0,0,1\n0.5,0,NA\n"), "bandcontrast")
    assert np.isnan(bc.values).sum() == 5


def test_scan_indices_become_coordinates(tmp_path) -> None:
    idx = _csv(tmp_path, "x_indice,y_indice,phase\n" + "\n".join(f"{int(x * 2)},{int(y * 2)},1" for x, y, _ in ROWS) + "\n")
    ph = _read(idx, "phase")
    assert ph.attrs["xy_units"] == "index" and ph.attrs["step"] == [0.5, 0.5] and (ph.values == 1).all()
    plain = _csv(tmp_path, "x,y,bc\n" + "\n".join(f"{int(x * 2)},{int(y * 2)},{v}" for x, y, v in ROWS) + "\n", "p.csv")
    np.testing.assert_array_equal(_read(plain, "bandcontrast", xy_units="index").values, np.arange(1, 7).reshape(2, 3))
    frac = _csv(tmp_path, "x_indice,y_indice,phase\n0.5,0,1\n", "f.csv")
    with pytest.raises(InputError, match=r"column 'x_indice' holds 0.5 in row 1: not a whole number"):
        _read(frac, "phase")
    with pytest.raises(InputError, match="`xy_units` must be auto, index or um, got 'mm'"):
        _read(plain, "bandcontrast", xy_units="mm")


@pytest.mark.parametrize(("text", "kind", "words"), [
    ("", "bandcontrast", "empty file (no header and no rows)"),
    ("x,y,bc\n", "bandcontrast", "no data rows under the header (x, y, bc)"),
    ("x,y,quality\n0,0,1\n", "bandcontrast", "missing column(s) 'bandcontrast' for a bandcontrast table (expected e.g. "
                                             "'x,y,bandcontrast'); found columns: 'x', 'y', 'quality'"),
    ("a,b,bc\n0,0,1\n", "bandcontrast", "missing column(s) 'x', 'y' (or scan indices x_indice, y_indice)"),
    ("x,y\n0,0\n", "elements", "missing element columns for a elements table"),
    ("x,y,Ni,Ni\n0,0,1,2\n", "elements", "element column(s) ['Ni'] appear more than once in the header"),
    ("x,y_indice,bc\n0,0,1\n", "bandcontrast", "x/y columns mix a coordinate ('x') and an index ('y_indice')"),
    ("x,y,bc\n0,0,high\n0.5,0,3\n", "bandcontrast", "column 'bc' is not numeric: 'high' in row 1 (1 such row)"),
    ("x,y,bc\n0,0,1\n0,0,2\n", "bandcontrast", "duplicated coordinate x=0, y=0 (rows 1 and 2)"),
    ("x,y,bc\n0.25,0,1\n", "bandcontrast", "off-grid coordinate x=0.25, y=0 (row 1) is between grid nodes"),
])
def test_a_table_that_does_not_fit_is_one_line_naming_the_file(tmp_path, text, kind, words) -> None:
    with pytest.raises(InputError, match="t.csv") as err:
        _read(_csv(tmp_path, text), kind)
    assert words in str(err.value)


def test_what_is_not_a_csv_file(tmp_path) -> None:
    with pytest.raises(InputError, match="none.csv: no such file"):
        _read(tmp_path / "none.csv", "phase")
    with pytest.raises(InputError, match="is a folder, not a CSV file"):
        _read(tmp_path, "phase")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x00x,y,bc\n0,0,1\n")
    with pytest.raises(InputError, match="holds NUL bytes"):
        _read(tmp_path / "bin.csv", "bandcontrast")
    (tmp_path / "l1.csv").write_bytes(b"x,y,bc\n\xff\xfe,1,2\n")
    with pytest.raises(InputError, match=r"is not a text \(UTF-8\) CSV file"):
        _read(tmp_path / "l1.csv", "bandcontrast")
    with pytest.raises(ValueError, match="kind must be one of"):
        _read(tmp_path / "l1.csv", "texture")
