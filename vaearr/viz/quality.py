"""Figures and files of reconstruction quality: input/reconstruction grids, and volumes as NIfTI with mid-slice views."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.analysis import perceptual as P
from vaearr.analysis.generate import reconstruct
from vaearr.analysis.latents import encode_samples, load_run
from vaearr.analysis.quality import (
    check_slices,
    choose,
    data_width,
    network_affine,
    ortho_slices,
    reconstruction_quality,
)
from vaearr.errors import InputError, require
from vaearr.store import open_store
from vaearr.viz.core import save_figure
from vaearr.viz.grids import image_grid, side_by_side


def reconstruction_grid(
    x: Any,
    recon: Any,
    *,
    n: int = 8,
    seed: int = 0,
    threshold: float | None = 0.5,
    clim: tuple[float, float] | None = (0.0, 1.0),
    sample_labels: Sequence[Any] | None = None,
    title: str = "reconstructions",
    slices: Sequence[int] | None = None,
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
    slices
        Volumes: ``(z, y, x)`` indices; the grid shows axial slice ``z`` (None: the middle one).

    Returns
    -------
    tuple
        The HoloViews figure and the chosen indices.
    """
    x = np.asarray(x, np.float32)
    recon = np.asarray(recon, np.float32)
    idx = choose(len(x), n, seed)
    rows = [x[idx], recon[idx]]
    names = ["input", "reconstruction"]
    if threshold is not None:
        lo, hi = clim if clim is not None else (float(np.nanmin(x[idx])), float(np.nanmax(x[idx])))
        rows += [np.where(x[idx] > threshold, hi, lo), np.where(recon[idx] > threshold, hi, lo)]
        names += [f"input > {threshold:g}", f"recon > {threshold:g}"]
    cols = [str(sample_labels[i]) for i in idx] if sample_labels is not None else [str(i) for i in idx]
    z = check_slices(slices, x.shape[-3:])[0] if slices is not None and x.ndim == 5 else None
    fig = image_grid(np.stack(rows), title=title, row_labels=names, col_labels=cols, xlabel="sample", clim=clim, z=z)
    return fig, idx


def perceptual_json(encoded: Any, recon: np.ndarray, names: list[str], pos: Any, want: set[str] | None,
                    clim: tuple[float, float] | None, weights: Path | None, path: Path) -> Path:
    """``perceptual_slices.json``: per subject the slice-wise LPIPS-style distance per axis and their mean, or why not."""
    doc: dict[str, Any]
    rows = [(row, names[int(p)]) for row, p in enumerate(pos) if want is None or names[int(p)] in want]
    if weights is None:
        doc = {"skipped": P.skipped_message()}
    elif min(encoded.x.shape[-3:]) < P.MIN_SIDE:
        doc = {"skipped": f"volumes of {'×'.join(map(str, encoded.x.shape[-3:]))}: slices under {P.MIN_SIDE} px"}
    else:
        net = P.load_features(weights)
        idx = [r for r, _ in rows]
        d = P.perceptual_3d(encoded.x[idx], recon[idx], net, data_range=clim or (0.0, 1.0))
        doc = {"weights": str(weights), "network": "squeezenet1_1 (LPIPS taps, unit weights: not calibrated LPIPS)",
               "subjects": {name: {k: float(d[k][i]) for k in ("z", "y", "x", "mean")}
                            for i, (_, name) in enumerate(rows)}}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def slice_views(volume: np.ndarray, recon: np.ndarray, slices: Sequence[int] | None = None,
                clim: tuple[float, float] | None = None):
    """Input (top row) and reconstruction: axial, coronal, sagittal views of two (z, y, x) volumes.

    ``slices``: ``(z, y, x)`` indices (checked; None: the middle slices), named in the titles.
    """
    slices = check_slices(slices, np.shape(volume))
    views = ("axial", "coronal", "sagittal") if slices is None else tuple(
        f"{v} {a}={i}" for v, a, i in zip(("axial", "coronal", "sagittal"), "zyx", slices, strict=True))
    cuts = [ortho_slices(volume, slices), ortho_slices(recon, slices)]
    figs = [image_grid(np.asarray(s)[None, None, None], title=f"{kind} {view}", clim=clim, cell_px=180)
            for kind, planes in zip(("input", "recon"), cuts, strict=True)
            for view, s in zip(views, planes, strict=True)]
    return side_by_side(*figs, cols=3)


def volume_reconstructions(
    store: str | os.PathLike,
    run: Any,
    out: str | os.PathLike,
    *,
    subjects: Sequence[str] | None = None,
    encoded: Any = None,
    recon: np.ndarray | None = None,
    clim: tuple[float, float] | None = None,
    slices: Sequence[int] | None = None,
    perceptual_weights: str | os.PathLike | None = None, figures: FigureOptions = DEFAULT_FIGURES
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
        Run folder or :class:`~vaearr.analysis.latents.LoadedRun`.
    subjects
        Subjects to write; default all the run encodes (or those in ``encoded``).
    encoded, recon
        Already encoded samples and their reconstructions (from :func:`explore`), to reuse.
    slices
        ``(z, y, x)`` indices of the three views, in the network's volume; the views are then
        ``{subject}_slices`` (axial z, coronal y, sagittal x). None: the middle slices. Out of
        range: :class:`InputError`, before anything is written.
    perceptual_weights
        SqueezeNet 1.1 weights for the slice-wise perceptual distance
        (:mod:`vaearr.analysis.perceptual`), written to ``perceptual_slices.json``; None: torch
        hub's cached file when present, else that file says the metric was skipped and why.
    """
    nib = require("nibabel", "nifti")
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
    slices = check_slices(slices, encoded.x.shape[-3:])
    weights = P.weights_file(perceptual_weights)
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
        affine = network_affine(ds["affine"].isel(subject=int(p)).values, stored_shape, lr.run.preprocess)
        for kind, arr in (("input", encoded.x[row, 0]), ("recon", recon[row, 0])):
            img = nib.Nifti1Image(np.asarray(arr, np.float32).transpose(2, 1, 0), affine)  # (z,y,x) → (i,j,k)
            img.set_qform(affine, code="aligned")
            img.header.set_xyzt_units("mm")
            path = out / f"{subject}_{kind}.nii.gz"
            nib.save(img, path)
            written.append(path)
        stem = "mid_slices" if slices is None else "slices"
        html, _ = save_figure(slice_views(encoded.x[row, 0], recon[row, 0], slices, clim), out / f"{subject}_{stem}", figures=figures)
        written.append(Path(html))
        rep = reconstruction_quality(encoded.x[row:row + 1], recon[row:row + 1], data_range=data_width(clim))
        quality[subject] = rep.per_sample.iloc[0].to_dict()
    (out / "volume_quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    written.append(perceptual_json(encoded, recon, names, pos, want, clim, weights, out / "perceptual_slices.json"))
    written.append(out / "volume_quality.json")
    return written
