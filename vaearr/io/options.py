"""The options of the ingest commands, declared once (:mod:`vaearr.options`): the CLI, the flow and the Python step derive theirs from these.

Only :mod:`vaearr.options` is imported here (no h5py, kikuchipy or zarr), so the ``vaearr`` command builds its
parameters in a moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from vaearr.errors import InputError
from vaearr.options import check_declared, opt, parse_shape


def _scan_shape(text: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"40x60"`` → ``(40, 60)`` (a Python caller's pair passes as it is)."""
    return parse_shape(text, 2, "`scan_shape`") if isinstance(text, str) or text is None else tuple(text)


@dataclass(frozen=True, kw_only=True)
class IngestEbsdOptions:
    """Everything ``vaearr ingest ebsd``, the ``ingest`` flow and ``vaearr.ingest(kind="ebsd")`` take
    (:func:`~vaearr.io.ebsd.ingest_ebsd`; the reading options: :func:`~vaearr.io.ebsd.read_ebsd`)."""

    src: Path = opt(help="Pattern file: any kikuchipy format, or a plain HDF5 with `dataset`.", flags=())
    store: str = opt(help="Store to write (a .zarr directory, or s3://bucket/path.zarr).", flags=(),
                     deprecated=("--store", "-s"))
    dataset: str | None = opt(None, "HDF5 dataset with the patterns (plain HDF5).")
    x_dataset: str = opt("x", "HDF5 dataset with x (µm) per pattern.")
    y_dataset: str = opt("y", "HDF5 dataset with y (µm) per pattern.")
    scan_shape: tuple[int, int] | None = opt(None, "Scan rows x cols, e.g. 40x60, for N×H×W without x/y.",
                                             cli_type=Optional[str], parse=_scan_shape)
    step: float | tuple[float, float] | None = opt(None, "Scan step in µm when the file has none.",
                                                   cli_type=Optional[float], above=0)
    crop: int | tuple[int, int] | None = opt(None, "Centre-crop patterns to N×N.", cli_type=Optional[int], min=1)
    binning: int = opt(1, "Bin patterns by this factor.", min=1)
    bandcontrast: Path | None = opt(None, "CSV x,y,bandcontrast.")
    elements: Path | None = opt(None, "CSV x,y,<El1>,<El2>,…")
    phase: Path | None = opt(None, "CSV x,y,phase.")
    coords_order: str | None = opt(None, "/images + /coords files: xy (column 0 = x, the default, as the scripts "
                                         "write it) or yx.")
    coords_units: str | None = opt(None, "/images + /coords files: auto (whole numbers = scan indices × `step`, "
                                         "else µm), index or um.")
    orientations: bool = opt(True, "Read the indexing a Bruker, EDAX or Oxford HDF5 file holds (orientation, "
                                   "phase_id, quality maps).", flags=("--orientations/--no-orientations",))
    eds: bool = opt(True, "Read the EDS element maps an Oxford .h5oina holds (`eds=False`: do not).",
                    flags=("--eds/--no-elements",))
    pc: Sequence[float] | str | None = opt(None, "The detector's projection centre X,Y,Z (Bruker), kept with the "
                                                 "patterns for every command that reads angles or indexes "
                                                 "(default: the file's, where it has one).", cli_type=Optional[str])
    sample_tilt: float | None = opt(None, "Sample tilt (degrees) kept with the projection centre (default: the "
                                          "file's, else 70).", flags=("--tilt",))
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))

    def check(self) -> None:
        """The ranges declared on the fields, before anything is read."""
        check_declared(self)

    def read_options(self) -> dict[str, Any]:
        """What :func:`~vaearr.io.ebsd.read_ebsd` takes of them (the image-set options only where given: other
        layouts refuse them)."""
        given = {k: v for k, v in (("coords_order", self.coords_order), ("coords_units", self.coords_units))
                 if v is not None}
        return {"dataset": self.dataset, "x_dataset": self.x_dataset, "y_dataset": self.y_dataset,
                "scan_shape": self.scan_shape, "step": self.step, "crop": self.crop, "binning": self.binning, **given}


#: The store argument every ingest command takes (its old spellings: ``--store``, ``-s``).
STORE_HELP = "Store to write (a .zarr directory, or s3://bucket/path.zarr)."


