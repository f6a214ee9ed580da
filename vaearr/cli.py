"""The ``vaearr`` command: a thin layer over the library (every command is one library call)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="vaearr",
    help="VAE representations of scientific and medical images, as labeled zarr stores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Read a source into a store (created if absent).", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

StoreOpt = Annotated[Path, typer.Option("--store", "-s", help="Store to write (a .zarr directory).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace variables that exist.")]


def _shape(text: str | None, n: int, what: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{what} must look like {'x'.join(['N'] * n)}, got '{text}'") from None
    if len(shape) != n or min(shape) < 1:
        raise typer.BadParameter(f"{what} must be {n} positive integers like {'x'.join(['N'] * n)}, got '{text}'")
    return shape


def _print_store(store: Path) -> None:
    from vaearr.store import describe

    typer.echo(describe(store))


# ---------------------------------------------------------------------------------------------
# ingest


@ingest_app.command("ebsd")
def ingest_ebsd(
    src: Annotated[Path, typer.Argument(help="Pattern file: any kikuchipy format, or a plain HDF5 with --dataset.")],
    store: StoreOpt,
    dataset: Annotated[Optional[str], typer.Option(help="HDF5 dataset with the patterns (plain HDF5).")] = None,
    x_dataset: Annotated[str, typer.Option(help="HDF5 dataset with x (µm) per pattern.")] = "x",
    y_dataset: Annotated[str, typer.Option(help="HDF5 dataset with y (µm) per pattern.")] = "y",
    scan_shape: Annotated[Optional[str], typer.Option(help="Scan rows x cols, e.g. 40x60, for N×H×W without x/y.")] = None,
    step: Annotated[Optional[float], typer.Option(help="Scan step in µm when the file has none.")] = None,
    crop: Annotated[Optional[int], typer.Option(help="Centre-crop patterns to N×N.")] = None,
    binning: Annotated[int, typer.Option(help="Bin patterns by this factor.")] = 1,
    bandcontrast: Annotated[Optional[Path], typer.Option(help="CSV x,y,bandcontrast.")] = None,
    elements: Annotated[Optional[Path], typer.Option(help="CSV x,y,<El1>,<El2>,…")] = None,
    phase: Annotated[Optional[Path], typer.Option(help="CSV x,y,phase.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """EBSD patterns (plus band contrast, element and phase CSVs) → patterns(y, x, py, px)."""
    from vaearr.io.ebsd import ingest_ebsd as run

    run(
        src, store, dataset=dataset, x_dataset=x_dataset, y_dataset=y_dataset,
        scan_shape=_shape(scan_shape, 2, "--scan-shape"), step=step, crop=crop, binning=binning,
        bandcontrast=bandcontrast, elements=elements, phase=phase, overwrite=overwrite, progress=True,
    )
    _print_store(store)


@ingest_app.command("tables")
def ingest_tables(
    store: Annotated[Path, typer.Argument(help="Existing store whose scan grid the tables are aligned to.")],
    bandcontrast: Annotated[Optional[Path], typer.Option(help="CSV x,y,bandcontrast.")] = None,
    elements: Annotated[Optional[Path], typer.Option(help="CSV x,y,<El1>,<El2>,…")] = None,
    phase: Annotated[Optional[Path], typer.Option(help="CSV x,y,phase.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Band contrast / element / phase CSVs onto an existing store's scan grid, by coordinate."""
    from vaearr.io.tables import ingest_tables as run

    run(store, bandcontrast=bandcontrast, elements=elements, phase=phase, overwrite=overwrite)
    _print_store(store)


@ingest_app.command("images")
def ingest_images(
    folder: Annotated[Path, typer.Argument(help="Folder of PNG/JPG/TIFF images; sub-folder names are labels.")],
    store: StoreOpt,
    size: Annotated[int, typer.Option(help="Resize to size×size.")] = 256,
    mode: Annotated[str, typer.Option(help="auto, L (gray) or RGB.")] = "auto",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip and count files that are not images.")] = False,
    overwrite: Overwrite = False,
) -> None:
    """A folder of images → images(sample, row, col[, channel]) with label and filename."""
    from vaearr.io.images import ingest_images as run

    run(folder, store, size=size, mode=mode, skip_bad=skip_bad, overwrite=overwrite, progress=True)
    _print_store(store)


