"""Batch transforms: small callables on a batch tensor ``(B, C, *spatial)`` (scale, standardise, crop, resize,
background, 3D patches, flips, affine), random ones seeded per batch so augmentations repeat exactly."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vaearr.errors import InputError
from vaearr.transforms_base import Transform, as_float
# the geometric transforms (crop, resize, 3D patches, flips, affine) are in vaearr.transforms_geometry; importable
# from here too
from vaearr.transforms_geometry import (  # noqa: F401
    CenterCrop,
    RandomAffine,
    RandomFlip,
    RandomPatch3D,
    Resize,
    affine,
    center_crop,
    random_affine,
    random_flip,
    random_patch_3d,
    resize,
)

# ----------------------------------------------------------------------------------------------
# transforms


def _dtype_range(dtype: Any) -> tuple[float, float] | None:
    if isinstance(dtype, torch.dtype):
        if dtype == torch.bool:
            return (0.0, 1.0)
        if dtype.is_floating_point or dtype.is_complex:
            return None
        info = torch.iinfo(dtype)
        return (float(info.min), float(info.max))
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return (0.0, 1.0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return (float(info.min), float(info.max))
    return None


@dataclass
class Scale(Transform):
    """Map ``in_range`` linearly to ``out_range``; see :func:`scale`."""

    out_range: tuple[float, float] = (0.0, 1.0)
    in_range: tuple[float, float] | str | None = None

    def prepare(self, source_dtype: np.dtype) -> Scale:
        if self.in_range is not None:
            return self
        rng = _dtype_range(source_dtype)
        if rng is None:
            raise InputError(None, f"scale(): the data are {np.dtype(source_dtype)}, which has no fixed range; "
                                   "give in_range=(min, max) or in_range='sample'")
        return dataclasses.replace(self, in_range=rng)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        a, b = self.out_range
        if self.in_range == "sample":
            x = as_float(x)
            flat = x.reshape(len(x), -1)
            shape = (len(x),) + (1,) * (x.ndim - 1)
            lo, hi = flat.amin(1).view(shape), flat.amax(1).view(shape)
            return (x - lo) / (hi - lo).clamp_min(1e-12) * (b - a) + a
        rng = self.in_range if self.in_range is not None else _dtype_range(x.dtype)
        if rng is None:
            raise InputError(None, "scale(): float input needs in_range=(min, max) or in_range='sample'")
        lo, hi = rng
        k = (b - a) / (hi - lo)
        return torch.mul(as_float(x), k).add_(a - lo * k)


@dataclass
class Standardize(Transform):
    """Zero mean, unit standard deviation per sample; see :func:`standardize`."""

    eps: float = 1e-6

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return standardized(x, self.eps)


def standardized(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each sample of ``x`` less its mean over its pixels, over their standard deviation (at least ``eps``):
    the result written over a float copy (a fresh one for non-float input). The moments are reduced one sample
    at a time as :meth:`torch.Tensor.mean` and ``std`` do it (``torch.std_mean`` sums a batch of one in another
    order than a batch of 64: a pattern would not be the same model input alone and in a batch)."""
    y = x.float() if not x.is_floating_point() else x.clone()
    shape = (len(y),) + (1,) * (y.ndim - 1)
    flat = y.reshape(len(y), -1)
    mean, std = flat.mean(1).view(shape), flat.std(1, correction=0).view(shape)
    return y.sub_(mean).div_(std.clamp_min(eps))


@dataclass
class RemoveAndStandardize(Transform):
    """``before`` (a background removal or a rescale) then :class:`Standardize`, as one step that skips the
    rescale the standardisation undoes (:func:`fuse_standardize`)."""

    before: Transform
    eps: float = 1e-6

    def prepare(self, source_dtype: np.dtype) -> RemoveAndStandardize:
        return dataclasses.replace(self, before=self.before.prepare(source_dtype))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return standardized(self.before.removed(x) if isinstance(self.before, SubtractBackground) else x, self.eps)


def fuse_standardize(steps: list[Transform]) -> list[Transform]:
    """``steps`` with each per-sample rescale that a :class:`Standardize` follows (:func:`affine_per_sample`)
    fused with it (:class:`RemoveAndStandardize`): the standardisation undoes any per-sample ``a x + b`` with
    ``a > 0``, so the EBSD default (background divided, each pattern rescaled to [0, 1], then standardised)
    is the standardisation of the divided patterns. It took the preprocessing of a batch of 128 patterns from
    ~48 to ~16 CPU-ms on 2 cores; the inputs move by ~1e-6 of their spread (rounding)."""
    out: list[Transform] = []
    for t in steps:
        if isinstance(t, Standardize) and out and not out[-1].random and affine_per_sample(out[-1]):
            out[-1] = RemoveAndStandardize(out[-1], t.eps)
        else:
            out.append(t)
    return out


def affine_per_sample(t: Transform) -> bool:
    """Whether ``t`` maps each sample by ``a x + b`` with ``a > 0`` (a per-sample or fixed rescale), which a
    :class:`Standardize` after it undoes: the pair is the standardisation alone (see :meth:`Preprocess.__call__
    <vaearr.preprocess.Preprocess.__call__>`)."""
    if not isinstance(t, Scale | SubtractBackground) or t.out_range[1] <= t.out_range[0]:
        return False
    rng = getattr(t, "in_range", "sample")
    return rng in ("sample", None) or (isinstance(rng, tuple | list) and rng[1] > rng[0])


