"""The training loop: :class:`Trainer` (and :class:`AdversarialTrainer` for families with a discriminator), and :func:`fit`.

The loop itself is short: epochs of optimisation steps, an evaluation pass, a history row;
checkpoints, history files, previews, progress and loggers are callbacks
(:mod:`vaearr.train.callbacks`). Everything a resume needs — optimizer, scheduler, RNG
streams, history, the best epoch — comes from :meth:`Trainer.state_dict` and goes back
through :meth:`Trainer.load_state_dict`, so a killed run resumed from its last checkpoint
continues bit for bit as if it had not stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from vaearr.errors import VaearrWarning
from vaearr.checkpoint import rng_state, set_rng_state
from vaearr.models import (
    Adversarial,
    VAEBase,
    build_model,
    channels_last,
    channels_last_batch,
    config_from_dict,
    load_model,
)
from vaearr.run import Run
from vaearr.options import from_fields
from vaearr.train.active import ActiveUnits, collapse_warning, measure_active_units, measured_model
from vaearr.train.callbacks import Callback, default_callbacks
from vaearr.train.checks import (
    check_options,
)
from vaearr.train.config import TrainConfig, TrainingError
from vaearr.train.window import (
    load_window,
)
from vaearr.train.loaders import (
    build_loaders,
    describe_split,
    describe_subset,
)
from vaearr.train.step import (
    LatentStats,
    allreduce_mean,
    allreduce_sum,
    autocast_for,
    evaluate,
    to_device,
    train_step,
    unwrap,
)
# moved to vaearr.train.prepare; importable from here too
from vaearr.train.prepare import (  # noqa: F401
    model_config, open_or_create_run, threads_note, describe_window, check_and_save_window,
)


@dataclass
class FitResult:
    """What :func:`fit` did: the run folder, its history, the best epoch and the trained model.

    ``best_val_loss`` is the training loss of the best epoch when the run has no validation
    (``val_fraction`` 0); ``notes`` are the lines :func:`fit` reported (the split, a clamped batch size).
    """

    run: Path
    history: list[dict]
    best_epoch: int | None
    best_val_loss: float | None
    model: Any = None
    notes: list[str] = dataclasses.field(default_factory=list)
    #: active latent dims of the best checkpoint on the samples encode encodes (rank 0; None for spatial latents)
    active_units: ActiveUnits | None = None


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (weights, dropout, sampling)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def pinned_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` threads in torch's intra-op pool and in the BLAS and OpenMP pools numpy, scipy
    and scikit-learn load (None: as the process has them), each restored after; yields torch's count.

    The count is part of what a training's numbers are: a reduction split over more threads adds in another order
    (a convolution's weight gradient, a loss's sum, OpenBLAS's matrix products in the neighbour similarity's fit),
    and the roundings, a few ulp at the first step, grow through training into another model. Pinned, it no longer
    depends on what the process was started with or imported first (``OMP_NUM_THREADS`` acts only before torch
    and numpy load).
    """
    if threads is None:
        yield torch.get_num_threads()
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield threads
    finally:
        torch.set_num_threads(before)


