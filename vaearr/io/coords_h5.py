"""HDF5 image sets written by EBSD training scripts: ``/images (N, 1, H, W)`` + ``/coords (N, 2)``.

The layout the microstructural-segmentation scripts exchange (their ``KikuchiH5Dataset``):
``/images`` holds one (processed) pattern per row, ``N×1×H×W`` or ``N×H×W``, and ``/coords``
one ``[x, y]`` pair per row — integer scan indices (column, row) in those scripts. Rows come in
any order and may cover only part of the scan; :func:`vaearr.io.grid.infer_grid` finds the
square grid they sit on.

What the coordinates mean is decided once and said (``coords_note`` attr, printed by
``vaearr ingest ebsd``):

* order: ``xy`` (column 0 = x, column 1 = y, as the scripts write them) unless ``yx`` is given;
* units: ``auto`` takes whole numbers as scan **indices** (coordinate = index × step, the step
  given or 1 µm, so with the default a store's ``x``/``y`` equal the scripts' indices) and
  anything else as µm (or the unit in the dataset's ``units`` attr); ``index`` or ``um`` forces
  one reading.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import h5py
import numpy as np
import xarray as xr

from vaearr.errors import InputError, VaearrWarning
from vaearr.io.grid import infer_grid
from vaearr.io.hdf5 import coord_units_factor, lazy_patterns, open_h5
from vaearr.io.limits import check_dataset
from vaearr.io.patterns import (
    DEFAULT_STEP,
    PatternOptions,
    common_attrs,
    crop_box,
    pair,
    patterns_array,
)

#: Dataset names of the layout (at the file's root).
IMAGES, COORDS = "images", "coords"
COORDS_ORDERS = ("xy", "yx")
COORDS_UNITS = ("auto", "index", "um")


def is_coords_layout(src: str | os.PathLike) -> bool:
    """Whether ``src`` is an HDF5 file with root datasets ``/images`` and ``/coords``."""
    path = os.fspath(src)
    try:
        if not os.path.isfile(path) or not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            return isinstance(f.get(IMAGES), h5py.Dataset) and isinstance(f.get(COORDS), h5py.Dataset)
    except OSError:  # a truncated file: the reader that opens it says so
        return False


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) or "scalar"


def _check_layout(path: str, images: Any, coords: Any) -> bool:
    """Check the two datasets; return whether ``/images`` has the channel axis (N×1×H×W)."""
    shape = tuple(images.shape)
    if images.dtype.kind not in "uif":
        raise InputError(path, f"'/{IMAGES}' holds {images.dtype}, not numbers")
    if len(shape) == 4 and shape[1] != 1:
        raise InputError(path, f"'/{IMAGES}' is {_shape_text(shape)}: {shape[1]} channels; expected one pattern "
                               "per row, N×1×H×W or N×H×W")
    if len(shape) not in (3, 4) or min(shape) == 0:
        raise InputError(path, f"'/{IMAGES}' has shape {_shape_text(shape)}; expected N×1×H×W or N×H×W")
    n = shape[0]
    cshape = tuple(coords.shape)
    if len(cshape) != 2 or cshape[1] != 2:
        raise InputError(path, f"'/{COORDS}' has shape {_shape_text(cshape)}; expected N×2 ({n}×2), "
                               "one [x, y] pair per image")
    if cshape[0] != n:
        raise InputError(path, f"'/{COORDS}' has {cshape[0]} rows but '/{IMAGES}' holds {n} images")
    if coords.dtype.kind not in "uif":
        raise InputError(path, f"'/{COORDS}' holds {coords.dtype}, not numbers")
    return len(shape) == 4


def read_coords_hdf5(
    src: str | os.PathLike,
    *,
    options: PatternOptions,
    coords_order: str | None = None,
    coords_units: str | None = None,
) -> xr.DataArray:
    """Patterns of an ``/images`` + ``/coords`` HDF5 file, lazily, as ``patterns(y, x, py, px)``.

    Parameters
    ----------
    src
        The HDF5 file.
    options
        Step (µm per index, for index coordinates), crop and binning (``scan_shape`` is not
        used: the grid comes from ``/coords``).
    coords_order
        ``"xy"`` (default: column 0 is x, as the scripts write it) or ``"yx"``.
    coords_units
        ``"auto"`` (default: whole numbers are indices, others µm), ``"index"`` or ``"um"``.

    Returns
    -------
    xarray.DataArray
        As :func:`vaearr.io.ebsd.read_ebsd`; attrs ``coords_order``, ``coords_units`` and
        ``coords_note`` (the sentence saying both).

    Raises
    ------
    InputError
        ``/coords`` not N×2 or not one row per image, ``/images`` not N×1×H×W / N×H×W,
        non-numeric or non-finite coordinates, a duplicated coordinate, coordinates that are
        not on a square grid, or an unknown ``coords_order`` / ``coords_units``.
    """
    path = os.fspath(src)
    order = (coords_order or "xy").lower()
    units = (coords_units or "auto").lower().replace("µ", "u").replace("μ", "u")
    if order not in COORDS_ORDERS:
        raise InputError(None, f"`coords_order` must be xy or yx, got '{coords_order}'")
    if units not in COORDS_UNITS:
        raise InputError(None, f"`coords_units` must be auto, index or um, got '{coords_units}'")
    if options.scan_shape is not None:
        raise InputError(path, f"has /{IMAGES} and /{COORDS}: the grid comes from /{COORDS}, leave out `scan_shape`")
    with open_h5(path) as f:
        images, coords = f[IMAGES], f[COORDS]
        channel = _check_layout(path, images, coords)
        name, dtype, shape = images.name, images.dtype, tuple(images.shape)
        check_dataset(path, images, whole=False)
        check_dataset(path, coords, itemsize=8)  # read whole, as float64
        xy = np.asarray(coords[()], dtype=np.float64)
        factor = coord_units_factor(path, coords) if units != "index" else 1.0
        has_unit_attr = any(k in coords.attrs for k in ("units", "unit", "Units", "Unit"))
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        raise InputError(path, f"'/{COORDS}' has missing or non-finite values in {int(bad.sum())} rows "
                               f"(first: row {int(np.flatnonzero(bad)[0])})")
    x, y = (xy[:, 0], xy[:, 1]) if order == "xy" else (xy[:, 1], xy[:, 0])
    whole = bool(np.all(xy == np.round(xy)))
    if units == "auto":
        units = "index" if whole and not has_unit_attr else "um"
    if units == "index" and not whole:
        first = int(np.flatnonzero((xy != np.round(xy)).any(axis=1))[0])
        raise InputError(path, f"'/{COORDS}' row {first} is {xy[first].tolist()}: not whole numbers, so not "
                               "scan indices (leave out `coords_units='index'` to read them as µm)")
    attrs: dict[str, Any] = {"format": f"HDF5 image set (/{IMAGES} + /{COORDS})", "vendor": "unknown",
                             "dataset": name, "coords_dataset": f"/{COORDS}", "coords_order": order,
                             "coords_units": "index" if units == "index" else "µm"}
    if units == "index":
        sy, sx = pair(options.step, "step") if options.step is not None else (DEFAULT_STEP, DEFAULT_STEP)
        attrs["step_source"] = "given" if options.step is not None else f"none in the file: default {DEFAULT_STEP:g} µm"
        how = (f"whole numbers → scan indices × step {sx:g} µm"
               + ("" if options.step is not None else " (the default; give `step` for the real one)"))
    else:
        if options.step is not None:
            warnings.warn(f"{path}: step ignored, coordinates come from /{COORDS} in µm", VaearrWarning, stacklevel=3)
        x, y = x * factor, y * factor
        attrs["step_source"] = f"/{COORDS}"
        how = "µm" + ("" if whole else " (not whole numbers, so not indices)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an assembled grid is refused below, not announced
        grid = infer_grid(x, y, path=path)
    if grid.kind != "square":
        raise InputError(path, f"'/{COORDS}' do not lie on a square grid (the points look {grid.kind}); "
                               "expected one [x, y] scan position per image on a regular scan")
    gy, gx = grid.y, grid.x
    if units == "index":  # the grid was found in indices: scale it by the step, exactly
        ky = float(np.median(np.diff(gy))) if gy.size > 1 else 1.0
        kx = float(np.median(np.diff(gx))) if gx.size > 1 else 1.0
        gy, gx, sy, sx = gy * sy, gx * sx, ky * sy, kx * sx
    else:
        sx = float(np.median(np.diff(gx))) if gx.size > 1 else (float(np.median(np.diff(gy))) if gy.size > 1 else DEFAULT_STEP)
        sy = float(np.median(np.diff(gy))) if gy.size > 1 else sx
    if grid.missing:
        attrs["missing_patterns"] = grid.missing
        attrs["missing_fill"] = 0
    attrs["coords_note"] = (
        f"{path}: /{COORDS} read as [{', '.join(order)}] (column 0 = {order[0]}), {how}; "
        f"grid {len(gy)}×{len(gx)}" + (f", {grid.missing} nodes without an image (zeros)" if grid.missing else "")
    )
    box = crop_box(path, shape[-2:], options.crop, options.binning)
    data = lazy_patterns(path, name, index=grid.index, box=box, binning=options.binning, dtype=dtype,
                         grid_shape=(len(gy), len(gx)), pattern_shape=shape[-2:], channel=channel)
    attrs.update(common_attrs(path, shape[-2:], box, options.binning, (sy, sx), data.shape[:2], "square"))
    return patterns_array(data, gy, gx, attrs)
