"""Kernel and domain spreads over a map's regions, of feature vectors or rotation vectors, in units of the noise; the
recrystallised regions (arrays in, arrays out; the method: :mod:`vaearr.maps.deformation.spread`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.stats import chi2

from vaearr.errors import InputError
from vaearr.maps.segmentation.merging import group_sums, robust_covariance
from vaearr.maps.options import KERNEL_RADIUS

#: Pixels of a region's rim left out of its domain spread (the mixing zone of a boundary).
EDGE_PX = 2
#: Interior pixels a region needs for its domain spread to be read on them (else all its pixels are).
MIN_INTERIOR = 8
#: Rows of the map a kernel-spread fit holds at once (its sums take rows × width × 3 × (d + 3) floats).
FIT_ROWS = 128
#: A region is recrystallised when its spread, in units of the noise's, is under this ratio.
RECRYSTALLISED_RATIO = 2.0
#: Median of χ² with 3 degrees of freedom: the median squared length of a rotation vector of noise, in σ².
CHI2_3_MEDIAN = 2.366
#: Lag (pixels) of the second differences the noise is read from.
NOISE_LAG = 3


@dataclass
class Spread:
    """Kernel and domain spreads of one feature map over its regions, and the recrystallised regions."""

    kernel: np.ndarray  # (ny, nx), NaN outside the regions
    domain: np.ndarray  # (ny, nx): the region's value on each of its pixels
    recrystallised: np.ndarray  # (ny, nx) bool
    region_domain: np.ndarray  # (R,) the domain spread of every region id (NaN for an absent id)
    info: dict[str, Any] = field(default_factory=dict)
    grod: np.ndarray | None = None  # (ny, nx) orientations: each pixel's misorientation from its region's mean

    @property
    def recrystallised_fraction(self) -> float:
        inside = np.isfinite(self.domain)
        return float(self.recrystallised[inside].mean()) if inside.any() else float("nan")


def _shifted(a: np.ndarray, dy: int, dx: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    ny, nx = a.shape[:2]
    src = (slice(max(0, -dy), ny - max(0, dy)), slice(max(0, -dx), nx - max(0, dx)))
    dst = (slice(max(0, dy), ny - max(0, -dy)), slice(max(0, dx), nx - max(0, -dx)))
    return src, dst


def second_differences(z: np.ndarray, regions: np.ndarray, lag: int = NOISE_LAG,
                       precision: np.ndarray | None = None) -> np.ndarray:
    """``z(p − lag) − 2 z(p) + z(p + lag)`` along rows and columns, for triples inside one region, ``(m, d)``.
    ``precision`` (ny, nx): each pixel's noise precision; each difference is then divided by its noise's scale
    relative to pixels of precision 1, ``√((1/pₐ + 4/p_b + 1/p_c) / 6)``."""
    ny, nx = regions.shape
    var = None if precision is None else 1 / np.maximum(np.asarray(precision, np.float64), 1e-12)
    out = []
    for dy, dx in ((0, lag), (lag, 0)):
        if ny <= 2 * dy or nx <= 2 * dx:
            continue
        cut = [(slice(k * dy, ny - (2 - k) * dy), slice(k * dx, nx - (2 - k) * dx)) for k in range(3)]
        a, b, c = (z[q] for q in cut)
        ra, rb, rc = (regions[q] for q in cut)
        ok = (ra >= 0) & (ra == rb) & (rb == rc)
        diff = a - 2 * b + c
        if var is not None:
            diff = diff / np.sqrt((var[cut[0]] + 4 * var[cut[1]] + var[cut[2]]) / 6)[..., None]
        out.append(diff[ok])
    return np.concatenate(out) if out else np.zeros((0, z.shape[-1]))


def noise_covariance(z: np.ndarray, regions: np.ndarray,
                     precision: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-pixel noise covariance of ``z`` (ny, nx, d) from second differences inside ``regions``. ``precision``
    (ny, nx): each pixel's noise precision relative to the covariance returned (1: that noise; see
    :func:`averaged_counts`), the second differences scaled by it (:func:`second_differences`)."""
    d = z.shape[-1]
    lag = NOISE_LAG
    diff = second_differences(z, regions, lag, precision)
    if diff.shape[0] < 4 * d + 4:
        lag = 1
        diff = second_differences(z, regions, lag, precision)
    if diff.shape[0] < 2 * d + 2:
        raise InputError(None, f"too few pixels inside the regions ({diff.shape[0]} triples) to measure the noise of "
                               f"{d} feature dims")
    return robust_covariance(diff) / 6, {
        "noise_estimator": f"robust covariance of second differences {lag} pixel(s) apart inside the regions, / 6",
        "noise_triples": int(diff.shape[0])}


