"""Fixed-slice views of 3D previews (``--slices z,y,x``) and the slice-wise perceptual distance over three axes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import cli, tree_hash
from vaearr.analysis import perceptual as P
from vaearr.analysis.quality import check_slices, ortho_slices
from vaearr.errors import InputError
from vaearr.train.callbacks import preview_figure
from vaearr.viz.quality import reconstruction_grid, slice_views


def _volume(seed: int = 0, shape=(6, 7, 8)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _panels(layout) -> list[np.ndarray]:
    """Each image of a layout, rows top to bottom as built (hv.Image keeps the array it was given)."""
    return [np.asarray(el.data) for el in layout]


def test_ortho_slices_and_checks() -> None:
    v = _volume()
    axial, coronal, sagittal = ortho_slices(v, (1, 2, 3))
    np.testing.assert_array_equal(axial, v[1])
    np.testing.assert_array_equal(coronal, v[:, 2])
    np.testing.assert_array_equal(sagittal, v[:, :, 3])
    assert [a.shape for a in ortho_slices(v)] == [(7, 8), (6, 8), (6, 7)]
    np.testing.assert_array_equal(ortho_slices(v)[0], v[3])
    with pytest.raises(InputError, match=r"out of range .*6×7×8.*y=7 \(0..6\)") as err:
        check_slices((0, 7, 2), v.shape)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="three indices"):
        check_slices((1, 2), v.shape)
    with pytest.raises(InputError, match="x=-1"):
        check_slices((0, 0, -1), v.shape)


def test_slice_views_show_the_chosen_slices() -> None:
    x, r = _volume(1), _volume(2)
    panels = _panels(slice_views(x, r, (4, 0, 6), clim=(0.0, 1.0)))
    want = [x[4], x[:, 0], x[:, :, 6], r[4], r[:, 0], r[:, :, 6]]
    assert len(panels) == 6
    for got, exp in zip(panels, want, strict=True):
        np.testing.assert_array_equal(got, exp)
    mid = _panels(slice_views(x, r, None))
    np.testing.assert_array_equal(mid[1], x[:, 3])
    with pytest.raises(InputError, match="z=6"):
        slice_views(x, r, (6, 0, 0))


def test_reconstruction_grid_axial_slice() -> None:
    x = np.stack([_volume(s)[None] for s in range(3)])  # (N, C, D, H, W)
    r = x[:, :, ::-1].copy()
    fig, idx = reconstruction_grid(x, r, n=3, threshold=None, clim=(0.0, 1.0), slices=(5, 0, 0))
    mosaic = np.asarray(fig.data)
    h, w = 7, 8
    for k, i in enumerate(idx):
        np.testing.assert_array_equal(mosaic[:h, k * (w + 1):k * (w + 1) + w], x[i, 0, 5])
        np.testing.assert_array_equal(mosaic[h + 1:2 * h + 1, k * (w + 1):k * (w + 1) + w], r[i, 0, 5])
    with pytest.raises(InputError, match="z=9"):
        reconstruction_grid(x, r, n=3, slices=(9, 0, 0))


def test_volume_reconstructions_fixed_slices(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    pytest.importorskip("monai", reason="needs the 'models' extra (MONAI)")
    from tests.helpers import make_run
    from vaearr.io.nifti import ingest_nifti
    from vaearr.viz.quality import volume_reconstructions

    anat = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    store = tmp_path / "vol.zarr"
    ingest_nifti([anat], store)
    model = {"name": "vae3d", "input_shape": [1, 16, 16, 16], "channels": [8, 16], "norm_num_groups": 8,
             "backbone": "monai"}
    make_run(tmp_path / "run", store, model=model, var="volumes", sample_dims=("subject",),
             feature_dims=("z", "y", "x"), crop=16)
    with pytest.raises(InputError, match=r"x=16 \(0..15\)"):
        volume_reconstructions(store, tmp_path / "run", tmp_path / "bad", slices=(1, 2, 16))
    assert not (tmp_path / "bad").exists()
    written = volume_reconstructions(store, tmp_path / "run", tmp_path / "vols", slices=(3, 9, 12))
    assert "anatomical_slices.html" in {p.name for p in written}
    inp = np.asarray(nib.load(tmp_path / "vols" / "anatomical_input.nii.gz").dataobj).transpose(2, 1, 0)
    rec = np.asarray(nib.load(tmp_path / "vols" / "anatomical_recon.nii.gz").dataobj).transpose(2, 1, 0)
    panels = _panels(slice_views(inp, rec, (3, 9, 12)))
    np.testing.assert_allclose(panels[0], inp[3])
    np.testing.assert_allclose(panels[4], rec[:, 9])
    np.testing.assert_allclose(panels[2], inp[:, :, 12])
    # explore --slices: checked before anything is written; recorded in summary.json
    from vaearr.viz.explore import explore

    with pytest.raises(InputError, match=r"z=40 \(0..15\)"):
        explore(store, tmp_path / "run", tmp_path / "ex_bad", parts=["quality"], label=None, slices=(40, 0, 0))
    assert not (tmp_path / "ex_bad").exists()
    res = explore(store, tmp_path / "run", tmp_path / "ex", parts=["quality"], label=None, slices=(3, 9, 12))
    assert res.summary["slices_zyx"] == [3, 9, 12]
    assert (tmp_path / "ex" / "volumes" / "anatomical_slices.html").is_file()
    assert json.loads((tmp_path / "vols" / "perceptual_slices.json").read_text())["skipped"]  # 16³: no number
    with pytest.raises(InputError, match="no such file"):
        explore(store, tmp_path / "run", tmp_path / "ex_bad", parts=["quality"], label=None,
                perceptual_weights=tmp_path / "nope.pth")
    assert not (tmp_path / "ex_bad").exists()


# --------------------------------------------------------------------------------------------
# slice-wise perceptual distance


def _direct(net, a2d: np.ndarray, b2d: np.ndarray) -> float:
    """The LPIPS-style distance of one pair of [0, 1] slices, written out (one slice at a time)."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    feats = []
    for img in (a2d, b2d):
        h = ((torch.from_numpy(img)[None, None] * 2 - 1).repeat(1, 3, 1, 1) - shift) / scale
        taps = []
        for i, layer in enumerate(net):
            h = layer(h)
            if i in (1, 4, 7, 9, 10, 11, 12):
                taps.append(h[0].double())
        feats.append(taps)
    total = 0.0
    for fa, fb in zip(*feats, strict=True):
        na = fa / (torch.sqrt((fa**2).sum(0)) + 1e-10)
        nb = fb / (torch.sqrt((fb**2).sum(0)) + 1e-10)
        total += float(((na - nb) ** 2).sum(0).mean())
    return total


