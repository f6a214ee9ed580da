"""One optimisation step, one evaluation pass, and the device plumbing both need (autocast, DDP sums)."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch

from vaearr.models.latent_stats import LatentStats
from vaearr.train.config import TrainingError


def autocast_for(device: torch.device, amp: str) -> tuple[Any, Any]:
    """The autocast context and gradient scaler of ``amp`` (``auto``/``bf16``/``fp16``/``none``) on ``device``.

    ``auto`` is bf16 on CUDA and none on a CPU (where bf16 pays only with bf16 instructions:
    on an AMD EPYC with AVX512-BF16 a conv-vae step took 43 % fewer CPU-seconds, BENCHMARKS.md
    "Quality per CPU-second"); ``bf16`` autocasts on a CPU too. fp16 needs a gradient scaler on
    CUDA (the options refuse it on a CPU: :func:`~vaearr.train.config.check_schedule_options`).
    """
    if amp == "none" or device.type not in ("cuda", "cpu") or (device.type == "cpu" and amp == "auto"):
        return contextlib.nullcontext(), None
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 and device.type == "cuda" else None
    return torch.autocast(device.type, dtype=dtype), scaler


def train_step(model, x, optimizer, params, *, autocast=None, scaler=None, grad_clip: float | None = None,
               kl_weight: float = 1.0, loss_options: dict | None = None, where: str = "") -> tuple[Any, float]:
    """One optimisation step of ``model`` on batch ``x`` (already on the model's device).

    Forward (under ``autocast``) computes the losses; a loss that is not finite stops with a
    :class:`TrainingError` naming ``where``; then backward (through ``scaler`` for fp16), gradient
    clipping to ``grad_clip`` and the optimizer step. Returns the model's losses and the loss
    as a float: reading it is the step's one wait for the device. ``vaearr train`` runs every
    step through here, and ``benchmarks/bench_gpu.py`` times it.
    """
    with autocast or contextlib.nullcontext():
        losses = model(x, kl_weight=kl_weight, **(loss_options or {}))  # forward computes the loss (inside DDP's forward)
    loss = losses.loss
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingError(f"loss became {value} at {where or 'this step'}; lower `lr` or check the inputs for NaN")
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return losses, value


def to_device(x: torch.Tensor, device: torch.device, on_device=None) -> torch.Tensor:
    """A batch onto the device, then the transform left for it (the run's preprocessing), as float."""
    x = x.to(device, non_blocking=True)
    if on_device is not None:
        x = on_device(x)
    return x if x.is_floating_point() else x.float()


def allreduce_sum(value: float, distributed: bool) -> float:
    """``value`` summed over the ranks of a DDP run (itself otherwise)."""
    if not distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t[0])


def allreduce_mean(total: float, n: int, distributed: bool) -> float:
    """``total / n`` with both summed over the ranks of a DDP run."""
    if not distributed:
        return total / max(n, 1)
    t = torch.tensor([total, float(n)], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t[0] / max(t[1], 1))


def unwrap(model):
    """The model inside a DistributedDataParallel wrapper (or the model)."""
    return getattr(model, "module", model)


def evaluate(model, loader, device, autocast=None, *, prefix: str = "", distributed: bool = False,
             on_device=None) -> dict[str, float]:
    """Mean loss, reconstruction loss and KL per sample over a loader (no gradients), with the KL per
    latent dim and the active units (:class:`LatentStats`); ``on_device`` is the transform the
    loaders left for the device."""
    if loader is None or len(loader) == 0:
        return {}
    net = unwrap(model)
    net.eval()
    sums = {"loss": 0.0, "recon_loss": 0.0, "kl": 0.0}
    n = 0
    stats = LatentStats()
    with torch.no_grad(), (autocast or contextlib.nullcontext()):
        for x in loader:
            x = to_device(x, device, on_device)
            losses = net(x, kl_weight=1.0)
            for k in sums:
                sums[k] += float(getattr(losses, k).detach()) * x.shape[0]
            stats.add(losses.mu, losses.logvar)
            n += x.shape[0]
    return {**{f"{prefix}{k}": allreduce_mean(v, n, distributed) for k, v in sums.items()},
            **stats.result(distributed, prefix)}
