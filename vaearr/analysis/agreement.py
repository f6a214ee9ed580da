"""How well a latent's mixture partition agrees with a reference partition (ARI, NMI):
:func:`partition_agreement`, which ``vaearr rank`` writes; :mod:`vaearr.analysis.ranking` gives it too."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from vaearr.maps.decomposition.references import adjusted_rand_index, gmm_partition, normalized_mutual_info


def partition_agreement(
    latent_values: np.ndarray,
    reference_labels: dict[str, np.ndarray],
    *,
    dim_names: Sequence | None = None,
    k_range: tuple[int, int] = (2, 8),
    criterion: str = "bic",
    seed: int = 0,
) -> tuple[xr.DataArray, dict]:
    """Mixture partition (auto-k) of each latent dim and of the whole latent, scored against references.

    Parameters
    ----------
    latent_values
        ``(n, L)`` latents on the mask's pixels.
    reference_labels
        Name → ``(n,)`` labels of a reference partition on the same pixels.
    dim_names
        Names of the L dims (default 0..L−1); the whole latent is ``"all"``.

    Returns
    -------
    scores : xarray.DataArray
        ``partition_agreement(latent_set, partition, score)`` with score ``ari``, ``nmi``.
    info : dict
        ``k`` per latent set and the labels of ``"all"`` (``labels_all``).
    """

    x = np.asarray(latent_values, dtype=np.float64)
    names = [str(d) for d in (dim_names if dim_names is not None else range(x.shape[1]))]
    sets = [(nm, x[:, [i]]) for i, nm in enumerate(names)] + [("all", x)]
    refs = list(reference_labels)
    out = np.full((len(sets), len(refs), 2), np.nan)
    ks: dict[str, int] = {}
    labels_all = None
    for si, (nm, feats) in enumerate(sets):
        part = gmm_partition(feats, k_range, criterion=criterion, seed=seed)
        ks[nm] = part.k
        if nm == "all":
            labels_all = part.labels
        for ri, r in enumerate(refs):
            out[si, ri] = adjusted_rand_index(part.labels, reference_labels[r]), normalized_mutual_info(part.labels, reference_labels[r])
    da = xr.DataArray(out, dims=("latent_set", "partition", "score"),
                      coords={"latent_set": [s for s, _ in sets], "partition": refs, "score": ["ari", "nmi"]},
                      name="partition_agreement")
    return da, {"k": ks, "labels_all": labels_all}
