"""AssociationOptions: defaults, and the one-line errors of unknown metrics and settings out of range."""

from __future__ import annotations

import pytest

from vaearr.analysis.association_options import HSIC_EXACT_MAX, METRICS, SIGNED, AssociationOptions
from vaearr.errors import InputError


def test_defaults_compute_every_metric() -> None:
    opts = AssociationOptions()
    assert opts.metrics == METRICS and opts.hsic_exact_max == HSIC_EXACT_MAX
    assert SIGNED < set(METRICS)


def test_unknown_metric_is_named() -> None:
    with pytest.raises(InputError, match=r"unknown metric\(s\) \['pearsn'\]; choose from \['pearson'"):
        AssociationOptions(metrics=("pearson", "pearsn"))


@pytest.mark.parametrize("field", [{"trend_order": -1}, {"mi_bins": 1}, {"hsic_bins": 7}])
def test_settings_out_of_range(field: dict) -> None:
    with pytest.raises(InputError, match="trend_order must be ≥ 0, mi_bins ≥ 2 and hsic_bins ≥ 8"):
        AssociationOptions(**field)


def test_smallest_settings_are_accepted() -> None:
    opts = AssociationOptions(metrics=("hsic",), trend_order=0, mi_bins=2, hsic_bins=8)
    assert (opts.trend_order, opts.mi_bins, opts.hsic_bins) == (0, 2, 8)
