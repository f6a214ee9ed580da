"""Association metrics: each equals a reference implementation, and a planted association ranks first
(the kernels' one-sided preparation: tests/analysis/test_metrics.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import association_pairs
from vaearr.analysis.association import (
    METRICS,
    AssociationOptions,
    association,
    association_matrix,
    association_pair,
)
from vaearr.errors import InputError
from vaearr.maps.decomposition.composite import element_composite


@pytest.mark.parametrize("case,x,y", list(association_pairs()), ids=lambda v: v if isinstance(v, str) else "")
def test_each_metric_equals_its_reference_implementation(case, x, y) -> None:
    import dcor
    from scipy import stats
    from sklearn.metrics import mutual_info_score

    assert association_pair(x, y, "pearson") == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-6)
    assert association_pair(x, y, "spearman") == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-6)
    assert association_pair(x, y, "kendall") == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-6)
    assert association_pair(x, y, "distance_correlation") == pytest.approx(dcor.distance_correlation(np.float64(x), np.float64(y)), abs=1e-6)
    # mutual information of equal-frequency bins (by average rank) = sklearn's plug-in MI of those bins
    bins = 8
    bx = np.minimum(((stats.rankdata(x) - 1) * bins / x.size).astype(int), bins - 1)
    by = np.minimum(((stats.rankdata(y) - 1) * bins / y.size).astype(int), bins - 1)
    assert association_pair(x, y, "mutual_information", mi_bins=bins) == pytest.approx(mutual_info_score(bx, by), abs=1e-6)


def _gauss_kernel(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)  # hyppo wants float64 kernels
    d = np.abs(v[:, None] - v[None, :])
    med = np.median(d[np.triu_indices(v.size, 1)])
    return np.exp(-(d**2) / (2 * med**2))


@pytest.mark.parametrize("case,x,y", list(association_pairs()), ids=lambda v: v if isinstance(v, str) else "")
def test_hsic_equals_direct_formula_and_hyppo(case, x, y) -> None:
    hyppo = pytest.importorskip("hyppo.independence", reason="hyppo is the reference implementation")
    k, l_ = _gauss_kernel(x), _gauss_kernel(y)
    n = x.size
    h = np.eye(n) - 1.0 / n
    hsic = lambda a, b: np.trace(a @ h @ b @ h) / n**2  # noqa: E731 - the O(n²) textbook formula
    direct = hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))
    ours = association_pair(x, y, "hsic")
    assert ours == pytest.approx(direct, abs=1e-6)
    # hyppo's biased Hsic on the same kernels is the square root of the normalised HSIC
    assert ours == pytest.approx(hyppo.Hsic(compute_kernel=None, bias=True).statistic(k, l_) ** 2, abs=1e-6)
    # the binned approximation (used above hsic_exact_max pixels) stays close
    assert association_pair(x, y, "hsic", hsic_exact_max=0) == pytest.approx(direct, abs=0.01)


def test_partial_pearson_equals_ols_residual_correlation() -> None:
    sm = pytest.importorskip("statsmodels.api", reason="statsmodels is the reference for the trend fit")
    from scipy import stats

    rng = np.random.default_rng(2)
    yy, xx = np.meshgrid(np.arange(12.0), np.arange(15.0), indexing="ij")
    coords = np.stack([xx.ravel(), yy.ravel()], 1)
    trend = 0.05 * coords[:, 0] ** 2 - 0.3 * coords[:, 0] * coords[:, 1] / 10
    a = trend + rng.normal(size=trend.size)
    b = trend + 0.5 * a + rng.normal(size=trend.size)
    for order in (0, 1, 2, 3):
        u = (coords - coords.min(0)) / (coords.max(0) - coords.min(0))
        basis = np.stack([u[:, 0] ** i * u[:, 1] ** j for i in range(order + 1) for j in range(order + 1 - i)], 1)
        ra = sm.OLS(a, basis).fit().resid
        rb = sm.OLS(b, basis).fit().resid
        expected = stats.pearsonr(ra, rb)[0]
        got = association_pair(a, b, "partial_pearson", coords=coords, trend_order=order)
        assert got == pytest.approx(expected, abs=1e-6)
    assert association_pair(a, b, "partial_pearson", coords=coords, trend_order=0) == pytest.approx(
        stats.pearsonr(a, b)[0], abs=1e-9)


def test_planted_association_is_ranked_first_by_every_metric(demo_store_master: Path) -> None:
    """Latents = PCA of the real demo patterns; an element map is built from one of them plus noise."""
    from vaearr.maps.decomposition.references import pca_nmf
    from vaearr.store import open_store

    ds = open_store(demo_store_master)
    lat = pca_nmf(ds, n_components=6, methods=("pca",)).variables["pca"].rename(component="latent_dim")
    roi = ds.roi.load()
    rng = np.random.default_rng(0)
    planted = 3
    z = lat.isel(latent_dim=planted)
    element = (z - z.mean()) / z.std() + 0.7 * rng.normal(size=z.shape)
    refs = xr.concat([element.assign_coords(reference="planted"),
                      ds.bandcontrast.astype(float).assign_coords(reference="bandcontrast")], dim="reference")
    a = association(lat, refs.transpose("reference", "y", "x"), roi, options=AssociationOptions(trend_order=2))
    assert a.dims == ("latent_dim", "reference", "metric") and list(a.metric.values) == list(METRICS)
    assert a.attrs["n_pixels"] == int(roi.sum())
    strength = np.abs(a.sel(reference="planted").values)  # (latent_dim, metric)
    assert (strength.argmax(axis=0) == planted).all(), a.sel(reference="planted").to_pandas()
    # the reduction runs on dask blocks of latent dims: one dim per block, one at a time, and
    # from a dask-backed latent with a NaN pixel give the same values; that pixel is left out
    one = association(lat, refs.transpose("reference", "y", "x"), roi, options=AssociationOptions(trend_order=2),
                      block_dims=1, scheduler="sync")
    np.testing.assert_array_equal(one.values, a.values)
    holed = lat.copy()
    iy, ix = np.argwhere(roi.values)[0]
    holed[iy, ix, 0] = np.nan
    b = association(holed.chunk({"y": 10}), refs.transpose("reference", "y", "x"), roi,
                    options=AssociationOptions(metrics=("pearson", "kendall")))
    assert b.attrs["n_pixels"] == int(roi.sum()) - 1
    m = roi.values.copy()
    m[iy, ix] = False
    direct = association_matrix(lat.transpose("y", "x", "latent_dim").values[m],
                                refs.transpose("y", "x", "reference").values[m],
                                options=AssociationOptions(metrics=("pearson", "kendall")))
    np.testing.assert_allclose(b.values, direct, rtol=1e-12, atol=1e-12)


def test_association_matrix_rejects_mismatched_or_nan_input() -> None:
    with pytest.raises(InputError, match="pixels"):
        association_matrix(np.zeros((10, 2)), np.zeros((9, 1)))
    bad = np.ones((10, 1))
    bad[3] = np.nan
    with pytest.raises(InputError, match="finite"):
        association_matrix(np.random.rand(10, 1), bad)
    with pytest.raises(InputError, match="unknown metric"):
        AssociationOptions(metrics=("pearson", "cosine"))


def test_element_composite_sum_and_rgb(demo_store_master: Path) -> None:
    from vaearr.store import open_store

    ds = open_store(demo_store_master)
    el = ds.elements.load()
    roi = ds.roi.load()
    s = element_composite(el, weights={"Ni": 2.0, "Cr": 1.0, "Fe": 0.0}, mask=roi)
    assert s.dims == ("y", "x")
    norm = lambda v: (v - v.where(roi).min()) / (v.where(roi).max() - v.where(roi).min())  # noqa: E731
    expected = (2 * norm(el.sel(element="Ni")) + norm(el.sel(element="Cr"))) / 3
    np.testing.assert_allclose(s.values, expected.values, rtol=1e-6)
    rgb = element_composite(el, mode="rgb", mask=roi)
    assert rgb.dims == ("y", "x", "channel") and rgb.sizes["channel"] == 3
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    with pytest.raises(InputError, match="unknown elements"):
        element_composite(el, weights={"Au": 1.0})
