"""vaearr.models.perceptual: where the perceptual network's weights are looked for, the one-line refusals before
anything is built (no file, a file lpips cannot reach, a missing package), and the guard that makes any download an
error while the network is built."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from vaearr.errors import InputError
from vaearr.models import VAE3DConfig
from vaearr.models import perceptual
from vaearr.models.base import MissingPackageError
from vaearr.models.perceptual import PERCEPTUAL_NETWORKS, build_perceptual_loss, perceptual_weights_file

pytest.importorskip("monai", reason="needs the 'models' extra (monai)")


def config(**changes) -> VAE3DConfig:
    return VAE3DConfig(**{"perceptual_weight": 0.1, **changes})


def test_weights_file_is_the_given_path_or_torch_hubs_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert perceptual_weights_file(config(perceptual_weights_path="~/w/alex.pth")) == tmp_path / "w" / "alex.pth"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    for network, (file_name, _) in PERCEPTUAL_NETWORKS.items():
        assert perceptual_weights_file(config(perceptual_network=network)) == tmp_path / "hub" / "checkpoints" / file_name


def test_a_missing_file_is_refused_naming_where_to_get_it(tmp_path):
    missing = tmp_path / "vgg.pth"
    with pytest.raises(InputError) as info:
        build_perceptual_loss(config(perceptual_network="vgg", perceptual_weights_path=str(missing)))
    assert info.value.path == str(missing)
    assert info.value.problem == (
        "missing: the perceptual loss (perceptual_weight=0.1, network 'vgg') loads its 2D network from this file, and "
        "vaearr never downloads at run time; copy torchvision's vgg16-397923af.pth "
        "(https://download.pytorch.org/models/vgg16-397923af.pth) there, set perceptual_weights_path, or set "
        "perceptual_weight to 0")


def test_lpips_networks_need_torch_hubs_layout(tmp_path):
    elsewhere = tmp_path / "weights" / "squeeze.pth"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"")
    with pytest.raises(InputError, match=r"squeeze\.pth: for perceptual_network 'squeeze' the weights file must be "
                                         r"torchvision's squeezenet1_1-b8a52dc0\.pth inside a folder named 'checkpoints'"):
        build_perceptual_loss(config(perceptual_weights_path=str(elsewhere)))


@pytest.mark.skipif(importlib.util.find_spec("lpips") is not None and importlib.util.find_spec("torchvision")
                    is not None, reason="lpips and torchvision are installed here")
def test_a_missing_package_says_which_to_install(tmp_path):
    hub_file = tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth"
    hub_file.parent.mkdir()
    hub_file.write_bytes(b"")
    missing = next(p for p in ("lpips", "torchvision") if importlib.util.find_spec(p) is None)
    with pytest.raises(MissingPackageError, match=rf"^the perceptual loss \(network 'alex'\) needs the {missing} "
                                                  rf"package, which is not installed: pip install {missing}$"):
        build_perceptual_loss(config(perceptual_network="alex", perceptual_weights_path=str(hub_file)))


def test_offline_hub_refuses_downloads_and_restores_the_hub(tmp_path):
    saved_dir, saved_download = torch.hub._hub_dir, torch.hub.download_url_to_file  # noqa: SLF001 - what must come back
    weights = tmp_path / "checkpoints" / "x.pth"
    with perceptual._offline_hub(weights, tmp_path):  # noqa: SLF001 - the guard itself, without lpips
        assert Path(torch.hub.get_dir()) == tmp_path
        with pytest.raises(InputError, match=r"x\.pth: the perceptual network tried to download https://e\.org/a\.pth "
                                             r"to /tmp/a; vaearr never downloads at run time"):
            torch.hub.download_url_to_file("https://e.org/a.pth", "/tmp/a")
    assert torch.hub._hub_dir == saved_dir and torch.hub.download_url_to_file is saved_download  # noqa: SLF001
    with pytest.raises(RuntimeError), perceptual._offline_hub(weights, None):  # noqa: SLF001 - restored on errors too
        raise RuntimeError
    assert torch.hub.download_url_to_file is saved_download
