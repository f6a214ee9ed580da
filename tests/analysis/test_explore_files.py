"""``vaearr explore`` on given files (--image, --interpolate), its ranges, 8-bit metrics, bytes, and projector files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from PIL import Image

from tests.helpers import cli
from vaearr.analysis.files import explore_files as through
from vaearr.analysis.files import read_for_run
from vaearr.analysis.generate import reconstruct
from vaearr.analysis.latents import encode_samples, load_run
from vaearr.analysis.quality import psnr, to_uint8
from vaearr.errors import InputError
from vaearr.io.images import ingest_images, read_image_folder
from vaearr.store import write_variable
from vaearr.train import TrainConfig, fit
from vaearr.viz.explore import explore, explore_files


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> dict:
    """60 of sklearn's digits (real handwriting) as PNG files in two class folders, ingested at
    size 8, and a one-epoch run on them; plus a 16×16 copy of one file and a colour file."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    d = load_digits()
    folder = root / "png"
    for i in range(60):
        sub = folder / f"d{d.target[i]}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray((d.images[i] * 15).astype(np.uint8)).save(sub / f"{i:03d}.png")
    store = root / "digits.zarr"
    ingest_images(folder, store, size=8)
    run = root / "run"
    fit(TrainConfig(store=str(store), run=str(run), var="images", epochs=1, batch_size=16, latent_dim=3,
                    model_options={"channels": [8, 16]}, tensorboard=False, previews=0, val_fraction=0),
        progress=False)
    big = root / "big.png"
    Image.open(folder / "d0" / "000.png").resize((16, 16), Image.BILINEAR).save(big)
    colour = root / "colour.png"
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(colour)
    return {"root": root, "folder": folder, "store": store, "run": run, "big": big, "colour": colour,
            "a": folder / "d0" / "000.png", "b": folder / "d1" / "001.png"}


def test_a_file_is_read_as_its_store_sample_was(digits_run: dict) -> None:
    lr = load_run(digits_run["run"])
    _, enc = encode_samples(digits_run["store"], lr.run, n=None, label=None)
    x = read_for_run(digits_run["a"], lr)
    # the file is sample 0 of the store (d0/000.png comes first): the same network input, exactly
    np.testing.assert_array_equal(x[0], enc.x[0])
    # a 16×16 file is stretched to the store's size as ingest would have done
    one = digits_run["root"] / "one"
    one.mkdir()
    Image.open(digits_run["big"]).save(one / "big.png")
    ingested = read_image_folder(one, size=8)["images"].values[0]
    want = lr.run.preprocess(torch.from_numpy(ingested[None, None].copy())).numpy()
    np.testing.assert_array_equal(read_for_run(digits_run["big"], lr), want)


