"""``vaearr import-weights``: a lab script's PyTorch checkpoint as a vaearr run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Renamed, app, parse_options, store_location
from vaearr.options import check_values, writable_folder
from vaearr.train.config import MIN_SIDE


@app.command("import-weights")
def import_weights(
    weights: Annotated[Path, typer.Argument(help="The script's checkpoint (.pth/.pt: a state dict, or a dict holding one).")],
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with the variable the run will encode (fits the input pipeline)."), Renamed("--store")],
    script: Annotated[str, typer.Option("--from", help="The script: ebsd-script, beta-vae or mnist-vae (the family the weights come from, not an input variable: that is --var).")],
    run: Annotated[Path, typer.Option("--run", "-r", help="New run folder.")],
    var: Annotated[str, typer.Option(help="Variable to encode.")] = "patterns",
    mask: Annotated[str, typer.Option(help="Mask variable ('auto': roi if present; 'none').")] = "auto",
    scale: Annotated[Optional[str], typer.Option(help="Input range [0,1] or [-1,1] (default: the script's).")] = None,
    resize: Annotated[Optional[int], typer.Option(help="Resize samples to N×N (the size the script trained on).")] = None,
    crop: Annotated[Optional[int], typer.Option(help="Centre-crop samples to N×N.")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="conv-vae option key=value the "
                                                        "checkpoint cannot tell, e.g. -o upsample_mode=bilinear.")] = None,
) -> None:
    """Load a script's checkpoint (torch.load weights_only=True) into conv-vae and write a run that encode, explore and layers use."""
    check_values(resize=(resize, {"min": MIN_SIDE}), crop=(crop, {"min": MIN_SIDE}))
    writable_folder(run, "--run")  # proven writable (removed again if the command fails while it is empty)
    from vaearr.train.weights import import_weights as run_import

    result = run_import(weights, script, store, run, var=var, mask=None if mask == "none" else mask, scale=scale,
                        resize=resize, crop=crop, options=parse_options(option))
    c = result.model_config
    typer.echo(f"imported {weights} (--from {script}) → {run}\n"
               f"  conv-vae {'×'.join(map(str, c['input_shape']))} → {c['latent_dim']} latent dims, "
               f"output {c['output']}, inputs scaled to {result.train['scale']}")
