"""Inputs and outputs of the EBSD scripts (Angelamer/microstructural_segmentation, branch vae).

1. HDF5 image sets ``/images (N, 1, H, W)`` + ``/coords (N, 2)`` → a map store (real .h5 files
   written with h5py from kikuchipy's shipped Ni patterns).
2. Band-contrast ROI as the scripts made it: keep-below, top percent, pixel-index ranges, a
   histogram with a chosen bin width, row profiles.
3. Phase / element / band-contrast CSVs with the scripts' headers, and the element composite
   as a ``rank`` reference.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, coins_bandcontrast, tree_hash
from vaearr.errors import InputError, StoreError, VaearrError
from vaearr.store import open_store, write_variables


def cli_error(*args) -> str:
    """Run ``vaearr ARGS`` in this process (fast) and return the one-line error it stops with."""
    from typer.testing import CliRunner

    from vaearr.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    assert isinstance(res.exception, VaearrError), (args, res.output, res.exception)
    msg = str(res.exception)
    assert "\n" not in msg, msg
    return msg

# --------------------------------------------------------------------------------------------
# 1. /images + /coords


@pytest.fixture(scope="module")
def ni() -> np.ndarray:
    """kikuchipy's real Ni scan, 3×3 × 60×60 uint8, cut to 2 rows × 3 columns (not square)."""
    kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    return np.asarray(kp.data.nickel_ebsd_small().data)[:2]


def _write_image_set(path: Path, ni: np.ndarray, *, order: str = "xy", channel: bool = True, gzip: bool = True,
                     coords: np.ndarray | None = None, dtype=None, seed: int = 0) -> np.ndarray:
    """The scripts' layout, rows shuffled; returns the [x, y] index of each row."""
    ny, nx = ni.shape[:2]
    iy, ix = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    perm = np.random.default_rng(seed).permutation(ny * nx)
    images = ni.reshape(ny * nx, *ni.shape[2:])[perm]
    if channel:
        images = images[:, None]
    xy = np.stack([ix.ravel(), iy.ravel()], axis=1)[perm].astype(np.int32)
    with h5py.File(path, "w") as f:
        kw = dict(chunks=(2, *images.shape[1:]), compression="gzip") if gzip else {}
        f.create_dataset("images", data=images if dtype is None else images.astype(dtype), **kw)
        f.create_dataset("coords", data=(xy if order == "xy" else xy[:, ::-1]) if coords is None else coords)
    return xy


@pytest.mark.parametrize("channel,gzip,dtype", [(True, True, None), (False, False, np.float32)],
                         ids=["N1HW-uint8-gzip", "NHW-float32-contiguous"])
