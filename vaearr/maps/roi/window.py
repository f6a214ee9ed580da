"""The training window of a map: a box about twice the characteristic grain size that holds every kind of region.

A model of a map's patterns needs to see each kind of pattern the map has, not every pattern:
the seed group's paper (arXiv 2601.12584) finds the region a model needs to be about twice the
characteristic grain size, from the information content of the data. Training on such a window
costs the same on a 10⁵- and a 10⁶-pixel map; only encoding grows with the map.

How :func:`choose_window` measures it (every step on rows of the map, read in bands, about
:data:`READ_PATTERNS` patterns in all whatever the map's size):

1. **Pattern-similarity boundaries.** Each pattern is projected on the noise-whitened similarity
   coordinates of the neighbour average (:class:`~vaearr.maps.roi.neighbours.NeighbourAverage`: ``k``
   principal directions, the noise 1 per direction). For two patterns ``a``, ``b`` next to each
   other on a line (the next pixel inside the mask, at most :data:`~vaearr.maps.roi.window_measures.GAP` masked pixels between: a
   band-contrast ROI drops the boundary pixels themselves), the correlation of their noise-free
   signals is ``r = 1 − (|a − b|² − 2k) / (|a|² + |b|² − 2k)`` (the noise adds ``k`` to each
   squared norm and ``2k`` to the squared difference). A step is a boundary where
   ``r <`` :data:`BOUNDARY_CORRELATION`: on the two simulated families (10 grains, 0.5° sub-grains,
   bent grains) inside pairs read 0.92–1.0, sub-grain pairs 0.85–1.0 and grain-boundary pairs
   0.4–0.9 (5th–95th percentiles).
2. **The characteristic grain size** is the mean linear intercept (ISO 643, ASTM E112) of those
   boundaries along rows and columns: line length over crossings, a run of boundary steps
   counting as one crossing. On those maps it reads within 10 % of the planted grains' own
   intercept (19.5 against 17.8 px, 22.8 against 20.9, 20.4 against 20.4).
3. **Kinds of region** are the clusters of the pattern coordinates (k-means), as many as stay
   distinct: two kinds whose mean patterns would not make a boundary (``r`` of the means at least
   the threshold) are one, and at most :data:`~vaearr.maps.roi.window_measures.MAX_KINDS`.
4. **The window** starts at :data:`GRAIN_SIZES` × the grain size a side (and at least
   :data:`MIN_PIXELS` patterns inside the mask), placed where its kinds are closest to the map's,
   and grows by :data:`GROWTH` until some place holds every kind of at least
   :data:`MIN_KIND_SHARE` of the map at no less than :data:`COVER` of its share of the map, but
   not beyond :data:`MAX_PIXELS` patterns. Where no box of that size covers them (kinds that are
   orientations spread over a large map), the window is **tiles** of the grain size a side spread
   over the map, taken one at a time where they add the kinds the tiles so far lack, up to
   :data:`MAX_PIXELS` patterns (on a simulated million-pixel map with 14 kinds: one 64 × 64 box
   holds some kinds at 0 % of their share, 16 tiles of 17 × 17 hold every one at ≥ 53 %), when
   they cover better than the box; ``covered`` says whether the cover was reached. A map of no
   more than :data:`MAX_PIXELS` patterns is trained whole when no smaller window covers it.

Why the intercept and not the paper's information content: the intercept is measured on a few
lines, in pixels, by the standard method, before any model is trained, while the paper reads the
size from information curves over windows of trained models. The kinds' information is kept as the
window's check instead: the Kullback–Leibler divergence of the window's kinds from the map's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vaearr.errors import InputError
from vaearr.options import WindowRequest
from vaearr.store import open_store
from vaearr.store.schema import MAP_DIMS
from vaearr.maps.roi.window_measures import (
    BOUNDARY_CORRELATION,
    COVER,
    MIN_KIND_SHARE,
    READ_PATTERNS,
    KindGrid,
    find_kinds,
    mean_intercept,
    place,
    read_bands,
)

#: The window's side, in characteristic grain sizes (the paper's factor).
GRAIN_SIZES = 2.0
#: How much the side grows at each try, and the fewest patterns a window holds inside the mask.
GROWTH = 1.25
MIN_PIXELS = 1024
#: The most patterns (inside the mask) the window may grow to for the kinds' cover: training then costs the same on
#: any map (a 64 × 64 box, ten epochs in about four minutes on two cores). Where the kinds are orientations spread
#: over a large map (a few grains of each, far apart), holding a quarter of each kind's share takes most of the map
#: (a million-pixel map: 40 %, 380 000 patterns, 4.7 GB in training); the window stays at this size, placed where
#: it covers the kinds best, the cover it reaches is written, and the check after training (reconstruction error
#: outside over inside) says whether the model holds outside.
MAX_PIXELS = 4096
#: The smallest side of a window: a pattern neighbourhood (3 × 3).
MIN_SIDE = 3
#: Where no box of MAX_PIXELS patterns holds every kind: tiles of TILE_GRAIN_SIZES × the grain size a side (at
#: least MIN_TILE) spread over the map, chosen one at a time to hold the kinds the tiles so far lack, up to
#: MAX_PIXELS patterns in all. A model of a map needs each kind of pattern, not one place: where the kinds are
#: orientations spread over a large map, one box of that budget misses most of them.
TILE_GRAIN_SIZES = 1.0
MIN_TILE = 8
#: Pattern coordinates k-means is fitted on at most.
KIND_SAMPLE = 20000


# --------------------------------------------------------------------------------------------
# what a user asks for (parsed by vaearr.options.parse_window)


def check_request(request: WindowRequest, shape: Sequence[int], *, min_side: int = MIN_SIDE,
                  where: Any = None) -> None:
    """One clear line for a box outside the ``shape`` (ny, nx) map, or a box or size smaller than a
    pattern neighbourhood (``min_side`` a side)."""
    ny, nx = (int(s) for s in shape)
    if request.how in ("box", "boxes"):
        v = request.value
        for i in range(0, len(v), 4):
            y0, y1, x0, x1 = v[i:i + 4]
            one = WindowRequest("box", (y0, y1, x0, x1)).text()
            if not (0 <= y0 < y1 <= ny and 0 <= x0 < x1 <= nx):
                raise InputError(where, f"`window={one!r}` lies outside the {ny} × {nx} map "
                                        f"(rows 0:{ny}, columns 0:{nx})")
            if min(y1 - y0, x1 - x0) < min_side:
                raise InputError(where, f"`window={one!r}` is {y1 - y0} × {x1 - x0} pixels, smaller than a "
                                        f"pattern neighbourhood ({min_side} × {min_side})")
        if len({(v[i + 1] - v[i], v[i + 3] - v[i + 2]) for i in range(0, len(v), 4)}) > 1:
            raise InputError(where, f"`window` {request.text()}: the boxes of a window of several must be of one size")
        return
    elif request.how == "size":
        sides = request.value
    else:
        return
    if min(sides) < min_side:
        raise InputError(where, f"`window={request.text()!r}` is {sides[0]} × {sides[1]} pixels, smaller than a "
                                f"pattern neighbourhood ({min_side} × {min_side})")


# --------------------------------------------------------------------------------------------
# the window


@dataclass
class Window:
    """A training window: ``box`` (y0, y1, x0, x1; stops exclusive) of a map of ``shape`` (ny, nx),
    ``how`` it was chosen (``auto``, ``size``, ``box``, ``all``) and what the chooser measured (``info``),
    and after training the reconstruction check (``check``)."""

    box: tuple[int, int, int, int]
    shape: tuple[int, int]
    how: str
    info: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    #: Several boxes (tiles spread over the map) instead of one; ``box`` is then their bounding box.
    tiles: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def boxes(self) -> tuple[tuple[int, int, int, int], ...]:
        """The window's boxes: its tiles, or its one box."""
        return tuple(self.tiles) or (tuple(self.box),)

    @property
    def whole(self) -> bool:
        """Whether the window is the whole map."""
        return not self.tiles and tuple(self.box) == (0, self.shape[0], 0, self.shape[1])

    @property
    def slices(self) -> tuple[slice, slice]:
        y0, y1, x0, x1 = self.box
        return slice(y0, y1), slice(x0, x1)

    @property
    def text(self) -> str:
        """The window as ``--window`` takes it: ``y0:y1,x0:x1`` (tiles joined by ``;``)."""
        if self.tiles:
            return WindowRequest("boxes", tuple(v for t in self.tiles for v in t)).text()
        return WindowRequest("box", tuple(self.box)).text()

    def region(self) -> np.ndarray:
        """(ny, nx) bool: True inside the window."""
        out = np.zeros(self.shape, bool)
        for y0, y1, x0, x1 in self.boxes:
            out[y0:y1, x0:x1] = True
        return out

    def describe(self) -> str:
        """One line: the box, its size and why, e.g. ``rows 0:40, columns 12:52 (40 × 40 of 48 × 64; auto: …)``."""
        y0, y1, x0, x1 = self.box
        head = f"rows {y0}:{y1}, columns {x0}:{x1} ({y1 - y0} × {x1 - x0} of {self.shape[0]} × {self.shape[1]}"
        i = self.info
        if self.tiles:
            t = self.tiles[0]
            return (f"{len(self.tiles)} tiles of {t[1] - t[0]} × {t[3] - t[2]} spread over the {self.shape[0]} × "
                    f"{self.shape[1]} map ({int(self.region().sum())} pixels; {self.how}: grain size "
                    f"{i.get('grain_size') or 0:.1f} px, {i.get('kinds')} kinds, the rarest at {i.get('cover', 0):.2f} "
                    f"of its share)")
        if self.how == "auto" and "grain_size" in i:
            size = "none measured" if i["grain_size"] is None else f"{i['grain_size']:.1f} px"
            head += (f"; auto: grain size {size} (mean linear intercept), {i['kinds']} kind"
                     f"{'s' if i['kinds'] != 1 else ''} of region, all covered" if i.get("covered") else
                     f"; auto: grain size {size}, {i['kinds']} kinds; no smaller window holds every kind"
                     if self.whole else
                     f"; auto: grain size {size}, {i['kinds']} kinds, held to {i.get('max_pixels', MAX_PIXELS)} "
                     f"patterns: the rarest kind at {i.get('cover', 0):.2f} of its share")
        elif self.how != "auto":
            head += f"; {self.how}"
        return head + ")"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "box": list(self.box), "shape": list(self.shape),
                "tiles": [list(t) for t in self.tiles]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Window:
        return cls(tuple(int(v) for v in d["box"]), tuple(int(v) for v in d["shape"]), d["how"],
                   dict(d.get("info") or {}), dict(d.get("check") or {}),
                   tuple(tuple(int(v) for v in t) for t in d.get("tiles") or ()))


