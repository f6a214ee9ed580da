"""The geometric batch transforms (:mod:`vaearr.transforms` gives them too): centre crops, resizing, random 3D
patches, flips and affine maps (rotations and shifts), the random ones seeded per batch so augmentations repeat
exactly."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vaearr.errors import InputError
from vaearr.transforms_base import Transform, as_float


def _spatial_size(size: int | Sequence[int], x: torch.Tensor) -> tuple[int, ...]:
    n = x.ndim - 2
    if isinstance(size, int):
        return (size,) * n
    size = tuple(int(s) for s in size)
    if len(size) > n:
        raise InputError(None, f"size {size} has more dims than the {n} spatial dims of a {tuple(x.shape)} batch")
    return size


@dataclass
class CenterCrop(Transform):
    """Crop the centre of the last spatial dims; see :func:`center_crop`."""

    size: int | tuple[int, ...]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        size = _spatial_size(self.size, x)
        sl: list[slice] = [slice(None)] * (x.ndim - len(size))
        for n, s in zip(x.shape[x.ndim - len(size):], size):
            if s > n:
                raise InputError(None, f"center_crop({self.size}): a sample is only {n} wide")
            start = (n - s) // 2
            sl.append(slice(start, start + s))
        return x[tuple(sl)]


@dataclass
class Resize(Transform):
    """Interpolate the spatial dims to ``size``; see :func:`resize`."""

    size: int | tuple[int, ...]
    mode: str | None = None
    antialias: bool = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        size = _spatial_size(self.size, x)
        if len(size) != x.ndim - 2:
            raise InputError(None, f"resize({self.size}): give a size for each of the {x.ndim - 2} spatial dims")
        mode = self.mode or {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
        kw = {"align_corners": False} if mode in ("linear", "bilinear", "bicubic", "trilinear") else {}
        if self.antialias:
            kw["antialias"] = True
        return F.interpolate(as_float(x), size=size, mode=mode, **kw)


@dataclass
class RandomPatch3D(Transform):
    """One random 3D patch per sample; see :func:`random_patch_3d`."""

    size: int | tuple[int, int, int]
    seed: int = 0
    random = True

    def offsets(self, shape: Sequence[int], generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B, 3)`` start of each sample's patch in a batch of ``shape`` (B, C, Z, Y, X)."""
        size = (self.size,) * 3 if isinstance(self.size, int) else tuple(self.size)
        spatial = tuple(shape[-3:])
        if any(s > n for s, n in zip(size, spatial)):
            raise InputError(None, f"random_patch_3d({self.size}): volumes are only {spatial}")
        g = self._generator(generator)
        return torch.stack([torch.randint(0, n - s + 1, (shape[0],), generator=g) for s, n in zip(size, spatial)], 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 5:
            raise InputError(None, f"random_patch_3d() needs (B, C, Z, Y, X) batches, got {tuple(x.shape)}")
        size = (self.size,) * 3 if isinstance(self.size, int) else tuple(self.size)
        offs = self.offsets(x.shape, generator).tolist()
        return torch.stack([
            x[i, :, z:z + size[0], y:y + size[1], w:w + size[2]] for i, (z, y, w) in enumerate(offs)
        ])

    def for_eval(self) -> Transform:
        return CenterCrop(self.size if isinstance(self.size, int) else tuple(self.size))


@dataclass
class RandomFlip(Transform):
    """Flip each sample along each of ``dims`` with probability ``p``; see :func:`random_flip`."""

    dims: tuple[int, ...] = (-1,)
    p: float = 0.5
    seed: int = 0
    random = True

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        g = self._generator(generator)
        dims = (self.dims,) if isinstance(self.dims, int) else tuple(self.dims)
        for d in dims:
            if d % x.ndim == 0:
                raise InputError(None, "random_flip(): dim 0 is the batch dim")
            hit = torch.rand(len(x), generator=g) < self.p
            x = torch.where(hit.view((len(x),) + (1,) * (x.ndim - 1)), x.flip(d), x)
        return x


def _rotation(angles_rad: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, k, k)`` rotations in spatial-dim order, ``np.rot90`` orientation for positive angles.

    2D: one angle, the plane (-2, -1). 3D: three angles, the planes (-2, -1), (-3, -1), (-3, -2)
    applied in that order.
    """
    planes = [(0, 1)] if k == 2 else [(1, 2), (0, 2), (0, 1)]
    b = angles_rad.shape[0]
    out = torch.eye(k, dtype=angles_rad.dtype).repeat(b, 1, 1)
    for j, (p, q) in enumerate(planes):
        c, s = torch.cos(angles_rad[:, j]), torch.sin(angles_rad[:, j])
        r = torch.eye(k, dtype=angles_rad.dtype).repeat(b, 1, 1)
        r[:, p, p], r[:, p, q], r[:, q, p], r[:, q, q] = c, s, -s, c
        out = out @ r
    return out


def affine(x: torch.Tensor, rotate_deg: Any, translate: Any, *, padding_mode: str = "zeros") -> torch.Tensor:
    """Rotate about the centre and translate a batch of 2D ``(B, C, H, W)`` or 3D ``(B, C, D, H, W)`` samples.

    Parameters
    ----------
    x
        The batch.
    rotate_deg
        Degrees, per sample or one for all: 2D one angle (90 = ``np.rot90(axes=(-2, -1))``);
        3D three angles for the planes (-2, -1), (-3, -1), (-3, -2).
    translate
        Shift per spatial dim as a fraction of its size (``(dy, dx)`` or ``(dz, dy, dx)``); a
        positive shift moves content towards higher indices, like :func:`numpy.roll`.
    padding_mode
        What fills pixels that come from outside (see :func:`torch.nn.functional.grid_sample`).
    """
    x = as_float(x)
    k = x.ndim - 2
    if k not in (2, 3):
        raise InputError(None, f"affine() needs (B, C, H, W) or (B, C, D, H, W), got {tuple(x.shape)}")
    b = len(x)
    n_angles = 1 if k == 2 else 3
    ang = torch.as_tensor(rotate_deg, dtype=torch.float64)
    ang = ang.reshape(1, 1).expand(1, n_angles) if ang.ndim == 0 else ang.reshape(-1, n_angles)
    ang = ang.expand(b, n_angles) * (math.pi / 180)
    t = torch.as_tensor(translate, dtype=torch.float64).reshape(-1, k).expand(b, k)
    sizes = torch.tensor(x.shape[2:], dtype=torch.float64)
    # input pixel = R @ output pixel - shift (pixel units, centred); affine_grid wants it in
    # normalised (x, y[, z]) order, i.e. spatial dims reversed and scaled by size / 2
    m = _rotation(ang, k)
    rev = list(range(k - 1, -1, -1))
    m = m[:, rev][:, :, rev]
    half = sizes.flip(0) / 2
    lin = m * half[None, None, :] / half[None, :, None]
    shift = -2 * t.flip(1)
    theta = torch.cat([lin, shift[:, :, None]], 2).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


@dataclass
class RandomAffine(Transform):
    """Small random rotations and shifts (2D or 3D); see :func:`random_affine`."""

    max_rotate_deg: float = 10.0
    max_translate: float = 0.05
    padding_mode: str = "zeros"
    seed: int = 0
    random = True

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        g = self._generator(generator)
        k = x.ndim - 2
        n_angles = 1 if k == 2 else 3
        ang = (torch.rand(len(x), n_angles, generator=g, dtype=torch.float64) * 2 - 1) * self.max_rotate_deg
        shift = (torch.rand(len(x), k, generator=g, dtype=torch.float64) * 2 - 1) * self.max_translate
        return affine(x, ang, shift, padding_mode=self.padding_mode)


def center_crop(size: int | Sequence[int]) -> CenterCrop:
    """Crop the centre (start ``(n - size) // 2``) of the last spatial dims; an int crops every spatial dim."""
    return CenterCrop(size if isinstance(size, int) else tuple(size))


def resize(size: int | Sequence[int], mode: str | None = None, antialias: bool = False) -> Resize:
    """Interpolate the spatial dims to ``size`` (bilinear in 2D, trilinear in 3D by default).

    Half-pixel centres (``align_corners=False``): halving with bilinear averages 2×2 blocks.
    ``antialias`` low-pass filters when shrinking (2D bilinear/bicubic only).
    """
    return Resize(size if isinstance(size, int) else tuple(size), mode, antialias)


def random_patch_3d(size: int | Sequence[int], seed: int = 0) -> RandomPatch3D:
    """One random ``size`` patch from each volume of a ``(B, C, Z, Y, X)`` batch (for validation: a centre crop)."""
    return RandomPatch3D(size if isinstance(size, int) else tuple(size), seed)


def random_flip(dims: int | Sequence[int] = (-1,), p: float = 0.5, seed: int = 0) -> RandomFlip:
    """Flip each sample along each batch dim in ``dims`` (e.g. -1: columns) with probability ``p``."""
    return RandomFlip((dims,) if isinstance(dims, int) else tuple(dims), p, seed)


def random_affine(max_rotate_deg: float = 10.0, max_translate: float = 0.05, padding_mode: str = "zeros", seed: int = 0) -> RandomAffine:
    """Rotate each sample by up to ±``max_rotate_deg`` (in 3D: about each axis) and shift it by up to
    ±``max_translate`` of its size per dim, with :func:`affine` (``affine_grid`` + ``grid_sample``)."""
    return RandomAffine(max_rotate_deg, max_translate, padding_mode, seed)
