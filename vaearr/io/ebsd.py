"""Read EBSD patterns (every kikuchipy format, or a plain HDF5 dataset) into a map store.

Three routes lead to one lazy ``patterns(y, x, py, px)`` :class:`xarray.DataArray`:

* **plain HDF5** (``dataset`` given): an ``N×H×W`` dataset with per-pattern ``x``/``y``
  datasets (any order; the grid is found by :func:`vaearr.io.grid.infer_grid`), an
  ``N×H×W`` dataset in row-major order with a ``scan_shape``, or a ``Y×X×H×W`` dataset.
  Each dask task reads a block of a few store chunks (~28 MB) as whole HDF5 chunks; gzip
  chunks are inflated outside h5py so that both cores work (see :class:`_DirectChunks`).
  Memory holds a few blocks whatever the file's size;
* **HDF5 image set** (``/images`` + ``/coords``, the EBSD training scripts' exchange format;
  :mod:`vaearr.io.coords_h5`), recognised by its two datasets;
* **kikuchipy** (``dataset`` left out): whatever :func:`kikuchipy.load` reads — kikuchipy,
  EDAX and Bruker h5ebsd, Oxford H5OINA and ``.ebsp``, NORDIF ``.dat``, EDAX ``.up1``/``.up2``
  ... — lazily; coordinates come from the signal's navigation axes, detector geometry from
  its :class:`~kikuchipy.detectors.EBSDDetector`.

All routes can centre-crop and bin the patterns. Binning takes the **mean** of each
``b×b`` block, rounded to the nearest integer (ties to even) for integer patterns, so the
recorded dtype is kept (uint8 stays uint8 and cannot saturate, as a sum would).

:func:`ingest_ebsd` writes the patterns, plus band contrast / element / phase CSVs aligned by
coordinate, into a store in one transaction.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import InputError
from vaearr.io.detector import detector_attrs
from vaearr.io.options import IngestEbsdOptions
from vaearr.options import check_pc, parse_pc
from vaearr.io.coords_h5 import COORDS, IMAGES, is_coords_layout, read_coords_hdf5
from vaearr.io.hdf5 import read_plain_hdf5
from vaearr.io.patterns import PatternOptions
from vaearr.io.tables import read_table
from vaearr.io.vendor_patterns import read_vendor
from vaearr.io.vendor_maps import read_vendor_maps, require_patterns
from vaearr.io.write import write_ingested


def read_ebsd(
    src: str | os.PathLike,
    *,
    dataset: str | None = None,
    x_dataset: str = "x",
    y_dataset: str = "y",
    scan_shape: tuple[int, int] | None = None,
    step: float | tuple[float, float] | None = None,
    crop: int | tuple[int, int] | None = None,
    binning: int = 1,
    coords_order: str | None = None,
    coords_units: str | None = None,
) -> xr.DataArray:
    """Open EBSD patterns lazily as ``patterns(y, x, py, px)``; nothing is read but metadata.

    Parameters
    ----------
    src
        A file kikuchipy reads (h5ebsd of kikuchipy/EDAX/Bruker, H5OINA, ``.ebsp``, NORDIF
        ``.dat``, EDAX ``.up1``/``.up2``...) or, with ``dataset``, any HDF5 file.
    dataset
        HDF5 path of the patterns in a plain HDF5 file: ``N×H×W`` (with ``x``/``y`` datasets,
        or ``scan_shape``) or ``Y×X×H×W``. Left out, the file goes to :func:`kikuchipy.load`.
    x_dataset, y_dataset
        Per-pattern coordinates (µm, or the length unit in their ``units`` attr) for ``N×H×W``;
        looked up from the root, then beside ``dataset``. Points may come in any order;
        hexagonal or irregular grids are assembled onto a square grid (with a warning).
    scan_shape
        ``(rows, cols)`` of an ``N×H×W`` dataset in row-major order (x/y are then not read),
        or of a file kikuchipy reads as one line of patterns (e.g. EDAX ``.up1``).
    step
        Scan step in µm, one number or ``(y, x)``: used for layouts without coordinates and,
        when given, instead of a kikuchipy file's step. Default: the file's, else 1 µm (the
        ``step_source`` attr says which).
    crop
        Centre-crop patterns to this size (``n`` or ``(rows, cols)``) before binning.
    binning
        Bin patterns by this integer factor: the mean of each block, rounded, in the recorded
        dtype. The (cropped) size must be divisible by it.
    coords_order, coords_units
        For an HDF5 image set with ``/images`` (``N×1×H×W`` or ``N×H×W``) and ``/coords``
        (``N×2``), the layout of EBSD training scripts, recognised without ``dataset``: the
        column order of ``/coords`` (``"xy"``, the default, or ``"yx"``) and their units
        (``"auto"``: whole numbers are scan indices × ``step``, others µm; ``"index"``; ``"um"``).
        See :mod:`vaearr.io.coords_h5`.

    Returns
    -------
    xarray.DataArray
        Dask-backed, chunked like the store (:func:`vaearr.store.default_chunks`); coords
        ``y``, ``x`` in µm, ascending; attrs with the scan, detector and options (JSON-able).

    Raises
    ------
    InputError
        Missing, truncated or non-HDF5 file; no such dataset (the message lists datasets that
        look like patterns); wrong shapes; a file kikuchipy cannot read.

    Examples
    --------
    >>> import kikuchipy as kp, os
    >>> path = os.path.join(os.path.dirname(kp.__file__), "data", "kikuchipy_h5ebsd", "patterns.h5")
    >>> p = read_ebsd(path, crop=40, binning=2)
    >>> p.dims, p.shape, p.x.values.tolist()
    (('y', 'x', 'py', 'px'), (3, 3, 20, 20), [0.0, 1.5, 3.0])
    """
    options = PatternOptions(scan_shape=scan_shape, step=step, crop=crop, binning=binning)
    if (dataset is None or dataset.strip("/") == IMAGES) and is_coords_layout(src):
        return read_coords_hdf5(src, options=options, coords_order=coords_order, coords_units=coords_units)
    if coords_order is not None or coords_units is not None:
        raise InputError(src, f"`coords_order`/`coords_units` apply to HDF5 files "
                              f"with /{IMAGES} and /{COORDS} datasets only")
    if dataset is not None:
        return read_plain_hdf5(src, dataset, x_dataset=x_dataset, y_dataset=y_dataset, options=options)
    return read_vendor(src, options=options)


def _refuse_non_finite(block: np.ndarray, *, src: str, block_info: dict | None = None) -> np.ndarray:
    bad = ~np.isfinite(block).all(axis=tuple(range(2, block.ndim)))
    if bad.any():
        iy, ix = (int(i[0]) for i in np.nonzero(bad))
        y0, x0 = ((block_info or {}).get(0) or {}).get("array-location", [(0, 0), (0, 0)])[:2]
        raise InputError(src, f"holds NaN or infinite values in {int(bad.sum())} patterns of this block (the first at "
                              f"scan row {y0[0] + iy}, column {x0[0] + ix}); vaearr takes finite patterns only: "
                              f"nothing was written")
    return block


def finite_patterns(patterns: xr.DataArray, src: str | os.PathLike) -> xr.DataArray:
    """``patterns`` that refuse, while they are read into the store, a block holding NaN or infinite values (float
    patterns only: integers are always finite); the write is one transaction, so nothing of them is written."""
    if patterns.dtype.kind not in "fc":
        return patterns
    check = functools.partial(_refuse_non_finite, src=os.fspath(src))
    return patterns.copy(data=patterns.data.map_blocks(check, dtype=patterns.dtype))


def ingest_ebsd(src: str | os.PathLike, store: str | os.PathLike, options: IngestEbsdOptions | None = None, *,
                say: Callable[[str], None] | None = None, progress: bool = False, **kwargs: Any) -> xr.Dataset:
    """Ingest an EBSD map: patterns, what the vendor file holds beside them, and optional CSVs.

    A Bruker, EDAX or Oxford HDF5 file brings its indexing (``orientation``, ``phase_id``, the
    quality maps) and Oxford's its EDS element maps (``elements``) in the same transaction
    (:func:`vaearr.io.vendor_maps.read_vendor_maps`); a CSV given for a variable wins over the
    file's.

    Everything is read and checked (the tables fully, the patterns' metadata) before the one
    :func:`vaearr.store.write_variables` transaction that streams the patterns into the store;
    a read error during that write is reported as :class:`~vaearr.errors.InputError` naming
    ``src``, and leaves an existing store as it was.

    ``options`` (a :class:`~vaearr.io.options.IngestEbsdOptions`), or its fields as keywords: ``bandcontrast``,
    ``elements``, ``phase``, CSV tables with ``x, y`` columns, aligned to the pattern grid by coordinate
    (``bandcontrast(y, x)``, ``elements(element, y, x)``, ``phase(y, x)``); ``orientations``, ``eds``: read the
    file's indexing / its EDS element maps, where it holds them; ``pc``, ``sample_tilt``: the detector's projection
    centre (Bruker ``X,Y,Z``) and the sample tilt (degrees), kept in the patterns' attrs (``pc``, ``pc_source``;
    :mod:`vaearr.io.detector`) for every command that reads degrees or indexes (default: what the file says, a
    vendor file's PC, a plain HDF5's ``pc`` attribute, else none); ``overwrite``: replace variables the store has
    already; and what :func:`read_ebsd` takes (``dataset``, ``scan_shape``, ``step``, ``crop``...). ``say`` is
    called with one line for each thing read (patterns, orientations, elements), as it is read; ``progress``
    shows a progress bar while writing.

    Returns
    -------
    xarray.Dataset
        The store, opened lazily.
    """
    o = options if options is not None else IngestEbsdOptions(src=Path(src), store=os.fspath(store), **kwargs)
    o.check()
    read_kw = o.read_options()
    bandcontrast, elements, phase, orientations, eds = o.bandcontrast, o.elements, o.phase, o.orientations, o.eds
    if o.dataset is None:
        require_patterns(src)
    if o.pc is not None:
        check_pc(parse_pc(o.pc), "bruker", None)  # before any reading
    patterns = finite_patterns(read_ebsd(src, **read_kw), src)
    patterns.attrs.update(detector_attrs(patterns.attrs, o.pc, o.sample_tilt, src))
    grid = patterns.attrs["grid"]
    variables: dict[str, xr.DataArray] = {"patterns": patterns}
    if say:
        say(f"patterns: {patterns.shape[0]} × {patterns.shape[1]} scan of {patterns.shape[2]} × {patterns.shape[3]} px "
            f"{patterns.dtype} ({patterns.attrs.get('format', 'hdf5')})")
    tables = {"bandcontrast": bandcontrast, "elements": elements, "phase": phase}
    found = read_vendor_maps(src, patterns.y.values, patterns.x.values, orientations=orientations,
                             eds=eds and elements is None, say=say) if o.dataset is None else None
    file_vars = {k: v for k, v in (found.variables if found else {}).items() if tables.get(k) is None}
    variables.update(file_vars)
    if any(v is not None for v in tables.values()):
        for kind, table in tables.items():
            if table is not None:
                variables[kind] = read_table(
                    table, kind, grid_x=patterns.x.values, grid_y=patterns.y.values,
                    # an assembled grid's nodes are not where the points were: take the nearest
                    nearest=grid != "square", step=(patterns.attrs["step_y"], patterns.attrs["step_x"]),
                )
    config = {
        "src": os.path.abspath(os.fspath(src)),
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in read_kw.items()},
        **{k: os.path.abspath(os.fspath(v)) for k, v in tables.items() if v is not None},
        "orientations": orientations, "eds": eds, "from_file": sorted(file_vars),
    }
    group_attrs = {
        "grid": grid,
        "step": [patterns.attrs["step_y"], patterns.attrs["step_x"]],
        "step_units": "µm",
        "scan_shape": patterns.attrs["scan_shape"],
        "patterns_source": patterns.attrs["source_file"],
    }
    # each variable names the file it came from
    source = {"patterns": [os.fspath(src)], **{k: [os.fspath(src)] for k in file_vars},
              **{k: [os.fspath(v)] for k, v in tables.items() if v is not None}}
    return write_ingested(store, variables, source=source, config=json.loads(json.dumps(config, default=str)),
                          kind="ebsd-map", group_attrs=group_attrs, overwrite=o.overwrite,
                          progress="ingest ebsd" if progress else False, src=src, what="patterns")