def _interior(regions: np.ndarray) -> np.ndarray:
    """Pixels more than :data:`EDGE_PX` from another region or the outside."""
    edge = np.zeros(regions.shape, bool)
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        diff = regions[a] != regions[b]
        edge[a] |= diff
        edge[b] |= diff
    edge |= regions < 0
    return (regions >= 0) & ~ndi.binary_dilation(edge, iterations=EDGE_PX, border_value=0)


def neighbour_kam(z: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Mean of ``|z(p) − z(q)|`` over each pixel's first 4-neighbours in its region (KAM, as MTEX computes it, on
    rotation vectors); NaN where a pixel has none."""
    ny, nx = regions.shape
    total, count = np.zeros((ny, nx)), np.zeros((ny, nx))
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        src, dst = _shifted(regions, dy, dx)
        same = (regions[src] >= 0) & (regions[src] == regions[dst])
        diff = z[src] - z[dst]
        total[src] += np.where(same, np.sqrt(np.einsum("...k,...k->...", diff, diff)), 0.0)
        count[src] += same
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def gradient_spread(z: np.ndarray, regions: np.ndarray, *, radius: int = KERNEL_RADIUS,
                    precision: np.ndarray | None = None) -> np.ndarray:
    """1 + (|∇z|² − its noise part) / d at every pixel: ``z`` (ny, nx, d) whitened (unit noise in every feature),
    the gradient fit by least squares on the pixels of the pixel's region within ``radius`` (the pixel's own
    included); NaN outside the regions and where the region's pixels there lie on one line. ``precision`` (ny, nx):
    each pixel's noise precision (1: unit noise); the fit is then weighted by it and its noise part taken alike."""
    ny = regions.shape[0]
    out = np.full(regions.shape, np.nan)
    p = np.ones(regions.shape) if precision is None else np.asarray(precision, np.float64)
    for r0 in range(0, ny, FIT_ROWS):
        r1 = min(ny, r0 + FIT_ROWS)
        h0, h1 = max(0, r0 - radius), min(ny, r1 + radius)
        out[r0:r1] = _gradient_rows(z[h0:h1], regions[h0:h1], radius, p[h0:h1])[r0 - h0:r1 - h0]
    return out


def _gradient_rows(z: np.ndarray, regions: np.ndarray, radius: int, precision: np.ndarray) -> np.ndarray:
    d = z.shape[-1]
    # Σ v vᵀ and Σ v z over the window's pixels of the pixel's region, v = (1, dx, dy): the six moments and the
    # three feature sums, accumulated offset by offset
    moments = np.zeros((6, *regions.shape))  # n, Σdx, Σdy, Σdx², Σdy², Σdxdy
    sums = np.zeros((3, *regions.shape, d))  # Σz, Σdx z, Σdy z
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            src, dst = _shifted(regions, dy, dx)
            same = ((regions[src] >= 0) & (regions[src] == regions[dst])) * precision[dst]
            for k, w in enumerate((1, dx, dy, dx * dx, dy * dy, dx * dy)):
                if w:
                    moments[(k, *src)] += w * same
            zs = z[dst] * same[..., None]
            sums[(0, *src)] += zs
            if dx:
                sums[(1, *src)] += dx * zs
            if dy:
                sums[(2, *src)] += dy * zs
    n, sx, sy, sxx, syy, sxy = moments
    normal = np.stack([np.stack([n, sx, sy], -1), np.stack([sx, sxx, sxy], -1), np.stack([sy, sxy, syy], -1)], -2)
    ok = (regions >= 0) & (np.linalg.det(normal) > 1e-9)
    inv = np.linalg.inv(np.where(ok[..., None, None], normal, np.eye(3)))
    slope = np.einsum("...ij,j...d->...id", inv[..., 1:, :], sums)
    noise = d * (inv[..., 1, 1] + inv[..., 2, 2])  # E|ĝ|² of unit white noise
    return np.where(ok, 1.0 + (np.einsum("...id,...id->...", slope, slope) - noise) / d, np.nan)


