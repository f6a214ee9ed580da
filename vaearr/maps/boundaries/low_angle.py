"""Low-angle boundaries as the boundaries between regions of one grain (the default of ``vaearr boundaries``).

Inside each grain interior a sub-grain step is the direction the patterns (or latents) vary most
in: the interior is projected on its own first principal directions, and
:func:`vaearr.maps.segmentation.regions.segment_features` merges its pixels into regions that never cross a
grain, the threshold read from the map's noise; a floor on the mean-pattern difference, relative
to the map's own grain boundaries, keeps significant but tiny differences (a mixing zone, a
brightness drift at a high signal-to-noise) from being called sub-grains. The interiors leave out
the ring beside each grain boundary (its patterns mix with the neighbour's); the regions are then
carried into it from the nearest interior pixel (:func:`extend_regions`), so a low-angle boundary
runs on to the grain boundary it meets, and a ring pixel with regions of its grain on both sides
takes the one its features are nearest (:func:`ring_by_features`): on the patchwork maps (patchy
sub-grains, many short boundaries) most missed pixels were in that ring (139 of 152 on tuning map 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils.extmath import randomized_svd

from vaearr.maps.segmentation.pattern_levels import merge_by_pattern_contrast
from vaearr.maps.segmentation.regions import filled_within_grains, segment_features
from vaearr.progress import bar

#: Principal directions per grain the low-angle segmentation reads, and its floor: the fraction of
#: the neighbouring grains' mean-pattern difference a sub-grain pair must reach.
LAGB_COMPONENTS, LAGB_MIN_CONTRAST = 2, 0.01
#: How far (pixels, Chebyshev) from a ring pixel beside a grain boundary the interior regions it may join are looked
#: for (:func:`ring_by_features`); chosen on the tuning maps of both families (1, 2, 3: worst low-angle F1 0.838,
#: 0.836, 0.844).
RING_RADIUS = 3


def principal_projection(x: np.ndarray, components: int = 1, sample: int = 2048, seed: int = 0,
                         drop_mean_direction: bool = False, apply_to: np.ndarray | None = None) -> np.ndarray:
    """``x`` (n, d) centred and projected on its first ``components`` principal directions (n, components).

    The directions come from at most ``sample`` rows (evenly spaced) by a randomized SVD with a
    fixed ``seed`` (Halko et al. 2011, 7 power iterations); all rows are projected. With
    ``drop_mean_direction`` the rows' components along their mean are removed first: normalised
    patterns of one orientation differ in how much of them is signal (the gain, the counts of each
    pixel), which moves them along the mean pattern, not across it as a sub-grain step does. ``apply_to``: other rows to project instead, on the
    directions (and the mean) of ``x``.
    """
    x = np.asarray(x, np.float64)
    y = x if apply_to is None else np.asarray(apply_to, np.float64)
    if drop_mean_direction:
        m = x.mean(axis=0)
        norm = float(np.linalg.norm(m))
        if norm > 0:
            m = m / norm
            x = x - np.outer(x @ m, m)
            y = x if apply_to is None else y - np.outer(y @ m, m)
    mean = x.mean(axis=0)
    xc = x - mean
    rows = xc if len(xc) <= sample else xc[np.linspace(0, len(xc) - 1, sample).round().astype(int)]
    k = max(1, min(int(components), *rows.shape))
    _, _, vt = randomized_svd(rows, k, n_oversamples=10, n_iter=7, random_state=seed)
    return (xc if apply_to is None else y - mean) @ vt.T


def low_angle_segments(
    features: Any,
    labels: np.ndarray,
    *,
    prepare: Any = None,
    components: int = LAGB_COMPONENTS,
    correlation: float | None = 1.0,
    min_contrast: float = LAGB_MIN_CONTRAST,
    floor: tuple[Any, Any] | None = None,
    reach: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Low-angle boundaries as the boundaries between regions of one grain (:mod:`vaearr.maps.segmentation.regions`).

    Each grain interior (``labels``, :func:`grain_interiors`) is projected on its own first
    ``components`` principal directions (:func:`principal_projection`: a sub-grain step is the
    direction a grain varies most in); :func:`~vaearr.maps.segmentation.regions.segment_features` then merges
    pixels into regions that never cross a grain, with the noise measured on the map and the
    merge threshold chosen from it. Significant is not enough at a high signal-to-noise (the
    mixing zone beside a grain boundary, a brightness drift): two regions stay apart only when
    their mean features differ by at least ``min_contrast`` × the median difference between the
    means of neighbouring grains (each squared, less its noise), as MTEX keeps a low-angle
    boundary only above an angle. A pixel is on a low-angle boundary when its right or lower
    neighbour is in another region of the same grain. ``correlation``: the noise's spatial
    correlation factor (1 for patterns recorded pixel by pixel; None: estimated). ``floor``: the
    ``(features, prepare)`` the floor is measured on (default the segmented features; a latent's
    store gives its patterns: sub-grains sit at a fixed pattern difference, not a fixed latent one).
    ``reach``: the pixels the regions may extend to (in the mask, off the grain boundaries): the ring
    beside a grain boundary that the interiors leave out takes the region of its nearest interior
    pixel (:func:`extend_regions`), so a low-angle boundary runs on to the grain boundary it meets,
    or, where regions of its grain lie within :data:`RING_RADIUS` pixels, the one whose mean its own
    projection is nearest (:func:`ring_by_features`: a sliver of a sub-grain along the boundary).
    """
    labels = np.asarray(labels)
    inside = labels > 0
    if inside.sum() < 2:
        return np.zeros(labels.shape, bool), {"lagb_method": "segment", "low_angle_boundary_pixels": 0}
    z = _per_grain_projection(features, labels, prepare, components)
    seg = segment_features(z, inside, grains=np.where(inside, labels - 1, -1), correlation=correlation)
    regions = seg.regions
    floor_info: dict[str, Any] = {}
    if min_contrast > 0 and seg.n_regions > seg.n_grains:
        on, on_prepare = floor if floor is not None else (features, prepare)
        regions, floor_info = merge_by_pattern_contrast(on, regions, labels - 1, on_prepare, min_contrast)
    grains = labels
    if reach is not None:
        inner = regions
        regions, grains = extend_regions(regions, labels, reach)
        regions = ring_by_features(features, prepare, components, labels, inner, regions, grains)
    lagb = _same_grain_boundaries(regions, grains)
    info = {"lagb_method": "segment", "lagb_components": int(components),
            "lagb_to_grain_boundaries": reach is not None,
            "lagb_regions": int(len(np.unique(regions[regions >= 0]))),
            "lagb_noise_correlation": seg.info.get("noise_correlation_factor"),
            "lagb_boundary_cost": seg.info.get("boundary_cost"), **floor_info,
            "low_angle_boundary_pixels": int(lagb.sum())}
    return lagb, info


