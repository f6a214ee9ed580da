"""vaearr.encoding: what ``encode`` decides before and around the encoder pass: the grid of samples whose
reconstruction error is decoded, the bands of chunks a cluster's tasks take, where the latents go (their dims and
coordinates), and what it says it wrote.

``encode`` on a trained run, end to end, is in tests/train/test_encode.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vaearr import encoding
from vaearr.encoding import RECON_SAMPLES, TASK_SAMPLES, EncodeResult, decode_stride, on_grid
from vaearr.errors import OptionError


def test_the_decode_stride_keeps_at_most_the_budget_on_a_grid():
    assert decode_stride(RECON_SAMPLES, 2) == 1
    assert decode_stride(RECON_SAMPLES + 1, 2) == 2
    assert decode_stride(10**6, 2) == 2  # 10⁶ / 4 = 250 000 ≤ 512²
    assert decode_stride(4 * RECON_SAMPLES + 1, 2) == 3
    assert decode_stride(RECON_SAMPLES * 8, 3) == 2
    assert decode_stride(10**9, 1) == -(-10**9 // RECON_SAMPLES)
    assert decode_stride(10**6, 2, stride=1) == 1 and decode_stride(10, 2, stride=5) == 5
    with pytest.raises(OptionError, match=r"^recon_stride must be at least 1, got 0$"):
        decode_stride(10, 2, stride=0)


def test_the_grid_marks_every_strideth_sample_of_each_dim_counting_from_the_whole_maps_row():
    assert on_grid((4, 6), 1) is None
    keep = on_grid((4, 6), 2)
    marks = keep(np.arange(24)).reshape(4, 6)
    want = np.zeros((4, 6), bool)
    want[::2, ::2] = True
    np.testing.assert_array_equal(marks, want)
    band = on_grid((3, 6), 2, row0=1)  # rows 1..3 of the map: its first row is off the grid
    np.testing.assert_array_equal(band(np.arange(18)).reshape(3, 6), want[1:4])
    np.testing.assert_array_equal(on_grid((4, 3, 3), 3)(np.array([0, 3, 27, 35])), [True, False, True, False])


def test_the_grids_count_inside_a_mask(tmp_path):
    roi = np.zeros((5, 5), bool)
    roi[0, 0] = roi[2, 4] = roi[1, 1] = roi[4, 2] = True
    ds = xr.Dataset({"roi": (("y", "x"), roi)})
    assert encoding._on_grid_count(ds, "roi", ("y", "x"), 2) == 3  # noqa: SLF001 - the count the summary reports
    assert encoding._on_grid_count(ds, None, ("y", "x"), 2) == 9  # noqa: SLF001 - the same, with no mask


def test_the_summary_says_what_was_written_and_the_grid_of_the_reconstruction_error():
    r = EncodeResult("s.zarr", ["latent", "latent_recon_error"], 1000, Path("run/best"), "0123456789abcdef",
                     figures=[Path("f/latent.html")], active_units=(3, 8), recon_stride=2, recon_samples=250)
    assert r.summary().splitlines() == [
        "encoded 1000 samples with run/best (sha256 0123456789ab)",
        "wrote latent, latent_recon_error to s.zarr",
        "  active units: 3 of 8 latent dims",
        "  reconstruction error on a grid, one sample in 2 along each dim: 250 of 1000 (25.0%), NaN between "
        "(`recon_stride=1`: every one)",
        "  f/latent.html",
    ]
    every = EncodeResult("s.zarr", ["latent"], 10, Path("c"), "ab" * 32, recon_samples=10)
    assert every.summary().splitlines() == ["encoded 10 samples with c (sha256 abababababab)", "wrote latent to s.zarr"]


def test_a_file_hash_is_its_sha256(tmp_path):
    import hashlib

    (tmp_path / "w").write_bytes(b"x" * (3 << 20))  # over one read block
    assert encoding._sha256(tmp_path / "w") == hashlib.sha256(b"x" * (3 << 20)).hexdigest()  # noqa: SLF001 - the checkpoint's hash in the provenance


@pytest.mark.parametrize(("shape", "chunk", "bands"), [
    ((100, 30), 10, [(0, 70), (70, 100)]),  # 30 a row: 2048 samples are 69 rows, whole chunks of 10: 70
    ((5, 1000), 1, [(0, 3), (3, 5)]),
    ((8, 8), None, [(0, 8)]),  # one chunk
    ((4096,), 1000, [(0, 3000), (3000, 4096)]),
])
def test_a_clusters_tasks_take_bands_of_whole_chunks_of_at_least_the_task_size(shape, chunk, bands):
    dims = ("y", "x")[:len(shape)]
    data = xr.DataArray(np.zeros(shape, np.float32), dims=dims)
    ds = xr.Dataset({"v": data.chunk({dims[0]: chunk}) if chunk else data})
    got = encoding._bands(ds, "v", dims)  # noqa: SLF001 - how encode cuts the map for a cluster
    assert [(b.start, b.stop) for b in got] == bands
    assert all((b.stop - b.start) * int(np.prod(shape[1:])) >= min(TASK_SAMPLES, shape[0] * int(np.prod(shape[1:])))
               for b in got[:-1])


def test_vector_and_spatial_latents_are_laid_out_on_the_stores_grid():
    ds = xr.Dataset(coords={"y": [0.0, 1.0, 2.0], "x": [5.0, 6.0]})
    layout = encoding._Layout(ds, ("y", "x"), (4,))  # noqa: SLF001 - where encode puts the latents
    flat = layout.empty()
    assert flat.shape == (6, 4) and np.isnan(flat).all() and flat.dtype == np.float32
    assert layout.empty(rows=1, per_sample=True).shape == (2,)
    flat[:] = np.arange(24).reshape(6, 4)
    grid = layout.unflatten(flat)
    assert grid.shape == (3, 2, 4) and grid[2, 1, 3] == 23
    da = layout.dataarray(grid)
    assert da.dims == ("y", "x", "latent_dim") and list(da["x"].values) == [5.0, 6.0]
    assert list(da["latent_dim"].values) == [0, 1, 2, 3]
    assert layout.dataarray(grid[..., 0]).dims == ("y", "x")  # a value per sample: no latent dim
    vol = encoding._Layout(xr.Dataset(coords={"subject": ["a", "b"]}), ("subject",), (8, 2, 3, 4))  # noqa: SLF001 - 3D latents
    assert vol.ldims == ("latent_channel", "lz", "ly", "lx")
    assert vol.dataarray(np.zeros((2, 8, 2, 3, 4))).dims == ("subject", "latent_channel", "lz", "ly", "lx")
    assert encoding._Layout(ds, ("y", "x"), (8, 5, 5)).ldims == ("latent_channel", "ly", "lx")  # noqa: SLF001 - 2D
