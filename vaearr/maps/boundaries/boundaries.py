"""Grain and low-angle boundaries of a map: boundary strength, boundary masks, grain size (no figures).

From patterns the strength is kikuchipy's average neighbour dot product turned into a
dissimilarity: ``1 − mean over the 4 nearest neighbours (kikuchipy's 3×3 circular window) of the normalised dot product`` of the
(optionally background-corrected) patterns; from a latent it is the mean Euclidean distance to
the neighbours' latents. Both are computed row block by row block with a one-row halo, so a
pattern map never has to fit in memory.

The masks come from *edges* between neighbouring pixels, which are thinner and less noisy than
the pixel strength: for the edge between ``(i, j)`` and ``(i, j+1)`` (and likewise downward)
the mean of the ``along × deep`` box on one side is compared with that on the other (patterns:
``1 −`` their correlation; latents: their distance). Edges are kept where they are a local
maximum across themselves (non-maximum suppression), and a pixel is on a boundary when its
right or lower edge is kept and above the threshold: a one-pixel-wide line, like
``one_sided_boundaries`` of the benchmarks' maps (``benchmarks/data/subgrains.py``). The
grain-boundary threshold is Otsu's on the log edge values of the ridge pixels (or given).

Low-angle boundaries are looked for inside each grain, where a 0.5° step is buried in shot noise
when patterns are compared whole: the grain interiors (connected in-mask pixels more than one
pixel from a grain boundary) are taken one by one; their features are projected on the grain's
first principal direction (the direction in which the grain varies most: a sub-grain step when
there is one), and each edge gets the Welch t² of the two ``5 × 3`` boxes' mean projections
(the squared difference of the means over its noise variance, estimated from the boxes
themselves). Ridges of t² are kept by hysteresis — seeds at t² ≥ 16 (|t| ≥ 4), grown through
t² ≥ 5 — as lines of at least 5 pixels, more than ``exclude`` pixels from a grain boundary and
one pixel inside the map and the mask. A grain without a sub-grain step gives t² of the order
of 1 everywhere, so maps without sub-grains get (almost) no marks. See
:func:`~vaearr.maps.boundaries.masks.low_angle_boundaries`; the grain size: :mod:`vaearr.maps.boundaries.grain_size`.
"""

from __future__ import annotations

import math
import os
from types import MappingProxyType
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from vaearr.errors import InputError, StoreError
from vaearr.options import renamed_keywords, take_renamed
from vaearr.maps.patterns.edges import (
    edge_maps,
    neighbour_map,
    prepare_patterns,
    ridge_strength,
)
from vaearr.maps.boundaries.low_angle import (
    LAGB_COMPONENTS,
    LAGB_MIN_CONTRAST,
    extend_regions,
    low_angle_segments,
    rotation_segments,
)
from vaearr.maps.boundaries.line_angles import classify_lines
from vaearr.io.detector import command_detector
from vaearr.maps.patterns.misorientation import Geometry
from vaearr.maps.patterns.rotations import pattern_rotations
from vaearr.maps.region_options import ROTATIONS_MAX_PIXELS
from vaearr.maps.options import LAGB_LOW, LAGB_METHODS, LAGB_MIN_LENGTH, BoundariesOptions  # noqa: F401 - LAGB_METHODS: its users' name
from vaearr.maps.segmentation.pattern_levels import PatternSpace, merge_by_pattern_contrast
from vaearr.maps.segmentation.regions import boundary_codes, segment_features
from vaearr.store import check_name, open_store, refuse_inputs, require_whole, write_variables
from vaearr.store.schema import PATTERNS, X, Y, no_variable
from vaearr.maps.boundaries.grain_size import describe_grain_size, grain_size_attrs
from vaearr.maps.boundaries.masks import (
    LAGB_BOX,
    LAGB_HIGH,
    grain_boundary_mask,
    grain_interiors,
    low_angle_boundaries,
    low_angle_edges,
)

