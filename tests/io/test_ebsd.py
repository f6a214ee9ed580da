"""Tests for vaearr.io.ebsd: EBSD patterns from every kikuchipy layout and plain HDF5.

Data: kikuchipy's real Ni scan (3×3 patterns of 60×60 uint8, NORDIF detector) in every layout
kikuchipy ships or can create (``vaearr.data.kikuchipy_files`` / ``make_vendor_files``), the
same nine patterns rewritten as plain HDF5 in each supported layout, and a small simulated demo
map (``vaearr.data.build_demo_map``) whose band contrast CSV was computed from its patterns.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from tests.helpers import tree_hash
from vaearr.errors import InputError
from vaearr.store import PROVENANCE_KEYS, default_chunks

kp = pytest.importorskip("kikuchipy", reason="EBSD ingest needs the 'ebsd' extra")
h5py = pytest.importorskip("h5py")

from vaearr.data import kikuchipy_files, make_vendor_files  # noqa: E402
from vaearr.io import h5_chunks  # noqa: E402
from vaearr.io import vendor_patterns as vendor_route  # noqa: E402
from vaearr.io.ebsd import ingest_ebsd, read_ebsd  # noqa: E402

STEP = 1.5  # µm, the Ni scan's step in every layout that records one
NI_COORDS = [0.0, 1.5, 3.0]


@pytest.fixture(scope="module")
def ni() -> np.ndarray:
    """The reference: (3, 3, 60, 60) uint8."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kp.data.nickel_ebsd_small().data


