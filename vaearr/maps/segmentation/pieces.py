"""Regions and grains put right by their connected pieces: a grain as connected pixels (MTEX's ``calcGrains``), strips
without a core pixel joined to a neighbour, and the regions of one grain whose features do not differ joined (the
method: :mod:`vaearr.maps.segmentation.regions`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from vaearr.maps.segmentation.merging import grid_pairs, region_means, relabel


def connected_grains(regions: np.ndarray, grains: np.ndarray, valid: np.ndarray, gaps: tuple[np.ndarray, np.ndarray],
                     min_size: int) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Grains as connected pixels, as MTEX's ``calcGrains`` defines a grain: a grain (flat ``grains``, −1 outside)
    whose pieces touch neither on the grid nor across a closed gap (``gaps``) is one grain per piece, and a region
    of two pieces is split with it; a piece of fewer than ``min_size`` pixels or without a pixel all of whose
    neighbours are its own (a strip by a boundary: too few, or too thin, to be a grain) joins the neighbouring
    region it shares most edges with. The two-hop absorption of small regions (step
    3), which lets the mixed strip along a boundary reach its own grain past another region, can give a grain a
    piece far away: on the 10⁶ benchmark's tiled map, where one orientation recurs a tile apart, pieces 13–69 pixels
    apart shared a grain (grains against the planted ones on a 250 × 250 crop: ARI 0.688, connected 0.977).
    Returns regions, grains and what was done (pieces made grains, pixels of small pieces moved)."""
    a, b = grid_pairs(valid)
    a, b = np.concatenate([a, gaps[0]]), np.concatenate([b, gaps[1]])
    n = grains.size
    inside = grains >= 0
    regions, grains = regions.copy(), grains.copy()
    moved = 0

    def pieces() -> np.ndarray:
        same = grains[a] == grains[b]
        graph = sparse.coo_matrix((np.ones(int(same.sum()), np.int8), (a[same], b[same])), shape=(n, n))
        return connected_components(graph, directed=False)[1]

    for _ in range(10):
        piece = pieces()
        size = np.bincount(piece[inside], minlength=int(piece.max()) + 1)
        cross = piece[a] != piece[b]
        edge = np.zeros(n, bool)
        edge[a[cross]] = edge[b[cross]] = True
        core = np.bincount(piece[inside & ~edge], minlength=size.size)
        src, dst = np.r_[a[cross], b[cross]], np.r_[b[cross], a[cross]]
        keep = (size[piece[src]] < min_size) | (core[piece[src]] == 0)
        if not keep.any():
            break
        src, dst = src[keep], dst[keep]
        width = int(regions.max()) + 1
        key, count = np.unique(piece[src].astype(np.int64) * width + regions[dst], return_counts=True)
        order = np.lexsort((-count, key // width))
        first = order[np.r_[True, (key // width)[order][1:] != (key // width)[order][:-1]]]
        target = np.full(int(piece.max()) + 1, -1)
        target[key[first] // width] = key[first] % width
        region_grain = np.full(width, -1)
        region_grain[regions[inside]] = grains[inside]
        go = inside & (target[piece] >= 0)
        regions[go] = target[piece[go]]
        grains[go] = region_grain[regions[go]]
        moved += int(go.sum())
    piece = pieces()
    before = int(len(np.unique(grains[inside])))
    new_grains = np.full(n, -1)
    new_grains[inside] = relabel(grains[inside].astype(np.int64) * (int(piece.max()) + 1) + piece[inside])
    new_regions = np.full(n, -1)
    new_regions[inside] = relabel(regions[inside].astype(np.int64) * (int(new_grains.max()) + 1) + new_grains[inside])
    made = int(new_grains.max()) + 1 - before if inside.any() else 0
    return new_regions, new_grains, {"grain_pieces_made_grains": made, "grain_piece_pixels_moved": moved}


def absorb_slivers(labels: np.ndarray, a: np.ndarray, b: np.ndarray, beside: np.ndarray | None = None) -> np.ndarray:
    """Patches (connected parts of a region) without a core pixel — a strip one or two pixels wide, most
    often the mixed patterns along a grain boundary that went to the region they resemble least badly —
    join the neighbouring patch they share most boundary with. A strip has no interior to measure a
    sub-grain by, and drawn as one it would line every grain boundary with a low-angle one. ``beside``: pixels
    on a grain boundary (a neighbour in another grain, which ``a``, ``b`` — pairs inside grains — do not list): no
    core pixel either. Without it a strip of mixed patterns between a grain boundary and its grain's region kept
    a "core" on the grain-boundary side and was drawn as a sub-grain (on the patchwork maps segmented without a
    mask: 40 of the 85 low-angle pixels marked where none is, on tuning map 2)."""
    n = labels.size
    for _ in range(10):
        same = labels[a] == labels[b]
        graph = sparse.coo_matrix((np.ones(int(same.sum()), np.int8), (a[same], b[same])), shape=(n, n))
        _, patch = connected_components(graph, directed=False)
        edge = np.zeros(n, bool) if beside is None else beside.copy()
        edge[a[~same]] = edge[b[~same]] = True
        core = np.bincount(patch, weights=(~edge).astype(float), minlength=patch.max() + 1)
        thin = core[patch] == 0
        cross = ~same & (thin[a] | thin[b])
        if not cross.any():
            break
        src = np.r_[patch[a[cross & thin[a]]], patch[b[cross & thin[b]]]]
        to = np.r_[labels[b[cross & thin[a]]], labels[a[cross & thin[b]]]]
        key, length = np.unique(src.astype(np.int64) * (int(labels.max()) + 1) + to, return_counts=True)
        src, to = key // (int(labels.max()) + 1), key % (int(labels.max()) + 1)
        order = np.lexsort((-length, src))
        first = order[np.r_[True, src[order][1:] != src[order][:-1]]]
        target = np.full(patch.max() + 1, -1)
        target[src[first]] = to[first]
        move = target[patch] >= 0
        if not move.any():
            break
        labels = np.where(move, target[patch], labels)
    return relabel(labels)


def join_patches(z: np.ndarray, labels: np.ndarray, region_grain: np.ndarray,
                 price: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Regions of one grain whose features do not differ, joined whether or not they touch (step 5).

    Within each grain, the pair of regions whose merge costs least (Ward's rise in the sum of
    squares, as step 2) is joined while that cost is under one region's ``price``: the map is
    described more briefly by one mean than by two. No boundary is saved (they may not touch), so
    this joins only what step 2 would have merged had a mask hole or another region not parted
    them. Returns the labels (renumbered), the grain of every new label, and the joins made.
    """
    mu, size = region_means(z, labels)
    target = np.arange(size.size)
    joins = 0
    for g in np.unique(region_grain):
        ids = np.flatnonzero(region_grain == g)
        if ids.size < 2:
            continue
        m, n, live = mu[ids].copy(), size[ids].copy(), np.ones(ids.size, bool)
        diff = m[:, None, :] - m[None, :, :]
        cost = (n[:, None] * n[None, :] / (n[:, None] + n[None, :])) * np.einsum("abk,abk->ab", diff, diff) / 2
        np.fill_diagonal(cost, np.inf)
        while live.sum() > 1:
            a, b = np.unravel_index(int(np.argmin(cost)), cost.shape)
            if not cost[a, b] < price:
                break
            m[a] = (n[a] * m[a] + n[b] * m[b]) / (n[a] + n[b])
            n[a] += n[b]
            live[b] = False
            target[target == ids[b]] = ids[a]
            joins += 1
            # only a's costs change (b is gone): one row, not the whole matrix again (a grain of a big map can hold
            # a thousand regions: the whole matrix each join took 77 of segment's 560 s on a 1000 × 1000 map)
            d = m[a][None, :] - m
            row = (n[a] * n / (n[a] + n)) * np.einsum("bk,bk->b", d, d) / 2
            row[~live] = np.inf
            row[a] = np.inf
            cost[a, :] = row
            cost[:, a] = row
            cost[b, :] = np.inf
            cost[:, b] = np.inf
    new = relabel(target[labels])
    grain_of = np.zeros(int(new.max()) + 1, np.int64)
    grain_of[new] = region_grain[labels]
    return new, grain_of, joins
