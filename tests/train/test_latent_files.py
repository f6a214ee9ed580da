"""vaearr.latent_files: a run's latents written out to files (``vaearr encode``'s ``export`` and ``per_subject``):
one ``.npy`` (and ``.nii.gz``) per subject, or the full and ROI arrays with their coordinates."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import xarray as xr

from vaearr.errors import InputError
from vaearr.latent_files import export_latents, export_per_subject


def _map(with_recon: bool = True) -> xr.Dataset:
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(3, 4, 2)).astype(np.float32)
    roi = np.zeros((3, 4), bool)
    roi[1, 2] = roi[2, 0] = roi[0, 3] = True
    ds = xr.Dataset({"latent": (("y", "x", "latent_dim"), lat), "roi": (("y", "x"), roi)},
                    coords={"y": [0.0, 0.5, 1.0], "x": [10.0, 10.5, 11.0, 11.5]})
    if with_recon:
        ds["latent_recon_error"] = (("y", "x"), rng.random((3, 4)).astype(np.float32))
    return ds


def test_the_full_and_roi_latents_with_their_coordinates(tmp_path):
    ds = _map()
    out = export_latents(ds, "latent", tmp_path / "ex", sample_dims=("y", "x"), mask="roi")
    assert [p.name for p in out] == ["latents_full.npy", "latents_roi.npy", "coords.csv", "recon_error_full.npy"]
    np.testing.assert_array_equal(np.load(out[0]), ds["latent"].values)
    np.testing.assert_array_equal(np.load(out[1]), ds["latent"].values[[0, 1, 2], [3, 2, 0]])  # C order: rows first
    with open(out[2], newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["y", "x", "iy", "ix"], ["0.0", "11.5", "0", "3"], ["0.5", "11.0", "1", "2"],
                    ["1.0", "10.0", "2", "0"]]
    np.testing.assert_array_equal(np.load(out[3]), ds["latent_recon_error"].values)


def test_without_a_mask_every_sample_and_without_coordinates_the_indices(tmp_path):
    ds = _map(with_recon=False).drop_vars(["y", "x"])
    out = export_latents(ds, "latent", tmp_path, sample_dims=("y", "x"), mask=None)
    assert len(out) == 3
    assert np.load(out[1]).shape == (12, 2)
    with open(out[2], newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1:3] == [["0", "0", "0", "0"], ["0", "1", "0", "1"]] and len(rows) == 13


def test_one_file_per_subject_named_by_its_id_and_masked_out_subjects_skipped(tmp_path):
    lat = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    lat[2] = np.nan
    ds = xr.Dataset({"latent": (("subject", "latent_dim"), lat)},
                    coords={"subject": ["sub-01", "sub/02", "sub-03", "..hidden"]})
    out = export_per_subject(ds, "latent", tmp_path / "per")
    assert [p.name for p in out] == ["sub-01.npy", "sub_02.npy", "hidden.npy"]
    np.testing.assert_array_equal(np.load(out[1]), lat[1])
    assert np.load(out[0]).dtype == np.float32


def test_ids_that_give_one_file_name_twice_are_refused_before_anything_is_written(tmp_path):
    ds = xr.Dataset({"latent": (("subject", "latent_dim"), np.zeros((3, 2)))},
                    coords={"subject": ["a/b", "a_b", "c"]})
    with pytest.raises(InputError, match=r"sample ids a_b give the same file name twice"):
        export_per_subject(ds, "latent", tmp_path / "per")
    assert not (tmp_path / "per").exists()


def test_without_an_id_coordinate_the_files_are_numbered(tmp_path):
    ds = xr.Dataset({"latent": (("sample", "latent_dim"), np.ones((2, 2)))})
    assert [p.name for p in export_per_subject(ds, "latent", tmp_path)] == ["0.npy", "1.npy"]


def test_a_3d_latent_of_a_volume_is_also_a_nifti_on_the_subjects_grid(tmp_path):
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    lat = np.random.default_rng(1).random((1, 2, 3, 4, 5)).astype(np.float32)  # (subject, channel, z, y, x)
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    ds = xr.Dataset({"latent": (("subject", "latent_channel", "lz", "ly", "lx"), lat),
                     "affine": (("subject", "r", "c"), affine[None])}, coords={"subject": ["s1"]})
    out = export_per_subject(ds, "latent", tmp_path, factor=4)
    assert [p.name for p in out] == ["s1.npy", "s1.nii.gz"]
    img = nib.load(out[1])
    np.testing.assert_array_equal(np.asarray(img.dataobj), lat[0].transpose(3, 2, 1, 0))  # (x, y, z, channel)
    # a latent voxel spans 4 input voxels a side: steps of 4 voxels, its centre 1.5 voxels in
    np.testing.assert_allclose(img.affine, affine @ np.array([[4, 0, 0, 1.5], [0, 4, 0, 1.5], [0, 0, 4, 1.5],
                                                              [0, 0, 0, 1]]))
    assert [p.name for p in export_per_subject(ds, "latent", tmp_path / "npy")] == ["s1.npy"]  # no factor: no NIfTI
