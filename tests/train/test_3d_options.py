"""3D options: labels from a subjects CSV, per-subject latent files, adversarial losses with a ramp (exact resume)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from tests.helpers import cli, tree_hash
from vaearr.models.losses import (
    discriminator_adversarial_loss,
    generator_adversarial_loss,
)
from vaearr.store import open_store

nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")


def _volumes(folder: Path, n: int = 3, size: int = 16) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        data = rng.random((size, size, size)).astype(np.float32)
        data[4:12, 4:12, 4:12] += i  # a bright cube that differs per subject
        affine = np.diag([2.0, 2.0, 3.0, 1.0])
        affine[:3, 3] = (-10.0, 5.0, 1.0 + i)
        paths.append(folder / f"sub-{i:02d}.nii.gz")
        nib.save(nib.Nifti1Image(data, affine), paths[-1])
    return paths


def _subjects_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("subject,age,diagnosis\n" + "".join(f"{s},{60 + i},{d}\n" for i, (s, d) in enumerate(rows)))
    return path


def test_label_column_of_the_subjects_csv_becomes_the_label_coord(tmp_path: Path) -> None:
    folder = tmp_path / "brains"
    _volumes(folder)
    csv = _subjects_csv(tmp_path / "subjects.csv", [("sub-02", "AD"), ("sub-00", "CN"), ("sub-01", "MCI")])
    store = tmp_path / "v.zarr"
    cli("ingest", "nifti", folder, store, "--subjects", csv, "--label-column", "diagnosis", check=True)
    ds = open_store(store)
    assert ds["label"].dims == ("subject",)
    assert dict(zip(ds["subject"].values.tolist(), ds["label"].values.tolist())) == {
        "sub-00": "CN", "sub-01": "MCI", "sub-02": "AD"}
    assert ds.attrs["label_column"] == "diagnosis"

    # bad input: one line, exit 2, the store as it was
    before = tree_hash(store)
    for args, message in (
        (("--subjects", csv, "--label-column", "sex"), "needs columns 'subject' and 'sex'"),
        (("--subjects", _subjects_csv(tmp_path / "short.csv", [("sub-00", "CN")]), "--label-column", "diagnosis"),
         "no row for subject(s) sub-01, sub-02"),
        (("--label-column", "diagnosis"), "--label-column needs a subjects CSV"),
        (("--subjects", csv), "--subjects needs --label-column"),
    ):
        proc = cli("ingest", "nifti", folder, store, "--overwrite", *args)
        assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert tree_hash(store) == before


def test_adversarial_losses_match_their_definitions_and_monai() -> None:
    losses = pytest.importorskip("monai.losses", reason="needs the 'models' extra")
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(2, 1, 4, 4, 4, generator=g), torch.randn(2, 1, 4, 4, 4, generator=g)
    monai_ls = losses.PatchAdversarialLoss(criterion="least_squares")
    expected = 0.5 * (monai_ls(fake, target_is_real=False, for_discriminator=True)
                      + monai_ls(real, target_is_real=True, for_discriminator=True))
    assert torch.allclose(discriminator_adversarial_loss(real, fake, "ls"), expected)
    assert torch.allclose(generator_adversarial_loss(fake, "ls"),
                          monai_ls(fake, target_is_real=True, for_discriminator=False))
    assert torch.allclose(generator_adversarial_loss(fake, "hinge"), -fake.mean())
    assert torch.allclose(discriminator_adversarial_loss(real, fake, "hinge"),
                          0.5 * ((1 - real).clamp(min=0).mean() + (1 + fake).clamp(min=0).mean()))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    assert torch.allclose(generator_adversarial_loss(fake, "ns"), bce(fake, torch.ones_like(fake)))
    assert torch.allclose(discriminator_adversarial_loss(real, fake, "ns"),
                          0.5 * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))))
    with pytest.raises(ValueError, match="unknown adversarial loss 'wgan'"):
        generator_adversarial_loss(fake, "wgan")


def _volume_store(tmp_path: Path) -> Path:
    folder = tmp_path / "brains"
    _volumes(folder, n=4)
    store = tmp_path / "v.zarr"
    cli("ingest", "nifti", folder, store, check=True)
    return store


ADV = ["-o", "channels=[8,8]", "-o", "latent_channels=2", "-o", "norm_num_groups=4", "-o", "backbone=monai",
       "-o", "adversarial_weight=0.5", "-o", "discriminator_channels=4", "-o", "discriminator_layers=1"]


def _train(store: Path, run: Path, epochs: int, *extra: str):
    return cli("train", store, "--run", run, "--var", "volumes", "--model", "vae3d", "--epochs", epochs,
                   "--batch-size", 2, "--val-fraction", 0, "--no-tensorboard", "--previews", 0, "--lr-schedule", "none", *extra)


def test_hinge_loss_with_a_ramp_trains_and_resumes_exactly(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    store = _volume_store(tmp_path)
    opts = [*ADV, "-o", "adversarial_loss=hinge", "-o", "adversarial_warmup_epochs=1", "-o", "adversarial_ramp_epochs=2"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _train(store, whole, 3, *opts).returncode == 0
    assert _train(store, cut, 2, *opts).returncode == 0
    proc = cli("train", store, "--run", cut, "--epochs", 3, "--resume")
    assert proc.returncode == 0, proc.stderr
    a = load_file(whole / "checkpoints" / "epoch_0003" / "model.safetensors")
    b = load_file(cut / "checkpoints" / "epoch_0003" / "model.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("discriminator.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    history = json.loads((whole / "history.json").read_text())
    rows = history if isinstance(history, list) else history["epochs"]
    assert "train_discriminator" not in rows[0] and np.isfinite(rows[1]["train_discriminator"])
    config = json.loads((whole / "config.json").read_text())["model"]
    assert config["adversarial_loss"] == "hinge" and config["adversarial_ramp_epochs"] == 2

    from vaearr.models import load_model

    model = load_model(whole / "best")
    assert [model.adversarial_scale(e) for e in range(4)] == [0.0, 0.5, 1.0, 1.0]

    bad = _train(store, tmp_path / "bad", 1, *ADV, "-o", "adversarial_loss=wgan")
    assert bad.returncode == 2 and "adversarial_loss must be one of ls, hinge, ns" in bad.stderr
    assert bad.stderr.count("\n") == 1


def test_per_subject_latent_files_named_by_subject(tmp_path: Path) -> None:
    store = _volume_store(tmp_path)
    run = tmp_path / "run"
    assert _train(store, run, 1, "-o", "channels=[8,8]", "-o", "latent_channels=2", "-o", "norm_num_groups=4",
                  "-o", "backbone=monai").returncode == 0
    out = tmp_path / "latents"
    proc = cli("encode", store, "--run", run, "--per-subject", out, check=True)
    assert "sub-00.npy" in proc.stdout
    ds = xr.open_zarr(store)
    for i in range(4):
        subject = f"sub-{i:02d}"
        lat = np.load(out / f"{subject}.npy")
        np.testing.assert_array_equal(lat, ds["latent"].sel(subject=subject).values)
        img = nib.load(out / f"{subject}.nii.gz")
        assert img.shape == (8, 8, 8, 2)  # (i, j, k, channel): the latent of a 16³ volume, f = 2
        np.testing.assert_allclose(np.asarray(img.dataobj)[..., 1], lat[1].transpose(2, 1, 0))
        # a latent voxel spans 2×2×2 input voxels: twice the voxel size, centred on them
        source = ds["affine"].sel(subject=subject).values
        np.testing.assert_allclose(img.affine[:3, :3], source[:3, :3] * 2)
        np.testing.assert_allclose(img.affine[:3, 3], source[:3, :3] @ [0.5, 0.5, 0.5] + source[:3, 3])
