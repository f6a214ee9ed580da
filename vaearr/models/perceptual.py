"""The perceptual loss of the 3D autoencoder: its networks, their torchvision weights found offline, and the loss built
from a :class:`~vaearr.models.vae3d.VAE3DConfig`; :mod:`vaearr.models.vae3d` gives them too."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from types import MappingProxyType

import torch
from torch import nn

from vaearr.errors import InputError, require
from vaearr.models.base import MissingPackageError


if TYPE_CHECKING:  # the loss reads the config it is given
    from vaearr.models.vae3d import VAE3DConfig


#: Perceptual network → (the torchvision weights file it loads, packages it needs). The file names
#: are torchvision's, as stored by torch.hub under ``<hub dir>/checkpoints/``; the LPIPS networks
#: (squeeze, alex, vgg) also use lpips's own small linear heads, which ship inside the lpips package.
PERCEPTUAL_NETWORKS: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType({
    "squeeze": ("squeezenet1_1-b8a52dc0.pth", ("lpips", "torchvision")),
    "alex": ("alexnet-owt-7be5be79.pth", ("lpips", "torchvision")),
    "vgg": ("vgg16-397923af.pth", ("lpips", "torchvision")),
    "resnet50": ("resnet50-11ad3fa6.pth", ("torchvision",)),
})
_TORCHVISION_URL = "https://download.pytorch.org/models/"


def perceptual_weights_file(config: VAE3DConfig) -> Path:
    """The local file the perceptual loss loads its 2D network from (it may not exist)."""
    if config.perceptual_weights_path:
        return Path(config.perceptual_weights_path).expanduser()
    file_name, _ = PERCEPTUAL_NETWORKS[config.perceptual_network]
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


@contextlib.contextmanager
def _offline_hub(weights_file: Path, hub_dir: Path | None) -> Iterator[None]:
    """Make any torch.hub download an error while the perceptual network is built.

    torchvision and lpips load pretrained weights through ``torch.hub.load_state_dict_from_url``,
    which downloads through ``torch.hub.download_url_to_file`` when the cache lacks the file;
    replacing that function guarantees nothing is fetched even if our file check missed a case.
    ``hub_dir`` (optional) points the hub cache at a user's ``.../checkpoints`` folder meanwhile.
    """

    def refuse(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
        raise InputError(
            weights_file, f"the perceptual network tried to download {url} to {dst}; vaearr never downloads at run time"
        )

    saved_download = torch.hub.download_url_to_file
    saved_dir = getattr(torch.hub, "_hub_dir", None)  # private, but set_dir() cannot restore "unset"
    torch.hub.download_url_to_file = refuse
    if hub_dir is not None:
        torch.hub.set_dir(str(hub_dir))
    try:
        yield
    finally:
        torch.hub.download_url_to_file = saved_download
        if hub_dir is not None:
            torch.hub._hub_dir = saved_dir  # noqa: SLF001 - set_dir() cannot restore "unset" (above)


def build_perceptual_loss(config: VAE3DConfig) -> nn.Module:
    """MONAI's fake-3D PerceptualLoss from a local weights file, never downloading.

    Raises
    ------
    InputError
        The weights file is missing or, for the LPIPS networks, not laid out as torch hub expects
        — naming the file.
    MissingPackageError
        lpips / torchvision are not installed.
    """
    network = config.perceptual_network
    file_name, packages = PERCEPTUAL_NETWORKS[network]
    weights = perceptual_weights_file(config)
    if not weights.is_file():
        raise InputError(
            weights,
            f"missing: the perceptual loss (perceptual_weight={config.perceptual_weight}, network {network!r}) "
            f"loads its 2D network from this file, and vaearr never downloads at run time; copy torchvision's "
            f"{file_name} ({_TORCHVISION_URL}{file_name}) there, set perceptual_weights_path, "
            "or set perceptual_weight to 0",
        )
    hub_dir = None
    if "lpips" in packages and config.perceptual_weights_path:
        if weights.name != file_name or weights.parent.name != "checkpoints":
            raise InputError(
                weights,
                f"for perceptual_network {network!r} the weights file must be torchvision's {file_name} inside "
                "a folder named 'checkpoints' (torch hub's layout), because lpips loads it through torchvision",
            )
        hub_dir = weights.parent.parent
    for package in packages:
        if importlib.util.find_spec(package) is None:
            raise MissingPackageError(f"the perceptual loss (network {network!r})", package)
    losses = require("monai.losses", "models")
    kwargs: dict[str, Any] = {}
    if network == "resnet50" and config.perceptual_weights_path:
        kwargs["pretrained_path"] = str(weights)
    with _offline_hub(weights, hub_dir):
        loss = losses.PerceptualLoss(
            spatial_dims=3,
            network_type=network,
            is_fake_3d=True,
            fake_3d_ratio=config.perceptual_fake_3d_ratio,
            **kwargs,
        )
    return loss.eval()
