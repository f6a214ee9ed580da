"""Regions of interest: boolean masks over the scan grid from thresholds and x/y ranges.

A mask is the AND of the criteria given: value thresholds (keep above ``value >= min``,
keep below ``value <= max``, or ``threshold`` on the side ``keep`` says), Otsu's threshold of
the value's histogram, the brightest ``top_percent`` % of the values (Otsu and the percentage keep
the values above, or below with ``keep="below"``), inclusive x/y ranges in µm, and half-open x/y pixel-index
ranges (``x_index=(20, 40)``: columns 20..39, as the EBSD scripts' ``x_range`` selected them).
Pixels where the value is NaN (no data) are never kept. :func:`create_roi` writes the mask into the store as a bool
variable (default ``roi``), and can export the kept pixels' coordinates and draw figures.
"""

from __future__ import annotations

import json
import os
from types import MappingProxyType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from skimage.filters import threshold_otsu

from vaearr.errors import InputError, StoreError
from vaearr.maps.options import KEEP, RoiOptions
from vaearr.options import renamed_keywords, take_renamed
from vaearr.store import check_name, open_store, refuse_inputs, require_whole, write_variable
from vaearr.store.schema import no_variable
from vaearr.maps.roi.ranges import IndexRange, Range, as_index_range, as_range, in_index_range, in_range

#: The old keywords of the thresholds (until vaearr 0.3, with a notice): ``bc_min`` → ``min``…
RENAMED = renamed_keywords(RoiOptions)
#: The option each key of a mask's recorded ``thresholds`` stands for (stores keep ``bc_min``/``bc_max`` there).
OPTION_OF = MappingProxyType({"bc_min": "min", "bc_max": "max"})


def missing_variable(var: str, names: Any) -> str:
    """The line for a threshold on a variable the store lacks, naming the way to one."""
    if var == "bandcontrast":
        return ("no variable 'bandcontrast' in the store; ingest a band-contrast CSV first ('vaearr ingest tables STORE "
                "--bandcontrast FILE'), or measure the patterns' quality ('vaearr quality STORE') and threshold it "
                "('vaearr roi STORE --var iq --otsu')")
    return no_variable(var, names, listed="its maps")


def store_label(ds: xr.Dataset) -> str:
    """What a message calls the store ``ds`` was opened from."""
    return str(ds.encoding.get("source") or "the store")


def _check_criteria(any_criterion: bool, lo: float | None, hi: float | None,
                    top_percent: float | None, keep: str = "above") -> None:
    """One line for no criterion at all, or a threshold that cannot work (``lo``, ``hi``: `min`, `max`)."""
    if keep not in KEEP:
        raise InputError(None, f"`keep` must be above or below, got '{keep}'")
    if not any_criterion:
        raise InputError(None, "give at least one ROI criterion: a minimum or maximum value (`min` / `max`, or "
                               "`threshold` with `keep`), Otsu's threshold (`otsu=True`), a top percentage "
                               "(`top_percent`), an x/y range (`x`/`y`) or an x/y index range (`x_index`/`y_index`)")
    if top_percent is not None and not (0 < float(top_percent) <= 100):
        raise InputError(None, f"top percent must be in (0, 100], got {top_percent:g}")
    for label_, t in (("min", lo), ("max", hi)):
        if t is not None and not np.isfinite(float(t)):
            raise InputError(None, f"`{label_}` must be a finite number, got {t}")
    if lo is not None and hi is not None and float(lo) > float(hi):
        raise InputError(None, f"`min` {float(lo):g} > `max` {float(hi):g}: no value can be kept")


def _threshold_mask(ds: xr.Dataset, var: str, dims: tuple[str, str], label: Any, *, lo: float | None,
                    hi: float | None, top_percent: float | None, otsu: bool, criteria: dict,
                    thresholds: dict, counts: dict, keep: str = "above") -> np.ndarray:
    """The pixels whose ``var`` passes every threshold given (``lo``, ``hi``: `min`, `max`; finite ones only); records
    what each kept, under the keys stores have always held (``bc_min``, ``bc_max``: the record's names, not options)."""
    ydim, xdim = dims
    below = keep == "below"
    mask = np.ones((ds.sizes[ydim], ds.sizes[xdim]), dtype=bool)
    if var not in ds.variables:
        raise StoreError(label, missing_variable(var, [n for n in ds.data_vars if set(ds[n].dims) == {ydim, xdim}]))
    da = ds[var]
    if set(da.dims) != {ydim, xdim}:
        raise StoreError(label, f"'{var}' has dims {da.dims}; a mask needs a ({ydim}, {xdim}) variable")
    v = np.asarray(da.transpose(ydim, xdim).values, dtype=np.float64)
    finite = np.isfinite(v)
    counts["finite"] = int(finite.sum())
    if not finite.any():
        raise StoreError(label, f"'{var}' has no finite values to threshold")
    mask &= finite
    if lo is not None:
        lo = float(lo)
        criteria["bc_min"] = lo
        thresholds["bc_min"] = lo
        keep = finite & (v >= lo)
        counts["bc_min"] = int(keep.sum())
        mask &= keep
    if hi is not None:
        hi = float(hi)
        criteria["bc_max"] = hi
        thresholds["bc_max"] = hi
        keep = finite & (v <= hi)
        counts["bc_max"] = int(keep.sum())
        mask &= keep
    if top_percent is not None:
        top_percent = float(top_percent)
        t = float(np.percentile(v[finite], top_percent if below else 100.0 - top_percent))
        criteria["top_percent"] = top_percent
        thresholds["top_percent"] = t
        kept = finite & ((v <= t) if below else (v >= t))
        counts["top_percent"] = int(kept.sum())
        mask &= kept
    if otsu:
        t = float(threshold_otsu(v[finite]))
        criteria["otsu"] = True
        thresholds["otsu"] = t
        kept = finite & ((v <= t) if below else (v >= t))
        counts["otsu"] = int(kept.sum())
        mask &= kept
    if below and (otsu or top_percent is not None):
        criteria["keep"] = "below"
    return mask