def test_perceptual_over_three_axes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = P.squeezenet_features()
    state = {f"features.{k}": v for k, v in net.state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(2, 512, 1, 1)  # torchvision's head: ignored
    path = tmp_path / "checkpoints" / P.SQUEEZENET_FILE
    path.parent.mkdir()
    torch.save(state, path)
    rng = np.random.default_rng(0)
    x = rng.random((1, 1, 32, 33, 34)).astype(np.float32)
    r = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    d = P.perceptual_3d(x, r, P.load_features(P.weights_file(path)))
    with torch.no_grad():
        want = {"z": np.mean([_direct(net, x[0, 0, k], r[0, 0, k]) for k in range(32)]),
                "y": np.mean([_direct(net, x[0, 0, :, k], r[0, 0, :, k]) for k in range(33)]),
                "x": np.mean([_direct(net, x[0, 0, :, :, k], r[0, 0, :, :, k]) for k in range(34)])}
    for axis in "zyx":
        assert d[axis][0] == pytest.approx(want[axis], rel=1e-5)
    assert d["mean"][0] == pytest.approx(np.mean(list(want.values())), rel=1e-5)
    assert len({round(float(d[a][0]), 6) for a in "zyx"}) == 3  # three different axes really were sliced
    assert P.perceptual_3d(x, x.copy(), P.load_features(path))["mean"][0] == 0.0
    # torch hub's cache is used when the file is there, and absent weights are said, not invented
    old = torch.hub.get_dir()
    try:
        torch.hub.set_dir(str(tmp_path))
        assert P.weights_file() == path
        torch.hub.set_dir(str(tmp_path / "empty"))
        assert P.weights_file() is None and "skipped" in P.skipped_message()
    finally:
        torch.hub.set_dir(old)
    with pytest.raises(InputError, match="no such file"):
        P.weights_file(tmp_path / "missing.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(InputError, match="missing keys") as err:
        P.load_features(tmp_path / "wrong.pth")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="under 32 px"):
        P.perceptual_3d(x[..., :16], r[..., :16], net)


def test_training_preview_figure_shows_the_chosen_slices() -> None:
    """``train --preview-slices z,y,x``: per sample the three views of input and reconstruction at those indices."""
    x = torch.from_numpy(np.stack([_volume(s)[None] for s in range(2)]))  # (2, 1, 6, 7, 8)
    r = torch.from_numpy(np.stack([_volume(s + 10)[None] for s in range(2)]))
    fig = preview_figure(x, r, (1, 2, 3))
    axes = np.array(fig.axes).reshape(6, 2)  # rows: input/recon × axial, coronal, sagittal
    for i in range(2):
        for v, cut in enumerate((lambda a: a[1], lambda a: a[:, 2], lambda a: a[:, :, 3])):
            for kind, arr in enumerate((x, r)):
                shown = np.asarray(axes[2 * v + kind, i].images[0].get_array())
                want = np.clip(cut(arr[i, 0].numpy()), float(x.min()), float(x.max()))
                np.testing.assert_array_equal(shown, want)
    assert axes[2, 0].get_title(loc="left") == "input, coronal y=2"
    middle = preview_figure(x, r)  # default: the middle axial slice only
    assert len(middle.axes) == 4
    np.testing.assert_array_equal(np.asarray(middle.axes[0].images[0].get_array()), x[0, 0, 3].numpy())


def test_train_preview_slices_from_the_command_line(tmp_path: Path) -> None:
    pytest.importorskip("monai", reason="needs the 'models' extra (monai)")
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra (nibabel)")
    folder = tmp_path / "vols"
    folder.mkdir()
    for i in range(4):
        nib.save(nib.Nifti1Image(_volume(i, (16, 16, 16)), np.eye(4)), folder / f"sub{i}.nii.gz")
    store = tmp_path / "v.zarr"
    cli("ingest", "nifti", folder, store, check=True)
    small = ["--var", "volumes", "--model", "vae3d", "--epochs", "1", "--previews", "2", "--no-tensorboard",
             "-o", "channels=[8,16]", "-o", "num_res_blocks=1", "-o", "latent_channels=2",
             "-o", "norm_num_groups=4", "-o", "backbone=monai"]
    before = tree_hash(store)
    for bad, why in ((["--preview-slices", "3,16,2"], "y=16 (0..15)"), (["--preview-slices", "3,4"], "three indices")):
        proc = cli("train", store, "--run", tmp_path / "bad", *small, *bad)
        assert proc.returncode != 0 and why in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists() and tree_hash(store) == before
    run = tmp_path / "run"
    cli("train", store, "--run", run, *small, "--preview-slices", "3,8,12", check=True)
    assert json.loads((run / "config.json").read_text())["train"]["preview_slices"] == [3, 8, 12]
    assert (run / "previews" / "epoch_0001.png").is_file()
