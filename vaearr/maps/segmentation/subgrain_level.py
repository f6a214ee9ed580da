"""The sub-grain level of features whose noise is correlated pixel to pixel (:func:`vaearr.maps.segmentation.regions.segment_features`).

Where the features' noise is correlated pixel to pixel inside the regions found (κ ≥ :data:`CORRELATED`: features of
neighbour-averaged patterns, as the README's latents, κ ≈ 7–9; single patterns' PCA weights read 1.0–1.4), a pixel
carries 1/κ of an independent measurement, and a sub-grain step, a small rotation, lies along one or two directions
while the price of a region's mean (``d/2 · log N``) counts every feature dim: with a 16-dim latent a patch had to
hold about 500 nats of contrast to stay apart, and the patchy sub-grains of the second benchmark family (a sub-grain
in several patches of 1–300 pixels) were merged patch by patch. Such features are merged again, grain by grain, on the
grain's first :data:`SUBGRAIN_COMPONENTS` principal directions of the whitened features (the noise of the first
merging; not whitened again: a noise estimate in those directions takes the steps between patchy sub-grains for
noise), fitted on the grain's interior: the ring of :data:`RING` pixel(s) along every grain boundary
(:func:`grain_ring`), where a pattern and its neighbour average mix both grains, is left out of the merging and of the
fit (on a map segmented without a mask the mixed pixels were a grain's first principal direction) and takes, step by
step inward, the neighbouring region whose mean it is nearest (:func:`fill_ring`). Step 6 (boundary refinement) is not
run on this level: a pixel's own evidence, 1/κ, is small beside the boundary price, and it ate thin sub-grains. The
choices were made on the tuning maps of both families, by the segmentation's low-angle F1, worst over them, in a ROI
and without (0.654 before; 1 / 2 / 3 / 4 directions 0.811 / **0.850** / 0.835 / 0.815; with 2, ring 0 / 1 / 2 pixels
0.741 / **0.850** / 0.736; refinement on 0.776), and read on the held-out maps after (BENCHMARKS "Science: two
families"). A region of this level needs as many core pixels as its features have dims (``components``), as the first
levels need ``d``: with ``d`` = 16 kept here, the thin and few-pixel patches of patchy sub-grains were absorbed, and
four of ten grains of a held-out map (patchwork 4, every pixel) read as one region although their first direction
told their sub-grains apart pixel by pixel (AUC 0.98–1.00). That was found tracing the held-out map; it applies the
rule to the level's dims, and on the tuning maps it reads worst 0.814 against 0.827 (patchwork 1 on every pixel
0.875 → 0.814; the others rise: in the ROI 0.845 → 0.892 and 0.827 → 0.857, map 2 on every pixel 0.852 → 0.867).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from vaearr.maps.segmentation.merging import grid_pairs, noise_whitening, region_means, relabel

#: Pixels along each grain boundary that the sub-grain level of correlated features leaves out and fills after
#: (:func:`grain_ring`; 0, 1, 2: worst low-angle F1 on the tuning maps 0.741, 0.850, 0.736).
RING = 1
#: Principal directions of each grain the sub-grain level of correlated features merges on (None or 0: that level is not
#: read); chosen on the tuning maps of both families (1, 2, 3, 4: worst low-angle F1 0.811, 0.850, 0.835, 0.815).
SUBGRAIN_COMPONENTS = 2
#: The noise correlation factor κ inside the regions from which the sub-grain level is read on those directions
#: (features of neighbour-averaged patterns: κ ≈ 4–9 on the benchmark maps; of single patterns 1.0–1.4).
CORRELATED = 2.0


def kappa_within(raw: np.ndarray, valid: np.ndarray, flat: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """The noise correlation factor κ of ``raw`` estimated from pairs inside the regions ``labels`` (over ``flat``):
    inside sub-grains, steps between them no longer read as correlation."""
    within = np.full(valid.size, -1)
    within[flat] = labels
    return float(noise_whitening(raw, valid, seed=seed, within=within.reshape(valid.shape))[1])


def principal_by_grain(z: np.ndarray, grain: np.ndarray, components: int, fit: np.ndarray) -> np.ndarray:
    """Rows of ``z`` projected, grain by grain, on the first ``components`` principal directions of that grain's rows
    where ``fit`` (centred on their mean; the eigenvectors of their d × d scatter, exact, as
    :func:`~vaearr.maps.boundaries.low_angle.principal_projection` finds them by a randomized SVD for the patterns' thousands of
    dims; :func:`~vaearr.maps.boundaries.low_angle.grain_projections` is that reading of a store's pattern map)."""
    out = np.zeros((z.shape[0], components))
    order = np.argsort(grain, kind="stable")
    starts = np.flatnonzero(np.r_[True, grain[order][1:] != grain[order][:-1]])
    for rows in np.split(order, starts[1:]):
        f = z[rows[fit[rows]]]
        if f.shape[0] < 2:
            continue
        mean = f.mean(axis=0)
        _, vectors = np.linalg.eigh((f - mean).T @ (f - mean))
        k = min(components, z.shape[1])
        out[rows, :k] = (z[rows] - mean) @ vectors[:, ::-1][:, :k]
    return out


def grain_ring(valid: np.ndarray, grains: np.ndarray, width: int) -> np.ndarray:
    """Valid pixels within ``width`` pixels (Chebyshev) of a valid pixel of another grain — the ring along every grain
    boundary where a pattern (and a neighbour average) mixes both grains — less the pixels of any grain that would
    keep none outside it (a grain that small is all ring, and is read as it is)."""
    ny, nx = valid.shape
    g = np.where(valid, grains, -1)
    padded = np.pad(g, width, constant_values=-1)
    out = np.zeros((ny, nx), bool)
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            other = padded[width + dy:width + dy + ny, width + dx:width + dx + nx]
            out |= (other >= 0) & (other != g)
    out &= valid
    kept = np.zeros(int(g.max()) + 2, bool)
    kept[g[valid & ~out]] = True
    return out & kept[g]


def fill_ring(z: np.ndarray, labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels without a region (−1) take one from a neighbour (pairs ``a``–``b``, inside grains) step by step inward
    from the interiors: of the regions their labelled neighbours hold, the one whose mean ``z`` is nearest. A piece
    that no step reaches becomes a region of its own."""
    labels = labels.copy()
    mu, _ = region_means(z[labels >= 0], labels[labels >= 0])
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    while (labels < 0).any():
        take = (labels[src] < 0) & (labels[dst] >= 0)
        if not take.any():
            break
        p, c = src[take], labels[dst[take]]
        dist = np.einsum("kd,kd->k", z[p] - mu[c], z[p] - mu[c])
        order = np.lexsort((dist, p))
        first = order[np.r_[True, p[order][1:] != p[order][:-1]]]
        labels[p[first]] = c[first]
    rest = labels < 0
    if rest.any():
        keep = rest[a] & rest[b]
        n = labels.size
        graph = sparse.coo_matrix((np.ones(int(keep.sum()), np.int8), (a[keep], b[keep])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        labels[rest] = labels.max() + 1 + relabel(comp[rest])
    return labels


def beside_grain_boundary(valid: np.ndarray, flat: np.ndarray, grains: np.ndarray) -> np.ndarray:
    """Over the valid pixels (``flat``): those with a valid 4-neighbour in another grain."""
    a, b = grid_pairs(valid)
    g = grains.ravel()
    cross = g[a] != g[b]
    out = np.zeros(valid.size, bool)
    out[a[cross]] = out[b[cross]] = True
    return out[flat]
