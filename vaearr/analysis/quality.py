"""Reconstruction quality of a trained run: MSE, PSNR, SSIM per sample (2D and 3D), compression, grids, NIfTI.

Metrics are computed by torchmetrics on the network's inputs and reconstructions, in the units
the network sees (the run's scaling: ``[0,1]`` or ``[-1,1]``), so ``data_range`` is that range's
width. SSIM uses torchmetrics' Gaussian-window SSIM map (σ = 1.5, 11 wide) averaged over the pixels
whose window lies inside the image: the definition of scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``, which
it matches to ~1e-5. Everything is computed in float64 (in float32 the local variances of flat
patches lose most of their digits and SSIM moves by several hundredths). Images smaller than 11 pixels along an axis get a smaller odd window with
σ = (window − 1) / 7 (scikit-image's truncation at 3.5 σ).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from vaearr.analysis.generate import reconstruct
from vaearr.analysis.latents import encode_samples
from vaearr.analysis.options import METRIC_RANGES
from vaearr.errors import InputError, require
from vaearr.io.nifti import crop_affine, resample_affine
from vaearr.preprocess import Preprocess

#: Samples whose SSIM is computed at once (bounds the memory of the window convolution).
SSIM_BATCH = 64


def _tensor(a: Any):
    return a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a, np.float32))


def _check_pair(x: Any, recon: Any) -> tuple[Any, Any]:
    # float64: SSIM's variances E[x²] − E[x]² cancel catastrophically in float32 on flat patches
    x, recon = _tensor(x).double(), _tensor(recon).double()
    if x.shape != recon.shape:
        raise ValueError(f"inputs {tuple(x.shape)} and reconstructions {tuple(recon.shape)} differ in shape")
    if x.ndim not in (4, 5):
        raise ValueError(f"need batches (N, C, H, W) or (N, C, D, H, W), got shape {tuple(x.shape)}")
    return x, recon


def mse(x: Any, recon: Any) -> np.ndarray:
    """Mean squared error per sample: (N,)."""
    x, recon = _check_pair(x, recon)
    return ((recon - x) ** 2).flatten(1).mean(1).numpy().astype(np.float64)


def psnr(x: Any, recon: Any, *, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio per sample in dB (torchmetrics): (N,); identical images give inf.

    Examples
    --------
    >>> x = np.zeros((1, 1, 4, 4)); r = x + 0.1
    >>> round(float(psnr(x, r)[0]), 3)  # 10 log10(1 / 0.01)
    20.0
    """
    peak_signal_noise_ratio = require("torchmetrics.functional.image", "models").peak_signal_noise_ratio
    x, recon = _check_pair(x, recon)
    dims = tuple(range(1, x.ndim))
    return peak_signal_noise_ratio(recon, x, data_range=float(data_range), reduction="none",
                                   dim=dims).numpy().astype(np.float64)


def ssim_window(shape: Sequence[int], kernel_size: int = 11, sigma: float = 1.5) -> tuple[int, float]:
    """The SSIM window for spatial ``shape``: ``kernel_size`` or the largest odd size that fits.

    Examples
    --------
    >>> ssim_window((28, 28)), ssim_window((8, 8))
    ((11, 1.5), (7, 0.8571428571428571))
    """
    smallest = min(int(s) for s in shape)
    if smallest >= kernel_size:
        return kernel_size, sigma
    k = smallest if smallest % 2 else smallest - 1
    if k < 3:
        raise ValueError(f"SSIM needs images at least 3 pixels wide, got spatial shape {tuple(shape)}")
    return k, (k - 1) / 7.0


