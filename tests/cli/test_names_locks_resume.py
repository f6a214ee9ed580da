"""Details users hit (issue 14): quiet portable stores, no stray lock files, one-line errors for bad
input, safe names, and resuming a run from anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from tests.helpers import REPO, assert_one_line_error, tree_hash, vaearr_cli, write_idx
from vaearr.errors import InputError, StoreBusyError, StoreError
from vaearr.store import (
    check_name,
    is_safe_name,
    open_store,
    store_lock,
    write_variable,
)

pytest.importorskip("kikuchipy", reason="the small map is simulated with kikuchipy (the 'ebsd' extra)")


# -- small real data ------------------------------------------------------------------------------


@pytest.fixture
def map_store(map_master: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ni.zarr"
    shutil.copytree(map_master, dst)
    return dst


TINY = dict(epochs=1, batch_size=32, latent_dim=2, resize=24, model_options={"channels": [8, 16]}, previews=0,
            tensorboard=False)


@pytest.fixture(scope="module")
def tiny_run(map_master: Path, tmp_path_factory) -> Path:
    """One epoch of a small conv-VAE on the small map."""
    from vaearr.train import TrainConfig, fit

    run = tmp_path_factory.mktemp("tiny") / "run"
    fit(TrainConfig(store=str(map_master), run=str(run), **TINY), progress=False)
    return run


# -- 1. xr.open_zarr opens every store quietly; strings in zarr v3's `string` type ----------------------


def assert_quiet_and_portable(store: Path) -> xr.Dataset:
    """``xr.open_zarr`` records no warning; no array uses an unstable data type; metadata consolidated."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = xr.open_zarr(store)
        ds.load()
    assert [str(w.message) for w in caught] == [], store
    root = json.loads((store / "zarr.json").read_text())
    assert set(root["consolidated_metadata"]["metadata"]) >= set(map(str, ds.variables))
    for meta in store.rglob("zarr.json"):
        dtype = json.loads(meta.read_text()).get("data_type")
        assert dtype is None or isinstance(dtype, str) or dtype["name"] != "fixed_length_utf32", meta
    return ds


