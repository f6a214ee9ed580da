"""One pixel (or one box) of an EBSD map through a run: its pattern, model input, reconstruction, latent.

:class:`MapProbe` is what ``vaearr explore-map`` (:mod:`vaearr.viz.map_explorer`) draws from. It
reads patterns straight from the store's zarr array, one chunk per pixel, and streams a box's
mean pattern over the chunks the box touches (every ``stride``-th row and column once the box
holds more than ``box_cap`` pixels), so a 500 × 500 map of 60 × 60 patterns is never loaded
whole. The small (y, x) maps (band contrast, latents, clusters, weights) are read on first use
and kept. The store is opened read-only: nothing here writes it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr
import zarr

from vaearr.errors import InputError, StoreError
from vaearr.run import Run
from vaearr.store import open_store, require_whole
from vaearr.store.schema import MAP_DIMS, RGB, no_variable

#: A box with more pixels than this is subsampled on a regular grid for its mean pattern.
BOX_CAP = 4096
#: (y, x, k) variables with at most this many k are listed per pixel (and offered as maps).
MAX_COMPONENTS = 64
_ITEM = re.compile(r"^(?P<name>.+)\[(?P<i>\d+)\]$")


@dataclass
class Pixel:
    """What one pixel holds: ``raw`` pattern as stored, ``x`` the model input, ``recon`` its
    reconstruction (both first channel), ``mu`` the encoded latent, ``values`` every small (y, x)
    variable at the pixel (clusters, weights, band contrast...)."""

    iy: int
    ix: int
    y: float
    x: float
    raw: np.ndarray
    x_in: np.ndarray
    recon: np.ndarray
    mu: np.ndarray
    inside: bool
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Box:
    """A box selection: its index bounds (end exclusive), mean pattern over ``n_read`` of its
    ``n_pixels`` pixels (every ``stride``-th row and column), and the latents of its pixels."""

    iy: tuple[int, int]
    ix: tuple[int, int]
    mean: np.ndarray
    n_pixels: int
    n_read: int
    stride: int
    latents: np.ndarray | None  # (n, latent_dim), finite rows only


def _index(coord: np.ndarray, value: float) -> int | None:
    """Index of the grid cell of ``coord`` (ascending centres) that holds ``value``; None when outside."""
    if len(coord) == 1:
        return 0
    half = np.diff(coord).mean() / 2
    if value < coord[0] - half or value > coord[-1] + half:
        return None
    return int(np.abs(coord - value).argmin())


class MapProbe:
    """A store's map and a run, read pixel by pixel.

    Parameters
    ----------
    store
        An EBSD map store with the run's pattern variable over (y, x, py, px).
    run
        A training run folder (or an open :class:`~vaearr.run.Run`) trained on such patterns.
    checkpoint, device
        Which model of the run, on what device.
    latent
        The store's latent variable (``vaearr encode``'s name): the map's range of each dim and
        the latents of a box come from it (skipped when the store has none).
    box_cap
        The most patterns a box's mean reads (see :data:`BOX_CAP`).
    threads
        CPU threads the model runs on per click (None: torch's setting); restored after.
    """

    def __init__(self, store: str | os.PathLike, run: str | os.PathLike | Run, *, checkpoint: str = "best",
                 device: str = "cpu", latent: str = "latent", box_cap: int = BOX_CAP, threads: int | None = 1):
        self.store = os.fspath(store)
        self.run = run if isinstance(run, Run) else Run.open(run)
        self.ds = ds = open_store(store)
        require_whole(ds, ds.data_vars, store)  # it offers every map and reads the patterns: none damaged
        var = self.run.data.var
        if var not in ds.data_vars:
            raise StoreError(store, f"{no_variable(var, ds.data_vars)}: the map explorer needs the patterns (the run "
                                    f"{self.run.path} was trained on '{var}')")
        pat = ds[var]
        if pat.ndim != 4 or tuple(pat.dims[:2]) != MAP_DIMS:
            raise StoreError(store, f"'{var}' has dims {tuple(pat.dims)}; the map explorer needs {var}(y, x, py, px)")
        want = tuple(self.run.preprocess.sample_shape)
        have = (1, *map(int, pat.shape[2:]))
        if want != have:
            raise InputError(self.run.path, f"the run takes {var} of shape {want[1:]} (its input before preprocessing); "
                                            f"{self.store}'s '{var}' are {have[1:]}")
        self.var = var
        self.shape = (int(pat.shape[0]), int(pat.shape[1]))
        self.pattern_shape = have[1:]
        self.ycoord = np.asarray(ds[MAP_DIMS[0]].values if MAP_DIMS[0] in ds.coords else np.arange(self.shape[0]), float)
        self.xcoord = np.asarray(ds[MAP_DIMS[1]].values if MAP_DIMS[1] in ds.coords else np.arange(self.shape[1]), float)
        self.box_cap = int(box_cap)
        self.threads = threads
        self.model = self.run.model(checkpoint, device=device)
        self.device = next(self.model.parameters()).device
        self.latent_dim = int(self.model.latent_shape[0]) if len(self.model.latent_shape) == 1 else None
        if self.latent_dim is None:
            raise InputError(self.run.path, f"the map explorer needs a vector latent; this model's latent is "
                                            f"{tuple(self.model.latent_shape)}")
        self.latent = latent if latent in ds.data_vars and ds[latent].ndim == 3 and \
            tuple(ds[latent].dims[:2]) == MAP_DIMS and ds[latent].shape[2] == self.latent_dim else None
        self.mask_name = self.run.data.mask if self.run.data.mask in ds.data_vars else None
        self._zarr = self._open_array(pat)
        self._cache: dict[str, np.ndarray] = {}
        self._avg = self.run.preprocess.average_neighbours
        self._avg_var = self.run.preprocess.source_variable(var) if self._avg else None
        if self._avg_var is not None and self._avg_var not in ds.data_vars:
            self._avg_var = None  # averaged on the fly from the pixel's window

    def _open_array(self, pat: xr.DataArray) -> Any:
        """The zarr array behind ``pat`` (read-only), or the lazy DataArray when it is not a plain zarr array."""
        try:
            return zarr.open_group(self.store, mode="r")[pat.name]
        except Exception:  # noqa: BLE001 - a URL or layout zarr cannot open directly: read through xarray
            return None

    # -- the maps --------------------------------------------------------------------------------

    def map_names(self) -> list[str]:
        """Every map the explorer can show: (y, x) variables, RGB variables, and ``name[i]`` per
        component of (y, x, k) variables (latent dims first)."""
        plain, rgb, items = [], [], []
        for name, v in self.ds.data_vars.items():
            if name == self.var or v.ndim not in (2, 3) or tuple(v.dims[:2]) != MAP_DIMS:
                continue
            if v.ndim == 2:
                plain.append(str(name))
            elif v.dims[2] == RGB and v.shape[2] == 3:
                rgb.append(str(name))
            elif v.shape[2] <= MAX_COMPONENTS:
                items += [f"{name}[{i}]" for i in range(v.shape[2])]
        first = [n for n in items if n.startswith(f"{self.latent}[")] if self.latent else []
        return plain + rgb + first + [n for n in items if n not in first]

    def default_map(self) -> str:
        names = self.map_names()
        for pick in ("bandcontrast", f"{self.latent}[0]" if self.latent else None):
            if pick in names:
                return pick
        return names[0]

    def check_map(self, name: str) -> str:
        names = self.map_names()
        if name not in names:
            raise StoreError(self.store, f"{no_variable(name, names, kind='map', listed='its maps')}; a latent dim is "
                                         "named as latent[3]")
        return name

    def small(self, name: str) -> np.ndarray:
        """A small (y, x[, k]) variable, read once and kept."""
        if name not in self._cache:
            self._cache[name] = np.asarray(self.ds[name].transpose(*MAP_DIMS, ...).values)
        return self._cache[name]

    def map_array(self, name: str) -> np.ndarray:
        """The map ``name`` (see :meth:`map_names`): (y, x) float, or (y, x, 3) for RGB variables."""
        m = _ITEM.match(name)
        if m and m["name"] in self.ds.data_vars:
            return self.small(m["name"])[:, :, int(m["i"])].astype(np.float32)
        a = self.small(name)
        return a.astype(np.float32) if a.ndim == 2 else a

    @property
    def mask(self) -> np.ndarray | None:
        return None if self.mask_name is None else self.small(self.mask_name).astype(bool)

    def latent_range(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-dim min and max of the store's latent over the mask (NaN outside it), or None."""
        if self.latent is None:
            return None
        lat = self.small(self.latent)
        if self.mask is not None:
            lat = lat[self.mask]
        lat = lat.reshape(-1, self.latent_dim)
        lat = lat[np.isfinite(lat).all(1)]
        if not len(lat):
            return None
        return lat.min(0), lat.max(0)

    # -- one pixel -------------------------------------------------------------------------------

    def locate(self, x: float, y: float) -> tuple[int, int] | None:
        """The (iy, ix) of the pixel at map coordinates (x, y), or None outside the map."""
        iy, ix = _index(self.ycoord, y), _index(self.xcoord, x)
        return None if iy is None or ix is None else (iy, ix)

    def pattern(self, iy: int, ix: int) -> np.ndarray:
        """The stored pattern at (iy, ix) (one chunk read)."""
        if self._zarr is not None:
            return np.asarray(self._zarr[iy, ix])
        return np.asarray(self.ds[self.var][iy, ix].values)

    def _model_source(self, iy: int, ix: int, raw: np.ndarray) -> np.ndarray:
        """The pattern the run's input pipeline starts from: ``raw``, or its neighbour average."""
        if not self._avg:
            return raw
        if self._avg_var is not None:
            return np.asarray(self.ds[self._avg_var][iy, ix].values)
        d = self._avg // 2
        y0, x0 = max(iy - d, 0), max(ix - d, 0)
        y1, x1 = min(iy + d + 1, self.shape[0]), min(ix + d + 1, self.shape[1])
        window = np.asarray(self._zarr[y0:y1, x0:x1]) if self._zarr is not None else \
            np.asarray(self.ds[self.var][y0:y1, x0:x1].values)
        m = self.mask[y0:y1, x0:x1] if self.mask is not None else None
        return np.asarray(self.run.preprocess.neighbours.average(window, m))[iy - y0, ix - x0]

    @torch.no_grad()
    def through_model(self, patterns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model inputs, reconstructions and latent means of patterns ``(n, py, px)`` in the stored dtype."""
        # a click's one pattern on one CPU thread: on a busy machine two threads wait on each other
        # (bench_explore_map.py: median 8 ms on one thread, 27-160 ms on two at load 3-5 on 2 cores)
        threads = torch.get_num_threads()
        if self.threads and self.device.type == "cpu":
            torch.set_num_threads(self.threads)
        try:
            x = self.run.preprocess(torch.from_numpy(np.ascontiguousarray(patterns[:, None])).to(self.device))
            mu, _ = self.model.encode(x)
            recon = self.model.decode(mu)
        finally:
            torch.set_num_threads(threads)
        return (x[:, 0].float().cpu().numpy(), recon[:, 0].float().cpu().numpy(), mu.float().cpu().numpy())

    def pixel(self, iy: int, ix: int) -> Pixel:
        """Everything the explorer shows for pixel (iy, ix)."""
        raw = self.pattern(iy, ix)
        x_in, recon, mu = self.through_model(self._model_source(iy, ix, raw)[None])
        values: dict[str, Any] = {}
        for name, v in self.ds.data_vars.items():
            if name == self.var or v.ndim not in (2, 3) or tuple(v.dims[:2]) != MAP_DIMS:
                continue
            if (v.ndim == 3 and v.shape[2] > MAX_COMPONENTS) or name == self.latent:  # the latent: drawn as bars
                continue
            values[str(name)] = self.small(str(name))[iy, ix]
        inside = True if self.mask is None else bool(self.mask[iy, ix])
        return Pixel(iy, ix, float(self.ycoord[iy]), float(self.xcoord[ix]), raw, x_in[0], recon[0], mu[0], inside,
                     values)

    # -- a box -----------------------------------------------------------------------------------

    def box_indices(self, x0: float, x1: float, y0: float, y1: float) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Index bounds (end exclusive) of the pixels whose centres lie in the box, or None when none do."""
        xs = np.flatnonzero((self.xcoord >= min(x0, x1)) & (self.xcoord <= max(x0, x1)))
        ys = np.flatnonzero((self.ycoord >= min(y0, y1)) & (self.ycoord <= max(y0, y1)))
        if not len(xs) or not len(ys):
            return None
        return (int(ys[0]), int(ys[-1]) + 1), (int(xs[0]), int(xs[-1]) + 1)

    def box(self, iy: tuple[int, int], ix: tuple[int, int]) -> Box:
        """Mean pattern of the box (streamed chunk by chunk, subsampled past :attr:`box_cap`) and its latents."""
        (y0, y1), (x0, x1) = iy, ix
        n_pixels = (y1 - y0) * (x1 - x0)
        stride = max(1, math.ceil(math.sqrt(n_pixels / self.box_cap))) if n_pixels > self.box_cap else 1
        rows, cols = np.arange(y0, y1, stride), np.arange(x0, x1, stride)
        total = np.zeros(self.pattern_shape, np.float64)
        # one band of chunk rows at a time: each chunk is read and decoded once, and only a band is in memory
        band = int(self._zarr.chunks[0]) if self._zarr is not None else 1
        for start in range(rows[0] - rows[0] % band, rows[-1] + 1, band):
            r = rows[(rows >= start) & (rows < start + band)]
            if not len(r):
                continue
            sel = (slice(int(r[0]), int(r[-1]) + 1, stride), slice(x0, x1, stride))
            block = self._zarr[sel] if self._zarr is not None else self.ds[self.var][sel].values
            total += np.asarray(block).sum(axis=(0, 1), dtype=np.float64)
        n_read = len(rows) * len(cols)
        latents = None
        if self.latent is not None:
            latents = self.small(self.latent)[y0:y1, x0:x1].reshape(-1, self.latent_dim)
            latents = latents[np.isfinite(latents).all(1)]
        return Box(iy, ix, (total / n_read).astype(np.float32), n_pixels, n_read, stride, latents)


__all__ = ["BOX_CAP", "Box", "MapProbe", "Pixel"]
