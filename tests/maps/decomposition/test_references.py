"""References: PCA/NMF of the demo patterns in the ROI, auto-k mixtures, ARI/NMI equal to scikit-learn's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vaearr.errors import StoreError, VaearrWarning
from vaearr.maps.decomposition.references import (
    adjusted_rand_index,
    gmm_partition,
    normalized_mutual_info,
    pca_nmf,
    reference_maps,
    write_references,
)
from vaearr.store import open_store


def test_ari_nmi_equal_sklearn() -> None:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(0, rng.integers(2, 7), 500)
        b = np.where(rng.random(500) < 0.6, a, rng.integers(0, 4, 500))
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
        assert normalized_mutual_info(a, b) == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-12)
    assert adjusted_rand_index([1, 1, 2], [7, 7, 3]) == 1.0


@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_gmm_partition_chooses_k(criterion: str) -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    x = np.concatenate([c + rng.normal(size=(150, 2)) for c in centres])
    part = gmm_partition(x, (1, 6), criterion=criterion)
    assert part.k == 3 and set(part.scores) == set(range(1, 7))
    assert part.scores[3] == min(part.scores.values())
    truth = np.repeat(np.arange(3), 150)
    assert adjusted_rand_index(part.labels, truth) > 0.95


def test_pca_nmf_inside_roi(demo_store_master: Path) -> None:
    ds = open_store(demo_store_master)
    roi = ds.roi.values
    with pytest.warns(VaearrWarning, match="NMF of 'patterns' stopped at"):  # the demo map's NMF: a reference, not converged
        dec = pca_nmf(ds, n_components=4, max_fit=800)
    v = dec.variables
    assert dec.n_pixels == int(roi.sum())
    for name in ("pca", "nmf"):
        assert v[name].dims == ("y", "x", "component") and v[name].shape == (40, 60, 4)
        assert np.isfinite(v[name].values[roi]).all() and np.isnan(v[name].values[~roi]).all()
        assert v[f"{name}_components"].dims == ("component", "py", "px")
    ev = v["pca_explained_variance"].values
    assert (np.diff(ev) <= 1e-12).all() and 0 < ev.sum() <= 1
    assert (v["nmf"].values[roi] >= 0).all() and (v["nmf_components"].values >= 0).all()
    # PCA (fitted on an 800-pixel sample) projects every ROI pixel: scores centred to within
    # the sample's error, the first component the widest
    scores = v["pca"].values[roi]
    assert np.abs(scores.mean(0)).max() < 0.1 * scores.std(0).max()
    assert scores.var(0).argmax() == 0


def test_nmf_that_stops_early_says_so_once(demo_store_master: Path) -> None:
    """With the demo's 8 components NMF stops at its iteration cap in the fit and in every
    chunk's transform: one warning says so, scikit-learn's per-call warnings do not pass."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    ds = open_store(demo_store_master)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dec = pca_nmf(ds, n_components=8, methods=("nmf",))
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    ours = [str(w.message) for w in caught if "NMF of 'patterns' stopped at 200 iterations" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert np.isfinite(dec.variables["nmf"].values[ds.roi.values]).all()


def test_write_references_and_reference_maps(demo_store: Path) -> None:
    with pytest.warns(VaearrWarning, match="NMF of 'patterns' stopped at"):
        info = write_references(demo_store, n_components=3, k_range=(2, 4), max_fit=600)
    ds = open_store(demo_store)
    for name in ("pca", "nmf", "pca_gmm", "nmf_gmm", "pca_explained_variance", "pca_components", "nmf_components"):
        assert name in ds, name
    roi = ds.roi.values
    labels = ds.pca_gmm.values
    assert (labels[~roi] == -2).all() and labels[roi].min() == 0
    assert labels[roi].max() + 1 == info["partitions"]["pca_gmm"]["k"] == ds.pca_gmm.attrs["k"]
    refs = reference_maps(ds, ["elements", "bandcontrast", "pca"], mask=ds.roi)
    assert list(refs.reference.values) == ["Ni", "Cr", "Fe", "elements_sum", "bandcontrast", "pca_0", "pca_1", "pca_2"]
    assert np.nanmax(refs.sel(reference="Ni").where(ds.roi).values) == pytest.approx(1.0)
    with pytest.raises(StoreError, match="exists"):
        write_references(demo_store, n_components=3, max_fit=600)
    with pytest.raises(StoreError, match="no variable 'nope'"):
        reference_maps(ds, ["nope"])
