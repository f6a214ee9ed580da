"""``vaearr phases``: the regions of a segmentation grouped into phases, with no crystallography given and the number of phases found in the data.

Each region's mean pattern (:func:`~vaearr.maps.phases.phase_features.region_means`) gives features that
do not change with its orientation (:mod:`vaearr.maps.phases.phase_features`). The regions are split in
two, then each part again, while a split passes its test (at most ``max_phases`` phases, each of
at least ``min_regions`` regions); a map where no split passes is one phase. The methods
(:data:`METHODS`, registered in :data:`~vaearr.maps.phases.phase_methods.PHASE_METHODS`):

``bands``
    Average-linkage split of the regions' band-triangle distances
    (:func:`~vaearr.maps.phases.phase_features.triplet_distance`); a split passes when the two parts share
    on average less than 1 − :data:`BANDS_SPLIT` of their triangles and their mean distance is
    :data:`BANDS_RATIO` times the mean distance within the parts: different crystal structures.
``sharpness``
    The split of the regions' pattern sharpness (the share of their mean pattern's power at fine
    detail, :func:`~vaearr.maps.phases.phase_features.spectral_sharpness`) that leaves the least variance within the parts; it passes when the sharper part's mean is
    :data:`SHARPNESS_SPLIT` times the other's: one structure, different defect density or strain.
``auto`` (default)
    ``bands``, then ``sharpness`` inside each phase found.
``lattice``
    For phases of one structure that differ in lattice parameter (where indexing sees one phase):
    each region's lattice is fitted to its mean pattern at the orientation ``vaearr index`` found
    (:mod:`vaearr.maps.phases.lattice_fit`; the structure, detector and energy are the indexing's, so
    ``vaearr index STORE --phase fcc --method hough`` first is enough). The regions of each indexed
    phase are split by value (as ``sharpness``); a split passes when the larger part's mean lattice
    is :data:`LATTICE_SPLIT` times the other's **and** the regions' NCC curves take their sides: in
    the median, a region's curve is :data:`LATTICE_MARGIN` higher at its own part's lattice than at
    the other's (:func:`curve_margin`). The second test is what keeps a single-phase map of dynamical
    patterns one phase (its regions' fits scatter by up to 1.09 ×, with margins under 0.008). Once
    split, every region joins the phase at whose lattice its curve is highest
    (:func:`curve_assignment`), not the side its curve's peak fell on. This method uses
    crystallography: a structure, not its lattice.
``features``
    The model side, for comparison: a Gaussian mixture of the regions' mean feature vectors
    (``--var``: latents, PCA or cNMF weights), the number of components by the lowest BIC.

Regions under ``min_pixels`` pixels have noisy means: they take no part in the splits and join
the phase whose regions their features are nearest. Written: ``{name}(y, x)`` int16 phase ids 0…k−1
(−1 outside the mask or the regions), with the method, the rule, the number of phases, each
split's statistic and threshold, and each phase's regions and pixel fraction in attrs.

The thresholds were chosen on the tuning seeds of the simulated families and checked on held-out
seeds (``benchmarks/bench_phases.py``, BENCHMARKS.md "Phases from the data").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from vaearr.io.detector import store_detector
from vaearr.errors import InputError, StoreError
from vaearr.maps.options import PhasesOptions
from vaearr.maps.phases.grouping import BANDS_RATIO, BANDS_SPLIT, SHARPNESS_SPLIT, Grouping
from vaearr.maps.phases.lattice_grouping import LATTICE_MARGIN, LATTICE_SPLIT
from vaearr.maps.phases.phase_features import Geometry, region_means
from vaearr.maps.phases.phase_methods import PHASE_METHODS, Grouped, RegionMeans
from vaearr.maps.segmentation.segment import require_finite, resolve_mask
from vaearr.store import open_store, refuse_inputs, require_whole, write_variables
from vaearr.store.schema import PATTERNS, PX, PY, X, Y, auto_mask, no_variable
from vaearr.options import renamed_keywords, take_renamed

#: The grouping methods (:data:`~vaearr.maps.phases.phase_methods.PHASE_METHODS`' names).
METHODS = PHASE_METHODS.names()


# --------------------------------------------------------------------------------------------
# the store


@dataclass
class PhasesResult:
    """What :func:`phases_store` wrote."""

    variable: xr.DataArray
    grouping: Grouping
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        a = self.variable.attrs
        fr = ", ".join(f"phase {p['id']}: {p['regions']} regions, {100 * p['fraction']:.1f} %"
                       + (f" ({p['structure']}, a ≈ {p['lattice_a']:.3f} Å)" if "lattice_a" in p else "")
                       for p in a["phase_list"])
        tests = [f"  split of {'+'.join(map(str, s['regions']))} regions, {s['rule']}: {s['statistic']:g}"
                 + (f", ratio {s['ratio']:g}" if "ratio" in s else "")
                 + (f", margin {s['margin']:g}" if "margin" in s else "")
                 + f" (needs {', '.join(f'{k} ≥ {v:g}' for k, v in s['threshold'].items())}): "
                 f"{'accepted' if s['accepted'] else 'refused'}" for s in self.grouping.splits if "statistic" in s]
        return "\n".join([*self.messages, *tests,
                          f"{a['n_phases']} phase{'s' if a['n_phases'] != 1 else ''} ({a['method']}): {fr}; "
                          f"wrote {self.variable.name}"])


def store_geometry(ds: xr.Dataset, pc: tuple[float, float, float] | None,
                   tilt: float | None, prefer: str | None = None) -> tuple[Geometry | None, str]:
    """The detector geometry: given, else the one the store keeps (:func:`vaearr.io.detector.store_detector`: the
    patterns' own, ``vaearr index``'s — the variable ``prefer`` first —, a vendor file's, a simulation's)."""
    detector = store_detector(ds, pc, sample_tilt=tilt, prefer=prefer, default=False)
    if detector is None:
        return None, ""
    said = "PC as given" if pc is not None else f"PC from {detector.source}"
    return Geometry(detector.pc, float(detector.sample_tilt)), said


def _region_map(ds: xr.Dataset, name: str, valid: np.ndarray, store: Any) -> tuple[np.ndarray, np.ndarray]:
    """The regions inside the mask numbered 0…R−1 (−1 elsewhere) and, for each, its id in the store's variable."""
    if name not in ds.data_vars:
        have = [str(k) for k, v in ds.data_vars.items() if set(v.dims) == {Y, X} and v.dtype.kind in "iu"]
        raise StoreError(store, no_variable(name, have, kind="region variable", listed="integer maps in the store",
                                            made=f"'vaearr segment STORE --name {name}'") + " (or give `regions='NAME'`)")
    v = ds[name]
    if set(v.dims) != {Y, X} or v.dtype.kind not in "iu":
        raise StoreError(store, f"'{name}' is not a region map (an integer (y, x) variable from vaearr segment); it is "
                                f"{v.dtype} over {tuple(map(str, v.dims))}")
    lab = np.asarray(v.transpose(Y, X).values, np.int64)
    lab = np.where(valid & (lab >= 0), lab, -1)
    ids, inv = np.unique(lab[lab >= 0], return_inverse=True)
    out = np.full(lab.shape, -1, np.int64)
    out[lab >= 0] = inv
    return out, ids


