"""Tests for vaearr.io.images on skimage's in-package photographs written out as files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import tree_hash
from vaearr.errors import InputError, StoreError
from vaearr.io import images as images_mod
from vaearr.io.images import ingest_images, read_image_folder
from vaearr.store import open_store

data = pytest.importorskip("skimage.data", reason="needs scikit-image for its sample images")


def _save(arr: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Gray and RGB photographs as PNG/JPEG/TIFF in two class folders, plus one loose file."""
    root = tmp_path / "mixed"
    _save(data.camera(), root / "gray" / "camera.png")
    _save(data.coins(), root / "gray" / "coins.jpg")
    _save(data.moon(), root / "gray" / "moon.tif")
    _save(data.astronaut(), root / "color" / "astronaut.png")
    _save(data.chelsea(), root / "color" / "chelsea.jpeg")
    _save(data.coffee(), root / "color" / "coffee.tiff")
    _save(data.page(), root / "page.png")
    return root


@pytest.fixture
def gray_folder(tmp_path: Path) -> Path:
    """512×512 gray photographs, lossless, so size=512 must give back the exact pixels."""
    root = tmp_path / "gray512"
    _save(data.camera(), root / "a" / "camera.png")
    _save(data.moon(), root / "a" / "moon.tif")
    _save(data.brick(), root / "b" / "brick.png")
    return root


def _pil_resized(path: Path, size: int, mode: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert(mode).resize((size, size), Image.Resampling.BILINEAR))


def test_exact_pixels_when_no_resize(gray_folder: Path):
    ds = read_image_folder(gray_folder, size=512)
    assert ds["images"].dims == ("sample", "row", "col")  # all gray -> no channel dim
    assert ds["images"].dtype == np.uint8
    assert ds["filename"].values.tolist() == ["a/camera.png", "a/moon.tif", "b/brick.png"]
    assert ds["label"].values.tolist() == ["a", "a", "b"]
    assert json.loads(ds.attrs["classes"]) == ["a", "b"]
    got = ds["images"].values
    np.testing.assert_array_equal(got[0], data.camera())
    np.testing.assert_array_equal(got[1], data.moon())
    np.testing.assert_array_equal(got[2], data.brick())


def test_mixed_auto_is_rgb_and_matches_pil(mixed_folder: Path):
    ds = read_image_folder(mixed_folder, size=48)
    imgs = ds["images"]
    assert imgs.dims == ("sample", "row", "col", "channel")
    assert imgs.shape == (7, 48, 48, 3)
    assert ds["channel"].values.tolist() == ["R", "G", "B"]
    names = ds["filename"].values.tolist()
    assert names == sorted(names)
    labels = dict(zip(names, ds["label"].values.tolist()))
    assert labels["gray/camera.png"] == "gray"
    assert labels["color/coffee.tiff"] == "color"
    assert labels["page.png"] == ""  # no sub-folder
    assert json.loads(ds.attrs["classes"]) == ["color", "gray"]
    assert ds.attrs["mode"] == "RGB" and ds.attrs["skipped"] == 0
    values = imgs.values
    for i, name in enumerate(names):
        np.testing.assert_array_equal(values[i], _pil_resized(mixed_folder / name, 48, "RGB"), err_msg=name)
    # gray images become three equal channels
    cam = values[names.index("gray/camera.png")]
    assert np.array_equal(cam[..., 0], cam[..., 1]) and np.array_equal(cam[..., 0], cam[..., 2])


def test_mode_l_converts_rgb_to_luma(mixed_folder: Path):
    ds = read_image_folder(mixed_folder, size=40, mode="L")
    assert ds["images"].shape == (7, 40, 40)
    names = ds["filename"].values.tolist()
    i = names.index("color/astronaut.png")
    np.testing.assert_array_equal(ds["images"].values[i], _pil_resized(mixed_folder / names[i], 40, "L"))


