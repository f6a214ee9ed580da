"""Samples of a store through a trained run, and what their latents say: per-dim statistics, activations, prototypes.

Conventions: latent dims are numbered from 0 and named ``latent_dim`` (as ``vaearr encode``
writes them); a dim is *active* when the variance of its posterior mean over the samples
exceeds 0.01 (Burda et al., 2016).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from vaearr.errors import InputError
from vaearr.run import Run
from vaearr.store import open_store

# --------------------------------------------------------------------------------------------
# a run and its samples


@dataclass
class LoadedRun:
    """A trained run with its model loaded, ready to encode and decode.

    Attributes
    ----------
    run
        The :class:`~vaearr.run.Run`.
    checkpoint
        The model folder that was loaded (``best/`` or a checkpoint).
    model
        The model, in eval mode.
    """

    run: Run
    checkpoint: Path
    model: Any

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def sample_dims(self) -> tuple[str, ...]:
        return self.run.data.sample_dims

    @property
    def feature_dims(self) -> tuple[str, ...]:
        return self.run.data.feature_dims

    @property
    def mask(self) -> str | None:
        return self.run.data.mask

    @property
    def data_range(self) -> tuple[float, float] | None:
        """Range the network's inputs were scaled to, None when unbounded (see :attr:`vaearr.run.Run.data_range`)."""
        return self.run.data_range

    @property
    def vector_latent(self) -> bool:
        """Whether the latent is one vector per sample (conv-vae) rather than a spatial map."""
        return len(self.model.latent_shape) == 1


def load_run(run: str | os.PathLike | Run, checkpoint: str = "best", device: str = "cpu") -> LoadedRun:
    """A run folder (or :class:`~vaearr.run.Run`) with the model of ``checkpoint`` loaded on ``device``."""
    run = run if isinstance(run, Run) else Run.open(run)
    return LoadedRun(run=run, checkpoint=run.checkpoint_path(checkpoint), model=run.model(checkpoint, device=device))


@dataclass
class Encoded:
    """Samples of a store pushed through a run's encoder.

    Attributes
    ----------
    index
        (N,) flat sample indices (C order over the run's sample dims), ascending.
    mu, logvar
        (N, *latent_shape) posterior parameters, float32.
    x
        (N, *input_shape) the network's inputs (after the run's scaling), or None.
    labels
        (N,) label per sample, or None.
    label_name
        Name of the label variable/coordinate, or None.
    positions
        Sample dim → (N,) positional index along it.
    """

    index: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray
    x: np.ndarray | None = None
    labels: np.ndarray | None = None
    label_name: str | None = None
    positions: dict[str, np.ndarray] = field(default_factory=dict)


def _label_values(ds: xr.Dataset, label: str | None, sample_dims: Sequence[str], store: Any) -> np.ndarray | None:
    """The label of every sample on the flat grid, or None (``label="auto"``: ``label`` when present)."""
    if label is None:
        return None
    if label == "auto":
        if "label" not in ds.variables:
            return None
        label = "label"
    if label not in ds.variables:
        raise InputError(store, f"no variable or coordinate '{label}' to label samples with")
    da = ds[label]
    if set(da.dims) != set(sample_dims):
        raise InputError(store, f"'{label}' has dims {da.dims}; labels must lie over the sample dims {tuple(sample_dims)}")
    return np.asarray(da.transpose(*sample_dims).values).reshape(-1)


def _resolve_label(ds: xr.Dataset, label: str | None) -> str | None:
    if label == "auto":
        return "label" if "label" in ds.variables else None
    return label


def encode_samples(
    store: str | os.PathLike,
    run: str | os.PathLike | LoadedRun,
    *,
    n: int | None = None,
    seed: int = 0,
    label: str | None = "auto",
    keep_inputs: bool = True,
    batch_size: int = 256,
    device: str = "cpu",
    checkpoint: str = "best",
) -> tuple[LoadedRun, Encoded]:
    """Encode (a seeded random subset of) the samples a run was trained on.

    The samples are read chunk by chunk with the run's own evaluation transforms (scaling,
    crop, resize, background), inside the run's mask.

    Parameters
    ----------
    store
        The store the run was trained on (or one with the same variable and dims).
    run
        Run folder or a :class:`LoadedRun`.
    n
        Number of samples; None = all inside the mask. The subset depends only on ``seed``.
    seed
        Seeds the subset.
    label
        Variable or coordinate over the sample dims that labels samples (``"auto"``: ``label``
        when the store has it; None: no labels).
    keep_inputs
        Keep the network inputs (for reconstructions and quality metrics).
    batch_size, device, checkpoint
        Encoding settings.

    Returns
    -------
    tuple
        The :class:`LoadedRun` and the :class:`Encoded` samples.
    """
    lr = run if isinstance(run, LoadedRun) else load_run(run, checkpoint=checkpoint, device=device)
    ds = open_store(store)
    inside = lr.run.check(ds, where=store)
    labels_all = _label_values(ds, label, lr.sample_dims, store)
    grid = tuple(int(ds.sizes[d]) for d in lr.sample_dims)
    inside = np.flatnonzero(np.asarray(inside.values).reshape(-1)) if inside is not None else np.arange(int(np.prod(grid)))
    chosen = inside
    if n is not None and n < inside.size:
        chosen = np.sort(np.random.default_rng(seed).choice(inside, size=n, replace=False))
    parts = [(b.index, b.mu.float().cpu().numpy(), b.logvar.float().cpu().numpy(),
              b.x.float().cpu().numpy() if keep_inputs else None)
             for b in lr.run.encode(store, model=lr.model, samples=chosen, batch_size=batch_size, reconstruct=False)]
    index = np.concatenate([p[0] for p in parts])
    order = np.argsort(index, kind="stable")
    enc = Encoded(
        index=index[order],
        mu=np.concatenate([p[1] for p in parts])[order],
        logvar=np.concatenate([p[2] for p in parts])[order],
        x=np.concatenate([p[3] for p in parts])[order] if keep_inputs else None,
        labels=None if labels_all is None else labels_all[index[order]],
        label_name=_resolve_label(ds, label),
    )
    enc.positions = dict(zip(lr.sample_dims, np.unravel_index(enc.index, grid), strict=True))
    return lr, enc



