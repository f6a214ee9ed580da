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

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaearr.errors import InputError, require


def _tensor(a: Any):
    import torch

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
    from torchmetrics.functional.image import peak_signal_noise_ratio

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
    from torchmetrics.functional.image import structural_similarity_index_measure

    x, recon = _check_pair(x, recon)
    k, s = ssim_window(x.shape[2:], kernel_size, sigma)
    _, full = structural_similarity_index_measure(
        recon, x, data_range=float(data_range), kernel_size=k, sigma=s, reduction="none", return_full_image=True
    )
    pad = (k - 1) // 2
    inner = full[(slice(None), slice(None), *[slice(pad, n - pad) for n in full.shape[2:]])]
    return inner.flatten(1).mean(1).numpy().astype(np.float64)


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
        """Means (and standard deviations) over samples; PSNR averages finite values only."""
        df = self.per_sample
        finite_psnr = df["psnr"][np.isfinite(df["psnr"])]
        return {
            "n": int(len(df)),
            "mse": float(df["mse"].mean()), "mse_std": float(df["mse"].std(ddof=0)),
            "psnr": float(finite_psnr.mean()) if len(finite_psnr) else float("inf"),
            "psnr_std": float(finite_psnr.std(ddof=0)) if len(finite_psnr) else 0.0,
            "ssim": float(df["ssim"].mean()), "ssim_std": float(df["ssim"].std(ddof=0)),
            "data_range": self.data_range,
            "compression_ratio": self.compression_ratio,
            **self.extra,
        }


def reconstruction_quality(x: Any, recon: Any, *, data_range: float = 1.0,
                           latent_shape: Sequence[int] | None = None) -> QualityReport:
    """MSE, PSNR and SSIM of every sample, and the compression ratio when ``latent_shape`` is given.

    Parameters
    ----------
    x, recon
        (N, C, H, W) or (N, C, D, H, W) inputs and their reconstructions.
    data_range
        Width of the data range (1 for [0,1] data, 2 for [-1,1]).
    latent_shape
        One sample's latent shape.
    """
    x, recon = _check_pair(x, recon)
    df = pd.DataFrame({"mse": mse(x, recon), "psnr": psnr(x, recon, data_range=data_range),
                       "ssim": ssim(x, recon, data_range=data_range)})
    ratio = compression_ratio(tuple(x.shape[1:]), latent_shape) if latent_shape is not None else None
    return QualityReport(df, float(data_range), ratio)


def evaluate_quality(store: str | os.PathLike, run: str | os.PathLike, *, n: int | None = 512, seed: int = 0,
                     checkpoint: str = "best", device: str = "cpu") -> QualityReport:
    """Reconstruction quality of a run on (a seeded subset of) a store's samples.

    ``per_sample`` gets a ``sample`` column with the flat sample indices.
    """
    from vaearr.analysis.explore import encode_samples, reconstruct

    lr, enc = encode_samples(store, run, n=n, seed=seed, label=None, checkpoint=checkpoint, device=device)
    recon = reconstruct(lr.model, enc.x)
    lo, hi = lr.data_range
    report = reconstruction_quality(enc.x, recon, data_range=hi - lo, latent_shape=tuple(lr.model.latent_shape))
    report.per_sample.insert(0, "sample", enc.index)
    return report


# --------------------------------------------------------------------------------------------
# grids


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


def reconstruction_grid(
    x: Any,
    recon: Any,
    *,
    n: int = 8,
    seed: int = 0,
    threshold: float | None = 0.5,
    clim: tuple[float, float] = (0.0, 1.0),
    sample_labels: Sequence[Any] | None = None,
    title: str = "reconstructions",
):
    """A grid: input | reconstruction | input > threshold | reconstruction > threshold, one column per sample.

    Parameters
    ----------
    x, recon
        (N, C, H, W) or (N, C, D, H, W) arrays; volumes show their middle slice.
    n, seed
        How many samples, picked by :func:`choose` with ``seed`` (the same seed, the same samples).
    threshold
        Binarisation threshold in data units; None leaves out the binarised rows.
    sample_labels
        Column labels (e.g. flat sample indices), indexed like ``x``.

    Returns
    -------
    tuple
        The HoloViews figure and the chosen indices.
    """
    from vaearr.analysis.explore import image_grid

    x = np.asarray(x, np.float32)
    recon = np.asarray(recon, np.float32)
    idx = choose(len(x), n, seed)
    rows = [x[idx], recon[idx]]
    names = ["input", "reconstruction"]
    if threshold is not None:
        lo, hi = clim
        rows += [np.where(x[idx] > threshold, hi, lo), np.where(recon[idx] > threshold, hi, lo)]
        names += [f"input > {threshold:g}", f"recon > {threshold:g}"]
    cols = [str(sample_labels[i]) for i in idx] if sample_labels is not None else [str(i) for i in idx]
    fig = image_grid(np.stack(rows), title=title, row_labels=names, col_labels=cols, xlabel="sample", clim=clim)
    return fig, idx


# --------------------------------------------------------------------------------------------
# volumes


