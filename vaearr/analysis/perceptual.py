"""A slice-wise perceptual distance of 3D reconstructions, LPIPS-style, over all slices of all three axes.

The 2D feature network is SqueezeNet 1.1's ``features`` (torchvision's layout and file,
``squeezenet1_1-b8a52dc0.pth``: keys ``features.N...``), built here in plain torch and loaded with
``torch.load(weights_only=True)`` — from a given file, or from torch hub's cache
(``<torch.hub.get_dir()>/checkpoints/``) when the file is there. vaearr never downloads it; without
it the metric is skipped with a message, never replaced by a number.

Per slice (every slice along z, along y and along x), both images go in as LPIPS does: scaled from
the data range to [-1, 1], gray repeated to RGB, LPIPS's shift/scale layer; at each of LPIPS's seven
SqueezeNet taps the features are unit-normalised over channels, and the squared differences are
summed over channels and averaged over positions; the seven values are summed. That is the
"baseline" LPIPS distance (unit channel weights, ``lpips.LPIPS(lpips=False)``) — **not** the
calibrated LPIPS, whose learned linear weights are not used. A volume's value is the mean over the
slices of each axis, then over the three axes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaearr.errors import InputError

#: torchvision's file name of the SqueezeNet 1.1 weights.
SQUEEZENET_FILE = "squeezenet1_1-b8a52dc0.pth"
#: LPIPS's SqueezeNet slices end after these ``features`` indices.
TAPS = (1, 4, 7, 9, 10, 11, 12)
#: LPIPS's ScalingLayer (inputs in [-1, 1]).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
#: Smallest slice side SqueezeNet's three pools take.
MIN_SIDE = 32


class Fire(nn.Module):
    """SqueezeNet's fire module (torchvision's names)."""

    def __init__(self, cin: int, squeeze: int, e1: int, e3: int):
        super().__init__()
        self.squeeze, self.squeeze_activation = nn.Conv2d(cin, squeeze, 1), nn.ReLU()
        self.expand1x1, self.expand1x1_activation = nn.Conv2d(squeeze, e1, 1), nn.ReLU()
        self.expand3x3, self.expand3x3_activation = nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


def squeezenet_features() -> nn.Sequential:
    """SqueezeNet 1.1's ``features`` (random init), indices as torchvision's."""
    pool = {"kernel_size": 3, "stride": 2, "ceil_mode": True}
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(), nn.MaxPool2d(**pool),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(**pool),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(**pool),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
    )


def weights_file(path: str | os.PathLike | None = None) -> Path | None:
    """The weights file: ``path`` (must exist), or torch hub's cached copy, or None when there is none."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(path, f"no such file (the perceptual metric's SqueezeNet 1.1 weights, {SQUEEZENET_FILE})")
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / SQUEEZENET_FILE
    return cached if cached.is_file() else None


def skipped_message() -> str:
    """What to print when no weights are found."""
    return (f"perceptual metric skipped: no SqueezeNet 1.1 weights ({Path(torch.hub.get_dir()) / 'checkpoints' / SQUEEZENET_FILE} "
            "is absent and no file was given); copy torchvision's file there or pass its path")


def load_features(path: str | os.PathLike) -> nn.Sequential:
    """SqueezeNet 1.1 ``features`` with the file's weights (``features.*``; ``classifier.*`` ignored), eval mode.

    Raises
    ------
    InputError
        Unreadable or refused file; missing or unexpected ``features`` keys (one line).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types (unpickling refused, not a zip...)
        raise InputError(path, f"not a weights file torch.load(weights_only=True) reads ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict):
        raise InputError(path, f"holds a {type(state).__name__}, not a state dict")
    ours = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    net = squeezenet_features()
    want = net.state_dict()
    missing = [f"features.{k}" for k in want if k not in ours]
    unexpected = [f"features.{k}" for k in ours if k not in want]
    if missing or unexpected:
        raise InputError(path, f"not SqueezeNet 1.1 weights (torchvision layout): missing keys {missing[:6]}; "
                               f"unexpected keys {unexpected[:6]}")
    bad = [k for k in want if tuple(ours[k].shape) != tuple(want[k].shape)]
    if bad:
        raise InputError(path, f"features.{bad[0]} has shape {tuple(ours[bad[0]].shape)}, SqueezeNet 1.1 has "
                               f"{tuple(want[bad[0]].shape)}")
    net.load_state_dict(ours)
    return net.eval()


def _taps(net: nn.Sequential, x: Tensor) -> list[Tensor]:
    out = []
    for i, layer in enumerate(net):
        x = layer(x)
        if i in TAPS:
            out.append(x)
    return out


def lpips_style(net: nn.Sequential, a: Tensor, b: Tensor) -> Tensor:
    """Per-image distance of two (B, 1 or 3, H, W) batches already in [-1, 1] (module docstring), float64."""
    shift = torch.tensor(SHIFT, dtype=a.dtype).view(1, 3, 1, 1)
    scale = torch.tensor(SCALE, dtype=a.dtype).view(1, 3, 1, 1)
    a, b = (((t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t) - shift) / scale for t in (a, b))
    total = torch.zeros(a.shape[0], dtype=torch.float64)
    for fa, fb in zip(_taps(net, a), _taps(net, b), strict=True):
        na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total += (na - nb).pow(2).sum(1).mean((1, 2)).double()
    return total


def perceptual_3d(x: Any, recon: Any, net: nn.Sequential, *, data_range: tuple[float, float] = (0.0, 1.0),
                  batch: int = 64) -> dict[str, np.ndarray]:
    """LPIPS-style distance of volumes over all slices of each axis.

    Parameters
    ----------
    x, recon
        (N, 1, D, H, W) or (N, D, H, W) volumes.
    net
        :func:`load_features`' network.
    data_range
        (lo, hi) of the data, mapped to [-1, 1].

    Returns
    -------
    dict
        ``"z"``, ``"y"``, ``"x"``: (N,) means over the slices along that axis; ``"mean"``: (N,) their mean.

    Raises
    ------
    InputError
        A slice side under :data:`MIN_SIDE` (SqueezeNet's pools need it).
    """
    x = np.asarray(x, np.float32)
    recon = np.asarray(recon, np.float32)
    if x.ndim == 5:
        x, recon = x[:, 0], recon[:, 0]
    if x.shape != recon.shape or x.ndim != 4:
        raise InputError(None, f"perceptual_3d takes two (N, D, H, W) volumes, got {x.shape} and {recon.shape}")
    if min(x.shape[1:]) < MIN_SIDE:
        raise InputError(None, f"volumes of {'×'.join(map(str, x.shape[1:]))} have slices under {MIN_SIDE} px; "
                               "SqueezeNet's three pools need at least that")
    lo, hi = data_range
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for axis_name, axis in (("z", 1), ("y", 2), ("x", 3)):
            per = np.zeros(len(x))
            for i in range(len(x)):
                a = torch.from_numpy(np.moveaxis(x[i], axis - 1, 0).copy())[:, None]
                b = torch.from_numpy(np.moveaxis(recon[i], axis - 1, 0).copy())[:, None]
                a, b = ((t - lo) / (hi - lo) * 2 - 1 for t in (a, b))
                d = torch.cat([lpips_style(net, a[k:k + batch], b[k:k + batch]) for k in range(0, len(a), batch)])
                per[i] = float(d.mean())
            out[axis_name] = per
    out["mean"] = (out["z"] + out["y"] + out["x"]) / 3
    return out