@dataclass
class SubtractBackground(Transform):
    """Remove a static background (subtract it, or divide by it), then rescale each sample to
    ``out_range``; see :func:`subtract_background`."""

    background: Any
    out_range: tuple[float, float] = (0.0, 1.0)
    operation: str = "subtract"  # or "divide"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return Scale(self.out_range, "sample")(self.removed(x))

    def removed(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` divided by the background, or less it, before the rescale (what a standardisation that follows
        sees the same: :func:`affine_per_sample`)."""
        x = as_float(x)
        bg = torch.as_tensor(np.asarray(self.background), dtype=x.dtype, device=x.device)
        if bg.numel() != math.prod(x.shape[1:]):
            raise InputError(None, f"subtract_background(): background of shape {tuple(bg.shape)} does not fit samples {tuple(x.shape[1:])}")
        bg = bg.reshape(x.shape[1:])
        return x / bg.clamp_min(1e-6) if self.operation == "divide" else x - bg


def gaussian_blur(x: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Gaussian blur of the last two dims, as :func:`scipy.ndimage.gaussian_filter` does it
    (``mode="reflect"``: the edge sample repeated in mirror, a window of ``int(truncate σ + 0.5)``
    each side), in the batch's dtype and on its device."""
    radius = int(truncate * sigma + 0.5)
    if radius >= min(x.shape[-2:]):
        raise InputError(None, f"a Gaussian of σ = {sigma:g} px needs samples wider than {2 * radius} px, "
                               f"got {tuple(x.shape[-2:])}")
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    w = (w / w.sum()).to(x.dtype).to(x.device)
    lead = x.shape[:-2]
    y = x.reshape(-1, 1, *x.shape[-2:])
    for dim in (-2, -1):  # separable: rows, then columns
        n = y.shape[dim]
        y = torch.cat([y.narrow(dim, 0, radius).flip(dim), y, y.narrow(dim, n - radius, radius).flip(dim)], dim)
        kernel = w.view(1, 1, -1, 1) if dim == -2 else w.view(1, 1, 1, -1)
        y = F.conv2d(y, kernel)
    return y.reshape(*lead, *x.shape[-2:])


@dataclass
class DynamicBackground(Transform):
    """Remove each sample's own smooth background, its Gaussian blur (σ in pixels), by subtracting or
    dividing, then rescale each sample to ``out_range`` (kikuchipy's
    ``remove_dynamic_background(filter_domain="spatial")``, in torch on the batch)."""

    sigma: float
    operation: str = "subtract"  # or "divide"
    out_range: tuple[float, float] = (0.0, 1.0)
    truncate: float = 4.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = as_float(x)
        bg = gaussian_blur(x, self.sigma, self.truncate)
        x = x / bg.clamp_min(1e-6) if self.operation == "divide" else x - bg
        return Scale(self.out_range, "sample")(x)


@dataclass
class CircularMask(Transform):
    """Set the pixels outside the circle inscribed in the last two dims to ``fill`` (the phosphor
    screen's round edge of an EBSD detector: what lies outside it is not diffraction)."""

    fill: float = 0.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = as_float(x)
        return x.masked_fill(~circle(x.shape[-2:], x.device), self.fill)


def circle(shape: Sequence[int], device: Any = None) -> torch.Tensor:
    """Bool ``shape`` (H, W): True inside the circle inscribed in it (pixel centres within the radius)."""
    h, w = (int(s) for s in shape)
    yy = torch.arange(h, device=device).view(-1, 1) - (h - 1) / 2
    xx = torch.arange(w, device=device).view(1, -1) - (w - 1) / 2
    return (yy / (h / 2)) ** 2 + (xx / (w / 2)) ** 2 <= 1.0



class Compose(Transform):
    """Transforms applied in order, as one."""

    def __init__(self, transforms: Iterable[Callable]):
        self.transforms = list(transforms)
        self.random = any(getattr(t, "random", False) for t in self.transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator=generator) if getattr(t, "random", False) else t(x)
        return x

    def prepare(self, source_dtype: np.dtype) -> Compose:
        return Compose([t.prepare(source_dtype) if isinstance(t, Transform) else t for t in self.transforms])

    def for_eval(self) -> Compose:
        return Compose([e for t in self.transforms if (e := (t.for_eval() if isinstance(t, Transform) else t)) is not None])

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


def scale(out_range: tuple[float, float] = (0.0, 1.0), in_range: tuple[float, float] | str | None = None) -> Scale:
    """Scale linearly from ``in_range`` to ``out_range`` (e.g. ``(0, 1)`` or ``(-1, 1)``).

    ``in_range`` None takes the stored dtype's range (uint8: 0..255) — the loader tells the
    transform that dtype, so it works after conversion to float; ``"sample"`` maps each
    sample's own min..max.

    Examples
    --------
    >>> scale((-1, 1))(torch.tensor([[0, 255]], dtype=torch.uint8))
    tensor([[-1.,  1.]])
    """
    return Scale(tuple(out_range), in_range if in_range is None or isinstance(in_range, str) else tuple(in_range))


def standardize(eps: float = 1e-6) -> Standardize:
    """Per sample: subtract the mean, divide by the (population) standard deviation (at least ``eps``)."""
    return Standardize(eps)


def subtract_background(background: Any, out_range: tuple[float, float] = (0.0, 1.0)) -> SubtractBackground:
    """Subtract a static background (e.g. :func:`static_background`), then stretch each sample to ``out_range``.

    As kikuchipy's ``EBSD.remove_static_background(operation="subtract")``, whose result is
    this one's stretched to the dtype range.
    """
    return SubtractBackground(np.asarray(background, dtype=np.float32), tuple(out_range))



def compose(*transforms: Callable) -> Compose:
    """Transforms applied in order, as one transform."""
    return Compose(transforms)
