"""``vaearr phases``: the regions of a segmentation grouped into phases, with no crystallography given and the number of phases found in the data.

Each region's mean pattern (:func:`~vaearr.maps.phases.phase_features.region_means`) gives features that
do not change with its orientation (:mod:`vaearr.maps.phases.phase_features`). The regions are split in
two, then each part again, while a split passes its test (at most ``max_phases`` phases, each of
at least ``min_regions`` regions); a map where no split passes is one phase. The methods
(:data:`METHODS`):

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from types import MappingProxyType

import numpy as np
import xarray as xr
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from vaearr.io.detector import store_detector
from vaearr.errors import InputError, StoreError
from vaearr.maps.patterns.background import static_background
from vaearr.maps.phases.lattice_fit import SCALES, candidate_pixels, divided_means, fit_scales
from vaearr.maps.options import PhasesOptions
from vaearr.maps.phases.phase_features import (
    Geometry,
    band_sets,
    detect_bands,
    prepare,
    region_means,
    spectral_sharpness,
    triplet_distance,
)
from vaearr.maps.segmentation.segment import require_finite, resolve_mask
from vaearr.store import open_store, refuse_inputs, require_whole, write_variables
from vaearr.store.schema import PATTERNS, PX, PY, QUATERNION, X, Y, auto_mask, no_variable, phase_id_name
from vaearr.options import renamed_keywords, take_renamed

#: The grouping methods.
METHODS = ("auto", "bands", "sharpness", "lattice", "features")
#: A band split passes when the parts' mean triangle distance is at least this (they share < 1 − this) ...
BANDS_SPLIT = 0.6
#: ... and at least this many times the mean distance within the parts.
BANDS_RATIO = 1.6
#: A sharpness split passes when the sharper part's mean sharpness is at least this many times the other's
#: (chosen on the tuning maps, seeds 0-5, drawn with bands down to 0.5 Å: two phases blurred apart split at 3.8-5.1,
#: one phase at most 1.70, the science maps' dynamical Ni at most 1.10; 2.5 is about the geometric middle).
SHARPNESS_SPLIT = 2.5
#: A lattice split passes when the larger part's mean fitted lattice is at least this many times the other's ...
#: (chosen on the tuning maps drawn off the fit's model, bands down to 0.5 Å: two lattices 13 % apart split at
#: 1.135–1.166, one-phase kinematical maps at most 1.065 and the science maps' dynamical Ni 1.066–1.093)
LATTICE_SPLIT = 1.11
#: ... and the regions' NCC curves are, in the median, this much higher at their own part's lattice than at the other's
#: (the same maps: two lattices 0.016–0.026, one phase at most 0.0071).
LATTICE_MARGIN = 0.011


@dataclass
class Grouping:
    """Phase of every region (−1: none) and the splits that made them."""

    labels: np.ndarray
    splits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_phases(self) -> int:
        return int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0


# --------------------------------------------------------------------------------------------
# splits


def split_by_distance(d: np.ndarray, members: np.ndarray, min_regions: int) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """The average-linkage split of ``members`` into two; its statistics: the parts' mean distance (``statistic``)
    and that over the mean distance within the parts (``ratio``). None: too few regions on a side."""
    if len(members) < 2 * min_regions:
        return None
    sub = d[np.ix_(members, members)]
    lab = fcluster(linkage(squareform(sub, checks=False), "average"), 2, "maxclust")
    a, b = members[lab == 1], members[lab == 2]
    if min(len(a), len(b)) < min_regions:
        return None
    within = [d[np.ix_(g, g)][np.triu_indices(len(g), 1)].mean() for g in (a, b) if len(g) > 1]
    between = float(d[np.ix_(a, b)].mean())
    ratio = between / max(float(np.mean(within)) if within else 0.0, 1e-6)
    return a, b, {"statistic": round(between, 4), "ratio": round(ratio, 3),
                  "accepted": bool(between >= BANDS_SPLIT and ratio >= BANDS_RATIO)}


def split_by_value(v: np.ndarray, members: np.ndarray, min_regions: int,
                   threshold: float = SHARPNESS_SPLIT) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """The split of ``members`` by value that leaves the least variance within the parts (Otsu's, on the regions);
    its statistic: the ratio of the parts' means (high / low), accepted at ``threshold``."""
    if len(members) < 2 * min_regions:
        return None
    order = members[np.argsort(v[members])]
    x = v[order]
    best, cut = np.inf, None
    for k in range(min_regions, len(x) - min_regions + 1):
        within = x[:k].var() * k + x[k:].var() * (len(x) - k)
        if within < best:
            best, cut = within, k
    if cut is None:
        return None
    low, high = order[:cut], order[cut:]
    ratio = float(v[high].mean() / max(v[low].mean(), 1e-12))
    return high, low, {"statistic": round(ratio, 4), "accepted": bool(ratio >= threshold)}


def recursive_groups(members: np.ndarray, split: Callable, max_groups: int, min_regions: int, rule: str,
                     threshold: dict) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Split ``members`` while a split passes its test (largest group first, up to ``max_groups`` groups)."""
    groups, records, tried = [members], [], set()
    while len(groups) < max_groups:
        pending = [g for g in sorted(groups, key=len, reverse=True) if tuple(g) not in tried]
        if not pending:
            break
        g = pending[0]
        tried.add(tuple(g))
        res = split(g, min_regions)
        if res is None:
            continue
        a, b, stats = res
        records.append({"rule": rule, **stats, "threshold": threshold, "regions": [len(a), len(b)]})
        if stats["accepted"]:
            groups = [x for x in groups if x is not g] + [a, b]
    return groups, records


def features_grouping(z: np.ndarray, big: np.ndarray, max_phases: int, seed: int) -> Grouping:
    """The ``features`` method: a Gaussian mixture (diagonal, lowest BIC over 1…max) of the standardised region means."""
    x = z[big]
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
    x = PCA(n_components=min(3, len(x) - 1, x.shape[1]), random_state=seed).fit_transform(x) if len(x) > 2 else x
    fits = [GaussianMixture(k, covariance_type="diag", random_state=seed, n_init=3).fit(x)
            for k in range(1, min(max_phases, len(x)) + 1)]
    bics = [f.bic(x) for f in fits]
    best = fits[int(np.argmin(bics))]
    labels = np.full(len(z), -1)
    labels[big] = best.predict(x)
    return Grouping(labels, [{"rule": "features: Gaussian mixture, lowest BIC", "bic": [round(b, 2) for b in bics],
                              "accepted": best.n_components > 1}])


def pattern_grouping(method: str, dist: np.ndarray, sharp: np.ndarray, big: np.ndarray, max_phases: int,
                     min_regions: int) -> Grouping:
    """``bands``, ``sharpness`` or ``auto`` on the large regions ``big`` (indices); the others get −1."""
    def by_bands(members: np.ndarray, k: int):
        return split_by_distance(dist, members, k)

    def by_sharpness(members: np.ndarray, k: int):
        return split_by_value(sharp, members, k)

    records: list[dict[str, Any]] = []
    groups = [big]
    if method in ("auto", "bands"):
        groups, rec = recursive_groups(big, by_bands, max_phases, min_regions,
                                       "bands: mean band-triangle distance between the parts",
                                       {"statistic": BANDS_SPLIT, "ratio": BANDS_RATIO})
        records += rec
    if method in ("auto", "sharpness"):
        out = []
        for g in groups:
            sub, rec = recursive_groups(g, by_sharpness, max_phases - len(groups) + 1, min_regions,
                                        "sharpness: ratio of the parts' mean pattern sharpness",
                                        {"statistic": SHARPNESS_SPLIT})
            out += sub
            records += rec
        groups = out[:max_phases] if len(out) > max_phases else out
    labels = np.full(len(dist), -1)
    # phase 0 is the phase with the most regions, then by first region
    for k, g in enumerate(sorted(groups, key=lambda g: (-len(g), int(g.min())))):
        labels[g] = k
    return Grouping(labels, records)


def assign_small(grouping: Grouping, method: str, dist: np.ndarray, sharp: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """Every region without a phase joins the phase its features are nearest: the mean band-triangle distance to
    the phase's regions (bands, auto), the mean sharpness (sharpness), the mean feature vector (features)."""
    labels = grouping.labels.copy()
    have = labels >= 0
    k = grouping.n_phases
    if k == 0 or have.all():
        return labels
    rest = np.flatnonzero(~have)
    if method == "features" and z is not None:
        centres = np.stack([z[labels == p].mean(0) for p in range(k)])
        labels[rest] = np.argmin(((z[rest, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    elif method == "sharpness" or k == 1:
        centres = np.array([np.nanmean(sharp[labels == p]) for p in range(k)])
        labels[rest] = np.argmin(np.abs(np.nan_to_num(sharp[rest])[:, None] - centres[None]), axis=1)
    else:
        labels[rest] = np.argmin(np.stack([dist[np.ix_(rest, np.flatnonzero(labels == p))].mean(1)
                                           for p in range(k)], axis=1), axis=1)
    return labels


# --------------------------------------------------------------------------------------------
# the lattice method


@dataclass
class Indexed:
    """What the lattice method takes from the store's indexing: flat quaternions and phase ids (−1: none), the phase
    records, the energy per phase, the detector (None: the store's geometry), and the variables read."""

    quaternions: np.ndarray
    phase_id: np.ndarray
    records: list[dict[str, Any]]
    energies: list[float]
    sources: list[str]


@dataclass
class LatticeGrouping:
    """The lattice method's result: each region's phase, the splits, per phase its structure and fitted lattice."""

    labels: np.ndarray
    grouping: Grouping
    phase_info: list[dict[str, Any]]
    attrs: dict[str, Any]
    messages: list[str]


def _indexing(ds: xr.Dataset, name: str, valid: np.ndarray, store: Any) -> Indexed:
    """The orientations, phases and energy of ``vaearr index``'s variable ``name``, checked."""
    how = ("run 'vaearr index STORE --phase fcc --method hough' (the map's structure; no lattice needed) first, or "
           "give `var`")
    if name not in ds.data_vars or set(ds[name].dims) != {Y, X, QUATERNION}:
        have = [str(k) for k, v in ds.data_vars.items() if QUATERNION in v.dims]
        raise StoreError(store, no_variable(name, have, kind="orientation variable", listed="its orientations",
                                            made="'vaearr index STORE --phase fcc --method hough' (the map's structure; "
                                                 "no lattice needed)") + " (`method='lattice'` reads them), or give `var`")
    pid_name = phase_id_name(name)
    da = ds[name]
    records = da.attrs.get("phases") or (ds[pid_name].attrs.get("phases") if pid_name in ds.data_vars else None) or []
    if not records:
        raise StoreError(store, f"'{name}' keeps no phase list: {how}")
    for r in records:
        if not r.get("lattice") or not r.get("atoms"):
            raise StoreError(store, f"phase '{r.get('name')}' of '{name}' has no structure (lattice and atoms) to "
                                    "simulate: index with a built-in phase, a CIF file or NAME:SPACEGROUP:a:ATOMS")
    q = np.asarray(da.transpose(Y, X, QUATERNION).values, np.float64).reshape(-1, 4)
    pid = (np.asarray(ds[pid_name].values, np.int64).ravel() if pid_name in ds.data_vars
           else np.zeros(len(q), np.int64))
    ids = [int(r.get("id", i)) for i, r in enumerate(records)]
    pid = np.where(np.isin(pid, ids) & np.all(np.isfinite(q), axis=1) & valid.ravel(), pid, -1)
    pid = np.searchsorted(np.asarray(sorted(ids)), pid) * (pid >= 0) - (pid < 0)  # ids → positions in sorted order
    records = [r for _, r in sorted(zip(ids, records), key=lambda t: t[0])]
    energy = da.attrs.get("energy_kv", 20.0)
    energies = [float(e) for e in energy] if isinstance(energy, (list, tuple)) else [float(energy or 20.0)] * len(records)
    return Indexed(q, pid, records, energies, [name, *([pid_name] if pid_name in ds.data_vars else [])])


def curve_margin(curves: np.ndarray, log_scale: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """How decisively the regions' NCC curves take their side: the median over the regions of both parts of the NCC
    at their own part's centre (median fitted scale) less that at the other part's."""
    grid = np.log(SCALES)
    centre = [float(np.median(log_scale[g])) for g in (a, b)]
    own = [np.interp(centre[0], grid, curves[r]) - np.interp(centre[1], grid, curves[r]) for r in a]
    own += [np.interp(centre[1], grid, curves[r]) - np.interp(centre[0], grid, curves[r]) for r in b]
    return float(np.median(own))


def curve_assignment(groups: list[tuple[int, np.ndarray]], structure: np.ndarray, curves: np.ndarray,
                     log_scale: np.ndarray, big: np.ndarray, max_rounds: int = 10) -> list[tuple[int, np.ndarray]]:
    """Each region (small ones too) to the phase of its structure at whose lattice its NCC curve is highest, the
    lattices (each phase's median fitted scale over its large regions) taken again until no region moves.

    The split is by the curves' peaks; a region whose curve has two near-equal peaks (an orientation off by a
    degree moves the bands' widths a little and the fit can pick either) can peak between the lattices, and by its
    peak join the wrong side. Its curve at the two lattices tells them apart: on the tuning maps (lattice seeds 0–5)
    the phase ARI reaches what the segmentation allows on all six (seed 0: 0.78 → 1.00; BENCHMARKS "Phases from
    the data"). Groups that end empty are dropped; a structure with one phase is left as it is."""
    grid = np.log(SCALES)
    groups = [(p, np.asarray(g)) for p, g in groups]
    for _ in range(max_rounds):
        moved = False
        new: list[tuple[int, list[int]]] = [(p, []) for p, _ in groups]
        large = [np.intersect1d(g, big) for _, g in groups]
        centre = [float(np.median(log_scale[a if a.size else g])) for a, (_, g) in zip(large, groups)]
        for k, (p, g) in enumerate(groups):
            same = [j for j, (q, _) in enumerate(groups) if q == p]
            for r in g:
                j = k
                if len(same) > 1 and np.isfinite(curves[r]).all():
                    j = same[int(np.argmax([np.interp(centre[i], grid, curves[r]) for i in same]))]
                moved |= j != k
                new[j][1].append(int(r))
        groups = [(p, np.asarray(sorted(g), np.int64)) for p, g in new if g]
        if not moved:
            break
    return groups


def lattice_grouping(prepared: np.ndarray, regions: np.ndarray, indexed: Indexed, geometry: Geometry,
                     big: np.ndarray, o: PhasesOptions) -> LatticeGrouping:
    """Fit each region's lattice (:func:`~vaearr.maps.phases.lattice_fit.fit_scales`) and group the regions: by indexed
    structure (the phase most of its pixels index as), then by fitted lattice within each structure."""
    n = len(prepared)
    structure = np.full(n, -1, np.int64)
    flat = regions.ravel()
    for r in range(n):
        ids = indexed.phase_id[flat == r]
        ids = ids[ids >= 0]
        if ids.size:
            structure[r] = int(np.bincount(ids).argmax())
    detector = {"pc_bruker": list(geometry.pc), "sample_tilt": geometry.sample_tilt,
                "detector_tilt": geometry.detector_tilt}
    scale, ncc = np.full(n, np.nan), np.full(n, np.nan)
    curves = np.full((n, len(SCALES)), np.nan)
    for p, record in enumerate(indexed.records):
        sel = np.flatnonzero(structure == p)
        if sel.size == 0:
            continue
        usable = (indexed.phase_id == p).reshape(regions.shape)
        cands = candidate_pixels(np.where(np.isin(regions, sel), regions, -1), usable, n)
        fit = fit_scales(prepared[sel], indexed.quaternions, [cands[r] for r in sel], record, detector,
                         indexed.energies[p], progress=f"phases: lattice of {record['name']}" if o.progress else False)
        scale[sel], ncc[sel], curves[sel] = fit.scale, fit.ncc, fit.curves
    log_scale = np.log(scale)

    def by_lattice(members: np.ndarray, k: int):
        res = split_by_value(scale, members, k, LATTICE_SPLIT)
        if res is not None:
            res[2]["margin"] = round(curve_margin(curves, log_scale, res[0], res[1]), 4)
            res[2]["accepted"] = bool(res[2]["accepted"] and res[2]["margin"] >= LATTICE_MARGIN)
        return res

    groups: list[tuple[int, np.ndarray]] = []
    records: list[dict[str, Any]] = []
    for p in range(len(indexed.records)):
        members = np.intersect1d(big, np.flatnonzero((structure == p) & np.isfinite(scale)))
        if members.size == 0:
            continue
        sub, rec = recursive_groups(members, by_lattice, o.max_phases, o.min_regions,
                                    f"lattice ({indexed.records[p]['name']}): ratio of the parts' mean fitted lattice",
                                    {"statistic": LATTICE_SPLIT, "margin": LATTICE_MARGIN})
        groups += [(p, g) for g in sub]
        records += rec
    groups = sorted(groups, key=lambda t: (-len(t[1]), int(t[1].min())))[:max(o.max_phases, 1)]
    placed = np.concatenate([g for _, g in groups]) if groups else np.zeros(0, np.int64)
    for i in np.setdiff1d(np.flatnonzero((structure >= 0) & np.isfinite(curves).all(1)), placed):
        first = next((k for k, (p, _) in enumerate(groups) if p == structure[i]), None)  # small regions: placed next
        if first is not None:
            groups[first] = (groups[first][0], np.append(groups[first][1], i))
    groups = curve_assignment(groups, structure, curves, log_scale, big)
    labels = np.full(n, -1)
    for k, (_, g) in enumerate(groups):
        labels[g] = k
    centre = np.array([np.median(log_scale[g]) for _, g in groups])
    for i in np.flatnonzero((labels < 0) & (structure >= 0)):  # a fit that failed: the first phase of its structure
        same = [k for k, (p, _) in enumerate(groups) if p == structure[i]]
        if same:
            d = np.abs(centre[same] - log_scale[i]) if np.isfinite(log_scale[i]) else np.zeros(len(same))
            labels[i] = same[int(np.argmin(d))]
    info = []
    for p, g in groups:
        phase = indexed.records[p]
        a = float(phase["lattice"][0]) * (10.0 if str(phase.get("lattice_units", "")).startswith("nm") else 1.0)
        fitted_a = a * float(np.exp(np.median(log_scale[g])))
        info.append({"name": f"{phase['name']} a≈{fitted_a:.2f} Å", "structure": phase["name"],
                     "space_group": phase.get("space_group"),
                     "lattice_scale": round(float(np.exp(np.median(log_scale[g]))), 4), "lattice_a": round(fitted_a, 4)})
    fitted = ", ".join(f"{s:.3f}" for s in np.sort(scale[np.isfinite(scale)]))
    messages = [f"lattice of each region fitted at the orientations of '{o.input_var}' (structure "
                f"{', '.join(r['name'] for r in indexed.records)}): scales {fitted}"]
    attrs = {"orientation": o.input_var, "lattice_scales": [None if not np.isfinite(v) else round(float(v), 4)
                                                                for v in scale],
             "lattice_ncc": [None if not np.isfinite(v) else round(float(v), 4) for v in ncc],
             "lattice_note": "fitted lattice relative to the indexed structure's; an error of the projection centre's "
                             "distance scales every region's alike"}
    return LatticeGrouping(labels, Grouping(labels, records), info, attrs, messages)


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


def _feature_means(ds: xr.Dataset, name: str, regions: np.ndarray, n: int, store: Any) -> np.ndarray:
    if name not in ds.data_vars or not {Y, X} <= set(ds[name].dims) or ds[name].ndim > 3:
        raise StoreError(store, f"{no_variable(name, ds.data_vars, kind='feature map')} (`method='features'` reads a "
                                "(y, x[, dim]) map: give `var`)")
    v = ds[name]
    z = np.asarray(v.transpose(Y, X, *[d for d in v.dims if d not in (Y, X)]).values, np.float64)
    z = z.reshape(*regions.shape, -1)
    out = np.zeros((n, z.shape[-1]))
    for r in range(n):
        out[r] = np.nanmean(z[regions == r], axis=0)
    return np.nan_to_num(out)


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
    require_whole(ds, [PATTERNS, o.regions, auto_mask(ds.data_vars, o.mask),
                       *([o.input_var] if o.method == "features" else [])], store)
    valid, mask, mask_line = resolve_mask(ds, o.mask, store)
    regions, ids = _region_map(ds, o.regions, valid, store)
    n = len(ids)
    if n == 0:
        raise StoreError(store, f"'{o.regions}' has no region inside the mask")
    if o.method in ("features", "lattice") and o.input_var in ds.data_vars and {Y, X} <= set(ds[o.input_var].dims):
        # no phases from an all-NaN map (it was read as zeros: one phase)
        require_finite(ds, o.input_var, ds[o.input_var].transpose(Y, X, ...).values, regions >= 0, store,
                       f"of the {n} regions of '{o.regions}' inside the mask")
    z = _feature_means(ds, o.input_var, regions, n, store) if o.method == "features" else None
    indexed = _indexing(ds, o.input_var, valid, store) if o.method == "lattice" else None
    geometry, geo_line = store_geometry(ds, pc, o.sample_tilt, prefer=o.input_var if indexed else None)
    if geometry is None and o.method != "features":
        raise InputError(None, "the store keeps no projection centre: give `pc='X,Y,Z'` (Bruker) for the bands' plane "
                               "normals")
    patterns = ds[PATTERNS].transpose(Y, X, PY, PX).data
    if o.method in ("auto", "bands", "sharpness"):  # the halves give the noise left in each mean (spectral_sharpness)
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
                + (f"; {geo_line}" if geo_line and o.method != "features" else "")]
    if o.method == "lattice":
        bg = static_background(store, PATTERNS, (Y, X), mask, feature_dims=(PY, PX))
        lattice = lattice_grouping(divided_means(means, bg), regions, indexed, geometry, big, o)  # type: ignore[arg-type]
        messages += lattice.messages
        return _write(store, ds, o, regions, lattice.labels, counts, lattice.grouping, mask, messages,
                      phase_info=lattice.phase_info, extra_attrs=lattice.attrs, extra_sources=indexed.sources)  # type: ignore[union-attr]
    if o.method == "features":
        grouping = features_grouping(z, big, o.max_phases, o.seed)  # type: ignore[arg-type]
        dist = sharp = np.zeros(0)
    else:
        bg = static_background(store, PATTERNS, (Y, X), mask, feature_dims=(PY, PX))
        prepared = prepare(means, bg)
        bands, normals = detect_bands(prepared, geometry)  # type: ignore[arg-type]
        sharp = spectral_sharpness(prepared, prepare(halves, bg), half_counts)
        dist = triplet_distance(band_sets(bands, normals)) if o.method != "sharpness" else np.zeros((n, n))
        grouping = pattern_grouping(o.method, dist, sharp, big, o.max_phases, o.min_regions)
    rule_used = o.method
    if o.method == "auto":
        took = {s["rule"].split(":")[0] for s in grouping.splits if s["accepted"]}
        rule_used = "sharpness" if took == {"sharpness"} else "bands"
    labels = assign_small(grouping, rule_used, dist, sharp, z)
    return _write(store, ds, o, regions, labels, counts, grouping, mask, messages)


RULES = MappingProxyType({
    "bands": "regions grouped by the angles between the bands of their mean patterns (band triangles shared; "
                              "PyEBSDIndex band detection)",
    "sharpness": "regions grouped by the sharpness of their mean patterns (share of the power at fine detail, "
                                  "noise taken off)",
    "auto": "regions grouped by the angles between their bands, then by sharpness (power at fine detail) within each "
                             "group",
    "features": "regions grouped by a Gaussian mixture of their mean features (lowest BIC)",
    "lattice": "regions of each indexed structure grouped by the lattice parameter fitted to their mean patterns at "
                                "the indexed orientation (kinematical patterns, best NCC)",
})


def _write(store: Any, ds: xr.Dataset, o: PhasesOptions, regions: np.ndarray, labels: np.ndarray, counts: np.ndarray,
           grouping: Grouping, mask: str | None, messages: list[str], *, phase_info: list[dict] | None = None,
           extra_attrs: dict[str, Any] | None = None, extra_sources: list[str] | None = None) -> PhasesResult:
    phase_map = np.where(regions >= 0, labels[np.maximum(regions, 0)], -1).astype(np.int16)
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    total = max(int((phase_map >= 0).sum()), 1)
    phase_list = [{"id": p, "name": f"phase {p}", "regions": int((labels == p).sum()),
                   "pixels": int((phase_map == p).sum()), "fraction": round(float((phase_map == p).sum()) / total, 4),
                   **(phase_info[p] if phase_info else {})}
                  for p in range(k)]
    attrs = {"nodata": -1, "method": o.method, "rule": RULES[o.method], "n_phases": k, "phase_list": phase_list,
             "regions": o.regions, "splits": grouping.splits, "min_regions": o.min_regions, "min_pixels": o.min_pixels,
             "thresholds": {"bands": BANDS_SPLIT, "bands_ratio": BANDS_RATIO, "sharpness": SHARPNESS_SPLIT,
                            "lattice": LATTICE_SPLIT, "lattice_margin": LATTICE_MARGIN},
             **({"features": o.input_var} if o.method == "features" else {}), **(extra_attrs or {}),
             "note": "phases found in the data, no crystallography given: ids are arbitrary (0 the phase of most regions)"}
    da = xr.DataArray(phase_map, dims=(Y, X), coords={Y: ds[Y].values, X: ds[X].values}, name=o.name, attrs=attrs)
    sources = [PATTERNS, o.regions, *([o.input_var] if o.method == "features" else []), *(extra_sources or []),
               *([mask] if mask else [])]
    config = {k_: v for k_, v in vars(o).items() if k_ not in ("store", "progress")}
    config["pc"] = None if o.pc is None else str(o.pc)
    write_variables(store, {o.name: da}, source=sources, config={**config, "mask": mask},
                    attrs={"in_mask": mask or "none"}, overwrite=o.overwrite)
    return PhasesResult(da, grouping, messages)