#: The old keywords of the options (until vaearr 0.3, with a notice): ``source`` → ``var`` (the library's; the
#: command line's ``--from`` too).
RENAMED = MappingProxyType({**renamed_keywords(BoundariesOptions), "source": "var"})
#: Variables :func:`find_boundaries` writes (the angle on a store with patterns).
STRENGTH, GRAIN_BOUNDARIES, LOW_ANGLE_BOUNDARIES = "boundary_strength", "grain_boundaries", "low_angle_boundaries"
BOUNDARY_ANGLE = "boundary_angle"


# --------------------------------------------------------------------------------------------
# the store-level command


@dataclass
class BoundaryResult:
    """What :func:`find_boundaries` wrote and how it chose its thresholds."""

    store: str
    source: str
    strength: xr.DataArray
    grain_boundaries: xr.DataArray
    low_angle_boundaries: xr.DataArray
    attrs: dict[str, Any]
    files: dict[str, Any] = field(default_factory=dict)
    angle: xr.DataArray | None = None  # degrees across each boundary pixel, when classed in degrees

    def summary(self) -> str:
        a = self.attrs
        if a.get("lagb_method") == "segment":
            floor = a.get("lagb_contrast_floor")
            how = ("fewer than 2 grain-interior pixels: none to segment" if a.get("lagb_regions") is None else
                   f"{a['lagb_regions']} regions; the merge threshold from the map's noise"
                   + (f", floor {floor:.4g}" if floor is not None else ""))
            low = f"  low-angle boundaries: regions inside each grain ({how}) → "
        else:
            low = f"  low-angle threshold {a['lagb_threshold']:.4g} ({a['lagb_threshold_rule']}) → "
        lines = [
            *a.get("messages", []),
            f"boundaries of {self.store} from {self.source} (mask: {a['mask']}):",
            (f"  grain-boundary threshold {a['gb_threshold']:.4g} ({a['gb_threshold_rule']}; "
             f"ridge median {a['ridge_median']:.4g}) → {a['grain_boundary_pixels']} pixels"
             if math.isfinite(a["gb_threshold"]) else
             f"  grain boundaries: {a['gb_threshold_rule']} → {a['grain_boundary_pixels']} pixels"),
            low + f"{a['low_angle_boundary_pixels']} pixels",
            f"  grain size (mean linear intercept): {describe_grain_size(a)}",
            f"wrote {STRENGTH}, {GRAIN_BOUNDARIES}, {LOW_ANGLE_BOUNDARIES} (y, x)",
        ]
        lines += [f"  {k}: {v}" for k, v in self.files.items()]
        return "\n".join(lines)


def _rotations_wanted(o: BoundariesOptions, ds: xr.Dataset, labels: np.ndarray) -> bool:
    """Whether the regions inside each grain are read from the pixels' rotations (``subgrains``; ``auto``: up to
    :data:`~vaearr.maps.region_options.ROTATIONS_MAX_PIXELS` pixels in grain interiors), on patterns, classed in
    degrees."""
    if o.var != PATTERNS or not o.degrees or not PatternSpace.available(ds) or o.subgrains == "features":
        return False
    return o.subgrains == "rotations" or int((labels > 0).sum()) <= ROTATIONS_MAX_PIXELS


def _grid_steps(ds: xr.Dataset) -> tuple[float, float]:
    def step(c: str) -> float:
        v = np.asarray(ds[c].values, float) if c in ds.coords else np.arange(ds.sizes[c], dtype=float)
        return float(np.median(np.abs(np.diff(v)))) if v.size > 1 else 1.0

    return step(Y), step(X)


#: A mask that leaves out more than this fraction of the strongest edges is said so.
MASK_EDGE_WARNING = 0.5


