"""fit(): train a registered VAE on batches read from a store, with checkpoints that resume exactly."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vaearr.errors import VaearrError

#: Feature dims of the variables the store schema defines; the rest are sample dims.
FEATURE_DIMS = {
    "patterns": ("py", "px"),
    "images": ("row", "col", "channel"),
    "volumes": ("z", "y", "x"),
}


class TrainingError(VaearrError):
    """Training cannot go on (non-finite loss, bad settings, missing checkpoint)."""


@dataclass
class TrainConfig:
    """Everything ``vaearr train`` needs; saved as ``config.json`` in the run folder.

    ``model_options`` go to the model's config dataclass (``channels``, ``beta``, ``preset``...).
    """

    store: str
    run: str
    var: str = "patterns"
    mask: str | None = "auto"  # "auto": "roi" when the store has it
    sample_dims: tuple[str, ...] | None = None
    feature_dims: tuple[str, ...] | None = None
    model: str = "conv-vae"
    latent_dim: int = 16
    model_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"  # adam | adamw
    schedule: str = "cosine"  # cosine | none
    schedule_per: str = "step"  # step | epoch
    kl_warmup_epochs: float = 0.0
    grad_clip: float | None = 1.0
    amp: str = "auto"  # auto (bf16 on CUDA) | bf16 | fp16 | none
    device: str = "cpu"
    seed: int = 0
    val_fraction: float = 0.1
    checkpoint_every: int = 1
    num_workers: int | None = None  # None: 0 on CPU (threads), min(4, cores / 2) on CUDA
    scale: str = "[0,1]"  # [0,1] | [-1,1]
    standardize: bool = False
    crop: int | None = None
    resize: int | None = None
    subtract_background: bool = False
    patch: tuple[int, int, int] | None = None
    augment: bool = False
    previews: int = 8
    tensorboard: bool = True
    wandb: bool = False

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, default=list)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        for k in ("sample_dims", "feature_dims", "patch"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


# ----------------------------------------------------------------------------------------------
# pieces


def infer_dims(ds, var: str, sample_dims=None, feature_dims=None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sample and feature dims of ``var``: given ones win, else the store schema's."""
    if var not in ds:
        raise TrainingError(f"no variable '{var}' in the store (it has: {', '.join(map(str, ds.data_vars))})")
    dims = tuple(map(str, ds[var].dims))
    if feature_dims is None and sample_dims is None:
        feats = FEATURE_DIMS.get(var)
        if feats is None:
            raise TrainingError(f"'{var}' is not a schema variable: give --sample-dims / --feature-dims")
        feature_dims = tuple(d for d in feats if d in dims)
    if feature_dims is None:
        feature_dims = tuple(d for d in dims if d not in sample_dims)
    if sample_dims is None:
        sample_dims = tuple(d for d in dims if d not in feature_dims)
    return tuple(sample_dims), tuple(feature_dims)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _autocast(device, amp: str):
    import contextlib

    import torch

    if device.type != "cuda" or amp == "none":
        return contextlib.nullcontext(), None
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def train_step(model, x, optimizer, params, *, autocast=None, scaler=None, grad_clip: float | None = None,
               kl_weight: float = 1.0, loss_options: dict | None = None, where: str = "") -> tuple[Any, float]:
    """One optimisation step of ``model`` on batch ``x`` (already on the model's device).

    Forward (under ``autocast``) computes the losses; a loss that is not finite stops with a
    :class:`TrainingError` naming ``where``; then backward (through ``scaler`` for fp16), gradient
    clipping to ``grad_clip`` and the optimizer step. Returns the model's losses and the loss
    as a float: reading it is the step's one wait for the device. ``vaearr train`` runs every
    step through here, and ``benchmarks/bench_gpu.py`` times it.
    """
    import contextlib

    import torch

    with autocast or contextlib.nullcontext():
        losses = model(x, kl_weight=kl_weight, **(loss_options or {}))  # forward computes the loss (inside DDP's forward)
    loss = losses.loss
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingError(f"loss became {value} at {where or 'this step'}; lower --lr or check the inputs for NaN")
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


