"""TensorBoard Embedding Projector files: vectors, metadata, config, and the sprite sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaearr.viz.projector import sprite, write_projector


def test_sprite_is_a_square_sheet_row_by_row() -> None:
    images = np.arange(5)[:, None, None] * np.ones((5, 2, 3), np.uint8)
    sheet, (h, w) = sprite(images)
    assert (h, w) == (2, 3) and sheet.shape == (6, 9)  # 3 × 3 thumbnails
    assert sheet[0, 3] == 1 and sheet[2, 0] == 3 and sheet[2, 3] == 4 and sheet[4:, :].max() == 0


def test_sprite_shrinks_by_whole_pixels_to_fit() -> None:
    sheet, (h, w) = sprite(np.zeros((4, 10, 10, 3), np.uint8), max_side=10)
    assert (h, w) == (5, 5) and sheet.shape == (10, 10, 3)


def test_files_for_the_projector(tmp_path: Path) -> None:
    vectors = np.array([[0.5, 1.0], [2.0, 3.0], [4.0, 5.25]])
    files = write_projector(tmp_path / "p", vectors, {"sample": [0, 1, 2], "label": ["a b", "tab\there", ""]},
                            images=np.zeros((3, 4, 4), np.uint8))
    assert [f.name for f in files] == ["tensors.tsv", "metadata.tsv", "projector_config.pbtxt", "sprite.png"]
    np.testing.assert_allclose(np.loadtxt(files[0], delimiter="\t"), vectors)
    assert files[1].read_text().splitlines() == ["sample\tlabel", "0\ta b", "1\ttab here", "2\t-"]
    config = files[2].read_text()
    assert 'tensor_name: "latent"' in config and config.count("single_image_dim: 4") == 2
    assert Image.open(files[3]).size == (8, 8)


def test_one_metadata_column_has_no_header_and_no_sprite(tmp_path: Path) -> None:
    files = write_projector(tmp_path, np.zeros((2, 1, 2)), {"label": ["x", "y"]}, tensor_name="z")
    assert files[1].read_text() == "x\ny\n" and len(files) == 3
    assert "sprite" not in files[2].read_text() and 'tensor_name: "z"' in files[2].read_text()


def test_metadata_must_have_one_row_per_vector(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"metadata columns \{'label': 1\} do not have one value per vector \(2\)"):
        write_projector(tmp_path, np.zeros((2, 2)), {"label": ["x"]})