def test_image_reconstruction_from_the_command_line(digits_run: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = cli("explore", "--run", digits_run["run"], "--image", digits_run["a"], "--out", out, check=True)
    name = str(digits_run["a"])
    line = [x for x in proc.stdout.splitlines() if x.strip().startswith(name)]
    assert len(line) == 1 and "(float)" in line[0] and "(uint8)" in line[0]
    assert "compression: 64 B per input sample → 12 B per latent (float32): 5.33× in bytes" in proc.stdout
    assert (out / "files_reconstruction.png").stat().st_size > 1000
    row = pd.read_csv(out / "files_quality.csv").iloc[0]
    # the 8-bit PSNR is that of the images as 8-bit, range 255
    lr = load_run(digits_run["run"])
    x = read_for_run(digits_run["a"], lr)
    r = reconstruct(lr.model, x)
    x8, r8 = to_uint8(x, (0.0, 1.0)), to_uint8(r, (0.0, 1.0))
    assert row["psnr_uint8"] == pytest.approx(10 * np.log10(255 ** 2 / np.mean((x8 - r8) ** 2)), rel=1e-6)
    assert row["psnr"] == pytest.approx(float(psnr(x, r)[0]), rel=1e-6)
    assert row["psnr"] != pytest.approx(row["psnr_uint8"], rel=1e-9)  # rounding to 8 bits moves it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quality"]["input_bytes"] == 64 and summary["quality"]["latent_bytes"] == 12
    assert "interpolation" not in summary


def test_interpolation_between_two_files(digits_run: dict, tmp_path: Path) -> None:
    proc = cli("explore", "--run", digits_run["run"], "--interpolate", digits_run["a"], digits_run["b"],
                   "--steps", "4", "--metric-range", "float", "--out", tmp_path / "o", check=True)
    assert "(uint8)" not in proc.stdout and "(float)" in proc.stdout
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["interpolation"]["steps"] == 4 and (tmp_path / "o" / "files_interpolation.png").exists()
    # --image A --image B is the same; the ends of the path are the two reconstructions
    res = explore_files(digits_run["run"], [digits_run["a"], digits_run["b"]], tmp_path / "p", steps=4)
    r = through(load_run(digits_run["run"]), [digits_run["a"], digits_run["b"]], steps=4)
    for method in ("linear", "slerp"):
        assert r.interpolation[method].shape == (4, 1, 8, 8)
        np.testing.assert_allclose(r.interpolation[method][0], r.recon[0], atol=1e-5)
        np.testing.assert_allclose(r.interpolation[method][-1], r.recon[1], atol=1e-5)
    assert res.summary["interpolation"]["steps"] == 4


@pytest.mark.parametrize("which, message", [
    ("colour", "is a colour image; the run was trained on gray images"),
    ("missing", "no such file"),
    ("text", "is not an image"),
])
def test_bad_files_are_one_line_naming_the_file(digits_run: dict, tmp_path: Path, which: str, message: str) -> None:
    path = {"colour": digits_run["colour"], "missing": tmp_path / "nope.png", "text": tmp_path / "notes.png"}[which]
    if which == "text":
        path.write_text("not an image")
    with pytest.raises(InputError) as info:
        explore_files(digits_run["run"], [digits_run["a"], path], tmp_path / "out")
    assert str(info.value).startswith(str(path)) and message in str(info.value)
    assert not (tmp_path / "out").exists()


def test_wrong_size_for_a_store_not_ingested_from_files(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    store = tmp_path / "arr.zarr"
    write_variable(store, "images", xr.DataArray((d.images[:40] * 15).astype(np.uint8), dims=("sample", "row", "col")))
    fit(TrainConfig(store=str(store), run=str(tmp_path / "run"), var="images", epochs=1, batch_size=16, latent_dim=2,
                    model_options={"channels": [8]}, tensorboard=False, previews=0, val_fraction=0), progress=False)
    big = tmp_path / "ten.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(big)
    proc = cli("explore", "--run", tmp_path / "run", "--image", big, "--out", tmp_path / "o")
    err = proc.stderr.strip()
    assert proc.returncode != 0 and err.splitlines() == [err]
    assert f"{big}: is 10×10 pixels; the run's samples are 8×8" in err and not (tmp_path / "o").exists()


def test_ranges_samples_and_projector_files(digits_run: dict, tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = explore(digits_run["store"], digits_run["run"], out, n=None, parts=("prior", "traversal", "manifold",
                  "projector"), n_prior=3, steps=5, traversal_range=(-2.0, 2.0), manifold_range=(-1.0, 1.0),
                  manifold_size=3)
    s = res.summary
    assert s["traversal"]["values"] == pytest.approx([-2, -1, 0, 1, 2])
    assert s["manifold"]["values"] == pytest.approx([-1, 0, 1])
    proj = out / "projector"
    vectors = np.loadtxt(proj / "tensors.tsv", delimiter="\t")
    _, enc = encode_samples(digits_run["store"], digits_run["run"], n=None, label=None)
    np.testing.assert_allclose(vectors, enc.mu, rtol=1e-6, atol=1e-7)
    meta = (proj / "metadata.tsv").read_text().splitlines()
    assert meta[0] == "sample\tlabel\tfilename" and len(meta) == 61 and meta[1] == "0\td0\td0/000.png"
    with Image.open(proj / "sprite.png") as im:
        assert im.size == (8 * 8, 8 * 8)  # ceil(sqrt(60)) = 8 thumbnails of 8×8 a side
    text = (proj / "projector_config.pbtxt").read_text()
    try:
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
    except ImportError:
        assert 'tensor_path: "tensors.tsv"' in text
    else:
        cfg = text_format.Parse(text, ProjectorConfig())
        e = cfg.embeddings[0]
        assert (e.tensor_path, e.metadata_path, e.sprite.image_path) == ("tensors.tsv", "metadata.tsv", "sprite.png")
        assert list(e.sprite.single_image_dim) == [8, 8]


def test_bad_ranges_are_one_line(digits_run: dict, tmp_path: Path) -> None:
    proc = cli("explore", digits_run["store"], "--run", digits_run["run"], "--out", tmp_path / "o",
                   "--traversal-range", "3:-3")
    err = proc.stderr.strip()
    assert proc.returncode != 0 and "--traversal-range 3:-3: low must be below high" in err
    with pytest.raises(InputError, match="^manifold_size must be at least 2"):  # the field (the command line: --grid)
        explore(digits_run["store"], digits_run["run"], tmp_path / "o", manifold_size=1)
    with pytest.raises(InputError, match="^metric_range must be one of float, uint8, both"):
        explore_files(digits_run["run"], [digits_run["a"]], tmp_path / "o", metric_range="uint16")
    assert not (tmp_path / "o").exists()