def library_keywords(options: Any, *, skip: Sequence[str] = ("src", "store")) -> dict[str, Any]:
    """The fields of ``options`` (an ingest's options dataclass) as the keywords of its reader (but ``skip``)."""
    return {f.name: getattr(options, f.name) for f in fields(options) if f.name not in skip}


@dataclass(frozen=True, kw_only=True)
class IngestImagesOptions:
    """Everything ``vaearr ingest images``, the ``ingest-images`` flow and ``vaearr.ingest(kind="images")`` take
    (:func:`~vaearr.io.images.ingest_images`)."""

    src: Path = opt(help="Folder of PNG/JPG/TIFF images; sub-folder names are labels.", flags=())
    store: str = opt(help=STORE_HELP, flags=(), deprecated=("--store", "-s"))
    size: int = opt(256, "Resize to size×size.", min=1)
    mode: str = opt("auto", "auto, L (gray) or RGB.")
    skip_bad: bool = opt(False, "Skip and count files that are not images.", flags=("--skip-bad",))
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))


@dataclass(frozen=True, kw_only=True)
class IngestIdxOptions:
    """Everything ``vaearr ingest idx``, the ``ingest-idx`` flow and ``vaearr.ingest(kind="idx")`` take
    (:func:`~vaearr.io.idx.ingest_idx`)."""

    src: Path = opt(help="IDX images file (MNIST layout, .gz or not).", flags=())
    store: str = opt(help=STORE_HELP, flags=(), deprecated=("--store", "-s"))
    labels: Path | None = opt(None, "IDX labels file.")
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))


def _volume_shape(text: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"64x64x64"`` → ``(64, 64, 64)`` (a Python caller's triple passes as it is)."""
    return parse_shape(text, 3, "`shape`") if isinstance(text, str) or text is None else tuple(text)


@dataclass(frozen=True, kw_only=True)
class IngestNiftiOptions:
    """Everything ``vaearr ingest nifti``, the ``ingest-nifti`` flow and ``vaearr.ingest(kind="nifti")`` take
    (:func:`~vaearr.io.nifti.ingest_nifti`)."""

    src: list[Path] = opt(help="NIfTI files, one folder, or one CSV with subject,path.", flags=())
    store: str = opt(help=STORE_HELP, flags=(), deprecated=("--store", "-s"))
    shape: tuple[int, int, int] | None = opt(None, "Common shape ZxYxX (default: the first volume's).",
                                             cli_type=Optional[str], parse=_volume_shape)
    method: str = opt("crop", "crop (centre crop/pad) or resample.")
    volume: int | None = opt(None, "Volume to take from 4D files.")
    subjects: Path | None = opt(None, "Subjects CSV (column subject + others) with the label column.")
    label_column: str | None = opt(None, "Column of the subjects CSV carried in as the label(subject) coord, e.g. "
                                         "diagnosis.")
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))


@dataclass(frozen=True, kw_only=True)
class IngestOrientationsOptions:
    """Everything ``vaearr ingest orientations``, the ``ingest-orientations`` flow and
    ``vaearr.ingest(kind="orientations")`` take (:func:`~vaearr.io.orientations.ingest_orientations`; ``maps``,
    ``grain_angle`` and ``direction``: :func:`~vaearr.maps.indexing.orientations.ingest_orientation_map`'s maps)."""

    src: Path = opt(help="Orientation map: EDAX/TSL .ang, Oxford .ctf, orix HDF5 or an h5ebsd crystal map orix reads.",
                    flags=())
    store: str | None = opt(None, "Store to add to, aligned to its y/x grid by coordinate (default: a new "
                                  "stores/<file name>.zarr).", flags=(), deprecated=("--store", "-s"))
    name: str = opt("orientation", "Name of the orientation variable (and prefix of its maps).")
    maps: bool = opt(True, "Also write NAME_ipf, _kam, _grod, _grains, _grain_boundaries.",
                     flags=("--maps/--no-maps",))
    grain_angle: float = opt(5.0, "Misorientation (degrees) between grains; also the largest neighbour angle KAM "
                                  "averages.")
    direction: str = opt("z", "Sample direction of the IPF colours: x, y or z.")
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))

    def target(self) -> str:
        """The store: the one given, else ``stores/<file name>.zarr``."""
        return self.store if self.store is not None else str(Path("stores") / f"{Path(self.src).stem}.zarr")


