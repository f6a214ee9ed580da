"""A trained run: its folder, config, input pipeline, checkpoints and history — the only code that touches them.

A run folder holds::

    config.json                 {"version", "data", "train", "model"}: what was trained on what
    preprocess.json (+ .safetensors)   the fitted input pipeline (vaearr.preprocess)
    checkpoints/epoch_NNNN/     model.safetensors, config.json (the model), state.json +
                                state.safetensors (optimizer, scheduler, RNG, history: no pickle)
    checkpoints/latest          the name of the newest checkpoint
    best/                       the model with the lowest validation loss (training loss without validation)
    history.json, history.csv   one row per epoch (curves.png, previews/, tb/ beside them)

Training writes through :class:`Run` (:meth:`Run.create`, :meth:`Run.save_checkpoint`,
:meth:`Run.write_history`); ``vaearr encode``, resume, explore, quality, layers, the flows and
the notebooks read through it (:meth:`Run.open`, :meth:`Run.model`, :meth:`Run.encode`).
Checkpoint ``N`` is the state after epoch ``N`` (1-based, as in the history).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaearr.batches import ZarrBatches
from vaearr.checkpoint import load_state, save_state
from vaearr.errors import StoreError, VaearrError
from vaearr.models import VAEBase, load_model, save_model
from vaearr.preprocess import (
    PARAMS_FILE,
    Preprocess,
    PreprocessOptions,
    averaged_variable,
)
from vaearr.store import masks, open_store
from vaearr.store.schema import ROI, split_dims

#: Written to ``config.json``; 1 is the layout before :class:`Run` (still read).
VERSION = 2
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"


class RunError(VaearrError):
    """A run folder cannot be used as asked (not a run, no such checkpoint...)."""


@dataclass(frozen=True)
class DataSpec:
    """What a run was trained on: a variable of a store, its sample and feature dims, a mask.

    ``store`` is absolute (a path or URL), so the run can be used from any directory.
    """

    store: str
    var: str
    sample_dims: tuple[str, ...]
    feature_dims: tuple[str, ...]
    mask: str | None

    @classmethod
    def resolve(cls, store: str | os.PathLike, var: str, *, sample_dims: Sequence[str] | None = None,
                feature_dims: Sequence[str] | None = None, mask: str | None = "auto") -> DataSpec:
        """Check ``var`` and ``mask`` against the store; dims not given come from the schema.

        ``mask="auto"`` takes ``roi`` when the store has that mask, else none.
        """
        ds = open_store(store)
        if var not in ds.data_vars:
            raise StoreError(store, f"no variable '{var}' (it has: {', '.join(map(str, ds.data_vars))})")
        samples, features = split_dims(tuple(map(str, ds[var].dims)), var, sample_dims, feature_dims)
        if mask == "auto":
            mask = ROI if ROI in masks(ds) else None
        elif mask is not None and mask not in ds.data_vars:
            raise StoreError(store, f"no mask variable '{mask}'")
        location = os.fspath(store)
        if "://" not in location:
            location = os.path.abspath(location)
        return cls(location, var, samples, features, mask)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        return cls(d["store"], d["var"], tuple(d["sample_dims"]), tuple(d["feature_dims"]), d.get("mask"))


@dataclass
class EncodedBatch:
    """One batch through a run's encoder: flat sample indices, posterior, reconstruction, inputs.

    Unpacks as ``index, mu, logvar, recon``; ``x`` (the model inputs) rides along.
    """

    index: np.ndarray
    mu: torch.Tensor
    logvar: torch.Tensor
    recon: torch.Tensor | None
    x: torch.Tensor

    def __iter__(self) -> Iterator[Any]:
        return iter((self.index, self.mu, self.logvar, self.recon))


class Run:
    """A run folder and what it holds; see the module docstring for the layout.

    Parameters
    ----------
    path
        The run folder.
    data
        What it trains on.
    train
        The training options (``TrainConfig`` as a dict).
    model
        The model config (as :meth:`vaearr.models.ModelConfig.to_dict` gives it).
    preprocess
        The fitted input pipeline.
    """

    def __init__(self, path: str | os.PathLike, *, data: DataSpec, train: dict[str, Any], model: dict[str, Any],
                 preprocess: Preprocess):
        self.path = Path(path)
        self.data, self.train, self.model_config, self.preprocess = data, dict(train), dict(model), preprocess

    # -- creating and opening ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike, **parts: Any) -> Run:
        """A new run (see the class for ``parts``), written to ``path``."""
        run = cls(path, **parts)
        run.save()
        return run

    def save(self) -> None:
        """Write ``config.json`` and the preprocess files (each renamed into place)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.preprocess.save(self.path)
        config = {"version": VERSION, "data": asdict(self.data), "train": self.train, "model": self.model_config}
        tmp = self.path / (CONFIG_FILE + ".tmp")
        tmp.write_text(json.dumps(config, indent=2, default=list) + "\n")
        os.replace(tmp, self.path / CONFIG_FILE)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        """The run in folder ``path``.

        Raises
        ------
        RunError
            ``path`` is not a run folder.
        """
        path = Path(path)
        try:
            config = json.loads((path / CONFIG_FILE).read_text())
        except FileNotFoundError:
            raise RunError(f"{path}: not a training run (no config.json); train one with 'vaearr train'") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"{path / CONFIG_FILE}: unreadable run config ({exc})") from None
        if config.get("version", 1) > VERSION:
            raise RunError(f"{path}: written by a newer vaearr (run version {config['version']})")
        if "data" not in config:
            return cls._open_v1(path, config)
        return cls(path, data=DataSpec.from_dict(config["data"]), train=config["train"], model=config["model"],
                   preprocess=Preprocess.load(path))

    @classmethod
    def _open_v1(cls, path: Path, config: dict[str, Any]) -> Run:
        """A run written before run folders had a preprocess file: refit it on the recorded store."""
        train = config["train"]
        data = DataSpec(os.fspath(train["store"]), train.get("var", "patterns"), tuple(config["sample_dims"]),
                        tuple(config["feature_dims"]), config.get("mask"))
        if (path / PARAMS_FILE).exists():
            preprocess = Preprocess.load(path)
        else:
            preprocess = fit_preprocess(data, PreprocessOptions.of(_Options(train)))
        return cls(path, data=data, train=train, model=config["model"], preprocess=preprocess)

    # -- checkpoints ---------------------------------------------------------------------------

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint_path(self, checkpoint: str | int | os.PathLike = "best") -> Path:
        """The model folder of ``checkpoint``: ``"best"``, ``"last"`` (or ``"latest"``), an epoch
        number, or a checkpoint folder (a name under ``checkpoints/`` or a path).

        ``"best"`` falls back to the last checkpoint when no validation loss was recorded.
        """
        if checkpoint == "best" and (self.path / "best" / "model.safetensors").exists():
            return self.path / "best"
        if checkpoint in ("best", "last", "latest"):
            marker = self.checkpoints_dir / "latest"
            if not marker.exists():
                raise RunError(f"{self.path}: no checkpoint yet")
            return self.checkpoints_dir / marker.read_text().strip()
        if isinstance(checkpoint, int) or (isinstance(checkpoint, str) and checkpoint.isdigit()):
            path = self.checkpoints_dir / f"epoch_{int(checkpoint):04d}"
        else:
            path = Path(checkpoint)
            path = path if path.is_absolute() or path.exists() else self.checkpoints_dir / path
        if not (path / "model.safetensors").exists():
            raise RunError(f"{path}: no model.safetensors here (checkpoints: {', '.join(self.checkpoints()) or 'none'})")
        return path

    def checkpoints(self) -> list[str]:
        """Names of the checkpoint folders, oldest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        return sorted(p.name for p in self.checkpoints_dir.iterdir() if p.is_dir() and p.name.startswith("epoch_")
                      and not p.name.endswith(".tmp"))

    def model(self, checkpoint: str | int | os.PathLike = "best", *, device: str | torch.device = "cpu",
              overrides: dict[str, Any] | None = None) -> VAEBase:
        """The model of ``checkpoint`` (see :meth:`checkpoint_path`), in eval mode on ``device``."""
        return load_model(self.checkpoint_path(checkpoint), map_location=device, overrides=overrides).eval()

    def save_checkpoint(self, epoch: int, model: VAEBase, state: dict[str, Any]) -> Path:
        """Weights and training ``state`` after epoch ``epoch`` (1-based); written beside, then renamed in."""
        final = self.checkpoints_dir / f"epoch_{epoch:04d}"
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(model, tmp)
        save_state(tmp, {"epoch": epoch, **state})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        (self.checkpoints_dir / "latest").write_text(final.name)
        return final

    def last_state(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint and its training state, or None when there is none yet."""
        marker = self.checkpoints_dir / "latest"
        if not marker.exists():
            return None
        path = self.checkpoints_dir / marker.read_text().strip()
        return path, load_state(path)

    def save_best(self, model: VAEBase) -> Path:
        """The model with the lowest validation loss so far (training loss without validation), in ``best/``."""
        return save_model(model, self.path / "best")

    # -- what training writes beside ----------------------------------------------------------

    @property
    def curves_path(self) -> Path:
        """``curves.png``: the loss terms per epoch."""
        return self.path / "curves.png"

    @property
    def previews_dir(self) -> Path:
        """``previews/``: inputs and reconstructions at each checkpoint."""
        return self.path / "previews"

    @property
    def tensorboard_dir(self) -> Path:
        """``tb/``: TensorBoard logs."""
        return self.path / "tb"

    # -- history -------------------------------------------------------------------------------

    @property
    def history(self) -> list[dict[str, Any]]:
        """One dict per epoch (``epoch``, ``train_loss``, ``val_loss``...); empty before the first."""
        path = self.path / HISTORY_FILE
        return json.loads(path.read_text()) if path.exists() else []

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """``history.json`` and ``history.csv``."""
        (self.path / HISTORY_FILE).write_text(json.dumps(history, indent=1))
        if history:
            keys = list(dict.fromkeys(k for row in history for k in row))
            with open(self.path / "history.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=keys)
                w.writeheader()
                w.writerows(history)

    # -- reading samples through the run -------------------------------------------------------

    @property
    def data_range(self) -> tuple[float, float] | None:
        """The range model inputs lie in: ``(0, 1)`` or ``(-1, 1)``, or None for standardised runs.

        Standardised inputs (zero mean, unit std per pattern) have no fixed range: figures then
        scale to the values shown, and PSNR/SSIM take the inputs' own range.
        """
        return self.preprocess.output_range

    def check(self, ds: xr.Dataset, *, mask: str | xr.DataArray | None = "run", where: Any = None) -> xr.DataArray | None:
        """Check that ``ds`` has the run's variable (and ``mask``); return the mask over the sample dims, or None.

        ``mask``: ``"run"`` (the run's mask, which ``ds`` must have), a mask name or bool
        DataArray, or None (every sample).
        """
        if self.data.var not in ds.data_vars:
            raise StoreError(where, f"no variable '{self.data.var}' (the run {self.path} was trained on it)")
        if isinstance(mask, str) and mask == "run":
            mask = self.data.mask
            if mask is not None and mask not in ds.data_vars:
                raise StoreError(where, f"no mask '{mask}' (the run {self.path} was trained inside it)")
        if isinstance(mask, str):
            if mask not in ds.data_vars:
                raise StoreError(where, f"no mask variable '{mask}'")
            mask = ds[mask]
        return None if mask is None else mask.transpose(*self.data.sample_dims)

    def inputs(self, source: str | os.PathLike | xr.Dataset | None = None, *, mask: str | xr.DataArray | None = "run",
               samples: np.ndarray | None = None, batch_size: int = 256, num_workers: int = 0,
               device: str | torch.device = "cpu") -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Model inputs of the samples of ``source`` (a store path/URL or a Dataset; default the run's store).

        Yields ``(index, x)`` in order: flat sample indices (C order over the sample dims) and
        their inputs through :attr:`preprocess` (evaluation form), on ``device``. ``mask``:
        ``"run"`` (the run's mask; the store must have it), a mask name or bool DataArray, or
        None (every sample); ``samples`` keeps only these flat indices; ``num_workers``: worker
        processes decoding a store's chunks (see :class:`~vaearr.batches.BatchSpec`).
        """
        source = self.data.store if source is None else source
        for index, x in self._raw(source, mask, batch_size, num_workers):
            if samples is not None:
                keep = np.isin(index, samples)
                if not keep.any():
                    continue
                index, x = index[keep], x[torch.from_numpy(keep)]
            yield index, self.preprocess(x.to(device))

    def _raw(self, source: Any, mask: Any, batch_size: int,
             num_workers: int = 0) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Batches of a store's samples in the stored dtype, ``(B, C, *spatial)``, with their flat indices."""
        d = self.data
        in_memory = isinstance(source, xr.Dataset)
        ds = source if in_memory else open_store(source)
        m = self.check(ds, mask=mask, where="the dataset" if in_memory else source)
        avg = self.preprocess.neighbours
        if not in_memory and (m is None or m.name in ds.data_vars):
            # the store's own chunks, read as training reads them (averaged first if the run averages)
            var = averaged_variable(source, d.var, avg, mask=d.mask, sample_dims=d.sample_dims)
            loader = ZarrBatches(source, var=var, sample_dims=d.sample_dims, feature_dims=d.feature_dims,
                                 mask=None if m is None else str(m.name), batch_size=batch_size, shuffle=False,
                                 split="all", return_index=True, dtype=None, num_workers=num_workers)
            with loader:
                for x, idx in loader:
                    yield idx.numpy(), x
            return
        da = ds[d.var].transpose(*d.sample_dims, *d.feature_dims)
        if avg is not None:
            run_mask = ds[d.mask].values if d.mask is not None and d.mask in ds else None
            da = da.copy(data=avg.average(da.data, run_mask))
        n = int(np.prod([da.sizes[s] for s in d.sample_dims]))
        index = np.arange(n) if m is None else np.flatnonzero(np.asarray(m.values, bool).ravel())
        flat = da.data.reshape(n, *da.shape[len(d.sample_dims):])
        # the loader's layout: a channel dim first (a feature dim with named coords), else one added
        named = [i for i, f in enumerate(d.feature_dims)
                 if f in da.coords and da.coords[f].dtype.kind in "UOS" and len(d.feature_dims) > 1]
        for start in range(0, len(index), batch_size):
            idx = index[start:start + batch_size]
            x = np.asarray(flat[idx])
            x = np.moveaxis(x, 1 + named[-1], 1) if named else x[:, None]
            yield idx, torch.from_numpy(np.ascontiguousarray(x))

    @torch.no_grad()
    def encode(self, source: str | os.PathLike | xr.Dataset | None = None, *, mask: str | xr.DataArray | None = "run",
               checkpoint: str | int = "best", model: VAEBase | None = None, samples: np.ndarray | None = None,
               batch_size: int = 256, num_workers: int = 0, device: str | torch.device = "cpu",
               reconstruct: bool = True) -> Iterator[EncodedBatch]:
        """Push samples through the run's model: yields :class:`EncodedBatch` (``index, mu, logvar, recon``).

        ``source``, ``mask``, ``samples``: as :meth:`inputs`. ``model`` (already loaded) wins
        over ``checkpoint``; ``recon`` is the decoded posterior mean (None unless ``reconstruct``).
        """
        model = model if model is not None else self.model(checkpoint, device=device)
        dev = next(model.parameters()).device
        for index, x in self.inputs(source, mask=mask, samples=samples, batch_size=batch_size,
                                    num_workers=num_workers, device=dev):
            mu, logvar = model.encode(x)
            yield EncodedBatch(index, mu, logvar, model.decode(mu) if reconstruct else None, x)


class _Options:
    """Attribute access to a saved training config (for :meth:`PreprocessOptions.of`)."""

    def __init__(self, d: dict[str, Any]):
        self.__dict__.update(d)


def fit_preprocess(data: DataSpec, options: PreprocessOptions) -> Preprocess:
    """The input pipeline ``options`` ask for, fitted on ``data`` (the static background over its mask)."""
    loader = ZarrBatches(data.store, var=data.var, sample_dims=data.sample_dims, feature_dims=data.feature_dims,
                         mask=data.mask, batch_size=1, shuffle=False, dtype=None)
    return Preprocess.fit(data.store, data.var, sample_dims=data.sample_dims, feature_dims=data.feature_dims,
                          mask=data.mask, options=options, source_dtype=loader.source.dtype,
                          sample_shape=loader.source.out_shape)


__all__ = ["DataSpec", "EncodedBatch", "Run", "RunError", "fit_preprocess"]
