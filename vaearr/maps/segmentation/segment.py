"""``vaearr segment``: a store's feature map into regions (sub-grains) and grains, written back in one transaction.

The method is :mod:`vaearr.maps.segmentation.regions`; on a store with patterns, a grain that holds two unrelated orientations is
then cut where its neighbouring patterns stop correlating (:mod:`vaearr.maps.segmentation.grain_cuts`), and without a mask the
patterns that resemble none of their neighbours wait while the regions form (:mod:`vaearr.maps.segmentation.mixed_pixels`), the
sub-grains inside each grain are read from every pixel's rotation from its grain's mean orientation, in degrees
(:func:`subgrains_from_rotations`; ``subgrains``), and the misorientation across every boundary decides what it is
(:mod:`vaearr.maps.segmentation.boundary_angles`).
Written, in one transaction: ``{name}(y, x)`` region ids (int32, −1 outside the mask),
``{name}_grains(y, x)`` grain ids, ``{name}_boundaries(y, x)`` int8 (0 none, 1 low-angle, 2 grain
boundary; a pixel is on a boundary when its right or lower neighbour is in another region), with
the choices made in attrs.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import StoreError
from vaearr.maps.segmentation.grain_cuts import cut_grains, move_pieces, neighbour_dots
from vaearr.maps.segmentation.boundary_angles import angle_map, boundary_angles, decide
from vaearr.io.detector import command_detector
from vaearr.maps.patterns.misorientation import SEARCH_DEG, Geometry
from vaearr.maps.patterns.rotations import pattern_rotations
from vaearr.maps.segmentation.merging import gap_owners
from vaearr.maps.segmentation.mixed_pixels import ALONG, SMALL, THIN, absorb_small, fill_set_aside, set_aside
from vaearr.maps.indexing.grains import grain_rotation_vectors, neighbour_angles, segment_grains
from vaearr.maps.options import SegmentOptions
from vaearr.maps.region_options import ROTATIONS_MAX_PIXELS
from vaearr.maps.indexing.orientations import orientation_arrays
from vaearr.maps.segmentation.pattern_levels import PatternSpace, merge_by_pattern_contrast
from vaearr.maps.segmentation.merging import relabel
from vaearr.maps.segmentation.regions import Segmentation, boundary_codes, filled_within_grains, segment_features
from vaearr.store import open_store, refuse_inputs, require_whole, write_variables
from vaearr.store.schema import AUTO_MASK, PATTERNS, PHASE_ID, QUATERNION, X, Y, auto_mask, mask_said, no_variable, phase_id_name
from vaearr.options import renamed_keywords, take_renamed




#: What ``segment`` says when it reads a map with patterns on every pixel: the patterns that resemble none of their
#: neighbours (blank ones of pits and scratches, mixed ones along grain boundaries) wait while the regions form
#: (:mod:`vaearr.maps.segmentation.mixed_pixels`) and are labelled after; a ROI of the patterns' own quality leaves them out of the
#: written maps as well.
#: What ``segment`` says when the store keeps no projection centre: the angles are read with the default one.
DEFAULT_PC_HINT = ("the store keeps no projection centre: the angles were read with the default 0.5,0.3,0.6 (off by "
                   "about the relative error of its z*); give `pc` or ingest the patterns with it")

NO_MASK_HINT = ("no mask: patterns that resemble none of their neighbours wait while regions form, then join one; to "
                "leave them out of the maps too, a ROI of their quality (vaearr quality STORE; vaearr roi STORE --var "
                "adp --otsu; then --mask roi)")


@dataclass
class SegmentResult:
    """What :func:`segment_store` wrote: the three variables and how they were made."""

    store: str
    options: SegmentOptions
    variables: dict[str, xr.DataArray]
    segmentation: Segmentation
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        s, o = self.segmentation, self.options
        codes = s.boundaries
        return "\n".join([*self.messages,
                          f"segmented '{o.var}' into {s.n_regions} regions in {s.n_grains} grains "
                          f"({int((codes == 2).sum())} grain-boundary and {int((codes == 1).sum())} low-angle "
                          f"boundary pixels); wrote {', '.join(self.variables)}"])


def resolve_mask(ds: xr.Dataset, mask: str | None, store: Any) -> tuple[np.ndarray, str | None, str]:
    """The mask as a (y, x) bool array, its name, and the line that says which was used."""
    ny, nx = ds.sizes[Y], ds.sizes[X]
    if mask == AUTO_MASK:
        said = mask_said(ds.data_vars, mask)
        mask = auto_mask(ds.data_vars, mask)
        if mask is None:
            return np.ones((ny, nx), bool), None, said
    if mask is None:
        return np.ones((ny, nx), bool), None, "mask: none (every pixel)"
    if mask not in ds.data_vars:
        raise StoreError(store, f"{no_variable(mask, ds.data_vars, kind='mask variable')} (use `mask='none'` for "
                                "every pixel)")
    if ds[mask].dtype != bool or set(ds[mask].dims) != {Y, X}:
        raise StoreError(store, f"mask '{mask}' must be a bool (y, x) variable")
    m = np.asarray(ds[mask].transpose(Y, X).values, bool)
    return m, mask, f"mask: '{mask}' ({int(m.sum())} of {m.size} pixels)"


def require_finite(ds: xr.Dataset, name: str, values: np.ndarray, where: np.ndarray, store: Any,
                   inside: str = "inside the mask") -> None:
    """One line naming ``name`` when its ``values`` (y, x[, ...]) are NaN at every pixel of ``where`` (y, x): an
    all-NaN latent would be measured as zeros, or end in an empty slice, instead of being refused."""
    v = np.asarray(values).reshape(*where.shape, -1)
    if not where.any() or np.isfinite(v[where]).all(-1).any():  # no pixel at all: the caller's own line says so
        return
    made = ds[name].attrs.get("mask") if name in ds else None
    hint = f" (it holds values only inside the mask '{made}' it was made in)" if made and made != "none" else ""
    raise StoreError(store, f"variable '{name}' is NaN at every pixel {inside}{hint}: nothing to measure")


def feature_map(ds: xr.Dataset, name: str, store: Any) -> xr.DataArray:
    """The ``(y, x[, dim])`` feature variable, checked."""
    if name not in ds.data_vars:
        have = sorted(v for v in map(str, ds.data_vars) if {Y, X} <= set(ds[v].dims))
        line = no_variable(name, have, kind="feature variable", listed="maps in the store")
        raise StoreError(store, line + (", or give `var` another map" if line.endswith(" first") else ""))
    da_ = ds[name]
    extra = [d for d in da_.dims if d not in (Y, X)]
    if not {Y, X} <= set(da_.dims) or len(extra) > 1 or da_.dtype.kind not in "fiu":
        raise StoreError(store, f"'{name}' has dims {da_.dims}; segment takes a numeric (y, x) or (y, x, dim) map")
    return da_.transpose(Y, X, *extra)


def feature_inputs(store: Any, options: Any, doing: str,
                   reads: tuple[str, ...] = ()) -> tuple[xr.Dataset, xr.DataArray]:
    """The store and its feature map for a map command whose ``options`` have ``features``, ``mask``,
    ``outputs()`` and ``overwrite`` (checked first): one line for a store without a grid, a missing feature, a
    damaged variable it reads (the features, the mask, the phases, ``options.regions`` if any, ``reads``),
    outputs that exist."""
    options.check()
    ds = open_store(store)
    if Y not in ds.dims or X not in ds.dims:
        raise StoreError(store, f"the store has no (y, x) grid to {doing}")
    da_ = feature_map(ds, options.var, store)
    # before any work, so nothing is computed from a damaged variable
    require_whole(ds, [options.var, auto_mask(ds.data_vars, options.mask), PHASE_ID,
                       phase_id_name(options.var), getattr(options, "regions", None), *reads], store)
    written = [*options.outputs(), *([options.angle_output()] if hasattr(options, "angle_output")
                                     and PatternSpace.available(ds) else [])]
    clash = [v for v in written if v in ds.variables]
    refuse_inputs(ds, written, store)
    if clash and not options.overwrite:
        raise StoreError(store, f"variable(s) {clash} exist; pass `overwrite=True` to replace them")
    return ds, da_


def _orientation_inputs(ds: xr.Dataset, name: str, valid: np.ndarray, grain_angle: float
                        ) -> tuple[np.ndarray, np.ndarray, str]:
    """Rotation vectors from each grain's mean (degrees) and the orientation grains."""
    q, phase_id, groups = orientation_arrays(ds, name)
    valid = valid & np.isfinite(q).all(-1) & np.isin(phase_id, list(groups))
    right, down = neighbour_angles(q, phase_id, valid, groups)
    grains = segment_grains(right, down, valid, grain_angle=grain_angle)
    vectors = grain_rotation_vectors(q, grains, phase_id, groups)
    return vectors, grains, f"orientations: grains below {grain_angle:g}°, then rotations from each grain's mean"


