"""``vaearr index``: crystal orientations from the store's patterns (PyEBSDIndex Hough, kikuchipy dictionary)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Overwrite, app, store_location


@app.command()
def index(
    store: Annotated[Path, typer.Argument(parser=store_location, help="EBSD map store with patterns(y, x, py, px).")],
    pc: Annotated[str, typer.Option(help="Projection centre X,Y,Z (kikuchipy's default Bruker convention unless --pc-convention).")],
    tilt: Annotated[float, typer.Option(help="Sample tilt (degrees), e.g. 70.")],
    phase: Annotated[Optional[str], typer.Option(help="Phase by kikuchipy master-pattern name: ni (shipped, offline), al, si, austenite, ferrite, … (downloaded ones).")] = None,
    master_pattern: Annotated[Optional[Path], typer.Option(help="An EMsoft master-pattern file instead of --phase.")] = None,
    method: Annotated[str, typer.Option(help="hough (PyEBSDIndex) or dictionary (kikuchipy).")] = "hough",
    refine: Annotated[bool, typer.Option("--refine", help="Refine every solution against the master pattern (kikuchipy).")] = False,
    pc_convention: Annotated[str, typer.Option(help="bruker, tsl, oxford or emsoft (as kikuchipy's EBSDDetector takes them).")] = "bruker",
    px_size: Annotated[Optional[float], typer.Option(help="Detector pixel size (µm); needed with --pc-convention emsoft.")] = None,
    detector_tilt: Annotated[float, typer.Option(help="Detector tilt (degrees).")] = 0.0,
    resolution: Annotated[float, typer.Option(help="Dictionary: orientation sampling (degrees).")] = 2.0,
    energy: Annotated[Optional[float], typer.Option(help="Master-pattern energy (kV); default its highest.")] = None,
    mask: Annotated[Optional[str], typer.Option(help="Mask variable (default: roi when the store has one, else every pixel; 'none': every pixel).")] = None,
    name: Annotated[str, typer.Option(help="Orientation variable; quality maps are {name}_score, {name}_bands.")] = "orientation",
    overwrite: Overwrite = False,
) -> None:
    """Index the patterns: write {name}(y, x, quaternion) (orix convention), phase_id and the quality maps."""
    from vaearr.maps.indexing import index_store

    chosen = "auto" if mask is None else (None if mask.lower() == "none" else mask)
    result = index_store(
        store, phase=phase, master_pattern=master_pattern, pc=pc, pc_convention=pc_convention.lower(),
        px_size=px_size, sample_tilt=tilt, detector_tilt=detector_tilt, method=method.lower(), refine=refine,
        resolution=resolution, energy=energy, mask=chosen, name=name, overwrite=overwrite,
    )
    typer.echo(result.summary())
