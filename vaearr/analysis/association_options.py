"""The settings of the association metrics (:class:`AssociationOptions`) and the metrics there are;
:mod:`vaearr.analysis.metrics` gives them too."""

from __future__ import annotations

from dataclasses import dataclass

from vaearr.errors import InputError


#: Every metric, in the order they appear in the ``metric`` coordinate.
METRICS: tuple[str, ...] = (
    "pearson", "spearman", "kendall", "mutual_information", "distance_correlation", "hsic", "partial_pearson",
)
#: Metrics whose sign only says the direction: ranked by absolute value.
SIGNED: frozenset[str] = frozenset({"pearson", "spearman", "kendall", "partial_pearson"})
#: Largest number of pixels for which HSIC is computed exactly (O(n²) memory and time).
HSIC_EXACT_MAX = 2000



@dataclass(frozen=True)
class AssociationOptions:
    """Settings of the metrics.

    Attributes
    ----------
    metrics
        Which metrics to compute (default all of :data:`METRICS`).
    trend_order
        Total degree of the spatial polynomial removed before ``partial_pearson`` (0 removes
        only the mean, so it equals Pearson's r).
    mi_bins
        Equal-frequency bins per variable for the mutual information.
    hsic_bins
        Grid points per variable for the binned HSIC (above ``hsic_exact_max`` pixels).
    hsic_exact_max
        Compute HSIC exactly up to this many pixels; ``0`` always bins.
    workers
        Threads working on latent dims at once (the sorts and the Fenwick passes release the GIL).
    """

    metrics: tuple[str, ...] = METRICS
    trend_order: int = 2
    mi_bins: int = 16
    hsic_bins: int = 512
    hsic_exact_max: int = HSIC_EXACT_MAX
    workers: int = 0  # 0: os.cpu_count()

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise InputError(None, f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
        if self.trend_order < 0 or self.mi_bins < 2 or self.hsic_bins < 8:
            raise InputError(None, "trend_order must be ≥ 0, mi_bins ≥ 2 and hsic_bins ≥ 8")
