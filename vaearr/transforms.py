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

# ----------------------------------------------------------------------------------------------
# transforms


class Transform:
    """Base of the batch transforms: a callable on a batch tensor ``(B, C, *spatial)``.

    Spatial transforms act on the dims after the first two (batch, channel), as
    ``channels_first=True`` lays batches out. Random ones set ``random = True`` and take
    ``generator``; without one they draw from their own generator seeded by ``seed``.
    """

    random: bool = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, source_dtype: np.dtype) -> Transform:
        """A copy bound to what the loader knows (the stored dtype); default: self."""
        return self

    def for_eval(self) -> Transform | None:
        """The form used for validation: self, or None to drop it (augmentations)."""
        return None if self.random else self

    def _generator(self, generator: torch.Generator | None) -> torch.Generator:
        if generator is not None:
            return generator
        if getattr(self, "_own", None) is None:
            self._own = torch.Generator().manual_seed(int(getattr(self, "seed", 0) or 0))
        return self._own


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_floating_point() else x.float()


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
            x = _float(x)
            flat = x.reshape(len(x), -1)
            shape = (len(x),) + (1,) * (x.ndim - 1)
            lo, hi = flat.amin(1).view(shape), flat.amax(1).view(shape)
            return (x - lo) / (hi - lo).clamp_min(1e-12) * (b - a) + a
        rng = self.in_range if self.in_range is not None else _dtype_range(x.dtype)
        if rng is None:
            raise InputError(None, "scale(): float input needs in_range=(min, max) or in_range='sample'")
        lo, hi = rng
        k = (b - a) / (hi - lo)
        return torch.mul(_float(x), k).add_(a - lo * k)


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
        return F.interpolate(_float(x), size=size, mode=mode, **kw)


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
        x = _float(x)
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
        x = _float(x)
        bg = gaussian_blur(x, self.sigma, self.truncate)
        x = x / bg.clamp_min(1e-6) if self.operation == "divide" else x - bg
        return Scale(self.out_range, "sample")(x)


@dataclass
class CircularMask(Transform):
    """Set the pixels outside the circle inscribed in the last two dims to ``fill`` (the phosphor
    screen's round edge of an EBSD detector: what lies outside it is not diffraction)."""

    fill: float = 0.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = _float(x)
        return x.masked_fill(~circle(x.shape[-2:], x.device), self.fill)


def circle(shape: Sequence[int], device: Any = None) -> torch.Tensor:
    """Bool ``shape`` (H, W): True inside the circle inscribed in it (pixel centres within the radius)."""
    h, w = (int(s) for s in shape)
    yy = torch.arange(h, device=device).view(-1, 1) - (h - 1) / 2
    xx = torch.arange(w, device=device).view(1, -1) - (w - 1) / 2
    return (yy / (h / 2)) ** 2 + (xx / (w / 2)) ** 2 <= 1.0


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
    x = _float(x)
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


def center_crop(size: int | Sequence[int]) -> CenterCrop:
    """Crop the centre (start ``(n - size) // 2``) of the last spatial dims; an int crops every spatial dim."""
    return CenterCrop(size if isinstance(size, int) else tuple(size))


def resize(size: int | Sequence[int], mode: str | None = None, antialias: bool = False) -> Resize:
    """Interpolate the spatial dims to ``size`` (bilinear in 2D, trilinear in 3D by default).

    Half-pixel centres (``align_corners=False``): halving with bilinear averages 2×2 blocks.
    ``antialias`` low-pass filters when shrinking (2D bilinear/bicubic only).
    """
    return Resize(size if isinstance(size, int) else tuple(size), mode, antialias)


def subtract_background(background: Any, out_range: tuple[float, float] = (0.0, 1.0)) -> SubtractBackground:
    """Subtract a static background (e.g. :func:`static_background`), then stretch each sample to ``out_range``.

    As kikuchipy's ``EBSD.remove_static_background(operation="subtract")``, whose result is
    this one's stretched to the dtype range.
    """
    return SubtractBackground(np.asarray(background, dtype=np.float32), tuple(out_range))


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


def compose(*transforms: Callable) -> Compose:
    """Transforms applied in order, as one transform."""
    return Compose(transforms)
