"""The slice-wise perceptual distance of 3D runs: SqueezeNet 1.1's layout, its weights file's checks, the distance
(random weights here: no download in tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vaearr.analysis.perceptual import (
    MIN_SIDE, SQUEEZENET_FILE, load_features, lpips_style, perceptual_3d, skipped_message, squeezenet_features,
    weights_file,
)
from vaearr.errors import InputError


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision-layout file of random SqueezeNet 1.1 weights, with a classifier key load_features ignores."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in squeezenet_features().state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(2, 512, 1, 1)
    path = tmp_path_factory.mktemp("w") / SQUEEZENET_FILE
    torch.save(state, path)
    return path


def test_features_have_torchvision_names_and_size() -> None:
    state = squeezenet_features().state_dict()
    assert {"0.weight", "3.squeeze.weight", "12.expand3x3.bias"} <= set(state)
    # torchvision's squeezenet1_1 features: 722,496 parameters
    assert sum(v.numel() for v in state.values()) == 722_496


def test_load_features_restores_the_file(weights: Path) -> None:
    net = load_features(weights)
    assert not net.training
    saved = torch.load(weights, weights_only=True)
    torch.testing.assert_close(net[3].squeeze.weight, saved["features.3.squeeze.weight"])


def test_load_features_refuses_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(InputError, match="junk.pth: not a weights file torch.load"):
        load_features(junk)
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(InputError, match="list.pth: holds a list, not a state dict"):
        load_features(tmp_path / "list.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "part.pth")
    with pytest.raises(InputError, match=r"not SqueezeNet 1.1 weights \(torchvision layout\): missing keys \['features.0.bias'"):
        load_features(tmp_path / "part.pth")
    state = {f"features.{k}": v for k, v in squeezenet_features().state_dict().items()}
    state["features.0.bias"] = torch.zeros(32)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(InputError, match=r"features.0.bias has shape \(32,\), SqueezeNet 1.1 has \(64,\)"):
        load_features(tmp_path / "shape.pth")


def test_weights_file_given_or_cached(tmp_path: Path, weights: Path) -> None:
    assert weights_file(weights) == weights
    with pytest.raises(InputError, match="no such file"):
        weights_file(tmp_path / "missing.pth")
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))  # torch hub's cache, here an empty folder
    try:
        assert weights_file() is None
        assert str(tmp_path / "checkpoints" / SQUEEZENET_FILE) in skipped_message()
        (tmp_path / "checkpoints").mkdir()
        (tmp_path / "checkpoints" / SQUEEZENET_FILE).write_bytes(weights.read_bytes())
        assert weights_file() == tmp_path / "checkpoints" / SQUEEZENET_FILE
    finally:
        torch.hub.set_dir(hub)


def test_lpips_style_is_zero_on_equal_images_and_gray_is_rgb(weights: Path) -> None:
    net = load_features(weights)
    g = torch.rand(2, 1, 40, 40) * 2 - 1
    with torch.no_grad():
        assert lpips_style(net, g, g).tolist() == [0.0, 0.0]
        d = lpips_style(net, g, torch.flip(g, (0,)))
        torch.testing.assert_close(d, lpips_style(net, g.expand(-1, 3, -1, -1), torch.flip(g, (0,)).expand(-1, 3, -1, -1)))
    assert d.dtype == torch.float64 and (d > 0).all() and d[0] == pytest.approx(float(d[1]))


def test_perceptual_3d_per_axis(weights: Path) -> None:
    net = load_features(weights)
    rng = np.random.default_rng(0)
    x = rng.random((1, 1, MIN_SIDE, MIN_SIDE, MIN_SIDE), np.float32)
    recon = x.copy()
    recon[..., :, :16] = x[..., :, 16:]  # every slice along z and y differs; along x half are copies of others
    d = perceptual_3d(x[:, 0], recon[:, 0], net, batch=16)  # (N, D, H, W) as well as (N, 1, D, H, W)
    assert set(d) == {"z", "y", "x", "mean"} and all(v.shape == (1,) for v in d.values())
    assert d["z"][0] > 0 and d["y"][0] > 0
    assert d["mean"][0] == pytest.approx(np.mean([d[a][0] for a in "zyx"]))
    with pytest.raises(InputError, match="have slices under 32 px"):
        perceptual_3d(x[..., :16], x[..., :16], net)
    with pytest.raises(InputError, match=r"perceptual_3d takes two \(N, D, H, W\) volumes"):
        perceptual_3d(x[0, 0], x[0, 0], net)
