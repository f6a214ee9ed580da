"""Indexing methods by name (:data:`INDEXERS`): Hough (PyEBSDIndex) and dictionary indexing (kikuchipy) of one or more phases, and the runner around them.

A method is an :class:`IndexMethod` subclass registered with ``@INDEXERS.register("name")``:
:meth:`~IndexMethod.build` makes what it needs once per map (the Hough indexer, the
dictionary), :meth:`~IndexMethod.index` indexes one block of background-corrected patterns.
:class:`Indexer` removes the backgrounds, calls the method and refines the solutions (any
method, each phase with its own master pattern), so ``vaearr index --method NAME`` and
:func:`vaearr.maps.indexing.indexing.index_store` take a new method from here without another change.
Phase ids are positions in the setup's phase list (0, 1, …); −1 is not indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from types import MappingProxyType

import numpy as np

from vaearr.crystals import PhaseSource, band_families
from vaearr.crystals.master_patterns import quiet
from vaearr.errors import InputError, require
from vaearr.registry import Registry
from vaearr.numba_cache import guard_gufunc_cache

#: PyEBSDIndex settings (kikuchipy's Hough-indexing tutorial: 10 bands, Hough-space smoothing σ 2).
HOUGH_OPTIONS = MappingProxyType({"nBands": 10, "tSigma": 2.0, "rSigma": 2.0})
#: A dictionary up to this many bytes is simulated once into memory; a larger one stays lazy
#: (kikuchipy simulates it piece by piece while matching, once per block).
DICTIONARY_MEMORY = 2 * 1024**3


@dataclass
class Setup:
    """What every method is built from: the detector and the phases, with their master patterns where needed.

    ``masters[i]`` and ``energies[i]`` (kV) belong to ``sources[i]``; ``masters`` is None when no
    master pattern is needed (Hough without refinement).
    """

    detector: Any
    sources: list[PhaseSource]
    masters: list[Any] | None
    energies: list[float]
    resolution: float
    dictionary_memory: int = DICTIONARY_MEMORY

    @property
    def phases(self) -> list[Any]:
        """The orix phases, in phase-id order."""
        return [src.phase for src in self.sources]


class IndexMethod:
    """An indexing method (subclass it and register the subclass)."""

    #: Quality maps besides ``{name}_score``: suffix → what the map holds.
    extra_maps: ClassVar[dict[str, str]] = {}
    #: What ``{name}_score`` is, without refinement.
    score_kind: ClassVar[str] = ""
    #: The orix property ``{name}_score`` becomes in a crystal map (orix's ``.ang`` writer: ``scores`` → the CI
    #: column, ``fit`` → the fit column), without refinement.
    score_property: ClassVar[str] = "scores"
    #: The method samples orientations at ``resolution`` degrees.
    uses_resolution: ClassVar[bool] = False
    #: Refinement's trust region (degrees) for this method's solutions.
    trust_region: float = 1.0
    #: The method simulates patterns from the master patterns (Hough needs only the structures).
    needs_master_pattern: ClassVar[bool] = False

    def check(self, resolution: float) -> None:
        """One :class:`InputError` for a setting out of range, before any work."""

    def build(self, setup: Setup) -> dict[str, Any]:
        """Make what the method needs once per map; returns the attrs describing it."""
        raise NotImplementedError

    def index(self, s: Any, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Index the ``n`` patterns of the kikuchipy signal ``s``: quaternions ``(n, 4)``, phase ids
        ``(n,)`` (−1 not indexed) and the quality maps (``score`` and :attr:`extra_maps`)."""
        raise NotImplementedError

    def messages(self, info: dict[str, Any]) -> list[str]:
        """Lines the command prints about what was built."""
        return []


#: Indexing methods by name.
INDEXERS: Registry[type[IndexMethod]] = Registry("indexing method")


def has_opencl() -> bool:
    """Whether PyEBSDIndex's OpenCL (GPU) path can run here."""
    try:
        import pyopencl as cl  # noqa: F401  (PyEBSDIndex's optional GPU path)

        return bool(cl.get_platforms())
    except Exception:  # noqa: BLE001 - no usable OpenCL: pyopencl raises its own types (or any of its driver's)
        return False