def domain_spreads(z: np.ndarray, regions: np.ndarray, *, squared: bool = True, median: bool = False,
                   precision: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Per region id: the mean (``median``: the median) of the (squared, ``squared``) distances of its interior
    pixels from their mean. ``precision`` (ny, nx): each pixel's noise precision relative to ``z``'s units; the
    mean is then weighted by it and each squared distance multiplied by it (its noise's units)."""
    n = int(regions.max()) + 1
    inner = _interior(regions)
    ids = np.clip(regions, 0, None)
    size_in = np.bincount(ids[inner], minlength=n)
    use = np.where(size_in[ids] >= MIN_INTERIOR, inner, regions >= 0)
    count = np.bincount(ids[use], minlength=n).astype(np.float64)
    if precision is None:
        mean = group_sums(ids[use], z[use], n)
        mean /= np.maximum(count, 1)[:, None]
    else:
        p = np.asarray(precision, np.float64)
        mean = group_sums(ids[use], z[use] * p[use][:, None], n)
        mean /= np.maximum(np.bincount(ids[use], p[use], minlength=n), 1e-12)[:, None]
    dev = z - mean[ids]
    dist = np.einsum("...k,...k->...", dev, dev)
    if precision is not None:
        dist = dist * precision
    dist = dist if squared else np.sqrt(dist)
    if median:
        out = np.full(n, np.nan)
        order = np.argsort(ids[use], kind="stable")
        groups = np.split(dist[use][order], np.cumsum(count.astype(int))[:-1])
        out[count > 0] = [np.median(g) for g in groups if g.size]
        return out, _domain_info(size_in, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, np.bincount(ids[use], dist[use], minlength=n) / count, np.nan)
    return out, _domain_info(size_in, count)


def _domain_info(size_in: np.ndarray, count: np.ndarray) -> dict[str, Any]:
    few = (size_in < MIN_INTERIOR) & (count > 0)
    return {"domain_pixels": f"more than {EDGE_PX} pixels inside each region"
                             + (f" (all pixels of the {int(few.sum())} regions with fewer than {MIN_INTERIOR} such)"
                                if few.any() else ""),
            "regions_on_all_pixels": int(few.sum())}


def _paint(values: np.ndarray, regions: np.ndarray) -> np.ndarray:
    return np.where(regions >= 0, values[np.clip(regions, 0, None)], np.nan)


def feature_spreads(features: np.ndarray, regions: np.ndarray, *, radius: int = KERNEL_RADIUS,
                    precision: np.ndarray | None = None) -> Spread:
    """Spreads of a feature map ``(ny, nx, d)`` over ``regions`` (ny, nx; −1 outside) in units of its noise.

    ``precision`` (ny, nx): each pixel's noise precision relative to a full window's (:func:`averaged_counts`);
    None: every pixel's noise alike."""
    z = np.asarray(features, np.float64)
    z = z[..., None] if z.ndim == 2 else z
    regions = np.where(np.isfinite(z).all(-1), np.asarray(regions), -1)
    if not (regions >= 0).any():
        raise InputError(None, "no pixel of the regions has features: nothing to measure")
    d = z.shape[-1]
    cov, info = noise_covariance(np.nan_to_num(z), regions, precision)
    w, v = np.linalg.eigh(cov)
    zw = np.nan_to_num(z) @ (v / np.sqrt(np.maximum(w, 1e-12 * max(float(w.max()), 1e-30))))
    kernel = gradient_spread(zw, regions, radius=radius, precision=precision)
    region_domain, more = domain_spreads(zw, regions, precision=precision)
    region_domain = region_domain / d
    # the median squared distance (as for orientations): a few pixels of a neighbour a region took do not make it deformed
    middle, _ = domain_spreads(zw, regions, median=True, precision=precision)
    rex = middle / chi2.median(d) < RECRYSTALLISED_RATIO
    info.update(more, units="per-pixel noise variance (1 = noise alone)", kernel_radius=int(radius),
                kernel_rule="1 + (squared feature gradient, fit on the region's pixels within the radius, less its noise part) / d",
                recrystallised_rule=(f"median squared distance from the region's mean (interior) under "
                                     f"{RECRYSTALLISED_RATIO:g} × the noise's (χ²_{d} median): the region's spread that "
                                     "is not noise is smaller than the noise"),
                recrystallised_threshold=RECRYSTALLISED_RATIO)
    return _spread(kernel, region_domain, rex, regions, info)


def _spread(kernel: np.ndarray, region_domain: np.ndarray, rex: np.ndarray, regions: np.ndarray,
            info: dict[str, Any]) -> Spread:
    domain = _paint(region_domain, regions)
    recrystallised = np.where(regions >= 0, np.nan_to_num(rex[np.clip(regions, 0, None)]).astype(bool), False)
    present = np.isfinite(region_domain)
    out = Spread(np.where(regions >= 0, kernel, np.nan), domain, recrystallised, region_domain, info)
    undeformed = kernel[recrystallised & np.isfinite(kernel)]
    info.update(regions_measured=int(present.sum()), recrystallised_regions=int((rex & present).sum()),
                recrystallised_fraction=round(out.recrystallised_fraction, 4),
                kernel_spread_recrystallised_median=float(np.median(undeformed)) if undeformed.size else None)
    return out


def orientation_spreads(vectors: np.ndarray, regions: np.ndarray) -> Spread:
    """KAM (first 4-neighbours of the region) and GOS (degrees) from rotation vectors ``(ny, nx, 3)`` of each
    pixel from its region's mean orientation (:func:`vaearr.maps.indexing.grains.grain_rotation_vectors`), and the
    recrystallised regions: median squared misorientation from the mean under :data:`RECRYSTALLISED_RATIO` × the
    median of σ²χ²₃, σ the per-axis orientation noise read from the map."""
    v = np.asarray(vectors, np.float64)
    regions = np.where(np.isfinite(v).all(-1), np.asarray(regions), -1)
    if not (regions >= 0).any():
        raise InputError(None, "no pixel of the regions has an orientation: nothing to measure")
    cov, info = noise_covariance(np.nan_to_num(v), regions)
    sigma2 = float(np.trace(cov)) / 3
    v = np.nan_to_num(v)
    kernel = neighbour_kam(v, regions)
    n = int(regions.max()) + 1
    ids = np.clip(regions, 0, None)
    inside = regions >= 0
    count = np.bincount(ids[inside], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        gos = np.where(count > 0, np.bincount(ids[inside], np.linalg.norm(v, axis=-1)[inside], minlength=n) / count,
                       np.nan)
    # the median squared misorientation: a few misindexed pixels do not make a grain deformed
    ms, more = domain_spreads(v, regions, squared=True, median=True)
    own = region_noise(v, regions)
    noise = np.where(np.isfinite(own), own, sigma2)
    rex = ms < RECRYSTALLISED_RATIO * CHI2_3_MEDIAN * noise
    info.update(more, units="degrees", kernel_radius=1, orientation_noise_deg=round(float(np.sqrt(sigma2)), 5),
                domain_pixels="all pixels (GOS as MTEX computes it)",
                recrystallised_rule=(f"median squared misorientation from the region's mean (interior) under "
                                     f"{RECRYSTALLISED_RATIO:g} × its noise's ({CHI2_3_MEDIAN:.3f} σ², σ per axis "
                                     f"read inside the region, the map's {np.sqrt(sigma2):.4f}° where it has fewer "
                                     f"than {MIN_NOISE_TRIPLES} triples): the spread that is not noise is smaller "
                                     "than the noise"),
                recrystallised_threshold=RECRYSTALLISED_RATIO,
                orientation_noise_deg_regions=[round(float(np.sqrt(np.nanmin(own))), 5),
                                               round(float(np.sqrt(np.nanmax(own))), 5)]
                if np.isfinite(own).any() else None)
    return _spread(kernel, gos, rex, regions, info)


#: Second-difference triples a region needs for its own noise to be read (fewer: the map's).
MIN_NOISE_TRIPLES = 30


def region_noise(v: np.ndarray, regions: np.ndarray, lag: int = NOISE_LAG) -> np.ndarray:
    """Each region's per-axis orientation noise variance (degrees²) from the median of its squared second differences
    ``lag`` pixels apart (``6 σ² χ²₃`` for noise; a uniform bend cancels): NaN where it has fewer than
    :data:`MIN_NOISE_TRIPLES` triples. A region of dim or mixed patterns is noisier than the map: its floor is its
    own (on the demo map the grain beside the pore is three times the map's noise)."""
    n = int(regions.max()) + 1
    values, ids = [], []
    ny, nx = regions.shape
    for dy, dx in ((0, lag), (lag, 0)):
        if ny <= 2 * dy or nx <= 2 * dx:
            continue
        cut = [(slice(k * dy, ny - (2 - k) * dy), slice(k * dx, nx - (2 - k) * dx)) for k in range(3)]
        ra, rb, rc = (regions[q] for q in cut)
        ok = (ra >= 0) & (ra == rb) & (rb == rc)
        diff = v[cut[0]] - 2 * v[cut[1]] + v[cut[2]]
        values.append(np.einsum("...k,...k->...", diff, diff)[ok])
        ids.append(ra[ok])
    out = np.full(n, np.nan)
    if not values:
        return out
    val, idx = np.concatenate(values), np.concatenate(ids)
    order = np.lexsort((val, idx))
    val, idx = val[order], idx[order]
    starts = np.searchsorted(idx, np.arange(n))
    counts = np.bincount(idx, minlength=n)
    for r in np.flatnonzero(counts >= MIN_NOISE_TRIPLES):
        out[r] = np.median(val[starts[r]:starts[r] + counts[r]]) / (6 * CHI2_3_MEDIAN)
    return out
