"""The metrics' kernels called directly: one preparation per variable, the pair metrics, the spatial trend basis
(tests/analysis/test_association.py holds each metric against its reference implementation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tests.helpers import association_pairs
from vaearr.analysis.association_options import AssociationOptions
from vaearr.analysis.metrics import X_ONLY, Y_ONLY, pair_metrics, pearson_pair, prepare, trend_basis


def test_trend_basis_is_orthonormal_and_spans_the_polynomials() -> None:
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 50, size=(80, 2))
    q = trend_basis(coords, 2)
    assert q.shape == (80, 6)  # 1, x, y, x², xy, y²
    np.testing.assert_allclose(q.T @ q, np.eye(6), atol=1e-12)
    poly = 3 + 0.5 * coords[:, 0] - coords[:, 0] * coords[:, 1] / 7
    np.testing.assert_allclose(q @ (q.T @ poly), poly, rtol=1e-9)
    assert trend_basis(coords, 0).shape == (80, 1)
    # a constant coordinate keeps the basis finite
    assert np.isfinite(trend_basis(np.c_[coords[:, 0], np.ones(80)], 1)).all()


def test_prepare_by_hand_on_tied_values() -> None:
    v = np.array([3.0, 1.0, 3.0, 2.0, 3.0])
    var = prepare(v, AssociationOptions(mi_bins=2), None)
    np.testing.assert_allclose(var.z, (v - v.mean()) / v.std())
    avg_rank = stats.rankdata(v)
    np.testing.assert_allclose(var.rank_z, (avg_rank - avg_rank.mean()) / avg_rank.std())
    assert var.dense.tolist() == [3, 1, 3, 2, 3]
    assert var.ties == 3.0  # one group of three equal values: 3·2/2 pairs
    np.testing.assert_allclose(var.rowsum, np.abs(var.z[:, None] - var.z[None]).sum(1))
    d = np.abs(var.z[:, None] - var.z[None])
    dc = d - d.mean(0) - d.mean(1)[:, None] + d.mean()
    assert var.dvar == pytest.approx((dc * dc).mean())
    assert var.mi_bin.tolist() == [1, 0, 1, 0, 1]
    assert var.resid is None  # no trend basis given


def test_prepare_keeps_only_what_the_metrics_need() -> None:
    var = prepare(np.arange(10.0), AssociationOptions(metrics=("pearson",)), None)
    assert var.mi_bin is None and var.hsic is None and var.resid is None
    assert prepare(np.arange(10.0), AssociationOptions(hsic_exact_max=0), None).hsic[0] == "binned"
    assert prepare(np.arange(10.0), AssociationOptions(), None).hsic[0] == "exact"


def test_constant_variable_is_centred_not_divided_by_zero() -> None:
    var = prepare(np.full(6, 2.5), AssociationOptions(metrics=("pearson", "spearman")), None)
    assert (var.z == 0).all() and np.isfinite(var.rank_z).all()


def test_pair_metrics_on_a_monotone_pair() -> None:
    x = np.arange(1.0, 21.0)
    y = x**3  # monotone, not linear
    opts = AssociationOptions(mi_bins=4)  # 5 values per bin
    q = trend_basis(np.c_[x, np.zeros_like(x)], 0)
    out = pair_metrics(prepare(x, opts, q), prepare(y, opts, q), x.size, opts)
    assert list(out) == list(opts.metrics)
    assert out["spearman"] == pytest.approx(1.0) and out["kendall"] == pytest.approx(1.0)
    assert out["pearson"] == pytest.approx(stats.pearsonr(x, y)[0])
    assert out["partial_pearson"] == pytest.approx(out["pearson"])  # order 0 removes only the mean
    assert out["mutual_information"] == pytest.approx(np.log(opts.mi_bins))  # the same bins on both sides
    assert 0.9 < out["distance_correlation"] <= 1.0 and 0.5 < out["hsic"] <= 1.0


def test_pair_metrics_without_a_trend_give_nan_partial_pearson() -> None:
    opts = AssociationOptions(metrics=("partial_pearson", "pearson"))
    out = pair_metrics(prepare(np.arange(5.0), opts, None), prepare(-np.arange(5.0), opts, None), 5, opts)
    assert list(out) == ["partial_pearson", "pearson"]
    assert np.isnan(out["partial_pearson"]) and out["pearson"] == pytest.approx(-1.0)


def test_pearson_pair_is_clipped() -> None:
    u = np.array([1.0, -1.0])
    assert pearson_pair(u * (1 + 1e-12), u) == 1.0


@pytest.mark.parametrize("case,x,y", list(association_pairs()), ids=lambda v: v if isinstance(v, str) else "")
def test_one_sided_preparation_keeps_every_value(case, x, y) -> None:
    # the x side of a pair (a latent dim) and the y side (a reference, kept for every dim) hold
    # only what their side needs, and the metrics are bit-for-bit those of full preparations
    rng = np.random.default_rng(2)
    coords = rng.uniform(0, 10, size=(len(x), 2))
    opts = AssociationOptions(hsic_exact_max=0)  # the binned HSIC, as on big maps
    q = trend_basis(coords, opts.trend_order)
    a, b = prepare(x, opts, q, side="x"), prepare(y, opts, q, side="y")
    assert all(getattr(a, f) is None for f in Y_ONLY) and all(getattr(b, f) is None for f in X_ONLY)
    assert pair_metrics(a, b, len(x), opts) == pair_metrics(prepare(x, opts, q), prepare(y, opts, q), len(x), opts)
