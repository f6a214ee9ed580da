"""Each pattern averaged with its scan neighbours, uniformly or weighted by how alike they are.

Neighbour pattern averaging (kikuchipy's ``average_neighbour_patterns``) trades spatial
resolution for signal: every neighbour counts, so across a grain or sub-grain boundary a
pattern takes in the other side's. The **similarity** weighting keeps the gain inside regions and
drops it across boundaries, as kikuchipy's neighbour dot-product map compares neighbours, but in a
space where noise is measured:

* every pattern is divided by the map's static background and standardised, then projected on
  the first ``components`` principal directions of a seeded sample of the map (randomised SVD);
* the projections are whitened by the noise, the robust covariance of differences between pixels
  three apart along rows (halved; the same estimator as :mod:`vaearr.maps.segmentation.regions`), so a pair
  of pixels inside one region differs by about ``2 · components`` in squared whitened distance;
* a neighbour's weight is ``exp(−d² / (4 · components))`` (about e^−½ inside a region, near 0
  across a grain boundary, small across a 0.5° sub-grain boundary at 60 counts); the centre's is 1;
  pixels outside the mask or the map get 0; the weights are normalised.

The fitted projection (background, directions, whitening) is saved with the run that uses it
(:class:`NeighbourAverage`), so training, encoding, another store and the map explorer's single
clicks all average alike. Averaged integer data are rounded back to their dtype.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from dataclasses import dataclass
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dask.array as da
import numpy as np

from sklearn.utils.extmath import randomized_svd

from vaearr.errors import InputError
from vaearr.maps.patterns.background import static_background
from vaearr.maps.segmentation.merging import robust_covariance
from vaearr.numba_cache import lazy_njit
from vaearr.store import open_store
from vaearr.store.schema import MAP_DIMS

#: Kernel sizes (0: no averaging).
SIZES = (0, 3, 5)
#: How neighbours are weighted.
WEIGHTINGS = ("similarity", "uniform")
#: Principal directions the similarity is measured in, and the fit sample's size.
COMPONENTS = 32
FIT_PATTERNS = 4096
#: Patterns :meth:`NeighbourAverage.features` standardises at a time (each row's numbers do not depend on it): 1.9×
#: faster than a band of 5 000 at once on 2 cores, whose float copies leave the cache between passes.
FEATURE_ROWS = 256


def offsets(size: int) -> list[tuple[int, int]]:
    """The (dy, dx) of a ``size`` × ``size`` window, centre first."""
    r = size // 2
    return [(0, 0)] + [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if (dy, dx) != (0, 0)]


@dataclass
class NeighbourAverage:
    """A fitted neighbour average: the kernel, the weighting and, for ``similarity``, its projection.

    Attributes
    ----------
    size
        Window side (3 or 5).
    weighting
        ``similarity`` or ``uniform``.
    background
        (py, px) static background the similarity features divide by.
    projection
        (py·px, k): standardised pattern → whitened principal coordinates.
    offset
        (k,): the projection of the fit sample's mean (subtracted).
    """

    size: int
    weighting: str = "uniform"
    background: np.ndarray | None = None
    projection: np.ndarray | None = None
    offset: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.size not in SIZES[1:]:
            raise InputError(None, f"average_neighbours must be 3 or 5 (0: off), got {self.size}")
        if self.weighting not in WEIGHTINGS:
            raise InputError(None, f"neighbour_weights must be {' or '.join(WEIGHTINGS)}, got {self.weighting!r}")
        if self.weighting == "similarity" and self.projection is None:
            raise InputError(None, "similarity weights need a fitted projection (NeighbourAverage.fit)")

    # -- the weights --------------------------------------------------------------------------

    def features(self, patterns: np.ndarray) -> np.ndarray:
        """Whitened similarity coordinates ``(..., k)`` of patterns ``(..., py, px)``."""
        flat = patterns.reshape(-1, *patterns.shape[-2:])
        projection, offset = self.projection.astype(np.float32), self.offset.astype(np.float32)
        out = np.empty((len(flat), projection.shape[1]), np.float32)
        for i in range(0, len(flat), FEATURE_ROWS):  # a few patterns at a time: their float copies stay in the cache
            out[i:i + FEATURE_ROWS] = standardised(flat[i:i + FEATURE_ROWS], self.background) @ projection - offset
        return out.reshape(*patterns.shape[:-2], -1)

    def average_block(self, block: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The kernel of :meth:`average`: ``block (Y + 2r, X + 2r, ...)`` with its halo in, averaged out (same shape)."""
        r = self.size // 2
        out = block.copy()  # the halo is trimmed off by map_overlap
        out[r:block.shape[0] - r, r:block.shape[1] - r] = self.average_inner(block, mask)
        return out

    def weights(self, mask: np.ndarray, feats: np.ndarray | None) -> np.ndarray:
        """``(K, Y, X)`` float32: the weight of each offset of :func:`offsets` at each pixel of a block's inside
        (``mask (Y + 2r, X + 2r)`` with its halo; ``feats`` its :meth:`features`, None for uniform weights)."""
        r = self.size // 2
        ny, nx = mask.shape[0] - 2 * r, mask.shape[1] - 2 * r
        m = mask.astype(np.float32)
        k = feats.shape[-1] if feats is not None else 1
        out = np.empty((len(offsets(self.size)), ny, nx), np.float32)
        for i, (dy, dx) in enumerate(offsets(self.size)):
            w = out[i]
            w[...] = m[r + dy:r + dy + ny, r + dx:r + dx + nx]
            if feats is not None and (dy, dx) != (0, 0):
                diff = feats[r + dy:r + dy + ny, r + dx:r + dx + nx] - feats[r:r + ny, r:r + nx]
                w *= np.exp(-np.einsum("yxk,yxk->yx", diff, diff) / (4.0 * k))
        return out

    def average_inner(self, block: np.ndarray, mask: np.ndarray, feats: np.ndarray | None = None) -> np.ndarray:
        """:meth:`average_block` without the halo: ``(Y, X, ...)``. ``feats``: the block's :meth:`features`
        when they are known already (a stream keeps those of its halo rows). With numba, the weighted sum,
        the division, the rounding and the pixels left as they are make one compiled pass over each
        pattern's neighbours (:func:`weighted_mean`; the same values to the bit as the numpy path, which
        is many times slower)."""
        r = self.size // 2
        ny, nx = block.shape[0] - 2 * r, block.shape[1] - 2 * r
        m = mask.reshape(mask.shape[:2])
        if self.weighting == "similarity" and feats is None:
            feats = self.features(block)
        w = self.weights(m, feats if self.weighting == "similarity" else None)
        if NUMBA:
            flat = np.ascontiguousarray(block).reshape(block.shape[0], block.shape[1], -1)
            out = np.empty((ny, nx, flat.shape[2]), block.dtype)
            integer = np.dtype(block.dtype).kind in "iu"
            lo, hi = (np.iinfo(block.dtype).min, np.iinfo(block.dtype).max) if integer else (0, 0)
            inside = np.ascontiguousarray(m[r:r + ny, r:r + nx] > 0)
            dys, dxs = (np.array(v, np.int64) for v in zip(*offsets(self.size)))
            weighted_mean(flat, w, dys, dxs, r, inside, out, integer, np.float32(lo), np.float32(hi))
            return out.reshape(ny, nx, *block.shape[2:])
        return self._average_numpy(block, m, w)

    def _average_numpy(self, block: np.ndarray, m: np.ndarray, w: np.ndarray) -> np.ndarray:
        """:meth:`average_inner` in numpy: each product and sum in place, in the order of :func:`weighted_mean`."""
        r = self.size // 2
        ny, nx = block.shape[0] - 2 * r, block.shape[1] - 2 * r
        extra = (1,) * (block.ndim - 2)
        values = block if block.dtype == np.float32 else block.astype(np.float32)
        acc = np.zeros((ny, nx, *block.shape[2:]), np.float32)
        term = np.empty_like(acc)
        total = np.zeros((ny, nx), np.float32)
        for i, (dy, dx) in enumerate(offsets(self.size)):
            np.multiply(values[r + dy:r + dy + ny, r + dx:r + dx + nx], w[i].reshape(w[i].shape + extra), out=term)
            acc += term
            total += w[i]
        centre = block[r:r + ny, r:r + nx]
        inside = (m[r:r + ny, r:r + nx] > 0) & (total > 0)
        acc /= np.maximum(total, 1e-12).reshape(total.shape + extra)
        if np.dtype(block.dtype).kind in "iu":
            info = np.iinfo(block.dtype)
            np.clip(np.rint(acc, out=acc), info.min, info.max, out=acc)
        out = acc.astype(block.dtype)
        outside = ~inside
        if outside.any():
            out[outside] = centre[outside]
        return out

    def average(self, data: Any, mask: np.ndarray | None = None) -> Any:
        """Every sample of ``data (y, x, ...)`` (numpy or dask) averaged over its window, inside ``mask``.

        Samples outside the mask are left as they are; neighbours outside it do not count.
        """
        r = self.size // 2
        m = np.ones(data.shape[:2], bool) if mask is None else np.asarray(mask, bool)
        lazy = isinstance(data, da.Array)
        arr = data if lazy else da.from_array(np.asarray(data), chunks=(64, 64, *data.shape[2:]))
        extra = (1,) * (arr.ndim - 2)
        mk = da.from_array(m.reshape(m.shape + extra), chunks=(*arr.chunks[:2], *extra))
        depth = {0: r, 1: r, **{i: 0 for i in range(2, arr.ndim)}}
        out = da.map_overlap(_average_block, arr, mk, depth=depth, boundary=0, dtype=arr.dtype, kernel=self,
                             meta=np.empty((0,) * arr.ndim, arr.dtype))
        return out if lazy else out.compute()

    def average_read(self, read: Callable[[slice, slice], np.ndarray], shape: Sequence[int],
                     chunks: Sequence[Sequence[int]], dtype: Any, mask: np.ndarray | None = None, *,
                     origin: Sequence[int] = (0, 0)) -> da.Array:
        """The average of a ``(y, x, ...)`` array of ``shape`` that ``read(ys, xs)`` returns a window of, as a
        lazy array of ``chunks``: each block reads its own window with the halo (zeros beyond the map, as
        :meth:`average` pads), so memory is bounded by the blocks in flight. (:meth:`average`'s
        ``map_overlap`` on a store's array can hold most of the map: dask computes the neighbours' halo
        slices ahead of the blocks that use them.)

        ``origin`` (y0, x0): the result is the box of ``shape`` from there of a map of ``mask``'s shape (the
        map by default); the halo around the box is read from the map."""
        r = self.size // 2
        oy, ox = (int(v) for v in origin)
        m = np.ones(tuple(int(s) for s in shape[:2]), bool) if mask is None else np.asarray(mask, bool)
        ny, nx = m.shape
        extra = (1,) * (len(shape) - 2)

        def block(block_info: dict | None = None) -> np.ndarray:
            (y0, y1), (x0, x1) = [(a + o, b + o) for (a, b), o in zip(block_info[None]["array-location"][:2],
                                                                      (oy, ox))]
            ya, yb, xa, xb = max(y0 - r, 0), min(y1 + r, ny), max(x0 - r, 0), min(x1 + r, nx)
            pad = ((ya - (y0 - r), (y1 + r) - yb), (xa - (x0 - r), (x1 + r) - xb))
            window = np.pad(np.asarray(read(slice(ya, yb), slice(xa, xb))), (*pad, *[(0, 0)] * len(extra)))
            inside = np.pad(m[ya:yb, xa:xb], pad).reshape(window.shape[:2] + extra)
            return self.average_inner(window, inside)

        return da.map_blocks(block, chunks=tuple(tuple(c) for c in chunks), dtype=dtype,
                             meta=np.empty((0,) * len(shape), dtype))

    def stream(self, read: Callable[[slice], np.ndarray], shape: Sequence[int], mask: np.ndarray | None = None, *,
               rows: int, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Bands of ``rows`` whole scan rows of a ``(y, x, ...)`` array of ``shape`` averaged, in order from row
        ``start`` to ``stop``: ``(first row, (rows, x, ...))``. ``read(ys)`` returns rows ``ys``; each is read
        once (a band keeps the rows its successor's halo needs), so a pass reads the map once, as
        :meth:`average_read` does with its halo re-read per block."""
        r = self.size // 2
        ny = int(shape[0])
        stop = ny if stop is None else int(stop)
        m = np.ones(tuple(int(s) for s in shape[:2]), bool) if mask is None else np.asarray(mask, bool)
        similar = self.weighting == "similarity"
        buf, feats, lo, hi = None, None, 0, 0  # raw rows lo:hi and their features
        for y0 in range(int(start), stop, rows):
            y1 = min(y0 + rows, stop)
            a, b = max(y0 - r, 0), min(y1 + r, ny)
            keep = buf is not None and lo <= a < hi
            first_new = hi if keep else a
            new = np.asarray(read(slice(first_new, b))) if b > first_new else None
            parts = ([buf[a - lo:]] if keep else []) + ([new] if new is not None else [])
            buf = np.concatenate(parts, 0) if len(parts) > 1 else parts[0]
            if similar:  # each row's features once: the halo rows' are kept from the band before
                fparts = ([feats[a - lo:]] if keep else []) + ([self.features(new)] if new is not None else [])
                feats = np.concatenate(fparts, 0) if len(fparts) > 1 else fparts[0]
            lo, hi = a, b
            pad = ((a - (y0 - r), (y1 + r) - b), (r, r))
            window = np.pad(buf, (*pad, *[(0, 0)] * (buf.ndim - 2)))
            inside = np.pad(m[a:b], pad).reshape(window.shape[:2] + (1,) * (buf.ndim - 2))
            f = np.pad(feats, (*pad, (0, 0))) if similar else None
            yield y0, self.average_inner(window, inside, f)

    # -- naming, saving -----------------------------------------------------------------------

    def variable(self, var: str) -> str:
        """The derived store variable: ``{var}_avg{size}`` (uniform) or ``{var}_sim{size}`` (similarity)."""
        return f"{var}_{'avg' if self.weighting == 'uniform' else 'sim'}{self.size}"

    def signature(self) -> str:
        """What makes two averages the same (kernel, weighting and a digest of the fitted arrays)."""
        h = hashlib.sha256()
        for a in (self.background, self.projection, self.offset):
            if a is not None:
                h.update(np.ascontiguousarray(a, np.float32).tobytes())
        return json.dumps({"kernel": self.size, "weights": self.weighting,
                           "fit": h.hexdigest()[:16] if self.weighting == "similarity" else None}, sort_keys=True)

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays, to save beside the parameters."""
        if self.weighting != "similarity":
            return {}
        return {"background": self.background, "projection": self.projection, "offset": self.offset}

    @classmethod
    def fit(cls, patterns: np.ndarray, rows: np.ndarray, *, size: int, background: np.ndarray,
            components: int = COMPONENTS, seed: int = 0) -> NeighbourAverage:
        """Fit the similarity projection on ``patterns (n_rows, nx, py, px)``: whole scan rows, for the noise's
        row pairs; ``rows`` (n_rows, nx) bool marks the pixels that count (the mask)."""
        background = np.asarray(background, np.float32)
        flat = standardised(patterns, background)  # (n_rows, nx, py*px)
        sample = flat[rows]
        if sample.shape[0] > FIT_PATTERNS:
            sample = sample[np.random.default_rng(seed).choice(sample.shape[0], FIT_PATTERNS, replace=False)]
        pairs = {lag: rows[:, lag:] & rows[:, :-lag] for lag in (3, 1)}
        lag = 3 if pairs[3].sum() >= 4 * min(components, 8) else 1  # a tiny map: neighbours
        # as many directions as the sample and the noise pairs can carry
        k = int(min(components, sample.shape[0] - 1, sample.shape[1], (int(pairs[lag].sum()) - 2) // 2))
        if k < 1:
            raise InputError(None, "too few neighbouring patterns to fit similarity weights for neighbour averaging")
        mean = sample.mean(0)
        _, _, vt = randomized_svd(sample - mean, k, random_state=seed)
        coords = (flat - mean) @ vt.T  # (n_rows, nx, k)
        diff = (coords[:, lag:] - coords[:, :-lag])[pairs[lag]]
        w, v = np.linalg.eigh(robust_covariance(diff.astype(np.float64)) / 2)
        whiten = v / np.sqrt(np.maximum(w, 1e-9 * max(float(w.max()), 1e-30)))
        projection = (vt.T @ whiten).astype(np.float32)
        return cls(size, "similarity", background=background, projection=projection,
                   offset=(mean @ projection).astype(np.float32))


#: Whether numba is there to compile :func:`weighted_mean` (else :meth:`NeighbourAverage.average_inner` runs in numpy).
NUMBA = importlib.util.find_spec("numba") is not None


@lazy_njit(nogil=True, cache=True)
def weighted_mean(window, weights, dys, dxs, r, inside, out, integer, lo, hi):  # pragma: no cover - compiled
    """``out[y, x] = Σ_k weights[k, y, x] · window[y + r + dys[k], x + r + dxs[k]] / Σ_k weights[k, y, x]`` for every
    feature, in float32, summed in the order of the offsets (as the numpy path), rounded and clipped to
    [lo, hi] for ``integer`` data; a pixel outside ``inside`` (or with no weight) keeps its own values."""
    ny, nx, nf = out.shape
    acc = np.empty(nf, np.float32)
    tiny = np.float32(1e-12)
    for y in range(ny):
        for x in range(nx):
            total = np.float32(0.0)
            for k in range(len(dys)):
                total += weights[k, y, x]
            if not inside[y, x] or not total > 0:
                out[y, x, :] = window[y + r, x + r, :]
                continue
            acc[:] = 0
            for k in range(len(dys)):
                w = weights[k, y, x]
                row = window[y + r + dys[k], x + r + dxs[k]]
                for j in range(nf):
                    acc[j] += np.float32(row[j]) * w
            den = max(total, tiny)
            for j in range(nf):
                v = acc[j] / den
                if integer:
                    v = min(max(np.rint(v), lo), hi)
                out[y, x, j] = v


def standardised(patterns: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Patterns ``(..., py, px)`` divided by the background, each to zero mean and unit std: ``(..., py·px)`` float32."""
    lead = patterns.shape[:-2]
    x = np.asarray(patterns, np.float32).reshape(-1, patterns.shape[-2] * patterns.shape[-1])
    x = x / np.maximum(np.asarray(background, np.float32).reshape(1, -1), 1e-6)
    x -= x.mean(1, keepdims=True)
    x /= np.maximum(x.std(1, keepdims=True), 1e-12)
    return x.reshape(*lead, -1)


def _average_block(block: np.ndarray, mask: np.ndarray, kernel: NeighbourAverage) -> np.ndarray:
    return kernel.average_block(block, mask)


def fit_store(store: Any, var: str, mask: str | None, *, size: int, feature_dims: Sequence[str],
              background: np.ndarray | None = None) -> NeighbourAverage:
    """Similarity weights fitted on whole scan rows of a (y, x) map of patterns in ``store`` (:func:`fit_rows`)
    against its static background over ``mask`` (the mean pattern, computed unless given)."""
    ds = open_store(store)
    da_ = ds[var].transpose(*MAP_DIMS, *feature_dims)
    if background is None:
        background = static_background(store, var, MAP_DIMS, mask, feature_dims=feature_dims)
    rows = fit_rows(da_.sizes[MAP_DIMS[0]], da_.sizes[MAP_DIMS[1]])
    patterns = np.asarray(da_.isel({MAP_DIMS[0]: rows}).values)
    inside = (np.asarray(ds[mask].transpose(*MAP_DIMS).values, bool)[rows] if mask is not None
              else np.ones(patterns.shape[:2], bool))
    return NeighbourAverage.fit(patterns, inside, size=size, background=background)


def fit_rows(n_rows: int, n_cols: int, *, seed: int = 0, patterns: int = FIT_PATTERNS) -> np.ndarray:
    """Which scan rows the similarity fit reads: enough whole rows for ``patterns`` (at least 8), spread at random."""
    want = max(8, math.ceil(patterns / max(n_cols, 1)))
    if want >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, want, replace=False))
