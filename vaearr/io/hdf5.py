"""The plain-HDF5 route to EBSD patterns: N×H×W with x/y (any order), N×H×W with a scan shape, or Y×X×H×W.

Each dask task reads a block of a few store chunks (~28 MB) as whole HDF5 chunks; gzip
chunks are inflated outside h5py so that both cores work (:mod:`vaearr.io.h5_chunks`).
Memory holds a few blocks whatever the file's size.
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
from vaearr.io.limits import check_dataset
from vaearr.io.patterns import (
    DEFAULT_STEP,
    TO_UM,
    PatternOptions,
    common_attrs,
    crop_box,
    pair,
    patterns_array,
)
# moved to vaearr.io.h5_chunks; importable from here too
from vaearr.io.h5_chunks import (  # noqa: F401
    open_h5, lazy_patterns,
)

#: Length units the navigation axes of a kikuchipy signal may carry, as a factor to µm.


def pattern_candidates(f: Any, limit: int = 10) -> list[str]:
    """Datasets of an open HDF5 file that look like patterns (3- or 4-D, numeric)."""

    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        # 3-D with a short last axis is an RGB(A) image, not a stack of patterns
        if (isinstance(obj, h5py.Dataset) and obj.ndim in (3, 4) and obj.dtype.kind in "uif"
                and obj.shape[-1] > 4):
            found.append(f"/{name} {'×'.join(map(str, obj.shape))} {obj.dtype}")

    f.visititems(visit)
    return found[:limit]


def describe_candidates(f: Any) -> str:
    cands = pattern_candidates(f)
    return "datasets that look like patterns: " + ", ".join(cands) if cands else "no dataset here looks like patterns (3-D or 4-D numbers)"


def _find_dataset(f: Any, name: str, near: str) -> Any | None:
    """Dataset ``name`` from the root, or else beside the dataset ``near``."""

    for path in (name, f"{os.path.dirname(near.rstrip('/'))}/{name}"):
        obj = f.get(path)
        if isinstance(obj, h5py.Dataset):
            return obj
    return None


def coord_units_factor(src: str | os.PathLike, ds: Any) -> float:
    for key in ("units", "unit", "Units", "Unit"):
        if key in ds.attrs:
            u = ds.attrs[key]
            u = (u.decode() if isinstance(u, bytes) else str(u)).strip()
            if u not in TO_UM:
                raise InputError(src, f"'{ds.name}' is in '{u}', not a length unit (µm, nm, mm)")
            return TO_UM[u]
    return 1.0  # µm unless the file says otherwise


def _file_detector(ds: Any, f: Any, path: str) -> dict[str, Any]:
    """The projection centre (Bruker) and sample tilt a plain HDF5 file keeps as ``pc``/``sample_tilt`` attributes of
    the patterns' dataset or of the file (as the demo's simulated file does), with where they came from."""
    for holder, where in ((ds, f"'{ds.name}'"), (f, "the file")):
        pc = holder.attrs.get("pc")
        if pc is None:
            continue
        values = np.ravel(np.asarray(pc, dtype=float)) if np.asarray(pc).dtype.kind in "iuf" else np.zeros(0)
        if values.size != 3 or not np.isfinite(values).all():
            continue
        out: dict[str, Any] = {"pc": [float(v) for v in values], "pc_convention": "bruker",
                               "pc_source": f"the 'pc' attribute of {where} in {path}"}
        tilt = holder.attrs.get("sample_tilt")
        if isinstance(tilt, (int, float, np.integer, np.floating)) and np.isfinite(tilt):
            out["sample_tilt"] = float(tilt)
        return out
    return {}


def read_plain_hdf5(
    src: str | os.PathLike,
    dataset: str,
    *,
    x_dataset: str,
    y_dataset: str,
    options: PatternOptions,
) -> xr.DataArray:
    """Patterns of dataset ``dataset`` of a plain HDF5 file, lazily (see :func:`vaearr.io.ebsd.read_ebsd`)."""
    scan_shape, step, crop, binning = options.scan_shape, options.step, options.crop, options.binning
    path = os.fspath(src)
    grid_kind = "square"
    attrs: dict[str, Any] = {"format": "plain HDF5", "vendor": "unknown"}
    with open_h5(path) as f:
        obj = f.get(dataset)
        if not isinstance(obj, h5py.Dataset):
            raise InputError(path, f"no dataset '{dataset}' ({describe_candidates(f)})")
        ds = obj
        name = ds.name
        shape, dtype = tuple(ds.shape), ds.dtype
        if dtype.kind not in "uif":
            raise InputError(path, f"'{name}' holds {dtype}, not numbers")
        check_dataset(path, ds, whole=False)  # streamed in blocks: only what it declares against what it holds
        if len(shape) not in (3, 4) or min(shape) == 0:
            raise InputError(
                path,
                f"'{name}' has shape {'×'.join(map(str, shape)) or 'scalar'}; expected patterns "
                "as N×H×W (with x/y datasets or a scan shape) or Y×X×H×W",
            )
        attrs["dataset"] = name
        attrs.update(_file_detector(ds, f, path))
        index: np.ndarray | None = None
        if len(shape) == 4:
            ny, nx = shape[:2]
            if scan_shape is not None and tuple(scan_shape) != (ny, nx):
                raise InputError(path, f"'{name}' is a {ny}×{nx} scan, not {scan_shape[0]}×{scan_shape[1]} as given")
            x = y = None
        elif scan_shape is not None:
            ny, nx = (int(s) for s in scan_shape)
            if ny * nx != shape[0]:
                raise InputError(
                    path, f"'{name}' holds {shape[0]} patterns, not {ny}×{nx} = {ny * nx} (scan shape given)"
                )
            index = np.arange(shape[0], dtype=np.int64).reshape(ny, nx)
            x = y = None
        else:
            xd, yd = _find_dataset(f, x_dataset, name), _find_dataset(f, y_dataset, name)
            if xd is None or yd is None:
                missing = " and ".join(f"'{n}'" for n, d in ((x_dataset, xd), (y_dataset, yd)) if d is None)
                raise InputError(
                    path,
                    f"'{name}' is N×H×W ({shape[0]} patterns) but there is no {missing} dataset: "
                    "name the x/y datasets (`x_dataset`/`y_dataset`) or give the scan shape (`scan_shape`)",
                )
            for d in (xd, yd):
                if d.ndim != 1 and not (d.ndim == 2 and 1 in d.shape):
                    raise InputError(path, f"'{d.name}' has shape {d.shape}; expected one value per pattern")
                if d.size != shape[0]:
                    raise InputError(path, f"'{d.name}' has {d.size} values but '{name}' has {shape[0]} patterns")
                check_dataset(path, d, itemsize=8)  # read whole, as float64
            x = np.asarray(xd[()], dtype=float).ravel() * coord_units_factor(path, xd)
            y = np.asarray(yd[()], dtype=float).ravel() * coord_units_factor(path, yd)
            attrs["x_dataset"], attrs["y_dataset"] = xd.name, yd.name
        box = crop_box(path, shape[-2:], crop, binning)

    if x is not None:
        if step is not None:
            warnings.warn(f"{path}: step ignored, coordinates come from the x/y datasets", VaearrWarning, stacklevel=3)
        grid = infer_grid(x, y, path=path)
        index, gx, gy, grid_kind = grid.index, grid.x, grid.y, grid.kind
        sy = float(np.median(np.diff(gy))) if gy.size > 1 else float(np.median(np.diff(gx))) if gx.size > 1 else DEFAULT_STEP
        sx = float(np.median(np.diff(gx))) if gx.size > 1 else sy
        attrs["step_source"] = "x/y datasets"
    else:
        sy, sx = pair(step, "step") if step is not None else (DEFAULT_STEP, DEFAULT_STEP)
        attrs["step_source"] = "given" if step is not None else f"none in the file: default {DEFAULT_STEP:g} µm"
        gy, gx = np.arange(ny) * sy, np.arange(nx) * sx
    if index is not None and (index < 0).any():
        attrs["missing_patterns"] = int((index < 0).sum())
        attrs["missing_fill"] = 0

    data = lazy_patterns(path, name, index=index, box=box, binning=binning, dtype=dtype,
                         grid_shape=(len(gy), len(gx)), pattern_shape=shape[-2:])
    attrs.update(common_attrs(path, shape[-2:], box, binning, (sy, sx), data.shape[:2], grid_kind))
    return patterns_array(data, gy, gx, attrs)
