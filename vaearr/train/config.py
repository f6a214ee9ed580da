"""The training options, declared once: :class:`TrainConfig`, from which the CLI and the flow derive theirs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from vaearr.errors import InputError, VaearrError, require
from vaearr.options import SEED_MAX, Option, opt, options, parse_shape, renamed_keywords, take_renamed


class TrainingError(VaearrError):
    """Training cannot go on (non-finite loss, bad settings, missing checkpoint)."""


def _parse_dims(text: str | None) -> tuple[str, ...] | None:
    return None if not text else tuple(d.strip() for d in text.split(",") if d.strip())


def _parse_patch(text: str | None) -> tuple[int, ...] | None:
    return parse_shape(text, 3, "`patch`", like="64x64x64")


def _parse_slices(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        idx = tuple(int(p) for p in str(text).replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise InputError(None, f"`preview_slices` must be three indices z,y,x like 32,40,20, got '{text}'") from None
    if len(idx) != 3 or min(idx) < 0:
        raise InputError(None, f"`preview_slices` must be three indices z,y,x (0 or more) like 32,40,20, got '{text}'")
    return idx


def _parse_mask(text: str) -> str | None:
    return None if text == "none" else text


def _parse_clip(value: float) -> float | None:
    return value or None


#: Values of ``amp``.
AMPS = ("auto", "bf16", "fp16", "none")
#: Values of ``lr_schedule``.
SCHEDULES = ("cosine", "cosine-restarts", "none")
#: The smallest --crop and --resize: a sample of fewer pixels a side leaves the model nothing to learn (a
#: 1×1 resize trained a collapsed model).
MIN_SIDE = 4


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``vaearr train`` needs; saved in the run's ``config.json`` under ``train``. Frozen: a new run's
    options are resolved once (:func:`vaearr.train.resolve.resolved_config`), a resumed run's read back once
    (:func:`vaearr.train.checks.resume_point`).

    ``model_options`` go to the model's config dataclass (``channels``, ``beta``, ``preset``...).
    Every field carries its command-line :class:`Option`: ``vaearr train`` and the
    ``train-vae`` flow are built from these fields, so an option is declared here only.
    """

    store: str = opt(help="Store to read batches from.", flags=())
    run: str = opt(help="Run folder: checkpoints, history, previews, logs (-r under torchrun, whose own "
                        "options take `run`).", flags=("--run", "-r"))
    var: str = opt("patterns", "Variable to train on.")
    mask: str | None = opt("auto", "Mask variable ('auto': roi if present; 'none').", cli_type=str, parse=_parse_mask)
    sample_dims: tuple[str, ...] | None = opt(None, "Comma-separated sample dims (default from the schema).",
                                              cli_type=str, parse=_parse_dims)
    feature_dims: tuple[str, ...] | None = opt(None, "Comma-separated feature dims.", cli_type=str, parse=_parse_dims)
    model: str = opt("conv-vae", "Model family: conv-vae, autoencoder-kl, vae3d.")
    latent_dim: int = opt(16, "Latent size (vector-latent families).", min=1)
    model_options: dict[str, Any] = opt({}, "Model options; on the command line -o key=value and `config` FILE.")
    epochs: int = opt(10, "Epochs to train (in all, when resuming).", min=1)
    max_steps: int | None = opt(None, "Stop after this many optimisation steps in all, or at `epochs`, whichever "
                                      "comes first; the epoch it ends in is cut short and checkpointed, and the "
                                      "cosine schedule and KL annealing span the steps trained (a resume keeps "
                                      "the recorded value).", min=1)
    batch_size: int = opt(64, "Samples per batch (at most the training samples: a larger one is clamped, and the "
                              "run records the clamped value).", min=1)
    lr: float = opt(1e-3, "Learning rate.", above=0)
    weight_decay: float = opt(0.0, "Weight decay.", min=0)
    optimizer: str = opt("adam", "adam or adamw.", choices=("adam", "adamw"))
    lr_schedule: str = opt("cosine", "Learning-rate schedule: cosine, cosine-restarts (warm restarts: `cosine_t0`, "
                                     "`cosine_t_mult`) or none.", choices=SCHEDULES,
                           deprecated=("--schedule", "--scheduler"))
    schedule_per: str = opt("step", "Step the schedule per step or per epoch.", choices=("step", "epoch"))
    kl_warmup_epochs: float = opt(0.0, "Epochs of linear KL warm-up (0: none).", flags=("--kl-warmup",), min=0)
    kl_cycles: int = opt(0, "Cyclical KL annealing: this many cycles over the training, each ramping the KL "
                            "weight from 0 to 1 over its first half (0: off).", min=0)
    grad_clip: float | None = opt(1.0, "Clip gradient norm (0: off).", cli_type=float, parse=_parse_clip, min=0)
    amp: str = opt("auto", "Autocast: auto (bf16 on CUDA, none on a CPU), bf16 (on a CPU too: fewer CPU-seconds a "
                           "step where the CPU has bf16 instructions), fp16 (CUDA), none.", choices=AMPS)
    device: str = opt("cpu", "cpu, cuda or cuda:N.")
    seed: int = opt(0, "Seed for weights, split, shuffle, augmentation.", min=0, max=SEED_MAX)
    val_fraction: float = opt(0.1, "Fraction of the samples held out for validation, as whole chunks when the "
                                   "store has enough of them (see `split_by`); 0: no validation (best/ and the "
                                   "curves then follow the training loss).", min=0, below=1)
    split_by: str = opt("auto", "Hold validation out by: auto (whole chunks when they can hold `val_fraction` and "
                                "leave training a chunk, else single samples), chunk or sample. The run records "
                                "the choice.", choices=("auto", "chunk", "sample"))
    checkpoint_every: int = opt(1, "Checkpoint every N epochs.", min=1)
    num_workers: int | None = opt(None, "Worker processes decoding chunks; default 0 on CPU (threads), on CUDA "
                                        "min(4, cores / 2).", min=0)
    threads: int | None = opt(None, "Threads of training's arithmetic: torch's intra-op threads, and the BLAS and "
                                    "OpenMP threads of the fits before the first epoch (the neighbour similarity, "
                                    "the window), for the whole of training; default: as the process has them "
                                    "(torch's: the cores, or OMP_NUM_THREADS). The same seed, data and thread count "
                                    "give the same weights, bit for bit, on one machine; another count rounds "
                                    "differently. The history records the count of each epoch.", min=1)
    scale: str = opt("[0,1]", "Scale inputs to [0,1] or [-1,1].", choices=("[0,1]", "[-1,1]"))
    standardize: bool = opt(False, "Per-sample zero mean, unit std.")
    crop: int | None = opt(None, "Centre-crop samples to N×N.", min=MIN_SIDE)
    resize: int | None = opt(None, "Resize samples to N×N.", min=MIN_SIDE)
    preprocess: str = opt("auto", "auto: EBSD patterns get static background removal and per-pattern "
                                  "standardisation (other data: the options given); none: only the options given.",
                        choices=("auto", "none"))
    subtract_background: bool = opt(False, "Static background removal (the scan's mean pattern inside the mask).")
    background: str | None = opt(None, "Static background pattern file (.npy or image) instead of the scan's mean.")
    background_operation: str = opt("divide", "Remove the static background by: divide (the default: a brightness "
                                              "drift cancels) or subtract.", choices=("divide", "subtract"))
    dynamic_background: float = opt(0.0, "Remove each pattern's Gaussian blur of this σ in pixels (0: off).", min=0)
    dynamic_operation: str = opt("subtract", "Remove the dynamic background by: subtract or divide.",
                                  choices=("subtract", "divide"))
    average_neighbours: int | None = opt(None, "Average each pattern with its neighbours in a 3x3 or 5x5 window "
                                               "inside the mask (0: off; default: 3 for EBSD patterns under "
                                               "`preprocess` auto, else off; a derived variable written to the store).",
                                         cli_type=Optional[int], choices=(0, 3, 5))
    neighbour_weights: str = opt("similarity", "Weigh the neighbours by their similarity to the pattern (measured "
                                               "against the noise: boundaries are kept) or uniformly.",
                                 choices=("similarity", "uniform"))
    detector_mask: bool = opt(False, "Zero the pixels outside the circle inscribed in each pattern.")
    patch: tuple[int, int, int] | None = opt(None, "Random 3D patches DxHxW (volumes).", cli_type=str,
                                             parse=_parse_patch)
    augment: bool = opt(False, "Random flips and small affine.")
    previews: int = opt(8, "Samples shown in previews/ (0: none).", min=0)
    preview_slices: tuple[int, int, int] | None = opt(
        None, "Volumes: slice indices z,y,x the previews show, each sample in its three views (axial z, coronal "
              "y, sagittal x); default the middle axial slice.", cli_type=str, parse=_parse_slices)
    tensorboard: bool = opt(True, "Write TensorBoard logs to tb/.", flags=("--tensorboard/--no-tensorboard",))
    wandb: bool = opt(False, "Also log to Weights & Biases (needs the 'wandb' extra): the history rows, and "
                             "each epoch a grid of `previews` inputs over their reconstructions.")
    patience: int = opt(0, "Early stopping: stop when the validation loss (the training loss without validation) "
                           "has not improved by more than `min_delta` for this many epochs (0: off).", min=0)
    min_delta: float = opt(0.0, "Early stopping: the smallest fall of the loss that counts as an improvement.", min=0)
    ema: float = opt(0.0, "Keep an exponential moving average of the weights with this decay, e.g. 0.999 (0: off); "
                          "validation, best/ and every checkpoint's model (what encode reads) use the averaged weights.",
                     min=0, below=1)
    cosine_t0: int = opt(10, "cosine-restarts: epochs of the first cosine cycle (torch's T_0).", min=1)
    cosine_t_mult: int = opt(1, "cosine-restarts: each cycle is this many times longer than the one before (T_mult).", min=1)
    window: str | None = opt(None, "Train on a window of a (y, x) map: auto (about twice the characteristic grain "
                                   "size, the mean linear intercept of the pattern-similarity boundaries, grown "
                                   "until it holds every kind of region, 4096 patterns at most), a side N or HxW "
                                   "placed the same way, a box y0:y1,x0:x1 in scan pixels, or all (the whole map "
                                   "inside the mask); encode writes the whole map. The run records the box "
                                   "(window.json: how it was chosen). Default: auto for a map of patterns with more "
                                   "than 16384 inside the mask (and no `subset`), all otherwise.", cli_type=str)
    subset: int | None = opt(None, "Train on a seeded random subset of N of the training samples (validation keeps "
                                   "its own); the run records it.", min=1)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, default=list)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        d = take_renamed(d, renamed_keywords(cls), "config", warn=False)  # a run written before a rename
        d = {k: v for k, v in d.items() if k in known}
        for k in ("sample_dims", "feature_dims", "patch", "preview_slices"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)

    @classmethod
    def options(cls) -> Iterator[tuple[dataclasses.Field, Option]]:
        """Every field with its :class:`~vaearr.options.Option`, in declaration order."""
        return options(cls)




def check_schedule_options(cfg: TrainConfig) -> None:
    """One clear line for an early-stopping, weight-average, schedule, subset or wandb option that
    cannot work, before a run is written (a subset larger than the training samples is found
    when the split is made, also before)."""
    # the ranges of --patience, --min-delta, --ema, --lr-schedule, --cosine-*, --amp, --max-steps and --subset are
    # declared on their fields (vaearr.options.check_declared); what is left needs two options at once
    if cfg.amp == "fp16" and not str(cfg.device).startswith("cuda"):
        raise TrainingError("`amp='fp16'` is for CUDA; on a CPU use `amp='bf16'` (or none)")
    if cfg.wandb:
        require("wandb", "wandb")