@pytest.fixture(scope="module")
def vendor(tmp_path_factory) -> dict[str, Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {**kikuchipy_files(), **make_vendor_files(tmp_path_factory.mktemp("vendor"))}


@pytest.fixture
def existing_store(tmp_path: Path, vendor) -> Path:
    """A store that a failed ingest must leave byte-identical."""
    path = tmp_path / "existing.zarr"
    ingest_ebsd(vendor["kikuchipy_h5ebsd"], path)
    return path


def _ingest(src, store, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kikuchipy's own chatter; tested where it matters
        return ingest_ebsd(src, store, **kw)


def _small_blocks(monkeypatch, *, store_chunk: int, read_block: int) -> None:
    """Store chunks and read blocks of a few patterns, so that small files have many."""
    for module in (h5_chunks, vendor_route):
        monkeypatch.setattr(module, "default_chunks", lambda shape, itemsize: default_chunks(shape, itemsize, store_chunk))
    monkeypatch.setattr(h5_chunks, "_READ_BLOCK_BYTES", read_block)


def _plain_h5(path: Path, **datasets) -> Path:
    with h5py.File(path, "w") as f:
        for name, (data, opts) in datasets.items():
            f.create_dataset(name, data=data, **opts)
    return path


# --------------------------------------------------------------------------------------------
# kikuchipy formats: the same real scan in every layout


@pytest.mark.parametrize(
    "layout", ["kikuchipy_h5ebsd", "edax_h5ebsd", "bruker_h5ebsd", "oxford_binary", "nordif"]
)
def test_vendor_layouts_give_identical_patterns(layout, vendor, ni, tmp_path):
    ds = _ingest(vendor[layout], tmp_path / "s.zarr")
    p = ds.patterns
    assert p.dims == ("y", "x", "py", "px") and p.dtype == np.uint8
    np.testing.assert_array_equal(p.values, ni)
    assert ds.y.values.tolist() == NI_COORDS and ds.x.values.tolist() == NI_COORDS
    a = p.attrs
    assert a["format"] == layout and a["step_source"] == "file"
    assert a["step_y"] == a["step_x"] == STEP and a["scan_shape"] == [3, 3]
    assert a["source_file"] == str(Path(vendor[layout]).resolve())
    assert len(a["detector_pc"]) == 3 and "detector_sample_tilt" in a and "detector_binning" in a
    assert json.loads(a["source"]) == [str(vendor[layout])]
    assert set(PROVENANCE_KEYS) <= set(a)
    assert ds.attrs["kind"] == "ebsd-map" and ds.attrs["grid"] == "square" and ds.attrs["step"] == [STEP, STEP]


def test_kikuchipy_detector_metadata(vendor, ni):
    p = read_ebsd(vendor["kikuchipy_h5ebsd"])
    # the file records one PC per pattern; kikuchipy's mean of them
    pc = np.asarray(kp.load(vendor["kikuchipy_h5ebsd"], lazy=True).detector.pc).reshape(-1, 3).mean(0)
    np.testing.assert_allclose(p.attrs["detector_pc"], pc, atol=1e-6)
    assert p.attrs["detector_sample_tilt"] == 70.0 and p.attrs["detector_binning"] == 8
    assert p.attrs["vendor"] == "kikuchipy" and p.attrs["reader"].startswith("kikuchipy")
    assert isinstance(p.data, da.Array)  # lazy: nothing read yet


def test_oxford_h5oina_holds_background_corrected_patterns(vendor, ni, tmp_path):
    # kikuchipy's H5OINA writer stores the scan after static-background removal (it is what
    # kp.load returns as "processed" patterns), so the raw Ni patterns are NOT what it holds
    ds = _ingest(vendor["oxford_h5oina"], tmp_path / "s.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = kp.data.nickel_ebsd_small()
        s.remove_static_background(show_progressbar=False)
    np.testing.assert_array_equal(ds.patterns.values, s.data)
    assert not np.array_equal(ds.patterns.values, ni)
    assert ds.x.values.tolist() == NI_COORDS and ds.attrs["step"] == [STEP, STEP]
    assert ds.patterns.attrs["format"] == "oxford_h5ebsd"


def test_edax_up1_needs_the_scan_shape(vendor, ni, tmp_path):
    # a version-1 UP1 header has no map shape: one line of nine patterns unless told
    line = read_ebsd(vendor["edax_binary_up1"])
    assert line.shape == (1, 9, 60, 60)
    np.testing.assert_array_equal(line.values[0], ni.reshape(9, 60, 60))
    ds = _ingest(vendor["edax_binary_up1"], tmp_path / "s.zarr", scan_shape=(3, 3), step=STEP)
    np.testing.assert_array_equal(ds.patterns.values, ni)
    assert ds.x.values.tolist() == NI_COORDS and ds.patterns.attrs["step_source"] == "given"
    with pytest.raises(InputError, match=r"edax_binary\.up1: holds 9 patterns, not 2×4"):
        read_ebsd(vendor["edax_binary_up1"], scan_shape=(2, 4))


def test_edax_up2_dummy_hexagonal_file(vendor, ni, tmp_path):
    # kikuchipy's UP2 is a dummy: header says hexagonal 3×3, the body is the nine Ni patterns
    # as uint16 plus one zero pattern; kikuchipy reads hexagonal UP2 as one line (and warns)
    with pytest.warns(UserWarning, match="hexagonal"):
        ds = ingest_ebsd(vendor["edax_binary_up2"], tmp_path / "s.zarr")
    p = ds.patterns
    assert p.shape == (1, 10, 60, 60) and p.dtype == np.uint16
    np.testing.assert_array_equal(p.values[0, :9], ni.reshape(9, 60, 60).astype(np.uint16))
    assert not p.values[0, 9].any()
    assert any("hexagonal" in w for w in p.attrs["reader_warnings"])
    assert np.all(np.diff(ds.x.values) > 0)


# --------------------------------------------------------------------------------------------
# plain HDF5: three layouts, one store


def test_plain_hdf5_layouts_give_identical_stores(ni, vendor, tmp_path):
    n = ni.reshape(9, 60, 60)
    yy, xx = np.meshgrid(np.arange(3) * STEP, np.arange(3) * STEP, indexing="ij")
    perm = np.random.default_rng(0).permutation(9)
    gz = {"chunks": (2, 60, 60), "compression": "gzip"}  # chunks straddle grid rows
    src = _plain_h5(
        tmp_path / "plain.h5",
        shuffled=(n[perm], gz),
        x=(xx.ravel()[perm], {}),
        y=(yy.ravel()[perm], {}),
        flat=(n, {"chunks": (4, 60, 60), "compression": "gzip", "shuffle": True}),
        cube=(ni, {}),
    )
    stores = [
        _ingest(src, tmp_path / "a.zarr", dataset="shuffled"),
        _ingest(src, tmp_path / "b.zarr", dataset="flat", scan_shape=(3, 3), step=STEP),
        _ingest(src, tmp_path / "c.zarr", dataset="/cube", step=(STEP, STEP)),
        _ingest(vendor["kikuchipy_h5ebsd"], tmp_path / "d.zarr"),
    ]
    for ds in stores:
        np.testing.assert_array_equal(ds.patterns.values, ni)
        assert ds.patterns.dtype == np.uint8
        assert ds.y.values.tolist() == NI_COORDS and ds.x.values.tolist() == NI_COORDS
        assert ds.patterns.encoding["chunks"] == default_chunks((3, 3, 60, 60), 1)
    a = stores[0].patterns.attrs
    assert a["format"] == "plain HDF5" and a["dataset"] == "/shuffled" and a["x_dataset"] == "/x"
    assert a["step_source"] == "x/y datasets" and stores[0].attrs["grid"] == "square"
    assert stores[1].patterns.attrs["step_source"] == "given"


def test_plain_hdf5_without_step_uses_1um_and_says_so(ni, tmp_path):
    src = _plain_h5(tmp_path / "p.h5", patterns=(ni, {}))
    p = read_ebsd(src, dataset="patterns")
    assert p.x.values.tolist() == [0.0, 1.0, 2.0]
    assert "default 1 µm" in p.attrs["step_source"]


def test_many_chunks_any_order_and_descending_y(tmp_path, monkeypatch):
    """Many HDF5 chunks, read blocks and store chunks, none aligned; rows in any order."""
    rng = np.random.default_rng(5)
    ny, nx = 23, 37
    truth = rng.integers(0, 4096, (ny, nx, 12, 10), dtype=np.uint16)
    gy, gx = np.arange(ny) * 0.25 - 3.0, np.arange(nx) * 0.25
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    order = np.argsort(-yy.ravel(), kind="stable")  # file rows go from the top: y descending
    order[:200] = rng.permutation(order[:200])  # and part of the scan in random order
    flat = truth.reshape(-1, 12, 10)
    # rows shuffled inside each HDF5 chunk of 5: every chunk still maps onto one run of nodes
    perm = np.concatenate([g + rng.permutation(min(5, ny * nx - g)) for g in range(0, ny * nx, 5)])
    src = _plain_h5(
        tmp_path / "big.h5",
        direct=(flat[order], {"chunks": (7, 12, 10), "compression": "gzip", "shuffle": True}),
        viah5py=(flat[order], {"chunks": (7, 6, 10), "compression": "gzip"}),  # split patterns
        cube=(truth, {"chunks": (3, 4, 12, 10), "compression": "gzip"}),
        x=(xx.ravel()[order], {}),
        y=(yy.ravel()[order], {}),
        shuffled=(flat[perm], {"chunks": (5, 12, 10), "compression": "gzip"}),
        xs=(xx.ravel()[perm], {}),
        ys=(yy.ravel()[perm], {}),
    )
    # store chunks of 5 nodes, read blocks of 10: chunks and blocks cut through HDF5 chunks
    _small_blocks(monkeypatch, store_chunk=5 * 240, read_block=12 * 240)
    assert h5_chunks._read_blocks((1, 5), (ny, nx), 240) == (1, 10)  # noqa: SLF001 - the block rule itself
    assert h5_chunks._read_blocks((2, nx), (ny, nx), 240) == (2, nx)  # noqa: SLF001 - never less than a store chunk
    with monkeypatch.context() as m:  # rows split into chunks, blocks of whole rows
        m.setattr(h5_chunks, "_READ_BLOCK_BYTES", 100 * 240)
        assert h5_chunks._read_blocks((1, 20), (ny, nx), 240) == (2, nx)  # noqa: SLF001 - the module's own helper, under test
    chunks = (3, nx, 12, 10)
    for name in ("direct", "viah5py", "cube", "shuffled"):
        xy = {"x_dataset": "xs", "y_dataset": "ys"} if name == "shuffled" else {}
        p = read_ebsd(src, dataset=name, step=0.25 if name == "cube" else None, **xy)
        assert p.data.chunks[1][:2] == (5, 5) and p.data.npartitions == ny * 8
        np.testing.assert_array_equal(p.data.rechunk(chunks).compute(), truth, err_msg=name)
        if name != "cube":
            np.testing.assert_allclose(p.y.values, gy)
            np.testing.assert_allclose(p.x.values, gx)


def test_inflaters_agree(ni, tmp_path, monkeypatch):
    # gzip chunks are inflated by libdeflate when the optional 'deflate' package is there,
    # by zlib otherwise, and partly (heads of chunks) by zlib always: all must agree
    data = np.concatenate([ni.reshape(9, 60, 60)] * 7)[:61]
    src = _plain_h5(tmp_path / "g.h5", p=(data, {"chunks": (3, 60, 60), "compression": "gzip"}))
    _small_blocks(monkeypatch, store_chunk=4 * 3600, read_block=8 * 3600)  # HDF5 chunks straddle blocks
    got = {}
    for name in ("libdeflate", "zlib"):
        if name == "zlib":
            monkeypatch.setattr(h5_chunks, "_libdeflate", None)
        elif h5_chunks._libdeflate is None:  # noqa: SLF001 - the module's own helper, under test
            continue
        got[name] = read_ebsd(src, dataset="p", scan_shape=(1, 61)).values
        np.testing.assert_array_equal(got[name][0], data, err_msg=name)


def test_crop_and_binning_match_numpy(ni, vendor, tmp_path):
    ds = _ingest(vendor["nordif"], tmp_path / "s.zarr", crop=40, binning=2)
    expect = ni[:, :, 10:50, 10:50].reshape(3, 3, 20, 2, 20, 2).mean(axis=(3, 5))
    np.testing.assert_array_equal(ds.patterns.values, np.rint(expect).astype(np.uint8))
    a = ds.patterns.attrs
    assert a["crop"] == [40, 40] and a["crop_offset"] == [10, 10] and a["binning"] == 2
    assert a["pattern_shape_recorded"] == [60, 60] and ds.patterns.dtype == np.uint8
    # rectangular crop, plain HDF5 route, uint16 with rounding of half values
    big = (ni.astype(np.uint16) * 257 + np.arange(60, dtype=np.uint16)).reshape(9, 60, 60)
    src = _plain_h5(tmp_path / "p.h5", p=(big, {"chunks": (3, 60, 60), "compression": "gzip"}))
    p = read_ebsd(src, dataset="p", scan_shape=(3, 3), crop=(30, 48), binning=3).values
    expect = big.reshape(3, 3, 60, 60)[:, :, 15:45, 6:54].reshape(3, 3, 10, 3, 16, 3).astype(np.float64).mean(axis=(3, 5))
    np.testing.assert_array_equal(p, np.rint(expect).astype(np.uint16))
    assert p.dtype == np.uint16
    # cropping alone
    p = read_ebsd(vendor["kikuchipy_h5ebsd"], crop=(20, 30)).values
    np.testing.assert_array_equal(p, ni[:, :, 20:40, 15:45])
    with pytest.raises(InputError, match=r"Pattern\.dat: 60×60 patterns do not divide into 7×7 bins"):
        read_ebsd(vendor["nordif"], binning=7)
    with pytest.raises(InputError, match="cannot crop 60×60 patterns to 80×80"):
        read_ebsd(src, dataset="p", scan_shape=(3, 3), crop=80)


def test_hexagonal_xy_is_assembled_with_a_warning(ni, tmp_path):
    # rows alternate between even and odd half-step columns, as in a hexagonal scan
    n = ni.reshape(9, 60, 60)
    xs, ys, rows = [], [], []
    k = 0
    for r in range(3):
        for c in range(3):
            xs.append(c * 2.0 + (1.0 if r % 2 else 0.0))
            ys.append(r * 1.7)
            rows.append(n[k])
            k += 1
    src = _plain_h5(tmp_path / "hex.h5", p=(np.stack(rows), {}), x=(np.array(xs), {}), y=(np.array(ys), {}))
    with pytest.warns(UserWarning, match="hexagonal scan grid assembled"):
        ds = ingest_ebsd(src, tmp_path / "s.zarr", dataset="p")
    assert ds.attrs["grid"] == "hexagonal" and ds.patterns.attrs["grid"] == "hexagonal"
    assert np.all(np.diff(ds.x.values) > 0) and np.all(np.diff(ds.y.values) > 0)
    # every node holds one of the recorded patterns (nearest point) or the documented fill
    got = ds.patterns.values.reshape(-1, 60, 60)
    filled = [g for g in got if g.any()]
    assert all(any(np.array_equal(g, r) for r in rows) for g in filled)
    assert ds.patterns.attrs.get("missing_patterns", 0) == len(got) - len(filled)


# --------------------------------------------------------------------------------------------
# tables aligned by coordinate


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from vaearr.data import build_demo_map

    return build_demo_map(tmp_path_factory.mktemp("demo"), shape=(6, 9), pattern_shape=(16, 16),
                          n_grains=3, step=0.5, seed=1)


def test_tables_are_aligned_to_the_pattern_grid(demo, tmp_path):
    from vaearr.data import band_contrast

    ds = ingest_ebsd(demo.patterns, tmp_path / "s.zarr", dataset="patterns",
                     bandcontrast=demo.bandcontrast, elements=demo.elements, phase=demo.phase)
    assert set(ds.data_vars) == {"patterns", "bandcontrast", "elements", "phase"}
    with h5py.File(demo.patterns, "r") as f:
        background = f["static_background"][()]
    # the CSV's band contrast was computed from each pattern: recomputing it from the store's
    # patterns gives the store's (shuffled-CSV) band contrast only if both sit on the same node
    pats = ds.patterns.values
    bc = np.rint(band_contrast(pats.reshape(-1, 16, 16), background)).reshape(6, 9)
    np.testing.assert_array_equal(ds.bandcontrast.values, bc)
    assert ds.elements.dims == ("element", "y", "x") and list(ds.elements.element.values) == ["Ni", "Cr", "Fe"]
    assert ds.phase.dims == ("y", "x")
    # each variable names the file it came from
    assert json.loads(ds.patterns.attrs["source"]) == [str(demo.patterns)]
    assert json.loads(ds.bandcontrast.attrs["source"]) == [str(demo.bandcontrast)]
    assert json.loads(ds.elements.attrs["source"]) == [str(demo.elements)]
    assert json.loads(ds.phase.attrs["source"]) == [str(demo.phase)]
    assert ds.x.values.tolist() == (np.arange(9) * 0.5).tolist()


# --------------------------------------------------------------------------------------------
# bad input: one clear line naming the file, and an existing store left as it was


def _fails(existing: Path, src, match: str, **kw) -> InputError:
    before = tree_hash(existing)
    with pytest.raises(InputError, match=match) as err:
        _ingest(src, existing, overwrite=True, **kw)
    assert str(err.value).startswith(f"{src}: ") and "\n" not in str(err.value)
    assert tree_hash(existing) == before
    return err.value


def test_truncated_hdf5(existing_store, vendor, tmp_path):
    cut = tmp_path / "cut.h5"
    data = Path(vendor["kikuchipy_h5ebsd"]).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    _fails(existing_store, cut, "truncated or corrupt")  # kikuchipy route
    _fails(existing_store, cut, "truncated or corrupt", dataset="Scan 1/EBSD/Data/patterns")


def test_corrupt_chunk_fails_during_the_write(existing_store, ni, vendor, tmp_path):
    # the file opens fine; the damage shows only when the write reads the chunk (inside dask)
    src = _plain_h5(tmp_path / "bad.h5", p=(ni.reshape(9, 60, 60), {"chunks": (3, 60, 60), "compression": "gzip"}),
                    q=(ni.reshape(9, 60, 60), {"chunks": (3, 30, 60), "compression": "gzip"}))
    with h5py.File(src, "r") as f:
        offsets = [f[n].id.get_chunk_info(1).byte_offset for n in ("p", "q")]
    with open(src, "r+b") as fh:
        for off in offsets:
            fh.seek(off + 20)
            fh.write(b"\xff" * 64)
    _fails(existing_store, src, "cannot read patterns from '/p'", dataset="p", scan_shape=(3, 3), step=STEP)
    _fails(existing_store, src, "cannot read patterns from '/q'", dataset="q", scan_shape=(3, 3), step=STEP)
    # the same through kikuchipy: its lazy h5py reads fail inside the write
    kfile = tmp_path / "k.h5"
    shutil.copyfile(vendor["kikuchipy_h5ebsd"], kfile)
    with h5py.File(kfile, "r+") as f:
        name = "Scan 1/EBSD/Data/patterns"
        attrs = dict(f[name].attrs)
        del f[name]
        f.create_dataset(name, data=ni.reshape(9, 60, 60), chunks=(3, 60, 60), compression="gzip")
        f[name].attrs.update(attrs)
        off = f[name].id.get_chunk_info(1).byte_offset
    with open(kfile, "r+b") as fh:
        fh.seek(off + 20)
        fh.write(b"\xff" * 64)
    _fails(existing_store, kfile, "cannot read patterns, truncated or corrupt")


def test_wrong_dataset_lists_the_pattern_datasets(existing_store, vendor):
    err = _fails(existing_store, vendor["edax_h5ebsd"], "no dataset 'patterns'", dataset="patterns")
    assert "/Scan 1/EBSD/Data/Pattern 9×60×60 uint8" in str(err)
    assert "Schematic" not in str(err)  # RGB images are not offered as patterns


def test_wrong_shapes(existing_store, ni, tmp_path):
    n = ni.reshape(9, 60, 60)
    src = _plain_h5(tmp_path / "p.h5", flat=(n, {}), img=(n[0], {}), x=(np.arange(8.0), {}), y=(np.arange(9.0), {}),
                    x9=(np.arange(9.0), {}))
    _fails(existing_store, src, "'/img' has shape 60×60; expected patterns as N×H×W", dataset="img")
    _fails(existing_store, src, r"'/flat' holds 9 patterns, not 2×5 = 10", dataset="flat", scan_shape=(2, 5))
    _fails(existing_store, src, "'/x' has 8 values but '/flat' has 9 patterns", dataset="flat")
    _fails(existing_store, src, "no 'nope' dataset", dataset="flat", x_dataset="nope", y_dataset="y")
    src4 = _plain_h5(tmp_path / "c.h5", cube=(ni, {}))
    _fails(existing_store, src4, "is a 3×3 scan, not 9×1", dataset="cube", scan_shape=(9, 1))


def test_files_kikuchipy_cannot_read(existing_store, ni, tmp_path):
    plain = _plain_h5(tmp_path / "plain.h5", data=(ni.reshape(9, 60, 60), {}))
    err = _fails(existing_store, plain, "an HDF5 file kikuchipy does not read as EBSD patterns")
    assert "`dataset`" in str(err) and "/data 9×60×60 uint8" in str(err)
    txt = tmp_path / "notes.txt"
    txt.write_text("not patterns\n")
    _fails(existing_store, txt, "a text file beginning 'not patterns', not EBSD patterns in a format kikuchipy reads")
    _fails(existing_store, txt, "not an HDF5 file", dataset="patterns")
    _fails(existing_store, tmp_path / "missing.h5", "no such file")


@pytest.mark.parametrize("name, content, said", [
    ("README.md", "# vaearr\n\nVAE representations…\n", "a Markdown text file beginning '# vaearr'"),
    ("scan.json", '{"scan": [10, 12]}', "a JSON text file beginning '{\"scan\": [10, 12]}'"),
    ("noise.bin", bytes(range(256)) * 8, "binary data (2,048 bytes) of no format vaearr knows"),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
    ("empty.h5", b"", "an empty file (0 bytes)"),
    ("folder", None, "a folder, not a file of EBSD patterns"),
])
def test_a_file_kikuchipy_cannot_read_is_said_in_vaearrs_words(existing_store, tmp_path, name, content, said):
    """A Markdown file (or any other file that holds no patterns) given to ``ingest ebsd``: one line saying what the
    file is and what ``ingest ebsd`` reads — never kikuchipy's "Could not read …, please report this error" — and the
    store left as it was."""
    from tests.helpers import cli

    src = tmp_path / name
    if content is None:
        src.mkdir()
    elif isinstance(content, bytes):
        src.write_bytes(content)
    else:
        src.write_text(content)
    before = tree_hash(existing_store)
    proc = cli("ingest", "ebsd", src, existing_store, "--overwrite")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {src}: {said}"), lines[0]
    assert "report" not in lines[0] and "Could not read" not in lines[0] and "Traceback" not in proc.stderr
    if content is not None and name != "empty.h5":
        assert ", not EBSD patterns in a format kikuchipy reads (h5ebsd .h5, .h5oina, .up1/.up2, .ebsp, NORDIF .dat)" \
            in lines[0] and lines[0].endswith("; a plain HDF5 file of patterns needs --dataset"), lines[0]
    assert tree_hash(existing_store) == before


def test_cli_reports_bad_input_in_one_line(existing_store, vendor):
    from tests.helpers import cli

    before = tree_hash(existing_store)
    bad = cli("ingest", "ebsd", vendor["edax_h5ebsd"], existing_store, "--dataset", "nope",
                  "--overwrite")
    assert bad.returncode == 2
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"{vendor['edax_h5ebsd']}: no dataset 'nope'" in lines[0]
    assert tree_hash(existing_store) == before
