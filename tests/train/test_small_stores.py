"""Small data trains: 8, 50 and 200 real images and 4 MRI volumes, through the real CLI (issue 14).

Stores of a few tens or hundreds of samples have one chunk, too few for a validation split by
chunk: a seeded choice of samples goes to validation instead, and the run records it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from tests.helpers import cli, tree_hash
from vaearr.batches import ZarrBatches, make_loaders
from vaearr.batches.plan import choose_split, n_val_samples, split_samples
from vaearr.errors import InputError
from vaearr.store import write_variable

SMALL = ["--latent-dim", "2", "-o", "channels=[8,16]", "--previews", "0", "--no-tensorboard"]
SPLIT_LINE = re.compile(r"^validation: (\d+) of (\d+) samples, split by (sample|chunk) \((.*)\)$", re.M)


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory) -> Path:
    """skimage's 200 LFW faces (real photographs, 25×25) written as 32×32 PNG files."""
    data = pytest.importorskip("skimage.data", reason="needs scikit-image for its sample images")
    root = tmp_path_factory.mktemp("faces")
    for i, face in enumerate(data.lfw_subset()):
        img = Image.fromarray((face * 255).round().astype(np.uint8)).resize((32, 32), Image.Resampling.BILINEAR)
        img.save(root / f"face_{i:03d}.png")
    return root


def _image_store(faces_dir: Path, tmp_path: Path, n: int) -> Path:
    """The first ``n`` faces ingested by ``vaearr ingest images`` (one chunk: they are small)."""
    folder = tmp_path / f"faces{n}"
    folder.mkdir()
    for p in sorted(faces_dir.glob("*.png"))[:n]:
        shutil.copy(p, folder / p.name)
    store = tmp_path / f"faces{n}.zarr"
    cli("ingest", "images", folder, store, "--size", "32", check=True)
    return store


def _split_ids(run: Path) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """The training and validation sample ids of a run, from the loaders its recorded config makes."""
    from vaearr.run import Run
    from vaearr.train import TrainConfig

    r = Run.open(run)
    cfg, d = TrainConfig.from_dict(r.train), r.data
    train, val = make_loaders(d.store, d.var, d.sample_dims, d.feature_dims, mask=d.mask, batch_size=cfg.batch_size,
                              val_fraction=cfg.val_fraction, seed=cfg.seed, split_by=cfg.split_by, return_index=True)

    def ids(loader):
        return np.sort(np.concatenate([i.numpy() for _, i in loader]))

    return ids(train), None if val is None else ids(val), r.train


def _train(store: Path, run: Path, *extra: str, check: bool = True):
    return cli("train", store, "--run", run, "--epochs", "1", *SMALL, *extra, check=check)


@pytest.mark.parametrize("n", [8, 50, 200])
def test_images_train_split_by_sample(faces_dir: Path, tmp_path: Path, n: int) -> None:
    store = _image_store(faces_dir, tmp_path, n)
    run = tmp_path / "run"
    proc = _train(store, run, "--var", "images")
    n_val = n_val_samples(n, 0.1)
    assert f"validation: {n_val} of {n} samples, split by sample (the store has 1 chunk)" in proc.stdout
    assert len(SPLIT_LINE.findall(proc.stdout)) == 1
    clamp = f"batch size: 64 is more than the {n - n_val} training samples; clamped to {n - n_val}"
    assert (clamp in proc.stdout) == (n - n_val < 64)
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1 and np.isfinite(history[0]["val_loss"])
    assert history[0]["samples"] == n - n_val  # the epoch saw the training split once
    train, val, recorded = _split_ids(run)
    assert recorded["split_by"] == "sample" and recorded["batch_size"] == min(64, n - n_val)
    assert not set(train) & set(val)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert len(val) == n_val
    assert (run / "best" / "model.safetensors").exists()


