"""``vaearr ingest ebsd|tables|images|idx|nifti``: a source into a store (``ebsd``'s options:
:class:`~vaearr.io.options.IngestEbsdOptions`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.cli.common import (
    Overwrite,
    in_flags,
    ingest_app,
    print_store,
    store_location,
    typer_parameters,
)
from vaearr.io.options import (
    IngestEbsdOptions,
    IngestIdxOptions,
    IngestImagesOptions,
    IngestNiftiOptions,
    IngestOrientationsOptions,
    library_keywords,
)
from vaearr.io.write import check_kind
from vaearr.options import made


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
        from vaearr.maps.decomposition.composite import composite_variables, parse_weights
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


def ingest_orientations(**given: Any) -> None:
    """Crystal orientations → NAME(y, x, quaternion), phase_id(y, x), quality maps (iq, ci, fit / mad, bands, bandcontrast) and the derived maps."""
    options = made(IngestOrientationsOptions, given)
    if options.store is not None:
        check_kind(options.store, "ebsd-map")
    from vaearr.maps.indexing.orientations import ingest_orientation_map

    if options.store is None:
        typer.echo(f"store: {options.target()} (no STORE given)")
    ds = ingest_orientation_map(options, progress="ingest orientations")
    if options.maps:
        a = ds[options.name + "_grains"].attrs
        typer.echo(f"maps: grains at {a['grain_angle']:g}°, KAM over first neighbours below {a['grain_angle']:g}°, "
                   f"IPF along sample {options.direction} ('vaearr orientation-maps' re-makes them)")
    print_store(options.target())


def ingest_images(**given: Any) -> None:
    """A folder of images → images(sample, row, col[, channel]) with label and filename."""
    options = made(IngestImagesOptions, given)
    check_kind(options.store, "images")
    from vaearr.io import images as io_images

    io_images.ingest_images(options.src, options.store, **library_keywords(options), progress=True)
    print_store(options.store)


def ingest_idx(**given: Any) -> None:
    """MNIST / Fashion-MNIST IDX files → images(sample, row, col) with label."""
    options = made(IngestIdxOptions, given)
    check_kind(options.store, "images")
    from vaearr.io import idx as io_idx

    io_idx.ingest_idx(options.src, options.store, **library_keywords(options), progress=True)
    print_store(options.store)


def ingest_nifti(**given: Any) -> None:
    """NIfTI volumes → volumes(subject, z, y, x), affine(subject, 4, 4), voxel_size (+ label(subject))."""
    options = made(IngestNiftiOptions, given)
    check_kind(options.store, "volumes")
    from vaearr.io import nifti as io_nifti

    io_nifti.ingest_nifti([*options.src], options.store, **library_keywords(options), progress=True)
    print_store(options.store)


ingest_orientations.__signature__ = inspect.Signature(typer_parameters(IngestOrientationsOptions))  # type: ignore[attr-defined]
ingest_images.__signature__ = inspect.Signature(typer_parameters(IngestImagesOptions))  # type: ignore[attr-defined]
ingest_idx.__signature__ = inspect.Signature(typer_parameters(IngestIdxOptions))  # type: ignore[attr-defined]
ingest_nifti.__signature__ = inspect.Signature(typer_parameters(IngestNiftiOptions))  # type: ignore[attr-defined]
for name, command in (("orientations", ingest_orientations), ("images", ingest_images), ("idx", ingest_idx),
                      ("nifti", ingest_nifti)):
    ingest_app.command(name)(command)