def from_boxes(boxes: Sequence[Sequence[int]], shape: Sequence[int], how: str, info: dict[str, Any] | None = None
               ) -> Window:
    """A window of one box, or of several (tiles) with their bounding box as ``box``."""
    boxes = [tuple(int(v) for v in b) for b in boxes]
    if len(boxes) == 1:
        return Window(boxes[0], tuple(int(v) for v in shape), how, dict(info or {}))
    b = np.array(boxes)
    bound = (int(b[:, 0].min()), int(b[:, 1].max()), int(b[:, 2].min()), int(b[:, 3].max()))
    return Window(bound, tuple(int(v) for v in shape), how, dict(info or {}), tiles=tuple(boxes))


def whole_map(shape: Sequence[int], how: str = "all", **info: Any) -> Window:
    ny, nx = (int(s) for s in shape)
    return Window((0, ny, 0, nx), (ny, nx), how, dict(info))


# --------------------------------------------------------------------------------------------
# the chooser


def read_features(store: str | os.PathLike, var: str, mask: str | None, features: Callable[[np.ndarray], np.ndarray],
                  *, feature_dims: Sequence[str], budget: int = READ_PATTERNS,
                  block: int = 4096) -> tuple[list[tuple[int, np.ndarray, np.ndarray]], np.ndarray]:
    """The pattern coordinates of the bands of rows :func:`read_bands` picks: ``[(first row, (rows, nx, k),
    inside (rows, nx))]``, and the mask over the map."""
    ds = open_store(store, chunks=None)
    da = ds[var].transpose(*MAP_DIMS, *feature_dims)
    ny, nx = da.sizes[MAP_DIMS[0]], da.sizes[MAP_DIMS[1]]
    m = np.asarray(ds[mask].transpose(*MAP_DIMS).values, bool) if mask is not None else np.ones((ny, nx), bool)
    out = []
    step = max(1, block // max(nx, 1))  # rows a read: a few thousand patterns in memory at once
    for a, b in read_bands(ny, nx, budget=budget):
        parts = [features(np.asarray(da[{MAP_DIMS[0]: slice(r, min(r + step, b))}].values))
                 for r in range(a, b, step)]
        out.append((a, np.concatenate(parts, 0).astype(np.float32), m[a:b]))
    return out, m


def choose_window(store: str | os.PathLike, var: str, mask: str | None,
                  features: Callable[[np.ndarray], np.ndarray], *, feature_dims: Sequence[str],
                  size: tuple[int, int] | None = None, seed: int = 0, budget: int = READ_PATTERNS,
                  max_pixels: int = MAX_PIXELS) -> Window:
    """The training window of ``var`` (a (y, x) map of patterns) inside ``mask``; see the module docstring.

    ``features`` maps patterns ``(..., py, px)`` to their noise-whitened coordinates ``(..., k)``
    (:meth:`NeighbourAverage.features <vaearr.maps.roi.neighbours.NeighbourAverage.features>`); ``size`` (rows,
    columns) fixes the side and only places the window; ``max_pixels`` bounds what the kinds' cover may grow it to.
    """
    bands, inside = read_features(store, var, mask, features, feature_dims=feature_dims, budget=budget)
    ny, nx = inside.shape
    info: dict[str, Any] = mean_intercept(bands)
    info["rows_read"] = int(sum(f.shape[0] for _, f, _ in bands))
    feats = np.concatenate([f[m] for _, f, m in bands], 0)
    rng = np.random.default_rng(seed)
    sample = feats if len(feats) <= KIND_SAMPLE else feats[rng.choice(len(feats), KIND_SAMPLE, replace=False)]
    km = find_kinds(sample, seed=seed) if len(sample) else None
    rows = np.concatenate([np.arange(a, a + f.shape[0]) for a, f, _ in bands])
    labels = np.full((len(rows), nx), -1, np.int64)
    at = 0
    for _, f, m in bands:
        lab = km.predict(f[m]) if km is not None else np.zeros(int(m.sum()), np.int64)
        block_labels = np.full(m.shape, -1, np.int64)
        block_labels[m] = lab
        labels[at:at + f.shape[0]] = block_labels
        at += f.shape[0]
    n_kinds = km.n_clusters if km is not None else 1
    grid = KindGrid(rows, labels, n_kinds, (ny, nx))
    info.update(kinds=n_kinds, kind_shares=[round(float(s), 4) for s in grid.share])
    boxes: list[tuple[int, int, int, int]]
    if size is not None:
        box, cover = place(grid, size, inside)
        boxes, how = [box], "size"
    else:
        box, cover = grow(grid, info["grain_size"], inside, max_pixels)
        boxes, how = [box], "auto"
        whole = tuple(box) == (0, ny, 0, nx)
        if cover < COVER and not whole and info["grain_size"] is not None:
            tiles, t_cover = spread_tiles(grid, info["grain_size"], inside, max_pixels)
            t_counts = sum(grid.counts(*t) for t in tiles)
            if (t_cover, grid.held(t_counts)) > (cover, grid.held(grid.counts(*box))):
                boxes, cover = tiles, t_cover
    counts = sum(grid.counts(*b) for b in boxes)
    info.update(cover=round(cover, 4), covered=bool(cover >= COVER), divergence_nats=round(grid.divergence(counts), 4),
                window_kind_shares=[round(float(v), 4) for v in counts / max(counts.sum(), 1)],
                threshold=BOUNDARY_CORRELATION, grain_sizes=GRAIN_SIZES, min_pixels=MIN_PIXELS, max_pixels=max_pixels,
                pixels_inside=int(sum(inside[b[0]:b[1], b[2]:b[3]].sum() for b in boxes)))
    return from_boxes(boxes, (ny, nx), how, info)


def spread_tiles(grid: KindGrid, grain_size: float, inside: np.ndarray,
                 max_pixels: int = MAX_PIXELS) -> tuple[list[tuple[int, int, int, int]], float]:
    """Tiles of :data:`TILE_GRAIN_SIZES` × ``grain_size`` a side (at least :data:`MIN_TILE`) on a grid over the map,
    taken one at a time — the one after which the tiles hold the kinds best (:meth:`KindGrid.cover`, then
    :meth:`KindGrid.held`, then the least divergence from the map's kinds, then the most pixels inside the mask) —
    until they hold ``max_pixels`` patterns inside the mask; and their cover."""
    ny, nx = grid.shape
    side = min(max(math.ceil(TILE_GRAIN_SIZES * grain_size), MIN_TILE), ny, nx)
    cands = [(y, y + side, x, x + side) for y in range(0, ny - side + 1, side) for x in range(0, nx - side + 1, side)]
    sat = np.zeros((ny + 1, nx + 1), np.int64)
    sat[1:, 1:] = inside.astype(np.int64).cumsum(0).cumsum(1)
    n_in = np.array([sat[b[1], b[3]] - sat[b[0], b[3]] - sat[b[1], b[2]] + sat[b[0], b[2]] for b in cands])
    counts = np.stack([grid.counts(*b) for b in cands]).astype(float)  # (candidates, kinds)
    big = grid.share >= MIN_KIND_SHARE
    share = np.where(big, grid.share, 1.0)
    union, total, chosen = np.zeros(grid.n), 0, []
    free = n_in > 0
    while total < max_pixels and free.any():
        u = union + counts
        frac = u / np.maximum(u.sum(1, keepdims=True), 1)
        ratio = np.where(big, frac / share, np.inf)
        cover = np.where(u.sum(1) > 0, ratio.min(1) if big.any() else 1.0, 0.0)
        held = ((ratio >= COVER) & big).sum(1)
        q = (u + 0.5) / (u + 0.5).sum(1, keepdims=True)  # smoothed: a kind the tiles lack is far, not infinitely
        div = (grid.share * np.log(np.maximum(grid.share, 1e-12) / q)).sum(1)
        key = np.lexsort((n_in, -div, held, cover))
        best = next(int(k) for k in key[::-1] if free[k])
        chosen.append(cands[best])
        union, total, free[best] = u[best], total + int(n_in[best]), False
    return chosen, grid.cover(union)


def grow(grid: KindGrid, grain_size: float | None, inside: np.ndarray,
         max_pixels: int = MAX_PIXELS) -> tuple[tuple[int, int, int, int], float]:
    """From :data:`GRAIN_SIZES` × ``grain_size`` a side (and :data:`MIN_PIXELS` inside the mask), grown by
    :data:`GROWTH` until a place covers every kind (:data:`COVER`), but not beyond ``max_pixels`` patterns inside
    the mask (there: the best-covering place of that side); a map of no more than ``max_pixels`` patterns that no
    smaller window covers is trained whole."""
    ny, nx = grid.shape
    whole = ((0, ny, 0, nx), grid.cover(grid.counts(0, ny, 0, nx)))
    if grain_size is None:  # no boundary on the lines read: one grain, or none to tell apart
        return whole
    fill = max(float(inside.mean()), 1e-6)
    side = max(math.ceil(GRAIN_SIZES * grain_size), math.ceil(math.sqrt(MIN_PIXELS / fill)), MIN_SIDE)
    most = max(math.floor(math.sqrt(max_pixels / fill)), side)
    if inside.sum() <= max_pixels:  # a small map: grown up to the whole map, as much as it takes
        most = max(ny, nx)
    while side < max(ny, nx):
        box, cover = place(grid, (side, side), inside)
        if cover >= COVER and inside[box[0]:box[1], box[2]:box[3]].sum() >= min(MIN_PIXELS, inside.sum()):
            return box, cover
        if side >= most:
            return box, cover
        side = min(math.ceil(side * GROWTH), most)
    return whole
