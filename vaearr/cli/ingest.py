"""``vaearr ingest ebsd|tables|images|idx|nifti``: a source into a store (``ebsd``'s options:
:class:`~vaearr.io.options.IngestEbsdOptions`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.cli.common import (
    Overwrite,
    Renamed,
    StoreArg,
    in_flags,
    ingest_app,
    print_store,
    store_location,
    typer_parameters,
)
from vaearr.io.options import IngestEbsdOptions
from vaearr.io.write import check_kind
from vaearr.options import made, parse_shape


def ingest_ebsd(**given: Any) -> None:
    """EBSD patterns, and what the vendor file holds beside them (plus band contrast, element and phase CSVs).

    A Bruker or EDAX h5ebsd or an Oxford .h5oina brings, where it holds them, its indexing
    (orientation, phase_id and quality maps: Oxford bandcontrast/bandslope/mad/bands, EDAX
    ci/iq/fit, Bruker mad/bands/radonquality…) and an .h5oina its EDS element maps
    (elements), all in one transaction. An HDF5 file with /images (N×1×H×W or N×H×W) and
    /coords (N×2, [x, y] per image) — the exchange format of EBSD training scripts — is
    recognised without --dataset.
    """
    options = made(IngestEbsdOptions, given)
    check_kind(options.store, "ebsd-map")
    from vaearr.io import ebsd as io_ebsd

    ds = io_ebsd.ingest_ebsd(options.src, options.store, options, say=typer.echo, progress=True)
    note = ds["patterns"].attrs.get("coords_note")
    if note:
        typer.echo(in_flags(note))  # names options as keywords (`step`)
    if any(a.get("vendor") for a in (ds[v].attrs for v in ds.data_vars if v != "patterns")):
        typer.echo("maps: 'vaearr orientation-maps' makes the IPF, KAM, GROD and grain maps of these orientations")
    print_store(options.store)


ingest_ebsd.__signature__ = inspect.Signature(typer_parameters(IngestEbsdOptions))  # type: ignore[attr-defined]
ingest_app.command("ebsd")(ingest_ebsd)


@ingest_app.command("tables")
def ingest_tables(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Existing store whose scan grid the tables are aligned to.")],
    bandcontrast: Annotated[Optional[Path], typer.Option(help="CSV x,y,bandcontrast.")] = None,
    elements: Annotated[Optional[Path], typer.Option(help="CSV x,y,<El1>,<El2>,…")] = None,
    phase: Annotated[Optional[Path], typer.Option(help="CSV x,y,phase (or x_indice,y_indice,phase_id).")] = None,
    pca_weights: Annotated[Optional[Path], typer.Option(help="CSV x,y,PCA_1,PCA_2,… → pca_weights.")] = None,
    cnmf_weights: Annotated[Optional[Path], typer.Option(help="CSV x,y,cNMF_1,cNMF_2,… → cnmf_weights.")] = None,
    xy_units: Annotated[Optional[str], typer.Option(help="What x/y columns hold: auto (index headers such as x_indice are scan indices, others µm), index (index × the store's step) or um.")] = None,
    composite: Annotated[Optional[str], typer.Option(help="Write 'composite': weighted sum of min–max normalised element maps, e.g. Ni=1,Fe=0.5 ('all': equal weights). For 'vaearr rank --against composite'.")] = None,
    composite_rgb: Annotated[Optional[str], typer.Option(help="Write 'composite_rgb' of 1–3 elements as R,G,B (e.g. Ni,Fe,Cr) and 'composite' = its luminance.")] = None,
    composite_mask: Annotated[Optional[str], typer.Option(help="Mask whose pixels set each element's normalisation (default: all pixels).")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Band contrast / element / phase / PCA and cNMF weight CSVs onto an existing store's scan grid, by coordinate.

    --composite / --composite-rgb also write an element composite (from --elements, or the store's elements).
    """
    check_kind(store, "ebsd-map")
    from vaearr.io import tables as io_tables

    derive = None
    if composite is not None or composite_rgb is not None or composite_mask is not None:
        from functools import partial

        from vaearr.errors import InputError
        from vaearr.maps.composite import composite_variables, parse_weights
        from vaearr.options import parse_names

        if composite is None and composite_rgb is None:
            raise InputError(None, "--composite-mask needs --composite or --composite-rgb")
        derive = partial(composite_variables, weights=parse_weights(composite) if composite is not None else None,
                         rgb=parse_names(composite_rgb) if composite_rgb is not None else None,
                         mask=composite_mask, store=store)
    ds = io_tables.ingest_tables(store, bandcontrast=bandcontrast, elements=elements, phase=phase,
                                 pca_weights=pca_weights, cnmf_weights=cnmf_weights, overwrite=overwrite,
                                 xy_units=xy_units, derive=derive)
    for name in ds.data_vars:
        a = ds[name].attrs
        if a.get("xy_units") == "index":
            typer.echo(f"{name}: x/y from columns {a['xy_columns'][0]!r}, {a['xy_columns'][1]!r} read as scan "
                       f"indices × step {a['step'][1]:g} × {a['step'][0]:g} µm (x × y)")
        if name == "composite":
            typer.echo(f"composite: {a['mode']} of {', '.join(a['elements'])}"
                       + (f", weights {a['weights']}" if "weights" in a else "") + f"; {a['normalisation']}")
    print_store(store)