def find_boundaries(store: Any, options: BoundariesOptions | None = None, **kwargs: Any) -> BoundaryResult:
    """Boundary strength, grain and low-angle boundary masks and grain size; written to the store.

    ``options`` (a :class:`~vaearr.maps.options.BoundariesOptions`), or its fields as keywords (``source``, the old
    name of ``var``, with a notice until vaearr 0.3):

    - ``var``: ``patterns`` (y, x, py, px) or a latent variable (y, x, ...) of the store; ``mask``: a mask variable
      (``None`` or ``none``: every pixel, the default: boundaries are where band contrast is low, so a band-contrast
      ROI leaves most of them out; a mask that leaves out most of the strongest edges is said in one line);
    - ``gb_threshold``: on the ridge strength (default: Otsu's, :func:`grain_boundary_mask`); ``lagb_method``:
      ``segment`` (regions inside each grain, :func:`low_angle_segments`) or ``t2`` (Welch t² lines,
      :func:`low_angle_boundaries`, with ``lagb_threshold``, ``lagb_low``, ``lagb_min_length``);
      ``lagb_components``: principal directions per grain (default: 2 for ``segment``, 1 for ``t2``);
    - from patterns, ``background`` (divide by the static background, the mean pattern inside the mask) and
      ``sigma`` (Gaussian blur, detector pixels) before comparing; ``along``, ``deep``, ``exclude``: the edge boxes
      (:func:`edge_maps`) and, for ``t2``, the exclusion around grain boundaries; ``prefix`` of the names written;
    - ``grain_angle``, ``low_angle``: with patterns in the store, the lines found are classed by the misorientation
      across them, read from the patterns (:func:`~vaearr.maps.boundaries.line_angles.classify_lines`): grain boundaries
      over ``grain_angle`` degrees, low-angle ones over ``low_angle``, none under; where no angle is measured (a
      line that cuts out no piece) a grain-boundary line keeps its class and no low-angle pixel is marked; ``pc``:
      the projection centre (Bruker ``'X,Y,Z'``) for those angles (default: the store's, else the default one;
      ``'store'``: the store's or an error); ``degrees=False``: as the edge detector drew them (patterns that are not
      Kikuchi patterns have no angle); ``overwrite``: replace variables written by an earlier run.

    Raises
    ------
    InputError
        No (y, x) grid, ``var`` missing or without it, a bad mask name or method.
    StoreError
        Variables exist and ``overwrite`` is false (checked before any computing).
    """
    o = options if options is not None else BoundariesOptions(
        store=os.fspath(store), **take_renamed(kwargs, RENAMED, "find_boundaries"))
    o.check()  # before any work
    source, mask, pc, lagb_method, gb_threshold = o.var, o.mask, o.pc, o.lagb_method, o.gb_threshold
    grain_angle, low_angle = o.grain_angle, o.low_angle
    ds, var, names, mask_name, valid = _boundary_inputs(store, source, mask, o.prefix, o.overwrite, o.degrees)
    edges = _edges(var, source, valid, background=o.background, sigma=o.sigma, along=o.along, deep=o.deep)
    gb, _, gb_info = grain_boundary_mask(edges.right, edges.down, valid, threshold=gb_threshold)
    labels, n_grains = grain_interiors(gb, valid)
    if lagb_method == "segment" and source != PATTERNS and gb_threshold is None:
        gb, lagb, lagb_info = _latent_levels(store, ds, edges, valid, mask_name)
        gb_info.update(grain_boundary_pixels=int(gb.sum()), gb_threshold=float("nan"),
                       gb_threshold_rule=f"the segmentation's grain level: {lagb_info['levels_rule']}")
    elif lagb_method == "segment" and _rotations_wanted(o, ds, labels):
        detector = command_detector(ds, pc, BoundariesOptions, store)
        space = PatternSpace(store, ds, mask_name)
        _, grains = extend_regions(np.where(labels > 0, 0, -1), labels, valid & ~gb)
        rotations, _ = pattern_rotations(grains - 1, space.data, space.bg,
                                         Geometry(detector.pc, detector.shape, detector.source), passes=1)
        lagb, lagb_info = rotation_segments(rotations, grains, valid & ~gb)
    elif lagb_method == "segment":
        lagb, lagb_info = low_angle_segments(edges.features, labels, prepare=edges.plain,
                                             components=o.lagb_components or LAGB_COMPONENTS, reach=valid & ~gb)
        lagb_info["lagb_subgrains_from"] = "features"
    else:
        lagb, lagb_info = _t2_boundaries(edges, labels, gb, valid, n_grains, components=o.lagb_components or 1,
                                         threshold=o.lagb_threshold, low=o.lagb_low, min_length=o.lagb_min_length,
                                         exclude=o.exclude)
    angle_info: dict[str, Any] = {}
    angles = None
    if o.degrees and PatternSpace.available(ds):
        detector = command_detector(ds, pc, BoundariesOptions, store)
        space = PatternSpace(store, ds, mask_name)
        angles, _, angle_info = classify_lines(gb | lagb, valid, space.data, space.bg,
                                            Geometry(detector.pc, detector.shape, detector.source),
                                            grain_angle=grain_angle, low_angle=low_angle)
        measured = np.isfinite(angles)
        gb = np.where(measured, angles >= grain_angle, gb)
        # no low-angle mark without an angle (a stub, a junction: 12 false pixels on the demo); a grain boundary stays
        unmeasured_low = int((lagb & ~measured & ~gb).sum())
        lagb = measured & (angles >= low_angle) & (angles < grain_angle)
        angle_info.update(angle_pc=list(detector.pc), angle_pc_source=detector.source,
                          grain_boundary_pixels=int(gb.sum()), low_angle_pixels_unmeasured_dropped=unmeasured_low)
        gb_info.update(grain_boundary_pixels=int(gb.sum()))
        lagb_info.update(low_angle_boundary_pixels=int(lagb.sum()))
    sy, sx = _grid_steps(ds)
    attrs = {
        "source_variable": source, "mask": mask_name or "none", "metric": edges.metric, **edges.how,
        "edge_box_along": int(o.along), "edge_box_deep": int(o.deep), "exclude_px": int(o.exclude),
        **gb_info, **lagb_info, **angle_info, "grain_interiors": n_grains,
        **grain_size_attrs(gb, sy, sx, valid), "step_um": [sy, sx],
    }
    message = _mask_message(var, source, mask_name, valid, edges, background=o.background, sigma=o.sigma,
                            along=o.along, deep=o.deep)
    attrs["messages"] = [message] if message else []
    maps = {STRENGTH: np.where(valid, edges.strength, np.nan).astype(np.float32),
            GRAIN_BOUNDARIES: gb & valid, LOW_ANGLE_BOUNDARIES: lagb & valid}
    if angles is not None:
        maps[BOUNDARY_ANGLE] = np.where(valid & (gb | lagb), angles, np.nan).astype(np.float32)
    return _write(store, ds, names, maps, source=source, mask_name=mask_name, attrs=attrs, overwrite=o.overwrite)


