"""Per-dim statistics, activation tables, prototypes and traversal bases of encoded latents."""

from __future__ import annotations

import numpy as np
import pytest

from vaearr.analysis.latents import activations, base_vector, describe, dim_names, latent_stats, prototypes
from vaearr.errors import InputError


def test_latent_stats_against_the_gaussian_kl_formula() -> None:
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(40, 3)), rng.normal(scale=0.3, size=(40, 3))
    mu[:, 2] *= 0.01
    s = latent_stats(mu, logvar)
    var = np.exp(logvar)
    np.testing.assert_allclose(s["kl"], (0.5 * (mu**2 + var - 1 - logvar)).mean(0))
    np.testing.assert_allclose(s["mean_var"], var.mean(0))
    np.testing.assert_allclose(s["activity"], mu.var(0))
    assert s["active"].tolist() == [True, True, False]
    assert s.attrs["active_units"] == 2 and s.attrs["kl_total"] == pytest.approx(s["kl"].sum())
    assert s.index.name == "latent_dim"
    assert latent_stats(mu, logvar, active_threshold=10.0).attrs["active_units"] == 0


def test_latent_stats_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"mu and logvar must both be \(N, latent_dim\), got \(4, 2\) and \(4, 3\)"):
        latent_stats(np.zeros((4, 2)), np.zeros((4, 3)))


def test_activations_and_describe() -> None:
    mu = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    table = activations(mu, sample=np.array([7, 8, 9]))
    assert table.columns.tolist() == ["sample", "z0", "z1"] and table["sample"].tolist() == [7, 8, 9]
    summary = describe(activations(mu, np.array(["a", "b", "a"])))
    assert summary.index.tolist() == dim_names(2) == ["z0", "z1"]
    assert summary.loc["z1", "mean"] == 3.0 and summary.loc["z0", "max"] == 4.0 and summary.loc["z0", "count"] == 3


def test_prototypes_are_label_means() -> None:
    mu = np.array([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0], [1.0, 2.0]])
    p = prototypes(mu, np.array(["b", "b", "a", "b"]))
    assert p.dims == ("label", "latent_dim") and p.label.values.tolist() == ["a", "b"]
    np.testing.assert_allclose(p.values, [[10, 10], [1, 2]])
    assert p.attrs["count"] == [1, 3]
    with pytest.raises(ValueError, match="2 labels for 4 latents"):
        prototypes(mu, np.array([0, 1]))


def test_base_vector_choices() -> None:
    mu = np.array([[0.0, 2.0], [2.0, 4.0]])
    protos = prototypes(mu, np.array([3, 5]))
    v, what = base_vector(None, protos, mu)
    assert v.tolist() == [1.0, 3.0] and what == "mean latent"
    assert base_vector("mean", None, mu)[1] == "mean latent"
    v, what = base_vector("5", protos, mu)
    assert v.tolist() == [2.0, 4.0] and what == "prototype of 5"
    v, what = base_vector([0.5, -1.0], None, mu)
    assert v.tolist() == [0.5, -1.0] and what == "given vector"


@pytest.mark.parametrize(("base", "protos", "message"), [
    ("7", True, "base '7' is not a label; labels: 3, 5"),
    ("7", False, "base '7' names a prototype, but the samples have no labels"),
    ([1.0, 2.0, 3.0], False, "base has 3 values, the latent has 2 dims"),
])
def test_base_vector_errors(base, protos, message) -> None:
    mu = np.array([[0.0, 2.0], [2.0, 4.0]])
    with pytest.raises(InputError, match=message):
        base_vector(base, prototypes(mu, np.array([3, 5])) if protos else None, mu)
