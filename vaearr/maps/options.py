"""The options of the map commands, declared once (:mod:`vaearr.options`): the CLI and the flows derive theirs from these.

Only light modules are imported here (no scikit-learn, kikuchipy or torch), so the ``vaearr``
command builds its parameters in a moment; each dataclass's ``check()`` says in one line which
option is out of range, before any work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from vaearr.errors import OptionError
from vaearr.maps.index_methods import DICTIONARY_MEMORY, INDEXERS
from vaearr.options import (  # noqa: F401 - the PC's parsers, where maps' options read them
    PC_CONVENTIONS,
    SEED_MAX,
    STORE_PC,
    check_declared,
    check_pc,
    given_pc,
    opt,
    parse_k_range,
    parse_none,
    parse_pc,
)
from vaearr.store.names import check_field_name
from vaearr.store.schema import ORIENTATION
# moved to vaearr.maps.region_options; importable from here too
from vaearr.maps.region_options import (  # noqa: F401
    MAX_FIT, KEEP, RoiOptions, parse_references, parse_components, DecomposeOptions, BOUNDARY_COST,
    GRAIN_BOUNDARY_COST, GRAIN_EXCESS, KERNEL_RADIUS, MIN_CONTRAST, GRAIN_ANGLE_DEG, LOW_ANGLE_DEG, SegmentOptions,
    LAGB_METHODS, LAGB_LOW, LAGB_MIN_LENGTH, BoundariesOptions,
)

#: Default dictionary sampling (degrees).
RESOLUTION = 2.0


def _lower(text: str) -> str:
    return text.lower()


# --------------------------------------------------------------------------------------------
# index


def check_tilt(value: float, field: str, owner: type | None = None) -> float:
    """A tilt in degrees in [-90, 90]; an error names the field ``field`` of ``owner``."""
    value = float(value)
    if not math.isfinite(value) or not -90 <= value <= 90:
        raise OptionError(owner, [(field, f"must be degrees in [-90, 90], got {value:g}")])
    return value


def _phase_specs(items: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``--phase`` (repeatable) as a tuple of phase texts; one text is one phase (structure text holds commas)."""
    if items is None:
        return None
    items = [items] if isinstance(items, str) else list(items)
    return tuple(str(i).strip() for i in items if str(i).strip()) or None


def _index_mask(text: str | None) -> str | None:
    """The command line's mask: a name, ``auto`` (roi when the store has one) or ``none``."""
    return "auto" if text is None else parse_none(text)


@dataclass(frozen=True, kw_only=True)
class IndexOptions:
    """Everything ``vaearr index`` takes (:func:`~vaearr.maps.indexing.indexing.index_store`)."""

    store: str = opt(help="EBSD map store with patterns(y, x, py, px).", flags=())
    pc: Sequence[float] | str | None = opt(None, "Projection centre X,Y,Z (kikuchipy's default Bruker convention unless "
                                                "`pc_convention`; default: the one the store keeps).",
                                           cli_type=Optional[str])
    sample_tilt: float | None = opt(None, "Sample tilt (degrees), e.g. 70 (default: the store's, else 70).",
                                    flags=("--tilt",), cli_type=Optional[float])
    phase: str | Sequence[str] | None = opt(
        None, "Phase (repeatable: every phase of the map): fcc, bcc or hcp (built in, offline); a kikuchipy master "
              "pattern (ni offline; al, si, austenite, ferrite… downloaded); a .cif file; an EMsoft master-pattern "
              "file; or NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS. NAME=… names it.",
        cli_type=Optional[list[str]], parse=_phase_specs)
    master_pattern: Path | None = opt(None, "An EMsoft master-pattern file instead of `phase`.")
    method: str = opt("hough", "hough (PyEBSDIndex) or dictionary (kikuchipy), or another in vaearr.maps.index_methods.",
                      parse=_lower)
    refine: bool = opt(False, "Refine every solution against the master pattern (kikuchipy).", flags=("--refine",))
    pc_convention: str = opt("bruker", "bruker, tsl, oxford or emsoft (as kikuchipy's EBSDDetector takes them).",
                             parse=_lower)
    px_size: float | None = opt(None, "Detector pixel size (µm); needed with `pc_convention` emsoft.", above=0)
    detector_tilt: float = opt(0.0, "Detector tilt (degrees).", min=-90, max=90)
    resolution: float = opt(RESOLUTION, "Dictionary: orientation sampling (degrees).", above=0)
    energy: float | None = opt(None, "Master-pattern energy (kV); default its highest.", above=0)
    mask: str | None = opt("auto", "Mask variable (default: roi when the store has one, else every pixel; 'none': "
                                   "every pixel).", cli_type=Optional[str], parse=_index_mask)
    name: str = opt(ORIENTATION, "Orientation variable; quality maps are {name}_score, {name}_bands.")
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))
    #: Patterns per block of rows read and indexed at once (default: 256 MB of float32 patterns).
    block_patterns: int | None = None
    #: A dictionary up to this many bytes is simulated into memory at once.
    dictionary_memory: int = DICTIONARY_MEMORY
    progress: bool = True

    def phases(self) -> tuple[str, ...]:
        """The ``--phase`` texts, in order (a single text is one phase)."""
        return _phase_specs(self.phase) or ()

    def check(self) -> tuple[str, tuple[float, float, float] | None, float | None, float]:
        """Every setting checked before the store is read; returns the name, PC and tilts as they will be used (None:
        the store's)."""
        check_declared(self)
        name = check_field_name(self, "name")
        if self.method not in INDEXERS:
            raise OptionError(type(self), [("method", f"'{self.method}' is unknown; choose {', '.join(INDEXERS)}")])
        pc = None
        if self.pc is not None:
            pc = parse_pc(self.pc, type(self))
            check_pc(pc, self.pc_convention, self.px_size, type(self))
        sample_tilt = None if self.sample_tilt is None else check_tilt(self.sample_tilt, "sample_tilt", type(self))
        detector_tilt = check_tilt(self.detector_tilt, "detector_tilt", type(self))
        INDEXERS[self.method]().check(self.resolution)
        if self.energy is not None and not (math.isfinite(self.energy) and self.energy > 0):
            raise OptionError(type(self), [("energy", f"must be > 0 kV, got {self.energy:g}")])
        return name, pc, sample_tilt, detector_tilt