def _boundary_inputs(store: Any, source: str, mask: str | None, prefix: str, overwrite: bool, degrees: bool = True):
    """The store, the source variable, the output names, the mask (name and array), checked before any work."""
    ds = open_store(store)
    if Y not in ds.dims or X not in ds.dims:
        raise InputError(store, f"has no (y, x) grid (dims: {', '.join(map(str, ds.dims)) or 'none'}): "
                                "boundaries need a map")
    if source not in ds.data_vars:
        have = [str(n) for n, v in ds.data_vars.items() if v.dims[:2] == (Y, X) and v.ndim > 2]
        raise InputError(store, no_variable(source, have, listed="map variables with features"))
    var = ds[source]
    if var.dims[:2] != (Y, X) or var.ndim < 3:
        raise InputError(store, f"'{source}' has dims {var.dims}, not (y, x, ...)")
    written = (STRENGTH, GRAIN_BOUNDARIES, LOW_ANGLE_BOUNDARIES, *([BOUNDARY_ANGLE] if degrees and PatternSpace.available(ds) else []))
    names = {k: check_name(prefix + k, "variable name (prefix)") for k in written}
    refuse_inputs(ds, names.values(), store)
    exists = [n for n in names.values() if n in ds.data_vars]
    if exists and not overwrite:
        raise StoreError(store, f"has {', '.join(exists)} already: pass `overwrite=True` to replace")
    require_whole(ds, [source, None if mask == "none" else mask], store)  # before any work
    if mask in (None, "none"):
        return ds, var, names, None, np.ones((ds.sizes[Y], ds.sizes[X]), bool)
    if mask not in ds.data_vars:
        raise InputError(store, f"{no_variable(mask, ds.data_vars, kind='mask')} (`mask='none'`: every pixel)")
    m = ds[mask]
    if m.dtype != bool or m.dims != (Y, X):
        raise InputError(store, f"'{mask}' is not a (y, x) bool mask")
    return ds, var, names, mask, np.asarray(m.values, bool)


