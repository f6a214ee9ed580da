"""``vaearr ingest ebsd|tables|images|idx|nifti``: a source into a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Overwrite, StoreOpt, ingest_app, parse_shape, print_store


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
    from vaearr.io import ebsd as io_ebsd


    io_ebsd.ingest_ebsd(
        src, store, dataset=dataset, x_dataset=x_dataset, y_dataset=y_dataset,
        scan_shape=parse_shape(scan_shape, 2, "--scan-shape"), step=step, crop=crop, binning=binning,
        bandcontrast=bandcontrast, elements=elements, phase=phase, overwrite=overwrite, progress=True,
    )
    print_store(store)


@ingest_app.command("tables")
def ingest_tables(
    store: Annotated[Path, typer.Argument(help="Existing store whose scan grid the tables are aligned to.")],
    bandcontrast: Annotated[Optional[Path], typer.Option(help="CSV x,y,bandcontrast.")] = None,
    elements: Annotated[Optional[Path], typer.Option(help="CSV x,y,<El1>,<El2>,…")] = None,
    phase: Annotated[Optional[Path], typer.Option(help="CSV x,y,phase.")] = None,
    pca_weights: Annotated[Optional[Path], typer.Option(help="CSV x,y,PCA_1,PCA_2,… → pca_weights.")] = None,
    cnmf_weights: Annotated[Optional[Path], typer.Option(help="CSV x,y,cNMF_1,cNMF_2,… → cnmf_weights.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Band contrast / element / phase / PCA and cNMF weight CSVs onto an existing store's scan grid, by coordinate."""
    from vaearr.io import tables as io_tables


    io_tables.ingest_tables(store, bandcontrast=bandcontrast, elements=elements, phase=phase, pca_weights=pca_weights,
                            cnmf_weights=cnmf_weights, overwrite=overwrite)
    print_store(store)


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
    from vaearr.io import images as io_images


    io_images.ingest_images(folder, store, size=size, mode=mode, skip_bad=skip_bad, overwrite=overwrite, progress=True)
    print_store(store)


@ingest_app.command("idx")
def ingest_idx(
    images: Annotated[Path, typer.Argument(help="IDX images file (MNIST layout, .gz or not).")],
    store: StoreOpt,
    labels: Annotated[Optional[Path], typer.Option(help="IDX labels file.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """MNIST / Fashion-MNIST IDX files → images(sample, row, col) with label."""
    from vaearr.io import idx as io_idx


    io_idx.ingest_idx(images, store, labels=labels, overwrite=overwrite, progress=True)
    print_store(store)


@ingest_app.command("nifti")
def ingest_nifti(
    src: Annotated[list[Path], typer.Argument(help="NIfTI files, one folder, or one CSV with subject,path.")],
    store: StoreOpt,
    shape: Annotated[Optional[str], typer.Option(help="Common shape ZxYxX (default: the first volume's).")] = None,
    method: Annotated[str, typer.Option(help="crop (centre crop/pad) or resample.")] = "crop",
    volume: Annotated[Optional[int], typer.Option(help="Volume to take from 4D files.")] = None,
    subjects: Annotated[Optional[Path], typer.Option(help="Subjects CSV (column subject + others) with the label column.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column of the subjects CSV carried in as the label(subject) coord, e.g. diagnosis.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """NIfTI volumes → volumes(subject, z, y, x), affine(subject, 4, 4), voxel_size (+ label(subject))."""
    from vaearr.io import nifti as io_nifti


    io_nifti.ingest_nifti([*src], store, shape=parse_shape(shape, 3, "--shape"), method=method, volume=volume,
        subjects=subjects, label_column=label_column, overwrite=overwrite, progress=True)
    print_store(store)