def latent_stats(mu: np.ndarray, logvar: np.ndarray, *, active_threshold: float = 0.01) -> pd.DataFrame:
    """Per-dim statistics of encoded samples.

    Parameters
    ----------
    mu, logvar
        (N, latent_dim) posterior parameters.
    active_threshold
        A dim is *active* when the variance of its posterior mean over the samples exceeds
        this (Burda et al., 2016: 0.01).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``latent_dim``: ``mean`` and ``std`` of mu over the samples, ``kl`` (mean
        over samples of the dim's KL from N(0, 1), nats), ``mean_var`` (mean posterior
        variance), ``activity`` (variance of mu), ``active`` (bool). ``attrs["active_units"]``
        counts the active dims; ``attrs["kl_total"]`` sums ``kl``.

    Examples
    --------
    >>> mu = np.array([[1.0, 0.0], [-1.0, 0.0]]); lv = np.zeros((2, 2))
    >>> s = latent_stats(mu, lv)
    >>> s["kl"].tolist(), s["active"].tolist(), s.attrs["active_units"]
    ([0.5, 0.0], [True, False], 1)
    """
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must both be (N, latent_dim), got {mu.shape} and {logvar.shape}")
    kl = 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)
    activity = mu.var(axis=0)
    df = pd.DataFrame({
        "mean": mu.mean(axis=0), "std": mu.std(axis=0), "kl": kl.mean(axis=0),
        "mean_var": np.exp(logvar).mean(axis=0), "activity": activity, "active": activity > active_threshold,
    }, index=pd.RangeIndex(mu.shape[1], name="latent_dim"))
    df.attrs["active_units"] = int(df["active"].sum())
    df.attrs["kl_total"] = float(df["kl"].sum())
    df.attrs["active_threshold"] = active_threshold
    return df


# --------------------------------------------------------------------------------------------
# activations and prototypes


def dim_names(n: int) -> list[str]:
    """Column names of latent dims: ``z0, z1, ...``."""
    return [f"z{i}" for i in range(n)]


def activations(mu: np.ndarray, labels: np.ndarray | None = None, *, sample: np.ndarray | None = None) -> pd.DataFrame:
    """Latents as a table: one row per sample, columns ``sample``, ``label`` (if given), ``z0..``.

    Examples
    --------
    >>> activations(np.eye(2), np.array(["a", "b"])).columns.tolist()
    ['sample', 'label', 'z0', 'z1']
    """
    mu = np.asarray(mu)
    table = pd.DataFrame({"sample": np.arange(len(mu)) if sample is None else np.asarray(sample)})
    if labels is not None:
        table["label"] = np.asarray(labels)
    for name, col in zip(dim_names(mu.shape[1]), mu.T, strict=True):
        table[name] = col
    return table


def describe(table: pd.DataFrame) -> pd.DataFrame:
    """Summary of an :func:`activations` table: one row per latent dim (count, mean, std, min, quartiles, max)."""
    cols = [c for c in table.columns if c.startswith("z") and c[1:].isdigit()]
    return table[cols].describe().T.rename_axis("latent_dim")


def prototypes(mu: np.ndarray, labels: np.ndarray) -> xr.DataArray:
    """Class prototypes: the mean latent of each label.

    Returns
    -------
    xarray.DataArray
        ``(label, latent_dim)``, labels sorted; attr ``count`` lists the samples per label.

    Examples
    --------
    >>> p = prototypes(np.array([[0.0, 2.0], [2.0, 4.0], [5.0, 5.0]]), np.array([1, 1, 0]))
    >>> p.sel(label=1).values.tolist(), p.attrs["count"]
    ([1.0, 3.0], [1, 2])
    """
    mu, labels = np.asarray(mu, np.float64), np.asarray(labels)
    if labels.shape[0] != mu.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {mu.shape[0]} latents")
    uniq = np.unique(labels)
    means = np.stack([mu[labels == u].mean(axis=0) for u in uniq])
    return xr.DataArray(means.astype(np.float32), dims=("label", "latent_dim"),
                        coords={"label": uniq, "latent_dim": np.arange(mu.shape[1])}, name="prototype",
                        attrs={"count": [int((labels == u).sum()) for u in uniq]})


def base_vector(base: str | Sequence[float] | None, protos: xr.DataArray | None, mu: np.ndarray) -> tuple[np.ndarray, str]:
    """A traversal's base vector and its description: given values, a prototype's label, or the mean latent."""
    if base is None or (isinstance(base, str) and base == "mean"):
        return mu.mean(axis=0).astype(np.float32), "mean latent"
    if isinstance(base, str):
        if protos is None:
            raise InputError(None, f"base '{base}' names a prototype, but the samples have no labels")
        labels = [str(v) for v in protos["label"].values]
        if base not in labels:
            raise InputError(None, f"base '{base}' is not a label; labels: {', '.join(labels)}")
        return protos.values[labels.index(base)].astype(np.float32), f"prototype of {base}"
    values = np.asarray(base, np.float32).ravel()
    if values.size != mu.shape[1]:
        raise InputError(None, f"base has {values.size} values, the latent has {mu.shape[1]} dims")
    return values, "given vector"