def segment_store(store: str | os.PathLike, options: SegmentOptions | None = None, **kwargs: Any) -> SegmentResult:
    """Segment a store's feature map and write ``{name}``, ``{name}_grains``, ``{name}_boundaries`` in one transaction.

    ``options`` (a :class:`~vaearr.maps.options.SegmentOptions`), or its fields as keywords.

    Raises
    ------
    InputError
        An option out of range, a mask that leaves too few pixels.
    StoreError
        No such feature or mask variable, a variable that exists without ``overwrite``.
    """
    options = options if options is not None else SegmentOptions(store=os.fspath(store), **take_renamed(kwargs, renamed_keywords(SegmentOptions), "segment_store"))
    # the patterns too: they floor the sub-grains when the store has them
    ds, da_ = feature_inputs(store, options, "segment", reads=(PATTERNS,))
    valid, mask_name, mask_line = resolve_mask(ds, options.mask, store)
    if not valid.any():
        raise StoreError(store, f"mask '{mask_name}' selects no pixel")
    messages = [mask_line]
    if mask_name is None and PatternSpace.available(ds) and QUATERNION not in da_.dims:
        messages.append(NO_MASK_HINT)
    grains = None
    if QUATERNION in da_.dims:
        features, grains, line = _orientation_inputs(ds, options.var, valid, options.grain_angle)
        messages.append(line)
    else:
        values = np.asarray(da_.values, np.float64)
        features = values[..., None] if values.ndim == 2 else values
        require_finite(ds, options.var, features, valid, store)
    in_patterns = grains is None and PatternSpace.available(ds)
    space = PatternSpace(store, ds, mask_name) if in_patterns else None
    dots: tuple[np.ndarray, np.ndarray] | None = None
    aside: np.ndarray | None = None
    aside_info: dict[str, Any] = {}
    if space is not None and mask_name is None:  # no mask: the patterns that resemble no neighbour wait (mixed_pixels)
        valid = valid & np.isfinite(features).all(-1)
        dots = neighbour_dots(space.data, space.prepare, valid)
        aside, aside_info = set_aside(*dots, valid)
        if aside_info["pixels_set_aside"]:
            messages.append(f"set aside while regions formed, then given to the neighbour they resemble: "
                            f"{aside_info['pixels_set_aside']} pixel(s) whose patterns resemble none of their "
                            f"neighbours (vaearr.maps.segmentation.mixed_pixels)")
    seg = segment_features(features, valid if aside is None else valid & ~aside,
                           boundary_cost=options.boundary_cost, min_size=options.min_size,
                           min_contrast=0.0 if in_patterns else options.min_contrast, grains=grains,
                           seed=options.seed, correlation=1.0 if grains is not None else None,
                           level_rule=(None if space is None else
                                       functools.partial(space.grains, threshold=options.grain_threshold)))
    if aside is not None and dots is not None:
        seg = _fill(seg, aside, dots, aside_info)
    if space is not None:
        seg = cut_in_patterns(seg, space, valid, dots=dots)
        if seg.info.get("grains_cut"):
            messages.append(f"grains cut in pattern space: {seg.info['grains_cut']} (a grain held two unrelated "
                            "orientations; vaearr.maps.segmentation.grain_cuts)")
    if space is not None:
        detector = command_detector(ds, options.pc, SegmentOptions, store)
        geometry = Geometry(detector.pc, detector.shape, detector.source)
        if rotations_wanted(options, int((seg.grains >= 0).sum())):
            seg = subgrains_from_rotations(seg, space, geometry, options.seed)
        else:
            seg.info["subgrains_from"] = "features"
        if seg.info["subgrains_from"] == "rotations":
            messages.append(f"sub-grains from every pixel's rotation from its grain's mean orientation, in degrees, "
                            f"read from the patterns ({seg.info['rotation_pixels_not_registered']} pixel(s) did not "
                            "register and took the region of a neighbour of their grain)")
        elif options.subgrains == "auto":
            messages.append(f"sub-grains from the feature map's regions (over {ROTATIONS_MAX_PIXELS:,} pixels; "
                            "`subgrains='rotations'` reads them in degrees from the patterns, one registration a "
                            "pattern)")
        seg = in_degrees(seg, space, geometry, options)
        i = seg.info
        messages.append(f"angles across boundaries from the patterns ({detector.said()}): grain boundaries over "
                        f"{options.grain_angle:g}°, low-angle over {options.low_angle:g}°; {i['angle_pairs_merged']} "
                        f"pair(s) of regions under {options.low_angle:g}° joined")
        if detector.is_default:
            messages.append(DEFAULT_PC_HINT)
    variables = _segment_variables(ds, options, seg, mask_name)
    sources = [options.var, *([mask_name] if mask_name else [])]
    config = {k: v for k, v in vars(options).items() if k != "store"}
    write_variables(store, variables, source=sources, config={**config, "mask": mask_name},
                    attrs={"in_mask": mask_name or "none"}, overwrite=options.overwrite)
    return SegmentResult(os.fspath(store), options, variables, seg, messages)


