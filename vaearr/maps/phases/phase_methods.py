"""Ways to group a segmentation's regions into phases, by name (:data:`PHASE_METHODS`): auto, bands, sharpness,
lattice and features.

A method is a :class:`PhaseMethod` subclass registered with ``@PHASE_METHODS.register("name")``: its class attributes
say what it reads (the feature map or the orientations of ``var``, the detector, the region means in two halves) and
the rule written in attrs; :meth:`~PhaseMethod.read` takes its own input from the store and
:meth:`~PhaseMethod.group` gets the regions' mean patterns (:class:`RegionMeans`) and returns each region's phase
(:class:`Grouped`). :func:`vaearr.maps.phases.phases.phases_store` does the checks, the reading and the writing around
it, so a new method is one class here (and its name among ``PhasesOptions.method``'s choices, which the command line
checks before anything is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from vaearr.errors import StoreError
from vaearr.maps.options import PhasesOptions
from vaearr.maps.patterns.background import static_background
from vaearr.maps.phases.grouping import Grouping, assign_small, features_grouping, pattern_grouping
from vaearr.maps.phases.lattice_fit import divided_means
from vaearr.maps.phases.lattice_grouping import Indexed, lattice_grouping, read_indexing
from vaearr.maps.phases.phase_features import Geometry, band_sets, detect_bands, prepare, spectral_sharpness, triplet_distance
from vaearr.registry import Registry
from vaearr.store.schema import PATTERNS, PX, PY, X, Y, no_variable


@dataclass
class RegionMeans:
    """What a method groups: the regions (``regions``: (y, x) indices 0…n−1, −1 outside), their mean patterns and
    pixel counts (and, for a method that asks, the means of their two halves), the large regions that take part in the
    splits (``big``), the options, the detector geometry (None: the store keeps none) and what :meth:`PhaseMethod.read`
    returned."""

    store: Any
    options: PhasesOptions
    regions: np.ndarray
    n: int
    means: np.ndarray
    counts: np.ndarray
    big: np.ndarray
    mask: str | None
    geometry: Geometry | None
    inputs: Any = None
    halves: np.ndarray | None = None
    half_counts: np.ndarray | None = None


@dataclass
class Grouped:
    """A method's result: each region's phase (−1: none), the splits that made them, lines to print, and what the
    written variable adds: per phase its attrs (``phase_info``), attrs and source variables."""

    labels: np.ndarray
    grouping: Grouping
    messages: list[str] = field(default_factory=list)
    phase_info: list[dict[str, Any]] | None = None
    attrs: dict[str, Any] | None = None
    sources: list[str] | None = None


class PhaseMethod:
    """A way to group regions into phases (subclass it and register the subclass)."""

    #: The rule written in the variable's attrs.
    rule: ClassVar[str] = ""
    #: Reads ``var`` (its values inside the regions must be finite).
    reads_var: ClassVar[bool] = False
    #: ``var`` is read whole (every chunk checked before any work) and is a source of the written variable.
    var_is_source: ClassVar[bool] = False
    #: Needs the detector geometry (the projection centre).
    needs_geometry: ClassVar[bool] = True
    #: The geometry of ``var`` (vaearr index's) first, before the store's other sources.
    geometry_from_var: ClassVar[bool] = False
    #: Wants the region means in two halves (the noise left in each mean).
    halves: ClassVar[bool] = False

    def read(self, ds: xr.Dataset, o: PhasesOptions, regions: np.ndarray, n: int, valid: np.ndarray,
             store: Any) -> Any:
        """The method's own input from the store (None: it needs none), read before the patterns."""
        return None

    def group(self, r: RegionMeans) -> Grouped:
        raise NotImplementedError


PHASE_METHODS: Registry[type[PhaseMethod]] = Registry("phase method")


