"""``vaearr train``: its options are the fields of :class:`~vaearr.train.TrainConfig`, declared there once."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.cli.common import app, parse_options, typer_parameters
from vaearr.interface import in_flags, options_flags
from vaearr.options import made, writable_folder
from vaearr.train.config import TrainConfig

#: Command-line parameters that are not fields: how ``model_options`` are given, and resuming.
EXTRA = (
    inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[Path], typer.Option(help="Model config: JSON, or a Stable Diffusion / ldm YAML (autoencoder-kl).")]),
    inspect.Parameter("option", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[list[str]], typer.Option("--option", "-o", help="Model option key=value (repeatable), e.g. "
                                                                  "-o channels=[16,32,64].")]),
    inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option("--resume", help="Continue the run from its last checkpoint, on the store it recorded (another "
                                    "STORE is refused); a run stopped before its first checkpoint starts again.")]),
)


def parameters() -> list[inspect.Parameter]:
    """One command-line parameter per :class:`TrainConfig` field (but ``model_options``), then :data:`EXTRA`."""
    return [*typer_parameters(TrainConfig, skip=("model_options",)), *EXTRA]


def train(**given: Any) -> None:
    """Train a VAE on a store variable; checkpoints, history, curves and previews go to --run."""
    resume, config, option = given.pop("resume"), given.pop("config"), given.pop("option")
    cfg = made(TrainConfig, given)
    writable_folder(cfg.run, "--run")  # proven writable (removed again if the command fails while it is empty)
    from vaearr.models import config_from_dict, options_from_file
    from vaearr.models.likelihoods import LIKELIHOODS
    from vaearr.progress import format_loss
    from vaearr.run import Run
    from vaearr.train import fit

    cfg = dataclasses.replace(cfg, model_options={**(options_from_file(config, cfg.model) if config else {}),
                                                  **parse_options(option)})
    said = options_flags(TrainConfig)  # the lines name options as keywords (`val_fraction=0`): said as flags
    result = fit(cfg, resume=resume, report=lambda line: typer.echo(in_flags(line, said)))
    last = result.history[-1] if result.history else {}
    if "val_loss" in last or not last:
        typer.echo(
            f"trained {cfg.model} for {len(result.history)} epochs → {cfg.run}\n"
            f"  last: train_loss={format_loss(last.get('train_loss'))} val_loss={format_loss(last.get('val_loss'))}\n"
            f"  best epoch: {result.best_epoch} (val_loss={format_loss(result.best_val_loss)})"
        )
    else:
        typer.echo(
            f"trained {cfg.model} for {len(result.history)} epochs → {cfg.run}\n"
            f"  last: train_loss={format_loss(last['train_loss'])} (no validation)\n"
            f"  best epoch: {result.best_epoch} (by training loss: train_loss={format_loss(result.best_val_loss)})"
        )
    run = Run.open(result.run)
    if cfg.preprocess == "auto" and run.preprocess.steps:
        typer.echo(f"  preprocessing (auto, for {'/'.join(run.data.feature_dims)} patterns): {run.preprocess.describe()}")
        if "decoder" in run.model_config and "decoder" not in cfg.model_options:
            typer.echo(f"  decoder (auto, for {'/'.join(run.data.feature_dims)} patterns): {run.model_config['decoder']}")
    if run.model_config.get("output", "auto") == "auto" and "data_range" in run.model_config:
        head = config_from_dict(run.model_config)
        sigma = "" if not LIKELIHOODS[head.output_head].has_sigma else " (σ learned)" if getattr(head, "sigma", None) is None else f" (σ = {head.sigma})"
        typer.echo(f"  output head (auto, for {head.data_range} inputs): {head.output_head}{sigma}")
    if result.active_units is not None:
        typer.echo(f"  active units: {result.active_units.describe()}")


train.__signature__ = inspect.Signature(parameters())
app.command()(train)
