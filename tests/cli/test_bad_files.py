"""Bad input through the real command: one line naming the file and the problem, exit 2, store untouched."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli, tree_hash


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _grid_rows(demo_files, column: str, value: Callable[[int], str]) -> list[str]:
    import pandas as pd

    bc = pd.read_csv(demo_files.bandcontrast)
    return [f"{x},{y},{value(i)}" for i, (x, y) in enumerate(zip(bc["x"], bc["y"]))]


# Each case: (name, builder(tmp, demo_files, stores) -> (argv, the file the message must name, words it must hold),
# whether the command writes into the existing demo store (hash must not change) or a new one (must not appear).


def truncated_hdf5(tmp, demo_files, stores):
    bad = tmp / "truncated.h5"
    data = Path(demo_files.patterns).read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    return ["ingest", "ebsd", bad, "--dataset", "patterns", stores["new"]], bad, ()


def wrong_dataset_path(tmp, demo_files, stores):
    return (["ingest", "ebsd", demo_files.patterns, "--dataset", "nope", stores["new"]],
            demo_files.patterns, ("nope",))


def wrong_shape(tmp, demo_files, stores):
    return (["ingest", "ebsd", demo_files.patterns, "--dataset", "grain_id", stores["new"]],
            demo_files.patterns, ("grain_id",))


def non_numeric_csv(tmp, demo_files, stores):
    rows = _grid_rows(demo_files, "bandcontrast", lambda i: "abc" if i == 7 else "100")
    bad = _csv(tmp / "bc_text.csv", "x,y,bandcontrast\n" + "\n".join(rows) + "\n")
    return ["ingest", "tables", stores["demo"], "--bandcontrast", bad, "--overwrite"], bad, ("bandcontrast",)


def duplicated_coordinates(tmp, demo_files, stores):
    rows = _grid_rows(demo_files, "bandcontrast", lambda i: "100")
    bad = _csv(tmp / "bc_dup.csv", "x,y,bandcontrast\n" + "\n".join(rows + rows[:1]) + "\n")
    return ["ingest", "tables", stores["demo"], "--bandcontrast", bad, "--overwrite"], bad, ("duplicated",)


def off_grid_coordinates(tmp, demo_files, stores):
    rows = _grid_rows(demo_files, "bandcontrast", lambda i: "100")
    rows[3] = "2.5,0.5,100"
    bad = _csv(tmp / "bc_offgrid.csv", "x,y,bandcontrast\n" + "\n".join(rows) + "\n")
    return ["ingest", "tables", stores["demo"], "--bandcontrast", bad, "--overwrite"], bad, ("off-grid",)


def missing_columns(tmp, demo_files, stores):
    bad = _csv(tmp / "bc_cols.csv", "x,bandcontrast\n0,1\n")
    return ["ingest", "tables", stores["demo"], "--bandcontrast", bad, "--overwrite"], bad, ("y",)


def empty_folder(tmp, demo_files, stores):
    empty = tmp / "empty"
    empty.mkdir()
    return ["ingest", "images", empty, stores["images"], "--overwrite"], empty, ("empty",)


def corrupt_png(tmp, demo_files, stores):
    from PIL import Image
    from skimage import data

    folder = tmp / "imgs"
    (folder / "a").mkdir(parents=True)
    Image.fromarray(data.camera()[:64, :64]).save(folder / "a" / "ok.png")
    good = (folder / "a" / "ok.png").read_bytes()
    (folder / "a" / "broken.png").write_bytes(good[: len(good) // 2])
    return ["ingest", "images", folder, stores["images"], "--size", "16", "--overwrite"], folder / "a" / "broken.png", ()


def nifti_irreconcilable(tmp, demo_files, stores):
    import nibabel as nib

    flat = tmp / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8), np.float32), np.eye(4)), flat)
    return ["ingest", "nifti", flat, stores["new"]], flat, ()


def truncated_idx(tmp, demo_files, stores):
    src = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    if not src.exists():
        pytest.skip("dataset-fashion-mnist is not installed (make sysdeps)")
    raw = gzip.decompress(src.read_bytes())
    bad = tmp / "cut-idx3-ubyte"
    bad.write_bytes(raw[: 16 + 28 * 28 * 10 + 100])
    return ["ingest", "idx", bad, stores["new"]], bad, ()


def existing_variable(tmp, demo_files, stores):
    return (["roi", stores["demo"], "--otsu"], stores["demo"], ("roi", "exists", "--overwrite"))


CASES = [truncated_hdf5, wrong_dataset_path, wrong_shape, non_numeric_csv, duplicated_coordinates,
         off_grid_coordinates, missing_columns, empty_folder, corrupt_png, nifti_irreconcilable, truncated_idx,
         existing_variable]


@pytest.fixture
def stores(demo_store: Path, tmp_path: Path) -> dict[str, Path]:
    from skimage import data

    from vaearr.io.images import ingest_images

    folder = tmp_path / "good_images" / "c"
    folder.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(data.coins()[:64, :64]).save(folder / "coins.png")
    images = tmp_path / "images.zarr"
    ingest_images(folder.parent, images, size=16)
    return {"demo": demo_store, "images": images, "new": tmp_path / "new.zarr"}


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_one_line_exit_2_store_unchanged(case, demo_files, stores, tmp_path: Path) -> None:
    argv, named, words = case(tmp_path, demo_files, stores)
    before = {k: tree_hash(v) for k, v in stores.items()}
    proc = run_cli(*argv)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and str(named) in lines[0], lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert {k: tree_hash(v) for k, v in stores.items()} == before
    assert not stores["new"].exists()
    assert not list(tmp_path.glob("*.vaearr-tx")), "no staging copy is left behind"