def test_resume_keeps_the_sample_split_and_is_exact(faces_dir: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    store = _image_store(faces_dir, tmp_path, 8)
    full, cut = tmp_path / "full", tmp_path / "cut"
    # no schedule: a cosine one spans the epochs asked for, which differ between the two runs here
    cli("train", store, "--run", full, "--var", "images", "--epochs", "2", "--lr-schedule", "none", *SMALL,
            check=True)
    _train(store, cut, "--var", "images", "--lr-schedule", "none")
    resumed = cli("train", store, "--run", cut, "--epochs", "2", "--resume", check=True)
    assert "validation: 1 of 8 samples, split by sample" in resumed.stdout
    assert "clamped" not in resumed.stdout  # the recorded batch size is used as it is
    a = load_file(full / "checkpoints" / "epoch_0002" / "model.safetensors")
    b = load_file(cut / "checkpoints" / "epoch_0002" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [h["val_loss"] for h in json.loads((full / "history.json").read_text())] == \
        [h["val_loss"] for h in json.loads((cut / "history.json").read_text())]
    # encode reads every sample through the run
    cli("encode", store, "--run", cut, check=True)
    from vaearr.store import open_store

    assert open_store(store)["latent"].shape == (8, 2)


def test_val_fraction_zero_trains_without_validation(faces_dir: Path, tmp_path: Path) -> None:
    store = _image_store(faces_dir, tmp_path, 50)
    run = tmp_path / "run"
    proc = _train(store, run, "--var", "images", "--val-fraction", "0", "--batch-size", "16")
    assert "validation: none (--val-fraction 0): all 50 samples train; best/ is chosen by the training loss" \
        in proc.stdout
    assert "best epoch: 1 (by training loss" in proc.stdout and "clamped" not in proc.stdout
    history = json.loads((run / "history.json").read_text())
    assert history[0]["samples"] == 50 and not [k for row in history for k in row if k.startswith("val_")]
    assert "val_loss" not in (run / "history.csv").read_text()
    assert (run / "best" / "model.safetensors").exists() and (run / "curves.png").exists()
    train, val, _ = _split_ids(run)
    assert val is None and np.array_equal(train, np.arange(50))


def test_train_vae_flow_without_validation(faces_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("prefect", reason="needs the 'flows' extra")
    from prefect.testing.utilities import prefect_test_harness

    from flows.pipeline import train_vae

    store = _image_store(faces_dir, tmp_path, 8)
    with prefect_test_harness(server_startup_timeout=180):
        summary = train_vae(store=str(store), run=str(tmp_path / "run"), epochs=1, var="images", latent_dim=2,
                            val_fraction=0.0, previews=0, tensorboard=False, model_options={"channels": [8, 16]})
    assert summary["epochs"] == 1 and summary["best_epoch"] == 1
    assert summary["notes"][0].startswith("validation: none (`val_fraction=0`): all 8 samples train")  # a flow: keywords
    assert "clamped to 8" in summary["notes"][1]
    assert "val_loss" not in summary["last"] and np.isfinite(summary["best_val_loss"])


def _nifti_dir(tmp_path: Path) -> Path:
    """Four real MRI volumes: nibabel's anatomical.nii, flipped and shifted copies (as NIfTI files)."""
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra (nibabel)")
    import nibabel.testing

    img = nib.load(Path(nibabel.testing.data_path) / "anatomical.nii")
    vol = np.asarray(img.dataobj, dtype=np.float32)
    folder = tmp_path / "brains"
    folder.mkdir()
    for i, v in enumerate([vol, vol[::-1], vol[:, ::-1], np.roll(vol, 3, axis=0)]):
        nib.save(nib.Nifti1Image(np.ascontiguousarray(v), img.affine), folder / f"sub{i}.nii.gz")
    return folder


def test_four_volumes_train(tmp_path: Path) -> None:
    pytest.importorskip("monai", reason="needs the 'models' extra (monai)")
    store = tmp_path / "brains.zarr"
    cli("ingest", "nifti", _nifti_dir(tmp_path), store, check=True)
    run = tmp_path / "run"
    proc = cli("train", store, "--run", run, "--var", "volumes", "--model", "vae3d", "--epochs", "1",
                   "--patch", "16x16x16", "--previews", "0", "--no-tensorboard", "-o", "channels=[8,16]",
                   "-o", "num_res_blocks=1", "-o", "latent_channels=2", "-o", "norm_num_groups=4",
                   "-o", "backbone=monai", check=True)
    assert "validation: 1 of 4 samples, split by sample (the store has 1 chunk)" in proc.stdout
    assert "batch size: 64 is more than the 3 training samples; clamped to 3" in proc.stdout
    history = json.loads((run / "history.json").read_text())
    assert history[0]["samples"] == 3 and np.isfinite(history[0]["val_loss"])
    train, val, recorded = _split_ids(run)
    assert recorded["batch_size"] == 3 and recorded["split_by"] == "sample"
    assert len(val) == 1 and not set(train) & set(val)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(4))


def test_one_sample_cannot_hold_validation_out(tmp_path: Path) -> None:
    store = tmp_path / "one.zarr"
    write_variable(store, "images", xr.DataArray(np.zeros((1, 8, 8), np.uint8), dims=("sample", "row", "col")))
    before = tree_hash(store)
    proc = cli("train", store, "--run", tmp_path / "run", "--var", "images", *SMALL)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.splitlines() == [err] and str(store) in err and "too few to hold any out for validation" in err
    assert tree_hash(store) == before


# ----------------------------------------------------------------------------------------------
# the split functions


def test_split_samples_is_seeded_disjoint_and_sized() -> None:
    ids = np.flatnonzero(np.random.default_rng(1).random(300) < 0.5)  # masked samples: not a range
    val = split_samples(ids, 0.1, seed=3)
    assert np.array_equal(val, split_samples(ids.copy(), 0.1, seed=3))  # deterministic for a seed
    assert not np.array_equal(val, split_samples(ids, 0.1, seed=4))
    assert len(val) == round(0.1 * len(ids)) and len(np.unique(val)) == len(val)
    assert np.isin(val, ids).all() and np.all(np.diff(val) > 0)
    train = np.setdiff1d(ids, val)
    assert len(train) + len(val) == len(ids)
    # sizes: at least one to validation, never all of them
    assert [n_val_samples(n, 0.1) for n in (2, 4, 8, 50, 200)] == [1, 1, 1, 5, 20]
    assert n_val_samples(4, 0.9) == 3 and n_val_samples(10, 0) == 0
    with pytest.raises(InputError, match="too few"):
        split_samples(np.arange(1), 0.1, seed=0)


def test_choose_split_keeps_chunks_when_they_work() -> None:
    assert choose_split(np.array([200]), 0.1, 0) == "sample"  # one chunk
    assert choose_split(np.array([0, 200, 0]), 0.1, 0) == "sample"  # one non-empty chunk
    assert choose_split(np.full(15, 128), 0.1, 0) == "chunk"
    assert choose_split(np.array([100, 100]), 0.1, 0) == "chunk"
    # two chunks of 5 and 60 % to validation: one chunk is too few, two leave training none
    assert choose_split(np.array([5, 5]), 0.6, 0) == "sample"
    assert choose_split(np.full(15, 128), 0.0, 0) is None
    assert choose_split(np.array([200]), 0.1, 0, "chunk") == "chunk"  # asked for: the loader then says why not
    with pytest.raises(InputError, match="split_by"):
        choose_split(np.array([200]), 0.1, 0, "nope")


def test_loader_split_by_sample_inside_a_mask(tmp_path: Path) -> None:
    store = tmp_path / "m.zarr"
    data = np.arange(30 * 4, dtype=np.float32).reshape(5, 6, 4)
    mask = np.zeros((5, 6), bool)
    mask[1:4, 2:] = True
    write_variable(store, "v", xr.DataArray(data, dims=("y", "x", "f")))
    write_variable(store, "roi", xr.DataArray(mask, dims=("y", "x")))
    common = dict(var="v", sample_dims=("y", "x"), feature_dims=("f",), mask="roi", val_fraction=0.25, seed=2,
                  batch_size=4, return_index=True)
    with pytest.raises(InputError, match="cannot split train/val by chunk"):
        ZarrBatches(store, split="train", **common)  # the loader's default: whole chunks
    train = ZarrBatches(store, split="train", split_by="auto", **common)
    val = ZarrBatches(store, split="val", split_by="auto", **common)
    assert train.split_by == val.split_by == "sample"
    tr = np.concatenate([i.numpy() for _, i in train])
    va = np.concatenate([i.numpy() for _, i in val])
    assert len(va) == 3 and train.n_samples == len(tr) == 9 and val.n_samples == 3
    assert not set(tr) & set(va) and np.array_equal(np.sort(np.concatenate([tr, va])), np.flatnonzero(mask))
    # batches carry the samples' own data
    x, i = next(iter(ZarrBatches(store, split="val", split_by="sample", channels_first=False, **common)))
    np.testing.assert_array_equal(x.numpy(), data.reshape(30, 4)[i.numpy()])