def phases_store(store: str | os.PathLike, options: PhasesOptions | None = None, /, **fields: Any) -> PhasesResult:
    """Group the regions of ``options.regions`` into phases and write ``{name}(y, x)`` in one transaction (see the module
    docstring).

    Raises
    ------
    InputError
        An option out of range; no projection centre in the store or given.
    StoreError
        No patterns, no such region, feature or mask variable, a variable that exists without ``overwrite``.
    """
    o = options if options is not None else PhasesOptions(store=os.fspath(store), **take_renamed(fields, renamed_keywords(PhasesOptions), "phases_store"))
    pc = o.check()
    ds = open_store(store)
    if PATTERNS not in ds.data_vars or set(ds[PATTERNS].dims) != {Y, X, PY, PX}:
        raise StoreError(store, f"{no_variable(PATTERNS, ds.data_vars, kind='pattern variable')} (phases are found in "
                                "the patterns)")
    refuse_inputs(ds, [o.name], store)
    if o.name in ds.variables and not o.overwrite:
        raise StoreError(store, f"variable '{o.name}' exists; pass `overwrite=True` to replace it")
    # before any work: no phase map from damaged patterns, regions, features or mask
    method = PHASE_METHODS[o.method]()
    require_whole(ds, [PATTERNS, o.regions, auto_mask(ds.data_vars, o.mask),
                       *([o.input_var] if method.var_is_source else [])], store)
    valid, mask, mask_line = resolve_mask(ds, o.mask, store)
    regions, ids = _region_map(ds, o.regions, valid, store)
    n = len(ids)
    if n == 0:
        raise StoreError(store, f"'{o.regions}' has no region inside the mask")
    if method.reads_var and o.input_var in ds.data_vars and {Y, X} <= set(ds[o.input_var].dims):
        # no phases from an all-NaN map (it was read as zeros: one phase)
        require_finite(ds, o.input_var, ds[o.input_var].transpose(Y, X, ...).values, regions >= 0, store,
                       f"of the {n} regions of '{o.regions}' inside the mask")
    inputs = method.read(ds, o, regions, n, valid, store)
    geometry, geo_line = store_geometry(ds, pc, o.sample_tilt, prefer=o.input_var if method.geometry_from_var else None)
    if geometry is None and method.needs_geometry:
        raise InputError(None, "the store keeps no projection centre: give `pc='X,Y,Z'` (Bruker) for the bands' plane "
                               "normals")
    patterns = ds[PATTERNS].transpose(Y, X, PY, PX).data
    halves = half_counts = None
    if method.halves:  # the halves give the noise left in each mean (spectral_sharpness)
        halves, half_counts = region_means(patterns, regions, halves=True,
                                           progress="phases: region means" if o.progress else False)
        counts = half_counts[0::2] + half_counts[1::2]
        means = (halves[0::2] * half_counts[0::2, None, None] + halves[1::2] * half_counts[1::2, None, None]) \
            / np.maximum(counts, 1)[:, None, None]
    else:
        means, counts = region_means(patterns, regions, progress="phases: region means" if o.progress else False)
    big = np.flatnonzero(counts >= o.min_pixels)
    if big.size == 0:
        big = np.arange(n)  # every region is small: they all count
    messages = [mask_line, f"{n} regions of '{o.regions}', {big.size} with at least {o.min_pixels} pixels"
                + (f"; {geo_line}" if geo_line and method.needs_geometry else "")]
    grouped = method.group(RegionMeans(store=store, options=o, regions=regions, n=n, means=means, counts=counts, big=big,
                                       mask=mask, geometry=geometry, inputs=inputs, halves=halves,
                                       half_counts=half_counts))
    return _write(store, ds, o, regions, grouped, counts, mask, messages + grouped.messages)


