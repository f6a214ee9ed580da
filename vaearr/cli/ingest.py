"""``vaearr ingest ebsd|tables|orientations|images|idx|nifti``: a source into a store (their options:
:mod:`vaearr.io.options`, ``IngestEbsdOptions``…)."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from vaearr.cli.common import in_flags, ingest_app, print_store, typer_parameters
from vaearr.io.options import (
    IngestEbsdOptions,
    IngestIdxOptions,
    IngestImagesOptions,
    IngestNiftiOptions,
    IngestOrientationsOptions,
    IngestTablesOptions,
    library_keywords,
)
from vaearr.interface import table_composite
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


def ingest_tables(**given: Any) -> None:
    """Band contrast / element / phase / PCA and cNMF weight CSVs onto an existing store's scan grid, by coordinate.

    --composite / --composite-rgb also write an element composite (from --elements, or the store's elements).
    """
    options = made(IngestTablesOptions, given)
    check_kind(options.store, "ebsd-map")
    from vaearr.io import tables as io_tables

    ds = io_tables.ingest_tables(options.store, **options.tables(), derive=table_composite(options))
    for line in io_tables.tables_notes(ds):
        typer.echo(line)
    print_store(options.store)


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


ingest_tables.__signature__ = inspect.Signature(typer_parameters(IngestTablesOptions))  # type: ignore[attr-defined]
ingest_orientations.__signature__ = inspect.Signature(typer_parameters(IngestOrientationsOptions))  # type: ignore[attr-defined]
ingest_images.__signature__ = inspect.Signature(typer_parameters(IngestImagesOptions))  # type: ignore[attr-defined]
ingest_idx.__signature__ = inspect.Signature(typer_parameters(IngestIdxOptions))  # type: ignore[attr-defined]
ingest_nifti.__signature__ = inspect.Signature(typer_parameters(IngestNiftiOptions))  # type: ignore[attr-defined]
for name, command in (("tables", ingest_tables), ("orientations", ingest_orientations), ("images", ingest_images), ("idx", ingest_idx),
                      ("nifti", ingest_nifti)):
    ingest_app.command(name)(command)
