"""What both EBSD routes share: step pairs, crop boxes, binning, and the patterns DataArray they build."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from types import MappingProxyType

import numpy as np
import xarray as xr

from vaearr.errors import InputError
from vaearr.store.schema import PATTERN_DIMS

#: Step used when neither the file nor the caller gives one (µm).
DEFAULT_STEP = 1.0
#: Length units a file's coordinates may carry, as a factor to µm.
TO_UM = MappingProxyType({"um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "nm": 1e-3, "mm": 1e3, "m": 1e6})


@dataclass(frozen=True)
class PatternOptions:
    """What both routes do to the patterns they read: the scan shape of a flat layout, the step
    (µm), a centre crop and a binning factor (see :func:`vaearr.io.ebsd.read_ebsd`)."""

    scan_shape: tuple[int, int] | None = None
    step: float | tuple[float, float] | None = None
    crop: int | tuple[int, int] | None = None
    binning: int = 1


def pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), float(value)
    vals = tuple(float(v) for v in value)
    if len(vals) != 2:
        raise ValueError(f"{name} must be one number or two (rows, cols), got {value!r}")
    return vals


def crop_box(
    src: str | os.PathLike, pattern_shape: tuple[int, int], crop: int | Sequence[int] | None, binning: int
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centred crop, checked against the pattern and binning."""
    h, w = pattern_shape
    if crop is None:
        ch, cw = h, w
    else:
        ch, cw = (int(crop), int(crop)) if np.isscalar(crop) else (int(crop[0]), int(crop[1]))
        if not (0 < ch <= h and 0 < cw <= w):
            raise InputError(src, f"cannot crop {h}×{w} patterns to {ch}×{cw}")
    if int(binning) != binning or binning < 1:
        raise InputError(src, f"binning must be a positive integer, got {binning!r}")
    if ch % binning or cw % binning:
        raise InputError(
            src,
            f"{ch}×{cw} patterns do not divide into {binning}×{binning} bins; "
            f"crop to a multiple of {binning} first (`crop`)",
        )
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def bin_blocks(block: np.ndarray, binning: int) -> np.ndarray:
    """Mean of ``binning×binning`` blocks over the last two axes, in the input dtype."""
    if binning == 1:
        return block
    *lead, h, w = block.shape
    b = binning
    # float32 sums uint8 blocks exactly (255·b² ≪ 2²⁴); wider types need float64
    acc = np.float32 if block.dtype.itemsize == 1 else np.float64
    mean = block.reshape(*lead, h // b, b, w // b, b).mean(axis=(-3, -1), dtype=acc)
    if block.dtype.kind in "iu":
        mean = np.rint(mean)
    return mean.astype(block.dtype)


def crop_bin(block: np.ndarray, box: tuple[int, int, int, int], binning: int) -> np.ndarray:
    top, left, h, w = box
    return bin_blocks(block[..., top : top + h, left : left + w], binning)



def short_error(exc: BaseException) -> str:
    # h5py messages carry a long HDF5 error stack after the first line
    return str(exc).splitlines()[0].strip() if str(exc) else type(exc).__name__




def common_attrs(
    path: str,
    pattern_shape: Sequence[int],
    box: tuple[int, int, int, int],
    binning: int,
    step: tuple[float, float],
    scan_shape: tuple[int, int],
    grid: str,
) -> dict[str, Any]:
    top, left, h, w = box
    return {
        "source_file": os.path.abspath(path),
        "scan_shape": [int(scan_shape[0]), int(scan_shape[1])],
        "step_y": float(step[0]),
        "step_x": float(step[1]),
        "step_units": "µm",
        "grid": grid,
        "pattern_shape_recorded": [int(s) for s in pattern_shape],
        "crop": [int(h), int(w)] if (h, w) != tuple(pattern_shape) else [],
        "crop_offset": [int(top), int(left)],
        "binning": int(binning),
        "binning_method": "mean of blocks, rounded to the recorded integer dtype" if binning > 1 else "none",
    }


def patterns_array(data: Any, gy: np.ndarray, gx: np.ndarray, attrs: dict[str, Any]) -> xr.DataArray:
    coords = {
        "y": ("y", np.asarray(gy, dtype=np.float64), {"units": "µm", "long_name": "scan y"}),
        "x": ("x", np.asarray(gx, dtype=np.float64), {"units": "µm", "long_name": "scan x"}),
    }
    return xr.DataArray(data, dims=PATTERN_DIMS, coords=coords, name="patterns", attrs=attrs)
