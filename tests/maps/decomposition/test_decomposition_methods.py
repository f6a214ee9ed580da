"""The decomposition methods by name (:mod:`vaearr.maps.decomposition.decomposition_methods`): each method's fit on a
small planted map, against scikit-learn and the planted factors, and the lines its summary prints."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA

from vaearr.maps.decomposition.decomposition_methods import (
    DECOMPOSITIONS,
    CNMFDecomposition,
    Decomposition,
    Fit,
    PCADecomposition,
    project_nonnegative,
)
from vaearr.maps.decomposition.masked import MaskedPixels

NY, NX, F = 6, 5, 12


def _planted() -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    """Non-negative patterns (y, x, f): three planted components with weights ≥ 0; pixel (0, 0) is pure component
    0, (0, 1) pure 1, (0, 2) pure 2."""
    rng = np.random.default_rng(0)
    h = rng.random((3, F))
    w = rng.random((NY, NX, 3))
    w[0, :3] = np.eye(3)
    return xr.Dataset({"p": (("y", "x", "f"), (w @ h).astype(np.float32))}), w, h


def _fit(ds: xr.Dataset, n: int | None, references=None) -> Fit:
    px = MaskedPixels(ds, "p", None)
    sample = px.sample(1000, seed=0)
    return Fit(px=px, sample=sample, x_fit=sample.x, n=n, scree=None, attrs={"shift": 0.0, "components_auto": False},
               references=references, k_range=(2, 4), seed=0, component_dim="k", var="p", transform=None)


def test_the_registered_methods() -> None:
    assert DECOMPOSITIONS.names() == ("pca", "nmf", "cnmf")
    assert DECOMPOSITIONS["cnmf"].takes_references and DECOMPOSITIONS["nmf"].nonnegative
    assert not DECOMPOSITIONS["pca"].nonnegative and not DECOMPOSITIONS["pca"].takes_references
    with pytest.raises(NotImplementedError):
        Decomposition().fit(_fit(_planted()[0], 2))


def test_pca_is_scikit_learns() -> None:
    ds, _, _ = _planted()
    f = _fit(ds, 2)
    comps, proj, n = PCADecomposition().fit(f)
    ref = PCA(2, svd_solver="randomized", random_state=0).fit(f.sample.x)
    assert n == 2 and np.allclose(comps, ref.components_)
    rows = ds.p.values.reshape(-1, F)
    assert np.allclose(proj.scores.values.reshape(-1, 2), ref.transform(rows), atol=1e-4)
    assert f.attrs["explained_variance_ratio"] == pytest.approx(ref.explained_variance_ratio_.tolist())
    assert proj.relative_error is not None and proj.relative_error < 0.1


def test_nmf_and_nonnegative_projection_reconstruct_the_map() -> None:
    ds, w, h = _planted()
    comps, proj, n = DECOMPOSITIONS["nmf"]().fit(_fit(ds, 3))
    assert n == 3 and comps.dtype == np.float32 and (comps >= 0).all()
    assert proj.relative_error is not None and proj.relative_error < 1e-2
    # on the planted components themselves: the planted weights
    px = MaskedPixels(ds, "p", None)
    exact = project_nonnegative(px, h, 3, "k", None)
    assert np.allclose(exact.scores.values, w, atol=1e-4) and exact.relative_error < 1e-5


def test_constrained_nmf_on_given_references() -> None:
    ds, w, _ = _planted()
    f = _fit(ds, None, references=[(0, 0), (0, 1), (0, 2)])
    method = CNMFDecomposition()
    comps, proj, n = method.fit(f)
    assert n == 3 and all(np.array_equal(comps[k], ds.p.values[0, k]) for k in range(3))
    assert np.allclose(proj.scores.values, w, atol=1e-4)
    a = f.attrs
    assert (a["references"], a["n_fixed"], a["n_free"], a["references_auto"]) == ([[0, 0], [0, 1], [0, 2]], 3, 0, False)
    assert a["components_rule"] == "one component per reference given (3), no free components"
    assert a["references_coords"] == [[0, 0], [0, 1], [0, 2]]  # no coords: the indices
    method.finish(a)
    assert a["component_kind"] == ["fixed"] * 3
    a.update(var="p", in_mask="none", n_pixels=30, n_components=3)
    assert method.headline("cnmf", a) == "cnmf of 'p' in mask 'none' (30 pixels): 3 components (3 fixed, 0 free)"
    assert method.summary_lines(a) == ["  references (given): 0,0; 0,1; 0,2"]
    assert PCADecomposition().headline("pca", a) == "pca of 'p' in mask 'none' (30 pixels): 3 components"
    assert PCADecomposition().summary_lines(a) == []


def test_constrained_nmf_picks_its_references() -> None:
    ds, _, _ = _planted()
    f = _fit(ds, 3, references="auto")
    comps, proj, n = CNMFDecomposition().fit(f)
    refs = f.attrs["references"]
    assert n == 3 == len(refs) and f.attrs["references_auto"] and "k = 3 (components)" in f.attrs["references_rule"]
    assert all(np.array_equal(comps[k], ds.p.values[y, x]) for k, (y, x) in enumerate(refs))
    assert proj.relative_error is not None and proj.relative_error < 0.5
