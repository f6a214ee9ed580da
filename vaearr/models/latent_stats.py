"""How much a vector latent carries: KL per dim and active units, accumulated over batches.

A dim is *active* when the variance of its posterior mean over the samples exceeds
:data:`ACTIVE_THRESHOLD` (Burda et al., 2016); a latent whose dims are all inactive has
collapsed to the prior and carries nothing about its inputs.
"""

from __future__ import annotations

from typing import Any

import torch

#: Variance of the posterior mean above which a latent dim counts as active.
ACTIVE_THRESHOLD = 0.01


class LatentStats:
    """Running per-dim statistics of vector latents over batches: KL per dim and active units.

    Kept on the device (float64) until :meth:`result`, so adding a batch waits for nothing.
    """

    def __init__(self) -> None:
        self.n = 0
        self.sums: list[Any] | None = None

    def add(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        if mu.ndim != 2:  # spatial latents: no per-dim statistics
            return
        mu, logvar = mu.detach().double(), logvar.detach().double()
        parts = [mu.sum(0), mu.pow(2).sum(0), (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(0)]
        self.sums = parts if self.sums is None else [a + b for a, b in zip(self.sums, parts, strict=True)]
        self.n += mu.shape[0]

    def merge(self, other: LatentStats) -> None:
        """Add the samples another :class:`LatentStats` has seen (one of a cluster's bands, say)."""
        if other.sums is None:
            return
        theirs = [t.to(self.sums[0].device) for t in other.sums] if self.sums is not None else other.sums
        self.sums = theirs if self.sums is None else [a + b for a, b in zip(self.sums, theirs, strict=True)]
        self.n += other.n

    def result(self, distributed: bool = False, prefix: str = "") -> dict[str, Any]:
        """``{prefix}kl_per_dim`` (nats, mean over samples) and ``{prefix}active_units``; empty without latents."""
        if self.sums is None:
            return {}
        t = torch.cat([*self.sums, torch.tensor([float(self.n)], dtype=torch.float64, device=self.sums[0].device)])
        if distributed:
            torch.distributed.all_reduce(t)
        d = self.sums[0].numel()
        s1, s2, kl, n = t[:d], t[d:2 * d], t[2 * d:3 * d], max(float(t[-1]), 1.0)
        var = (s2 / n - (s1 / n) ** 2).clamp(min=0)
        return {f"{prefix}kl_per_dim": [round(float(v), 6) for v in (kl / n).cpu()],
                f"{prefix}active_units": int((var > ACTIVE_THRESHOLD).sum())}
