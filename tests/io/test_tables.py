"""Tests for vaearr.io.tables: CSV tables aligned to a scan grid by coordinate.

Data: a small demo map from vaearr.data.build_demo_map (Ni patterns simulated from kikuchipy's
master pattern; band contrast computed from them; element maps DERIVED from the grain ids, a
stand-in for EDS; phase "notindexed" in the pore). Its CSVs come with shuffled rows, as real
exports sometimes do.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.helpers import tree_hash
from vaearr.errors import InputError, StoreError
from vaearr.io.grid import infer_grid
from vaearr.io.tables import ingest_tables, read_table, read_tables
from vaearr.store import open_store, write_variables

STEP = 0.5
SHAPE = (12, 16)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    pytest.importorskip("kikuchipy", reason="the demo map needs the 'ebsd' extra")
    from vaearr.data import build_demo_map

    return build_demo_map(tmp_path_factory.mktemp("demo"), shape=SHAPE, pattern_shape=(16, 16),
                          n_grains=4, step=STEP, seed=3)


@pytest.fixture(scope="module")
def grid(demo):
    import h5py

    with h5py.File(demo.patterns, "r") as f:
        x, y = f["x"][:], f["y"][:]
    return np.unique(x), np.unique(y)


def _pivot(csv: Path, col: str) -> np.ndarray:
    """The CSV as a (y, x) image, by an independent route (pandas pivot on the coordinates)."""
    df = pd.read_csv(csv)
    return df.pivot(index="y", columns="x", values=col).sort_index().sort_index(axis=1).to_numpy()


def _grid_store(path: Path, grid, **group_attrs) -> Path:
    gx, gy = grid
    truth = xr.DataArray(np.zeros((gy.size, gx.size), np.int32), dims=("y", "x"), coords={"y": gy, "x": gx})
    write_variables(path, {"grain_truth": truth}, source="test", group_attrs=group_attrs or {"grid_kind": "square"})
    return path


def _same(a: xr.DataArray, b: xr.DataArray) -> None:
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))
    assert {k: v for k, v in a.attrs.items() if k != "file"} == {k: v for k, v in b.attrs.items() if k != "file"}


# --------------------------------------------------------------------------------------------
# alignment


def test_bandcontrast_aligned_by_coordinate(demo, grid):
    gx, gy = grid
    da = read_table(demo.bandcontrast, "bandcontrast", grid_x=gx, grid_y=gy)
    assert da.name == "bandcontrast" and da.dims == ("y", "x") and da.dtype == np.float32
    assert da.shape == SHAPE
    np.testing.assert_array_equal(da.values, _pivot(demo.bandcontrast, "bandcontrast"))
    np.testing.assert_array_equal(da.x.values, gx)
    # the pore (noise patterns) has lower band contrast than the grains
    bad = np.load(demo.bad)
    assert da.values[bad].mean() < da.values[~bad].mean()


def test_any_row_order_gives_identical_arrays(demo, grid, tmp_path):
    gx, gy = grid
    ref = {k: read_table(getattr(demo, k), k, grid_x=gx, grid_y=gy) for k in ("bandcontrast", "elements", "phase")}
    for k in ref:
        df = pd.read_csv(getattr(demo, k))
        for i, order in enumerate([df.sort_values(["y", "x"]), df.sort_values(["x", "y"], ascending=False),
                                   df.sample(frac=1, random_state=7)]):
            p = tmp_path / f"{k}_{i}.csv"
            order.to_csv(p, index=False)
            _same(read_table(p, k, grid_x=gx, grid_y=gy), ref[k])


def test_float_noise_within_tolerance_aligns(demo, grid, tmp_path):
    gx, gy = grid
    df = pd.read_csv(demo.bandcontrast)
    rng = np.random.default_rng(0)
    df["x"] += rng.uniform(-0.02, 0.02, len(df)) * STEP
    df["y"] += rng.uniform(-0.02, 0.02, len(df)) * STEP
    p = tmp_path / "noisy.csv"
    df.to_csv(p, index=False)
    noisy = read_table(p, "bandcontrast", grid_x=gx, grid_y=gy)
    np.testing.assert_array_equal(noisy.values, read_table(demo.bandcontrast, "bandcontrast", grid_x=gx, grid_y=gy).values)
    np.testing.assert_array_equal(noisy.x.values, gx)  # the grid's coordinates, not the noisy ones
    # a tighter tolerance than the noise: off-grid
    with pytest.raises(InputError, match="off-grid"):
        read_table(p, "bandcontrast", grid_x=gx, grid_y=gy, tol=1e-4)


def test_missing_pixels_are_nan_with_a_warning(demo, grid, tmp_path):
    gx, gy = grid
    df = pd.read_csv(demo.elements)
    dropped = df.iloc[[3, 50, 99, 120, 191]]
    p = tmp_path / "el.csv"
    df.drop(index=dropped.index).to_csv(p, index=False)
    with pytest.warns(UserWarning, match=r"el\.csv: 5 of 192 grid nodes have no row"):
        da = read_table(p, "elements", grid_x=gx, grid_y=gy)
    iy = np.searchsorted(gy, dropped["y"].to_numpy())
    ix = np.searchsorted(gx, dropped["x"].to_numpy())
    assert np.isnan(da.values[:, iy, ix]).all()
    full = read_table(demo.elements, "elements", grid_x=gx, grid_y=gy).values
    keep = np.ones(SHAPE, bool)
    keep[iy, ix] = False
    np.testing.assert_array_equal(da.values[:, keep], full[:, keep])

    ph = pd.read_csv(demo.phase).drop(index=[0, 1])
    ph.to_csv(tmp_path / "ph.csv", index=False)
    with pytest.warns(UserWarning, match="2 of 192"):
        phase = read_table(tmp_path / "ph.csv", "phase", grid_x=gx, grid_y=gy)
    assert (phase.values == -1).sum() == 2


def test_header_variants_and_separators(demo, grid, tmp_path):
    gx, gy = grid
    ref = read_table(demo.bandcontrast, "bandcontrast", grid_x=gx, grid_y=gy)
    df = pd.read_csv(demo.bandcontrast)
    df["bandcontrast"] = df["bandcontrast"] + 0.25  # so the decimal comma matters
    variants = {
        "semicolon.csv": (["X", "Y", "Band Contrast"], dict(sep=";", decimal=",")),
        "tab.tsv": (["x (µm)", "y (µm)", "BC"], dict(sep="\t")),
        "comma.csv": (["X", "y", "band_contrast"], dict(sep=",")),
    }
    for name, (header, kw) in variants.items():
        p = tmp_path / name
        df.set_axis(header, axis=1).to_csv(p, index=False, **kw)
        da = read_table(p, "bandcontrast", grid_x=gx, grid_y=gy)
        np.testing.assert_array_equal(da.values, ref.values + np.float32(0.25), err_msg=name)
    # a comment line before the header is skipped
    p = tmp_path / "commented.csv"
    p.write_text("# exported by AZtec\n" + demo.bandcontrast.read_text())
    np.testing.assert_array_equal(read_table(p, "bandcontrast", grid_x=gx, grid_y=gy).values, ref.values)


def test_elements_names_from_header(demo, grid):
    gx, gy = grid
    da = read_table(demo.elements, "elements", grid_x=gx, grid_y=gy)
    assert da.dims == ("element", "y", "x") and da.dtype == np.float32
    assert da.element.values.tolist() == ["Ni", "Cr", "Fe"]
    for el in ("Ni", "Cr", "Fe"):
        np.testing.assert_array_equal(da.sel(element=el).values, _pivot(demo.elements, el).astype(np.float32))
    # derived from grain ids: the composition differs between grains far more than within one
    grains = np.load(demo.grains)
    ni = da.sel(element="Ni").values
    means = [ni[grains == g].mean() for g in np.unique(grains)]
    assert np.ptp(means) > 0


def test_phase_categorical_round_trip(demo, grid, tmp_path):
    gx, gy = grid
    da = read_table(demo.phase, "phase", grid_x=gx, grid_y=gy)
    assert da.dtype == np.int16 and da.dims == ("y", "x")
    names = json.loads(da.attrs["categories"])
    assert names == ["Ni", "notindexed"]
    assert da.attrs["flag_values"] == [0, 1] and da.attrs["flag_meanings"] == "Ni notindexed"
    decoded = np.array(names, dtype=object)[da.values]
    np.testing.assert_array_equal(decoded, _pivot(demo.phase, "phase"))
    np.testing.assert_array_equal(decoded == "notindexed", np.load(demo.bad))

    # names with spaces; integer phase ids are kept as the codes
    p = tmp_path / "ph.csv"
    p.write_text("x,y,Phase Name\n0,0,Nickel alpha\n0.5,0,Zero solutions\n1,0,\n")
    ph = read_table(p, "phase", grid_x=np.array([0.0, 0.5, 1.0]), grid_y=np.array([0.0]))
    assert ph.values.tolist() == [[0, 1, -1]]
    assert ph.attrs["flag_meanings"] == "Nickel_alpha Zero_solutions"
    assert json.loads(ph.attrs["categories"]) == ["Nickel alpha", "Zero solutions"]
    p.write_text("x,y,phase\n0,0,3\n0.5,0,0\n1,0,3\n")
    ph = read_table(p, "phase", grid_x=np.array([0.0, 0.5, 1.0]), grid_y=np.array([0.0]))
    assert ph.values.tolist() == [[3, 0, 3]] and ph.attrs["flag_values"] == [0, 3]


# --------------------------------------------------------------------------------------------
# into a store


def test_ingest_tables_one_transaction(demo, grid, tmp_path):
    store = _grid_store(tmp_path / "s.zarr", grid)
    ds = ingest_tables(store, bandcontrast=demo.bandcontrast, elements=demo.elements, phase=demo.phase)
    assert set(ds.data_vars) == {"bandcontrast", "elements", "phase"}
    full = open_store(store)
    np.testing.assert_array_equal(full.bandcontrast.values, _pivot(demo.bandcontrast, "bandcontrast"))
    assert full.element.values.tolist() == ["Ni", "Cr", "Fe"]
    assert json.loads(full.phase.attrs["categories"]) == ["Ni", "notindexed"]
    assert full.phase.attrs["flag_values"] == [0, 1]
    # one write: every variable carries every source file and the same creation stamp
    srcs = {v: json.loads(full[v].attrs["source"]) for v in ds.data_vars}
    assert all(s == [str(demo.bandcontrast), str(demo.elements), str(demo.phase)] for s in srcs.values())
    assert full.bandcontrast.attrs["file"] == str(demo.bandcontrast.resolve())

    before = tree_hash(store)
    with pytest.raises(StoreError, match="exist"):
        ingest_tables(store, bandcontrast=demo.bandcontrast)
    assert tree_hash(store) == before
    df = pd.read_csv(demo.bandcontrast)
    df["bandcontrast"] = 1.0
    df.to_csv(tmp_path / "ones.csv", index=False)
    ingest_tables(store, bandcontrast=tmp_path / "ones.csv", overwrite=True)
    assert (open_store(store).bandcontrast.values == 1).all()


def _bad_files(demo, d: Path) -> dict[str, tuple[str, Path, str]]:
    df = pd.read_csv(demo.bandcontrast)
    out = {}

    def w(name, text):
        p = d / name
        p.write_text(text)
        return p

    bad = df.astype({"bandcontrast": object})
    bad.loc[7, "bandcontrast"] = "n/a?"
    out["non-numeric"] = ("bandcontrast", w("nonnum.csv", bad.to_csv(index=False)),
                          r"column 'bandcontrast' is not numeric: 'n/a\?' in row 8")
    dup = pd.concat([df, df.iloc[[5]]])
    out["duplicated"] = ("bandcontrast", w("dup.csv", dup.to_csv(index=False)), "duplicated coordinate")
    off = df.copy()
    off.loc[4, "x"] += 0.3 * STEP
    out["off-grid"] = ("bandcontrast", w("off.csv", off.to_csv(index=False)), r"off-grid coordinate .*\(row 5\)")
    outside = df.copy()
    outside.loc[2, "y"] = 100.0
    out["outside"] = ("bandcontrast", w("outside.csv", outside.to_csv(index=False)), "outside the scan")
    out["missing column"] = ("bandcontrast", w("cols.csv", df.rename(columns={"bandcontrast": "iq"}).to_csv(index=False)),
                             r"missing column\(s\) 'bandcontrast'.*found columns: 'x', 'y', 'iq'")
    out["missing x"] = ("phase", w("nox.csv", "col,y,phase\n0,0,Ni\n"), r"missing column\(s\) 'x'.*found columns: 'col'")
    out["no elements"] = ("elements", w("noel.csv", "x,y\n0,0\n"), "missing element columns")
    out["empty"] = ("bandcontrast", w("empty.csv", ""), "empty file")
    out["header only"] = ("bandcontrast", w("header.csv", "x,y,bandcontrast\n"), "no data rows")
    return out


def test_errors_name_the_file_and_leave_the_store_unchanged(demo, grid, tmp_path):
    store = _grid_store(tmp_path / "s.zarr", grid)
    ingest_tables(store, elements=demo.elements)
    before = tree_hash(store)
    for case, (kind, path, pattern) in _bad_files(demo, tmp_path).items():
        # a good file given beside the bad one is not written either
        extra = {"phase": demo.phase} if kind != "phase" else {"bandcontrast": demo.bandcontrast}
        with pytest.raises(InputError, match=pattern) as err:
            ingest_tables(store, **{kind: path}, **extra, overwrite=True)
        assert str(err.value).startswith(str(path)), case
        assert "\n" not in str(err.value), case
        assert tree_hash(store) == before, case


def test_read_tables_needs_a_table(grid):
    with pytest.raises(ValueError, match="at least one table"):
        read_tables(*grid)


def test_store_without_grid(tmp_path, demo):
    store = tmp_path / "img.zarr"
    write_variables(store, {"images": xr.DataArray(np.zeros((2, 3, 3)), dims=("sample", "row", "col"))})
    with pytest.raises(StoreError, match="no 'y' scan coordinate"):
        ingest_tables(store, bandcontrast=demo.bandcontrast)


@pytest.mark.parametrize("attr", ["grid_kind", "grid"])  # the EBSD ingest writes "grid"
def test_hexagonal_csv_assembled_with_warning(tmp_path, attr):
    # a hexagonal scan: odd rows shifted by half a step, rows √3/2 steps apart
    step = 1.0
    rows, cols = 9, 12
    pts = [(ix * step + (iy % 2) * step / 2, round(iy * step * np.sqrt(3) / 2, 6))
           for iy in range(rows) for ix in range(cols)]
    x, y = map(np.array, zip(*pts))
    with pytest.warns(UserWarning, match="hexagonal"):
        g = infer_grid(x, y)
    assert g.kind == "hexagonal"
    store = tmp_path / "hex.zarr"
    truth = xr.DataArray(np.zeros(g.shape, np.int32), dims=("y", "x"), coords={"y": g.y, "x": g.x})
    write_variables(store, {"grain_truth": truth}, group_attrs={attr: "hexagonal"})
    bc = np.arange(x.size, dtype=float) * 2 + 1
    order = np.random.default_rng(1).permutation(x.size)
    pd.DataFrame({"x": x[order], "y": y[order], "bandcontrast": bc[order]}).to_csv(tmp_path / "hex.csv", index=False)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ingest_tables(store, bandcontrast=tmp_path / "hex.csv")
    assert any("hexagonal" in str(w.message) or "non-square" in str(w.message) for w in rec)
    out = open_store(store).bandcontrast.values
    # each node holds the value of the point infer_grid assigned to it (the same nearest rule)
    np.testing.assert_array_equal(out[g.index >= 0], bc[g.index[g.index >= 0]])
    assert np.isnan(out[g.index < 0]).all()


@pytest.mark.slow
def test_million_row_csv_reads_in_seconds(tmp_path):
    import time

    gx = np.round(np.arange(1000) * 0.1, 9)
    X, Y = np.meshgrid(gx, gx)
    v = np.random.default_rng(0).random(X.size).astype(np.float32)
    order = np.random.default_rng(1).permutation(X.size)
    p = tmp_path / "big.csv"
    pd.DataFrame({"x": X.ravel()[order], "y": Y.ravel()[order], "bandcontrast": v[order]}).to_csv(p, index=False)
    t = time.perf_counter()
    da = read_table(p, "bandcontrast", grid_x=gx, grid_y=gx)
    assert time.perf_counter() - t < 30
    np.testing.assert_allclose(da.values.ravel(), v, rtol=1e-6)
