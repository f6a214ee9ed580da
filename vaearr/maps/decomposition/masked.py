"""The pixels of a ``(y, x, *features)`` variable inside a mask, read chunk by chunk.

What PCA, NMF and constrained NMF share (:mod:`vaearr.maps.decomposition.references`,
:mod:`vaearr.maps.decomposition.decompose`): a seeded fit sample of at most ``max_fit`` pixels gathered
in one pass over the row chunks, and a projection of every masked pixel chunk by chunk into a
``(y, x, component)`` map (NaN outside the mask), so memory is bounded by the sample and one
chunk, not by the map.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from vaearr.errors import StoreError
from vaearr.progress import bar
from vaearr.store.schema import no_variable


def mask_array(ds: xr.Dataset, mask: str | xr.DataArray | None, dims: tuple[str, str], store: object) -> xr.DataArray:
    """The mask as a loaded ``dims`` DataArray: a store variable by name, a DataArray, or all pixels for None."""
    if mask is None:
        return xr.DataArray(np.ones([ds.sizes[d] for d in dims], bool), dims=dims,
                            coords={d: ds[d] for d in dims if d in ds.coords})
    if isinstance(mask, str):
        if mask not in ds:
            raise StoreError(store, no_variable(mask, ds.data_vars, kind="mask variable"))
        mask = ds[mask]
    return mask.transpose(*dims).load()


@dataclass
class Sample:
    """A seeded fit sample: ``x`` ``(m, features)`` float32 rows, ``index`` their positions
    among the masked pixels (raster order), ``minimum`` the smallest value over every masked pixel."""

    x: np.ndarray
    index: np.ndarray
    minimum: float


@dataclass
class Projection:
    """A ``(y, x, component)`` map and the relative reconstruction error ``‖X − X̂‖ / ‖X‖`` over the mask."""

    scores: xr.DataArray
    relative_error: float | None


class MaskedPixels:
    """Masked pixels of ``var`` as rows (features flattened), read one row chunk at a time.

    Examples
    --------
    >>> ds = xr.Dataset({"p": (("y", "x", "f"), np.arange(12.0).reshape(2, 3, 2))})
    >>> px = MaskedPixels(ds, "p", None)
    >>> px.n, px.feat_shape, px.pixel(1, 2).tolist()
    (6, (2,), [10.0, 11.0])
    """

    def __init__(self, ds: xr.Dataset, var: str, mask: str | xr.DataArray | None, *,
                 dims: tuple[str, str] = ("y", "x"), store: object = "the store"):
        if var not in ds:
            raise StoreError(store, no_variable(var, ds.data_vars))
        data = ds[var]
        self.dims = tuple(dims)
        self.feat_dims = [d for d in data.dims if d not in dims]
        self.data = data.transpose(*dims, *self.feat_dims)
        self.mask = np.asarray(mask_array(ds, mask, self.dims, store).values, dtype=bool)
        self.n = int(self.mask.sum())
        self.feat_shape = tuple(self.data.sizes[d] for d in self.feat_dims)
        self.coords = {d: ds[d] for d in (*dims, *self.feat_dims) if d in ds.coords}
        chunks = self.data.chunks[0] if self.data.chunks is not None else (self.data.sizes[dims[0]],)
        starts = np.cumsum([0, *chunks])
        self.blocks = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]

    def rows(self, rows: slice) -> np.ndarray:
        """The masked pixels of map rows ``rows``, ``(m, features)`` float32."""
        block = np.asarray(self.data.isel({self.dims[0]: rows}).values, dtype=np.float32)
        return block.reshape(block.shape[0], block.shape[1], -1)[self.mask[rows]]

    def pixel(self, y: int, x: int) -> np.ndarray:
        """One pixel's features, flattened, float32."""
        return np.asarray(self.data.isel({self.dims[0]: y, self.dims[1]: x}).values, dtype=np.float32).ravel()

    def positions(self, index: np.ndarray) -> np.ndarray:
        """``(k, 2)`` (row, col) map positions of masked pixels given by their raster-order index."""
        return np.argwhere(self.mask)[np.asarray(index, dtype=np.int64)]

    def sample(self, max_fit: int, seed: int) -> Sample:
        """A seeded sample of at most ``max_fit`` masked pixels (all when fewer), in raster order."""
        rng = np.random.default_rng(seed)
        pick = np.zeros(self.n, bool)
        pick[rng.choice(self.n, min(self.n, max_fit), replace=False)] = True
        parts, seen, lo = [], 0, np.inf
        for rows in bar(self.blocks, desc="fit sample: row blocks", unit="block"):
            x = self.rows(rows)
            if x.size:
                lo = min(lo, float(x.min()))
            parts.append(x[pick[seen: seen + x.shape[0]]])
            seen += x.shape[0]
        return Sample(x=np.concatenate(parts), index=np.flatnonzero(pick), minimum=lo)

    def project(self, scores_of: Callable[[np.ndarray], np.ndarray], n_out: int, *, component_dim: str = "component",
                reconstruct: Callable[[np.ndarray], np.ndarray] | None = None,
                transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Projection:
        """Every masked pixel through ``scores_of`` (rows → ``(m, n_out)``), chunk by chunk.

        ``transform`` is applied to each chunk's rows first (a shift); with ``reconstruct``
        (scores → rows) the relative reconstruction error of the transformed rows is measured.
        """
        full = np.full((*self.mask.shape, n_out), np.nan, np.float32)
        sse = sst = 0.0
        for rows in bar(self.blocks, desc="project: row blocks", unit="block"):
            mb = self.mask[rows]
            if not mb.any():
                continue
            x = self.rows(rows)
            if transform is not None:
                x = transform(x)
            s = scores_of(x)
            sub = full[rows]
            sub[mb] = s
            if reconstruct is not None:
                sse += float(((x.astype(np.float64) - reconstruct(s)) ** 2).sum())
                sst += float((x.astype(np.float64) ** 2).sum())
        da = xr.DataArray(full, dims=(*self.dims, component_dim),
                          coords={**{d: self.coords[d] for d in self.dims if d in self.coords},
                                  component_dim: np.arange(n_out)})
        err = float(np.sqrt(sse / sst)) if reconstruct is not None and sst > 0 else None
        return Projection(scores=da, relative_error=err)

    def components(self, matrix: np.ndarray, component_dim: str = "component") -> xr.DataArray:
        """``(k, features)`` rows → ``(component, *feature_dims)`` float32."""
        k = matrix.shape[0]
        return xr.DataArray(np.asarray(matrix, dtype=np.float32).reshape(k, *self.feat_shape),
                            dims=(component_dim, *self.feat_dims),
                            coords={component_dim: np.arange(k),
                                    **{d: self.coords[d] for d in self.feat_dims if d in self.coords}})
