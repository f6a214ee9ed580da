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
    from vaearr.ingest.ebsd import ingest_ebsd as run

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
    from vaearr.ingest.tables import ingest_tables as run

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
    from vaearr.ingest.images import ingest_images as run

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
    from vaearr.ingest.idx import ingest_idx as run

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
    from vaearr.ingest.nifti import ingest_nifti as run

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


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's store, exports and figures.")] = Path("out/demo"),
    data: Annotated[Optional[Path], typer.Option(help="Where the simulated demo files are built (cached).")] = None,
) -> None:
    """The main job on real shipped data: build the demo EBSD map, ingest, ROI, HTML maps."""
    from vaearr.demo import run_demo

    run_demo(out, data_dir=data)


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
