"""The files a run's latents are written out to (``vaearr encode``'s ``export`` and ``per_subject``): one ``.npy`` (and
``.nii.gz``) per subject, or the full and ROI arrays with their coordinates; :mod:`vaearr.encoding` gives them too."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import InputError, require
from vaearr.io.nifti import resample_affine


def _file_name(sample: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(sample)).strip(".") or "_"


def export_per_subject(ds: xr.Dataset, name: str, folder: str | Path, *, factor: int | None = None) -> list[Path]:
    """One ``<id>.npy`` per sample (its latent), named by the sample dim's coordinate (the subject id).

    For 3D spatial latents of a volume store (``affine(subject, ...)``) also ``<id>.nii.gz``: the
    latent channels as the 4th NIfTI dim, on a grid whose affine is the subject's, resampled by
    ``factor`` (each latent voxel spans factor³ input voxels; :func:`vaearr.io.nifti.resample_affine`).
    Masked-out samples (all NaN) are skipped.
    """
    lat = ds[name]
    dim = str(lat.dims[0])
    ids = [str(v) for v in (ds[dim].values if dim in ds.coords else range(lat.sizes[dim]))]
    names = [_file_name(i) for i in ids]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(folder, f"sample ids {', '.join(dupes[:3])} give the same file name twice")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nifti = lat.ndim == 5 and "affine" in ds and factor is not None
    nib = require("nibabel", "nifti") if nifti else None
    out: list[Path] = []
    for i, file_name in enumerate(names):
        values = np.asarray(lat.isel({dim: i}).values, dtype=np.float32)
        if np.isnan(values).all():
            continue
        out.append(folder / f"{file_name}.npy")
        np.save(out[-1], values)
        if nib is not None:
            affine = np.asarray(ds["affine"].isel({dim: i}).values, dtype=np.float64)
            src = tuple(int(s) * factor for s in values.shape[1:][::-1])  # (i, j, k) of the input grid
            data = values.transpose(3, 2, 1, 0)  # (channel, z, y, x) -> (x, y, z, channel) = NIfTI (i, j, k, t)
            img = nib.Nifti1Image(data, resample_affine(affine, src, data.shape[:3]))
            out.append(folder / f"{file_name}.nii.gz")
            nib.save(img, out[-1])
    return out


def export_latents(
    ds: xr.Dataset, name: str, folder: str | Path, *, sample_dims: tuple[str, ...], mask: str | None
) -> list[Path]:
    """``latents_full.npy``, ``latents_roi.npy``, ``coords.csv`` and ``recon_error_full.npy``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lat = ds[name].load()
    full = lat.values
    inside = ds[mask].values if mask is not None else np.ones([ds.sizes[d] for d in sample_dims], bool)
    out = [folder / "latents_full.npy", folder / "latents_roi.npy", folder / "coords.csv"]
    np.save(out[0], full)
    np.save(out[1], full[inside])
    pos = np.nonzero(inside)
    with open(out[2], "w", newline="") as f:
        w = csv.writer(f)
        names = [str(d) for d in sample_dims]
        w.writerow([*names, *(f"i{d}" for d in names)])
        values = [ds[d].values[p] if d in ds.coords else p for d, p in zip(sample_dims, pos)]
        for row in zip(*values, *pos):
            w.writerow([_num(v) for v in row])
    if f"{name}_recon_error" in ds:
        out.append(folder / "recon_error_full.npy")
        np.save(out[-1], ds[f"{name}_recon_error"].values)
    return out


def _num(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
