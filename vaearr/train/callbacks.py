"""What happens around the training loop, as callbacks with named hooks: progress, history, checkpoints, previews, loggers.

A :class:`Callback` overrides the hooks it needs; the :class:`~vaearr.train.trainer.Trainer`
calls them in list order. Only rank 0 of a distributed run gets the ones that write files.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vaearr.errors import require
from vaearr.files import write_whole
from vaearr.models.losses import NATS
from vaearr.options import DEFAULT_FIGURES
from vaearr.progress import Lines, bar, format_loss
from vaearr.train.config import TrainingError
from vaearr.train.step import unwrap

if TYPE_CHECKING:
    from vaearr.train.trainer import Trainer


class Callback:
    """Hooks the trainer calls; each does nothing unless overridden.

    A callback with state a resume must restore names it ``state_key`` and returns it from
    :meth:`state_dict` (saved in every checkpoint's training state); on a resume it finds it in
    ``trainer.callback_state[state_key]`` at :meth:`on_fit_start`.
    """

    state_key: str | None = None

    def state_dict(self, trainer: Trainer) -> dict[str, Any]:
        """What a resume needs of this callback (tensors, numbers, strings)."""
        return {}

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
    """A tqdm bar per epoch with the running loss; where output is not a terminal (:func:`vaearr.progress.mode`), a
    line per epoch with its losses (``epoch 2/10: 60 batches in 4.1 s, train_loss=…, val_loss=…``) and, in a long
    epoch, the lines of its progress."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.bar = bar(total=trainer.steps_per_epoch, desc=f"epoch {epoch}/{trainer.cfg.epochs}", unit="batch")
        if isinstance(self.bar, Lines):
            self.bar.closing = True  # a log shows every epoch, however short

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=format_loss(loss))

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        if isinstance(self.bar, Lines):  # the epoch's own losses, not its last batch's
            self.bar.set_postfix({k: format_loss(row[k]) for k in ("train_loss", "val_loss") if row.get(k) is not None})
        self.bar.close()


def latent_split(row: dict[str, Any]) -> str:
    """The split whose latent statistics a history row reports: validation when there is one."""
    return "val" if "val_active_units" in row else "train"


def curve_units(recon_units: str | None) -> dict[str, str]:
    """The y-axis label of each curve of :func:`plot_curves`: KL in nats, the reconstruction loss in the model's unit
    (``recon_units``, e.g. ``nats per sample`` for a likelihood head; unknown: no unit), the loss in nats where both
    terms are, else what it sums.

    Examples
    --------
    >>> curve_units("nats per sample")["loss"], curve_units(None)["kl"]
    ('loss (nats per sample)', 'KL (nats per sample)')
    """
    recon = f"reconstruction ({recon_units})" if recon_units else "reconstruction"
    loss = f"loss ({NATS})" if recon_units == NATS else "loss (reconstruction + β·KL)"
    return {"loss": loss, "recon_loss": recon, "kl": f"KL ({NATS})"}


