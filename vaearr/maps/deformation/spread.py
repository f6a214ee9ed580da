"""Deformation from any feature map: kernel and domain spreads (analogues of KAM and GOS) and the recrystallised regions.

After orientation, EBSD users measure deformation: the kernel average misorientation (KAM) of every
pixel to its neighbours, the grain orientation spread (GOS) of every grain around its mean, and the
grains whose spread is at the noise floor (recrystallised). The same three need no orientation: any
feature vector that moves with the orientation (latents, decomposition weights) spreads inside a
deformed grain and not inside a recrystallised one (the *kernel* and *domain latent-vector spreads*
of the Lattice genome work, arXiv 2606.09611, as high-dimensional analogues of KAM and GOS).

* **Units the noise sets.** A feature map's spreads are in units of its per-pixel noise: the
  features are whitened by the noise covariance, read from the map as the robust covariance of
  second differences of pixels three apart inside the regions (``z(p−3) − 2 z(p) + z(p+3)``: a
  linear orientation gradient cancels out, so a bent grain is not taken for a noisy one), divided
  by 6. A domain spread of 1 is noise alone, whatever the map, model or counts.
* **Kernel spread** (KAM): at each pixel, the features' gradient, fit by least squares over the pixels
  of its region within ``radius`` pixels (Chebyshev; a plane per feature), squared, less what the
  noise alone gives the fit (known: the noise is whitened), over d, plus 1: noise alone reads 1, a
  gradient of one noise σ a pixel in every feature 2. KAM is the orientation's rate of change between
  neighbours; the fit reads that rate from all the window's pixels at once, so its noise falls with
  the window (the mean squared difference to each neighbour, used until issue 37's held-out maps, read
  KAM at Spearman 0.51–0.67 on the science family, the fit over radius 4 at 0.73–0.85; radius chosen on
  both families' tuning maps, BENCHMARKS.md "Science: two families"). Orientations: the mean
  misorientation to the first 4-neighbours of its region (degrees), KAM as MTEX computes it.
* **Domain spread** (GOS): per region, the mean squared distance of its pixels from the region's
  mean, over d, read on the pixels more than :data:`EDGE_PX` pixels inside the region (the mixed
  patterns along a boundary are not deformation), painted on every pixel of the region.
  Orientations: the mean misorientation of the region's pixels from its mean orientation (GOS).
* **Pixels averaged with fewer neighbours.** Latents of a run that averaged each pattern with its
  neighbours (``average_neighbours``, the README path's 3 × 3) are noisier where fewer neighbours
  counted: at the map's edge and beside the pixels the run's mask left out, where a mask leaves a dim
  grain as speckle most of all (there a recrystallised grain read 4–6 × the noise). The noise of a
  pixel is taken as that of one pattern over ``n``, ``n`` the pixels of the run's mask in its window
  (:func:`averaged_counts`; the similarity weights are not counted): the noise is read from second
  differences each scaled to a full window's, the domain spread weighs each pixel's squared distance
  by ``n`` over the window's size around the mean so weighted, and the kernel's fit weighs its pixels
  alike (its noise part taken for those weights).
* **Recrystallised**: a region whose spread is at the noise floor — the median squared distance of
  its pixels from its mean under :data:`RECRYSTALLISED_RATIO` × the noise's (the median of χ² with d
  degrees of freedom): the part of its variance that is not noise is smaller than the noise. The median,
  as for orientations, so that a few pixels of a neighbouring grain the segmentation gave the region do
  not make it deformed (the mean read a recrystallised grain of a held-out map, 10 of its 416 pixels
  from a bent neighbour, at 6.8 × the noise; the median at 1.05). Orientations: the region's median
  squared misorientation from its mean under that ratio × the orientation noise's (χ²₃'s median × σ², σ
  the per-axis noise read the same way from the rotation vectors).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage as ndi
from scipy.stats import chi2

from vaearr.errors import InputError, StoreError
from vaearr.io.detector import Detector, command_detector
from vaearr.maps.indexing.grains import grain_rotation_vectors
from vaearr.maps.patterns.misorientation import Geometry
from vaearr.maps.segmentation.pattern_levels import PatternSpace
from vaearr.maps.deformation.pattern_rotations import pattern_rotations
from vaearr.maps.segmentation.merging import group_sums, robust_covariance
from vaearr.maps.options import KERNEL_RADIUS, SpreadOptions
from vaearr.maps.indexing.orientations import phase_groups
from vaearr.maps.segmentation.segment import feature_inputs, require_finite, resolve_mask
from vaearr.store import refuse_inputs, write_variables
from vaearr.store.provenance import run_reference
from vaearr.store.schema import PATTERNS, PHASE_ID, QUATERNION, X, Y, no_variable, phase_id_name
from vaearr.options import renamed_keywords, take_renamed

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


def averaged_counts(ds: xr.Dataset, name: str) -> tuple[np.ndarray | None, str | None]:
    """Each pixel's noise precision from the patterns its encoder input averaged, relative to a full window (the
    count over k², ``(ny, nx)``), and a line saying so; ``(None, None)`` where ``name``'s attrs record no neighbour
    averaging (PCA or cNMF weights of the patterns, a run without it).

    A run with ``average_neighbours`` k averages each pixel of its mask with the pixels of the mask in its k × k
    window (none beyond the map's edge); a pixel outside the mask is not averaged. Read from the run reference
    that ``vaearr encode`` writes (:func:`~vaearr.store.provenance.run_reference`: the run's ``average_neighbours``
    and ``mask``)."""
    ref = run_reference(ds, name)
    if ref is None or ref.average_neighbours < 2:
        return None, None
    k = ref.average_neighbours
    shape = tuple(int(ds.sizes[d]) for d in (Y, X))
    mask_name = ref.mask
    have = bool(mask_name) and mask_name in ds
    m = np.asarray(ds[mask_name].transpose(Y, X).values, bool) if have else np.ones(shape, bool)
    n = ndi.convolve(m.astype(np.float64), np.ones((k, k)), mode="constant", cval=0.0)
    n = np.where(m, np.maximum(n, 1.0), 1.0)
    where = f"the run's mask '{mask_name}'" if have else "every pixel" + (
        f" (the run's mask '{mask_name}' is not in the store)" if mask_name else "")
    return n / (k * k), (f"noise weighted by the patterns each pixel's input averaged ({k} × {k} in {where}; "
                         "1 = a full window)")


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


# --------------------------------------------------------------------------------------------
# on a store (``vaearr spread``)


@dataclass
class SpreadResult:
    """What :func:`spread_store` wrote and how it measured."""

    store: str
    options: SpreadOptions
    regions: str
    variables: dict[str, xr.DataArray]
    spread: Spread
    messages: list[str] = field(default_factory=list)
    degrees: Spread | None = None  # KAM, GOS from the patterns (degrees), when the store has them

    @property
    def decided(self) -> Spread:
        """The spread the recrystallised mask was decided on: the degrees from the patterns where there are some."""
        return self.degrees if self.degrees is not None else self.spread

    def summary(self) -> str:
        s, info = self.spread, self.spread.info
        kernel, domain, rex = self.options.outputs()
        units = info.get("units", "")
        lines = [*self.messages,
                 f"spreads of '{self.options.var}' over the {info['regions_measured']} regions of '{self.regions}' "
                 f"({units}):",
                 f"  {kernel}: median {np.nanmedian(s.kernel):.4g} (recrystallised regions: "
                 f"{_shown(info.get('kernel_spread_recrystallised_median'))})",
                 f"  {domain}: regions from {np.nanmin(s.region_domain):.4g} to {np.nanmax(s.region_domain):.4g}"]
        if self.degrees is None:
            lines.append(f"  {rex}: {info['recrystallised_regions']} of {info['regions_measured']} regions, "
                         f"{100 * s.recrystallised_fraction:.1f} % of the pixels ({info['recrystallised_rule']})")
            return "\n".join([*lines, f"wrote {kernel}, {domain}, {rex}"])
        d, di = self.degrees, self.degrees.info
        kam, grod, gos = self.options.degree_outputs()
        lines += [f"  at the latents' noise floor: {info['recrystallised_regions']} of {info['regions_measured']} "
                  "regions",
                  "from the patterns, in degrees (read these: KAM and GOS as MTEX computes them; the latent spreads "
                  "above rank regions by their features, in units of their noise):",
                  f"  {kam}: median {np.nanmedian(d.kernel):.3f}° ({_shown(di.get('kernel_spread_recrystallised_median'))}° "
                  "in the recrystallised regions)",
                  f"  {gos}: regions from {np.nanmin(d.region_domain):.3f}° to {np.nanmax(d.region_domain):.3f}°; "
                  f"per-axis noise of one pattern {di['orientation_noise_deg']:.3f}°",
                  f"  {rex}: {di['recrystallised_regions']} of {di['regions_measured']} regions at the noise floor, "
                  f"{100 * d.recrystallised_fraction:.1f} % of the pixels ({di['recrystallised_rule']})"]
        return "\n".join([*lines, f"wrote {kernel}, {domain}, {kam}, {grod}, {gos}, {rex}"])


def _shown(v: Any) -> str:
    return "—" if v is None else f"{v:.4g}"


def region_variable(ds: xr.Dataset, options: SpreadOptions, store: Any) -> tuple[str, np.ndarray, str]:
    """The region id map to measure over, its name, and the line that says which it is."""
    name = options.regions
    if name not in ds.data_vars:
        have = sorted(str(v) for v in ds.data_vars if ds[v].dtype.kind in "iu" and set(ds[v].dims) == {Y, X})
        raise StoreError(store, no_variable(name, have, kind="region variable", listed="integer maps in the store",
                                            made=f"'vaearr segment STORE --name {name}'"))
    grains = f"{name}_grains"
    if options.level == "grains" and grains in ds.data_vars and "n_regions" in ds[name].attrs:
        line, name = f"regions: the grains of the segmentation '{options.regions}' ({grains})", grains
    else:
        line = f"regions: '{name}'"
    da_ = ds[name]
    if da_.dtype.kind not in "iu" or set(da_.dims) != {Y, X}:
        raise StoreError(store, f"'{name}' has dims {da_.dims} and dtype {da_.dtype}; `regions` takes an integer "
                                "(y, x) id map, −1 outside")
    return name, np.asarray(da_.transpose(Y, X).values, np.int64), line


def spread_store(store: str | os.PathLike, options: SpreadOptions | None = None, **kwargs: Any) -> SpreadResult:
    """Kernel and domain spreads of a store's feature map over its regions and the recrystallised mask, written in
    one transaction (``{prefix}_kernel_spread``, ``{prefix}_domain_spread``, ``recrystallised``).

    Raises
    ------
    InputError
        An option out of range, regions without a pixel of features.
    StoreError
        No such feature, region or mask variable; variables that exist without ``overwrite``.
    """
    options = options if options is not None else SpreadOptions(store=os.fspath(store), **take_renamed(kwargs, renamed_keywords(SpreadOptions), "spread_store"))
    ds, da_ = feature_inputs(store, options, "measure spreads on", reads=(f"{options.regions}_grains",))
    regions_name, regions, region_line = region_variable(ds, options, store)
    valid, mask_name, mask_line = resolve_mask(ds, options.mask, store)
    regions = np.where(valid & (regions >= 0), regions, -1)
    # ids 0…R−1 in the order of the store's: a huge id (10¹²) would size every per-region array by it
    ids, dense = np.unique(regions[regions >= 0], return_inverse=True)
    regions[regions >= 0] = dense.ravel()
    values = np.asarray(da_.values, np.float64)
    require_finite(ds, options.var, values, regions >= 0, store, f"of the {ids.size} regions of '{regions_name}' "
                   "inside the mask")
    degrees = None
    messages = [mask_line, region_line]
    if QUATERNION in da_.dims:
        result = orientation_spreads(_rotation_vectors(ds, options.var, regions), regions)
    else:
        precision, weights_line = averaged_counts(ds, options.var)
        result = feature_spreads(values, regions, radius=options.radius, precision=precision)
        if weights_line:
            result.info["noise_weights"] = weights_line
        if options.patterns and PatternSpace.available(ds):
            refuse_inputs(ds, options.degree_outputs(), store)
            clash = [v for v in options.degree_outputs() if v in ds.variables]
            if clash and not options.overwrite:
                raise StoreError(store, f"variable(s) {clash} exist; pass `overwrite=True` to replace them")
            detector = command_detector(ds, options.pc, SpreadOptions, store)
            degrees, line = pattern_spreads(store, ds, regions, mask_name, detector)
            messages.append(line)
    variables = _spread_variables(ds, options, result, regions_name, mask_name, degrees)
    config = {k: v for k, v in vars(options).items() if k != "store"}
    write_variables(store, variables, source=[options.var, regions_name, *([mask_name] if mask_name else [])],
                    config={**config, "mask": mask_name}, overwrite=options.overwrite)
    return SpreadResult(os.fspath(store), options, regions_name, variables, result, messages, degrees)


def _rotation_vectors(ds: xr.Dataset, name: str, regions: np.ndarray) -> np.ndarray:
    """Each pixel's rotation from its region's mean orientation (degrees), regions split by phase."""
    pid_name = phase_id_name(name) if phase_id_name(name) in ds.data_vars else PHASE_ID
    if pid_name not in ds.data_vars:
        raise InputError(None, f"no '{phase_id_name(name)}' beside the orientations '{name}'")
    q = np.asarray(ds[name].transpose(Y, X, QUATERNION).values, np.float64)
    phase_id = np.asarray(ds[pid_name].transpose(Y, X).values, np.int64)
    groups = phase_groups(ds[name].attrs.get("phases") or ds[pid_name].attrs.get("phases"))
    inside = (regions >= 0) & np.isfinite(q).all(-1) & np.isin(phase_id, list(groups))
    # a region that spans two phases would mix two crystals' symmetries: each phase's part is its own region
    keyed = np.where(inside, regions * (int(phase_id.max()) + 1) + phase_id, -1)
    ids = np.unique(keyed[inside], return_inverse=True)[1]
    split = np.full(regions.shape, -1)
    split[inside] = ids
    return grain_rotation_vectors(q, split, phase_id, groups)


def _spread_variables(ds: xr.Dataset, options: SpreadOptions, result: Spread, regions_name: str,
                      mask_name: str | None, degrees: Spread | None = None) -> dict[str, xr.DataArray]:
    coords = {Y: ds[Y].values, X: ds[X].values}
    kernel, domain, rex = options.outputs()
    info = {k: v for k, v in result.info.items() if v is not None}
    units = "degrees" if info.get("units") == "degrees" else "noise variance"
    common = {"features": options.var, "regions": regions_name, "level": options.level, **info}
    out = {
        kernel: xr.DataArray(result.kernel.astype(np.float32), dims=(Y, X), coords=coords, name=kernel,
                             attrs={**common, "units": units, "long_name": "kernel spread (KAM analogue)"}),
        domain: xr.DataArray(result.domain.astype(np.float32), dims=(Y, X), coords=coords, name=domain,
                             attrs={**common, "units": units, "long_name": "domain spread (GOS analogue)"}),
    }
    decided = result if degrees is None else degrees
    d_info = {k: v for k, v in decided.info.items() if v is not None}
    out[rex] = xr.DataArray(decided.recrystallised, dims=(Y, X), coords=coords, name=rex,
                            attrs={"features": options.var if degrees is None else PATTERNS, "regions": regions_name,
                                   "level": options.level, **d_info, "long_name": "recrystallised regions",
                                   "in_mask": mask_name or "none"})
    if degrees is not None:
        kam, grod, gos = options.degree_outputs()
        deg = {"features": PATTERNS, "regions": regions_name, "level": options.level, "units": "degrees", **d_info}
        out[kam] = xr.DataArray(degrees.kernel.astype(np.float32), dims=(Y, X), coords=coords, name=kam,
                                attrs={**deg, "long_name": "kernel average misorientation (first 4-neighbours of "
                                                           "the region), from the patterns"})
        out[gos] = xr.DataArray(degrees.domain.astype(np.float32), dims=(Y, X), coords=coords, name=gos,
                                attrs={**deg, "long_name": "grain orientation spread (mean misorientation from the "
                                                           "region's mean orientation), from the patterns"})
        if degrees.grod is not None:
            out[grod] = xr.DataArray(degrees.grod.astype(np.float32), dims=(Y, X), coords=coords, name=grod,
                                     attrs={**deg, "long_name": "misorientation from the region's mean orientation "
                                                                "(GROD), from the patterns"})
    return out


def pattern_spreads(store: Any, ds: xr.Dataset, regions: np.ndarray, mask_name: str | None,
                    detector: Detector) -> tuple[Spread, str]:
    """KAM, GROD and GOS in degrees from the patterns (:mod:`vaearr.maps.deformation.pattern_rotations`) over ``regions``, and the
    line that says which projection centre they were read with."""
    space = PatternSpace(store, ds, mask_name)
    vectors, info = pattern_rotations(regions, space.data, space.bg,
                                      Geometry(detector.pc, detector.shape, detector.source))
    result = orientation_spreads(vectors, regions)
    result.info.update(info, pc_source=detector.source)
    result.grod = np.linalg.norm(vectors, axis=-1)
    line = f"degrees from the patterns: each pixel registered on its region's reference, {detector.said()}"
    if detector.is_default:
        line += " (off by about the relative error of its z*: give `pc`)"
    return result, line
