"""Tests for vaearr.io.idx on sklearn's digits (written as IDX here) and Fashion-MNIST."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import tree_hash, write_idx
from vaearr.errors import InputError, StoreError
from vaearr.io.idx import FASHION_MNIST_CLASSES, ingest_idx, read_idx, read_idx_header
from vaearr.store import open_store

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="needs scikit-learn for its digits")
    d = sklearn_datasets.load_digits()
    return d.images.astype(np.uint8), d.target.astype(np.uint8)  # values 0..16, 1797 × 8×8


@pytest.fixture
def digits_idx(tmp_path: Path, digits) -> tuple[Path, Path]:
    images, labels = digits
    return (
        write_idx(tmp_path / "digits-images-idx3-ubyte", images),
        write_idx(tmp_path / "digits-labels-idx1-ubyte", labels),
    )


def _fashion() -> tuple[Path, Path]:
    images, labels = FASHION / "t10k-images-idx3-ubyte.gz", FASHION / "t10k-labels-idx1-ubyte.gz"
    if not images.is_file() or not labels.is_file():
        pytest.skip("needs the Debian package dataset-fashion-mnist")
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_digits_round_trip(tmp_path: Path, digits, gz: bool):
    images, labels = digits
    img_path = write_idx(tmp_path / "img.idx", images, gz=gz)
    lab_path = write_idx(tmp_path / "lab.idx", labels, gz=gz)
    ds = read_idx(img_path, lab_path)
    assert ds["images"].dims == ("sample", "row", "col")
    assert ds["images"].dtype == np.uint8
    np.testing.assert_array_equal(ds["images"].values, images)
    np.testing.assert_array_equal(ds["label"].values, labels)
    assert ds["label"].dtype == np.int64
    assert json.loads(ds.attrs["classes"]) == [str(i) for i in range(10)]


def test_images_without_labels(digits_idx):
    ds = read_idx(digits_idx[0])
    assert "label" not in ds.coords and "classes" not in ds.attrs
    assert ds["images"].shape == (1797, 8, 8)


def test_fashion_mnist_matches_direct_decode(store_path: Path):
    images, labels = _fashion()
    raw = gzip.decompress(images.read_bytes())
    ref = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(10000, 28, 28)
    ref_labels = np.frombuffer(gzip.decompress(labels.read_bytes()), dtype=np.uint8, offset=8)

    ds = read_idx(images, labels)
    assert ds["images"].data.numblocks[0] == 4  # read per 2 MiB chunk, not at once
    np.testing.assert_array_equal(ds["images"].values, ref)
    np.testing.assert_array_equal(ds["label"].values, ref_labels)
    assert json.loads(ds.attrs["classes"]) == list(FASHION_MNIST_CLASSES)
    # the first test image is an ankle boot; classes are balanced (1000 each) in t10k
    assert FASHION_MNIST_CLASSES[int(ds["label"][0])] == "Ankle boot"
    assert np.bincount(ds["label"].values).tolist() == [1000] * 10

    ingest_idx(images, store_path, labels=labels)
    st = open_store(store_path)
    np.testing.assert_array_equal(st["images"][-100:].values, ref[-100:])
    np.testing.assert_array_equal(st["label"].values, ref_labels)
    assert st.attrs["kind"] == "images"
    assert json.loads(st["images"].attrs["source"]) == [str(images.resolve()), str(labels.resolve())]


def test_header_is_read_and_checked(digits_idx):
    h = read_idx_header(digits_idx[0])
    assert h.shape == (1797, 8, 8) and h.offset == 16 and not h.gzipped and h.nbytes == 1797 * 64


# ------------------------------------------------------------------------------ bad input


def test_truncated_plain_file(digits_idx):
    raw = digits_idx[0].read_bytes()
    digits_idx[0].write_bytes(raw[:-100])
    with pytest.raises(InputError, match=r"digits-images-idx3-ubyte: is truncated"):
        read_idx(*digits_idx)


def test_truncated_gzip_file(tmp_path: Path, digits):
    path = write_idx(tmp_path / "cut-images.gz", digits[0], gz=True)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match=r"cut-images.gz: .*(damaged gzip|truncated)"):
        read_idx(path)


def test_truncated_fashion_gzip(tmp_path: Path):
    images, _ = _fashion()
    cut = tmp_path / "t10k-cut.gz"
    cut.write_bytes(images.read_bytes()[:200_000])
    with pytest.raises(InputError, match="t10k-cut.gz"):
        read_idx(cut)


def test_trailing_bytes(digits_idx):
    with open(digits_idx[0], "ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(InputError, match="10 bytes after the data"):
        read_idx(digits_idx[0])


def test_garbage_and_wrong_kinds(tmp_path: Path, digits, digits_idx):
    junk = tmp_path / "junk.idx"
    junk.write_bytes(b"GIF89a not an idx file at all")
    with pytest.raises(InputError, match="junk.idx: is not an IDX file"):
        read_idx(junk)
    bad_code = tmp_path / "code.idx"
    bad_code.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(InputError, match="code.idx: .*type code 0x07"):
        read_idx(bad_code)
    with pytest.raises(InputError, match="digits-labels-idx1-ubyte: .*3 dims"):
        read_idx(digits_idx[1])  # labels handed in as images
    wide = write_idx(tmp_path / "wide.idx", digits[0].astype(np.int16))
    with pytest.raises(InputError, match="wide.idx: .*unsigned bytes"):
        read_idx(wide)
    with pytest.raises(InputError, match="missing.idx: no such file"):
        read_idx(tmp_path / "missing.idx")


def test_label_count_mismatch(tmp_path: Path, digits):
    images = write_idx(tmp_path / "img.idx", digits[0][:1000])
    labels = write_idx(tmp_path / "lab.idx", digits[1])
    with pytest.raises(InputError, match=r"lab.idx: has 1797 labels but img.idx has 1000 images"):
        read_idx(images, labels)
    float_labels = write_idx(tmp_path / "flab.idx", digits[1][:1000].astype(np.float32))
    with pytest.raises(InputError, match="flab.idx: .*integers"):
        read_idx(images, float_labels)


def test_failed_ingest_leaves_store_identical(tmp_path: Path, digits, digits_idx, store_path: Path):
    ingest_idx(digits_idx[0], store_path, labels=digits_idx[1])
    before = tree_hash(store_path)
    short = write_idx(tmp_path / "short-labels.idx", digits[1][:10])
    with pytest.raises(InputError, match="short-labels.idx"):
        ingest_idx(digits_idx[0], store_path, labels=short, overwrite=True)
    raw = digits_idx[0].read_bytes()
    cut = tmp_path / "cut.idx"
    cut.write_bytes(raw[:-1])
    with pytest.raises(InputError, match="cut.idx: is truncated"):
        ingest_idx(cut, store_path, overwrite=True)
    assert tree_hash(store_path) == before
    st = open_store(store_path)
    np.testing.assert_array_equal(st["images"].values, digits[0])
    np.testing.assert_array_equal(st["label"].values, digits[1])


def test_overwrite_replaces_labels(tmp_path: Path, digits, digits_idx, store_path: Path):
    ingest_idx(digits_idx[0], store_path, labels=digits_idx[1])
    with pytest.raises(StoreError, match="'label' coord this input lacks"):
        ingest_idx(digits_idx[0], store_path, overwrite=True)
    ingest_idx(digits_idx[0], store_path, labels=digits_idx[1], overwrite=True)  # same labels: fine
    shuffled = write_idx(tmp_path / "shuffled.idx", digits[1][::-1].copy())
    ingest_idx(digits_idx[0], store_path, labels=shuffled, overwrite=True)
    st = open_store(store_path)
    assert "label" in st.coords
    np.testing.assert_array_equal(st["label"].values, digits[1][::-1])