@dataclass(frozen=True, kw_only=True)
class IngestTablesOptions:
    """Everything ``vaearr ingest tables``, the ``ingest-tables`` flow and :func:`vaearr.ingest_tables` take
    (:func:`~vaearr.io.tables.ingest_tables`; ``composite``, ``composite_rgb`` and ``composite_mask``: the element
    composite written in the same transaction, :func:`vaearr.interface.table_composite`)."""

    store: str = opt(help="Existing store whose scan grid the tables are aligned to.", flags=())
    bandcontrast: Path | None = opt(None, "CSV x,y,bandcontrast.")
    elements: Path | None = opt(None, "CSV x,y,<El1>,<El2>,…")
    phase: Path | None = opt(None, "CSV x,y,phase (or x_indice,y_indice,phase_id).")
    pca_weights: Path | None = opt(None, "CSV x,y,PCA_1,PCA_2,… → pca_weights.")
    cnmf_weights: Path | None = opt(None, "CSV x,y,cNMF_1,cNMF_2,… → cnmf_weights.")
    xy_units: str | None = opt(None, "What x/y columns hold: auto (index headers such as x_indice are scan indices, "
                                     "others µm), index (index × the store's step) or um.")
    composite: str | None = opt(None, "Write 'composite': weighted sum of min–max normalised element maps, e.g. "
                                      "Ni=1,Fe=0.5 ('all': equal weights). For 'vaearr rank --against composite'.")
    composite_rgb: str | None = opt(None, "Write 'composite_rgb' of 1–3 elements as R,G,B (e.g. Ni,Fe,Cr) and "
                                          "'composite' = its luminance.")
    composite_mask: str | None = opt(None, "Mask whose pixels set each element's normalisation (default: all "
                                           "pixels).")
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))

    def check(self) -> None:
        """The ranges declared on the fields, and ``composite_mask`` only with a composite, before anything is read."""
        check_declared(self)
        if self.composite_mask is not None and self.composite is None and self.composite_rgb is None:
            raise InputError(None, "`composite_mask` needs `composite` or `composite_rgb`")

    def tables(self) -> dict[str, Any]:
        """The keywords of :func:`~vaearr.io.tables.ingest_tables` (but ``store`` and ``derive``)."""
        return library_keywords(self, skip=("store", "composite", "composite_rgb", "composite_mask"))


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """``"latent, clusters"`` → ``["latent", "clusters"]`` (a Python caller's list passes as it is)."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """Everything ``vaearr export``, the ``export`` flow and :func:`vaearr.export` take
    (:func:`~vaearr.io.export.export_store`: orientations to ``.ang``/``.ctf``/orix HDF5, or maps to a ``.csv``)."""

    store: str = opt(help="Store to export from.", flags=())
    out: Path = opt(help="Output file: map.ang (EDAX OIM, MTEX), map.ctf (AZtec, MTEX), map.h5 (orix HDF5) or "
                         "results.csv (with `variables`).", deprecated=("--to",))
    var: str = opt("orientation", "Orientation variable (y, x, quaternion) for .ang/.ctf/.h5.",
                   deprecated=("--orientation",))
    phase_from: str | None = opt(None, "A label map (segmentation, clusters) written as the phase id.")
    grain_from: str | None = opt(None, "A label map written as a grain id (.ang: an extra column; .h5: a property).")
    variables: Sequence[str] | None = opt(None, "For .csv: comma-separated (y, x) or (y, x, k) variables, e.g. "
                                                "latent,pca_weights,clusters.", flags=("--vars",),
                                          cli_type=Optional[str], parse=_names)
    mask: str | None = opt(None, "For .csv: leave out the rows outside this boolean map (default: every pixel, NaN "
                                 "outside roi).")
    overwrite: bool = opt(False, "Replace the output file if it exists.", flags=("--overwrite",))

    def table(self) -> bool:
        """Whether it writes a CSV table of maps (``out`` a ``.csv``, or ``variables`` given), else orientations."""
        return Path(self.out).suffix.lower() == ".csv" or self.variables is not None