@ingest_app.command("idx")
def ingest_idx(
    images: Annotated[Path, typer.Argument(help="IDX images file (MNIST layout, .gz or not).")],
    store: StoreOpt,
    labels: Annotated[Optional[Path], typer.Option(help="IDX labels file.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """MNIST / Fashion-MNIST IDX files → images(sample, row, col) with label."""
    from vaearr.io.idx import ingest_idx as run

    run(images, store, labels=labels, overwrite=overwrite, progress=True)
    _print_store(store)


@ingest_app.command("nifti")
def ingest_nifti(
    src: Annotated[list[Path], typer.Argument(help="NIfTI files, one folder, or one CSV with subject,path.")],
    store: StoreOpt,
    shape: Annotated[Optional[str], typer.Option(help="Common shape ZxYxX (default: the first volume's).")] = None,
    method: Annotated[str, typer.Option(help="crop (centre crop/pad) or resample.")] = "crop",
    volume: Annotated[Optional[int], typer.Option(help="Volume to take from 4D files.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """NIfTI volumes → volumes(subject, z, y, x), affine(subject, 4, 4), voxel_size."""
    from vaearr.io.nifti import ingest_nifti as run

    run([*src], store, shape=_shape(shape, 3, "--shape"), method=method, volume=volume, overwrite=overwrite,
        progress=True)
    _print_store(store)


# ---------------------------------------------------------------------------------------------
# masks, info


@app.command()
def roi(
    store: Annotated[Path, typer.Argument(help="Store with the variable to threshold.")],
    bc_min: Annotated[Optional[float], typer.Option(help="Keep pixels with value ≥ this.")] = None,
    bc_otsu: Annotated[bool, typer.Option("--bc-otsu", help="Keep pixels above Otsu's threshold.")] = False,
    x: Annotated[Optional[str], typer.Option("--x", help="x range A:B in µm (inclusive; either end may be empty).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="y range C:D in µm.")] = None,
    name: Annotated[str, typer.Option(help="Name of the mask variable.")] = "roi",
    var: Annotated[str, typer.Option(help="Variable the thresholds apply to.")] = "bandcontrast",
    export: Annotated[Optional[Path], typer.Option(help="Write keep-xy CSV/NPY and the mask NPY here.")] = None,
    figures: Annotated[Optional[Path], typer.Option(help="Write the histogram and heatmap (HTML + PNG) here.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Make a mask from band-contrast thresholds and x/y ranges (combined with AND)."""
    from vaearr.roi import create_roi, parse_range

    result = create_roi(
        store, name=name, var=var, bc_min=bc_min, otsu=bc_otsu,
        x=parse_range(x) if x else None, y=parse_range(y) if y else None,
        export=export, figures=figures, overwrite=overwrite,
    )
    typer.echo(result.summary() if hasattr(result, "summary") else str(result))


@app.command()
def info(store: Annotated[Path, typer.Argument(help="A vaearr store.")]) -> None:
    """Variables, dims, masks and provenance of a store."""
    _print_store(store)


def _dims(text: str | None) -> tuple[str, ...] | None:
    return None if not text else tuple(d.strip() for d in text.split(",") if d.strip())


def _options(items: list[str] | None) -> dict:
    """``key=value`` pairs; values parsed as JSON when they are (numbers, lists, true/false)."""
    import json

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--option takes key=value, got '{item}'")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@app.command()
def train(
    store: Annotated[Path, typer.Argument(help="Store to read batches from.")],
    run: Annotated[Path, typer.Option("--run", "-r", help="Run folder: checkpoints, history, previews, logs (-r under torchrun, whose own options take --run).")],
    model: Annotated[str, typer.Option(help="Model family: conv-vae, autoencoder-kl, vae3d.")] = "conv-vae",
    latent_dim: Annotated[int, typer.Option(help="Latent size (vector-latent families).")] = 16,
    epochs: Annotated[int, typer.Option(help="Epochs to train (in all, when resuming).")] = 10,
    var: Annotated[str, typer.Option(help="Variable to train on.")] = "patterns",
    mask: Annotated[str, typer.Option(help="Mask variable ('auto': roi if present; 'none').")] = "auto",
    sample_dims: Annotated[Optional[str], typer.Option(help="Comma-separated sample dims (default from the schema).")] = None,
    feature_dims: Annotated[Optional[str], typer.Option(help="Comma-separated feature dims.")] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    optimizer: Annotated[str, typer.Option(help="adam or adamw.")] = "adam",
    weight_decay: Annotated[float, typer.Option(help="Weight decay.")] = 0.0,
    schedule: Annotated[str, typer.Option(help="cosine or none.")] = "cosine",
    schedule_per: Annotated[str, typer.Option(help="Step the schedule per step or per epoch.")] = "step",
    kl_warmup: Annotated[float, typer.Option(help="Epochs of linear KL warm-up (0: none).")] = 0.0,
    grad_clip: Annotated[float, typer.Option(help="Clip gradient norm (0: off).")] = 1.0,
    amp: Annotated[str, typer.Option(help="Autocast on CUDA: auto (bf16), bf16, fp16, none.")] = "auto",
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    seed: Annotated[int, typer.Option(help="Seed for weights, split, shuffle, augmentation.")] = 0,
    val_fraction: Annotated[float, typer.Option(help="Fraction of chunks held out for validation.")] = 0.1,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint every N epochs.")] = 1,
    num_workers: Annotated[Optional[int], typer.Option(
        help="Worker processes decoding chunks; default 0 on CPU (threads), on CUDA min(4, cores / 2).")] = None,
    scale: Annotated[str, typer.Option(help="Scale inputs to [0,1] or [-1,1].")] = "[0,1]",
    standardize: Annotated[bool, typer.Option("--standardize", help="Per-sample zero mean, unit std.")] = False,
    crop: Annotated[Optional[int], typer.Option(help="Centre-crop samples to N×N.")] = None,
    resize: Annotated[Optional[int], typer.Option(help="Resize samples to N×N.")] = None,
    subtract_background: Annotated[bool, typer.Option("--subtract-background", help="EBSD static background subtraction.")] = False,
    patch: Annotated[Optional[str], typer.Option(help="Random 3D patches DxHxW (volumes).")] = None,
    augment: Annotated[bool, typer.Option("--augment", help="Random flips and small affine.")] = False,
    config: Annotated[Optional[Path], typer.Option(help="Model config: JSON, or a Stable Diffusion / ldm YAML (autoencoder-kl).")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Model option key=value (repeatable), e.g. -o channels=[16,32,64].")] = None,
    wandb: Annotated[bool, typer.Option("--wandb", help="Also log to Weights & Biases (needs wandb installed).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run from its last checkpoint.")] = False,
) -> None:
    """Train a VAE on a store variable; checkpoints, history, curves and previews go to --run."""
    from vaearr.train import TrainConfig, fit, model_options_from_file

    model_options = {**(model_options_from_file(config, model) if config else {}), **_options(option)}
    cfg = TrainConfig(
        store=str(store), run=str(run), var=var, mask=None if mask == "none" else mask,
        sample_dims=_dims(sample_dims), feature_dims=_dims(feature_dims), model=model, latent_dim=latent_dim,
        model_options=model_options, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        optimizer=optimizer, schedule=schedule, schedule_per=schedule_per, kl_warmup_epochs=kl_warmup,
        grad_clip=grad_clip or None, amp=amp, device=device, seed=seed, val_fraction=val_fraction,
        checkpoint_every=checkpoint_every, num_workers=num_workers, scale=scale, standardize=standardize,
        crop=crop, resize=resize, subtract_background=subtract_background, patch=_shape(patch, 3, "--patch"),
        augment=augment, wandb=wandb,
    )
    result = fit(cfg, resume=resume)
    last = result.history[-1] if result.history else {}
    typer.echo(
        f"trained {cfg.model} for {len(result.history)} epochs → {run}\n"
        f"  last: train_loss={last.get('train_loss', float('nan')):.4g} val_loss={last.get('val_loss', float('nan')):.4g}\n"
        f"  best epoch: {result.best_epoch} (val_loss={result.best_val_loss})"
    )


@app.command()
def encode(
    store: Annotated[Path, typer.Argument(help="Store to encode (the run's variable and mask).")],
    run: Annotated[Path, typer.Option(help="Training run folder.")],
    name: Annotated[str, typer.Option(help="Name of the latent variable.")] = "latent",
    checkpoint: Annotated[str, typer.Option(help="best, latest, or a checkpoint folder.")] = "best",
    logvar: Annotated[bool, typer.Option("--logvar", help="Also write {name}_logvar.")] = False,
    batch_size: Annotated[int, typer.Option(help="Samples per batch.")] = 256,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    export: Annotated[Optional[Path], typer.Option(help="Also write latents_full.npy, latents_roi.npy, coords.csv here.")] = None,
    figures: Annotated[Optional[Path], typer.Option(help="Latent maps (HTML + PNG) here.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Write the latents (mu), and reconstruction error, of a trained run into the store."""
    from vaearr.encode import encode as run_encode

    result = run_encode(store, run, name=name, checkpoint=checkpoint, logvar=logvar, batch_size=batch_size,
                        device=device, export=export, figures=figures, overwrite=overwrite)
    typer.echo(result.summary())


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's store, exports and figures.")] = Path("out/demo"),
    data: Annotated[Optional[Path], typer.Option(help="Where the simulated demo files are built (cached).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs of the conv-vae.")] = 10,
    latent_dim: Annotated[int, typer.Option(min=1, help="Latent dims of the conv-vae.")] = 16,
) -> None:
    """The main job on real shipped data: simulated Ni EBSD map → ingest → ROI → train → encode → rank → cluster → HTML maps."""
    from vaearr.demo import run_demo

    run_demo(out, data_dir=data, epochs=epochs, latent_dim=latent_dim)


def _register_analysis_commands() -> None:
    """Commands defined beside their analyses (cluster, rank, explore, layers)."""
    import importlib

    for module in ("vaearr.analysis.commands", "vaearr.analysis.explore_commands"):
        try:
            importlib.import_module(module).register(app)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


_register_analysis_commands()


# ---------------------------------------------------------------------------------------------


def _one_line_warnings() -> None:
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    # library chatter users cannot act on
    for mod in ("zarr", "numcodecs", "dask", "hyperspy", "rosettasciio", "kikuchipy", "orix", "numba"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=mod)
        warnings.filterwarnings("ignore", category=FutureWarning, module=mod)


def main() -> None:
    """Entry point: run the app, turning vaearr errors into one line and exit status 2."""
    from vaearr.errors import VaearrError

    _one_line_warnings()
    try:
        app()  # click's standalone mode prints usage errors itself and exits 2
    except VaearrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file or directory", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
