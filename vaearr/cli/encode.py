"""``vaearr encode``: a run's latents (and reconstruction error) into the store, with maps and exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import (
    Checkpoint,
    Device,
    Dask,
    Overwrite,
    Renamed,
    app,
    figure_command,
    store_location,
)
from vaearr.options import DEFAULT_FIGURES, FigureOptions, writable_folders


@app.command()
@figure_command
def encode(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store to encode (the run's variable and mask).")],
    run: Annotated[Path, typer.Option("--run", "-r", help="Training run folder.")],
    name: Annotated[str, typer.Option(help="Name of the latent variable.")] = "latent",
    checkpoint: Checkpoint = "best",
    logvar: Annotated[bool, typer.Option("--logvar", help="Also write {name}_logvar.")] = False,
    recon_error: Annotated[bool, typer.Option(
        "--recon-error/--no-recon-error",
        help="Also write {name}_recon_error (decodes the samples: about 2.7× the CPU time of the latents alone for "
             "the EBSD conv-vae when it decodes every one).",
    )] = True,
    recon_stride: Annotated[Optional[int], typer.Option(
        min=1, help="Decode the reconstruction error on every Nth sample along each dim, NaN between (default: "
                    "every sample up to 512², beyond that the smallest N that keeps at most 512²; 1: every one).",
    )] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        help="Samples per batch (default 128 on a CPU, 1024 on CUDA).")] = None,
    device: Device = "cpu",
    export: Annotated[Optional[Path], typer.Option(help="Also write latents_full.npy, latents_roi.npy, coords.csv here (data files for other programs).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the latent maps (HTML + PNG); none drawn without it."), Renamed("--figures")] = None,
    per_subject: Annotated[Optional[Path], typer.Option(help="One <subject>.npy per sample here (and <subject>.nii.gz for 3D latents of a volume store).")] = None,
    overwrite: Overwrite = False,
    dask: Dask = None,
    figure_options: FigureOptions = DEFAULT_FIGURES,
) -> None:
    """Write the latents (mu), and reconstruction error, of a trained run into the store."""
    writable_folders(export=export, out=out, per_subject=per_subject)  # before the store is written
    from vaearr.encoding import encode as encode_store
    from vaearr.viz.maps import encoded_maps

    result = encode_store(store, run, name=name, checkpoint=checkpoint, logvar=logvar, recon_error=recon_error,
                          recon_stride=recon_stride,
                          batch_size=batch_size, device=device, export=export, per_subject=per_subject,
                          overwrite=overwrite, dask=dask)
    result.figures = encoded_maps(store, name, out, figures=figure_options)
    typer.echo(result.summary())
