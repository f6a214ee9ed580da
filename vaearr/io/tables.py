"""Read per-pixel CSV tables (band contrast, element maps, phase) onto a store's scan grid.

Every table lists one row per scan point, ``x,y,<values>``, in any order. Rows are matched to
the grid **by coordinate** (:func:`vaearr.io.grid.place_on_grid`), never by row order, so a
table sorted differently from the patterns still lands on the right pixels. Grid nodes with no
row become NaN (−1 for phase) and a warning says how many.

Headers are matched case-insensitively, ignoring spaces, underscores and a unit suffix:
``X``, ``x (µm)``, ``x_position``, ``Band Contrast``, ``BC``, ``band_contrast``, ``phase_id`` all
work. Scan-index columns (``x_indice``/``y_indice`` as the EBSD scripts wrote them, ``x_index``,
``ix``...) are read as indices: coordinate = index × the grid's step (the scripts'
``index = round(x / step)``), unless a coordinate column is there too (it wins). The separator
(``,``, ``;`` or tab) is sniffed from the header, and ``;``/tab files with decimal commas are
read as such.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.io.write import write_ingested
from vaearr.store import open_store
# moved to vaearr.io.table_read; importable from here too
from vaearr.io.table_read import (  # noqa: F401
    KINDS, WEIGHT_PREFIXES, ALIASES, XY_UNITS, PHASE_NODATA, read_table,
)


def read_tables(
    grid_x,
    grid_y,
    *,
    bandcontrast: str | os.PathLike | None = None,
    elements: str | os.PathLike | None = None,
    phase: str | os.PathLike | None = None,
    pca_weights: str | os.PathLike | None = None,
    cnmf_weights: str | os.PathLike | None = None,
    nearest: bool = False,
    tol: float | None = None,
    dims: tuple[str, str] = ("y", "x"),
    xy_units: str | None = None,
    step: tuple[float, float] | None = None,
) -> dict[str, xr.DataArray]:
    """Read the tables given onto one grid; see :func:`read_table`.

    Returns
    -------
    dict
        Variable name (``bandcontrast``, ``elements``, ``phase``) → DataArray, for the tables
        given.
    """
    files = {"bandcontrast": bandcontrast, "elements": elements, "phase": phase, "pca_weights": pca_weights,
             "cnmf_weights": cnmf_weights}
    out = {
        kind: read_table(p, kind, grid_x=grid_x, grid_y=grid_y, nearest=nearest, tol=tol, dims=dims,
                         xy_units=xy_units, step=step)
        for kind, p in files.items()
        if p is not None
    }
    if not out:
        raise InputError(None, "give at least one table: `bandcontrast`, `elements`, `phase`, `pca_weights` or "
                               "`cnmf_weights`")
    return out


def ingest_tables(
    store: str | os.PathLike,
    *,
    bandcontrast: str | os.PathLike | None = None,
    elements: str | os.PathLike | None = None,
    phase: str | os.PathLike | None = None,
    pca_weights: str | os.PathLike | None = None,
    cnmf_weights: str | os.PathLike | None = None,
    overwrite: bool = False,
    tol: float | None = None,
    dims: tuple[str, str] = ("y", "x"),
    progress: bool | str = False,
    xy_units: str | None = None,
    derive: Callable[[Mapping[str, xr.DataArray]], Derived] | None = None,
) -> xr.Dataset:
    """Add band contrast, element maps and/or phase to an existing store, aligned to its grid.

    All files are read and checked before anything is written; then one transaction writes
    them all, so a bad file leaves the store as it was.

    Parameters
    ----------
    store
        A store with ``x``/``y`` scan coordinates (from an EBSD ingest). A store whose
        ``grid_kind`` (or ``grid``) attr is not ``"square"`` (assembled from a hexagonal scan)
        is matched by nearest point.
    bandcontrast, elements, phase, pca_weights, cnmf_weights
        CSV files; see :func:`read_table`.
    overwrite
        Replace variables that exist already.
    tol
        Coordinate tolerance, see :func:`read_table`.
    dims
        Names of the store's row and column dims.
    progress
        Show a progress bar while writing.
    xy_units
        What the tables' x/y columns hold, see :func:`read_table`; index columns use the
        store's ``step`` attr.
    derive
        Called with the store's variables updated by the tables just read; returns
        :class:`Derived` variables (e.g. an element composite) written in the same transaction.
        With ``derive``, no table is needed.

    Returns
    -------
    xarray.Dataset
        The variables written, read back lazily from the store.

    Raises
    ------
    InputError
        A bad table (nothing is written).
    StoreError
        No store, no scan grid in it, or a variable exists and ``overwrite`` is false.
    """

    ds = open_store(store)
    for d in dims:
        if d not in ds.coords:
            raise StoreError(store, f"has no '{d}' scan coordinate to align tables to; ingest an EBSD scan first")
    files: Mapping[str, str | os.PathLike | None] = {"bandcontrast": bandcontrast, "elements": elements, "phase": phase,
                                                     "pca_weights": pca_weights, "cnmf_weights": cnmf_weights}
    if not overwrite:
        exists = [k for k, p in files.items() if p is not None and k in ds.variables]
        if exists:
            raise StoreError(store, f"variable(s) {exists} exist; pass `overwrite=True` to replace them")
    # an assembled (hexagonal/irregular) grid's nodes are not where the points were: nearest
    kind = ds.attrs.get("grid_kind", ds.attrs.get("grid", "square"))
    nearest = str(kind) != "square"
    step = ds.attrs.get("step")
    step = (float(step[0]), float(step[1])) if isinstance(step, (list, tuple)) and len(step) == 2 else None
    given = any(p is not None for p in files.values())
    tables = read_tables(
        ds[dims[1]].values, ds[dims[0]].values, nearest=nearest, tol=tol, dims=dims, xy_units=xy_units, step=step,
        bandcontrast=bandcontrast, elements=elements, phase=phase, pca_weights=pca_weights, cnmf_weights=cnmf_weights,
    ) if given or derive is None else {}
    # every table's variable names all the files of this one write, as before composites came along
    paths = [os.fspath(p) for p in files.values() if p is not None]
    sources: dict[str, list[str]] = {k: paths for k in tables}
    config = {k: os.fspath(p) for k, p in files.items() if p is not None} | {"nearest": nearest, "tol": tol}
    if xy_units is not None:
        config["xy_units"] = xy_units
    variables = dict(tables)
    if derive is not None:
        extra = derive({**{str(k): ds[k] for k in ds.data_vars}, **tables})
        exists = [k for k in extra.variables if k in ds.variables and k not in tables]
        if exists and not overwrite:
            raise StoreError(store, f"variable(s) {exists} exist; pass `overwrite=True` to replace them")
        variables.update(extra.variables)
        sources.update({k: list(extra.source) for k in extra.variables})
        config.update(extra.config)
    written = write_ingested(store, variables, source=sources, overwrite=overwrite, config=config, progress=progress,
                             expects="ebsd-map", derived=[k for k in variables if k not in tables])
    return written[list(variables)]


@dataclass
class Derived:
    """Variables made from others while tables are ingested (see :func:`ingest_tables`'s ``derive``).

    Attributes
    ----------
    variables
        Name → DataArray over the store's grid.
    source
        Names of the variables they were made from.
    config
        What was chosen, for the variables' ``config`` attr.
    """

    variables: dict[str, xr.DataArray]
    source: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)


def tables_notes(ds: xr.Dataset) -> list[str]:
    """What ``vaearr ingest tables`` (and :func:`vaearr.ingest_tables`) says of the variables it wrote: columns read
    as scan indices, and the composite made."""
    lines = []
    for name in ds.data_vars:
        a = ds[name].attrs
        if a.get("xy_units") == "index":
            lines.append(f"{name}: x/y from columns {a['xy_columns'][0]!r}, {a['xy_columns'][1]!r} read as scan "
                         f"indices × step {a['step'][1]:g} × {a['step'][0]:g} µm (x × y)")
        if name == "composite":
            lines.append(f"composite: {a['mode']} of {', '.join(a['elements'])}"
                         + (f", weights {a['weights']}" if "weights" in a else "") + f"; {a['normalisation']}")
    return lines