def _kl_weight(cfg: TrainConfig, epoch: int, step_in_epoch: int, steps_per_epoch: int) -> float:
    if cfg.kl_warmup_epochs <= 0:
        return 1.0
    progress = epoch + step_in_epoch / max(steps_per_epoch, 1)
    return float(min(1.0, progress / cfg.kl_warmup_epochs))


def _write_history(run: Path, history: list[dict]) -> None:
    (run / "history.json").write_text(json.dumps(history, indent=1))
    if history:
        keys = list(dict.fromkeys(k for row in history for k in row))
        with open(run / "history.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(history)
    _plot_curves(run, history)


def _plot_curves(run: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, key in zip(axes, ("loss", "recon_loss", "kl")):
        for split, style in (("train", "-"), ("val", "--")):
            vals = [h.get(f"{split}_{key}") for h in history]
            if any(v is not None for v in vals):
                ax.plot(epochs, vals, style, marker="o", ms=3, label=split)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(run / "curves.png", dpi=100)
    plt.close(fig)


def _save_preview(path: Path, x, recon) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = x.detach().float().cpu().numpy()
    r = recon.detach().float().cpu().numpy()
    n = x.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.4), squeeze=False)
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
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# checkpoints


def _ckpt_dir(run: Path, epoch: int) -> Path:
    return run / "checkpoints" / f"epoch_{epoch:04d}"


def save_checkpoint(run: Path, epoch: int, model, optimizer, scheduler, state: dict) -> Path:
    """Weights as safetensors + optimizer/scheduler/RNG state; written to a temp dir, then renamed."""
    import shutil

    import torch

    from vaearr.models import save_model

    final = _ckpt_dir(run, epoch)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(_unwrap(model), tmp)
    torch.save(
        {
            "epoch": epoch,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": _rng_state(),
            **state,
        },
        tmp / "state.pt",
    )
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    (run / "checkpoints" / "latest").write_text(final.name)
    return final


def latest_checkpoint(run: Path) -> Path | None:
    marker = run / "checkpoints" / "latest"
    if not marker.exists():
        return None
    path = run / "checkpoints" / marker.read_text().strip()
    return path if (path / "state.pt").exists() else None


def _unwrap(model):
    return getattr(model, "module", model)


# ----------------------------------------------------------------------------------------------
# fit


@dataclass
class FitResult:
    run: Path
    history: list[dict]
    best_epoch: int | None
    best_val_loss: float | None
    model: Any = None


