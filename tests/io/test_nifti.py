"""Tests for vaearr.io.nifti on nibabel's test volumes, nilearn's MNI152 and Colin27 (ch2)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import tree_hash
from vaearr.errors import InputError
from vaearr.io import nifti as nifti_mod
from vaearr.io.nifti import ingest_nifti, read_nifti, to_nifti
from vaearr.store import open_store

nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra (nibabel)")
from nibabel.processing import resample_from_to  # noqa: E402 - after the skip

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"
ANAT = NIB_DATA / "anatomical.nii"  # 33×41×25, int16, 2 mm, x flipped
MOVED = NIB_DATA / "reoriented_anat_moved.nii"  # 21×26×22, float32, 4 mm
EX4D = NIB_DATA / "example4d.nii.gz"  # 128×96×24×2, oblique
CH2 = Path("/usr/share/mricron/templates/ch2.nii.gz")  # Colin27, 181×217×181, 1 mm


def _mni_t1() -> Path:
    # the file itself: load_mni152_template() resamples on every call and costs seconds
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        pytest.skip("needs nilearn for its MNI152 template")
    path = Path(spec.origin).parent / "datasets" / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    if not path.is_file():
        pytest.skip("nilearn's MNI152 template file is missing")
    return path


def _world_centre(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre in world mm of a volume indexed (i, j, k)."""
    from scipy import ndimage

    return (affine @ [*ndimage.center_of_mass(data), 1.0])[:3]


def test_round_trip_and_axis_order(store_path: Path, tmp_path: Path):
    src = nib.load(ANAT)
    ds = ingest_nifti([ANAT], store_path)
    assert ds["volumes"].dims == ("subject", "z", "y", "x")
    assert ds["volumes"].shape == (1, 25, 41, 33)
    assert ds["volumes"].dtype == np.float32 and ds["affine"].dtype == np.float64
    assert ds["subject"].values.tolist() == ["anatomical"]
    assert ds.attrs["kind"] == "volumes" and ds.attrs["shape_ijk"] == [33, 41, 25]
    data = src.get_fdata()
    vol = ds["volumes"][0].values
    # volumes[s, k, j, i] is voxel (i, j, k)
    i, j, k = 30, 7, 19
    assert vol[k, j, i] == data[i, j, k] != 0
    np.testing.assert_array_equal(vol, data.transpose(2, 1, 0))
    np.testing.assert_array_equal(ds["affine"][0].values, src.affine)
    assert ds["axis"].values.tolist() == ["z", "y", "x"]
    np.testing.assert_allclose(ds["voxel_size"][0].values, [2.0, 2.0, 2.0])

    out = to_nifti(ds, "anatomical", tmp_path / "back.nii.gz")
    back = nib.load(out)
    np.testing.assert_array_equal(back.get_fdata(), data)
    np.testing.assert_allclose(back.affine, src.affine)
    np.testing.assert_allclose(back.header.get_zooms(), src.header.get_zooms())
    with pytest.raises(InputError, match="no subject 'nobody'"):
        to_nifti(store_path, "nobody", tmp_path / "x.nii")


def test_crop_and_pad_keep_world_mapping(store_path: Path, tmp_path: Path):
    # anatomical is cropped along i and k and padded along j; the moved one padded along i, j
    shape = (29, 45, 22)
    ds = ingest_nifti([ANAT, MOVED], store_path, shape=shape)
    assert ds["volumes"].shape == (2, 22, 45, 29)
    for subject, path in (("anatomical", ANAT), ("reoriented_anat_moved", MOVED)):
        written = nib.load(to_nifti(ds, subject, tmp_path / f"{subject}.nii"))
        assert written.shape == shape
        # an independent resampler, nearest voxel, puts the source on the stored grid: equal
        # only if the updated affine says exactly where every stored voxel came from
        expected = resample_from_to(nib.load(path), written, order=0, cval=0.0).get_fdata()
        np.testing.assert_array_equal(written.get_fdata(), expected, err_msg=subject)
        assert np.count_nonzero(expected) > 1000


def test_resample_mni_keeps_world_position(tmp_path: Path):
    mni = _mni_t1()  # 197×233×189 at 1 mm
    shape = (66, 78, 63)
    ds = read_nifti([mni], shape=shape, method="resample")
    assert ds["volumes"].shape == (1, 63, 78, 66)
    np.testing.assert_allclose(ds["voxel_size"][0].values, [189 / 63, 233 / 78, 197 / 66])
    src = nib.load(mni)
    out = nib.load(to_nifti(ds, "mni_icbm152_t1_tal_nlin_sym_09a_converted", tmp_path / "mni3.nii"))
    ours = out.get_fdata()
    # nibabel's own resampler on the same target grid agrees (ours also anti-aliases)
    theirs = resample_from_to(src, out, order=1).get_fdata()
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.98
    # the brain stays where it was in world coordinates (well under one 3 mm voxel)
    shift = _world_centre(ours, out.affine) - _world_centre(src.get_fdata(), src.affine)
    assert np.abs(shift).max() < 1.0
    # field of view is unchanged: outer voxel edges map to the same world points
    np.testing.assert_allclose(
        out.affine @ [-0.5, -0.5, -0.5, 1], src.affine @ [-0.5, -0.5, -0.5, 1], atol=1e-9
    )


def test_two_real_brains_on_one_grid(store_path: Path):
    if not CH2.is_file():
        pytest.skip("needs the Debian package mricron-data (ch2.nii.gz)")
    mni = _mni_t1()
    ds = ingest_nifti([CH2, mni], store_path, shape=(64, 64, 64), method="resample")
    assert ds["subject"].values.tolist() == ["ch2", "mni_icbm152_t1_tal_nlin_sym_09a_converted"]
    vols, affs = ds["volumes"].values, ds["affine"].values
    # both brains are in MNI-like space: their centres agree in world mm, not in voxels
    centres = [_world_centre(vols[s].transpose(2, 1, 0), affs[s]) for s in range(2)]
    assert np.abs(centres[0] - centres[1]).max() < 12.0


