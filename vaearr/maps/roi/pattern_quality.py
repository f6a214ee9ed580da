"""Pattern quality from the patterns alone: ``vaearr quality`` writes image quality and the average neighbour dot product map.

For a store with patterns but no band contrast or vendor indexing, these are the maps a ROI is
made from (``vaearr roi STORE --var iq --otsu``). kikuchipy computes both, on the patterns with
their backgrounds removed as ``vaearr index`` removes them (the mean pattern over the mask
subtracted, then a Gaussian blur):

``iq(y, x)``
    :meth:`kikuchipy.signals.EBSD.get_image_quality`: how much of a pattern's power sits at
    the spatial frequencies of Kikuchi bands (Krieger Lassen's image quality; higher is sharper).
``adp(y, x)``
    :meth:`kikuchipy.signals.EBSD.get_average_neighbour_dot_product_map`: the mean normalised dot
    product of a pattern with its eight neighbours (3 × 3 kernel): high inside grains, low at
    boundaries and where patterns are noise.

The map is read one block of rows at a time with a row of neighbours on each side, so the dot
products at block edges are those of the whole map. NaN outside the mask.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from vaearr.crystals.master_patterns import quiet
from vaearr.errors import StoreError, require
from vaearr.maps.patterns.background import static_background
from vaearr.maps.options import QualityOptions
from vaearr.progress import bar
from vaearr.store import open_store, refuse_inputs, require_whole, write_variables
from vaearr.store.schema import PATTERNS, PX, PY, X, Y, auto_mask, mask_said, no_variable
from vaearr.numba_cache import guard_gufunc_cache

#: Patterns per block of rows (rounded to whole rows): 64 MB of float32 60 × 60 patterns.
BLOCK_PATTERNS = 4096


@dataclass
class QualityResult:
    """What :func:`quality_store` wrote."""

    variables: dict[str, xr.DataArray]
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [*self.messages]
        for name, da in self.variables.items():
            v = da.values[np.isfinite(da.values)]
            lines.append(f"{name}: {da.attrs['kind']}; {v.size} pixels, median {np.median(v):.4g}, "
                         f"range {v.min():.4g}–{v.max():.4g}")
        lines.append(f"wrote {', '.join(self.variables)} (threshold one: vaearr roi STORE --var "
                     f"{next(iter(self.variables))} --otsu)")
        return "\n".join(lines)


def _mask(ds: xr.Dataset, store: Any, mask: str | None) -> tuple[np.ndarray, str | None, str]:
    said = mask_said(ds.data_vars, mask) or ""
    name = auto_mask(ds.data_vars, mask)
    if name is None:
        return np.ones((ds.sizes[Y], ds.sizes[X]), bool), None, said or "mask: none (every pixel)"
    if name not in ds.data_vars:
        raise StoreError(store, f"{no_variable(name, ds.data_vars, kind='mask variable')} (use `mask='none'` for "
                                "every pixel)")
    if ds[name].dtype != bool or set(ds[name].dims) != {Y, X}:
        raise StoreError(store, f"mask '{name}' must be a bool (y, x) variable")
    m = np.asarray(ds[name].transpose(Y, X).values, bool)
    if not m.any():
        raise StoreError(store, f"mask '{name}' selects no pixel")
    return m, name, said or f"mask: '{name}' ({int(m.sum())} of {m.size} pixels)"


def _block_quality(patterns: np.ndarray, bg: np.ndarray, rows: slice, halo: slice) -> tuple[np.ndarray, np.ndarray]:
    """IQ and ADP of the rows ``rows`` of a block read with its halo rows ``halo`` (``patterns``: (h, x, py, px))."""
    guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
    kp = require("kikuchipy", "ebsd")
    with quiet():
        s = kp.signals.EBSD(patterns.astype(np.float32))
        s.remove_static_background(operation="subtract", static_bg=bg, show_progressbar=False)
        s.remove_dynamic_background(operation="subtract", show_progressbar=False)
        data = np.asarray(s.data)
        # a pattern nothing is left of (the background itself, a blank one) or NaN has no image quality: kikuchipy
        # divides by its power (ZeroDivisionError); it is NaN, the others measured as they are
        flat = ~(np.ptp(data.reshape(*data.shape[:2], -1), axis=-1) > 0)
        if not flat.any():
            iq = np.asarray(s.get_image_quality(show_progressbar=False), np.float32)
        else:
            iq = np.full(flat.shape, np.nan, np.float32)
            if not flat.all():
                kept = kp.signals.EBSD(data[~flat][None])
                iq[~flat] = np.asarray(kept.get_image_quality(show_progressbar=False), np.float32)[0]
        adp = np.asarray(s.get_average_neighbour_dot_product_map(show_progressbar=False), np.float32)
    inner = slice(rows.start - halo.start, rows.stop - halo.start)
    return iq[inner], adp[inner]


def quality_store(store: str | os.PathLike, options: QualityOptions | None = None, /, **fields: Any) -> QualityResult:
    """Write ``{iq}`` and ``{adp}`` (y, x) float32 from the store's patterns (see the module docstring) in one transaction.

    Raises
    ------
    StoreError
        No patterns, a missing or empty mask, a variable that exists without ``overwrite``.
    """
    o = options if options is not None else QualityOptions(store=os.fspath(store), **fields)
    o.check()
    ds = open_store(store)
    if PATTERNS not in ds.data_vars or set(ds[PATTERNS].dims) != {Y, X, PY, PX}:
        raise StoreError(store, no_variable(PATTERNS, ds.data_vars, kind="pattern variable"))
    refuse_inputs(ds, [o.iq, o.adp], store)
    clash = [v for v in (o.iq, o.adp) if v in ds.variables]
    if clash and not o.overwrite:
        raise StoreError(store, f"variable(s) {clash} exist; pass `overwrite=True` to replace them")
    require_whole(ds, [PATTERNS, auto_mask(ds.data_vars, o.mask)], store)  # before any work
    m, mask, said = _mask(ds, store, o.mask)
    if m.sum() < 2:  # its one pattern is its own background: nothing would be left of it to measure
        raise StoreError(store, f"{f'mask {mask!r}' if mask else 'the map'} holds 1 pixel: the background removed is the "
                                "mean pattern over the mask, so a pattern would be measured against itself; give a "
                                "mask of at least 2 pixels")
    pat = ds[PATTERNS].transpose(Y, X, PY, PX)
    bg = static_background(store, PATTERNS, (Y, X), mask, feature_dims=(PY, PX)).astype(np.float32)
    ny, nx = m.shape
    iq, adp = np.full((ny, nx), np.nan, np.float32), np.full((ny, nx), np.nan, np.float32)
    step = max(1, int(o.block_patterns) // max(nx, 1))
    with bar(total=ny, desc="quality", unit="row") if o.progress else contextlib.nullcontext() as pbar:
        for y0 in range(0, ny, step):
            rows = slice(y0, min(y0 + step, ny))
            halo = slice(max(0, y0 - 1), min(ny, rows.stop + 1))
            q, a = _block_quality(np.asarray(pat.isel({Y: halo}).values), bg, rows, halo)
            iq[rows], adp[rows] = q, a
            if pbar is not None:
                pbar.update(rows.stop - rows.start)
    iq[~m], adp[~m] = np.nan, np.nan
    if not np.isfinite(iq[m]).any():
        raise StoreError(store, f"variable '{PATTERNS}' has no pattern {f'in mask {mask!r}' if mask else 'in the map'} "
                                "that is not flat or NaN once the background (the mean pattern over the mask) is "
                                "removed: nothing to measure")
    coords = {Y: ds[Y].values, X: ds[X].values}
    background = "mean pattern over the mask subtracted, then kikuchipy remove_dynamic_background (subtract)"
    variables = {
        o.iq: xr.DataArray(iq, dims=(Y, X), coords=coords, attrs={
            "kind": "image quality (kikuchipy EBSD.get_image_quality)", "background": background}),
        o.adp: xr.DataArray(adp, dims=(Y, X), coords=coords, attrs={
            "kind": "average neighbour dot product, 3 × 3 kernel (kikuchipy "
                    "EBSD.get_average_neighbour_dot_product_map)", "background": background}),
    }
    write_variables(store, variables, source=[PATTERNS, *([mask] if mask else [])],
                    config={"mask": mask, "iq": o.iq, "adp": o.adp}, attrs={"in_mask": mask or "none"},
                    overwrite=o.overwrite)
    return QualityResult(variables, [said])