# --------------------------------------------------------------------------------------------
# spread

#: What ``vaearr spread`` measures over: a segmentation's grains (GOS is a grain's spread) or its regions.
SPREAD_LEVELS = ("grains", "regions")
#: What ``vaearr spread`` writes from the patterns (degrees).
PATTERN_KAM, PATTERN_GROD, PATTERN_GOS = "pattern_kam", "pattern_grod", "pattern_gos"


@dataclass(frozen=True, kw_only=True)
class SpreadOptions:
    """Everything ``vaearr spread`` and the ``spread-map`` flow take (:func:`~vaearr.maps.deformation.spread.spread_store`)."""

    store: str = opt(help="Store with the feature map and the regions.", flags=())
    var: str = opt("latent", "Feature map: a (y, x[, dim]) variable (latent, pca_weights, cnmf_weights…) or "
                             "orientations (y, x, quaternion): KAM and GOS in degrees.", deprecated=("--features",))
    regions: str = opt("segments", "Region ids: a segmentation's name (its {name}_grains is used, or {name} with "
                                   "`level` regions) or any (y, x) integer variable, −1 outside.")
    level: str = opt("grains", "grains: spreads over the segmentation's grains (GOS is a grain's spread); regions: "
                               "over its regions (sub-grains).", choices=SPREAD_LEVELS, parse=_lower)
    mask: str | None = opt("auto", "Mask variable ('auto': roi when the store has one, else every pixel; 'none': "
                                   "every pixel).", cli_type=str, parse=parse_none)
    radius: int = opt(KERNEL_RADIUS, "Kernel radius (pixels) of a feature map's kernel spread: the window its "
                                     "gradient is fit on (orientations: the first neighbours, as KAM).", min=1, max=10)
    name: str | None = opt(None, "Prefix of {name}_kernel_spread and {name}_domain_spread (default: `var`).")
    recrystallised: str = opt("recrystallised", "Name of the recrystallised mask written beside them.")
    patterns: bool = opt(True, "With patterns in the store, also KAM, GROD and GOS in degrees read from them "
                               "(pattern_kam, pattern_grod, pattern_gos; the recrystallised mask is then theirs).")
    pc: Sequence[float] | str | None = opt(None, "Projection centre X,Y,Z (Bruker) for the degrees read from the "
                                                 "patterns (default: the one the store keeps, else 0.5,0.3,0.6; "
                                                 "'store': the store's or an error).", cli_type=Optional[str])
    overwrite: bool = opt(False, "Replace the variables if they exist.", flags=("--overwrite",))

    def check(self) -> None:
        """One line naming the option and its allowed range, before any work."""
        check_declared(self)
        check_field_name(self, "var")
        check_field_name(self, "regions")
        check_field_name(self, "recrystallised")
        if self.name is not None:
            check_field_name(self, "name")
        self.given_pc()

    def given_pc(self) -> tuple[float, float, float] | None:
        """``pc`` as three floats (None: the store's), checked."""
        return given_pc(self.pc, type(self))

    def outputs(self) -> tuple[str, str, str]:
        """The three variables written."""
        prefix = self.name or self.var
        return f"{prefix}_kernel_spread", f"{prefix}_domain_spread", self.recrystallised

    def degree_outputs(self) -> tuple[str, str, str]:
        """KAM, GROD and GOS from the patterns (degrees), written with ``patterns`` on a store that has them."""
        return PATTERN_KAM, PATTERN_GROD, PATTERN_GOS


# --------------------------------------------------------------------------------------------
# quality