def make_roi(
    ds: xr.Dataset,
    *,
    var: str = "bandcontrast",
    min: float | None = None,  # noqa: A002 - the option's one name (`vaearr roi --min`)
    otsu: bool = False,
    x: Range | str | None = None,
    y: Range | str | None = None,
    dims: tuple[str, str] = ("y", "x"),
    store: str | os.PathLike | None = None,
    max: float | None = None,  # noqa: A002 - the option's one name (`vaearr roi --max`)
    top_percent: float | None = None,
    x_index: IndexRange | str | None = None,
    y_index: IndexRange | str | None = None,
    keep: str = "above",
    threshold: float | None = None,
    **old: Any,
) -> tuple[xr.DataArray, dict]:
    """Build a boolean mask over ``(y, x)``: the AND of every criterion given.

    Parameters
    ----------
    ds
        A store's dataset (or any Dataset with the ``y``/``x`` coordinates).
    var
        Variable the thresholds apply to.
    min
        Keep pixels with ``var >= min`` (keep above; ``bc_min``, its old name, until vaearr 0.3).
    max
        Keep pixels with ``var <= max`` (keep below; the scripts' ``keep_below``; ``bc_max`` until vaearr 0.3).
    top_percent
        Keep the brightest ``top_percent`` % of the finite values: ``var >=`` their
        ``100 − top_percent`` percentile (numpy's linear interpolation, as the scripts did).
    otsu
        Keep pixels with ``var >=`` Otsu's threshold of its finite values
        (:func:`skimage.filters.threshold_otsu`); ``<=`` with ``keep="below"``.
    keep
        ``above`` (default) or ``below``: the side Otsu's threshold, ``top_percent`` (then the
        lowest values) and ``threshold`` keep.
    threshold
        A value: ``min`` with ``keep="above"``, ``max`` with ``keep="below"``.
    x, y
        Inclusive coordinate ranges (µm), ``(low, high)`` or ``"low:high"``; either end may be
        ``None``.
    x_index, y_index
        Half-open ranges of pixel positions along ``x``/``y`` (0-based, ``(start, stop)`` or
        ``"start:stop"``, like a Python slice; an end past the map is clipped, a start past
        it is an error).
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
    >>> mask, info = make_roi(ds, min=5, x=(None, 1))
    >>> mask.values.tolist(), info["counts"]["kept"]
    ([[False, True], [False, True]], 2)
    """
    ydim, xdim = dims
    given = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    given = take_renamed({**old, **given}, RENAMED, "make_roi")  # bc_min=, bc_max=: their old names
    unknown = set(given) - {"min", "max"}
    if unknown:
        raise TypeError(f"make_roi() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    lo, hi = given.get("min"), given.get("max")
    if threshold is not None:
        if keep not in KEEP:
            raise InputError(None, f"`keep` must be above or below, got '{keep}'")
        if (lo if keep == "above" else hi) is not None:
            raise InputError(None, f"`threshold` with `keep={keep!r}` is `{'min' if keep == 'above' else 'max'}`: "
                                   "give one of them")
        lo, hi = (threshold, hi) if keep == "above" else (lo, threshold)
    x_range = as_range(x, xdim)
    y_range = as_range(y, ydim)
    xi_range = as_index_range(x_index, xdim)
    yi_range = as_index_range(y_index, ydim)
    thresholding = lo is not None or hi is not None or otsu or top_percent is not None
    _check_criteria(thresholding or not (x_range is None and y_range is None and xi_range is None and yi_range is None),
                    lo, hi, top_percent, keep)
    label = os.fspath(store) if store is not None else store_label(ds)
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

    if thresholding:
        mask &= _threshold_mask(ds, var, dims, label, lo=lo, hi=hi, top_percent=top_percent, otsu=otsu,
                                criteria=criteria, thresholds=thresholds, counts=counts, keep=keep)
    for name, r, coord, axis in ((xdim, x_range, xs, 1), (ydim, y_range, ys, 0)):
        if r is None:
            continue
        criteria[name] = list(r)
        keep1 = in_range(coord, r)
        if not keep1.any():
            lo, hi = ("" if v is None else f"{v:g}" for v in r)
            raise InputError(None, f"{name} range {lo}:{hi} µm holds no pixel of the map "
                                   f"({name} runs from {coord.min():g} to {coord.max():g} µm)")
        counts[name] = int(keep1.sum()) * shape[1 - axis]
        mask &= keep1[None, :] if axis == 1 else keep1[:, None]
    for name, r, n, axis in ((xdim, xi_range, xs.size, 1), (ydim, yi_range, ys.size, 0)):
        if r is None:
            continue
        criteria[f"{name}_index"] = list(r)
        keep1 = in_index_range(n, r, name, label)
        counts[f"{name}_index"] = int(keep1.sum()) * shape[1 - axis]
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
        var = self.info["criteria"]["var"]
        below = self.info["criteria"].get("keep") == "below"
        side = "keep ≤" if below else "keep ≥"
        keeps = {"bc_min": "keep ≥", "bc_max": "keep ≤", "otsu": side,
                 "top_percent": f"{'lowest' if below else 'brightest'} {self.info['criteria'].get('top_percent', 0):g} %: "
                                f"{side}"}
        for label, t in self.info["thresholds"].items():  # said by the options' names (the record keeps bc_min…)
            lines.append(f"  {OPTION_OF.get(label, label)} threshold on {var}: {t:.6g} ({keeps.get(label, 'keep ≥')} "
                         f"{t:.6g})")
        for axis in ("x", "y"):
            if axis in self.info["criteria"]:
                lo, hi = self.info["criteria"][axis]
                lines.append(f"  {axis} range: {'' if lo is None else f'{lo:g}'}:{'' if hi is None else f'{hi:g}'} µm")
            if f"{axis}_index" in self.info["criteria"]:
                lo, hi = self.info["criteria"][f"{axis}_index"]
                lines.append(f"  {axis} index range: {'' if lo is None else lo}:{'' if hi is None else hi} "
                             "(pixel positions, stop excluded)")
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


def create_roi(store: str | os.PathLike, options: RoiOptions | None = None, **kwargs: Any) -> RoiResult:
    """Make a mask (see :func:`make_roi`), write it into the store, optionally export it
    (:func:`vaearr.viz.roi.roi_store` draws it too).

    ``options`` (a :class:`~vaearr.maps.options.RoiOptions`: ``name``, the criteria ``var``, ``min``, ``max``,
    ``otsu``, ``top_percent``, ``threshold``, ``keep``, ``x``, ``y``, ``x_index``, ``y_index`` (see :func:`make_roi`),
    ``export``, a folder for ``{name}_keep_xy.csv``, ``{name}_keep_xy.npy`` and ``{name}_mask.npy``, ``overwrite``),
    or its fields as keywords (``bc_min``, ``bc_max``, the old names of ``min``, ``max``, with a notice until vaearr
    0.3). Its figure options (``out``…) are not read here.

    Raises
    ------
    StoreError
        No store, ``var`` missing, or ``name`` exists and ``overwrite`` is false (checked
        before anything is written).
    InputError
        No criterion or a bad range.
    """
    o = options if options is not None else RoiOptions(store=os.fspath(store),
                                                       **take_renamed(kwargs, RENAMED, "create_roi"))
    name, var = o.name, o.var
    check_name(name, "mask name (`name`)")
    ds = open_store(store)
    refuse_inputs(ds, [name], store)
    if name in ds.variables and not o.overwrite:
        raise StoreError(store, f"variable '{name}' exists; pass `overwrite=True` to replace it")
    if o.otsu or any(v is not None for v in (o.min, o.max, o.top_percent, o.threshold)):
        require_whole(ds, [var], store)  # a mask is never thresholded on a damaged variable
    mask, info = make_roi(ds, var=var, min=o.min, otsu=o.otsu, x=o.x, y=o.y, dims=o.dims, store=store, max=o.max,
                          top_percent=o.top_percent, x_index=o.x_index, y_index=o.y_index, keep=o.keep,
                          threshold=o.threshold)
    if info["counts"]["kept"] == 0:
        raise InputError(None, f"the mask keeps no pixel (criteria {json.dumps(info['criteria'])}); nothing written")
    uses_var = bool(info["thresholds"])
    write_variable(
        store, name, mask,
        source=[var] if uses_var else [],
        config=info["criteria"],
        attrs={
            "criteria": json.dumps(info["criteria"], sort_keys=True),
            "thresholds": json.dumps(info["thresholds"], sort_keys=True),
            "counts": json.dumps(info["counts"], sort_keys=True),
        },
        overwrite=o.overwrite,
    )
    result = RoiResult(name=name, mask=mask, info=info)
    if o.export is not None:
        result.files.update(export_keep_xy(mask, o.export, name, o.dims))
    return result