def test_open_zarr_is_quiet_after_every_ingest_and_encode(small_map, trained_run, tmp_path: Path) -> None:
    from vaearr.encoding import encode
    from vaearr.io.ebsd import ingest_ebsd
    from vaearr.io.idx import ingest_idx
    from vaearr.io.images import ingest_images
    from vaearr.io.tables import ingest_tables

    # ebsd, then tables with element names (a second transaction), then encode (a third)
    ebsd = tmp_path / "ebsd.zarr"
    ingest_ebsd(small_map.patterns, ebsd, dataset="patterns", bandcontrast=small_map.bandcontrast,
                phase=small_map.phase)
    assert_quiet_and_portable(ebsd)
    ingest_tables(ebsd, elements=small_map.elements)
    ds = assert_quiet_and_portable(ebsd)
    names = ds["element"].values.tolist()
    assert names == ["Ni", "Cr", "Fe"]
    assert json.loads((ebsd / "element" / "zarr.json").read_text())["data_type"] == "string"
    assert open_store(ebsd).sel(element="Cr")["elements"].shape == (10, 12)  # vaearr reads them as before
    from vaearr.maps.roi.roi import create_roi

    create_roi(ebsd, otsu=True)
    encode(ebsd, trained_run, progress=False)
    ds = assert_quiet_and_portable(ebsd)
    assert {"latent", "latent_recon_error", "roi"} <= set(ds.data_vars)

    # images: labels and file names are strings
    folder = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for label, n in (("cats", 2), ("dogs", 1)):
        (folder / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(folder / label / f"{i}.png")
    images = tmp_path / "images.zarr"
    ingest_images(folder, images, size=16)
    ds = assert_quiet_and_portable(images)
    assert sorted(ds["label"].values.tolist()) == ["cats", "cats", "dogs"]

    # idx, with labels
    idx = tmp_path / "idx.zarr"
    ingest_idx(write_idx(tmp_path / "img.idx", rng.integers(0, 255, (5, 8, 8)).astype(np.uint8)), idx,
               labels=write_idx(tmp_path / "lab.idx", (np.arange(5) % 2).astype(np.uint8)))
    assert_quiet_and_portable(idx)

    # nifti: subject names and axis names are strings
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    from vaearr.io.nifti import ingest_nifti

    nifti = tmp_path / "nifti.zarr"
    ingest_nifti([Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"], nifti)
    ds = assert_quiet_and_portable(nifti)
    assert ds["subject"].values.tolist() == ["anatomical"]
    assert open_store(nifti)["axis"].values.tolist() == ["z", "y", "x"]


def test_a_store_written_with_fixed_width_strings_still_opens_and_takes_writes(tmp_path: Path) -> None:
    # what vaearr wrote before: numpy '<U' coords stored as zarr-python's fixed_length_utf32
    store = tmp_path / "old.zarr"
    old = xr.Dataset({"elements": (("element", "y", "x"), np.arange(12.0).reshape(3, 2, 2),
                                   {"vaearr_version": "0.1.0"})},
                     coords={"element": np.array(["Ni", "Cr", "Fe"]), "y": [0.0, 1.0], "x": [0.0, 1.0]},
                     attrs={"kind": "ebsd-map"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old.to_zarr(store, zarr_format=3, consolidated=True)
    assert json.loads((store / "element" / "zarr.json").read_text())["data_type"]["name"] == "fixed_length_utf32"
    ds = open_store(store)
    assert ds["element"].dtype.kind == "U" and float(ds.sel(element="Cr")["elements"][1, 1]) == 7.0
    write_variable(store, "roi", xr.DataArray(np.ones((2, 2), bool), dims=("y", "x"),
                                              coords={"y": [0.0, 1.0], "x": [0.0, 1.0]}))
    ds = open_store(store)
    assert ds["element"].values.tolist() == ["Ni", "Cr", "Fe"] and bool(ds["roi"].all())


# -- 2. no lock file left beside a store ---------------------------------------------------------


def test_no_lock_file_is_left_beside_a_store(map_store: Path, tmp_path: Path) -> None:
    lock = Path(str(map_store) + ".vaearr-lock")
    new = tmp_path / "new.zarr"
    write_variable(new, "a", xr.DataArray(np.zeros((2, 3)), dims=("y", "x")))
    write_variable(map_store, "b", xr.DataArray(np.zeros((10, 12)), dims=("y", "x")))
    with pytest.raises(StoreError, match="exists"):  # a failed write releases and removes it too
        write_variable(map_store, "b", xr.DataArray(np.zeros((10, 12)), dims=("y", "x")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.zarr", "ni.zarr"]

    # while held, the lock is there and a second writer is refused; released, it is gone
    with store_lock(map_store):
        assert lock.read_text() == str(os.getpid())
        script = textwrap.dedent(f"""
            from vaearr.errors import StoreBusyError
            from vaearr.store import store_lock
            try:
                with store_lock({str(map_store)!r}):
                    print("got it")
            except StoreBusyError as exc:
                print("busy:", exc)
        """)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.stdout.startswith("busy:") and f"pid {os.getpid()}" in proc.stdout, proc.stdout + proc.stderr
    assert not lock.exists()
    # a lock file left by a writer killed outright is taken over, then removed
    lock.write_text("12345")
    with store_lock(map_store):
        pass
    assert not lock.exists()
    with store_lock(map_store), pytest.raises(StoreBusyError):
        with store_lock(map_store):  # flock is per open file: a second open in one process is busy too
            pass


# -- 3. bad input: one line, non-zero exit, nothing changed ----------------------------------------


def test_ingest_into_a_zarr_store_vaearr_did_not_make(small_map, tmp_path: Path, capsys) -> None:
    foreign = xr.Dataset({"a": (("y", "x"), np.zeros((10, 12)))}, coords={"y": np.arange(10.0), "x": np.arange(12.0)})
    folder = tmp_path / "imgs" / "one"
    folder.mkdir(parents=True)
    Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20)).save(folder / "a.png")
    folder = folder.parent
    for consolidated in (False, True):
        store = tmp_path / f"foreign_{consolidated}.zarr"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            foreign.to_zarr(store, zarr_format=3, consolidated=consolidated)
        before = tree_hash(store)
        code, _, err = vaearr_cli("ingest", "images", folder, store, "--size", 16)
        assert_one_line_error(code, err, str(store), "vaearr did not make")
        code, _, err = vaearr_cli("ingest", "tables", store, "--bandcontrast", small_map.bandcontrast)
        assert_one_line_error(code, err, str(store))  # refused as it has no scan grid, before any write
        code, _, err = vaearr_cli("roi", store, "--min", 0, "--var", "a")
        assert_one_line_error(code, err, str(store), "vaearr did not make")
        assert tree_hash(store) == before
        assert open_store(store)["a"].shape == (10, 12)  # still readable, consolidated or not


def test_train_options_that_cannot_train(map_store: Path, tmp_path: Path, capsys) -> None:
    before = tree_hash(map_store)
    for args, needle in ((["--lr", "-1"], "--lr must be above 0, got -1"),
                         (["--lr", "0"], "--lr must be above 0"),
                         (["--epochs", "0"], "--epochs must be at least 1"),
                         (["--epochs", "-1"], "--epochs must be at least 1"),
                         (["--batch-size", "0"], "--batch-size must be at least 1"),
                         (["--val-fraction", "1"], "--val-fraction must be in [0, 1)")):
        run = tmp_path / "run"
        code, _, err = vaearr_cli("train", map_store, "--run", run, *args)
        assert_one_line_error(code, err, needle)
        assert not run.exists(), args  # checked before the run folder is made
    assert tree_hash(map_store) == before


def test_cluster_k_larger_than_the_pixels_and_unsafe_tags(map_store: Path, trained_run: Path, tmp_path: Path,
                                                          capsys) -> None:
    from vaearr.encoding import encode

    encode(map_store, trained_run, progress=False)
    kept = int(open_store(map_store)["roi"].sum())
    before = tree_hash(map_store)
    out = tmp_path / "out" / "cluster"
    for method in ("kmeans", "gmm"):
        code, _, err = vaearr_cli("cluster", map_store, "--method", method, "--k", 1000, "--out", out)
        assert_one_line_error(code, err, "--k 1000", f"{kept} pixels")
    for args, needle in ((["--tag", "../../x"], "--tag '../../x' is not a safe name"),
                         (["--tag", "a/b"], "--tag 'a/b'"),
                         (["--name", "../c"], "'../c' is not a safe name")):
        code, _, err = vaearr_cli("cluster", map_store, "--k", 2, "--out", out, *args)
        assert_one_line_error(code, err, needle)
    assert tree_hash(map_store) == before
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ni.zarr"]


def test_encode_decompose_roi_refuse_unsafe_names(map_store: Path, trained_run: Path, tmp_path: Path, capsys) -> None:
    before = tree_hash(map_store)
    code, _, err = vaearr_cli("encode", map_store, "--run", trained_run, "--name", "../x")
    assert_one_line_error(code, err, "'../x' is not a safe name")
    code, _, err = vaearr_cli("decompose", map_store, "--method", "pca", "--name", "../w")
    assert_one_line_error(code, err, "'../w' is not a safe name")
    code, _, err = vaearr_cli("roi", map_store, "--otsu", "--name", ".hidden")
    assert_one_line_error(code, err, "'.hidden' is not a safe name")
    assert tree_hash(map_store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ni.zarr"]


def test_roi_window_outside_the_map(map_store: Path, tmp_path: Path, capsys) -> None:
    before = tree_hash(map_store)
    code, _, err = vaearr_cli("roi", map_store, "--x", "500:600", "--name", "far", "--export", tmp_path / "e")
    assert_one_line_error(code, err, "x range 500:600 µm holds no pixel", "x runs from 0 to 11 µm")
    code, _, err = vaearr_cli("roi", map_store, "--y", ":-3", "--name", "far")
    assert_one_line_error(code, err, "y range :-3 µm holds no pixel")
    code, _, err = vaearr_cli("roi", map_store, "--min", "1e9", "--name", "far")
    assert_one_line_error(code, err, "keeps no pixel")
    assert tree_hash(map_store) == before and not (tmp_path / "e").exists()
    code, out, _ = vaearr_cli("roi", map_store, "--x", "2:4", "--name", "near")  # inside: fine
    assert code == 0 and "near: kept 30 of 120 pixels" in out


# -- 4. one check for names that become variables or file names ----------------------------------


def test_check_name() -> None:
    for good in ("latent", "cluster_run", "v1.2", "a-b", "_x", "0"):
        assert check_name(good) == good and is_safe_name(good)
    for bad in ("", "../x", "a/b", "a\\b", ".hidden", "-x", "a..b", "a b", "é", "zarr.json", "x" * 129, None):
        assert not is_safe_name(bad)
        with pytest.raises(InputError, match="is not a safe name"):
            check_name(bad, "--tag")


def test_library_writes_refuse_unsafe_variable_names(map_store: Path, tmp_path: Path) -> None:
    from vaearr.analysis.clustering import joint_cluster

    before = tree_hash(map_store)
    with pytest.raises(InputError, match="variable name '../escape'"):
        write_variable(map_store, "../escape", xr.DataArray(np.zeros((10, 12)), dims=("y", "x")))
    with pytest.raises(InputError, match="`tag`"):  # what the flows call: the same check
        joint_cluster(map_store, latent_vector=None, tag="../../x", out=tmp_path / "out")
    assert tree_hash(map_store) == before and not (tmp_path / "escape").exists()
    assert not (tmp_path / "out").exists()


# -- 5. resume: absolute paths, the recorded store, a run with no checkpoint yet --------------------


def test_resume_from_another_directory(map_master: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from vaearr.train import TrainConfig, fit

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    shutil.copytree(map_master, work / "ni.zarr")
    monkeypatch.chdir(work)
    fit(TrainConfig(store="ni.zarr", run="runs/r", **TINY), progress=False)
    train = json.loads((work / "runs" / "r" / "config.json").read_text())["train"]
    assert train["store"] == str(work / "ni.zarr") and train["run"] == str(work / "runs" / "r")

    monkeypatch.chdir(elsewhere)
    code, out, err = vaearr_cli("train", "../work/ni.zarr", "--run", "../work/runs/r", "--epochs", "2",
                                "--resume")
    assert code == 0, err
    assert (work / "runs" / "r" / "checkpoints" / "epoch_0002").is_dir()
    assert [row["epoch"] for row in json.loads((work / "runs" / "r" / "history.json").read_text())] == [1, 2]
    assert list(elsewhere.iterdir()) == []  # nothing written relative to this directory

    # another store than the recorded one: one line, run and stores untouched
    other = tmp_path / "other.zarr"
    shutil.copytree(map_master, other)
    run_before, store_before = tree_hash(work / "runs" / "r"), tree_hash(other)
    code, _, err = vaearr_cli("train", other, "--run", work / "runs" / "r", "--epochs", "3", "--resume")
    assert_one_line_error(code, err, f"this run trains on {work / 'ni.zarr'}", f"not {other}")
    # and --epochs no more than what was trained: nothing to do is an error, not a silent exit 0
    code, _, err = vaearr_cli("train", work / "ni.zarr", "--run", work / "runs" / "r", "--epochs", "2",
                              "--resume")
    assert_one_line_error(code, err, "has trained 2 epochs already")
    assert tree_hash(work / "runs" / "r") == run_before and tree_hash(other) == store_before


def test_resume_of_a_run_stopped_before_its_first_checkpoint(map_master: Path, tiny_run: Path, tmp_path: Path,
                                                             capsys) -> None:
    # what a run killed during its first epoch leaves: config and preprocessing, no checkpoint
    run = tmp_path / "cut"
    run.mkdir()
    for p in tiny_run.iterdir():
        if p.is_file() and (p.name == "config.json" or p.name.startswith("preprocess")):
            shutil.copy(p, run / p.name)
    assert not (run / "checkpoints").exists()
    code, out, err = vaearr_cli("train", map_master, "--run", run, "--epochs", "1", "--resume")
    assert code == 0, err
    assert "no checkpoint yet" in out and "starting from scratch" in out
    assert (run / "checkpoints" / "epoch_0001").is_dir()
    assert json.loads((run / "config.json").read_text())["train"]["latent_dim"] == TINY["latent_dim"]
    # a folder that is no run at all is still an error
    code, _, err = vaearr_cli("train", map_master, "--run", tmp_path / "none", "--resume")
    assert_one_line_error(code, err, "no checkpoint to resume from")
