"""The detector geometry a store keeps: the projection centre (PC), the tilts and the pattern shape, and where they came
from — read in one place by every command that needs them (misorientations in degrees, ``phases``, ``index``).

Where a store says it (first found wins):

1. the patterns' own attrs, ``pc`` (Bruker convention), ``sample_tilt``, ``detector_tilt``, ``pc_source`` — what an
   ingest with ``pc=`` (or a vendor file, or a simulation) and ``vaearr index`` write there;
2. an indexed orientation map's ``detector`` attr (``vaearr index --pc`` before the PC was kept on the patterns);
3. the patterns' ``detector_pc`` attr (the mean of a vendor file's per-pattern PCs, kikuchipy's reader);
4. a simulated map's root attrs (the benchmarks' ``science_map``, ``phase_map``);
5. none: the stated :data:`DEFAULT_PC`, and the error it brings (a misorientation's scale goes with ``z*``;
   ``BENCHMARKS.md`` "Misorientation from the patterns" measures it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vaearr.errors import StoreError
from vaearr.options import STORE_PC, check_pc, given_pc, parse_pc
from vaearr.store.schema import PATTERNS, PX, PY

#: The PC (Bruker) assumed where a store keeps none: the middle of the range of common detectors (x* about the
#: middle, the pattern centre in the upper third, a screen about 0.6 of its height away). An angle read with it is off
#: by about the relative error of z* for rotations out of the screen's plane.
DEFAULT_PC = (0.5, 0.3, 0.6)
#: The sample tilt (degrees) assumed where a store keeps none (EBSD's usual 70°).
DEFAULT_SAMPLE_TILT = 70.0
#: What a PC's source reads as when it is the default.
DEFAULT_SOURCE = "no PC in the store: the default"


@dataclass(frozen=True)
class Detector:
    """A store's detector: PC (Bruker), sample and detector tilt (degrees), pattern shape (rows, cols), where the PC
    came from."""

    pc: tuple[float, float, float]
    shape: tuple[int, int]
    sample_tilt: float = DEFAULT_SAMPLE_TILT
    detector_tilt: float = 0.0
    source: str = ""

    @property
    def is_default(self) -> bool:
        return self.source == DEFAULT_SOURCE

    def attrs(self) -> dict[str, Any]:
        """As the patterns' attrs keep it."""
        return {"pc": [float(v) for v in self.pc], "pc_convention": "bruker", "sample_tilt": float(self.sample_tilt),
                "detector_tilt": float(self.detector_tilt), "detector_shape": [int(v) for v in self.shape],
                "pc_source": self.source}

    def said(self) -> str:
        """One line: the PC and where it came from."""
        pc = "/".join(f"{v:.4g}" for v in self.pc)
        return f"projection centre {pc} (Bruker) from {self.source}"


def _pc(value: Any) -> tuple[float, float, float] | None:
    try:
        pc = tuple(float(v) for v in list(value)[:3])
    except (TypeError, ValueError):
        return None
    return (pc[0], pc[1], pc[2]) if len(pc) == 3 and all(math.isfinite(v) for v in pc) else None


def store_detector(ds: Any, pc: tuple[float, float, float] | None = None, *, sample_tilt: float | None = None,
                   prefer: str | None = None, default: bool = True) -> Detector | None:
    """The detector of the store ``ds`` (an ``xarray.Dataset`` with ``patterns``): ``pc`` as given, else the one the
    store keeps (module docstring; the orientation variable ``prefer`` is read before the others), else
    :data:`DEFAULT_PC` when ``default`` (None when not)."""
    shape = (int(ds.sizes[PY]), int(ds.sizes[PX])) if PY in ds.sizes and PX in ds.sizes else (0, 0)
    found = _kept(ds, prefer)
    if pc is not None:
        tilt = sample_tilt if sample_tilt is not None else (found[1] if found else DEFAULT_SAMPLE_TILT)
        return Detector(tuple(float(v) for v in pc), shape, float(tilt), 0.0, "given")  # type: ignore[arg-type]
    if found is None:
        if not default:
            return None
        return Detector(DEFAULT_PC, shape, float(sample_tilt or DEFAULT_SAMPLE_TILT), 0.0, DEFAULT_SOURCE)
    kept, tilt, det_tilt, source = found
    return Detector(kept, shape, float(sample_tilt if sample_tilt is not None else tilt), det_tilt, source)


