"""The ``lattice`` phase method: each region's lattice fitted at its indexed orientation, the regions of each indexed
structure split by fitted lattice, each region then placed at the lattice its NCC curve prefers.

The structure, detector and energy are those of ``vaearr index``'s variable (:func:`read_indexing`); the fit is
:mod:`vaearr.maps.phases.lattice_fit`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from vaearr.errors import StoreError
from vaearr.maps.options import PhasesOptions
from vaearr.maps.phases.grouping import Grouping, recursive_groups, split_by_value
from vaearr.maps.phases.lattice_fit import SCALES, candidate_pixels, fit_scales
from vaearr.maps.phases.phase_features import Geometry
from vaearr.store.schema import QUATERNION, X, Y, no_variable, phase_id_name

#: A lattice split passes when the larger part's mean fitted lattice is at least this many times the other's ...
#: (chosen on the tuning maps drawn off the fit's model, bands down to 0.5 Å: two lattices 13 % apart split at
#: 1.135–1.166, one-phase kinematical maps at most 1.065 and the science maps' dynamical Ni 1.066–1.093)
LATTICE_SPLIT = 1.11
#: ... and the regions' NCC curves are, in the median, this much higher at their own part's lattice than at the other's
#: (the same maps: two lattices 0.016–0.026, one phase at most 0.0071).
LATTICE_MARGIN = 0.011


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


def read_indexing(ds: xr.Dataset, name: str, valid: np.ndarray, store: Any) -> Indexed:
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
