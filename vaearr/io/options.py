"""The options of the ingest commands, declared once (:mod:`vaearr.options`): the CLI, the flow and the Python step derive theirs from these.

Only :mod:`vaearr.options` is imported here (no h5py, kikuchipy or zarr), so the ``vaearr`` command builds its
parameters in a moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

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
