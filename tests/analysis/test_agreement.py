"""partition_agreement: the mixture partition of each latent dim and of the whole latent, scored by ARI and NMI."""

from __future__ import annotations

import numpy as np

from vaearr.analysis.agreement import partition_agreement


def two_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Dim 0 separates two groups far apart; dim 1 is noise."""
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 60)
    x = np.c_[truth * 10.0 + rng.normal(0, 0.3, 120), rng.normal(0, 1, 120)]
    return x, truth


def test_informative_dim_agrees_perfectly_and_noise_does_not() -> None:
    x, truth = two_blobs()
    scores, info = partition_agreement(x, {"truth": truth}, dim_names=["a", "b"], k_range=(2, 2))
    assert scores.dims == ("latent_set", "partition", "score")
    assert scores.latent_set.values.tolist() == ["a", "b", "all"]
    assert scores.score.values.tolist() == ["ari", "nmi"]
    assert scores.sel(latent_set="a", partition="truth").values.tolist() == [1.0, 1.0]
    assert scores.sel(latent_set="b", partition="truth", score="ari") < 0.2
    assert info["k"] == {"a": 2, "b": 2, "all": 2}
    labels = info["labels_all"]
    assert labels.shape == (120,) and len(np.unique(labels[truth == 0])) == 1 != len(np.unique(labels))


def test_default_names_are_the_dim_numbers_and_every_reference_is_scored() -> None:
    x, truth = two_blobs()
    scores, _ = partition_agreement(x, {"truth": truth, "flipped": 1 - truth}, k_range=(2, 2))
    assert scores.latent_set.values.tolist() == ["0", "1", "all"]
    # ARI and NMI do not depend on how the classes are named
    np.testing.assert_allclose(scores.sel(partition="truth"), scores.sel(partition="flipped"))
