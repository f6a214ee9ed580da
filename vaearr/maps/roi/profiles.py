"""What the band-contrast scripts looked at before choosing a threshold: a map variable read with the line for one the
store lacks, its histogram's bins on multiples of a width, one row's profile and its CSV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.maps.roi.roi import missing_variable, store_label

#: Most bins a chosen bin width may give (a typo such as 0.0001 would otherwise ask for millions).
MAX_BINS = 10000


def map_variable(ds: xr.Dataset, var: str, *, dims: tuple[str, str] = ("y", "x"),
                 label: str | os.PathLike = "the store") -> xr.DataArray:
    """``ds[var]`` as a ``(y, x)`` map, or a :class:`StoreError` saying why it is not one."""
    if var not in ds.variables:
        raise StoreError(label, missing_variable(var, [n for n in ds.data_vars if set(ds[n].dims) == set(dims)]))
    da = ds[var]
    if set(da.dims) != set(dims):
        raise StoreError(label, f"'{var}' has dims {da.dims}; a ({dims[0]}, {dims[1]}) map is needed")
    return da.transpose(*dims)


def histogram_edges(values: Any, bin_width: float) -> np.ndarray:
    """Bin edges ``bin_width`` apart on multiples of it, covering the finite values.

    As the band-contrast scripts binned: from ``floor(min / w) · w`` to ``ceil(max / w) · w``.

    Examples
    --------
    >>> histogram_edges([3.0, 27.0, np.nan], 10).tolist()
    [0.0, 10.0, 20.0, 30.0]
    """
    w = float(bin_width)
    if not np.isfinite(w) or w <= 0:
        raise InputError(None, f"bin width must be a positive number, got {bin_width}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise InputError(None, "no finite values to bin")
    lo, hi = np.floor(v.min() / w) * w, np.ceil(v.max() / w) * w
    if hi <= lo:
        hi = lo + w
    n = int(round((hi - lo) / w))
    if n > MAX_BINS:
        raise InputError(None, f"bin width {w:g} gives {n} bins over {v.min():g}..{v.max():g} "
                               f"(at most {MAX_BINS}); choose a wider bin")
    return lo + w * np.arange(n + 1)


def row_profile(ds: xr.Dataset, row: int, *, var: str = "bandcontrast", dims: tuple[str, str] = ("y", "x"),
                store: str | os.PathLike | None = None) -> xr.DataArray:
    """The values of ``var`` along one row of the map: row ``row`` (0-based position along ``y``).

    Returns
    -------
    xarray.DataArray
        ``(x,)``, with attrs ``row`` and ``y`` (the row's coordinate, µm).

    Examples
    --------
    >>> ds = xr.Dataset({"bc": (("y", "x"), [[1.0, 2.0], [3.0, 4.0]])}, coords={"y": [0.0, 0.5], "x": [0.0, 0.5]})
    >>> row_profile(ds, 1, var="bc").values.tolist()
    [3.0, 4.0]
    """
    label = os.fspath(store) if store is not None else store_label(ds)
    da = map_variable(ds, var, dims=dims, label=label)
    ny = da.sizes[dims[0]]
    if int(row) != row or not (0 <= int(row) < ny):
        raise InputError(None, f"row {row} is outside the map's {ny} rows (0..{ny - 1})")
    out = da.isel({dims[0]: int(row)}).load()
    yval = float(out[dims[0]].values) if dims[0] in out.coords else float(row)
    return out.drop_vars(dims[0], errors="ignore").assign_attrs(row=int(row), y=yval)


def export_profile(profile: xr.DataArray, path: str | os.PathLike, *, dim: str = "x") -> Path:
    """Write a row profile as CSV ``x,<var>`` (coordinates exact, in scan order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xs = np.asarray(profile[dim].values, dtype=np.float64) if dim in profile.coords else np.arange(profile.size)
    np.savetxt(path, np.column_stack([xs, np.asarray(profile.values, dtype=np.float64)]), delimiter=",",
               header=f"{dim},{profile.name or 'value'}", comments="", fmt="%.17g")
    return path
