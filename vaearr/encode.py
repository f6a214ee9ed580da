"""Latents (and reconstruction error) of a trained run, written back into the store."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import StoreError, VaearrError


@dataclass
class EncodeResult:
    """What :func:`encode` wrote."""

    store: Path
    variables: list[str]
    n_encoded: int
    checkpoint: Path
    checkpoint_sha256: str
    figures: list[Path] = field(default_factory=list)
    exports: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"encoded {self.n_encoded} samples with {self.checkpoint} (sha256 {self.checkpoint_sha256[:12]})",
                 f"wrote {', '.join(self.variables)} to {self.store}"]
        lines += [f"  {p}" for p in self.figures + self.exports]
        return "\n".join(lines)


def run_checkpoint(run: str | Path, checkpoint: str = "best") -> Path:
    """The model folder of a run: ``best``, ``latest`` or a checkpoint folder name/path."""
    from vaearr.train import latest_checkpoint

    run = Path(run)
    if not (run / "config.json").exists():
        raise VaearrError(f"{run}: not a training run (no config.json); train one with 'vaearr train'")
    if checkpoint == "best" and (run / "best" / "model.safetensors").exists():
        return run / "best"
    if checkpoint in ("best", "latest"):
        latest = latest_checkpoint(run)
        if latest is None:
            raise VaearrError(f"{run}: no checkpoint yet")
        return latest
    path = Path(checkpoint)
    path = path if path.is_absolute() or path.exists() else run / "checkpoints" / checkpoint
    if not (path / "model.safetensors").exists():
        raise VaearrError(f"{path}: no model.safetensors here")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _eval_transforms(ds, train_cfg, sample_dims, mask, store):
    from vaearr import transforms as T
    from vaearr.preprocess import default_transforms

    transforms = default_transforms(
        ds, train_cfg.var, sample_dims=sample_dims, mask=mask, scale=train_cfg.scale,
        standardize=train_cfg.standardize, crop=train_cfg.crop, resize=train_cfg.resize,
        subtract_background=train_cfg.subtract_background, patch=None, augment=False,
        seed=train_cfg.seed, store=store,
    )
    return [e for t in transforms if (e := (t.for_eval() if isinstance(t, T.Transform) else t)) is not None]


def encode(
    store: str | Path,
    run: str | Path,
    *,
    name: str = "latent",
    checkpoint: str = "best",
    logvar: bool = False,
    recon_error: bool = True,
    batch_size: int = 256,
    device: str = "cpu",
    num_workers: int = 0,
    export: str | Path | None = None,
    figures: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> EncodeResult:
    """Encode every sample inside the run's mask and write the latents into the store.

    Writes (one transaction):

    * ``{name}``: the posterior mean, ``(*sample_dims, latent_dim)`` for vector latents
      (``latent(y, x, latent_dim)`` on a map, ``latent(sample, latent_dim)`` for images) or
      ``(*sample_dims, latent_channel, l0, l1[, l2])`` for spatial latents (AutoencoderKL);
      NaN outside the mask;
    * ``{name}_logvar`` (with ``logvar=True``), same layout;
    * ``{name}_recon_error``: mean squared reconstruction error per sample, in the units of
      the network's input (after the run's scaling), NaN outside the mask.

    Each carries ``run`` (the run folder), ``checkpoint``, ``checkpoint_sha256`` and the run's
    config in attrs. ``figures`` saves one map per latent dim and the error map (HTML + PNG)
    when the samples form a (y, x) map; ``export`` writes ``latents_full.npy`` (full grid, NaN
    outside), ``latents_roi.npy`` (rows in C order of the masked samples), ``coords.csv``
    (the sample coordinates of those rows) and ``recon_error_full.npy``.
    """
    import torch

    from vaearr import batches as B
    from vaearr.progress import bar
    from vaearr.models import load_model
    from vaearr.store import open_store, write_variables
    from vaearr.train import TrainConfig

    run = Path(run)
    ckpt = run_checkpoint(run, checkpoint)
    saved = json.loads((run / "config.json").read_text())
    train_cfg = TrainConfig.from_dict(saved["train"])
    sample_dims = tuple(saved["sample_dims"])
    feature_dims = tuple(saved["feature_dims"])
    mask = saved.get("mask")
    ds = open_store(store)
    if train_cfg.var not in ds:
        raise StoreError(store, f"no variable '{train_cfg.var}' (the run {run} was trained on it)")
    if mask is not None and mask not in ds:
        raise StoreError(store, f"no mask '{mask}' (the run {run} was trained inside it)")
    for var in (name, f"{name}_logvar", f"{name}_recon_error"):
        if var in ds and not overwrite:
            raise StoreError(store, f"variable '{var}' exists; pass --overwrite to replace it")

    model = load_model(ckpt).to(device).eval()
    loader = B.ZarrBatches(
        store, var=train_cfg.var, sample_dims=sample_dims, feature_dims=feature_dims, mask=mask,
        batch_size=batch_size, shuffle=False, split="all", return_index=True, num_workers=num_workers,
        transforms=tuple(_eval_transforms(ds, train_cfg, sample_dims, mask, store)),
    )
    grid_shape = tuple(int(ds.sizes[d]) for d in sample_dims)
    n_grid = int(np.prod(grid_shape))
    latent_shape = tuple(int(s) for s in model.latent_shape)
    mu_all = np.full((n_grid, *latent_shape), np.nan, np.float32)
    lv_all = np.full((n_grid, *latent_shape), np.nan, np.float32) if logvar else None
    err_all = np.full(n_grid, np.nan, np.float32)
    n = 0
    pbar = bar(total=len(loader), desc="encoding", unit="batch") if progress else None
    with torch.no_grad():
        for x, idx in loader:
            x = x.to(device)
            mu, lv = model.encode(x)
            idx = idx.numpy()
            mu_all[idx] = mu.float().cpu().numpy()
            if lv_all is not None:
                lv_all[idx] = lv.float().cpu().numpy()
            if recon_error:
                rec = model.decode(mu).float()
                err_all[idx] = ((rec - x.float()) ** 2).flatten(1).mean(1).cpu().numpy()
            n += len(idx)
            if pbar is not None:
                pbar.update(1)
    if pbar is not None:
        pbar.close()

    coords = {d: ds[d] for d in sample_dims if d in ds.coords}
    if len(latent_shape) == 1:
        ldims: tuple[str, ...] = ("latent_dim",)
        lcoords = {"latent_dim": np.arange(latent_shape[0])}
    else:
        ldims = ("latent_channel", *(f"l{a}" for a in "zyx"[3 - (len(latent_shape) - 1):]))
        lcoords = {"latent_channel": np.arange(latent_shape[0])}

    def to_da(flat: np.ndarray) -> xr.DataArray:
        return xr.DataArray(flat.reshape(*grid_shape, *flat.shape[1:]), dims=(*sample_dims, *ldims[: flat.ndim - 1]),
                            coords={**coords, **(lcoords if flat.ndim > 1 else {})})

    sha = _sha256(ckpt / "model.safetensors")
    variables: dict[str, xr.DataArray] = {name: to_da(mu_all)}
    if lv_all is not None:
        variables[f"{name}_logvar"] = to_da(lv_all)
    if recon_error:
        variables[f"{name}_recon_error"] = to_da(err_all)
    attrs = {"checkpoint": str(ckpt), "checkpoint_sha256": sha, "model": model.config.name}
    mask_da = ds[mask].load() if mask is not None else None
    write_variables(
        store, variables, mask=mask_da if mask_da is not None else None, source=[train_cfg.var],
        run=str(run), config=saved, attrs=attrs, overwrite=overwrite,
    )
    result = EncodeResult(store=Path(store), variables=list(variables), n_encoded=n, checkpoint=ckpt,
                          checkpoint_sha256=sha)
    written = open_store(store)
    if figures is not None and set(sample_dims) == {"y", "x"} and len(latent_shape) == 1:
        result.figures = latent_maps(written, name, figures)
    if export is not None:
        result.exports = export_latents(written, name, export, sample_dims=sample_dims, mask=mask)
    return result


def latent_maps(ds: xr.Dataset, name: str, folder: str | Path, *, cols: int = 4) -> list[Path]:
    """One map per latent dim and the reconstruction-error map, as HTML + PNG."""
    from vaearr import viz as plots

    folder = Path(folder)
    out = []
    html, _ = plots.save_figure(plots.map_grid(ds[name], "latent_dim", cols=cols), folder / f"{name}_maps")
    out.append(Path(html))
    if f"{name}_recon_error" in ds:
        html, _ = plots.save_figure(
            plots.image_map(ds[f"{name}_recon_error"], title="reconstruction error (MSE per pattern)", cmap="magma"),
            folder / f"{name}_recon_error_map",
        )
        out.append(Path(html))
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
