"""Non-negative weights and constrained NMF (:mod:`vaearr.maps.decomposition.cnmf`) against scipy's NNLS and the
exact factors of planted data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import nnls

from vaearr.maps.decomposition.cnmf import cnmf_fit, nn_weights


def test_weights_are_scipys_nnls() -> None:
    rng = np.random.default_rng(0)
    h = rng.random((4, 30))
    x = rng.normal(size=(25, 30))  # many rows need clipped weights
    ours = nn_weights(x, h, tol=1e-12, max_iter=5000)
    ref = np.stack([nnls(h.T, row)[0] for row in x])
    assert (ours >= 0).all() and (ref == 0).any()
    assert np.allclose(ours, ref, atol=1e-6)
    # a float32 X gives the same weights to float32 precision
    assert np.allclose(nn_weights(x.astype(np.float32), h, tol=1e-12, max_iter=5000), ref, atol=1e-4)


def test_fixed_components_only_fit_the_weights_and_are_returned_as_given() -> None:
    rng = np.random.default_rng(1)
    h = rng.random((3, 20)).astype(np.float32)
    w = rng.random((40, 3))
    x = w @ h.astype(np.float64)
    weights, comps, info = cnmf_fit(x, h, 0)
    assert comps.dtype == np.float32 and np.array_equal(comps, h) and comps is not h
    assert np.allclose(weights, w, atol=1e-6)
    assert info["iterations"] == 0 and info["relative_error"] < 1e-6


def test_free_components_explain_what_the_fixed_leave() -> None:
    rng = np.random.default_rng(2)
    h = rng.random((3, 24))
    w = rng.random((60, 3))
    x = (w @ h).astype(np.float32)
    fixed = h[:2].astype(np.float32)
    weights, comps, info = cnmf_fit(x, fixed, 1, seed=0)
    assert comps.shape == (3, 24) and comps.dtype == np.float32 and np.array_equal(comps[:2], fixed)
    assert (weights >= 0).all() and (comps >= 0).all()
    assert info["relative_error"] < 0.02 and info["iterations"] >= 1
    # the free row is rescaled to the fixed rows' mean norm
    assert np.linalg.norm(comps[2]) == pytest.approx(np.linalg.norm(fixed, axis=1).mean(), rel=1e-5)
    # no fixed row: plain NMF, float32 components
    _, comps, info = cnmf_fit(x, np.zeros((0, 24), np.float32), 3)
    assert comps.shape == (3, 24) and comps.dtype == np.float32 and info["relative_error"] < 0.05
