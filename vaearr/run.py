"""A trained run: its folder, config, input pipeline, checkpoints and history — the only code that touches them.

A run folder holds::

    config.json                 {"version", "data", "train", "model"}: what was trained on what
    preprocess.json (+ .safetensors)   the fitted input pipeline (vaearr.preprocess)
    checkpoints/epoch_NNNN/     model.safetensors, config.json (the model), state.json +
                                state.safetensors (optimizer, scheduler, RNG, history: no pickle),
                                run.json + preprocess files (the run's: the folder restores on its own)
    checkpoints/latest          the name of the newest checkpoint
    best/                       the model with the lowest validation loss (training loss without validation),
                                with run.json and the preprocess files too
    history.json, history.csv   one row per epoch (curves.png, previews/, tb/ beside them)

Training writes through :class:`Run` (:meth:`Run.create`, :meth:`Run.save_checkpoint`,
:meth:`Run.write_history`); ``vaearr encode``, resume, explore, quality, layers, the flows and
the notebooks read through it (:meth:`Run.open`, :meth:`Run.model`). :meth:`Run.open` of a
checkpoint folder (``runs/ni/best``) gives a run of that one checkpoint. Reading and encoding
samples through a run is its :attr:`Run.encoder`'s (:mod:`vaearr.encoder`).
Checkpoint ``N`` is the state after epoch ``N`` (1-based, as in the history).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaearr.batches import ZarrBatches
from vaearr.batches.spec import DataSpec
from vaearr.checkpoint import load_state, save_state
from vaearr.encoder import EncodedBatch, Encoder
from vaearr.errors import VaearrError
from vaearr.files import write_bytes_whole, write_folder_whole
from vaearr.models import VAEBase, load_model, save_model
from vaearr.maps.roi.neighbours import NeighbourAverage
from vaearr.preprocess import PARAMS_FILE, Preprocess, PreprocessOptions
from vaearr.store import open_store

#: Written to ``config.json``; 1 is the layout before :class:`Run` (still read).
VERSION = 2
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
#: The run's config in each checkpoint folder (whose own ``config.json`` is the model's), beside the preprocess
#: files: a checkpoint folder, ``best/`` included, restores on its own.
RUN_FILE = "run.json"


class RunError(VaearrError):
    """A run folder cannot be used as asked (not a run, no such checkpoint...)."""


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
        #: The one checkpoint folder of a run opened from it (:meth:`open` of ``best/`` or ``checkpoints/epoch_N``).
        self.only: Path | None = None

    # -- creating and opening ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike, **parts: Any) -> Run:
        """A new run (see the class for ``parts``), written to ``path``."""
        run = cls(path, **parts)
        run.save()
        return run

    def save(self) -> None:
        """Write ``config.json`` and the preprocess files (each renamed into place)."""
        self.save_config(self.path, CONFIG_FILE)

    def save_config(self, folder: Path, name: str) -> None:
        """The run's config as ``folder/name`` and its preprocess files in ``folder`` (each renamed into place)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.preprocess.save(folder)
        config = {"version": VERSION, "data": asdict(self.data), "train": self.train, "model": self.model_config}
        write_bytes_whole(folder / name, json.dumps(config, indent=2, default=list) + "\n")

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        """The run in folder ``path``.

        Raises
        ------
        RunError
            ``path`` is not a run folder.
        """
        path = Path(path)
        if not _is_run_folder(path) and (path / "model.safetensors").exists():
            return cls._open_checkpoint(path)
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
    def _open_checkpoint(cls, path: Path) -> Run:
        """A checkpoint folder (``best/``, ``checkpoints/epoch_NNNN``) as a run of that one checkpoint: from its
        own ``run.json`` and preprocess files, or (written before they were) from the run folder above it."""
        if (path / RUN_FILE).exists():
            try:
                config = json.loads((path / RUN_FILE).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise RunError(f"{path / RUN_FILE}: unreadable run config ({exc})") from None
            run = cls(path, data=DataSpec.from_dict(config["data"]), train=config["train"], model=config["model"],
                      preprocess=Preprocess.load(path))
        else:
            root = next((p for p in path.parents if _is_run_folder(p)), None)
            if root is None:
                raise RunError(f"{path}: a model folder without its run's config ({RUN_FILE}) or a run folder above it")
            run = cls.open(root)
        run.only = path
        return run

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

        ``"best"`` falls back to the last checkpoint when no validation loss was recorded. A run opened
        from a checkpoint folder has that one checkpoint, whatever is asked.
        """
        if self.only is not None:
            return self.only
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

        def fill(tmp: Path) -> None:
            save_model(model, tmp)
            self.save_config(tmp, RUN_FILE)
            save_state(tmp, {"epoch": epoch, **state})

        write_folder_whole(final, fill)
        write_bytes_whole(self.checkpoints_dir / "latest", final.name)
        return final

    def last_state(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint and its training state, or None when there is none yet."""
        marker = self.checkpoints_dir / "latest"
        if not marker.exists():
            return None
        path = self.checkpoints_dir / marker.read_text().strip()
        return path, load_state(path)

    def save_best(self, model: VAEBase) -> Path:
        """The model with the lowest validation loss so far (training loss without validation), in ``best/``,
        with the run's config and preprocessing (it restores on its own)."""
        def fill(tmp: Path) -> None:
            save_model(model, tmp)
            self.save_config(tmp, RUN_FILE)

        return write_folder_whole(self.path / "best", fill)  # weights and config of one epoch, never a mix

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
        write_bytes_whole(self.path / HISTORY_FILE, json.dumps(history, indent=1))
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

    @property
    def encoder(self) -> Encoder:
        """The run's samples reader and encoder (:class:`~vaearr.encoder.Encoder`): its data, preprocessing, model."""
        window = str(self.train.get("window") or "")
        return Encoder(self.data, self.preprocess, self.model, name=self.path, streamed=":" in window)

    def check(self, ds: xr.Dataset, *, mask: str | xr.DataArray | None = "run", where: Any = None) -> xr.DataArray | None:
        """:meth:`Encoder.check <vaearr.encoder.Encoder.check>`: the run's variable and mask in ``ds``."""
        return self.encoder.check(ds, mask=mask, where=where)

    def inputs(self, source: str | os.PathLike | xr.Dataset | None = None, **kwargs: Any) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """:meth:`Encoder.inputs <vaearr.encoder.Encoder.inputs>`: model inputs of a store's samples."""
        return self.encoder.inputs(source, **kwargs)

    def encode(self, source: str | os.PathLike | xr.Dataset | None = None, **kwargs: Any) -> Iterator[EncodedBatch]:
        """:meth:`Encoder.encode <vaearr.encoder.Encoder.encode>`: samples through the run's model."""
        return self.encoder.encode(source, **kwargs)


def _is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a run's own ``config.json`` (with its data), not a checkpoint's model config."""
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and ("data" in config or "train" in config)


class _Options:
    """Attribute access to a saved training config (for :meth:`PreprocessOptions.of`)."""

    def __init__(self, d: dict[str, Any]):
        self.__dict__.update(d)


def fit_preprocess(data: DataSpec, options: PreprocessOptions, neighbours: NeighbourAverage | None = None, *,
                   mean_pattern: np.ndarray | None = None) -> Preprocess:
    """The input pipeline ``options`` ask for, fitted on ``data`` (the static background over its mask, or
    ``mean_pattern`` when given); ``neighbours``: the neighbour average already fitted (by the command that
    wrote its derived variable, which ``data``'s store may hold alone: a training window's)."""
    var = data.var
    if neighbours is not None and var not in open_store(data.store).data_vars:
        var = neighbours.variable(var)
    loader = ZarrBatches(data.store, var=var, sample_dims=data.sample_dims, feature_dims=data.feature_dims,
                         mask=data.mask, batch_size=1, shuffle=False, dtype=None)
    return Preprocess.fit(data.store, data.var, sample_dims=data.sample_dims, feature_dims=data.feature_dims,
                          mask=data.mask, options=options, source_dtype=loader.source.dtype,
                          sample_shape=loader.source.out_shape, neighbours=neighbours, mean_pattern=mean_pattern)


__all__ = ["DataSpec", "EncodedBatch", "Run", "RunError", "fit_preprocess"]