@dataclass
class _Edges:
    strength: np.ndarray
    right: np.ndarray
    down: np.ndarray
    features: Any
    prepare: Any  # what the edges compare (blurred for patterns)
    plain: Any  # what the low-angle step reads (patterns unblurred)
    metric: str
    how: dict[str, Any]


def _edges(var: xr.DataArray, source: str, valid: np.ndarray, *, background: bool, sigma: float, along: int,
           deep: int) -> _Edges:
    """Strength and right/down edge maps of the patterns or of a latent, inside ``valid``."""
    if source != PATTERNS:
        z = np.asarray(var.values, np.float64).reshape(valid.shape[0], valid.shape[1], -1)
        valid &= np.all(np.isfinite(z), axis=-1)
        z = np.nan_to_num(z)
        right, down = edge_maps(z, valid, metric="euclidean", along=along, deep=deep)
        return _Edges(neighbour_map(z, valid, metric="euclidean"), right, down, z, None, None, "euclidean",
                      {"strength": "mean Euclidean distance to the 4 nearest neighbours' latents"})
    data = var.data
    bg = _mean_pattern(data, valid) if background else None

    def prepare(block: np.ndarray) -> np.ndarray:
        return prepare_patterns(block, bg, sigma)

    def plain(block: np.ndarray) -> np.ndarray:
        return prepare_patterns(block, bg, 0.0)

    strength = 1.0 - neighbour_map(data, valid, metric="dot", prepare=prepare)
    right, down = edge_maps(data, valid, metric="dot", prepare=prepare, along=along, deep=deep)
    return _Edges(strength, right, down, data, prepare, plain, "dot",
                  {"strength": "1 - mean normalised dot product with the 4 nearest neighbours",
                   "background_divided": bool(background), "pattern_sigma": float(sigma)})