def mid_slices(volume: np.ndarray) -> list[np.ndarray]:
    """The three orthogonal middle slices of a (z, y, x) volume: axial (y, x), coronal (z, x), sagittal (z, y)."""
    v = np.asarray(volume)
    return [v[v.shape[0] // 2], v[:, v.shape[1] // 2], v[:, :, v.shape[2] // 2]]


def network_affine(affine: np.ndarray, stored_shape: Sequence[int], train: Any) -> np.ndarray:
    """The NIfTI affine of a volume as the network sees it, after the run's crop and resize.

    Parameters
    ----------
    affine
        The stored affine (maps NIfTI ``(i, j, k)`` = stored ``(x, y, z)`` to world mm).
    stored_shape
        The stored ``(z, y, x)`` shape.
    train
        The run's :class:`~vaearr.train.TrainConfig` (its ``crop`` and ``resize``).
    """
    from vaearr.io.nifti import crop_affine, resample_affine

    shape = [int(s) for s in stored_shape]
    out = np.asarray(affine, np.float64)
    if train.crop:
        size = [train.crop] * 3 if isinstance(train.crop, int) else list(train.crop)
        size = [*shape[: 3 - len(size)], *size]
        offset = [(n - s) // 2 for n, s in zip(shape, size, strict=True)]  # as CenterCrop cuts
        out = crop_affine(out, offset[::-1])  # (z, y, x) offsets → (i, j, k)
        shape = size
    if train.resize:
        size = [train.resize] * 3 if isinstance(train.resize, int) else list(train.resize)
        out = resample_affine(out, shape[::-1], size[::-1])
    return out


def volume_reconstructions(
    store: str | os.PathLike,
    run: Any,
    out: str | os.PathLike,
    *,
    subjects: Sequence[str] | None = None,
    encoded: Any = None,
    recon: np.ndarray | None = None,
    clim: tuple[float, float] | None = None,
) -> list[Path]:
    """Write each subject's network input and reconstruction as NIfTI with the input's affine, and mid-slice views.

    Files in ``out``: ``{subject}_input.nii.gz`` and ``{subject}_recon.nii.gz`` (float32, in the
    network's units; the affine is the store's, moved for the run's crop/resize so both overlay
    the original scan in any viewer), ``{subject}_mid_slices`` (HTML + PNG: input and
    reconstruction, axial / coronal / sagittal) and ``volume_quality.json``.

    Parameters
    ----------
    store
        A volume store (``volumes(subject, z, y, x)``, ``affine(subject, 4, 4)``).
    run
        Run folder or :class:`~vaearr.analysis.explore.LoadedRun`.
    subjects
        Subjects to write; default all the run encodes (or those in ``encoded``).
    encoded, recon
        Already encoded samples and their reconstructions (from :func:`explore`), to reuse.
    """
    nib = require("nibabel", "nifti")
    from vaearr import viz as plots
    from vaearr.analysis.explore import encode_samples, image_grid, load_run, reconstruct
    from vaearr.store import open_store

    lr = run if not isinstance(run, str | os.PathLike) else load_run(run)
    ds = open_store(store)
    if "affine" not in ds or "subject" not in ds.dims:
        raise InputError(store, "not a volume store (needs volumes(subject, z, y, x) and affine(subject, 4, 4))")
    if encoded is None:
        lr, encoded = encode_samples(store, lr, label=None)
        recon = None
    if recon is None:
        recon = reconstruct(lr.model, encoded.x)
    names = [str(s) for s in ds["subject"].values]
    pos = encoded.positions.get("subject", encoded.index)
    want = set(subjects) if subjects is not None else None
    if want is not None:
        missing = sorted(want - set(names))
        if missing:
            raise InputError(store, f"no subject(s) {', '.join(missing)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clim = clim or lr.data_range
    written: list[Path] = []
    quality: dict[str, Any] = {}
    stored_shape = tuple(int(ds.sizes[d]) for d in lr.feature_dims)
    for row, p in enumerate(pos):
        subject = names[int(p)]
        if want is not None and subject not in want:
            continue
        affine = network_affine(ds["affine"].isel(subject=int(p)).values, stored_shape, lr.train)
        for kind, arr in (("input", encoded.x[row, 0]), ("recon", recon[row, 0])):
            img = nib.Nifti1Image(np.asarray(arr, np.float32).transpose(2, 1, 0), affine)  # (z,y,x) → (i,j,k)
            img.set_qform(affine, code="aligned")
            img.header.set_xyzt_units("mm")
            path = out / f"{subject}_{kind}.nii.gz"
            nib.save(img, path)
            written.append(path)
        slices = [mid_slices(encoded.x[row, 0]), mid_slices(recon[row, 0])]
        figs = [image_grid(np.asarray(s)[None, None, None], title=f"{kind} {view}", clim=clim, cell_px=180)
                for kind, views in zip(("input", "recon"), slices, strict=True)
                for view, s in zip(("axial", "coronal", "sagittal"), views, strict=True)]
        from vaearr.analysis.explore import side_by_side

        html, _ = plots.save_figure(side_by_side(*figs, cols=3), out / f"{subject}_mid_slices")
        written.append(Path(html))
        rep = reconstruction_quality(encoded.x[row:row + 1], recon[row:row + 1], data_range=clim[1] - clim[0])
        quality[subject] = rep.per_sample.iloc[0].to_dict()
    (out / "volume_quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    written.append(out / "volume_quality.json")
    return written