def _write(store: Any, ds: xr.Dataset, o: PhasesOptions, regions: np.ndarray, grouped: Grouped, counts: np.ndarray,
           mask: str | None, messages: list[str]) -> PhasesResult:
    labels, phase_info = grouped.labels, grouped.phase_info
    phase_map = np.where(regions >= 0, labels[np.maximum(regions, 0)], -1).astype(np.int16)
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    total = max(int((phase_map >= 0).sum()), 1)
    phase_list = [{"id": p, "name": f"phase {p}", "regions": int((labels == p).sum()),
                   "pixels": int((phase_map == p).sum()), "fraction": round(float((phase_map == p).sum()) / total, 4),
                   **(phase_info[p] if phase_info else {})}
                  for p in range(k)]
    attrs = {"nodata": -1, "method": o.method, "rule": PHASE_METHODS[o.method].rule, "n_phases": k, "phase_list": phase_list,
             "regions": o.regions, "splits": grouped.grouping.splits, "min_regions": o.min_regions, "min_pixels": o.min_pixels,
             "thresholds": {"bands": BANDS_SPLIT, "bands_ratio": BANDS_RATIO, "sharpness": SHARPNESS_SPLIT,
                            "lattice": LATTICE_SPLIT, "lattice_margin": LATTICE_MARGIN},
             **(grouped.attrs or {}),
             "note": "phases found in the data, no crystallography given: ids are arbitrary (0 the phase of most regions)"}
    da = xr.DataArray(phase_map, dims=(Y, X), coords={Y: ds[Y].values, X: ds[X].values}, name=o.name, attrs=attrs)
    sources = [PATTERNS, o.regions, *(grouped.sources or []), *([mask] if mask else [])]
    config = {k_: v for k_, v in vars(o).items() if k_ not in ("store", "progress")}
    config["pc"] = None if o.pc is None else str(o.pc)
    write_variables(store, {o.name: da}, source=sources, config={**config, "mask": mask},
                    attrs={"in_mask": mask or "none"}, overwrite=o.overwrite)
    return PhasesResult(da, grouped.grouping, messages)
