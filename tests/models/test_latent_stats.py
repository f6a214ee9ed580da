"""vaearr.models.latent_stats: KL per dim and active units accumulated over batches equal the figures over all the
samples at once, computed here with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaearr.models.latent_stats import ACTIVE_THRESHOLD, LatentStats


def by_numpy(mu: np.ndarray, logvar: np.ndarray) -> tuple[list[float], int]:
    kl = (0.5 * (mu**2 + np.exp(logvar) - 1 - logvar)).mean(axis=0)
    return kl.tolist(), int((mu.var(axis=0) > ACTIVE_THRESHOLD).sum())


def test_batches_added_give_the_figures_of_all_samples():
    rng = np.random.default_rng(0)
    # dims 0 and 2 vary over the samples, dim 1 barely (variance 1e-4 < 0.01), dim 3 not at all
    mu = np.stack([rng.normal(0, 1, 10), rng.normal(0, 0.01, 10), rng.normal(2, 0.5, 10), np.full(10, 0.3)], axis=1)
    logvar = rng.normal(-1, 0.2, (10, 4))
    stats = LatentStats()
    for part in (slice(0, 3), slice(3, 4), slice(4, 10)):
        stats.add(torch.from_numpy(mu[part]).float(), torch.from_numpy(logvar[part]).float())
    got = stats.result(prefix="val_")
    kl, active = by_numpy(mu.astype(np.float32).astype(np.float64), logvar.astype(np.float32).astype(np.float64))
    assert stats.n == 10
    assert got["val_kl_per_dim"] == pytest.approx(kl, abs=1e-6)
    assert got["val_active_units"] == active == 2


def test_merge_adds_another_accumulators_samples():
    rng = np.random.default_rng(1)
    mu, logvar = torch.from_numpy(rng.normal(0, 1, (8, 3))), torch.from_numpy(rng.normal(0, 0.1, (8, 3)))
    whole, first, second = LatentStats(), LatentStats(), LatentStats()
    whole.add(mu, logvar)
    first.add(mu[:5], logvar[:5])
    second.add(mu[5:], logvar[5:])
    first.merge(second)
    first.merge(LatentStats())  # an empty one adds nothing
    assert first.n == 8 and first.result() == whole.result()
    empty = LatentStats()
    empty.merge(second)
    assert empty.n == 3 and empty.result() == second.result()


def test_spatial_latents_and_no_batches_give_nothing():
    stats = LatentStats()
    assert stats.result() == {}
    stats.add(torch.zeros(2, 4, 3, 3), torch.zeros(2, 4, 3, 3))  # (B, C, h, w): no per-dim statistics
    assert stats.n == 0 and stats.result() == {}
