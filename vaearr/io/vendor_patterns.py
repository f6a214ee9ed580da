"""The kikuchipy route to EBSD patterns: every vendor format :func:`kikuchipy.load` reads, lazily.

kikuchipy, EDAX and Bruker h5ebsd, Oxford H5OINA and ``.ebsp``, NORDIF ``.dat``, EDAX
``.up1``/``.up2``...: coordinates come from the signal's navigation axes, detector geometry
from its :class:`~kikuchipy.detectors.EBSDDetector`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

import dask.array as da
import h5py
import numpy as np
import xarray as xr

from vaearr.errors import InputError, reason, require, unreadable, what_file
from vaearr.io.hdf5 import describe_candidates, open_h5
from vaearr.io.patterns import (
    DEFAULT_STEP,
    TO_UM,
    PatternOptions,
    common_attrs,
    crop_bin,
    crop_box,
    pair,
    patterns_array,
)
from vaearr.store import default_chunks
from vaearr.numba_cache import guard_gufunc_cache


def _kikuchipy_plugin(path: str) -> dict:
    """The kikuchipy reader plugin kikuchipy picks for ``path`` (its private logic, best effort)."""
    try:
        guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
        from kikuchipy.io._io import PLUGINS, _plugin_from_footprints  # noqa: PLC2701 - pinned with the ebsd extra (<0.14)

        ext = os.path.splitext(path)[1][1:].lower()
        readers = [p for p in PLUGINS if ext in p["file_extensions"]]
        if len(readers) > 1 and h5py.is_hdf5(path):
            return _plugin_from_footprints(path, plugins=readers) or {}
        return readers[0] if len(readers) == 1 else {}
    except Exception:  # noqa: BLE001 - only used to label the store
        return {}


#: What ``vaearr ingest ebsd`` reads through kikuchipy, as its errors say it.
KIKUCHIPY_PATTERNS = "EBSD patterns in a format kikuchipy reads (h5ebsd .h5, .h5oina, .up1/.up2, .ebsp, NORDIF .dat)"
#: The suffixes of kikuchipy's pattern formats that are not HDF5 (an HDF5 file is opened, and said, first).
KIKUCHIPY_SUFFIXES = (".up1", ".up2", ".ebsp", ".dat")


def _not_kikuchipy(path: str, exc: BaseException) -> InputError:
    """The line for a file kikuchipy's readers refused: what it is, in vaearr's words (:func:`~vaearr.io.sniff.unreadable`)."""
    if not h5py.is_hdf5(path):
        return unreadable(path, KIKUCHIPY_PATTERNS, exc, suffixes=KIKUCHIPY_SUFFIXES,
                          then="a plain HDF5 file of patterns needs `dataset`")
    msg = "an HDF5 file kikuchipy does not read as EBSD patterns"
    why = reason(exc, path)
    msg += f" ({why}); " if why else "; "
    msg += "for a plain HDF5 name the dataset with `dataset`"
    with contextlib.suppress(OSError), h5py.File(path, "r") as f:
        msg += f" ({describe_candidates(f)})"
    return InputError(path, msg)


def _nav_axis(axis: Any) -> tuple[float, float, bool]:
    """(offset, scale) in µm of a navigation axis, and whether its unit is a length."""
    units = str(getattr(axis, "units", "") or "").strip()
    factor = TO_UM.get(units)
    if factor is None:
        return 0.0, 1.0, False
    return float(axis.offset) * factor, float(axis.scale) * factor, True


def _json_number(v: Any) -> Any:
    arr = np.asarray(v)
    if arr.dtype.kind in "fiu":
        return arr.tolist()
    return str(v)


def _detector_attrs(signal: Any) -> dict[str, Any]:
    det = getattr(signal, "detector", None)
    if det is None:
        return {}
    out: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        pc = np.asarray(det.pc, dtype=float).reshape(-1, 3)
        out["detector_pc"] = pc.mean(axis=0).round(6).tolist()
        if not np.allclose(pc, pc[0]):
            # one PC per pattern: the store keeps the mean, the note says so
            out["detector_pc_note"] = f"mean of {pc.shape[0]} per-pattern projection centres"
        out["detector_pc_convention"] = "bruker"
    for key in ("tilt", "sample_tilt", "azimuthal", "binning", "px_size"):
        with contextlib.suppress(Exception):
            out[f"detector_{key}"] = _json_number(getattr(det, key))
    with contextlib.suppress(Exception):
        out["detector_shape"] = [int(s) for s in det.shape]
    return out


def _load_signal(kp: Any, path: str) -> tuple[Any, list[str]]:
    """kikuchipy's lazy signal of the file (its first scan) and the reader's warnings, each repeated once."""
    if h5py.is_hdf5(path):
        open_h5(path).close()  # a truncated file: say so, not "unknown format"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            signal = kp.load(path, lazy=True)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reader failure means "cannot read this"
            raise _not_kikuchipy(path, exc) from None
    reader_warnings = sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, UserWarning)})
    for msg in reader_warnings:
        warnings.warn(f"{path}: kikuchipy: {msg}", stacklevel=4)
    if isinstance(signal, list):  # several scans in one h5ebsd file: kikuchipy's first, as its load does
        signal = signal[0]
    if "EBSD" not in type(signal).__name__ or "MasterPattern" in type(signal).__name__:
        raise InputError(path, f"kikuchipy reads this as {type(signal).__name__}, not a map of EBSD patterns")
    return signal, reader_warnings


def _grid(axes_yx: list[Any], step: Any) -> tuple[list[float], list[float], str]:
    """Offsets and steps (µm) along y and x, and where the steps came from: given, the file, or the default."""
    offsets, steps, have_units = [0.0, 0.0], [DEFAULT_STEP, DEFAULT_STEP], [False, False]
    for i, axis in enumerate(axes_yx):
        if axis is not None:
            offsets[i], steps[i], have_units[i] = _nav_axis(axis)
    if step is not None:
        steps = list(pair(step, "step"))
        step_source = "given"
    elif all(have_units[i] for i, a in enumerate(axes_yx) if a is not None) and any(a is not None for a in axes_yx):
        if axes_yx[0] is None:  # one line of patterns: rows share the column step
            steps[0] = steps[1]
        step_source = "file"
    else:
        steps = [DEFAULT_STEP, DEFAULT_STEP]
        step_source = f"none in the file: default {DEFAULT_STEP:g} µm"
    if step_source != "file":
        offsets = [0.0, 0.0]
    return offsets, steps, step_source


def read_vendor(
    src: str | os.PathLike,
    *,
    options: PatternOptions,
) -> xr.DataArray:
    """Patterns of a file kikuchipy reads, lazily (see :func:`vaearr.io.ebsd.read_ebsd`)."""
    scan_shape, step, crop, binning = options.scan_shape, options.step, options.crop, options.binning
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    path = os.fspath(src)
    if not os.path.isfile(path):
        raise InputError(path, "no such file" if not os.path.exists(path) else f"{what_file(path)}, not a file of "
                                                                               "EBSD patterns")

    signal, reader_warnings = _load_signal(kp, path)

    data = signal.data
    if not hasattr(data, "dask"):
        data = da.from_array(data)
    nav = list(signal.axes_manager.navigation_axes)  # hyperspy order: x first, then y
    pattern_shape = tuple(int(s) for s in data.shape[-2:])
    box = crop_box(path, pattern_shape, crop, binning)

    if data.ndim == 2:  # a single pattern: a 1×1 map
        data = data[None, None]
        axes_yx: list[Any] = [None, None]
    elif data.ndim == 3:
        axes_yx = [None, nav[0]]
        n = data.shape[0]
        if scan_shape is not None:
            ny, nx = (int(s) for s in scan_shape)
            if ny * nx != n:
                raise InputError(path, f"holds {n} patterns, not {ny}×{nx} = {ny * nx} (scan shape given)")
            data = data.reshape(ny, nx, *pattern_shape)
            axes_yx = [None, None]  # a line's axis says nothing about rows
        else:
            data = data[None]
    elif data.ndim == 4:
        if scan_shape is not None and tuple(scan_shape) != tuple(data.shape[:2]):
            raise InputError(path, f"is a {data.shape[0]}×{data.shape[1]} scan, not {scan_shape[0]}×{scan_shape[1]} as given")
        axes_yx = [nav[1], nav[0]]
    else:
        raise InputError(path, f"kikuchipy reads {data.ndim}-D data; expected a map of 2-D patterns")

    ny, nx = int(data.shape[0]), int(data.shape[1])
    offsets, steps, step_source = _grid(axes_yx, step)
    # a negative scale means descending coordinates: flip so the store's stay ascending
    for i in (0, 1):
        if steps[i] < 0:
            data = data[::-1] if i == 0 else data[:, ::-1]
            offsets[i] += steps[i] * (data.shape[i] - 1)
            steps[i] = -steps[i]
    gy = offsets[0] + steps[0] * np.arange(ny)
    gx = offsets[1] + steps[1] * np.arange(nx)

    out_shape = (ny, nx, box[2] // binning, box[3] // binning)
    chunks = default_chunks(out_shape, data.dtype.itemsize)
    # whole patterns per chunk, the store's chunks along y/x, then crop and bin per block
    data = data.rechunk((chunks[0], chunks[1], -1, -1))
    if box[2:] != pattern_shape or binning != 1:
        data = data.map_blocks(
            crop_bin, box, binning, chunks=(data.chunks[0], data.chunks[1], (out_shape[2],), (out_shape[3],)),
            dtype=data.dtype, meta=np.empty((0, 0, 0, 0), dtype=data.dtype),
        )

    plugin = _kikuchipy_plugin(path)
    attrs: dict[str, Any] = {
        "format": str(plugin.get("name", "kikuchipy")),
        "vendor": str(plugin.get("manufacturer") or "unknown"),
        "reader": f"kikuchipy {kp.__version__}",
        "step_source": step_source,
    }
    if reader_warnings:
        attrs["reader_warnings"] = reader_warnings
    attrs.update(_detector_attrs(signal))
    attrs.update(common_attrs(path, pattern_shape, box, binning, (steps[0], steps[1]), (ny, nx), "square"))
    return patterns_array(data, gy, gx, attrs)