@dataclass(frozen=True, kw_only=True)
class QualityOptions:
    """Everything ``vaearr quality`` takes (:func:`~vaearr.maps.roi.pattern_quality.quality_store`)."""

    store: str = opt(help="Store with patterns(y, x, py, px).", flags=())
    mask: str | None = opt(None, "Mask variable ('none': every pixel, the default, as a ROI is then made from the "
                                 "maps; 'auto': roi when the store has one).", cli_type=str, parse=parse_none,
                           cli_default="none")
    iq: str = opt("iq", "Name of the image-quality map.")
    adp: str = opt("adp", "Name of the average neighbour dot product map.")
    overwrite: bool = opt(False, "Replace the variables if they exist.", flags=("--overwrite",))
    #: Patterns per block of rows read at once.
    block_patterns: int = 4096
    progress: bool = True

    def check(self) -> None:
        """The names checked before any work."""
        check_declared(self)
        check_field_name(self, "iq")
        check_field_name(self, "adp")
        if self.iq == self.adp:
            raise OptionError(type(self), [("adp", f"names the variable iq names ('{self.iq}'); give two names")])


# --------------------------------------------------------------------------------------------
# phases


@dataclass(frozen=True, kw_only=True)
class PhasesOptions:
    """Everything ``vaearr phases`` and the ``phases`` flow take (:func:`~vaearr.maps.phases.phases.phases_store`)."""

    store: str = opt(help="Store with the patterns and a segmentation.", flags=())
    regions: str = opt("segments", "Region variable of a segmentation (vaearr segment's `name`), grouped into phases.")
    var: str | None = opt(None, "Input variable: the feature map the 'features' method groups (default latent; "
                                "pca_weights, cnmf_weights…), or the orientation variable of vaearr index the 'lattice' "
                                "method fits at (default orientation; its structure and detector too).",
                          cli_type=Optional[str], deprecated=("--features",))
    method: str = opt("auto", "auto (bands, then sharpness within each), bands (angles between the bands of each "
                              "region's mean pattern), sharpness, lattice (each region's lattice parameter fitted at "
                              "the indexed orientation: one structure, different lattices), or features (a mixture of "
                              "the regions' mean features).",
                      choices=("auto", "bands", "sharpness", "lattice", "features"), parse=_lower)
    mask: str | None = opt("auto", "Mask variable ('auto': roi when the store has one, else every pixel; 'none': "
                                   "every pixel).", cli_type=str, parse=parse_none)
    name: str = opt("phases", "Phase variable written: phase ids 0, 1, … (−1 outside the mask).")
    max_phases: int = opt(4, "Most phases to find.", min=1, max=16)
    min_regions: int = opt(2, "Fewest regions a phase may hold.", min=1)
    min_pixels: int = opt(16, "Regions under this many pixels take no part in the splits (they join the nearest "
                              "phase after).", min=1)
    pc: Sequence[float] | str | None = opt(None, "Projection centre X,Y,Z (Bruker) for the bands' plane normals; "
                                                 "default the store's (from vaearr index, the vendor file or the "
                                                 "simulation).", cli_type=Optional[str])
    sample_tilt: float | None = opt(None, "Sample tilt (degrees); default the store's, else 70.", flags=("--tilt",),
                                    min=-90, max=90)
    seed: int = opt(0, "Seed of the features method's mixture.", min=0, max=SEED_MAX)
    overwrite: bool = opt(False, "Replace the variable if it exists.", flags=("--overwrite",))
    progress: bool = True

    @property
    def input_var(self) -> str:
        """The input variable: ``var``, else the method's (``orientation`` for 'lattice', ``latent`` otherwise)."""
        return self.var if self.var is not None else (ORIENTATION if self.method == "lattice" else "latent")

    def check(self) -> tuple[float, float, float] | None:
        """The names and the PC checked before any work; returns the PC given (None: the store's)."""
        check_declared(self)
        check_field_name(self, "name")
        check_field_name(self, "regions")
        if self.var is not None:
            check_field_name(self, "var")
        if self.pc is None:
            return None
        pc = parse_pc(self.pc, type(self))
        check_pc(pc, "bruker", None, type(self))
        return pc


# --------------------------------------------------------------------------------------------
# orientation-maps


@dataclass(frozen=True, kw_only=True)
class OrientationMapsOptions:
    """Everything ``vaearr orientation-maps`` and the ``orientation-maps`` flow take
    (:func:`~vaearr.maps.indexing.orientations.write_orientation_maps`; ``out``: its figures,
    :func:`~vaearr.viz.orientations.orientation_figures`)."""

    store: str = opt(help="Store with VAR(y, x, quaternion) and phase_id.", flags=())
    var: str = opt(ORIENTATION, "Orientation variable (the input: NAME_ipf, NAME_kam… are written beside it).",
                   deprecated=("--name",))
    grain_angle: float = opt(5.0, "Misorientation (degrees) between grains; also the largest neighbour angle KAM "
                                  "averages.")
    direction: str = opt("z", "Sample direction of the IPF colours: x, y or z.")
    mask: str | None = opt(None, "Mask variable: pixels outside count as not indexed (default: all pixels).")
    out: Path | None = opt(None, "Folder for VAR_maps.html/.png and the IPF colour key PNG; none drawn without it.",
                           deprecated=("--figures",))

    def check(self) -> None:
        check_declared(self)