def _latent_levels(store: Any, ds: xr.Dataset, edges: _Edges, valid: np.ndarray,
                   mask_name: str | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Grain and low-angle boundaries of a latent map from its segmentation (:mod:`vaearr.maps.segmentation.regions`), as
    ``vaearr segment`` makes it: the grain level and the sub-grain floor read on the store's patterns when it has
    them (:class:`~vaearr.maps.segmentation.pattern_levels.PatternSpace`), from the latents' contrasts otherwise."""
    space = PatternSpace(store, ds, mask_name) if PatternSpace.available(ds) else None
    seg = segment_features(np.asarray(edges.features), valid, min_contrast=0.0,
                           level_rule=space.grains if space is not None else None)
    regions, info = seg.regions, dict(seg.info)
    if space is not None and seg.n_regions > seg.n_grains:
        regions, more = merge_by_pattern_contrast(space.data, regions, seg.grains, space.prepare, LAGB_MIN_CONTRAST)
        info.update(more)
    codes = boundary_codes(regions, seg.grains)
    return codes == 2, codes == 1, {
        "lagb_method": "segment", "lagb_regions": int(len(np.unique(regions[regions >= 0]))),
        "lagb_noise_correlation": info.get("noise_correlation_factor"), "levels_rule": info.get("levels_rule"),
        "lagb_contrast_floor": info.get("lagb_contrast_floor"), "low_angle_boundary_pixels": int((codes == 1).sum())}


def _mean_pattern(data: Any, valid: np.ndarray) -> np.ndarray:
    flat = data.reshape(-1, *data.shape[2:]) if isinstance(data, da.Array) else np.asarray(data).reshape(-1, *data.shape[2:])
    sel = flat[np.flatnonzero(valid.ravel())] if not valid.all() else flat
    bg = sel.astype(np.float64).mean(axis=0)
    return np.asarray(bg.compute() if isinstance(bg, da.Array) else bg, np.float32)


def _t2_boundaries(edges: _Edges, labels: np.ndarray, gb: np.ndarray, valid: np.ndarray, n_grains: int, *,
                   components: int, threshold: float | None, low: float, min_length: int,
                   exclude: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The Welch t² lines of :func:`low_angle_boundaries` (the rule before the segmentation)."""
    lr, ld = low_angle_edges(edges.features, labels, prepare=edges.prepare, components=components)
    high = LAGB_HIGH if threshold is None else float(threshold)
    lagb, info = low_angle_boundaries(lr, ld, gb, valid, high=high, low=low, min_length=min_length, exclude=exclude)
    info["lagb_method"] = "t2"
    info["lagb_components"] = int(components)
    info["lagb_threshold_rule"] = (
        ("given" if threshold is not None else "significance")
        + f": Welch t² along each grain's first {components} principal direction(s), "
        f"{LAGB_BOX[0]}×{LAGB_BOX[1]} boxes, {n_grains} grain interiors; seeds t² ≥ {high:g}, grown through "
        f"t² ≥ {info['lagb_low']:g}, lines ≥ {min_length} px, > {exclude} px from a grain boundary")
    return lagb, info


def _mask_message(var: xr.DataArray, source: str, mask_name: str | None, valid: np.ndarray, edges: _Edges, *,
                  background: bool, sigma: float, along: int, deep: int) -> str | None:
    """One line when the mask leaves out most of the map's strongest edges (the top 5 % of ridge pixels)."""
    if mask_name is None or valid.all():
        return None
    everywhere = np.ones(valid.shape, bool)
    full = _edges(var, source, everywhere, background=background, sigma=sigma, along=along, deep=deep)
    ridge = ridge_strength(full.right, full.down)
    top = ridge > np.quantile(ridge[ridge > 0], 0.95) if (ridge > 0).any() else np.zeros(valid.shape, bool)
    if not top.any():
        return None
    out = float((top & ~valid).sum() / top.sum())
    if out <= MASK_EDGE_WARNING:
        return None
    return (f"note: mask '{mask_name}' leaves out {100 * out:.0f} % of the strongest edges (boundaries are where "
            "band contrast is low): `mask='none'` finds them")


def _write(store: Any, ds: xr.Dataset, names: Mapping[str, str], maps: Mapping[str, np.ndarray], *, source: str,
           mask_name: str | None, attrs: dict[str, Any], overwrite: bool) -> BoundaryResult:
    """The three maps into the store as one transaction (``names``: the variable of each), and the result."""
    coords = {Y: ds[Y], X: ds[X]} if Y in ds.coords and X in ds.coords else None
    out = {names[k]: xr.DataArray(v, dims=(Y, X), coords=coords, name=names[k]) for k, v in maps.items()}
    write_variables(store, out, mask=mask_name, source=[source] + ([mask_name] if mask_name else []),
                    config=_jsonable(attrs), attrs=_jsonable(attrs), overwrite=overwrite)
    return BoundaryResult(store=os.fspath(store), source=source, strength=out[names[STRENGTH]], attrs=attrs,
                          grain_boundaries=out[names[GRAIN_BOUNDARIES]], low_angle_boundaries=out[names[LOW_ANGLE_BOUNDARIES]],
                          angle=out.get(names.get(BOUNDARY_ANGLE, ""), None))


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
