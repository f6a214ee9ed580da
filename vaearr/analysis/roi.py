"""Regions of interest: boolean masks over the scan grid from thresholds and x/y ranges.

A mask is the AND of the criteria given: a value threshold (``value >= bc_min``), Otsu's
threshold of the value's histogram, and inclusive x/y ranges in µm. Pixels where the value is
NaN (no data) are never kept. :func:`create_roi` writes the mask into the store as a bool
variable (default ``roi``), and can export the kept pixels' coordinates and draw figures.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from skimage.filters import threshold_otsu

from vaearr.errors import InputError, StoreError
from vaearr.store import check_name, open_store, write_variable

Range = tuple[float | None, float | None]


def parse_range(text: str) -> Range:
    """Parse ``"A:B"`` into ``(A, B)``; either end may be left empty for "no bound".

    Examples
    --------
    >>> parse_range("10:20"), parse_range("10:"), parse_range(":-2.5")
    ((10.0, 20.0), (10.0, None), (None, -2.5))
    """
    if not isinstance(text, str) or text.count(":") != 1:
        raise InputError(None, f"range {text!r} is not of the form A:B (e.g. '10:20', '10:' or ':20')")
    parts = []
    for part in text.split(":"):
        part = part.strip()
        if part == "":
            parts.append(None)
            continue
        try:
            v = float(part)
        except ValueError:
            raise InputError(None, f"range {text!r}: {part!r} is not a number") from None
        if not np.isfinite(v):
            raise InputError(None, f"range {text!r}: {part!r} is not a finite number")
        parts.append(v)
    lo, hi = parts
    if lo is not None and hi is not None and lo > hi:
        raise InputError(None, f"range {text!r} is empty: {lo:g} > {hi:g}")
    return lo, hi


def _as_range(r: Any, axis: str) -> Range | None:
    if r is None:
        return None
    if isinstance(r, str):
        r = parse_range(r)
    try:
        lo, hi = r
    except (TypeError, ValueError):
        raise InputError(None, f"{axis} range must be (low, high), got {r!r}") from None
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    if lo is not None and hi is not None and lo > hi:
        raise InputError(None, f"{axis} range ({lo:g}, {hi:g}) is empty")
    if lo is None and hi is None:
        return None
    return lo, hi


def _in_range(coord: np.ndarray, r: Range) -> np.ndarray:
    # inclusive within a millionth of a step, so float noise in stored coordinates
    # (0.1 * 3 = 0.30000000000000004) cannot drop an edge row the user asked for
    step = float(np.median(np.abs(np.diff(coord)))) if coord.size > 1 else 1.0
    eps = 1e-6 * (step or 1.0)
    keep = np.ones(coord.shape, dtype=bool)
    if r[0] is not None:
        keep &= coord >= r[0] - eps
    if r[1] is not None:
        keep &= coord <= r[1] + eps
    return keep


def _store_label(ds: xr.Dataset) -> str:
    return str(ds.encoding.get("source") or "the store")


def make_roi(
    ds: xr.Dataset,
    *,
    var: str = "bandcontrast",
    bc_min: float | None = None,
    otsu: bool = False,
    x: Range | str | None = None,
    y: Range | str | None = None,
    dims: tuple[str, str] = ("y", "x"),
    store: str | os.PathLike | None = None,
) -> tuple[xr.DataArray, dict]:
    """Build a boolean mask over ``(y, x)``: the AND of every criterion given.

    Parameters
    ----------
    ds
        A store's dataset (or any Dataset with the ``y``/``x`` coordinates).
    var
        Variable the thresholds apply to.
    bc_min
        Keep pixels with ``var >= bc_min``.
    otsu
        Keep pixels with ``var >=`` Otsu's threshold of its finite values
        (:func:`skimage.filters.threshold_otsu`).
    x, y
        Inclusive coordinate ranges (µm), ``(low, high)`` or ``"low:high"``; either end may be
        ``None``.
    dims
        Names of the row and column dims.
    store
        The store's path, for error messages.

    Returns
    -------
    mask : xarray.DataArray
        Bool ``(y, x)``; False where ``var`` is NaN.
    info : dict
        ``criteria`` (what was asked), ``thresholds`` (values used), ``counts`` (pixels
        in total, with finite values, kept by each criterion, kept in all).

    Raises
    ------
    InputError
        No criterion given, or an empty/invalid range.
    StoreError
        A threshold is asked but ``var`` is not in the store.

    Examples
    --------
    >>> ds = xr.Dataset({"bandcontrast": (("y", "x"), [[1.0, 5.0], [np.nan, 9.0]])},
    ...                 coords={"y": [0.0, 1.0], "x": [0.0, 1.0]})
    >>> mask, info = make_roi(ds, bc_min=5, x=(None, 1))
    >>> mask.values.tolist(), info["counts"]["kept"]
    ([[False, True], [False, True]], 2)
    """
    ydim, xdim = dims
    x_range = _as_range(x, xdim)
    y_range = _as_range(y, ydim)
    if bc_min is None and not otsu and x_range is None and y_range is None:
        raise InputError(None, "give at least one ROI criterion: a minimum value (bc_min / --bc-min), "
                               "Otsu's threshold (otsu / --bc-otsu) or an x/y range")
    label = os.fspath(store) if store is not None else _store_label(ds)
    for d in dims:
        if d not in ds.coords:
            raise StoreError(label, f"has no '{d}' coordinate to build a mask over")
    ys = np.asarray(ds[ydim].values, dtype=float)
    xs = np.asarray(ds[xdim].values, dtype=float)
    shape = (ys.size, xs.size)
    criteria: dict[str, Any] = {"var": var}
    thresholds: dict[str, float] = {}
    counts: dict[str, int] = {"total": int(ys.size * xs.size)}
    mask = np.ones(shape, dtype=bool)

    if bc_min is not None or otsu:
        if var not in ds.variables:
            hint = "; ingest a band-contrast CSV first" if var == "bandcontrast" else ""
            raise StoreError(label, f"no variable '{var}' in the store{hint}")
        da = ds[var]
        if set(da.dims) != {ydim, xdim}:
            raise StoreError(label, f"'{var}' has dims {da.dims}; a mask needs a ({ydim}, {xdim}) variable")
        v = np.asarray(da.transpose(ydim, xdim).values, dtype=np.float64)
        finite = np.isfinite(v)
        counts["finite"] = int(finite.sum())
        if not finite.any():
            raise StoreError(label, f"'{var}' has no finite values to threshold")
        mask &= finite
        if bc_min is not None:
            bc_min = float(bc_min)
            criteria["bc_min"] = bc_min
            thresholds["bc_min"] = bc_min
            keep = finite & (v >= bc_min)
            counts["bc_min"] = int(keep.sum())
            mask &= keep
        if otsu:

            t = float(threshold_otsu(v[finite]))
            criteria["otsu"] = True
            thresholds["otsu"] = t
            keep = finite & (v >= t)
            counts["otsu"] = int(keep.sum())
            mask &= keep
    for name, r, coord, axis in ((xdim, x_range, xs, 1), (ydim, y_range, ys, 0)):
        if r is None:
            continue
        criteria[name] = list(r)
        keep1 = _in_range(coord, r)
        if not keep1.any():
            lo, hi = ("" if v is None else f"{v:g}" for v in r)
            raise InputError(None, f"{name} range {lo}:{hi} µm holds no pixel of the map "
                                   f"({name} runs from {coord.min():g} to {coord.max():g} µm)")
        counts[name] = int(keep1.sum()) * shape[1 - axis]
        mask &= keep1[None, :] if axis == 1 else keep1[:, None]
    counts["kept"] = int(mask.sum())
    out = xr.DataArray(mask, dims=(ydim, xdim), coords={ydim: ds[ydim].values, xdim: ds[xdim].values})
    return out, {"criteria": criteria, "thresholds": thresholds, "counts": counts}


@dataclass
class RoiResult:
    """What :func:`create_roi` made.

    Attributes
    ----------
    name
        Name of the mask variable in the store.
    mask
        The bool ``(y, x)`` mask.
    info
        Criteria, thresholds and counts (see :func:`make_roi`).
    files
        Written files by role: ``keep_xy_csv``, ``keep_xy_npy``, ``mask_npy``,
        ``histogram_html``/``_png``, ``map_html``/``_png``.
    """

    name: str
    mask: xr.DataArray
    info: dict
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        """Pixels in the mask."""
        return int(self.info["counts"]["kept"])

    @property
    def figures(self) -> list[Path]:
        """The figure files written (HTML and PNG)."""
        return [p for k, p in self.files.items() if k.endswith(("_html", "_png"))]

    def summary(self) -> str:
        """A few lines for a terminal: what was kept, by which thresholds, and the files."""
        c = self.info["counts"]
        lines = [f"{self.name}: kept {c['kept']} of {c['total']} pixels "
                 f"({100 * c['kept'] / max(c['total'], 1):.1f} %)"]
        for label, t in self.info["thresholds"].items():
            lines.append(f"  {label} threshold on {self.info['criteria']['var']}: {t:.6g}")
        for axis in ("x", "y"):
            if axis in self.info["criteria"]:
                lo, hi = self.info["criteria"][axis]
                lines.append(f"  {axis} range: {'' if lo is None else f'{lo:g}'}:{'' if hi is None else f'{hi:g}'} µm")
        lines += [f"  wrote {p}" for p in self.files.values()]
        return "\n".join(lines)


def export_keep_xy(mask: xr.DataArray, folder: str | os.PathLike, name: str = "roi",
                   dims: tuple[str, str] = ("y", "x")) -> dict[str, Path]:
    """Write the kept pixels' coordinates and the mask, for tools outside vaearr.

    Files: ``{name}_keep_xy.csv`` (columns ``x,y``, rows in scan order), ``{name}_keep_xy.npy``
    (``(n, 2)`` float64, x then y), ``{name}_mask.npy`` (bool ``(y, x)``).
    """
    ydim, xdim = dims
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    m = np.asarray(mask.transpose(ydim, xdim).values, dtype=bool)
    iy, ix = np.nonzero(m)  # row-major: scan order
    xy = np.column_stack([np.asarray(mask[xdim].values, dtype=np.float64)[ix],
                          np.asarray(mask[ydim].values, dtype=np.float64)[iy]])
    files = {
        "keep_xy_csv": folder / f"{name}_keep_xy.csv",
        "keep_xy_npy": folder / f"{name}_keep_xy.npy",
        "mask_npy": folder / f"{name}_mask.npy",
    }
    # repr-exact floats, so the CSV gives back the store's coordinates bit for bit
    np.savetxt(files["keep_xy_csv"], xy, delimiter=",", header="x,y", comments="", fmt="%.17g")
    np.save(files["keep_xy_npy"], xy)
    np.save(files["mask_npy"], m)
    return files


def create_roi(
    store: str | os.PathLike,
    *,
    name: str = "roi",
    var: str = "bandcontrast",
    bc_min: float | None = None,
    otsu: bool = False,
    x: Range | str | None = None,
    y: Range | str | None = None,
    export: str | os.PathLike | None = None,
    overwrite: bool = False,
    dims: tuple[str, str] = ("y", "x"),
) -> RoiResult:
    """Make a mask (see :func:`make_roi`), write it into the store, optionally export it
    (:func:`vaearr.viz.roi.roi_figures` draws it).

    Parameters
    ----------
    store
        The store.
    name
        Name of the mask variable.
    var, bc_min, otsu, x, y, dims
        Criteria, see :func:`make_roi`.
    export
        Folder for ``{name}_keep_xy.csv``, ``{name}_keep_xy.npy`` and ``{name}_mask.npy``.
    overwrite
        Replace an existing variable ``name``.

    Returns
    -------
    RoiResult

    Raises
    ------
    StoreError
        No store, ``var`` missing, or ``name`` exists and ``overwrite`` is false (checked
        before anything is written).
    InputError
        No criterion or a bad range.
    """

    check_name(name, "mask name (--name)")
    ds = open_store(store)
    if name in ds.variables and not overwrite:
        raise StoreError(store, f"variable '{name}' exists; pass overwrite=True (--overwrite) to replace it")
    mask, info = make_roi(ds, var=var, bc_min=bc_min, otsu=otsu, x=x, y=y, dims=dims, store=store)
    if info["counts"]["kept"] == 0:
        raise InputError(None, f"the mask keeps no pixel (criteria {json.dumps(info['criteria'])}); nothing written")
    uses_var = bc_min is not None or otsu
    write_variable(
        store, name, mask,
        source=[var] if uses_var else [],
        config=info["criteria"],
        attrs={
            "criteria": json.dumps(info["criteria"], sort_keys=True),
            "thresholds": json.dumps(info["thresholds"], sort_keys=True),
            "counts": json.dumps(info["counts"], sort_keys=True),
        },
        overwrite=overwrite,
    )
    result = RoiResult(name=name, mask=mask, info=info)
    if export is not None:
        result.files.update(export_keep_xy(mask, export, name, dims))
    return result