def rotation_segments(rotations: np.ndarray, labels: np.ndarray, reach: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Low-angle boundaries as the boundaries between the regions of every pixel's rotation from its grain's mean
    orientation (``rotations`` (y, x, 3), degrees, NaN where a pixel did not register, read over the grains ``labels``
    carried to ``reach`` by :func:`extend_regions`), merged inside each grain as orientations are (their noise a single
    pattern's, correlation 1); a pixel that did not register takes the region of a neighbour of its grain."""
    grains = np.asarray(labels)
    ok = (grains > 0) & np.isfinite(rotations).all(-1)
    if ok.sum() < 2:
        return np.zeros(grains.shape, bool), {"lagb_method": "segment", "lagb_subgrains_from": "rotations",
                                              "low_angle_boundary_pixels": 0}
    seg = segment_features(np.nan_to_num(rotations), ok, grains=np.where(ok, grains - 1, -1), correlation=1.0)
    regions = filled_within_grains(seg.regions, grains - 1)
    lagb = _same_grain_boundaries(regions, grains)
    return lagb, {"lagb_method": "segment", "lagb_subgrains_from": "rotations",
                  "lagb_regions": int(len(np.unique(regions[regions >= 0]))),
                  "lagb_rotation_pixels_not_registered": int(((grains > 0) & ~ok).sum()),
                  "low_angle_boundary_pixels": int(lagb.sum())}


def extend_regions(regions: np.ndarray, labels: np.ndarray, reach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``regions`` and grain ``labels`` (≥ 1; 0 outside the interiors) carried to every pixel of ``reach`` outside the
    interiors: each takes those of the nearest interior pixel (Euclidean) when both lie in one 4-connected piece of
    ``reach`` (so never across a grain boundary or the mask)."""
    reach = np.asarray(reach, bool)
    have = (regions >= 0) & (labels > 0)
    if not have.any():
        return regions, labels
    iy, ix = ndi.distance_transform_edt(~have, return_distances=False, return_indices=True)
    pieces, _ = ndi.label(reach)
    take = reach & ~have & (pieces > 0) & (pieces[iy, ix] == pieces)
    out_regions, out_labels = regions.copy(), labels.copy()
    out_regions[take] = regions[iy, ix][take]
    out_labels[take] = labels[iy, ix][take]
    return out_regions, out_labels


def ring_by_features(features: Any, prepare: Any, components: int, labels: np.ndarray, inner: np.ndarray,
                     regions: np.ndarray, grains: np.ndarray, radius: int | None = None) -> np.ndarray:
    """The ring pixels (in ``grains`` ≥ 1 but not an interior region of ``inner``) re-assigned by their features: each
    is projected on its grain's principal directions (fitted on the interior, :func:`principal_projection`) and takes,
    of the interior regions of its grain within ``radius`` pixels (Chebyshev), the one whose mean projection is
    nearest; a pixel with one such region, or none, keeps its region from :func:`extend_regions`."""
    radius = RING_RADIUS if radius is None else int(radius)
    out = regions.copy()
    for g, sl in enumerate(ndi.find_objects(grains), start=1):
        if sl is None:
            continue
        interior = (labels[sl] == g) & (inner[sl] >= 0)
        ring = (grains[sl] == g) & ~interior
        own = np.where(interior, inner[sl], -1)
        if not ring.any() or len(np.unique(own[own >= 0])) < 2:
            continue
        block = np.asarray(features[sl])
        f = np.asarray(prepare(block) if prepare is not None else block.reshape(*ring.shape, -1), np.float64)
        z = np.zeros((*ring.shape, int(components)))
        proj = principal_projection(f[interior], components, drop_mean_direction=prepare is not None,
                                    apply_to=f[interior | ring])
        z[interior | ring, : proj.shape[1]] = proj
        local = out[sl]
        ry, rx = np.nonzero(ring)
        choice = _nearest_region_in_window(z, own, ry, rx, radius)
        local[ry[choice >= 0], rx[choice >= 0]] = choice[choice >= 0]
        out[sl] = local
    return out


def _nearest_region_in_window(z: np.ndarray, own: np.ndarray, ry: np.ndarray, rx: np.ndarray,
                              radius: int) -> np.ndarray:
    """For each pixel ``(ry, rx)``: of the regions ``own`` (≥ 0) within ``radius`` pixels (Chebyshev), the one whose
    mean ``z`` (over the region's pixels) is nearest the pixel's, the lower id on a tie; −1 where fewer than two regions
    lie in the window. Vectorised over the pixels, one window offset at a time."""
    ny, nx = own.shape
    ids = np.unique(own[own >= 0])
    means = np.stack([z[own == r].mean(axis=0) for r in ids])
    best, best_d = np.full(ry.size, -1), np.full(ry.size, np.inf)
    first, several = np.full(ry.size, -1), np.zeros(ry.size, bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            qy, qx = ry + dy, rx + dx
            inside = (qy >= 0) & (qy < ny) & (qx >= 0) & (qx < nx)
            r = np.where(inside, own[qy.clip(0, ny - 1), qx.clip(0, nx - 1)], -1)
            seen = r >= 0
            several |= seen & (first >= 0) & (r != first)
            first = np.where(seen & (first < 0), r, first)
            m = means[np.searchsorted(ids, np.where(seen, r, ids[0]))]
            d = np.where(seen, ((m - z[ry, rx]) ** 2).sum(axis=1), np.inf)
            better = (d < best_d) | ((d == best_d) & seen & (r < best))
            best, best_d = np.where(better, r, best), np.where(better, d, best_d)
    return np.where(several, best, -1)


def grain_projections(features: Any, labels: np.ndarray, prepare: Any, components: int) -> Iterator[tuple]:
    """For each label ≥ 1 of ``labels``: its bounding box ``sl``, its pixels ``w`` there, and their
    features (``features[sl]`` read, ``prepare``'d) projected on the label's first ``components``
    principal directions (:func:`principal_projection`)."""
    for g, sl in enumerate(bar(ndi.find_objects(labels), desc="low-angle: grains", unit="grain"), start=1):
        if sl is None:
            continue
        w = labels[sl] == g
        block = np.asarray(features[sl])
        f = prepare(block) if prepare is not None else block.reshape(*w.shape, -1)
        yield sl, w, principal_projection(np.asarray(f, np.float64)[w], components,
                                          drop_mean_direction=prepare is not None)


def _per_grain_projection(features: Any, labels: np.ndarray, prepare: Any, components: int) -> np.ndarray:
    z = np.zeros((*labels.shape, int(components)))
    for sl, w, proj in grain_projections(features, labels, prepare, components):
        zz = z[sl]
        zz[w, : proj.shape[1]] = proj
    return z


def _same_grain_boundaries(regions: np.ndarray, grains: np.ndarray) -> np.ndarray:
    out = np.zeros(regions.shape, bool)
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        ra, rb = regions[a], regions[b]
        out[a] |= (ra >= 0) & (rb >= 0) & (ra != rb) & (grains[a] == grains[b])
    return out