def test_image_set_lands_at_the_right_yx(tmp_path, ni, channel, gzip, dtype):
    src = tmp_path / "set.h5"
    _write_image_set(src, ni, channel=channel, gzip=gzip, dtype=dtype)
    store = tmp_path / "s.zarr"
    proc = cli("ingest", "ebsd", src, store, check=True)
    assert "/coords read as [x, y] (column 0 = x)" in proc.stdout and "scan indices × step 1 µm" in proc.stdout
    ds = open_store(store)
    assert ds.patterns.dims == ("y", "x", "py", "px") and ds.patterns.shape == (2, 3, 60, 60)
    np.testing.assert_array_equal(ds.x.values, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(ds.y.values, [0.0, 1.0])
    np.testing.assert_array_equal(ds.patterns.values, ni if dtype is None else ni.astype(dtype))
    a = ds.patterns.attrs
    assert a["coords_order"] == "xy" and a["coords_units"] == "index" and "default" in a["step_source"]
    assert "read as [x, y]" in a["coords_note"]
    # the note names the option as a keyword (read in Python), the command line said its flag
    assert "give `step` for the real one" in a["coords_note"] and "give --step for the real one" in proc.stdout


def test_image_set_yx_order_step_and_micrometres(tmp_path, ni):
    # [y, x] columns, told so; the real step given for the indices
    src = tmp_path / "yx.h5"
    _write_image_set(src, ni, order="yx")
    store = tmp_path / "yx.zarr"
    proc = cli("ingest", "ebsd", src, store, "--coords-order", "yx", "--step", "0.05", check=True)
    assert "read as [y, x] (column 0 = y)" in proc.stdout and "step 0.05 µm" in proc.stdout
    ds = open_store(store)
    np.testing.assert_allclose(ds.x.values, [0.0, 0.05, 0.1])
    np.testing.assert_array_equal(ds.patterns.values, ni)
    assert ds.attrs["step"] == [0.05, 0.05]
    # coordinates in µm (not whole numbers): read as µm, the step found from them
    from vaearr.io.ebsd import read_ebsd

    ny, nx = ni.shape[:2]
    iy, ix = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    um = np.stack([ix.ravel() * 1.5 + 0.25, iy.ravel() * 1.5 + 0.25], 1)
    src2 = tmp_path / "um.h5"
    _write_image_set(src2, ni, coords=um[np.random.default_rng(0).permutation(ny * nx)])
    p = read_ebsd(src2)
    assert p.attrs["coords_units"] == "µm" and p.attrs["step_x"] == 1.5
    np.testing.assert_allclose(p.x.values, [0.25, 1.75, 3.25])
    np.testing.assert_array_equal(p.values, ni)


def test_image_set_with_missing_rows_fills_zeros(tmp_path, ni):
    # the scripts' filtered datasets hold only part of the scan
    src = tmp_path / "part.h5"
    ny, nx = ni.shape[:2]
    keep = [0, 1, 2, 4]  # scan positions (row-major) kept: (0,0) (0,1) (0,2) (1,1)
    xy = np.array([[k % nx, k // nx] for k in keep], np.int32)
    with h5py.File(src, "w") as f:
        f.create_dataset("images", data=ni.reshape(ny * nx, 1, 60, 60)[keep])
        f.create_dataset("coords", data=xy)
    from vaearr.io.ebsd import read_ebsd

    p = read_ebsd(src)
    assert p.shape == (2, 3, 60, 60) and p.attrs["missing_patterns"] == 2
    got = p.values
    np.testing.assert_array_equal(got[1, 1], ni[1, 1])
    assert not got[1, 0].any() and not got[1, 2].any()


def _bad_sets(tmp_path: Path, ni: np.ndarray) -> dict[str, tuple[Path, str]]:
    n = ni.shape[0] * ni.shape[1]
    imgs = ni.reshape(n, 1, 60, 60)
    good_xy = np.array([[i % 3, i // 3] for i in range(n)], np.int32)
    rng = np.random.default_rng(0)
    cases = {
        "coords N×3": (imgs, np.c_[good_xy, good_xy[:, :1]], "'/coords' has shape 6×3; expected N×2 (6×2)"),
        "coords rows ≠ images": (imgs, good_xy[:-1], "'/coords' has 5 rows but '/images' holds 6 images"),
        "three channels": (np.repeat(imgs, 3, axis=1), good_xy, "3 channels"),
        "not a grid": (imgs, rng.uniform(0, 10, (n, 2)), "do not lie on a square grid"),
        "duplicated": (imgs, np.r_[good_xy[:-1], good_xy[:1]], "duplicated coordinate"),
        "non-finite": (imgs, np.r_[good_xy[:-1], [[np.nan, 1]]].astype(float), "non-finite values in 1 rows"),
    }
    out = {}
    for i, (case, (im, xy, msg)) in enumerate(cases.items()):
        p = tmp_path / f"bad{i}.h5"
        with h5py.File(p, "w") as f:
            f.create_dataset("images", data=im)
            f.create_dataset("coords", data=xy)
        out[case] = (p, msg)
    return out


def test_bad_image_sets_one_line_no_store(tmp_path, ni):
    from vaearr.io.ebsd import ingest_ebsd

    existing = tmp_path / "existing.zarr"
    good = tmp_path / "good.h5"
    _write_image_set(good, ni)
    ingest_ebsd(good, existing)
    before = tree_hash(existing)
    for case, (path, msg) in _bad_sets(tmp_path, ni).items():
        store = tmp_path / f"new_{path.stem}.zarr"
        with pytest.raises(InputError) as err:
            ingest_ebsd(path, store)
        assert str(err.value).startswith(str(path)) and msg in str(err.value), (case, str(err.value))
        assert "\n" not in str(err.value) and not store.exists(), case
        # an existing store is left as it was, even with overwrite
        with pytest.raises(InputError) as err2:
            ingest_ebsd(path, existing, overwrite=True)
        assert str(err2.value) == str(err.value)
        assert tree_hash(existing) == before, case
    # the command prints it as one line, exit status 2
    path, msg = _bad_sets(tmp_path, ni)["coords rows ≠ images"]
    proc = cli("ingest", "ebsd", path, tmp_path / "cli.zarr")
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {path}: {msg}"
    assert not (tmp_path / "cli.zarr").exists()


def test_bad_coords_options(tmp_path, ni, kikuchipy_data_dir):
    src = tmp_path / "set.h5"
    _write_image_set(src, ni)
    floats = tmp_path / "um.h5"
    _write_image_set(floats, ni, coords=np.array([[i % 3 * 1.5 + 0.1, i // 3 * 1.5] for i in range(6)]))
    vendor = kikuchipy_data_dir / "kikuchipy_h5ebsd" / "patterns.h5"
    cases = [
        ((src, "--coords-order", "zz"), "--coords-order must be xy or yx, got 'zz'"),
        ((src, "--coords-units", "furlong"), "--coords-units must be auto, index or um"),
        ((floats, "--coords-units", "index"), "not whole numbers, so not scan indices"),
        ((src, "--scan-shape", "2x3"), "leave out --scan-shape"),
        ((vendor, "--coords-order", "yx"), "apply to HDF5 files with /images and /coords datasets only"),
    ]
    store = tmp_path / "never.zarr"
    for args, msg in cases:
        assert msg in cli_error("ingest", "ebsd", *args, store), args
        assert not store.exists()


# --------------------------------------------------------------------------------------------
# 2. band contrast: keep below, top percent, index ranges, histogram bin width, row profile

STEP = 0.5


@pytest.fixture(scope="module")
def bc() -> xr.DataArray:
    """A real micrograph (skimage's coins) as a 38×48 band-contrast map, 0.5 µm steps, a NaN block."""
    return coins_bandcontrast(8, (slice(2, 4), slice(5, 9)), step=STEP)


@pytest.fixture
def bc_store(tmp_path, bc) -> Path:
    path = tmp_path / "bc.zarr"
    write_variables(path, {"bandcontrast": bc}, source="coins", group_attrs={"step": [STEP, STEP]})
    return path


def test_keep_below_and_top_percent(bc):
    from vaearr.maps.roi.roi import make_roi

    ds = bc.to_dataset()
    v = bc.values
    finite = np.isfinite(v)
    m, info = make_roi(ds, max=100)
    np.testing.assert_array_equal(m.values, finite & (v <= 100))
    assert info["thresholds"]["bc_max"] == 100 and info["counts"]["bc_max"] == int((finite & (v <= 100)).sum())
    # the scripts' rule: threshold = percentile(values, 100 − P), keep values ≥ it
    m, info = make_roi(ds, top_percent=20)
    t = np.percentile(v[finite], 80)
    np.testing.assert_array_equal(m.values, finite & (v >= t))
    assert info["thresholds"]["top_percent"] == pytest.approx(t)
    assert abs(m.values.sum() / finite.sum() - 0.20) < 0.02
    # a band: above one threshold and below another
    m, _ = make_roi(ds, min=80, max=150)
    np.testing.assert_array_equal(m.values, finite & (v >= 80) & (v <= 150))


def test_index_ranges_are_half_open_positions(bc):
    from vaearr.maps.roi.roi import make_roi

    ds = bc.to_dataset()
    m, info = make_roi(ds, x_index="10:20", y_index=(5, 9))
    want = np.zeros(bc.shape, bool)
    want[5:9, 10:20] = True
    np.testing.assert_array_equal(m.values, want)
    assert info["criteria"]["x_index"] == [10, 20] and info["counts"]["kept"] == 40
    # the same pixels as the inclusive µm range of their coordinates
    m_um, _ = make_roi(ds, x=(10 * STEP, 19 * STEP), y=(5 * STEP, 8 * STEP))
    np.testing.assert_array_equal(m.values, m_um.values)
    # open ends, an end past the map clipped like a slice
    m, _ = make_roi(ds, x_index="40:", y_index=":1000")
    assert m.values[:, 40:].all() and not m.values[:, :40].any()


@pytest.mark.parametrize("kw,msg", [
    (dict(x_index="20:10"), "empty"),
    (dict(x_index="5:5"), "empty"),
    (dict(x_index="1.5:4"), "not a pixel index"),
    (dict(y_index="-3:4"), "not a pixel index"),
    (dict(x_index="100:"), "starts past the map's 48 positions along x"),
    (dict(top_percent=0), r"top percent must be in \(0, 100\]"),
    (dict(top_percent=150), r"top percent must be in \(0, 100\]"),
    (dict(min=200, max=100), "no value can be kept"),
    (dict(max=float("nan")), "finite"),
])
def test_roi_bad_criteria(bc, kw, msg):
    from vaearr.maps.roi.roi import make_roi

    with pytest.raises(InputError, match=msg):
        make_roi(bc.to_dataset(), **kw)


def test_histogram_edges_and_row_profile(bc):
    from vaearr.maps.roi.profiles import histogram_edges, row_profile

    v = bc.values
    edges = histogram_edges(v, 10)
    lo, hi = np.nanmin(v), np.nanmax(v)
    assert edges[0] == np.floor(lo / 10) * 10 and edges[-1] == np.ceil(hi / 10) * 10
    np.testing.assert_allclose(np.diff(edges), 10)
    counts, _ = np.histogram(v[np.isfinite(v)], edges)
    assert counts.sum() == np.isfinite(v).sum()
    prof = row_profile(bc.to_dataset(), 7)
    np.testing.assert_array_equal(prof.values, v[7])
    assert prof.attrs == {"row": 7, "y": 7 * STEP}
    with pytest.raises(InputError, match="outside the map's 38 rows"):
        row_profile(bc.to_dataset(), 38)
    with pytest.raises(InputError, match="at most"):
        histogram_edges(v, 1e-6)
    with pytest.raises(InputError, match="positive"):
        histogram_edges(v, -1)


def test_cli_roi_keep_below_with_figures(bc_store, bc, tmp_path):
    figs = tmp_path / "figs"
    proc = cli("roi", bc_store, "--max", "100", "--y-index", "0:30", "--out", figs, "--bin-width", "10",
                   "--profile-row", "12", check=True)
    assert "max threshold on bandcontrast: 100 (keep ≤ 100)" in proc.stdout
    assert "y index range: 0:30" in proc.stdout
    v = bc.values
    want = np.isfinite(v) & (v <= 100)
    want[30:] = False
    ds = open_store(bc_store)
    np.testing.assert_array_equal(ds.roi.values, want)
    assert json.loads(ds.roi.attrs["criteria"])["bc_max"] == 100
    for stem in ("roi_bandcontrast_histogram", "roi_bandcontrast_map", "roi_bandcontrast_row12"):
        for ext in ("html", "png"):
            f = figs / f"{stem}.{ext}"
            assert f.stat().st_size > 1000 and str(f) in proc.stdout, f
    with open(figs / "roi_bandcontrast_row12.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["x", "bandcontrast"] and len(rows) == 1 + v.shape[1]
    np.testing.assert_array_equal(np.array(rows[1:], float)[:, 1], v[12])
    np.testing.assert_array_equal(np.array(rows[1:], float)[:, 0], bc.x.values)


def test_cli_top_percent_and_figures_only(bc_store, bc, tmp_path):
    before = tree_hash(bc_store)
    figs = tmp_path / "look"
    # no criterion: the histogram and profile to choose a threshold, no mask
    proc = cli("roi", bc_store, "--out", figs, "--bin-width", "25", check=True)
    assert "no mask written" in proc.stdout and tree_hash(bc_store) == before
    assert (figs / "roi_bandcontrast_histogram.png").is_file() and (figs / "roi_bandcontrast_map.png").is_file()
    proc = cli("roi", bc_store, "--top-percent", "10", "--name", "bright", check=True)
    assert "brightest 10 %" in proc.stdout
    v = bc.values
    fin = np.isfinite(v)
    bright = open_store(bc_store).bright
    np.testing.assert_array_equal(bright.values, fin & (v >= np.percentile(v[fin], 90)))
    # the command line is kept with what it wrote, and the report names it
    from vaearr.viz.report_sections import made_by

    assert bright.attrs["command"] == f"vaearr roi {bc_store} --top-percent 10 --name bright"
    assert made_by("bright", bright.attrs) == bright.attrs["command"]


def test_cli_roi_bad_input_changes_nothing(bc_store, tmp_path):
    before = tree_hash(bc_store)
    cases = [
        (("--max", "100", "--bin-width", "0"), "bin width must be a positive number"),
        (("--max", "100", "--profile-row", "38"), "row 38 is outside the map's 38 rows"),
        (("--max", "100", "--x-index", "60:70"), "starts past the map's 48 positions"),
        (("--top-percent", "0"), "--top-percent must be in (0, 100]"),
        (("--x-index", "a:3"), "'a' is not a number"),
        (("--var", "nothing"), "no variable 'nothing'"),
    ]
    for args, msg in cases:
        assert msg in cli_error("roi", bc_store, *args, "--out", tmp_path / "f"), args
        assert tree_hash(bc_store) == before, args
    assert "give --out, a folder" in cli_error("roi", bc_store, "--max", "100", "--bin-width", "10")
    assert "give an ROI criterion" in cli_error("roi", bc_store, "--out", tmp_path / "f", "--export", tmp_path / "e")
    assert tree_hash(bc_store) == before
    # and through the real command: one line, exit status 2
    proc = cli("roi", bc_store, "--max", "100", "--profile-row", "38", "--out", tmp_path / "f")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: row 38 is outside the map's 38 rows (0..37)"
    assert tree_hash(bc_store) == before


# --------------------------------------------------------------------------------------------
# 3. the scripts' CSV headers, and the element composite

GRID_STEP = 0.05  # the scripts' scan step (µm)


@pytest.fixture
def grid_store(tmp_path, bc) -> Path:
    """A 38×48 map store at the scripts' 0.05 µm step, with ground truth for the tables."""
    ny, nx = bc.shape
    path = tmp_path / "g.zarr"
    truth = xr.DataArray(np.arange(ny * nx, dtype=np.int32).reshape(ny, nx), dims=("y", "x"),
                         coords={"y": np.arange(ny) * GRID_STEP, "x": np.arange(nx) * GRID_STEP})
    write_variables(path, {"grain_truth": truth}, source="test",
                    group_attrs={"grid": "square", "step": [GRID_STEP, GRID_STEP]})
    return path


def _shuffled_rows(ny: int, nx: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    iy, ix = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    perm = np.random.default_rng(seed).permutation(ny * nx)
    return ix.ravel()[perm], iy.ravel()[perm]


def _elements(bc: xr.DataArray) -> dict[str, np.ndarray]:
    v = np.nan_to_num(bc.values, nan=0.0).astype(np.float64)
    ny, nx = v.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    return {"Ni": v / 2.55, "Fe": 100 - v / 2.55, "Cr": (xx + yy).astype(float)}


def _r(v) -> str:
    """A number as the CSV writes it: Python's repr of the float (exact round trip)."""
    return repr(float(v))


def test_script_csv_headers(grid_store, bc, tmp_path):
    ny, nx = bc.shape
    ix, iy = _shuffled_rows(ny, nx)
    phase = (np.arange(ny * nx).reshape(ny, nx) % 3)
    el = _elements(bc)
    # phase: the scripts' coord_phase_dict_from_dataframe columns (scan indices)
    with open(tmp_path / "phase.csv", "w") as f:
        f.write("x_indice,y_indice,phase_id\n")
        f.writelines(f"{x},{y},{phase[y, x]}\n" for x, y in zip(ix, iy))
    # band contrast: 'x_position', 'y_position', 'Band Contrast' (µm)
    bcv = np.nan_to_num(bc.values, nan=-1)
    with open(tmp_path / "bc.csv", "w") as f:
        f.write("x_position,y_position,Band Contrast\n")
        f.writelines(f"{_r(x * GRID_STEP)},{_r(y * GRID_STEP)},{bcv[y, x]:g}\n" for x, y in zip(ix, iy))
    # elements: X, Y in µm beside the index columns, which are not elements
    with open(tmp_path / "el.csv", "w") as f:
        f.write("X,Y,x_indice,y_indice,Ni,Fe,Cr\n")
        f.writelines(f"{_r(x * GRID_STEP)},{_r(y * GRID_STEP)},{x},{y},{_r(el['Ni'][y, x])},{_r(el['Fe'][y, x])},"
                     f"{_r(el['Cr'][y, x])}\n" for x, y in zip(ix, iy))
    proc = cli("ingest", "tables", grid_store, "--phase", tmp_path / "phase.csv", "--bandcontrast",
                   tmp_path / "bc.csv", "--elements", tmp_path / "el.csv", check=True)
    assert "phase: x/y from columns 'x_indice', 'y_indice' read as scan indices × step 0.05" in proc.stdout
    ds = open_store(grid_store)
    np.testing.assert_array_equal(ds.phase.values, phase)
    assert ds.phase.attrs["xy_units"] == "index" and ds.phase.attrs["step"] == [GRID_STEP, GRID_STEP]
    np.testing.assert_array_equal(ds.bandcontrast.values, bcv.astype(np.float32))
    assert ds.bandcontrast.attrs["xy_units"] == "µm"
    assert ds.elements.element.values.tolist() == ["Ni", "Fe", "Cr"]
    np.testing.assert_array_equal(ds.elements.sel(element="Cr").values, el["Cr"].astype(np.float32))


def test_xy_units_index_for_plain_x_y(grid_store, bc, tmp_path):
    # the scripts' band-contrast CSVs: 'x', 'y' are pixel indices
    ny, nx = bc.shape
    ix, iy = _shuffled_rows(ny, nx, seed=3)
    bcv = np.nan_to_num(bc.values, nan=-1)
    with open(tmp_path / "bc.csv", "w") as f:
        f.write("x,y,bandcontrast\n")
        f.writelines(f"{x},{y},{bcv[y, x]:g}\n" for x, y in zip(ix, iy))
    before = tree_hash(grid_store)
    # read as µm they fall off this 0.05 µm grid: refused, store unchanged
    assert "off-grid coordinate" in cli_error("ingest", "tables", grid_store, "--bandcontrast", tmp_path / "bc.csv")
    assert tree_hash(grid_store) == before
    cli("ingest", "tables", grid_store, "--bandcontrast", tmp_path / "bc.csv", "--xy-units", "index", check=True)
    np.testing.assert_array_equal(open_store(grid_store).bandcontrast.values, bcv.astype(np.float32))


def test_bad_script_csvs(grid_store, tmp_path):
    from vaearr.io.tables import ingest_tables

    before = tree_hash(grid_store)
    (tmp_path / "frac.csv").write_text("x_indice,y_indice,phase_id\n0,0,1\n1.5,0,1\n")
    (tmp_path / "mixed.csv").write_text("x,y_indice,phase_id\n0,0,1\n")
    cases = [
        (dict(phase=tmp_path / "frac.csv"), "column 'x_indice' holds 1.5 in row 2: not a whole number"),
        (dict(phase=tmp_path / "mixed.csv"), "mix a coordinate ('x') and an index ('y_indice')"),
        (dict(phase=tmp_path / "mixed.csv", xy_units="furlong"), "`xy_units` must be auto, index or um"),
    ]
    for kw, msg in cases:
        with pytest.raises(InputError, match=msg.replace("(", r"\(").replace(")", r"\)")) as err:
            ingest_tables(grid_store, **kw)
        assert "\n" not in str(err.value)
        assert tree_hash(grid_store) == before


@pytest.fixture
def el_store(grid_store, bc, tmp_path) -> Path:
    el = _elements(bc)
    ny, nx = bc.shape
    with open(tmp_path / "el.csv", "w") as f:
        f.write("x_indice,y_indice,Ni,Fe,Cr\n")
        for y in range(ny):
            f.writelines(f"{x},{y},{_r(el['Ni'][y, x])},{_r(el['Fe'][y, x])},{_r(el['Cr'][y, x])}\n" for x in range(nx))
    return grid_store


def _norm(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32).astype(np.float64)  # as stored
    return (a - a.min()) / (a.max() - a.min())


def test_composite_weighted_sum_and_rank(el_store, bc, tmp_path):
    el = _elements(bc)
    proc = cli("ingest", "tables", el_store, "--elements", tmp_path / "el.csv", "--composite", "Ni=1,Cr=0.5",
                   check=True)
    assert 'composite: sum of Ni, Cr, weights {"Ni": 0.666666666667, "Cr": 0.333333333333}' in proc.stdout
    ds = open_store(el_store)
    want = (_norm(el["Ni"]) * 1 + _norm(el["Cr"]) * 0.5) / 1.5
    np.testing.assert_allclose(ds.composite.values, want, atol=1e-6)
    assert ds.composite.dims == ("y", "x") and json.loads(ds.composite.attrs["source"]) == ["elements"]
    # a reference like any other: rank --against composite
    from vaearr.maps.decomposition.references import reference_maps

    refs = reference_maps(ds, ["composite"])
    assert refs["reference"].values.tolist() == ["composite"]
    lat = xr.DataArray(np.stack([want, np.asarray(bc.fillna(0).values, float)], -1).astype(np.float32),
                       dims=("y", "x", "latent_dim"), coords={"y": ds.y.values, "x": ds.x.values, "latent_dim": [0, 1]})
    write_variables(el_store, {"latent": lat, "roi": xr.ones_like(lat.isel(latent_dim=0), dtype=bool)},
                    source="test")
    out = tmp_path / "rank"
    proc = cli("rank", el_store, "--against", "composite", "--metric", "pearson", "--no-figures", "--out", out,
                   check=True)
    assert "composite" in proc.stdout
    text = "\n".join(p.read_text() for p in out.rglob("*.csv"))
    assert "composite" in text


def test_composite_rgb_from_store_elements(el_store, bc, tmp_path):
    el = _elements(bc)
    cli("ingest", "tables", el_store, "--elements", tmp_path / "el.csv", check=True)
    # no table: the composite of the store's elements, normalised inside a mask
    mask = xr.DataArray(np.zeros(bc.shape, bool), dims=("y", "x"), coords={"y": open_store(el_store).y.values,
                                                                            "x": open_store(el_store).x.values})
    mask[:, :20] = True
    write_variables(el_store, {"left": mask}, source="test")
    proc = cli("ingest", "tables", el_store, "--composite-rgb", "Fe,Ni", "--composite-mask", "left", check=True)
    assert "composite: rgb luminance of Fe, Ni" in proc.stdout
    ds = open_store(el_store)

    def norm_in(a):
        a = a.astype(np.float32).astype(np.float64)
        lo, hi = a[:, :20].min(), a[:, :20].max()
        return np.clip((a - lo) / (hi - lo), 0, 1)

    r, g = norm_in(el["Fe"]), norm_in(el["Ni"])
    b = 0.5 * (r + g)  # two elements: blue is their mean, as the scripts did
    np.testing.assert_allclose(ds.composite_rgb.values, np.stack([r, g, b], -1), atol=1e-6)
    assert ds.composite_rgb.channel.values.tolist() == ["R", "G", "B"]
    np.testing.assert_allclose(ds.composite.values, 0.2126 * r + 0.7152 * g + 0.0722 * b, atol=1e-6)
    assert "'left'" in ds.composite.attrs["normalisation"]


def test_composite_bad_input_writes_nothing(el_store, tmp_path):
    before = tree_hash(el_store)
    cases = [
        (("--composite", "Ni=1,Au=2"), "element(s) ['Au'] are not in the element maps (Ni, Fe, Cr)"),
        (("--composite", "Ni=abc"), "weight of 'Ni' is 'abc', not a number"),
        (("--composite", "Ni=1,Fe=-1"), "weights sum to 0"),
        (("--composite", "Ni=1,,Ni=2"), "'Ni' is given twice"),
        (("--composite-rgb", "Ni,Fe,Cr,Ni"), "one to three different elements"),
        (("--composite", "Ni", "--composite-rgb", "Ni,Fe"), "not both"),
        (("--composite", "Ni", "--composite-mask", "nomask"), "no mask variable 'nomask'"),
        (("--composite-mask", "roi"), "--composite-mask needs --composite"),
    ]
    for args, msg in cases:
        # the elements table given beside a bad composite is not written either
        assert msg in cli_error("ingest", "tables", el_store, "--elements", tmp_path / "el.csv", *args), args
        assert tree_hash(el_store) == before, args
    assert "elements" not in open_store(el_store)


def test_composite_needs_elements(grid_store):
    from vaearr.maps.decomposition.composite import composite_variables

    with pytest.raises(StoreError, match="no 'elements' variable"):
        composite_variables(dict(open_store(grid_store).data_vars), weights={"Ni": 1})
    before = tree_hash(grid_store)
    assert "give --elements FILE.csv" in cli_error("ingest", "tables", grid_store, "--composite", "all")
    assert tree_hash(grid_store) == before