class _PatternMethod(PhaseMethod):
    """The methods that read the regions' mean patterns: band triangles, then sharpness, as the subclass says."""

    halves = True
    by_bands: ClassVar[bool] = True
    by_sharpness: ClassVar[bool] = True

    def joins_by_sharpness(self, grouping: Grouping) -> bool:
        """Whether the small regions join the phase of nearest sharpness (else of nearest band triangles)."""
        return False

    def group(self, r: RegionMeans) -> Grouped:
        o = r.options
        bg = static_background(r.store, PATTERNS, (Y, X), r.mask, feature_dims=(PY, PX))
        prepared = prepare(r.means, bg)
        bands, normals = detect_bands(prepared, r.geometry)  # type: ignore[arg-type]
        sharp = spectral_sharpness(prepared, prepare(r.halves, bg), r.half_counts)  # type: ignore[arg-type]
        dist = triplet_distance(band_sets(bands, normals)) if self.by_bands else np.zeros((r.n, r.n))
        grouping = pattern_grouping(dist, sharp, r.big, o.max_phases, o.min_regions, bands=self.by_bands,
                                    sharpness=self.by_sharpness)
        return Grouped(assign_small(grouping, dist, sharp, by_sharpness=self.joins_by_sharpness(grouping)), grouping)


@PHASE_METHODS.register("auto")
class Auto(_PatternMethod):
    """Band triangles, then sharpness inside each phase found (the default)."""

    rule = ("regions grouped by the angles between their bands, then by sharpness (power at fine detail) within each "
            "group")

    def joins_by_sharpness(self, grouping: Grouping) -> bool:
        took = {s["rule"].split(":")[0] for s in grouping.splits if s["accepted"]}
        return took == {"sharpness"}


@PHASE_METHODS.register("bands")
class Bands(_PatternMethod):
    """Average-linkage splits of the regions' band-triangle distances: different crystal structures."""

    rule = ("regions grouped by the angles between the bands of their mean patterns (band triangles shared; "
            "PyEBSDIndex band detection)")
    by_sharpness = False


@PHASE_METHODS.register("sharpness")
class Sharpness(_PatternMethod):
    """Splits of the regions' pattern sharpness: one structure, different defect density or strain."""

    rule = ("regions grouped by the sharpness of their mean patterns (share of the power at fine detail, "
            "noise taken off)")
    by_bands = False

    def joins_by_sharpness(self, grouping: Grouping) -> bool:
        return True


@PHASE_METHODS.register("lattice")
class Lattice(PhaseMethod):
    """Each region's lattice fitted at the indexed orientation, split by value within each indexed structure."""

    rule = ("regions of each indexed structure grouped by the lattice parameter fitted to their mean patterns at "
            "the indexed orientation (kinematical patterns, best NCC)")
    reads_var = True
    geometry_from_var = True

    def read(self, ds: xr.Dataset, o: PhasesOptions, regions: np.ndarray, n: int, valid: np.ndarray,
             store: Any) -> Indexed:
        return read_indexing(ds, o.input_var, valid, store)

    def group(self, r: RegionMeans) -> Grouped:
        bg = static_background(r.store, PATTERNS, (Y, X), r.mask, feature_dims=(PY, PX))
        lattice = lattice_grouping(divided_means(r.means, bg), r.regions, r.inputs, r.geometry,  # type: ignore[arg-type]
                                   r.big, r.options)
        return Grouped(lattice.labels, lattice.grouping, lattice.messages, phase_info=lattice.phase_info,
                       attrs=lattice.attrs, sources=r.inputs.sources)


@PHASE_METHODS.register("features")
class Features(PhaseMethod):
    """The model side, for comparison: a Gaussian mixture of the regions' mean features (``var``), lowest BIC."""

    rule = "regions grouped by a Gaussian mixture of their mean features (lowest BIC)"
    reads_var = True
    var_is_source = True
    needs_geometry = False

    def read(self, ds: xr.Dataset, o: PhasesOptions, regions: np.ndarray, n: int, valid: np.ndarray,
             store: Any) -> np.ndarray:
        return feature_means(ds, o.input_var, regions, n, store)

    def group(self, r: RegionMeans) -> Grouped:
        o = r.options
        grouping = features_grouping(r.inputs, r.big, o.max_phases, o.seed)
        labels = assign_small(grouping, np.zeros(0), np.zeros(0), r.inputs)
        return Grouped(labels, grouping, attrs={"features": o.input_var}, sources=[o.input_var])


def feature_means(ds: xr.Dataset, name: str, regions: np.ndarray, n: int, store: Any) -> np.ndarray:
    """Each region's mean of the feature map ``name`` ((y, x[, dim])), NaN read as 0."""
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
