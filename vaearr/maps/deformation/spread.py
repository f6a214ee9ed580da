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
  mean, over d, read on the pixels more than :data:`~vaearr.maps.deformation.measures.EDGE_PX` pixels inside the region (the mixed
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
  its pixels from its mean under :data:`~vaearr.maps.deformation.measures.RECRYSTALLISED_RATIO` × the noise's (the median of χ² with d
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

from vaearr.errors import StoreError
from vaearr.io.detector import Detector, command_detector
from vaearr.maps.indexing.grains import grain_rotation_vectors
from vaearr.maps.patterns.misorientation import Geometry
from vaearr.maps.segmentation.pattern_levels import PatternSpace
from vaearr.maps.patterns.rotations import pattern_rotations
from vaearr.maps.options import SpreadOptions
from vaearr.maps.indexing.orientations import orientation_arrays
from vaearr.maps.segmentation.segment import feature_inputs, require_finite, resolve_mask
from vaearr.store import refuse_inputs, write_variables
from vaearr.store.provenance import run_reference
from vaearr.store.schema import PATTERNS, QUATERNION, X, Y, no_variable
from vaearr.options import renamed_keywords, take_renamed
from vaearr.maps.deformation.measures import Spread, feature_spreads, orientation_spreads


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
    q, phase_id, groups = orientation_arrays(ds, name)
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
    """KAM, GROD and GOS in degrees from the patterns (:mod:`vaearr.maps.patterns.rotations`) over ``regions``, and the
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