def ssim(x: Any, recon: Any, *, data_range: float = 1.0, kernel_size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Structural similarity per sample (Gaussian window; 2D or 3D): (N,).

    The SSIM map is torchmetrics'; its mean is taken over the pixels whose whole window lies
    inside the image (a ``(window − 1) / 2`` border left out), as scikit-image and Wang et al.
    do — torchmetrics' own scalar averages a different border, a few 1e-2 off on small images.
    Multi-channel images average over channels.
    """
    structural_similarity_index_measure = require("torchmetrics.functional.image",
                                                  "models").structural_similarity_index_measure
    x, recon = _check_pair(x, recon)
    k, s = ssim_window(x.shape[2:], kernel_size, sigma)
    pad = (k - 1) // 2
    out = []
    # a batch at a time: the Gaussian window is a float64 convolution whose CPU im2col buffer
    # holds window-size copies of every pixel (38 GB for 2 200 patterns of 60 × 60)
    for i in range(0, len(x), SSIM_BATCH):
        _, full = structural_similarity_index_measure(
            recon[i:i + SSIM_BATCH], x[i:i + SSIM_BATCH], data_range=float(data_range), kernel_size=k, sigma=s,
            reduction="none", return_full_image=True,
        )
        inner = full[(slice(None), slice(None), *[slice(pad, n - pad) for n in full.shape[2:]])]
        out.append(inner.flatten(1).mean(1).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def width_of(x: Any) -> float:
    """max − min of ``x`` (1.0 when constant or empty): the PSNR/SSIM range of unbounded inputs."""
    x = np.asarray(x, np.float64)
    finite = x[np.isfinite(x)]
    width = float(finite.max() - finite.min()) if finite.size else 0.0
    return width if width > 0 else 1.0


def data_width(data_range: tuple[float, float] | None) -> float | None:
    """Width of a run's data range, None when the range is unbounded (see :func:`reconstruction_quality`)."""
    return None if data_range is None else float(data_range[1] - data_range[0])


#: Values of ``metric_range``: PSNR/SSIM in the network's float units, on 8-bit images, or both.


def to_uint8(x: Any, data_range: tuple[float, float] | None) -> np.ndarray:
    """Network-unit images as the 8-bit images a user sees: ``data_range`` (the run's scaling)
    onto 0..255, rounded and clipped; unbounded (standardised) inputs stretch each sample's own
    min..max of ``x`` instead. Returns float64 values 0..255 (integers), same shape.

    Examples
    --------
    >>> to_uint8(np.array([[[[-1.0, 0.0, 1.0, 2.0]]]]), (-1.0, 1.0)).ravel().tolist()
    [0.0, 128.0, 255.0, 255.0]
    """
    x = np.asarray(x, np.float64)
    if data_range is None:
        flat = x.reshape(len(x), -1)
        lo = np.nanmin(flat, 1).reshape(-1, *[1] * (x.ndim - 1))
        hi = np.nanmax(flat, 1).reshape(-1, *[1] * (x.ndim - 1))
    else:
        lo, hi = data_range
    unit = (x - lo) / np.where(np.asarray(hi - lo) > 0, hi - lo, 1.0)
    return np.clip(np.rint(unit * 255.0), 0, 255)


def uint8_pair(x: Any, recon: Any, data_range: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and reconstructions as 8-bit images (:func:`to_uint8`), both mapped by the inputs' range."""
    x = np.asarray(x, np.float64)
    if data_range is None:  # the reconstruction follows its input's stretch
        flat = x.reshape(len(x), -1)
        shape = (-1, *[1] * (x.ndim - 1))
        lo, hi = np.nanmin(flat, 1).reshape(shape), np.nanmax(flat, 1).reshape(shape)
        width = np.where(hi - lo > 0, hi - lo, 1.0)
        conv = lambda a: np.clip(np.rint((np.asarray(a, np.float64) - lo) / width * 255.0), 0, 255)  # noqa: E731
        return conv(x), conv(recon)
    return to_uint8(x, data_range), to_uint8(recon, data_range)


def compression_bytes(input_shape: Sequence[int], input_dtype: Any, latent_shape: Sequence[int],
                      latent_dtype: Any = np.float32) -> dict[str, Any]:
    """Bytes per input sample (as stored) and per latent (float32), and their ratio.

    Examples
    --------
    >>> compression_bytes((1, 28, 28), np.uint8, (16,))
    {'input_bytes': 784, 'latent_bytes': 64, 'compression_ratio_bytes': 12.25}
    """
    inb = int(np.prod(input_shape)) * np.dtype(input_dtype).itemsize
    latb = int(np.prod(latent_shape)) * np.dtype(latent_dtype).itemsize
    return {"input_bytes": inb, "latent_bytes": latb, "compression_ratio_bytes": inb / latb}


def compression_ratio(input_shape: Sequence[int], latent_shape: Sequence[int]) -> float:
    """Values per input sample over values per latent (both float32): how much the latent compresses.

    Examples
    --------
    >>> compression_ratio((1, 28, 28), (16,))
    49.0
    """
    return float(np.prod(input_shape)) / float(np.prod(latent_shape))


@dataclass
class QualityReport:
    """Reconstruction quality of a set of samples.

    Attributes
    ----------
    per_sample
        One row per sample: ``mse``, ``psnr`` (dB), ``ssim``.
    data_range
        Width of the data range the metrics used.
    compression_ratio
        :func:`compression_ratio` of the model, or None when not known.
    """

    per_sample: pd.DataFrame
    data_range: float
    compression_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Means (and standard deviations) over samples of every column; PSNR averages finite values only."""
        df = self.per_sample
        out: dict[str, Any] = {"n": int(len(df))}
        for col in ("mse", "psnr", "ssim", "psnr_uint8", "ssim_uint8"):
            if col not in df:
                continue
            v = df[col][np.isfinite(df[col])] if col.startswith("psnr") else df[col]
            out[col] = float(v.mean()) if len(v) else float("inf")
            out[f"{col}_std"] = float(v.std(ddof=0)) if len(v) else 0.0
        return {**out, "data_range": self.data_range, "compression_ratio": self.compression_ratio, **self.extra}

    def describe(self) -> str:
        """One line: MSE, PSNR and SSIM (float and/or 8-bit), the compression in values and bytes."""
        q = self.summary()
        parts = [f"MSE {q['mse']:.4g}"]
        if "psnr" in q:
            parts.append(f"PSNR {q['psnr']:.3g} dB, SSIM {q['ssim']:.3g} (float, range {q['data_range']:.3g})")
        if "psnr_uint8" in q:
            parts.append(f"PSNR {q['psnr_uint8']:.3g} dB, SSIM {q['ssim_uint8']:.3g} (uint8, range 255)")
        if q.get("compression_ratio") is not None:
            parts.append(f"compression {q['compression_ratio']:.3g}× in values")
        if "input_bytes" in q:
            parts.append(f"{q['compression_ratio_bytes']:.3g}× in bytes ({q['input_bytes']} B per input sample → "
                         f"{q['latent_bytes']} B per latent)")
        return ", ".join(parts)


def reconstruction_quality(x: Any, recon: Any, *, data_range: float | None = 1.0,
                           latent_shape: Sequence[int] | None = None, metric_range: str = "float",
                           value_range: tuple[float, float] | None = None) -> QualityReport:
    """MSE, PSNR and SSIM of every sample, and the compression ratio when ``latent_shape`` is given.

    ``metric_range`` picks the PSNR/SSIM columns: ``"float"`` gives ``psnr`` and ``ssim`` in
    the network's units (range ``data_range``); ``"uint8"`` gives ``psnr_uint8`` and
    ``ssim_uint8``, the same metrics on the images as 8-bit (:func:`uint8_pair` with
    ``value_range``, the run's data range, None for standardised inputs; range 255: what scripts
    that score saved PNGs report); ``"both"`` gives all four.

    Parameters
    ----------
    x, recon
        (N, C, H, W) or (N, C, D, H, W) inputs and their reconstructions.
    data_range
        Width of the data range (1 for [0,1] data, 2 for [-1,1]); None for unbounded
        (standardised) inputs: the inputs' own range, max − min over all of ``x``.
    latent_shape
        One sample's latent shape.
    """
    if metric_range not in METRIC_RANGES:
        raise ValueError(f"metric_range must be one of {', '.join(METRIC_RANGES)}, got {metric_range!r}")
    x, recon = _check_pair(x, recon)
    if data_range is None:
        data_range = width_of(x)
    df = pd.DataFrame({"mse": mse(x, recon)})
    if metric_range != "uint8":
        df["psnr"] = psnr(x, recon, data_range=data_range)
        df["ssim"] = ssim(x, recon, data_range=data_range)
    if metric_range != "float":
        x8, r8 = uint8_pair(x.numpy(), recon.numpy(), value_range)
        df["psnr_uint8"] = psnr(x8, r8, data_range=255.0)
        df["ssim_uint8"] = ssim(x8, r8, data_range=255.0)
    ratio = compression_ratio(tuple(x.shape[1:]), latent_shape) if latent_shape is not None else None
    return QualityReport(df, float(data_range), ratio, extra={"metric_range": metric_range})


def run_quality(lr: Any, x: Any, recon: Any, *, metric_range: str = "float") -> QualityReport:
    """:func:`reconstruction_quality` of a loaded run's inputs ``x``, with the compression in bytes
    (the samples as stored, in the run's stored dtype, against a float32 latent) in the summary."""
    report = reconstruction_quality(x, recon, data_range=data_width(lr.data_range),
                                    latent_shape=tuple(lr.model.latent_shape), metric_range=metric_range,
                                    value_range=lr.data_range)
    pre = lr.run.preprocess
    report.extra.update(compression_bytes(pre.sample_shape, pre.source_dtype, tuple(lr.model.latent_shape)))
    return report


def evaluate_quality(store: str | os.PathLike, run: str | os.PathLike, *, n: int | None = 512, seed: int = 0,
                     checkpoint: str = "best", device: str = "cpu", metric_range: str = "float") -> QualityReport:
    """Reconstruction quality of a run on (a seeded subset of) a store's samples.

    ``per_sample`` gets a ``sample`` column with the flat sample indices.
    """
    lr, enc = encode_samples(store, run, n=n, seed=seed, label=None, checkpoint=checkpoint, device=device)
    recon = reconstruct(lr.model, enc.x)
    report = run_quality(lr, enc.x, recon, metric_range=metric_range)
    report.per_sample.insert(0, "sample", enc.index)
    return report


# --------------------------------------------------------------------------------------------
# samples


def choose(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """A repeatable choice of ``min(n, n_total)`` indices out of ``n_total``, sorted.

    Examples
    --------
    >>> (choose(100, 5, seed=3) == choose(100, 5, seed=3)).all(), len(choose(3, 5))
    (np.True_, 3)
    """
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


# --------------------------------------------------------------------------------------------
# volumes


def mid_slices(volume: np.ndarray) -> list[np.ndarray]:
    """The three orthogonal middle slices of a (z, y, x) volume: axial (y, x), coronal (z, x), sagittal (z, y)."""
    v = np.asarray(volume)
    return [v[v.shape[0] // 2], v[:, v.shape[1] // 2], v[:, :, v.shape[2] // 2]]


def ortho_slices(volume: np.ndarray, slices: Sequence[int] | None = None) -> list[np.ndarray]:
    """Three orthogonal slices of a (z, y, x) volume at ``slices = (z, y, x)`` indices (None: the middle ones).

    Returns axial ``v[z]`` (y, x), coronal ``v[:, y]`` (z, x) and sagittal ``v[:, :, x]`` (z, y).
    Check indices first with :func:`check_slices`.
    """
    v = np.asarray(volume)
    z, y, x = slices if slices is not None else (s // 2 for s in v.shape[:3])
    return [v[z], v[:, y], v[:, :, x]]


def check_slices(slices: Sequence[int] | None, shape: Sequence[int], what: Any = None) -> tuple[int, int, int] | None:
    """``slices`` as a (z, y, x) tuple inside a (z, y, x) ``shape``; one-line :class:`InputError` otherwise."""
    if slices is None:
        return None
    s = tuple(int(i) for i in slices)
    shape = tuple(int(n) for n in shape[-3:])
    if len(s) != 3:
        raise InputError(what, f"`slices` takes three indices z,y,x; got {len(s)}: {','.join(map(str, s))}")
    bad = [f"{axis}={i} (0..{n - 1})" for axis, i, n in zip("zyx", s, shape, strict=True) if not 0 <= i < n]
    if bad:
        raise InputError(what, f"`slices` out of range for volumes of {'×'.join(map(str, shape))} (z×y×x): "
                               f"{', '.join(bad)}")
    return s


def network_affine(affine: np.ndarray, stored_shape: Sequence[int], preprocess: Preprocess) -> np.ndarray:
    """The NIfTI affine of a volume as the network sees it, after the run's crops and resizes.

    Parameters
    ----------
    affine
        The stored affine (maps NIfTI ``(i, j, k)`` = stored ``(x, y, z)`` to world mm).
    stored_shape
        The stored ``(z, y, x)`` shape.
    preprocess
        The run's :class:`~vaearr.preprocess.Preprocess`: its centre crops (a 3D patch is the
        centre crop of the same size outside training) and resizes, in order.
    """
    shape = [int(s) for s in stored_shape]
    out = np.asarray(affine, np.float64)
    for kind, size in preprocess.spatial_chain():
        size = [size] * 3 if isinstance(size, int) else list(size)
        # the run's spatial steps are of two kinds (Preprocess.spatial_chain): crops move the origin, resizes scale
        if kind == "crop":
            size = [*shape[: 3 - len(size)], *size]
            offset = [(n - s) // 2 for n, s in zip(shape, size, strict=True)]  # as CenterCrop cuts
            out = crop_affine(out, offset[::-1])  # (z, y, x) offsets → (i, j, k)
        else:
            out = resample_affine(out, shape[::-1], size[::-1])
        shape = size
    return out
