"""Reconstruction quality: PSNR/SSIM equal torchmetrics (and scikit-image), 3D volumes, grids, NIfTI with affine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vaearr.analysis import quality as Q
from vaearr.viz.quality import reconstruction_grid, volume_reconstructions


@pytest.fixture(scope="module")
def camera_pair() -> tuple[np.ndarray, np.ndarray]:
    """Four 64×64 crops of skimage's camera (a real photograph) and noisy copies, in [0, 1]."""
    from skimage import data

    img = data.camera().astype(np.float32) / 255.0
    x = np.stack([img[r:r + 64, c:c + 64] for r, c in ((100, 100), (200, 250), (300, 50), (50, 400))])[:, None]
    noisy = np.clip(x + np.random.default_rng(0).normal(0, 0.08, x.shape), 0, 1).astype(np.float32)
    return x, noisy


def test_psnr_ssim_equal_torchmetrics_and_skimage(camera_pair) -> None:
    import torch
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    from torchmetrics.functional.image import structural_similarity_index_measure
    from torchmetrics.image import PeakSignalNoiseRatio

    x, r = camera_pair
    report = Q.reconstruction_quality(x, r, data_range=1.0, latent_shape=(16,))
    df = report.per_sample
    for i in range(len(x)):
        ri, xi = torch.from_numpy(r[i:i + 1]).double(), torch.from_numpy(x[i:i + 1]).double()
        tm_psnr = PeakSignalNoiseRatio(data_range=1.0)(ri, xi)
        _, tm_map = structural_similarity_index_measure(ri, xi, data_range=1.0, return_full_image=True)
        assert df["psnr"][i] == pytest.approx(float(tm_psnr), rel=1e-5)
        assert df["ssim"][i] == pytest.approx(float(tm_map[0, 0, 5:-5, 5:-5].mean()), rel=1e-6)  # torchmetrics' map
        assert df["psnr"][i] == pytest.approx(peak_signal_noise_ratio(x[i, 0], r[i, 0], data_range=1.0), rel=1e-4)
        sk = structural_similarity(x[i, 0], r[i, 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False)
        assert df["ssim"][i] == pytest.approx(sk, abs=1e-4)
        assert df["mse"][i] == pytest.approx(float(((x[i] - r[i]) ** 2).mean()), rel=1e-5)
    s = report.summary()
    assert s["psnr"] == pytest.approx(df["psnr"].mean()) and s["compression_ratio"] == 64 * 64 / 16
    # identical images: zero error, perfect SSIM, infinite PSNR
    same = Q.reconstruction_quality(x, x).per_sample
    assert (same["mse"] == 0).all() and np.allclose(same["ssim"], 1.0) and np.isinf(same["psnr"]).all()


def test_ssim_and_psnr_on_a_real_volume() -> None:
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    from pathlib import Path as P

    anat = P(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    vol = np.asarray(nib.load(anat).dataobj, np.float32)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    x = vol[None, None]  # (1, 1, 33, 41, 25)
    r = np.clip(x + np.random.default_rng(1).normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    rep = Q.reconstruction_quality(x, r, data_range=1.0, latent_shape=(4, 4, 5, 3))
    from skimage.metrics import structural_similarity

    # 3D SSIM: the number scikit-image computes over the whole volume
    want = structural_similarity(x[0, 0].astype(np.float64), r[0, 0].astype(np.float64), data_range=1.0,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert rep.per_sample["ssim"][0] == pytest.approx(want, abs=1e-4)
    assert 0 < rep.per_sample["ssim"][0] < 1 and rep.compression_ratio == pytest.approx(33 * 41 * 25 / 240)
    assert Q.ssim_window((25, 8, 6)) == (5, 4 / 7)


def test_reconstruction_grid_is_seeded(camera_pair, tmp_path: Path) -> None:
    from vaearr.viz import save_figure

    x = np.repeat(camera_pair[0], 5, axis=0)  # 20 samples
    fig, idx = reconstruction_grid(x, x * 0.9, n=6, seed=7, threshold=0.5)
    _, again = reconstruction_grid(x, x * 0.9, n=6, seed=7)
    _, other = reconstruction_grid(x, x * 0.9, n=6, seed=8)
    assert idx.tolist() == again.tolist() and idx.tolist() != other.tolist() and len(idx) == 6
    # one mosaic: 4 rows (input, recon, both binarised) × 6 columns of 64×64 tiles, 1-pixel gaps
    assert fig.data.shape == (4 * 65 - 1, 6 * 65 - 1)
    top_left = np.asarray(fig.data)[:64, :64]
    np.testing.assert_allclose(top_left, x[idx[0], 0])
    binarised = np.asarray(fig.data)[2 * 65:2 * 65 + 64, :64]
    np.testing.assert_array_equal(binarised, np.where(x[idx[0], 0] > 0.5, 1.0, 0.0))
    html, png = save_figure(fig, tmp_path / "grid")
    assert html.stat().st_size > 10_000 and png.stat().st_size > 1_000


def test_volume_reconstructions_keep_the_affine(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    pytest.importorskip("monai", reason="needs the 'models' extra (MONAI)")
    from tests.helpers import make_run
    from vaearr.io.nifti import ingest_nifti
    from vaearr.store import open_store

    anat = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    store = tmp_path / "vol.zarr"
    ingest_nifti([anat], store)  # volumes (1, 25, 41, 33)
    model = {"name": "vae3d", "input_shape": [1, 16, 16, 16], "channels": [8, 16], "norm_num_groups": 8,
             "backbone": "monai"}
    make_run(tmp_path / "run", store, model=model, var="volumes", sample_dims=("subject",),
             feature_dims=("z", "y", "x"), crop=16)
    out = tmp_path / "vols"
    written = volume_reconstructions(store, tmp_path / "run", out)
    names = sorted(p.name for p in written)
    assert names == ["anatomical_input.nii.gz", "anatomical_mid_slices.html", "anatomical_recon.nii.gz",
                     "perceptual_slices.json", "volume_quality.json"]
    ds = open_store(store)
    stored = ds["volumes"][0].values  # (z, y, x)
    affine = ds["affine"][0].values
    inp = nib.load(out / "anatomical_input.nii.gz")
    rec = nib.load(out / "anatomical_recon.nii.gz")
    assert inp.shape == rec.shape == (16, 16, 16)
    np.testing.assert_allclose(rec.affine, inp.affine)
    # the crop's offset (z, y, x) = ((25-16)//2, (41-16)//2, (33-16)//2): voxel (0,0,0) sits where
    # stored voxel (i=8, j=12, k=4) was, in world mm
    off_zyx = ((25 - 16) // 2, (41 - 16) // 2, (33 - 16) // 2)
    np.testing.assert_allclose(inp.affine @ [0, 0, 0, 1], affine @ [off_zyx[2], off_zyx[1], off_zyx[0], 1])
    crop = stored[off_zyx[0]:off_zyx[0] + 16, off_zyx[1]:off_zyx[1] + 16, off_zyx[2]:off_zyx[2] + 16]
    want = (crop - crop.min()) / (crop.max() - crop.min())  # the run's per-volume [0, 1] scaling
    np.testing.assert_allclose(np.asarray(inp.dataobj).transpose(2, 1, 0), want, atol=1e-5)
    q = json.loads((out / "volume_quality.json").read_text())
    assert set(q["anatomical"]) == {"mse", "psnr", "ssim"}
    assert (out / "anatomical_mid_slices.png").stat().st_size > 1_000