def test_mode_rgb_forced_on_gray_folder(gray_folder: Path):
    ds = read_image_folder(gray_folder, size=16, mode="RGB")
    assert ds["images"].shape == (3, 16, 16, 3)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path):
    arr16 = (data.camera().astype(np.uint32) * 257).astype(np.uint16)  # full 16-bit range
    arr16[0, :4] = [0, 128, 65407, 65535]
    _save(arr16, tmp_path / "f" / "deep.png")
    ds = read_image_folder(tmp_path / "f", size=512)
    got = ds["images"].values[0]
    np.testing.assert_array_equal(got, ((arr16.astype(np.uint32) + 128) // 257).astype(np.uint8))
    assert got.max() == 255  # PIL's own I;16 -> L conversion would clip most pixels to 255


def test_loads_lazily_in_chunks(tmp_path: Path, monkeypatch):
    faces = (data.lfw_subset()[:150] * 255).round().astype(np.uint8)  # 25×25 real faces
    for i, face in enumerate(faces):
        _save(face, tmp_path / "faces" / f"{i:03d}.png")
    calls = []
    real = images_mod._load_one  # noqa: SLF001 - counted by wrapping it
    monkeypatch.setattr(images_mod, "_load_one", lambda *a: calls.append(a[0]) or real(*a))
    ds = read_image_folder(tmp_path / "faces", size=256)
    assert calls == []  # nothing decoded until compute
    assert ds["images"].data.numblocks[0] == 5  # 150 images of 64 KiB: 5 equal chunks of at most 2 MiB
    assert ds["images"].data.chunks[0] == (30, 30, 30, 30, 30)
    first = ds["images"][:2].values  # computes only the first block
    assert len(calls) == 30
    np.testing.assert_array_equal(first[1], _pil_resized(tmp_path / "faces" / "001.png", 256, "L"))


def test_ingest_writes_store(mixed_folder: Path, store_path: Path):
    out = ingest_images(mixed_folder, store_path, size=32)
    ref = read_image_folder(mixed_folder, size=32)
    ds = open_store(store_path)
    np.testing.assert_array_equal(ds["images"].values, ref["images"].values)
    assert ds["label"].values.tolist() == ref["label"].values.tolist()
    assert ds["filename"].values.tolist() == ref["filename"].values.tolist()
    assert ds.attrs["kind"] == "images"
    assert json.loads(ds.attrs["classes"]) == ["color", "gray"]
    attrs = ds["images"].attrs
    assert json.loads(attrs["source"]) == [str(mixed_folder.resolve())]
    assert json.loads(attrs["config"]) == {"mode": "auto", "size": 32, "skip_bad": False}
    assert out["images"].shape == (7, 32, 32, 3)
    with pytest.raises(StoreError, match="overwrite"):
        ingest_images(mixed_folder, store_path, size=32)


# ------------------------------------------------------------------------------ bad input


def _corrupt(folder: Path) -> tuple[Path, Path]:
    """A truncated PNG and a text file dressed as a PNG, beside good images."""
    good = folder / "gray" / "camera.png"
    raw = good.read_bytes()
    truncated = folder / "gray" / "cut.png"
    truncated.write_bytes(raw[: len(raw) // 2])
    garbage = folder / "notes.png"
    garbage.write_bytes(b"this is not an image\n" * 20)
    return truncated, garbage


def test_empty_folder(tmp_path: Path):
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    with pytest.raises(InputError, match="empty.*no image files"):
        read_image_folder(tmp_path / "empty")
    with pytest.raises(InputError, match="nowhere.*not a folder"):
        read_image_folder(tmp_path / "nowhere")


def test_corrupt_png_is_an_error_naming_it(mixed_folder: Path):
    truncated, garbage = _corrupt(mixed_folder)
    with pytest.raises(InputError) as err:
        read_image_folder(mixed_folder, size=16)
    msg = str(err.value)
    assert "cut.png" in msg and "(and 1 more bad file)" in msg and "skip" in msg
    assert "\n" not in msg


def test_truncated_jpeg_found_up_front(tmp_path: Path):
    jpg = _save(data.astronaut(), tmp_path / "f" / "astronaut.jpg")
    raw = jpg.read_bytes()
    jpg.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(InputError, match="astronaut.jpg.*damaged"):
        read_image_folder(tmp_path / "f")


def test_skip_bad_counts_and_warns(mixed_folder: Path):
    _corrupt(mixed_folder)
    with pytest.warns(UserWarning, match="skipped 2 files"):
        ds = read_image_folder(mixed_folder, size=16, skip_bad=True)
    assert ds.attrs["skipped"] == 2
    assert json.loads(ds.attrs["skipped_files"]) == ["gray/cut.png", "notes.png"]
    assert ds["images"].shape[0] == 7
    assert "gray/cut.png" not in ds["filename"].values.tolist()


def test_only_bad_files_with_skip_bad(tmp_path: Path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.png").write_bytes(b"\x89PNG garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="no readable image"):
            read_image_folder(tmp_path / "f", skip_bad=True)


def test_bad_options(gray_folder: Path):
    with pytest.raises(InputError, match="mode"):
        read_image_folder(gray_folder, mode="CMYK")
    with pytest.raises(InputError, match="size"):
        read_image_folder(gray_folder, size=0)


def test_failed_ingest_leaves_store_identical(mixed_folder: Path, gray_folder: Path, store_path: Path):
    ingest_images(gray_folder, store_path, size=16)
    before = tree_hash(store_path)
    _corrupt(mixed_folder)
    with pytest.raises(InputError, match="cut.png"):
        ingest_images(mixed_folder, store_path, size=16, overwrite=True)
    empty = mixed_folder.parent / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="empty"):
        ingest_images(empty, store_path, overwrite=True)
    assert tree_hash(store_path) == before


def test_overwrite_replaces_labels(tmp_path: Path, gray_folder: Path, store_path: Path):
    ingest_images(gray_folder, store_path, size=16)
    ingest_images(gray_folder, store_path, size=16, mode="RGB", overwrite=True)  # same files: fine
    assert open_store(store_path)["images"].shape == (3, 16, 16, 3)
    other = tmp_path / "other"
    for i, name in enumerate(("coins", "moon", "page")):
        _save(getattr(data, name)(), other / f"c{i}" / f"{name}.png")
    # overwrite replaces the per-sample coords with the new input's
    ingest_images(other, store_path, size=16, overwrite=True)
    st = open_store(store_path)
    assert sorted(st["filename"].values.tolist()) == ["c0/coins.png", "c1/moon.png", "c2/page.png"]
    assert set(st["label"].values.tolist()) == {"c0", "c1", "c2"}
    assert "label" in st.coords and "filename" in st.coords
