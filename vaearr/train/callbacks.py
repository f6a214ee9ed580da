"""What happens around the training loop, as callbacks with named hooks: progress, history, checkpoints, previews, loggers.

A :class:`Callback` overrides the hooks it needs; the :class:`~vaearr.train.trainer.Trainer`
calls them in list order. Only rank 0 of a distributed run gets the ones that write files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaearr.progress import bar
from vaearr.train.config import TrainingError
from vaearr.train.step import unwrap

if TYPE_CHECKING:
    from vaearr.train.trainer import Trainer


class Callback:
    """Hooks the trainer calls; each does nothing unless overridden."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch (after a resume has restored the state)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (1-based) starts."""

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        """After each optimisation step, with the batch (on the device) and its loss."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        """After epoch ``epoch`` (1-based) with its history ``row`` (validation included)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch."""


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.bar = bar(total=trainer.steps_per_epoch, desc=f"epoch {epoch}/{trainer.cfg.epochs}", unit="batch")

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4g}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        self.bar.close()


def latent_split(row: dict[str, Any]) -> str:
    """The split whose latent statistics a history row reports: validation when there is one."""
    return "val" if "val_active_units" in row else "train"


def plot_curves(path: Path, history: list[dict]) -> None:
    """``curves.png``: loss, reconstruction loss and KL per epoch (training and validation), and
    with vector latents the KL of each latent dim and the number of active dims."""
    if not history:
        return
    epochs = [h["epoch"] for h in history]
    split = latent_split(history[-1])
    per_dim = [h.get(f"{split}_kl_per_dim") for h in history]
    panels = 3 + (2 if all(v is not None for v in per_dim) else 0)
    fig = Figure(figsize=(4 * panels, 3.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels)
    for ax, key in zip(axes, ("loss", "recon_loss", "kl"), strict=False):
        for split_, style in (("train", "-"), ("val", "--")):
            vals = [h.get(f"{split_}_{key}") for h in history]
            if any(v is not None for v in vals):
                ax.plot(epochs, vals, style, marker="o", ms=3, label=split_)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.legend()
    if panels == 5:
        kl = np.asarray(per_dim, dtype=float)  # (epochs, dims)
        for d in range(kl.shape[1]):
            axes[3].plot(epochs, kl[:, d], lw=1)
        axes[3].set_title(f"KL per latent dim ({split}, nats)")
        axes[3].set_xlabel("epoch")
        active = [h[f"{split}_active_units"] for h in history]
        axes[4].plot(epochs, active, marker="o", ms=3)
        axes[4].set_ylim(-0.5, kl.shape[1] + 0.5)
        axes[4].set_title(f"active units ({split}, of {kl.shape[1]})")
        axes[4].set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


class HistoryWriter(Callback):
    """``history.json``, ``history.csv`` and ``curves.png`` after every epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        trainer.run.write_history(trainer.history)
        plot_curves(trainer.run.curves_path, trainer.history)


class Checkpointer(Callback):
    """``best/`` when the validation loss (without validation: the training loss) improves; a resumable
    checkpoint every ``every`` epochs and at the end."""

    def __init__(self, every: int = 1):
        if every < 1:
            raise TrainingError(f"checkpoint_every must be >= 1, got {every}")
        self.every = every

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        if trainer.best_epoch == epoch:
            trainer.run.save_best(unwrap(trainer.model))
        if epoch % self.every == 0 or epoch == trainer.cfg.epochs:
            trainer.run.save_checkpoint(epoch, unwrap(trainer.model), trainer.state_dict())
            trainer.checkpointed = True


def save_preview(path: Path, x: torch.Tensor, recon: torch.Tensor) -> None:
    """Inputs (top row) and their reconstructions (bottom row); volumes show their middle slice."""
    x = x.detach().float().cpu().numpy()
    r = recon.detach().float().cpu().numpy()
    n = x.shape[0]
    fig = Figure(figsize=(1.6 * n, 3.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, arr in enumerate((x, r)):
            img = arr[i]
            if img.ndim == 4:  # (C, D, H, W): middle slice
                img = img[:, img.shape[1] // 2]
            img = img[0] if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
            axes[row, i].imshow(np.clip(img, *(np.nanmin(x), np.nanmax(x))), cmap="gray")
            axes[row, i].axis("off")
    axes[0, 0].set_title("input", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


class Previews(Callback):
    """``previews/epoch_NNNN.png`` at every checkpoint: the first ``n`` samples this process trained on, reconstructed."""

    def __init__(self, n: int = 8):
        self.n, self.x = n, None

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        if self.x is None:
            # a copy: a view would keep the loader's whole group buffer from being reused
            self.x = x[: self.n].detach().to("cpu", torch.float32, copy=True)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        if self.x is None or not trainer.checkpointed:
            return
        net = unwrap(trainer.model)
        net.eval()
        with torch.no_grad():
            rec = net(self.x.to(trainer.device)).recon
        folder = trainer.run.previews_dir
        folder.mkdir(exist_ok=True)
        save_preview(folder / f"epoch_{epoch:04d}.png", self.x, rec)


class TensorBoardLogger(Callback):
    """Losses per step and per epoch in ``tb/`` (when tensorboard is installed)."""

    def __init__(self, writer: Any):
        self.writer = writer

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        self.writer.add_scalar("train/loss_step", loss, trainer.step)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        for k, v in row.items():
            if k.startswith(("train_", "val_")) and isinstance(v, int | float):
                self.writer.add_scalar(k.replace("_", "/", 1), v, epoch)

    def on_fit_end(self, trainer: Trainer) -> None:
        self.writer.close()


class WandbLogger(Callback):
    """Every number of the history row to Weights & Biases (``--wandb``)."""

    def __init__(self, run: Any):
        self.wb = run

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        self.wb.log({k: v for k, v in row.items() if isinstance(v, int | float) and math.isfinite(v)}, step=trainer.step)

    def on_fit_end(self, trainer: Trainer) -> None:
        self.wb.finish()


def default_callbacks(trainer: Trainer, *, progress: bool) -> list[Callback]:
    """What ``vaearr train`` runs: a progress bar, then (rank 0) checkpoints, previews, history and loggers."""
    cfg = trainer.cfg
    out: list[Callback] = [ProgressBar()] if progress and trainer.is_main else []
    if not trainer.is_main:
        return out
    out += [Checkpointer(cfg.checkpoint_every)]
    if cfg.previews > 0:
        out.append(Previews(cfg.previews))
    out.append(HistoryWriter())
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is in the 'models' extra: no logs without it
            pass
        else:
            out.append(TensorBoardLogger(SummaryWriter(log_dir=str(trainer.run.tensorboard_dir))))
    if cfg.wandb:
        try:
            import wandb
        except ImportError:
            raise TrainingError("--wandb needs the wandb package: pip install wandb") from None
        out.append(WandbLogger(wandb.init(project="vaearr", name=trainer.run.path.name, dir=str(trainer.run.path),
                                          config=json.loads(cfg.to_json()))))
    return out


__all__ = ["Callback", "Checkpointer", "HistoryWriter", "Previews", "ProgressBar", "TensorBoardLogger",
           "WandbLogger", "default_callbacks", "plot_curves", "save_preview"]