def test_loads_one_subject_per_task(monkeypatch):
    calls = []
    real = nifti_mod._load  # noqa: SLF001 - counted by wrapping it
    monkeypatch.setattr(nifti_mod, "_load", lambda plan, *a: calls.append(plan.subject) or real(plan, *a))
    ds = read_nifti([ANAT, MOVED])
    assert calls == []  # headers only until compute
    assert ds["volumes"].data.numblocks == (2, 1, 1, 1)
    _ = ds["volumes"][1].values  # computes the second volume only
    assert calls == ["reoriented_anat_moved"]


def test_folder_and_csv_sources(tmp_path: Path):
    folder = tmp_path / "brains"
    folder.mkdir()
    shutil.copy(ANAT, folder / "sub-01.nii")
    nib.save(nib.load(MOVED), folder / "sub-02.nii.gz")
    (folder / "notes.txt").write_text("not a volume")
    ds = read_nifti(folder)
    assert ds["subject"].values.tolist() == ["sub-01", "sub-02"]
    np.testing.assert_array_equal(ds["affine"][1].values, nifti_mod.crop_affine(nib.load(MOVED).affine, (-6, -7, -1)))

    csv = tmp_path / "lists" / "subjects.csv"
    csv.parent.mkdir()
    csv.write_text(f"subject, path\nbeta,../brains/sub-02.nii.gz\nalpha,{ANAT}\n")
    ds = read_nifti(csv, shape=(21, 26, 22))
    assert ds["subject"].values.tolist() == ["beta", "alpha"]
    np.testing.assert_array_equal(ds["volumes"][0].values, nib.load(MOVED).get_fdata().transpose(2, 1, 0))


def test_4d_needs_a_volume(tmp_path: Path):
    with pytest.raises(InputError, match=r"example4d.nii.gz: is 4D \(2 volumes\); pick a volume with `volume=N`"):
        read_nifti([EX4D])
    with pytest.raises(InputError, match=r"example4d.nii.gz: .*`volume=2` is not in 0..1"):
        read_nifti([EX4D], volume=2)
    ds = read_nifti([EX4D, ANAT], volume=1, shape=(128, 96, 24))  # volume applies to 4D files only
    src = nib.load(EX4D)
    np.testing.assert_array_equal(ds["volumes"][0].values, src.dataobj[..., 1].transpose(2, 1, 0))
    np.testing.assert_allclose(ds["affine"][0].values, src.affine)  # oblique affine kept
    np.testing.assert_allclose(ds["voxel_size"][0].values, [2.2, 2.0, 2.0], rtol=1e-6)


def test_irreconcilable_shapes(tmp_path: Path):
    flat = tmp_path / "flat.nii"
    nib.save(nib.Nifti1Image(np.ones((10, 12), np.float32), np.eye(4)), flat)
    with pytest.raises(InputError, match=r"flat.nii: has shape \(10, 12\) \(2D\)"):
        read_nifti([ANAT, flat])
    with pytest.raises(InputError, match=r"anatomical.nii: .*`shape` \(10, 10\)"):
        read_nifti([ANAT], shape=(10, 10))
    with pytest.raises(InputError, match=r"anatomical.nii: .*3 positive sizes"):
        read_nifti([ANAT], shape=(10, 0, 10))
    with pytest.raises(InputError, match="anatomical.nii: method"):
        read_nifti([ANAT], method="warp")


def test_bad_sources(tmp_path: Path):
    with pytest.raises(InputError, match="gone.nii: no such file"):
        read_nifti([ANAT, tmp_path / "gone.nii"])
    fake = tmp_path / "fake.nii"
    fake.write_bytes(b"plain text, not a NIfTI header" * 20)
    with pytest.raises(InputError, match="fake.nii: a text file beginning 'plain text, not a NIfTI header.*', not a "
                                         "NIfTI image nibabel reads"):
        read_nifti([fake])
    twin = tmp_path / "anatomical.nii"
    shutil.copy(ANAT, twin)
    with pytest.raises(InputError, match="anatomical.nii: subject 'anatomical' is named twice"):
        read_nifti([ANAT, twin])
    csv = tmp_path / "bad.csv"
    csv.write_text("name,file\na,b.nii\n")
    with pytest.raises(InputError, match="bad.csv: needs columns 'subject' and 'path'"):
        read_nifti(csv)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: holds no .nii"):
        read_nifti(tmp_path / "empty")


def test_failed_ingest_leaves_store_identical(tmp_path: Path, store_path: Path):
    ingest_nifti([ANAT], store_path)
    before = tree_hash(store_path)
    flat = tmp_path / "flat.nii"
    nib.save(nib.Nifti1Image(np.ones((10, 12), np.float32), np.eye(4)), flat)
    with pytest.raises(InputError, match="example4d.nii.gz"):
        ingest_nifti([EX4D], store_path, overwrite=True)
    with pytest.raises(InputError, match="flat.nii"):
        ingest_nifti([flat], store_path, overwrite=True)
    with pytest.raises(InputError, match="anatomical.nii"):
        ingest_nifti([ANAT], store_path, shape=(1, 2, 3, 4), overwrite=True)
    assert tree_hash(store_path) == before
    np.testing.assert_array_equal(open_store(store_path)["volumes"][0].values, nib.load(ANAT).get_fdata().T)