def _kept(ds: Any, prefer: str | None) -> tuple[tuple[float, float, float], float, float, str] | None:
    pat: Mapping[str, Any] = ds[PATTERNS].attrs if PATTERNS in ds.data_vars else {}

    def tilt(attrs: Mapping[str, Any], key: str = "sample_tilt") -> float:
        value = attrs.get(key)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else DEFAULT_SAMPLE_TILT

    if (pc := _pc(pat.get("pc"))) is not None and pat.get("pc_convention", "bruker") == "bruker":
        return pc, tilt(pat), float(pat.get("detector_tilt", 0.0) or 0.0), str(pat.get("pc_source") or "the store")
    first = [ds[prefer]] if prefer in ds.data_vars else []
    for v in [*first, *ds.data_vars.values()]:
        det = v.attrs.get("detector")
        if isinstance(det, Mapping) and (pc := _pc(det.get("pc_bruker"))) is not None:
            return pc, tilt(det), float(det.get("detector_tilt", 0.0) or 0.0), f"'{v.name}' (vaearr index)"
    if (pc := _pc(pat.get("detector_pc"))) is not None:
        return pc, tilt(pat, "detector_sample_tilt"), 0.0, "the patterns' vendor file"
    for key in ("phase_map", "science_map"):
        sim = ds.attrs.get(key)
        if isinstance(sim, Mapping) and (pc := _pc(sim.get("pc"))) is not None:
            return pc, tilt(sim), 0.0, "the simulation"
    return None


def detector_attrs(attrs: Mapping[str, Any], pc: Any, sample_tilt: float | None, src: Any) -> dict[str, Any]:
    """What an ingest keeps in the patterns' attrs about the detector: ``pc`` given (checked), else the file's (a
    vendor file's ``detector_pc``, a plain HDF5's ``pc`` attribute), with where it came from; nothing when neither."""
    parsed: tuple[float, float, float] | None
    if pc is not None:
        parsed = parse_pc(pc)
        check_pc(parsed, "bruker", None)
        source = f"given at ingest of {src}"
    else:
        parsed = _pc(attrs.get("pc")) if attrs.get("pc_convention", "bruker") == "bruker" else None
        source = str(attrs.get("pc_source") or f"the file {src}")
        if parsed is None and (parsed := _pc(attrs.get("detector_pc"))) is not None:
            source = f"the vendor file {src}"
            sample_tilt = sample_tilt if sample_tilt is not None else attrs.get("detector_sample_tilt")
        if parsed is None:
            return {}
    tilt = sample_tilt if sample_tilt is not None else attrs.get("sample_tilt", DEFAULT_SAMPLE_TILT)
    return {"pc": list(parsed), "pc_convention": "bruker", "sample_tilt": float(tilt), "pc_source": source}


def command_detector(ds: Any, pc: Any, owner: type, store: Any) -> Detector:
    """The detector a command's ``pc`` option asks for on the store ``ds``: given, the store's, or the default; with
    ``pc='store'`` the store's or one line saying it keeps none."""
    given = given_pc(pc, owner)
    wants_store = isinstance(pc, str) and pc.strip().lower() == STORE_PC
    detector = store_detector(ds, given, default=not wants_store)
    if detector is None:
        raise StoreError(store, "the store keeps no projection centre (`pc='store'` refuses the default): give "
                                "`pc='X,Y,Z'` (Bruker), or ingest the patterns with it")
    return detector
