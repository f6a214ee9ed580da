"""The options of the map commands that find regions, declared once (:mod:`vaearr.options`): roi, decompose, segment
and boundaries (:mod:`vaearr.maps.options` holds the others and gives these too).

Only light modules are imported here, as in :mod:`vaearr.maps.options`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from vaearr.errors import InputError, OptionError
from vaearr.options import SEED_MAX, check_declared, given_pc, opt, parse_k_range, parse_none
from vaearr.store.names import check_field_name
from vaearr.store.schema import PATTERNS


#: Pixels used to fit a decomposition (and the mixtures) when the mask has more.
MAX_FIT = 20000


# --------------------------------------------------------------------------------------------
# roi

#: The sides a threshold keeps.
KEEP = ("above", "below")


@dataclass(frozen=True, kw_only=True)
class RoiOptions:
    """Everything ``vaearr roi``, the ``roi`` flow and :func:`vaearr.roi` take (:func:`~vaearr.maps.roi.roi.create_roi`;
    ``out``, ``bin_width`` and ``profile_row``: :func:`~vaearr.viz.roi.roi_store`'s figures)."""

    store: str = opt(help="Store with the variable to threshold.", flags=())
    min: float | None = opt(None, "Keep pixels with value ≥ this (keep above).", deprecated=("--bc-min",))
    max: float | None = opt(None, "Keep pixels with value ≤ this (keep below).", deprecated=("--bc-max",))
    otsu: bool = opt(False, "Keep pixels above Otsu's threshold (below with `keep` below).", flags=("--otsu",),
                     deprecated=("--bc-otsu",))
    top_percent: float | None = opt(None, "Keep the brightest P % of pixels (value ≥ its 100−P percentile; the lowest "
                                          "P % with `keep` below).", above=0, max=100, deprecated=("--bc-top-percent",))
    threshold: float | None = opt(None, "Keep pixels with value ≥ this (≤ with `keep` below).")
    keep: str = opt("above", "The side `threshold`, `otsu` and `top_percent` keep: above or below.", choices=KEEP)
    x: tuple[float | None, float | None] | str | None = opt(
        None, "x range A:B in µm (inclusive; either end may be empty).", cli_type=Optional[str])
    y: tuple[float | None, float | None] | str | None = opt(None, "y range C:D in µm.", cli_type=Optional[str])
    x_index: tuple[int | None, int | None] | str | None = opt(
        None, "Pixel columns A:B, 0-based, B excluded (as a Python slice).", cli_type=Optional[str])
    y_index: tuple[int | None, int | None] | str | None = opt(None, "Pixel rows C:D, 0-based, D excluded.",
                                                              cli_type=Optional[str])
    name: str = opt("roi", "Name of the mask variable.")
    var: str = opt("bandcontrast", "Variable the thresholds apply to: any (y, x) map (bandcontrast, iq and adp from "
                                   "'vaearr quality', a latent dim's map…).")
    export: Path | None = opt(None, "Write keep-xy CSV/NPY and the mask NPY here.")
    out: Path | None = opt(None, "Write the histogram and map (HTML + PNG) here; with no criterion, only these (no "
                                 "mask).", deprecated=("--figures",))
    bin_width: float | None = opt(None, "Histogram bin width (bins on multiples of it); default 100 bins.")
    profile_row: Sequence[int] | None = opt(None, "Row (0-based y index) to plot the values along; repeatable. Needs "
                                                  "`out`.", cli_type=Optional[list[int]])
    overwrite: bool = opt(False, "Replace the variable if it exists.", flags=("--overwrite",))
    #: Library-only: the names of the row and column dims.
    dims: tuple[str, str] = ("y", "x")

    def check(self) -> None:
        """The ranges declared on the fields (the thresholds themselves need the map: :func:`~vaearr.maps.roi.roi.make_roi`)."""
        check_declared(self)

    def criteria(self) -> bool:
        """Whether a criterion is given (else, with `out`, only the figures are drawn)."""
        return self.otsu or any(v is not None for v in (self.min, self.max, self.top_percent, self.threshold, self.x,
                                                        self.y, self.x_index, self.y_index))


# --------------------------------------------------------------------------------------------
# decompose


def parse_references(text: str | None) -> list[tuple[int, int]] | str | None:
    """``"y,x;y,x"`` (pixel row, column) → ``[(y, x), ...]``; ``"auto"`` and None pass through.

    Examples
    --------
    >>> parse_references("3,4; 10,2")
    [(3, 4), (10, 2)]
    """
    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    out = []
    for item in text.split(";"):
        if not item.strip():
            continue
        parts = item.replace(" ", "").split(",")
        try:
            y, x = (int(p) for p in parts)
        except ValueError:
            raise OptionError(None, [("references", f"takes 'auto' or pixel rows and columns like '3,4;10,2', "
                                                    f"got '{text}'")]) from None
        out.append((y, x))
    if not out:
        raise OptionError(None, [("references", f"has no pixels: '{text}'")])
    return out


def parse_components(value: int | str) -> int | str:
    """A number of components (``4``, ``"4"``) or ``"auto"``.

    Examples
    --------
    >>> parse_components("4"), parse_components(" Auto "), parse_components(3)
    (4, 'auto', 3)
    """
    if not isinstance(value, str):
        return value
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise OptionError(None, [("components", f"takes a number or 'auto', got '{value}'")]) from None


@dataclass(frozen=True, kw_only=True)
class DecomposeOptions:
    """Everything ``vaearr decompose`` and the ``decompose-patterns`` flow take (:func:`~vaearr.maps.decomposition.decompose.write_decomposition`)."""

    store: str = opt(help="Store with the patterns (and the mask).", flags=())
    method: str = opt("cnmf", "pca, nmf or cnmf (NMF with components fixed to reference patterns), or another in "
                              "vaearr.maps.decomposition.decomposition_methods.")
    components: int | str = opt("auto", "Number of components (cnmf: fixed + free), or 'auto'.", cli_type=str,
                                parse=parse_components)
    references: Sequence[tuple[int, int]] | str | None = opt(
        None, "cnmf: 'auto' or pixel row,column pairs 'y,x;y,x;…'.", cli_type=Optional[str], parse=parse_references)
    mask: str | None = opt("auto", "Mask variable ('auto': roi when the store has one, else every pixel; 'none': "
                                   "every pixel).", cli_type=str, parse=parse_none)
    name: str | None = opt(None, "Variable prefix: {name}_weights, {name}_components (default: the method).")
    var: str = opt("patterns", "Variable to decompose.")
    k_range: tuple[int, int] = opt((2, 8), "k range for the BIC choice of automatic cnmf references.", cli_type=str,
                                   parse=parse_k_range, cli_default="2:8")
    max_components: int = opt(20, "Largest number of components the 'auto' scree looks at.", min=1)
    max_fit: int = opt(MAX_FIT, "Pixels in the fit sample (at most).", min=1)
    seed: int = opt(0, "Seed of the fit sample, PCA, NMF and the mixture.", min=0, max=SEED_MAX)
    overwrite: bool = opt(False, "Replace the variables if they exist.", flags=("--overwrite",))

    def check(self) -> None:
        """One :class:`InputError` line for the first option out of range (the method's name is checked against
        :data:`~vaearr.maps.decomposition.decomposition_methods.DECOMPOSITIONS` by :func:`~vaearr.maps.decomposition.decompose.decompose`)."""
        check_declared(self)
        components = parse_components(self.components)
        if isinstance(components, int) and components < 1:
            raise OptionError(type(self), [("components", f"must be at least 1, got {components}")])


# --------------------------------------------------------------------------------------------
# segment

#: Nats charged per pixel edge of boundary between two regions: ln 3, the price of one step of a chain
#: code (each step of a boundary goes on, turns left or turns right), so the regions' boundaries cost
#: what it takes to draw them, not a number tuned on one simulator (8 nats, tuned on the first family
#: of science maps until issue 37, merged the patches of patchy sub-grains away: BENCHMARKS.md "Science").
BOUNDARY_COST = round(math.log(3), 4)
#: Nats per boundary edge of the coarse regions the grain level is read from: long boundaries measure
#: well in pattern space (:mod:`vaearr.maps.segmentation.pattern_levels`).
GRAIN_BOUNDARY_COST = 8.0
#: Pattern space: a region boundary is a grain boundary when its excess pseudo-angle (the noise-free
#: dissimilarity of the mean patterns three pixels apart across it, less its sides' own gradient) is over this
#: (:mod:`vaearr.maps.segmentation.pattern_levels`). Between what a sub-grain step reads (≤ 1°: up to 0.36 on the tuning maps of
#: both families) and what a pixel half of one grain and half of another reads against either (√ln 2 ≈ 0.59, so
#: 0.5–0.6 across the mixed rows of a region that took in a neighbour grain's boundary pixels); the middle of the
#: tuning maps' gap (0.36–0.56). It was 0.7, chosen on the first family alone, which joined grains through such
#: mixed regions on held-out deformed maps (BENCHMARKS.md "Science: two families").
GRAIN_EXCESS = 0.45
#: Radius (pixels) of the window a feature map's kernel spread fits its gradient on: the best worst case of the two
#: families' tuning maps (KAM Spearman, radius 3 / 4 / 5: 0.811 / 0.813 / 0.807; BENCHMARKS.md "Science: two families").
KERNEL_RADIUS = 4
#: Pairs inside a grain closer than this fraction of the median grain-boundary contrast are merged.
MIN_CONTRAST = 0.01
#: The misorientation (degrees) over which a boundary is a grain boundary. Chosen on the science family's tuning maps:
#: their sub-grain boundaries read at most 0.61° from the patterns (0.5° planted), their closest grains 5.97° apart
#: (map 7: which MTEX's ``calcGrains`` default of 10° would make one grain); 2° is the middle of that gap (geometric:
#: 1.9°). Held out: a science map with grains 5.24° apart, sub-grain steps of the third family up to 1.2°, one pixel
#: of bending up to 1.5°. Give 10 for MTEX's convention.
GRAIN_ANGLE_DEG = 2.0
#: The misorientation (degrees) over which a boundary inside a grain is a low-angle one, read from the patterns
#: (:mod:`vaearr.maps.segmentation.boundary_angles`). Chosen on the science family's tuning maps: regions of one sub-grain that the
#: latents split read 0.07–0.13° apart, sub-grain boundaries 0.40–0.61° (0.5° planted); the middle of that gap (0.23°)
#: rounded to the finer side. The demo map's regions inside a grain read 0.01–0.12°.
LOW_ANGLE_DEG = 0.2


#: How ``segment`` finds the sub-grains inside each grain on a store with patterns (:data:`SUBGRAIN_SOURCES`).
SUBGRAIN_SOURCES = ("auto", "rotations", "features")
#: ``subgrains auto`` reads every pixel's rotation from the patterns up to this many pixels in grains, the feature
#: map's regions above it: the rotations cost one registration a pattern, 2.1 ms a 60 × 60 pattern on 2 quiet cores
#: (3.2 CPU-ms; 10⁴ pixels of 13 grains, `pattern_rotations` alone), so about 3.5 minutes at this bound.
ROTATIONS_MAX_PIXELS = 100_000


@dataclass(frozen=True, kw_only=True)
class SegmentOptions:
    """Everything ``vaearr segment`` and the ``segment-map`` flow take (:func:`~vaearr.maps.segmentation.segment.segment_store`)."""

    store: str = opt(help="Store with the feature map.", flags=())
    var: str = opt("latent", "Feature map: a (y, x[, dim]) variable (latents, pca_weights, cnmf_weights…) or "
                             "orientations (y, x, quaternion).", deprecated=("--features",))
    mask: str | None = opt("auto", "Mask variable ('auto': roi when the store has one, else every pixel; 'none': "
                                   "every pixel).", cli_type=str, parse=parse_none)
    name: str = opt("segments", "Region variable; {name}_grains and {name}_boundaries are written beside it.")
    boundary_cost: float = opt(BOUNDARY_COST, "Nats charged per pixel edge of boundary between two regions.", min=0)
    min_size: int | None = opt(None, "Regions under this many pixels join their nearest neighbour (default: the "
                                     "number of feature dims).", cli_type=Optional[int])
    min_contrast: float = opt(MIN_CONTRAST, "Sub-grains closer than this fraction of the median grain-boundary "
                                            "contrast are merged.")
    grain_angle: float = opt(GRAIN_ANGLE_DEG, "Misorientation (degrees) over which a boundary is a grain boundary: "
                                              "read from the patterns when the store has them, or from the "
                                              "orientations given as `var`.")
    low_angle: float = opt(LOW_ANGLE_DEG, "Misorientation (degrees) over which a boundary inside a grain is a "
                                          "low-angle boundary; regions closer than this are one.")
    pc: Sequence[float] | str | None = opt(None, "Projection centre X,Y,Z (Bruker) for the angles read from the "
                                                 "patterns (default: the one the store keeps, else "
                                                 "0.5,0.3,0.6; 'store': the store's or an error).",
                                           cli_type=Optional[str])
    subgrains: str = opt("auto", "With patterns in the store, the sub-grains inside each grain: 'rotations' (every "
                                 "pixel's rotation from its grain's mean orientation, in degrees, read from the "
                                 "patterns), 'features' (the feature map's own regions), 'auto' (rotations up to "
                                 f"{ROTATIONS_MAX_PIXELS:,} pixels, features above).", choices=SUBGRAIN_SOURCES,
                         parse=str.lower)
    grain_threshold: float = opt(GRAIN_EXCESS, "With patterns in the store: the first grain level's threshold on "
                                               "the excess pseudo-angle across a boundary, before the angles decide "
                                               "(about 1 for unrelated orientations, 0 inside a bent grain).", above=0)
    seed: int = opt(0, "Seed of the sample of pixel pairs the noise is measured on.", min=0, max=SEED_MAX)
    overwrite: bool = opt(False, "Replace the variables if they exist.", flags=("--overwrite",))

    def check(self) -> None:
        """One line naming the option and its allowed range, before any work."""
        check_declared(self)
        check_field_name(self, "name")
        check_field_name(self, "var")
        if not (math.isfinite(self.boundary_cost) and self.boundary_cost >= 0):
            raise OptionError(type(self), [("boundary_cost", f"must be a number >= 0 (nats), got {self.boundary_cost:g}")])
        if self.min_size is not None and self.min_size < 1:
            raise OptionError(type(self), [("min_size", f"must be >= 1 pixel, got {self.min_size}")])
        if not (math.isfinite(self.min_contrast) and 0 <= self.min_contrast < 1):
            raise OptionError(type(self), [("min_contrast", f"must be in [0, 1), got {self.min_contrast:g}")])
        if not (math.isfinite(self.grain_angle) and 0 < self.grain_angle <= 180):
            raise OptionError(type(self), [("grain_angle", f"must be in (0, 180] degrees, got {self.grain_angle:g}")])
        if not (math.isfinite(self.low_angle) and 0 <= self.low_angle < self.grain_angle):
            raise OptionError(type(self), [("low_angle", f"must be in [0, grain_angle) degrees, got "
                                                         f"{self.low_angle:g}")])
        self.given_pc()

    def given_pc(self) -> tuple[float, float, float] | None:
        """``pc`` as three floats (None: the store's), checked."""
        return given_pc(self.pc, type(self))

    def outputs(self) -> tuple[str, str, str]:
        """The three variables written on every map (with patterns, :meth:`angle_output` too)."""
        return self.name, f"{self.name}_grains", f"{self.name}_boundaries"

    def angle_output(self) -> str:
        """The boundary angles (degrees) written beside them when the store has patterns."""
        return f"{self.name}_angle"


# --------------------------------------------------------------------------------------------
# boundaries

#: How low-angle boundaries are found: regions inside each grain (default) or the Welch t² lines.
LAGB_METHODS = ("segment", "t2")
#: Low-angle boundary defaults of the t² lines: Welch t² of the pixels grown from the seeds, the shortest line kept.
LAGB_LOW, LAGB_MIN_LENGTH = 5.0, 5


@dataclass(frozen=True, kw_only=True)
class BoundariesOptions:
    """Everything ``vaearr boundaries``, the ``find-boundaries`` flow and :func:`vaearr.boundaries` take
    (:func:`~vaearr.maps.boundaries.boundaries.find_boundaries`; ``out``: :func:`~vaearr.viz.boundaries.boundary_files`)."""

    store: str = opt(help="Store with a (y, x) map.", flags=())
    var: str = opt(PATTERNS, "'patterns', or a latent variable (y, x, ...) (BENCHMARKS.md, Science).",
                   deprecated=("--from",))
    mask: str | None = opt("none", "Mask variable (default 'none': every pixel; boundaries are where band contrast is "
                                   "low, so a band-contrast ROI leaves them out).", cli_type=str)
    lagb_method: str = opt("segment", "Low-angle boundaries: 'segment' (regions inside each grain) or 't2' (Welch t² "
                                      "lines, with `lagb_threshold`/`lagb_low`/`lagb_min_length`).",
                           choices=LAGB_METHODS)
    gb_threshold: float | None = opt(None, "Grain-boundary threshold on the ridge strength (default: automatic, "
                                           "Otsu).", min=0)
    lagb_threshold: float | None = opt(None, "Low-angle boundaries: Welch t² a line must reach somewhere (default "
                                             "16, |t| ≥ 4).", min=0)
    lagb_low: float = opt(LAGB_LOW, "Low-angle boundaries: Welch t² along the rest of the line.", min=0)
    lagb_min_length: int = opt(LAGB_MIN_LENGTH, "Low-angle boundaries: shortest line kept (pixels).", min=1)
    background: bool = opt(True, "From patterns: divide by the static background first.",
                           flags=("--background/--no-background",))
    sigma: float = opt(1.0, "From patterns: Gaussian blur of each pattern (detector pixels).", min=0)
    grain_angle: float = opt(GRAIN_ANGLE_DEG, "With patterns in the store: a line is a grain boundary over this "
                                              "misorientation (degrees) read from the patterns.", above=0, max=180)
    low_angle: float = opt(LOW_ANGLE_DEG, "With patterns in the store: a line inside a grain is a low-angle boundary "
                                          "over this (degrees); under it, none.", min=0)
    pc: Sequence[float] | str | None = opt(None, "Projection centre X,Y,Z (Bruker) for those angles (default: the "
                                                 "store's, else 0.5,0.3,0.6; 'store': the store's or an error).",
                                           cli_type=Optional[str])
    degrees: bool = opt(True, "Class the lines by those angles (`degrees=False`: as the edges drew them).",
                        flags=("--degrees/--no-degrees",))
    subgrains: str = opt("auto", "From patterns, with `lagb_method` segment and `degrees`: the regions inside each "
                                 "grain from 'rotations' (every pixel's rotation from its grain's mean orientation, "
                                 "in degrees), 'features' (the patterns' principal directions), 'auto' (rotations up "
                                 f"to {ROTATIONS_MAX_PIXELS:,} pixels, features above).", choices=SUBGRAIN_SOURCES,
                         parse=str.lower)
    out: Path | None = opt(None, "Folder for the figure (HTML + PNG); default: STORE_boundaries beside the store.",
                           deprecated=("--figures",))
    overwrite: bool = opt(False, "Replace variables that exist.", flags=("--overwrite",))
    #: Library-only: principal directions per grain (default 2 for 'segment', 1 for 't2'), the edge boxes
    #: (:func:`~vaearr.maps.patterns.edges.edge_maps`), the exclusion around grain boundaries for 't2', the names' prefix.
    lagb_components: int | None = None
    along: int = 3
    deep: int = 2
    exclude: int = 2
    prefix: str = ""

    def check(self) -> None:
        """The ranges declared on the fields, the two angles in order and the PC, before any work."""
        check_declared(self)
        if not self.low_angle < self.grain_angle:
            raise InputError(None, f"`low_angle` ({self.low_angle:g}°) must be under `grain_angle` "
                                   f"({self.grain_angle:g}°)")
        given_pc(self.pc, type(self))