@INDEXERS.register("hough")
class HoughIndexing(IndexMethod):
    """PyEBSDIndex's Hough/triplet-voting indexer of every phase at once, built by kikuchipy's ``EBSDDetector.get_indexer``."""

    extra_maps = {"bands": "bands matched (PyEBSDIndex nmatch)",
                  "ci": "PyEBSDIndex confidence metric (cm): the share of the votes the solution won, 0–1 (what "
                        "PyEBSDIndex's own .ang writer writes as the CI)"}
    score_kind = "PyEBSDIndex pattern fit: mean angular deviation of the bands, degrees (lower is better)"
    score_property = "fit"

    def build(self, setup: Setup) -> dict[str, Any]:
        guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
        require("pyebsdindex", "ebsd")
        cm = require("orix.crystal_map", "ebsd")

        # one PyEBSDIndex phase list: each pattern's bands are voted against every phase, the best fit wins;
        # each phase's reflectors are its widest band families (FCC {111} {200} {220} {311}, BCC {110} {200}
        # {211} {310}, HCP's eight: PyEBSDIndex's own defaults come out of the rule)
        reflectors = [band_families(p) for p in setup.phases]
        try:
            with quiet():
                self.hough = setup.detector.get_indexer(cm.PhaseList(setup.phases), reflectors, **HOUGH_OPTIONS)
        except Exception as exc:  # noqa: BLE001 - PyEBSDIndex refuses lattices it cannot build a triplet library for
            names = ", ".join(f"'{p.name}' ({p.space_group})" for p in setup.phases)
            raise InputError(None, f"PyEBSDIndex cannot Hough-index phase(s) {names}: {exc}; "
                                   "use `method='dictionary'`") from None
        self.trust_region = 2.0
        return {"hough": {"implementation": "pyebsdindex.ebsd_index.EBSDIndexer (via kikuchipy "
                                            "EBSDDetector.get_indexer), one phase list",
                          "backend": "OpenCL" if has_opencl() else "CPU (numba)", **HOUGH_OPTIONS,
                          "reflectors": {p.name: r for p, r in zip(setup.phases, reflectors)}}}

    def index(self, s: Any, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        data, _, _, _ = self.hough.index_pats(s.data, verbose=0)
        best = data[-1]
        pid = best["phase"].astype(np.int16)
        q = np.asarray(best["quat"], np.float64)
        q[pid < 0] = (1, 0, 0, 0)
        ci = np.where(pid < 0, np.nan, best["cm"]).astype(np.float32)
        return q, pid, {"score": best["fit"].astype(np.float32), "bands": best["nmatch"].astype(np.float32), "ci": ci}


@INDEXERS.register("dictionary")
class DictionaryIndexing(IndexMethod):
    """kikuchipy's dictionary indexing of every phase (orix's sample of each fundamental zone, NCC), merged by best score."""

    score_kind = "NCC with the best dictionary pattern (of any phase)"
    uses_resolution = True
    needs_master_pattern = True

    def check(self, resolution: float) -> None:
        if not (0.5 <= float(resolution) <= 10):
            raise InputError(None, f"`resolution` must be 0.5–10 degrees, got {resolution:g}")

    def build(self, setup: Setup) -> dict[str, Any]:
        guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
        from orix.sampling import get_sample_fundamental

        assert setup.masters is not None
        self.names = [p.name for p in setup.phases]
        rots = [get_sample_fundamental(resolution=setup.resolution, point_group=p.point_group) for p in setup.phases]
        nbytes = sum(r.size for r in rots) * int(np.prod(setup.detector.shape)) * 4
        in_memory = nbytes <= setup.dictionary_memory
        self.dictionaries = []
        with quiet():
            for rot, mp, energy in zip(rots, setup.masters, setup.energies):
                self.dictionaries.append(mp.get_patterns(rotations=rot, detector=setup.detector, energy=energy,
                                                         compute=in_memory, show_progressbar=False))
        self.trust_region = max(1.0, float(setup.resolution))
        return {"dictionary": {"resolution_deg": setup.resolution, "size": int(sum(r.size for r in rots)),
                               "sizes": {n: int(r.size) for n, r in zip(self.names, rots)},
                               "sampling": "orix.sampling.get_sample_fundamental (cubochoric), per phase",
                               "merge": "kikuchipy.indexing.merge_crystal_maps (best NCC per pattern)",
                               "in_memory": bool(in_memory), "metric": "ncc"}}

    def index(self, s: Any, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
        kp = require("kikuchipy", "ebsd")
        cm = require("orix.crystal_map", "ebsd")
        maps = []
        for d in self.dictionaries:
            xmap = s.dictionary_indexing(d, metric="ncc", keep_n=1)
            # one rotation and score per point: merge_crystal_maps takes a single best, not an (n, 1) column
            maps.append(cm.CrystalMap(rotations=xmap.rotations[:, 0] if xmap.rotations.ndim > 1 else xmap.rotations,
                                      phase_id=np.zeros(n, int), phase_list=xmap.phases,
                                      prop={"scores": np.asarray(xmap.prop["scores"]).reshape(n, -1)[:, 0]}))
        xmap = maps[0] if len(maps) == 1 else kp.indexing.merge_crystal_maps(maps)
        scores = xmap.prop["scores" if len(maps) == 1 else "merged_scores"]
        pid = np.zeros(n, np.int16)
        if len(maps) > 1:  # the merged map's own phase ids → the setup's, by name
            ids = {name: i for i, name in enumerate(self.names)}
            lookup = {int(j): ids[p.name] for j, p in xmap.phases if int(j) >= 0}
            pid = np.array([lookup[int(j)] for j in np.asarray(xmap.phase_id).ravel()], np.int16)
        q = np.asarray(xmap.rotations.data, np.float64).reshape(n, -1, 4)[:, 0]
        return q, pid, {"score": np.asarray(scores, np.float32).reshape(n, -1)[:, 0]}

    def messages(self, info: dict[str, Any]) -> list[str]:
        d = info["dictionary"]
        per = ", ".join(f"{k} {v}" for k, v in d["sizes"].items()) if len(d["sizes"]) > 1 else ""
        return [f"dictionary: {d['size']} orientations at {d['resolution_deg']:g}°" + (f" ({per})" if per else "")
                + ("" if d["in_memory"] else " (too big for memory: simulated while matching)")]


class Indexer:
    """A method built for one map, with the backgrounds it removes first and the refinement after.

    Parameters
    ----------
    method
        A name in :data:`INDEXERS`.
    refine
        Refine every solution with the master pattern (kikuchipy's ``EBSD.refine_orientation``).
    setup
        Detector, phase, master pattern, energy, resolution.
    static_bg
        The static background pattern (the mean over the mask, in the patterns' dtype).
    """

    def __init__(self, method: str, refine: bool, setup: Setup, static_bg: np.ndarray):
        self.method = INDEXERS[method]()
        self.refine, self.setup, self.static_bg = refine, setup, static_bg
        self.info = self.method.build(setup)
        if refine:
            t = self.method.trust_region
            self.info["refinement"] = {"implementation": "kikuchipy EBSD.refine_orientation, each phase's "
                                                         "patterns against its own master pattern",
                                       "method": "minimize (Nelder-Mead)", "trust_region_deg": [t] * 3,
                                       "metric": "ncc"}

    def run(self, patterns: np.ndarray) -> dict[str, np.ndarray]:
        """Index (n, py, px) patterns: quaternions (n, 4), phase ids, score and the method's quality maps."""
        guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
        kp = require("kikuchipy", "ebsd")
        with quiet():
            s = kp.signals.EBSD(patterns)
            s.remove_static_background(operation="subtract", static_bg=self.static_bg, show_progressbar=False)
            s.remove_dynamic_background(operation="subtract", show_progressbar=False)
            n = patterns.shape[0]
            q, pid, out = self.method.index(s, n)
            if self.refine:
                q, out["score"] = self.refined(s, q, pid)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        q[pid < 0] = np.nan
        out["score"] = np.where(pid < 0, np.nan, out["score"])
        out["quaternion"] = q.astype(np.float32)
        out["phase_id"] = pid
        return out

    def refined(self, s: Any, q: np.ndarray, pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The solutions refined, each phase's patterns against its own master pattern, and their NCC
        (NaN where not indexed)."""
        guard_gufunc_cache()  # before a package whose numba gufuncs are cached on disk
        kp = require("kikuchipy", "ebsd")
        from orix.crystal_map import CrystalMap, PhaseList
        from orix.quaternion import Rotation

        q, score = q.copy(), np.full(len(q), np.nan, np.float32)
        t = self.method.trust_region
        assert self.setup.masters is not None
        for i, (phase, mp, energy) in enumerate(zip(self.setup.phases, self.setup.masters, self.setup.energies)):
            sel = np.flatnonzero(pid == i)
            if sel.size == 0:
                continue
            sub = kp.signals.EBSD(np.asarray(s.data)[sel])
            # a one-solution-per-pattern map (kikuchipy's refinement takes no (n, 1) rotations)
            xmap = CrystalMap(rotations=Rotation(q[sel]), phase_id=np.zeros(sel.size, int), phase_list=PhaseList(phase))
            ref = sub.refine_orientation(xmap, detector=self.setup.detector, master_pattern=mp, energy=energy,
                                         trust_region=[t, t, t])
            q[sel] = np.asarray(ref.rotations.data, np.float64).reshape(sel.size, 4)
            score[sel] = np.asarray(ref.prop["scores"], np.float32).reshape(sel.size)
        return q, score