def _build_loaders(cfg: TrainConfig, rank: int, world_size: int, defer: bool = True):
    """Training and validation loaders as ``vaearr train`` builds them, and the transform left for the step.

    When every transform is one that runs as well in the training step, on the batch already on
    the device (scaling, standardisation, centre crop), the loaders hand out batches in the stored
    dtype (uint8 patterns: a quarter of float32's bytes to write, hold and copy) and the returned
    ``on_device`` transform converts each batch there, after the copy: on a GPU, on the GPU; on
    the CPU, in the training thread, on a batch that is still in cache, instead of the loader
    writing a float32 copy of every sample to memory. Otherwise (random or resampling
    transforms, or ``defer=False``) the loaders transform the batches themselves and
    ``on_device`` is None.
    """
    from vaearr import batches as B
    from vaearr import transforms as T
    from vaearr.batches.read import cpus
    from vaearr.preprocess import default_transforms
    from vaearr.store import masks, open_store

    ds = open_store(cfg.store)
    mask = cfg.mask
    if mask == "auto":
        mask = "roi" if "roi" in masks(ds) else None
    sample_dims, feature_dims = infer_dims(ds, cfg.var, cfg.sample_dims, cfg.feature_dims)
    transforms = default_transforms(
        ds, cfg.var, sample_dims=sample_dims, mask=mask, scale=cfg.scale, standardize=cfg.standardize,
        crop=cfg.crop, resize=cfg.resize, subtract_background=cfg.subtract_background, patch=cfg.patch,
        augment=cfg.augment, seed=cfg.seed, store=cfg.store,
    )
    cuda = cfg.device.startswith("cuda")
    on_device = None
    extra: dict[str, Any] = {}
    if defer and transforms and all(isinstance(t, (T.Scale, T.Standardize, T.CenterCrop)) for t in transforms):
        on_device = T.Compose(transforms).prepare(np.dtype(ds[cfg.var].dtype))
        transforms, extra = [], {"dtype": None}
    num_workers = cfg.num_workers
    if num_workers is None:
        # on CUDA a step is mostly Python launching kernels: decoding in threads of the same
        # process slowed a conv-vae step by ~7 % on an H100, in worker processes by ~0-3 %
        num_workers = min(4, cpus() // 2) if cuda else 0
    common = dict(
        sample_dims=sample_dims, feature_dims=feature_dims, mask=mask, batch_size=cfg.batch_size,
        val_fraction=cfg.val_fraction, seed=cfg.seed, num_workers=num_workers, rank=rank,
        world_size=world_size, **extra,
        # batches are not pinned: on an H100, pinning each batch in the loader's thread slowed a
        # conv-vae step (0.92 of in-memory feeding against 1.00 unpinned, median of 3 rounds;
        # benchmarks/bench_gpu.py --feed pinned); the uint8 batches are small to copy anyway
    )
    train, val = B.make_loaders(cfg.store, cfg.var, transforms=transforms, **common)
    return train, val, mask, sample_dims, feature_dims, on_device


def _to_device(x, device, on_device):
    """A batch onto the device, then the device-side transform, as float."""
    x = x.to(device, non_blocking=True)
    if on_device is not None:
        x = on_device(x)
        if not x.is_floating_point():
            x = x.float()
    return x


def _input_shape(loader, on_device) -> tuple[int, ...]:
    """The model's input shape: a loader's sample shape, after the device-side transform if any."""
    import torch

    shape = tuple(int(s) for s in loader.sample_shape)
    if on_device is None:
        return shape
    dtype = getattr(torch, str(np.dtype(loader.source.dtype)), torch.float32)
    return tuple(int(s) for s in on_device(torch.zeros((1, *shape), dtype=dtype)).shape[1:])


def _model_dict(cfg: TrainConfig, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The model config as a dict: the family's own fields filled from the train options."""
    from vaearr.models import REGISTRY

    if cfg.model not in REGISTRY:
        raise TrainingError(f"unknown model '{cfg.model}'; known: {', '.join(sorted(REGISTRY))}")
    config_cls = REGISTRY[cfg.model][0]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    d: dict[str, Any] = {"name": cfg.model, "input_shape": input_shape}
    if "latent_dim" in fields:
        d["latent_dim"] = cfg.latent_dim
    if "data_range" in fields and not cfg.standardize:
        d["data_range"] = cfg.scale
    unknown = set(cfg.model_options) - fields
    if unknown:
        raise TrainingError(f"model '{cfg.model}' has no option(s) {', '.join(sorted(unknown))}; it has: {', '.join(sorted(fields))}")
    d.update(cfg.model_options)
    return d


def model_options_from_file(path: str | os.PathLike, model: str) -> dict[str, Any]:
    """Model options from a JSON config, or (autoencoder-kl) a Stable Diffusion / ldm YAML."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        if model != "autoencoder-kl":
            raise TrainingError(f"{path}: a YAML config is read for autoencoder-kl only (model is {model})")
        from vaearr.models.autoencoder_kl import AutoencoderKLConfig

        cfg = AutoencoderKLConfig.from_ldm_yaml(path)
        d = json.loads(cfg.to_json())
        d.pop("name", None)
        d.pop("input_shape", None)
        return d
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path}: not a readable JSON config ({exc})") from None
    d.pop("name", None)
    d.pop("input_shape", None)
    return d


def fit(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> FitResult:
    """Train ``cfg.model`` on ``cfg.var`` of ``cfg.store``; write everything under ``cfg.run``.

    The run folder gets ``config.json`` (train + model config), ``checkpoints/epoch_NNNN/``
    (``model.safetensors``, ``config.json``, ``state.pt`` with optimizer, scheduler and RNG
    state), ``best/`` (lowest validation loss), ``history.json``/``history.csv``,
    ``curves.png``, ``previews/epoch_NNNN.png`` and TensorBoard logs in ``tb/``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) it trains with DistributedDataParallel: gloo on
    CPU, nccl on CUDA; each rank reads its own shard of every epoch; rank 0 writes files.
    """
    import torch

    from vaearr import models as M
    from vaearr.progress import bar

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world_size > 1
    if distributed and not torch.distributed.is_initialized():
        backend = "nccl" if cfg.device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend)
    device = torch.device(cfg.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"--device {cfg.device}: CUDA is not available on this machine")
        if distributed:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    is_main = rank == 0
    run = Path(cfg.run)
    ckpt = latest_checkpoint(run) if resume else None
    if resume and ckpt is None:
        raise TrainingError(f"{run}: no checkpoint to resume from")
    if ckpt is not None:
        saved = TrainConfig.from_dict(json.loads((run / "config.json").read_text())["train"])
        cfg = dataclasses.replace(saved, epochs=cfg.epochs, device=cfg.device, num_workers=cfg.num_workers)

    seed_everything(cfg.seed)
    train_loader, val_loader, mask, sample_dims, feature_dims, on_device = _build_loaders(cfg, rank, world_size)
    input_shape = _input_shape(train_loader, on_device)
    if ckpt is not None:
        model = M.load_model(ckpt)
    else:
        model_cfg = M.config_from_dict(_model_dict(cfg, input_shape))
        model = M.build_model(model_cfg)
    model.to(device)
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    net = _unwrap(model)
    params = list(net.generator_parameters())
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # vae3d with adversarial_weight > 0: a patch discriminator with its own optimiser, switched
    # on after the reconstruction warm-up (model.adversarial_active(epoch))
    disc = getattr(net, "discriminator", None)
    opt_d = opt_cls(disc.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) if disc is not None else None
    steps_per_epoch = len(train_loader)
    total = cfg.epochs * steps_per_epoch if cfg.schedule_per == "step" else cfg.epochs
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total, 1))
        if cfg.schedule == "cosine" else None
    )
    history: list[dict] = []
    start_epoch, step = 0, 0
    best = (math.inf, None)
    if ckpt is not None:
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        if opt_d is not None and state.get("optimizer_d"):
            opt_d.load_state_dict(state["optimizer_d"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        history = state["history"]
        best = (state["best_val_loss"], state["best_epoch"])
    if is_main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "previews").mkdir(exist_ok=True)
        (run / "config.json").write_text(json.dumps(
            {"train": json.loads(cfg.to_json()), "model": json.loads(_unwrap(model).config.to_json()),
             "mask": mask, "sample_dims": sample_dims, "feature_dims": feature_dims}, indent=2))
    writer = _tensorboard(run) if (is_main and cfg.tensorboard) else None
    wb = _wandb(cfg, run) if (is_main and cfg.wandb) else None
    autocast, scaler = _autocast(device, "bf16" if cfg.amp == "auto" else cfg.amp)
    preview_x = None

    for epoch in range(start_epoch, cfg.epochs):
        train_loader.set_epoch(epoch)
        model.train()
        adversarial = bool(disc is not None and net.adversarial_active(epoch))
        loss_options = {"adversarial": True} if adversarial else {}
        sums = {"loss": 0.0, "recon_loss": 0.0, "kl": 0.0}
        dev_sums: dict[str, Any] = {}
        n_seen = 0
        t0 = time.perf_counter()
        pbar = bar(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch") if (progress and is_main) else None
        for i, x in enumerate(train_loader):
            x = _to_device(x, device, on_device)
            losses, loss_value = train_step(
                model, x, optimizer, params, autocast=autocast, scaler=scaler, grad_clip=cfg.grad_clip,
                kl_weight=_kl_weight(cfg, epoch, i, steps_per_epoch), loss_options=loss_options,
                where=f"epoch {epoch + 1}, step {step + 1} (batch {i + 1})",
            )
            if adversarial:
                opt_d.zero_grad(set_to_none=True)
                with autocast:
                    d_loss = net.discriminator_loss(x, losses)
                d_loss.backward()
                opt_d.step()
                sums["discriminator"] = sums.get("discriminator", 0.0) + float(d_loss.detach()) * x.shape[0]
            if scheduler is not None and cfg.schedule_per == "step":
                scheduler.step()
            step += 1
            b = x.shape[0]
            n_seen += b
            sums["loss"] += loss_value * b
            # the other terms stay on the device until the epoch ends: a float() per term and
            # step would wait for the GPU each time (the loss value above is the one wait)
            for k in ("recon_loss", "kl"):
                dev_sums[k] = dev_sums.get(k, 0.0) + getattr(losses, k).detach().double() * b
            if preview_x is None and cfg.previews > 0:
                # a copy: a view would keep the loader's whole group buffer from being reused
                preview_x = x[: cfg.previews].detach().to("cpu", torch.float32, copy=True)
            if writer is not None:
                writer.add_scalar("train/loss_step", loss_value, step)
            if pbar is not None:
                pbar.update(1)
                pbar.set_postfix(loss=f"{loss_value:.4g}")
        if pbar is not None:
            pbar.close()
        for k, v in dev_sums.items():
            sums[k] += float(v)
        if scheduler is not None and cfg.schedule_per == "epoch":
            scheduler.step()
        row = {"epoch": epoch + 1, "step": step, "lr": optimizer.param_groups[0]["lr"],
               "seconds": round(time.perf_counter() - t0, 3),
               "samples": int(_allreduce_sum(float(n_seen), distributed))}
        row.update({f"train_{k}": _allreduce_mean(v, n_seen, distributed) for k, v in sums.items()})
        row.update(evaluate(model, val_loader, device, autocast, prefix="val_", distributed=distributed,
                            on_device=on_device))
        history.append(row)
        val_loss = row.get("val_loss", row["train_loss"])
        if is_main:
            if writer is not None:
                for k, v in row.items():
                    if k.startswith(("train_", "val_")):
                        writer.add_scalar(k.replace("_", "/", 1), v, epoch + 1)
            if wb is not None:
                wb.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=step)
            if val_loss < best[0]:
                best = (val_loss, epoch + 1)
                from vaearr.models import save_model

                save_model(_unwrap(model), run / "best")
            if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs:
                save_checkpoint(run, epoch, model, optimizer, scheduler,
                                {"step": step, "history": history, "best_val_loss": best[0], "best_epoch": best[1],
                                 "optimizer_d": opt_d.state_dict() if opt_d is not None else None})
                if preview_x is not None:
                    _unwrap(model).eval()
                    with torch.no_grad():
                        rec = _unwrap(model)(preview_x.to(device)).recon
                    _save_preview(run / "previews" / f"epoch_{epoch + 1:04d}.png", preview_x, rec)
            _write_history(run, history)
    if writer is not None:
        writer.close()
    if wb is not None:
        wb.finish()
    if distributed:
        torch.distributed.barrier()
    return FitResult(run=run, history=history, best_epoch=best[1], best_val_loss=best[0] if best[1] else None,
                     model=_unwrap(model))


def _allreduce_sum(value: float, distributed: bool) -> float:
    if not distributed:
        return value
    import torch

    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t[0])


def _allreduce_mean(total: float, n: int, distributed: bool) -> float:
    if not distributed:
        return total / max(n, 1)
    import torch

    t = torch.tensor([total, float(n)], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t[0] / max(t[1], 1))


def evaluate(model, loader, device, autocast=None, *, prefix: str = "", distributed: bool = False,
             on_device=None) -> dict[str, float]:
    """Mean loss, reconstruction loss and KL per sample over a loader (no gradients); ``on_device``
    is the transform :func:`_build_loaders` leaves for the device."""
    import contextlib

    import torch

    if loader is None or len(loader) == 0:
        return {}
    net = _unwrap(model)
    net.eval()
    sums = {"loss": 0.0, "recon_loss": 0.0, "kl": 0.0}
    n = 0
    with torch.no_grad(), (autocast or contextlib.nullcontext()):
        for x in loader:
            x = _to_device(x, device, on_device)
            losses = net(x, kl_weight=1.0)
            for k in sums:
                sums[k] += float(getattr(losses, k).detach()) * x.shape[0]
            n += x.shape[0]
    return {f"{prefix}{k}": _allreduce_mean(v, n, distributed) for k, v in sums.items()}


def _tensorboard(run: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is in the 'models' extra
        return None
    return SummaryWriter(log_dir=str(run / "tb"))


def _wandb(cfg: TrainConfig, run: Path):
    try:
        import wandb
    except ImportError:
        raise TrainingError("--wandb needs the wandb package: pip install wandb") from None
    return wandb.init(project="vaearr", name=run.name, dir=str(run), config=json.loads(cfg.to_json()))