def _fill(seg: Segmentation, aside: np.ndarray, dots: tuple[np.ndarray, np.ndarray],
          info: dict[str, Any]) -> Segmentation:
    """The pixels :func:`~vaearr.maps.segmentation.mixed_pixels.set_aside` took, given to the neighbour region they resemble."""
    regions, grains = fill_set_aside(seg.regions, seg.grains, aside, *dots)
    regions, moved = absorb_small(regions, grains, aside, SMALL)
    regions = _relabel_kept(regions)
    return Segmentation(regions, grains, boundary_codes(regions, grains),
                        {**seg.info, **info, "set_aside_small_regions_pixels": moved,
                         "set_aside_small_regions_rule": (f"a region touching them of under {SMALL} pixels, or a "
                                                          f"strip along them (under {THIN:g} of its pixels core, at "
                                                          f"least {ALONG:g} next to them), joins its grain's region "
                                                          "it shares most edges with")})


def _relabel_kept(regions: np.ndarray) -> np.ndarray:
    """Region ids renumbered 0..R−1, −1 kept where there is none."""
    return np.where(regions >= 0, relabel(np.where(regions >= 0, regions, regions.max() + 1)), -1)


def cut_in_patterns(seg: Segmentation, space: PatternSpace, valid: np.ndarray,
                    dots: tuple[np.ndarray, np.ndarray] | None = None) -> Segmentation:
    """Grains that hold two unrelated orientations, cut where their neighbouring patterns stop correlating, and small
    pieces of a grain that belong to the grain beside them moved there (:func:`~vaearr.maps.segmentation.grain_cuts.cut_grains`,
    :func:`~vaearr.maps.segmentation.grain_cuts.move_pieces`; one more pass over the patterns, and over the rows of such pieces).
    ``dots``: the neighbour dot products of ``valid`` already read (their pairs outside a grain are left out here)."""
    if dots is None:
        right, down = neighbour_dots(space.data, space.prepare, valid & (seg.grains >= 0))
    else:
        inside = valid & (seg.grains >= 0)
        right = np.where(inside[:, :-1] & inside[:, 1:], dots[0], np.nan)
        down = np.where(inside[:-1] & inside[1:], dots[1], np.nan)
    regions, grains, info = cut_grains(seg.regions, seg.grains, right, down, space.data, space.prepare,
                                       min_size=int(seg.info.get("min_size", 1)))
    regions, grains, moved = move_pieces(regions, grains, right, down, space.data, space.prepare)
    info.update(moved)
    if not info["grains_cut"] and not moved["grain_piece_pixels_moved"]:
        return Segmentation(seg.regions, seg.grains, seg.boundaries, {**seg.info, **info})
    return Segmentation(regions, grains, boundary_codes(regions, grains), {**seg.info, **info})