def plot_curves(path: Path, history: list[dict], recon_units: str | None = None, dpi: int = DEFAULT_FIGURES.dpi) -> None:
    """``curves.png``: :func:`curves_figure` at ``dpi`` (the default of every figure, 300)."""
    if not history:
        return
    fig = curves_figure(history, recon_units)
    write_whole(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


def curves_figure(history: list[dict], recon_units: str | None = None) -> Figure:
    """Loss, reconstruction loss and KL per epoch (training and validation) with their units (:func:`curve_units`),
    and with vector latents the KL of each latent dim and the number of active dims; epochs on whole-number ticks."""
    epochs = [h["epoch"] for h in history]
    split = latent_split(history[-1])
    per_dim = [h.get(f"{split}_kl_per_dim") for h in history]
    panels = 3 + (2 if all(v is not None for v in per_dim) else 0)
    fig = Figure(figsize=(4 * panels, 3.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels)
    units = curve_units(recon_units)
    for ax, key in zip(axes, ("loss", "recon_loss", "kl"), strict=False):
        for split_, style in (("train", "-"), ("val", "--")):
            vals = [h.get(f"{split_}_{key}") for h in history]
            if any(v is not None for v in vals):
                ax.plot(epochs, vals, style, marker="o", ms=3, label=split_)
        ax.set_title(key)
        ax.set_ylabel(units[key])
        ax.legend()
    if panels == 5:
        kl = np.asarray(per_dim, dtype=float)  # (epochs, dims)
        for d in range(kl.shape[1]):
            axes[3].plot(epochs, kl[:, d], lw=1)
        axes[3].set_title(f"KL per latent dim ({split})")
        axes[3].set_ylabel(f"KL ({NATS})")
        active = [h[f"{split}_active_units"] for h in history]
        axes[4].plot(epochs, active, marker="o", ms=3)
        axes[4].set_ylim(-0.5, kl.shape[1] + 0.5)
        axes[4].yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[4].set_title(f"active units ({split}, of {kl.shape[1]})")
        axes[4].set_ylabel("latent dims")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
    fig.tight_layout()
    return fig


class HistoryWriter(Callback):
    """``history.json``, ``history.csv`` and ``curves.png`` after every epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        trainer.run.write_history(trainer.history)
        config = getattr(unwrap(trainer.model), "config", None)
        plot_curves(trainer.run.curves_path, trainer.history, config.recon_units() if config is not None else None)


class Checkpointer(Callback):
    """``best/`` when the validation loss (without validation: the training loss) improves; a resumable
    checkpoint every ``every`` epochs and at the end."""

    def __init__(self, every: int = 1):
        if every < 1:
            raise TrainingError(f"checkpoint_every must be >= 1, got {every}")
        self.every = every

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        if trainer.best_epoch == epoch:
            trainer.run.save_best(saved_model(trainer))
        if epoch % self.every == 0 or epoch == trainer.cfg.epochs or trainer.stop:
            trainer.run.save_checkpoint(epoch, saved_model(trainer), trainer.state_dict())
            trainer.checkpointed = True


def saved_model(trainer: Trainer) -> Any:
    """The model that is evaluated and saved: the averaged weights with ``--ema``, else the trained ones."""
    return trainer.eval_model if trainer.eval_model is not None else unwrap(trainer.model)


def save_preview(path: Path, x: torch.Tensor, recon: torch.Tensor, slices: Sequence[int] | None = None,
                 dpi: int = DEFAULT_FIGURES.dpi) -> None:
    """Inputs over their reconstructions at ``dpi``; volumes show their middle axial slice, or with ``slices``
    ``(z, y, x)`` their three views at those indices."""
    fig = preview_figure(x, recon, slices)
    write_whole(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


def volume_views(vol: np.ndarray, slices: Sequence[int] | None) -> list[tuple[str, np.ndarray]]:
    """(title, (C, H, W) image) of a (C, D, H, W) volume: the middle axial slice, or the axial,
    coronal and sagittal slices at ``slices`` (z, y, x)."""
    if slices is None:
        return [("", vol[:, vol.shape[1] // 2])]
    z, y, x = (int(i) for i in slices)
    return [(f"axial z={z}", vol[:, z]), (f"coronal y={y}", vol[:, :, y]), (f"sagittal x={x}", vol[:, :, :, x])]


def preview_figure(x: torch.Tensor, recon: torch.Tensor, slices: Sequence[int] | None = None) -> Figure:
    """The figure of :func:`save_preview`: per view a row of inputs over a row of reconstructions."""
    x = x.detach().float().cpu().numpy()
    r = recon.detach().float().cpu().numpy()
    n = x.shape[0]
    views = len(volume_views(x[0], slices)) if x.ndim == 5 else 1
    fig = Figure(figsize=(1.6 * n, 3.4 * views))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 * views, n, squeeze=False)
    lo, hi = np.nanmin(x), np.nanmax(x)
    for i in range(n):
        for kind, arr in enumerate((x, r)):
            shown = volume_views(arr[i], slices) if arr.ndim == 5 else [("", arr[i])]
            for v, (title, img) in enumerate(shown):
                img = img[0] if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
                ax = axes[2 * v + kind, i]
                ax.imshow(np.clip(img, lo, hi), cmap="gray")
                ax.axis("off")
                if i == 0:
                    ax.set_title(f"{('input', 'reconstruction')[kind]}{', ' + title if title else ''}",
                                 fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def reconstruct_first(trainer: Trainer, x: torch.Tensor) -> torch.Tensor:
    """Reconstructions of ``x`` by :func:`saved_model`, without gradients (the model left in eval mode)."""
    net = saved_model(trainer)
    net.eval()
    with torch.no_grad():
        return net(x.to(trainer.device)).recon


class Previews(Callback):
    """``previews/epoch_NNNN.png`` at every checkpoint: the first ``n`` samples this process trained on, reconstructed."""

    def __init__(self, n: int = 8, slices: Sequence[int] | None = None):
        self.n, self.x, self.slices = n, None, slices

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        if self.x is None:
            # a copy: a view would keep the loader's whole group buffer from being reused
            self.x = x[: self.n].detach().to("cpu", torch.float32, copy=True)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        if self.x is None or not trainer.checkpointed:
            return
        rec = reconstruct_first(trainer, self.x)
        folder = trainer.run.previews_dir
        folder.mkdir(exist_ok=True)
        save_preview(folder / f"epoch_{epoch:04d}.png", self.x, rec, self.slices)


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
    """Every number of the history row to Weights & Biases (``--wandb``), and with ``images`` > 0 the
    first ``images`` training samples over their reconstructions (``reconstructions``) every epoch."""

    def __init__(self, run: Any, images: int = 8, image: Any = None):
        # image: wandb.Image (what the grid is logged as); None logs numbers only
        self.wb, self.n, self.image, self.x = run, images if image is not None else 0, image, None

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        if self.x is None and self.n > 0:
            self.x = x[: self.n].detach().to("cpu", torch.float32, copy=True)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        logged: dict[str, Any] = {k: v for k, v in row.items() if isinstance(v, int | float) and math.isfinite(v)}
        if self.x is not None:
            fig = preview_figure(self.x, reconstruct_first(trainer, self.x))
            fig.canvas.draw()
            grid = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
            logged["reconstructions"] = self.image(grid, caption=f"epoch {epoch}: inputs over reconstructions")
        self.wb.log(logged, step=trainer.step)

    def on_fit_end(self, trainer: Trainer) -> None:
        self.wb.finish()


def ema_decay(decay: float, step: int) -> float:
    """The decay used at optimisation step ``step`` (0-based): ``min(decay, (1 + step) / (10 + step))``.

    Examples
    --------
    >>> ema_decay(0.999, 0), ema_decay(0.999, 10_000)
    (0.1, 0.999)
    """
    return min(decay, (1 + step) / (10 + step))


class EMA(Callback):
    """``--ema``: an exponential moving average of the weights, the model that is validated and saved.

    After every optimisation step each averaged parameter moves towards the trained one,
    ``avg ← avg + (1 − d) (w − avg)`` with ``d = ema_decay(decay, step)`` (the warm-up of
    TensorFlow's ``ExponentialMovingAverage(num_updates=step)``: early averages do not hold on to
    the random initial weights); buffers (BatchNorm statistics) are copied. The average becomes
    ``trainer.eval_model``: validation runs it, ``best/`` is chosen by its loss and every
    checkpoint's ``model.safetensors`` holds it, so ``vaearr encode`` (any checkpoint) reads
    averaged weights. The trained weights travel in the checkpoint's training state, and a resume
    puts both back exactly.
    """

    state_key = "ema"

    def __init__(self, decay: float):
        self.decay = decay
        self.model: torch.nn.Module | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        net = unwrap(trainer.model)
        # a resumed run's model came from the checkpoint's model file, the averaged weights
        self.model = copy.deepcopy(net).eval().requires_grad_(False)
        saved = trainer.callback_state.get(self.state_key)
        if saved is not None:
            net.load_state_dict(saved["trained"])
        trainer.eval_model = self.model

    def on_batch_end(self, trainer: Trainer, x: torch.Tensor, loss: float) -> None:
        net = unwrap(trainer.model)
        weight = 1.0 - ema_decay(self.decay, trainer.step - 1)  # trainer.step counts the step just taken
        with torch.no_grad():
            for p_avg, p in zip(self.model.parameters(), net.parameters(), strict=True):
                p_avg.lerp_(p.detach(), weight)
            for b_avg, b in zip(self.model.buffers(), net.buffers(), strict=True):
                b_avg.copy_(b)

    def state_dict(self, trainer: Trainer) -> dict[str, Any]:
        return {"trained": {k: v.detach().clone() for k, v in unwrap(trainer.model).state_dict().items()},
                "decay": self.decay}


class EarlyStopping(Callback):
    """Stop when the validation loss (the training loss without validation) has not fallen by more
    than ``min_delta`` below its best for ``patience`` epochs (``--patience``, ``--min-delta``).

    The epoch it stops after gets ``early_stop: true`` in the history, a checkpoint, and a line
    through ``report`` and in the fit's notes. The count is rebuilt from the history at the start,
    so a resumed run stops where the uninterrupted one would have.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, report: Any = None):
        self.patience, self.min_delta, self.report = patience, min_delta, report
        self.best, self.wait = math.inf, 0

    def _update(self, row: dict[str, Any]) -> None:
        loss = row.get("val_loss", row["train_loss"])
        if loss < self.best - self.min_delta:
            self.best, self.wait = loss, 0
        else:
            self.wait += 1

    def on_fit_start(self, trainer: Trainer) -> None:
        self.best, self.wait = math.inf, 0
        for row in trainer.history:
            self._update(row)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        self._update(row)
        if self.wait < self.patience or epoch >= trainer.cfg.epochs or trainer.stop:
            return
        trainer.stop = True
        row["early_stop"] = True
        which = "validation" if "val_loss" in row else "training"
        line = (f"early stopping after epoch {epoch} of {trainer.cfg.epochs}: the {which} loss has not fallen by more "
                f"than {self.min_delta:g} for {self.patience} epoch{'s' if self.patience != 1 else ''} (best: epoch {trainer.best_epoch}, "
                f"{format_loss(trainer.best_val_loss)})")
        trainer.notes.append(line)
        if self.report is not None and trainer.is_main:
            self.report(line)


def default_callbacks(trainer: Trainer, *, progress: bool, report: Any = None) -> list[Callback]:
    """What ``vaearr train`` runs: the weight average (``--ema``) and early stopping (``--patience``) on
    every rank, a progress bar, then (rank 0) checkpoints, previews, history and loggers."""
    cfg = trainer.cfg
    out: list[Callback] = [EMA(cfg.ema)] if cfg.ema else []
    if cfg.patience:
        out.append(EarlyStopping(cfg.patience, cfg.min_delta, report))
    if progress and trainer.is_main:
        out.append(ProgressBar())
    if not trainer.is_main:
        return out
    out += [Checkpointer(cfg.checkpoint_every)]
    if cfg.previews > 0:
        out.append(Previews(cfg.previews, cfg.preview_slices))
    out.append(HistoryWriter())
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is in the 'models' extra: no logs without it
            pass
        else:
            out.append(TensorBoardLogger(SummaryWriter(log_dir=str(trainer.run.tensorboard_dir))))
    if cfg.wandb:
        wandb = require("wandb", "wandb")
        out.append(WandbLogger(wandb.init(project="vaearr", name=trainer.run.path.name, dir=str(trainer.run.path),
                                          config=json.loads(cfg.to_json())),
                               images=cfg.previews or 8, image=wandb.Image))
    return out


__all__ = ["EMA", "Callback", "Checkpointer", "EarlyStopping", "HistoryWriter", "Previews", "ProgressBar", "TensorBoardLogger",
           "WandbLogger", "curve_units", "curves_figure", "default_callbacks", "plot_curves", "preview_figure", "save_preview", "saved_model"]
