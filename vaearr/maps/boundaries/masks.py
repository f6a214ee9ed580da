"""Boundary masks from edge maps (:mod:`vaearr.maps.patterns.edges`): grain boundaries as ridges over Otsu's threshold,
grain interiors, and low-angle boundaries inside each grain by Welch t² (the method: :mod:`vaearr.maps.boundaries.boundaries`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from vaearr.maps.patterns.edges import (
    ridge_strength,
    welch_edges,
)
from vaearr.maps.boundaries.low_angle import grain_projections
from vaearr.maps.options import LAGB_LOW, LAGB_METHODS, LAGB_MIN_LENGTH, BoundariesOptions  # noqa: F401 - LAGB_METHODS: its users' name


def _otsu_log(values: np.ndarray) -> float | None:
    v = values[np.isfinite(values) & (values > 0)]
    if v.size < 2 or np.ptp(np.log(v)) == 0:
        return None
    return float(math.exp(threshold_otsu(np.log(v))))


#: Low-angle boundary defaults: Welch t² of hysteresis seeds and of the pixels grown from them,
#: the shortest line kept (pixels), the edge boxes (along, deep).
LAGB_HIGH, LAGB_BOX = 16.0, (5, 3)


def grain_boundary_mask(right: np.ndarray, down: np.ndarray, mask: np.ndarray | None = None, *,
                        threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Grain-boundary mask from edge maps: ridge pixels above ``threshold`` (default Otsu's on the log ridge values).

    Returns ``(mask, ridge strength, info)``; ``info`` has the threshold and how it was chosen.
    """
    ridge = ridge_strength(right, down)
    inside = np.ones(ridge.shape, bool) if mask is None else np.asarray(mask, bool)
    ridge = np.where(inside, ridge, 0.0)
    cand = ridge[ridge > 0]
    if threshold is None:
        t = _otsu_log(cand)
        threshold = float("inf") if t is None else t
        rule = f"Otsu on log ridge strength of {cand.size} ridge pixels"
    else:
        rule = "given"
    gb = ridge > threshold
    return gb, ridge, {"gb_threshold": float(threshold), "gb_threshold_rule": rule, "ridge_pixels": int(cand.size),
                       "ridge_median": float(np.median(cand)) if cand.size else float("nan"),
                       "grain_boundary_pixels": int(gb.sum())}


def grain_interiors(gb: np.ndarray, mask: np.ndarray | None = None, min_pixels: int = 20) -> tuple[np.ndarray, int]:
    """Labels (y, x) of the grain interiors: connected (4-neighbour) in-mask pixels more than one pixel from a grain boundary.

    0 elsewhere and on interiors of fewer than ``min_pixels`` pixels. Returns ``(labels, count)``.
    """
    gb = np.asarray(gb, bool)
    inside = np.ones(gb.shape, bool) if mask is None else np.asarray(mask, bool)
    interior = inside & ~ndi.binary_dilation(gb, np.ones((3, 3), bool))
    labels, n = ndi.label(interior)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    small = sizes < min_pixels
    small[0] = True
    labels[small[labels]] = 0
    kept = np.unique(labels[labels > 0])
    relabel = np.zeros(n + 1, np.int64)
    relabel[kept] = np.arange(1, kept.size + 1)
    return relabel[labels], int(kept.size)


def low_angle_edges(
    features: Any,
    labels: np.ndarray,
    *,
    prepare: Any = None,
    components: int = 1,
    along: int = LAGB_BOX[0],
    deep: int = LAGB_BOX[1],
) -> tuple[np.ndarray, np.ndarray]:
    """Right and down Welch t² edges inside each grain interior, along its principal direction(s).

    For each label of ``labels`` (:func:`grain_interiors`) the features of its pixels (its
    bounding box of ``features`` is read, ``prepare``'d like :func:`edge_maps`' blocks) are
    projected on their first ``components`` principal directions (:func:`~vaearr.maps.boundaries.low_angle.principal_projection`);
    the edges between two pixels of the interior get :func:`welch_edges` of the projections,
    with boxes of the interior's pixels only. NaN elsewhere.
    """
    labels = np.asarray(labels)
    right = np.full(labels.shape, np.nan)
    down = np.full(labels.shape, np.nan)
    for sl, w, proj in grain_projections(features, labels, prepare, components):
        z = np.zeros((*w.shape, max(1, int(components))))
        z[w, : proj.shape[1]] = proj
        r = welch_edges(z, w, along, deep)
        d = welch_edges(np.swapaxes(z, 0, 1), w.T, along, deep).T
        right[sl] = np.where(np.isfinite(r), r, right[sl])
        down[sl] = np.where(np.isfinite(d), d, down[sl])
    return right, down


def low_angle_boundaries(
    right: np.ndarray,
    down: np.ndarray,
    gb: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    high: float = LAGB_HIGH,
    low: float = LAGB_LOW,
    min_length: int = LAGB_MIN_LENGTH,
    exclude: int = 2,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Low-angle boundary mask from :func:`low_angle_edges`: t² ridges kept by hysteresis as lines.

    Ridge pixels (non-maximum suppression across each edge direction) more than ``exclude``
    pixels from a grain boundary and one pixel inside the map and the mask are candidates; a
    line (8-connected candidates with t² ≥ ``low``) is kept when it has a pixel with t² ≥
    ``high`` and at least ``min_length`` pixels. Returns ``(mask, info)``.
    """
    gb = np.asarray(gb, bool)
    inside = np.ones(gb.shape, bool) if mask is None else np.asarray(mask, bool)
    ridge = ridge_strength(right, down)
    near = ndi.binary_dilation(gb, np.ones((3, 3), bool), iterations=exclude) if exclude > 0 and gb.any() else gb
    core = ndi.binary_erosion(inside, np.ones((3, 3), bool), border_value=0)
    ridge = np.where(core & ~near & ~gb, ridge, 0.0)
    low = min(float(low), float(high))
    lines, n = ndi.label(ridge >= low, np.ones((3, 3), bool))
    idx = np.arange(1, n + 1)
    size = ndi.sum_labels(np.ones_like(ridge), lines, idx) if n else np.zeros(0)
    peak = ndi.maximum(ridge, lines, idx) if n else np.zeros(0)
    keep = np.zeros(n + 1, bool)
    keep[1:] = (np.asarray(size) >= min_length) & (np.asarray(peak) >= high)
    lagb = keep[lines]
    return lagb, {
        "lagb_threshold": float(high), "lagb_low": low, "lagb_min_length": int(min_length),
        "lagb_lines": int(keep.sum()), "lagb_candidate_lines": int(n), "low_angle_boundary_pixels": int(lagb.sum()),
    }