def rotations_wanted(options: SegmentOptions, pixels: int) -> bool:
    """Whether the sub-grains are read from the pixels' rotations (``subgrains``; ``auto``: up to
    :data:`~vaearr.maps.region_options.ROTATIONS_MAX_PIXELS` pixels in grains)."""
    return options.subgrains == "rotations" or (options.subgrains == "auto" and pixels <= ROTATIONS_MAX_PIXELS)


def subgrains_from_rotations(seg: Segmentation, space: PatternSpace, geometry: Geometry, seed: int) -> Segmentation:
    """The sub-grains of every grain from each pixel's rotation from the grain's mean orientation, in degrees, read
    from the patterns (one registration of every pattern on its grain's reference), segmented as orientations are:
    inside the grains, on rotation vectors whose noise is a single pattern's. A pixel that did not register takes the
    region of a neighbour of its grain that did, step by step inward."""
    grains = seg.grains
    vec, _ = pattern_rotations(grains, space.data, space.bg, geometry, passes=1)
    ok = (grains >= 0) & np.isfinite(vec).all(-1)
    lost = (grains >= 0) & ~ok
    info = {"subgrains_from": "rotations", "rotation_passes": 1, "rotation_pixels_not_registered": int(lost.sum())}
    if ok.sum() < 2:
        return Segmentation(seg.regions, grains, seg.boundaries, {**seg.info, **info, "subgrains_from": "features"},
                            seg.angles)
    sub = segment_features(np.nan_to_num(vec), ok, grains=np.where(ok, grains, -1), correlation=1.0, seed=seed)
    regions = filled_within_grains(sub.regions, grains)
    info["rotation_noise_correlation_factor"] = sub.info.get("noise_correlation_factor")
    return Segmentation(regions, grains, boundary_codes(regions, grains), {**seg.info, **info})


