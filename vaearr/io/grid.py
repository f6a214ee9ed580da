"""Put scattered scan points (x, y in µm) onto the square grid a store uses.

EBSD exports list one row per scan point, in any order, sometimes on a hexagonal grid.
:func:`infer_grid` finds the grid the points lie on; :func:`place_on_grid` matches points to a
grid that is already known (the store's). Both answer with an index image: for every grid
node, the row of the input that lands there, or −1 where no point does.

Square grids must match exactly (within ``tol``): a duplicated or off-grid coordinate is an
error, never silently dropped. Hexagonal and irregular grids are assembled onto a square grid
by nearest point, with a warning that says so.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from vaearr.errors import InputError, VaearrWarning

#: Default tolerance, as a fraction of the grid step, for "this point is on that node".
REL_TOL = 0.05


@dataclass
class Grid:
    """A square scan grid and where each input point went.

    Attributes
    ----------
    x, y
        Ascending node coordinates (µm).
    index
        ``(len(y), len(x))`` int64: the input row at each node, −1 where none.
    kind
        ``"square"``, ``"hexagonal"`` or ``"irregular"`` (the last two were assembled).
    """

    x: np.ndarray
    y: np.ndarray
    index: np.ndarray
    kind: str = "square"

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.y), len(self.x))

    @property
    def missing(self) -> int:
        return int((self.index < 0).sum())


def _clusters(v: np.ndarray, tol: float) -> np.ndarray:
    """Sorted distinct values of ``v``, values closer than ``tol`` merged (their mean)."""
    s = np.sort(v)
    if s.size == 0:
        return s
    breaks = np.flatnonzero(np.diff(s) > tol) + 1
    return np.array([seg.mean() for seg in np.split(s, breaks)])


def _step(values: np.ndarray) -> float:
    d = np.diff(values)
    d = d[d > 0]
    return float(np.median(d)) if d.size else 1.0


def _check_numeric(x: np.ndarray, y: np.ndarray, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise InputError(path, "x/y coordinates are not numeric") from None
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise InputError(path, f"x/y coordinates are missing or not numeric in {int(bad.sum())} rows (first: row {int(np.flatnonzero(bad)[0]) + 1})")
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(path, "x and y must be two columns of the same length")
    if x.size == 0:
        raise InputError(path, "no scan points")
    return x, y


def _duplicates_error(path, x, y, rows: np.ndarray) -> InputError:
    a, b = int(rows[0]), int(rows[1])
    return InputError(path, f"duplicated coordinate x={x[a]:g}, y={y[a]:g} (rows {a + 1} and {b + 1})")


def _index_image(iy: np.ndarray, ix: np.ndarray, shape: tuple[int, int], path, x, y) -> np.ndarray:
    flat = iy * shape[1] + ix
    order = np.argsort(flat, kind="stable")
    dup = np.flatnonzero(np.diff(flat[order]) == 0)
    if dup.size:
        raise _duplicates_error(path, x, y, order[[dup[0], dup[0] + 1]])
    index = np.full(shape[0] * shape[1], -1, dtype=np.int64)
    index[flat] = np.arange(flat.size)
    return index.reshape(shape)


def infer_grid(x, y, *, path: str | os.PathLike = "", tol: float | None = None) -> Grid:
    """Find the square grid that scan points lie on.

    Parameters
    ----------
    x, y
        Point coordinates (any order).
    path
        The file they came from, for error messages.
    tol
        Largest distance (coordinate units) between a point and its node; default 5 % of the step.

    Returns
    -------
    Grid

    Raises
    ------
    InputError
        Non-numeric or missing coordinates, a duplicated coordinate, or a point off a grid that
        all other points fit.

    Examples
    --------
    >>> g = infer_grid([0.0, 0.5, 0.0, 0.5], [1.0, 1.0, 0.0, 0.0])
    >>> g.shape, g.index.tolist()
    ((2, 2), [[2, 3], [0, 1]])
    """
    x, y = _check_numeric(x, y, path)
    # a first, loose look at the spacings: the smallest clearly separated distance per axis
    span = max(np.ptp(x), np.ptp(y), 1e-12)
    ux = _clusters(x, 1e-6 * span)
    uy = _clusters(y, 1e-6 * span)
    sx, sy = _step(ux), _step(uy)
    tx = tol if tol is not None else REL_TOL * sx
    ty = tol if tol is not None else REL_TOL * sy
    fx = (x - ux[0]) / sx
    fy = (y - uy[0]) / sy
    kx, ky = np.rint(fx), np.rint(fy)
    on = (np.abs(fx - kx) * sx <= tx) & (np.abs(fy - ky) * sy <= ty)
    if on.all():
        nx, ny = int(kx.max()) + 1, int(ky.max()) + 1
        ix, iy = kx.astype(np.int64), ky.astype(np.int64)
        # hexagonal: every row uses one parity of the half-step columns, alternating by row
        if ny > 1 and nx > 2 and _is_hexagonal(ix, iy):
            return _assemble(x, y, path, step_x=2 * sx, step_y=sy, x0=ux[0], y0=uy[0], kind="hexagonal")
        index = _index_image(iy, ix, (ny, nx), path, x, y)
        return Grid(ux[0] + sx * np.arange(nx), uy[0] + sy * np.arange(ny), index, "square")
    if on.mean() >= 0.9:
        first = int(np.flatnonzero(~on)[0])
        raise InputError(
            path,
            f"off-grid coordinate x={x[first]:g}, y={y[first]:g} (row {first + 1}) on a "
            f"{sx:g} × {sy:g} µm grid ({int((~on).sum())} such rows)",
        )
    # irregular: the typical point spacing from nearest neighbours, rows as clusters of y

    d = float(np.median(cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)[0][:, 1]))
    rows = _clusters(y, 0.5 * d)
    step_y = _step(rows) if rows.size > 1 else d
    return _assemble(x, y, path, step_x=d, step_y=step_y, x0=x.min(), y0=y.min(), kind="irregular")


def _is_hexagonal(ix: np.ndarray, iy: np.ndarray) -> bool:
    rows = np.unique(iy)
    parities = []
    for r in rows[: min(len(rows), 64)]:
        p = np.unique(ix[iy == r] % 2)
        if p.size != 1:
            return False
        parities.append(int(p[0]))
    return len(parities) > 1 and all(a != b for a, b in zip(parities, parities[1:]))


def _assemble(
    x, y, path, *, step_x: float, step_y: float, x0: float, y0: float, kind: str,
    gx: np.ndarray | None = None, gy: np.ndarray | None = None,
) -> Grid:
    if gx is None or gy is None:
        nx = int(np.floor((x.max() - x0) / step_x + 1e-6)) + 1
        ny = int(np.floor((y.max() - y0) / step_y + 1e-6)) + 1
        gx = x0 + step_x * np.arange(nx)
        gy = y0 + step_y * np.arange(ny)
    ny, nx = gy.size, gx.size
    nodes = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    # ties (a hexagonal row sits half a step between two nodes) break towards the lower x
    dist, nearest = cKDTree(np.column_stack([x, y])).query(nodes - [1e-9 * step_x, 0.0])
    index = np.where(dist <= max(step_x, step_y), nearest, -1).reshape(ny, nx).astype(np.int64)
    warnings.warn(
        f"{os.fspath(path)}: {kind} scan grid assembled onto a square {ny}×{nx} grid "
        f"(step {step_x:g} × {step_y:g} µm, nearest point)",
        VaearrWarning,
        stacklevel=3,
    )
    return Grid(gx, gy, index, kind)


def place_on_grid(
    x,
    y,
    grid_x: np.ndarray,
    grid_y: np.ndarray,
    *,
    path: str | os.PathLike = "",
    tol: float | None = None,
    nearest: bool = False,
) -> np.ndarray:
    """Match points to a known square grid; return the index image ``(len(grid_y), len(grid_x))``.

    With ``nearest=False`` (square grids) every point must sit on a node within ``tol``
    (default 5 % of the step) and no node may get two points. With ``nearest=True`` (a grid
    that was assembled from a hexagonal or irregular scan) each node takes its nearest point.

    Examples
    --------
    >>> place_on_grid([0.5, 0.0], [0.0, 0.0], np.array([0.0, 0.5, 1.0]), np.array([0.0])).tolist()
    [[1, 0, -1]]
    """
    x, y = _check_numeric(x, y, path)
    grid_x = np.asarray(grid_x, dtype=float)
    grid_y = np.asarray(grid_y, dtype=float)
    sx = _step(grid_x) if grid_x.size > 1 else 1.0
    sy = _step(grid_y) if grid_y.size > 1 else sx
    if nearest:
        return _assemble(x, y, path, step_x=sx, step_y=sy, x0=grid_x[0], y0=grid_y[0],
                         kind="non-square", gx=grid_x, gy=grid_y).index
    tx = tol if tol is not None else REL_TOL * sx
    ty = tol if tol is not None else REL_TOL * sy
    ix = np.rint((x - grid_x[0]) / sx).astype(np.int64)
    iy = np.rint((y - grid_y[0]) / sy).astype(np.int64)
    inside = (ix >= 0) & (ix < grid_x.size) & (iy >= 0) & (iy < grid_y.size)
    ok = inside.copy()
    ok[inside] = (np.abs(x[inside] - grid_x[ix[inside]]) <= tx) & (np.abs(y[inside] - grid_y[iy[inside]]) <= ty)
    if not ok.all():
        first = int(np.flatnonzero(~ok)[0])
        where = "outside the scan" if not inside[first] else "between grid nodes"
        raise InputError(
            path,
            f"off-grid coordinate x={x[first]:g}, y={y[first]:g} (row {first + 1}) is {where} "
            f"({int((~ok).sum())} such rows; grid {grid_y.size}×{grid_x.size}, step {sx:g} µm)",
        )
    return _index_image(iy, ix, (grid_y.size, grid_x.size), path, x, y)