@ingest_app.command("orientations")
def ingest_orientations(
    src: Annotated[Path, typer.Argument(help="Orientation map: EDAX/TSL .ang, Oxford .ctf, orix HDF5 or an h5ebsd crystal map orix reads.")],
    store: Annotated[Optional[Path], typer.Argument(parser=store_location, metavar="STORE", help="Store to add to, aligned to its y/x grid by coordinate (default: a new stores/<file name>.zarr)."), Renamed("--store", "-s")] = None,
    name: Annotated[str, typer.Option(help="Name of the orientation variable (and prefix of its maps).")] = "orientation",
    maps: Annotated[bool, typer.Option("--maps/--no-maps", help="Also write NAME_ipf, _kam, _grod, _grains, _grain_boundaries.")] = True,
    grain_angle: Annotated[float, typer.Option(help="Misorientation (degrees) between grains; also the largest neighbour angle KAM averages.")] = 5.0,
    direction: Annotated[str, typer.Option(help="Sample direction of the IPF colours: x, y or z.")] = "z",
    overwrite: Overwrite = False,
) -> None:
    """Crystal orientations → NAME(y, x, quaternion), phase_id(y, x), quality maps (iq, ci, fit / mad, bands, bandcontrast) and the derived maps."""
    if store is not None:
        check_kind(store, "ebsd-map")
    from functools import partial

    from vaearr.io.orientations import ingest_orientations as ingest
    from vaearr.maps.orientations import check_map_options, orientation_maps_derived

    if maps:
        check_map_options(grain_angle, direction)
    if store is None:
        store = Path("stores") / f"{src.stem}.zarr"
        typer.echo(f"store: {store} (no STORE given)")
    derive = partial(orientation_maps_derived, name=name, grain_angle=grain_angle, direction=direction) if maps else None
    ds = ingest(src, store, name=name, overwrite=overwrite, derive=derive, progress="ingest orientations")
    if maps:
        a = ds[name + "_grains"].attrs
        typer.echo(f"maps: grains at {a['grain_angle']:g}°, KAM over first neighbours below {a['grain_angle']:g}°, "
                   f"IPF along sample {direction} ('vaearr orientation-maps' re-makes them)")
    print_store(store)


@ingest_app.command("images")
def ingest_images(
    folder: Annotated[Path, typer.Argument(help="Folder of PNG/JPG/TIFF images; sub-folder names are labels.")],
    store: StoreArg,
    size: Annotated[int, typer.Option(help="Resize to size×size.")] = 256,
    mode: Annotated[str, typer.Option(help="auto, L (gray) or RGB.")] = "auto",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip and count files that are not images.")] = False,
    overwrite: Overwrite = False,
) -> None:
    """A folder of images → images(sample, row, col[, channel]) with label and filename."""
    check_kind(store, "images")
    from vaearr.io import images as io_images

    io_images.ingest_images(folder, store, size=size, mode=mode, skip_bad=skip_bad, overwrite=overwrite, progress=True)
    print_store(store)


@ingest_app.command("idx")
def ingest_idx(
    images: Annotated[Path, typer.Argument(help="IDX images file (MNIST layout, .gz or not).")],
    store: StoreArg,
    labels: Annotated[Optional[Path], typer.Option(help="IDX labels file.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """MNIST / Fashion-MNIST IDX files → images(sample, row, col) with label."""
    check_kind(store, "images")
    from vaearr.io import idx as io_idx

    io_idx.ingest_idx(images, store, labels=labels, overwrite=overwrite, progress=True)
    print_store(store)


@ingest_app.command("nifti")
def ingest_nifti(
    src: Annotated[list[Path], typer.Argument(help="NIfTI files, one folder, or one CSV with subject,path.")],
    store: StoreArg,
    shape: Annotated[Optional[str], typer.Option(help="Common shape ZxYxX (default: the first volume's).")] = None,
    method: Annotated[str, typer.Option(help="crop (centre crop/pad) or resample.")] = "crop",
    volume: Annotated[Optional[int], typer.Option(help="Volume to take from 4D files.")] = None,
    subjects: Annotated[Optional[Path], typer.Option(help="Subjects CSV (column subject + others) with the label column.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column of the subjects CSV carried in as the label(subject) coord, e.g. diagnosis.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """NIfTI volumes → volumes(subject, z, y, x), affine(subject, 4, 4), voxel_size (+ label(subject))."""
    check_kind(store, "volumes")
    from vaearr.io import nifti as io_nifti

    io_nifti.ingest_nifti([*src], store, shape=parse_shape(shape, 3, "--shape"), method=method, volume=volume,
        subjects=subjects, label_column=label_column, overwrite=overwrite, progress=True)
    print_store(store)