class Trainer:
    """Trains ``model`` on a run's loaders, calling ``callbacks`` around the loop.

    Parameters
    ----------
    run
        Where everything is written (through the callbacks).
    cfg
        The training options.
    model
        The model, on ``device`` (wrapped in DistributedDataParallel under torchrun).
    device, rank, world_size
        Where it trains, and which rank of how many this process is.
    """

    def __init__(self, run: Run, cfg: TrainConfig, model: torch.nn.Module, *, device: torch.device, rank: int = 0,
                 world_size: int = 1, callbacks: Sequence[Callback] = ()):
        self.run, self.cfg, self.model, self.device = run, cfg, model, device
        self.rank, self.world_size = rank, world_size
        self.net: VAEBase = unwrap(model)
        self.params = list(self.net.generator_parameters())
        self.optimizer = self.make_optimizer(self.params)
        self.scheduler: Any = None
        self.autocast, self.scaler = autocast_for(device, cfg.amp)
        self.callbacks = list(callbacks)
        self.history: list[dict] = []
        self.start_epoch, self.step = 0, 0
        self.best_val_loss, self.best_epoch = math.inf, None
        self.steps_per_epoch = 0
        self.checkpointed = False
        #: the model validated and saved when it is not the trained one (the weight average of --ema)
        self.eval_model: torch.nn.Module | None = None
        #: set by a callback (early stopping) to end the fit after the current epoch
        self.stop = False
        #: lines callbacks add to the fit's notes; their states from the checkpoint a resume started from
        self.notes: list[str] = []
        self.callback_state: dict[str, Any] = {}

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def make_optimizer(self, params: Any) -> torch.optim.Optimizer:
        cls = torch.optim.AdamW if self.cfg.optimizer == "adamw" else torch.optim.Adam
        return cls(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimisation steps the fit will take: ``epochs`` × ``steps_per_epoch``, or ``max_steps``
        when that comes first."""
        total = self.cfg.epochs * steps_per_epoch
        return min(total, self.cfg.max_steps) if self.cfg.max_steps else total

    def make_scheduler(self, steps_per_epoch: int) -> Any:
        """``cosine``: one cosine over the training (over ``max_steps`` when that ends it first);
        ``cosine-restarts``: torch's warm restarts, the first cycle ``cosine_t0`` epochs long, each
        next one ``cosine_t_mult`` times longer; ``none``."""
        cfg = self.cfg
        self.steps_per_epoch = steps_per_epoch
        unit = steps_per_epoch if cfg.schedule_per == "step" else 1
        if cfg.lr_schedule == "cosine-restarts":
            return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                self.optimizer, T_0=max(cfg.cosine_t0 * unit, 1), T_mult=cfg.cosine_t_mult)
        span = self.total_steps(steps_per_epoch)
        if cfg.schedule_per != "step":
            span = math.ceil(span / max(steps_per_epoch, 1))
        return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(span, 1)) \
            if cfg.lr_schedule == "cosine" else None

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume restores (tensors and plain values: saved without pickle)."""
        return {"step": self.step, "history": self.history, "best_val_loss": self.best_val_loss,
                "best_epoch": self.best_epoch, "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None, "rng": rng_state(),
                "callbacks": {cb.state_key: cb.state_dict(self) for cb in self.callbacks
                              if getattr(cb, "state_key", None)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.start_epoch, self.step = state["epoch"], state["step"]
        self.history = list(state["history"])
        self.best_val_loss, self.best_epoch = state["best_val_loss"], state["best_epoch"]
        self.callback_state = dict(state.get("callbacks") or {})

    # -- the loop ------------------------------------------------------------------------------

    def kl_weight(self, epoch: int, i: int) -> float:
        """The KL multiplier at batch ``i`` of epoch ``epoch`` (0-based): a linear warm-up to 1 over
        ``kl_warmup_epochs``, or with ``kl_cycles`` cyclical annealing (Fu et al., 2019): the
        training cut into that many cycles, each ramping the weight from 0 to 1 over its first half."""
        t = epoch + i / max(self.steps_per_epoch, 1)  # epochs done
        if self.cfg.kl_cycles > 0:
            period = self.total_steps(self.steps_per_epoch) / max(self.steps_per_epoch, 1) / self.cfg.kl_cycles
            return float(min(1.0, (t % period) / (0.5 * period)))
        if self.cfg.kl_warmup_epochs <= 0:
            return 1.0
        return float(min(1.0, t / self.cfg.kl_warmup_epochs))

    def training_step(self, x: torch.Tensor, epoch: int, i: int) -> tuple[Any, float]:
        """One optimisation step on batch ``x`` (batch ``i`` of epoch ``epoch``, 0-based)."""
        return train_step(self.model, x, self.optimizer, self.params, autocast=self.autocast, scaler=self.scaler,
                          grad_clip=self.cfg.grad_clip, kl_weight=self.kl_weight(epoch, i),
                          loss_options=self.loss_options(epoch),
                          where=f"epoch {epoch + 1}, step {self.step + 1} (batch {i + 1})")

    def loss_options(self, epoch: int) -> dict[str, Any]:
        return {}

    def train_epoch(self, epoch: int, loader: Any, on_device: Any) -> dict[str, Any]:
        """One epoch of steps; returns the history row's training part."""
        loader.set_epoch(epoch)
        self.model.train()
        self.extra_sums: dict[str, float] = {}
        loss_sum, dev_sums, n_seen = 0.0, {}, 0
        stats = LatentStats()
        t0, c0 = time.perf_counter(), time.process_time()
        for i, x in enumerate(loader):
            if self.cfg.max_steps and self.step >= self.cfg.max_steps:
                break  # --max-steps ends the fit inside this epoch
            x = to_device(x, self.device, on_device)
            if self.device.type == "cpu":
                x = channels_last_batch(x)
            losses, loss = self.training_step(x, epoch, i)
            if self.scheduler is not None and self.cfg.schedule_per == "step":
                self.scheduler.step()
            self.step += 1
            b = x.shape[0]
            n_seen += b
            loss_sum += loss * b
            # the other terms stay on the device until the epoch ends: a float() per term and
            # step would wait for the GPU each time (the loss above is the one wait)
            for k in ("recon_loss", "kl"):
                dev_sums[k] = dev_sums.get(k, 0.0) + getattr(losses, k).detach().double() * b
            stats.add(losses.mu, losses.logvar)
            for cb in self.callbacks:
                cb.on_batch_end(self, x, loss)
        if self.scheduler is not None and self.cfg.schedule_per == "epoch":
            self.scheduler.step()
        sums = {"loss": loss_sum, **{k: float(v) for k, v in dev_sums.items()}, **self.extra_sums}
        row = {"epoch": epoch + 1, "step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
               "seconds": round(time.perf_counter() - t0, 3),
               # this process's CPU time (all its threads) for the epoch's steps
               "cpu_seconds": round(time.process_time() - c0, 3),
               "samples": int(allreduce_sum(float(n_seen), self.distributed)),
               # torch's intra-op threads: with the seed and data, what the epoch's roundings depend on
               "threads": torch.get_num_threads()}
        row.update({f"train_{k}": allreduce_mean(v, n_seen, self.distributed) for k, v in sums.items()})
        row.update(stats.result(self.distributed, "train_"))
        return row

    def fit(self, train_loader: Any, val_loader: Any, on_device: Any = None) -> FitResult:
        """Train from :attr:`start_epoch` to ``cfg.epochs``; returns the :class:`FitResult`."""
        self.steps_per_epoch = len(train_loader)
        for cb in self.callbacks:
            cb.on_fit_start(self)
        for epoch in range(self.start_epoch, self.cfg.epochs):
            self.checkpointed = False
            for cb in self.callbacks:
                cb.on_epoch_start(self, epoch + 1)
            row = self.train_epoch(epoch, train_loader, on_device)
            row.update(evaluate(self.eval_model or self.model, val_loader, self.device, self.autocast, prefix="val_",
                                distributed=self.distributed, on_device=on_device))
            self.history.append(row)
            if self.cfg.max_steps and self.step >= self.cfg.max_steps and epoch + 1 < self.cfg.epochs:
                self.stop = True  # before the callbacks: the checkpointer saves this last epoch
                row["max_steps_reached"] = True
            if row.get("val_loss", row["train_loss"]) < self.best_val_loss:
                self.best_val_loss, self.best_epoch = row.get("val_loss", row["train_loss"]), epoch + 1
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch + 1, row)
            if self.stop:
                break
        for cb in self.callbacks:
            cb.on_fit_end(self)
        if self.distributed:
            torch.distributed.barrier()
        best = self.best_val_loss if self.best_epoch else None
        return FitResult(self.run.path, self.history, self.best_epoch, best, self.eval_model or self.net)


class AdversarialTrainer(Trainer):
    """A :class:`Trainer` that also steps the model's discriminator once its adversarial stage is on."""

    def __init__(self, run: Run, cfg: TrainConfig, model: torch.nn.Module, **kw: Any):
        super().__init__(run, cfg, model, **kw)
        self.optimizer_d = self.make_optimizer(self.net.discriminator.parameters())

    def loss_options(self, epoch: int) -> dict[str, Any]:
        # the ramp's multiplier (1 without one): a function of the epoch alone, so a resume repeats it
        return {"adversarial": self.net.adversarial_scale(epoch)} if self.net.adversarial_active(epoch) else {}

    def training_step(self, x: torch.Tensor, epoch: int, i: int) -> tuple[Any, float]:
        losses, loss = super().training_step(x, epoch, i)
        if self.net.adversarial_active(epoch):
            self.optimizer_d.zero_grad(set_to_none=True)
            with self.autocast:
                d_loss = self.net.discriminator_loss(x, losses)
            d_loss.backward()
            self.optimizer_d.step()
            self.extra_sums["discriminator"] = self.extra_sums.get("discriminator", 0.0) + float(d_loss.detach()) * x.shape[0]
        return losses, loss

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "optimizer_d": self.optimizer_d.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("optimizer_d"):
            self.optimizer_d.load_state_dict(state["optimizer_d"])


def trainer_class(model: torch.nn.Module) -> type[Trainer]:
    """:class:`AdversarialTrainer` for a model with a discriminator, else :class:`Trainer`."""
    net = unwrap(model)
    return AdversarialTrainer if isinstance(net, Adversarial) and net.discriminator is not None else Trainer


def fit(cfg: TrainConfig, *, resume: bool = False, progress: bool = True,
        callbacks: Sequence[Callback] | None = None, report: Callable[[str], Any] | None = None) -> FitResult:
    """Train ``cfg.model`` on ``cfg.var`` of ``cfg.store``; write everything under ``cfg.run``.

    Before the first epoch it reports, through ``report`` (rank 0; e.g. ``print``) and in
    :attr:`FitResult.notes`, how validation is held out and a batch size clamped to the
    training samples. Under ``torchrun`` (``WORLD_SIZE`` > 1) it trains with
    DistributedDataParallel: gloo on CPU, nccl on CUDA; each rank reads its own shard of every
    epoch; rank 0 writes files.
    ``callbacks`` replace the default ones (:func:`~vaearr.train.callbacks.default_callbacks`).
    The whole of it runs with ``cfg.threads`` threads (:func:`pinned_threads`): the same seed, data
    and thread count give the same weights, bit for bit, on one machine.
    """
    check_options(cfg)
    with pinned_threads(cfg.threads):
        return _fit(cfg, resume=resume, progress=progress, callbacks=callbacks, report=report)


def _fit(cfg: TrainConfig, *, resume: bool, progress: bool, callbacks: Sequence[Callback] | None,
         report: Callable[[str], Any] | None) -> FitResult:
    rank, world_size, device = distributed_setup(cfg.device)
    requested_batch = cfg.batch_size
    if rank == 0:  # first: it writes the run folder and any variable the preprocessing derives in the store
        run, cfg, ckpt = open_or_create_run(cfg, resume=resume, write=True, report=report)
    if world_size > 1:
        torch.distributed.barrier()
    if rank != 0:
        run, cfg, ckpt = open_or_create_run(cfg, resume=resume, write=False, report=lambda _: None)
    seed_everything(cfg.seed)
    train_loader, val_loader, on_device = build_loaders(run, cfg, rank, world_size)
    notes = [n for n in (describe_split(train_loader, val_loader), describe_subset(train_loader)) if n]
    if not resume and cfg.batch_size < requested_batch:
        notes.append(f"batch size: {requested_batch} is more than the {train_loader.n_samples} training samples; "
                     f"clamped to {cfg.batch_size}")
    if report is not None and rank == 0:
        for line in notes:
            report(line)
    model = load_model(ckpt) if ckpt is not None else build_model(config_from_dict(run.model_config))
    model.to(device)
    if device.type == "cpu":
        channels_last(model)  # the CPU's convolutions run fastest on it; the GPU keeps the layout bench_gpu measured
    if world_size > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    trainer = trainer_class(model)(run, cfg, model, device=device, rank=rank, world_size=world_size)
    trainer.scheduler = trainer.make_scheduler(len(train_loader))
    if ckpt is not None:
        trainer.load_state_dict(run.last_state()[1])
        note = threads_note(trainer.history)
        if note:
            notes.append(note)
            if report is not None and rank == 0:
                report(note)
    trainer.callbacks = list(callbacks) if callbacks is not None else \
        default_callbacks(trainer, progress=progress, report=report)
    window = load_window(run.path) if rank == 0 else None
    for line in describe_window(window):
        if report is not None:
            report(line)
    result = trainer.fit(train_loader, val_loader, on_device)
    result.notes = notes + trainer.notes
    if window is not None and not window.whole:
        result.notes.append(check_and_save_window(run, window, device=device, seed=cfg.seed))
        if report is not None:
            report(result.notes[-1])
    if rank == 0:
        # once, on the samples encode reads (the validation split may hold one sample: no variance to measure)
        model, which = measured_model(run, result.model, device)
        result.active_units = measure_active_units(run, model, device=device, seed=cfg.seed, checkpoint=which)
        warning = collapse_warning(run, result.active_units)
        if warning is not None:
            warnings.warn(warning, VaearrWarning, stacklevel=2)
    return result


def train_store(store: str | os.PathLike, run: str | os.PathLike, *, resume: bool = False, quiet: bool = False,
                **fields: Any) -> Path:
    """What ``vaearr.train(store, run, **fields)`` runs (:func:`vaearr.api.train`): :func:`fit` of the
    :class:`TrainConfig` of ``store``, ``run`` and its other fields given as keywords (``epochs=3``, ``latent_dim=4``,
    ``model_options={...}``; an unknown one is one error line naming the options); prints what ``vaearr train``
    reports (``quiet``: nothing, no progress bars) and returns the run folder."""
    cfg = from_fields(TrainConfig, {"store": os.fspath(store), "run": str(run), **fields}, "vaearr.train")
    result = fit(cfg, resume=resume, progress=not quiet, report=None if quiet else print)
    if not quiet:
        which = "val_loss" if result.history and "val_loss" in result.history[-1] else "train_loss"
        best = "" if result.best_val_loss is None else f"; best epoch {result.best_epoch} ({which} {result.best_val_loss:.5g})"
        print(f"trained {cfg.model} for {len(result.history)} epochs → {result.run}{best}")
    return Path(result.run)


def distributed_setup(device: str) -> tuple[int, int, torch.device]:
    """This process's rank, the world size and its device; joins the process group under torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world_size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"`device` {device}: CUDA is not available on this machine")
        if world_size > 1:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return rank, world_size, dev