def in_degrees(seg: Segmentation, space: PatternSpace, geometry: Geometry, options: SegmentOptions) -> Segmentation:
    """The regions decided in degrees (:mod:`vaearr.maps.segmentation.boundary_angles`): the misorientation across every boundary
    read from the patterns; regions closer than ``low_angle`` joined, grains the regions joined by boundaries under
    ``grain_angle``. The gaps of the mask are closed as the regions were (:func:`~vaearr.maps.segmentation.merging.gap_owners`)."""
    valid = seg.regions >= 0
    owner = gap_owners(valid)
    painted = np.where(owner >= 0, seg.regions.ravel()[np.maximum(owner, 0)], -1).reshape(valid.shape)
    grains = np.where(owner >= 0, seg.grains.ravel()[np.maximum(owner, 0)], -1).reshape(valid.shape)
    pairs = boundary_angles(painted, space.data, space.bg, geometry, source=owner, grains=grains,
                            grain_angle=options.grain_angle)
    regions, grains, info = decide(seg.regions, pairs, grain_angle=options.grain_angle, low_angle=options.low_angle)
    regions = _relabel_kept(regions)
    grains = _relabel_kept(grains)
    codes = boundary_codes(regions, grains)
    # a boundary that stays was one before the regions under low_angle joined: its angle is its old pair's
    read = pairs.read(options.grain_angle)
    angles = np.where(codes > 0, angle_map(seg.regions, pairs, read), np.nan).astype(np.float32)
    return Segmentation(regions, grains, codes,
                        {**seg.info, **info, "angle_pc": list(geometry.pc), "angle_pc_source": geometry.source},
                        angles=angles)


