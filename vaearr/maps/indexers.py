"""Indexing methods by name (:data:`INDEXERS`): Hough (PyEBSDIndex) and dictionary indexing (kikuchipy), and the runner around them.

A method is an :class:`IndexMethod` subclass registered with ``@INDEXERS.register("name")``:
:meth:`~IndexMethod.build` makes what it needs once per map (the Hough indexer, the
dictionary), :meth:`~IndexMethod.index` indexes one block of background-corrected patterns.
:class:`Indexer` removes the backgrounds, calls the method and refines the solutions (any
method), so ``vaearr index --method NAME`` and :func:`vaearr.maps.indexing.index_store` take a
new method from here without another change.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vaearr.errors import InputError, require
from vaearr.registry import Registry

#: PyEBSDIndex settings (kikuchipy's Hough-indexing tutorial) and the FCC reflectors it uses.
HOUGH_OPTIONS = {"nBands": 10, "tSigma": 2.0, "rSigma": 2.0}
FCC_REFLECTORS = [[1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1]]
FCC_SPACE_GROUPS = (225, 226, 227, 228)
#: A dictionary up to this many bytes is simulated once into memory; a larger one stays lazy
#: (kikuchipy simulates it piece by piece while matching, once per block).
DICTIONARY_MEMORY = 2 * 1024**3


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence kikuchipy's and PyEBSDIndex's prints, bars and warnings (vaearr shows its own bar)."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


@dataclass
class Setup:
    """What every method is built from: the detector, the phase and its master pattern."""

    detector: Any
    phase: Any
    mp: Any
    energy: float
    resolution: float
    dictionary_memory: int = DICTIONARY_MEMORY


class IndexMethod:
    """An indexing method (subclass it and register the subclass)."""

    #: Quality maps besides ``{name}_score``: suffix → what the map holds.
    extra_maps: ClassVar[dict[str, str]] = {}
    #: What ``{name}_score`` is, without refinement.
    score_kind: ClassVar[str] = ""
    #: The method samples orientations at ``resolution`` degrees.
    uses_resolution: ClassVar[bool] = False
    #: Refinement's trust region (degrees) for this method's solutions.
    trust_region: float = 1.0

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
    except Exception:
        return False


@INDEXERS.register("hough")
class HoughIndexing(IndexMethod):
    """PyEBSDIndex's Hough/triplet-voting indexer, built by kikuchipy's ``EBSDDetector.get_indexer`` (FCC, BCC)."""

    extra_maps = {"bands": "bands matched (PyEBSDIndex nmatch)"}
    score_kind = "PyEBSDIndex pattern fit: mean angular deviation of the bands, degrees (lower is better)"

    def build(self, setup: Setup) -> dict[str, Any]:
        require("pyebsdindex", "ebsd")
        from orix.crystal_map import PhaseList

        phase = setup.phase
        # kikuchipy's Hough tutorial settings for small (60 × 60) Ni patterns: FCC reflectors
        # {111} {200} {220} {311}, 10 bands, Hough-space smoothing σ 2 (PyEBSDIndex's defaults otherwise)
        fcc = phase.space_group is not None and phase.space_group.number in FCC_SPACE_GROUPS
        reflectors = [FCC_REFLECTORS] if fcc else None
        try:
            with quiet():
                self.hough = setup.detector.get_indexer(PhaseList(phase), reflectors, **HOUGH_OPTIONS)
        except Exception as exc:  # PyEBSDIndex knows FCC and BCC lattices only
            raise InputError(None, f"PyEBSDIndex cannot Hough-index phase '{phase.name}' "
                                   f"({phase.space_group}): {exc}; use --method dictionary") from None
        self.trust_region = 2.0
        return {"hough": {"implementation": "pyebsdindex.ebsd_index.EBSDIndexer (via kikuchipy "
                                            "EBSDDetector.get_indexer)",
                          "backend": "OpenCL" if has_opencl() else "CPU (numba)", **HOUGH_OPTIONS,
                          "reflectors": FCC_REFLECTORS if fcc else "PyEBSDIndex default"}}

    def index(self, s: Any, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        data, _, _, _ = self.hough.index_pats(s.data, verbose=0)
        best = data[-1]
        pid = best["phase"].astype(np.int16)
        q = np.asarray(best["quat"], np.float64)
        q[pid < 0] = (1, 0, 0, 0)
        return q, pid, {"score": best["fit"].astype(np.float32), "bands": best["nmatch"].astype(np.float32)}


@INDEXERS.register("dictionary")
class DictionaryIndexing(IndexMethod):
    """kikuchipy's dictionary indexing: patterns simulated for orix's sample of the fundamental zone, matched by NCC."""

    score_kind = "NCC with the best dictionary pattern"
    uses_resolution = True

    def check(self, resolution: float) -> None:
        if not (0.5 <= float(resolution) <= 10):
            raise InputError(None, f"--resolution must be 0.5–10 degrees, got {resolution:g}")

    def build(self, setup: Setup) -> dict[str, Any]:
        from orix.sampling import get_sample_fundamental

        rot = get_sample_fundamental(resolution=setup.resolution, point_group=setup.phase.point_group)
        nbytes = rot.size * int(np.prod(setup.detector.shape)) * 4
        in_memory = nbytes <= setup.dictionary_memory
        with quiet():
            self.dictionary = setup.mp.get_patterns(rotations=rot, detector=setup.detector, energy=setup.energy,
                                                    compute=in_memory, show_progressbar=False)
        self.trust_region = max(1.0, float(setup.resolution))
        return {"dictionary": {"resolution_deg": setup.resolution, "size": int(rot.size),
                               "sampling": "orix.sampling.get_sample_fundamental (cubochoric)",
                               "in_memory": bool(in_memory), "metric": "ncc"}}

    def index(self, s: Any, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        xmap = s.dictionary_indexing(self.dictionary, metric="ncc", keep_n=1)
        q = np.asarray(xmap.rotations.data, np.float64).reshape(n, 4)
        return q, np.zeros(n, np.int16), {"score": np.asarray(xmap.prop["scores"], np.float32).reshape(n)}

    def messages(self, info: dict[str, Any]) -> list[str]:
        d = info["dictionary"]
        return [f"dictionary: {d['size']} orientations at {d['resolution_deg']:g}°"
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
            self.info["refinement"] = {"implementation": "kikuchipy EBSD.refine_orientation",
                                       "method": "minimize (Nelder-Mead)", "trust_region_deg": [t] * 3,
                                       "metric": "ncc"}

    def run(self, patterns: np.ndarray) -> dict[str, np.ndarray]:
        """Index (n, py, px) patterns: quaternions (n, 4), phase ids, score and the method's quality maps."""
        kp = require("kikuchipy", "ebsd")
        with quiet():
            s = kp.signals.EBSD(patterns)
            s.remove_static_background(operation="subtract", static_bg=self.static_bg, show_progressbar=False)
            s.remove_dynamic_background(operation="subtract", show_progressbar=False)
            n = patterns.shape[0]
            q, pid, out = self.method.index(s, n)
            if self.refine:
                q, out["score"] = self.refined(s, q, n)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        q[pid < 0] = np.nan
        out["score"] = np.where(pid < 0, np.nan, out["score"])
        out["quaternion"] = q.astype(np.float32)
        out["phase_id"] = pid
        return out

    def refined(self, s: Any, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The solutions refined against the master pattern, and their NCC."""
        from orix.crystal_map import CrystalMap, PhaseList
        from orix.quaternion import Rotation

        # a one-solution-per-pattern map (kikuchipy's refinement takes no (n, 1) rotations)
        xmap = CrystalMap(rotations=Rotation(q), phase_id=np.zeros(n, int), phase_list=PhaseList(self.setup.phase))
        t = self.method.trust_region
        ref = s.refine_orientation(xmap, detector=self.setup.detector, master_pattern=self.setup.mp,
                                   energy=self.setup.energy, trust_region=[t, t, t])
        return (np.asarray(ref.rotations.data, np.float64).reshape(n, 4),
                np.asarray(ref.prop["scores"], np.float32).reshape(n))