def floor_in_patterns(seg: Segmentation, space: PatternSpace, min_contrast: float) -> Segmentation:
    """Sub-grains of one grain whose mean patterns differ by less than ``min_contrast`` × the grain boundaries'
    difference, merged (:func:`~vaearr.maps.segmentation.pattern_levels.merge_by_pattern_contrast`): in a latent space the
    grains' spread says little about how far apart sub-grains sit; in pattern space it is a fixed physics."""
    regions, info = merge_by_pattern_contrast(space.data, seg.regions, seg.grains, space.prepare, min_contrast)
    regions = _relabel_kept(regions)
    regions = np.where(seg.regions >= 0, regions, -1)
    return Segmentation(regions, seg.grains, boundary_codes(regions, seg.grains),
                        {**seg.info, **info, "min_contrast_space": "patterns"})


def _segment_variables(ds: xr.Dataset, options: SegmentOptions, seg: Segmentation,
                       mask_name: str | None) -> dict[str, xr.DataArray]:
    coords = {Y: ds[Y].values, X: ds[X].values}
    info = {k: v for k, v in seg.info.items() if k != "noise_std_per_dim"}
    name, grains_name, boundaries_name = options.outputs()
    degrees = seg.angles is not None
    rule = ("regions: minimum-description-length merging of the whitened features "
            "(vaearr.maps.segmentation.segment); grains: regions joined across low-angle boundaries")
    if info.get("subgrains_from") == "rotations":
        rule += ("; sub-grains: the same merging, inside each grain, of every pixel's rotation from the grain's mean "
                 "orientation (degrees, read from the patterns: vaearr.maps.patterns.rotations)")
    if degrees:
        rule += f"; {info['angle_rule']}"
    classes = ({"grain_angle": float(options.grain_angle), "low_angle": float(options.low_angle), "units": "degree"}
               if degrees else {})
    out = {
        name: xr.DataArray(seg.regions.astype(np.int32), dims=(Y, X), coords=coords, name=name,
                           attrs={"nodata": -1, "features": options.var, "rule": rule, "n_regions": seg.n_regions,
                                  "n_grains": seg.n_grains, **info}),
        grains_name: xr.DataArray(seg.grains.astype(np.int32), dims=(Y, X), coords=coords, name=grains_name,
                                  attrs={"nodata": -1, "regions": name, "n_grains": seg.n_grains,
                                         **({"grain_angle": float(options.grain_angle)} if degrees else {})}),
        boundaries_name: xr.DataArray(seg.boundaries, dims=(Y, X), coords=coords, name=boundaries_name,
                                      attrs={"flag_values": [0, 1, 2], "flag_meanings": "none low_angle grain",
                                             "regions": name, **classes,
                                             "convention": "a pixel is on a boundary when its right or lower "
                                                           "neighbour is in another region"}),
    }
    if degrees:
        angle_name = options.angle_output()
        out[angle_name] = xr.DataArray(
            seg.angles, dims=(Y, X), coords=coords, name=angle_name,
            attrs={"units": "degree", "regions": name, **classes,
                   "meaning": "misorientation across the boundary the pixel is on, read from the patterns (the "
                              "rotation between the two pixels that touch there, one pixel's gradient of each side "
                              "taken out); NaN off boundaries; inf: more than the registration's reach "
                              f"({SEARCH_DEG:g}°: a grain boundary)"})
    return out
