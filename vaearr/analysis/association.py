"""Association between latent dims and reference maps: seven metrics for every (latent dim, reference) pair.

The metrics, each computed on the pixels of a mask (the ROI):

=========================  ==================================================================
``pearson``                Pearson's r.
``spearman``               Spearman's ρ (Pearson's r of the average ranks).
``kendall``                Kendall's τ-b, O(n log n) (Knight's algorithm, a Fenwick tree).
``mutual_information``     Plug-in mutual information (nats) of the two variables cut into
                           ``mi_bins`` equal-frequency bins (by average rank): exact at any n,
                           equal to :func:`sklearn.metrics.mutual_info_score` of those bins.
``distance_correlation``   Distance correlation (V-statistic, as :func:`dcor.distance_correlation`),
                           O(n log n) for 1-D variables (Huo & Székely, 2016).
``hsic``                   Normalised HSIC (biased, Gaussian kernels, bandwidth = the median
                           pairwise distance: hyppo's ``Hsic(bias=True)`` statistic). Exact
                           O(n²) up to ``hsic_exact_max`` pixels; above it each variable is
                           binned on a fine grid, which turns every kernel sum into a
                           ``bins × bins`` matrix product (an approximation: see
                           ``benchmarks/bench_analysis.py`` for its error).
``partial_pearson``        Pearson's r of the residuals of both variables after a least-squares
                           fit of a polynomial of the pixel coordinates (total degree
                           ``trend_order``), i.e. the association left once a smooth spatial
                           trend shared by both maps is removed.
=========================  ==================================================================

Signed metrics (Pearson, Spearman, Kendall, partial Pearson) are ranked by their absolute value.

The heavy work is per variable (one sort, ranks, row sums of the distance matrix, bins) and is
done once per latent dim and once per reference; the per-pair work is one Fenwick-tree pass
(Kendall and distance covariance together) and a few histogram products.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import dask
import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from vaearr.analysis.metrics import (
    HSIC_EXACT_MAX,
    METRICS,
    SIGNED,
    AssociationOptions,
    compile_kernels,
    pair_metrics,
    prepare,
    trend_basis,
)
from vaearr.errors import InputError
from vaearr.progress import bar

__all__ = ["HSIC_EXACT_MAX", "METRICS", "SIGNED", "AssociationOptions", "association", "association_matrix",
           "association_pair"]


# --------------------------------------------------------------------------------------------
# public API


def association_matrix(
    latent: np.ndarray,
    references: np.ndarray,
    coords: np.ndarray | None = None,
    options: AssociationOptions | None = None,
) -> np.ndarray:
    """Every metric for every (latent column, reference column) pair.

    Parameters
    ----------
    latent
        ``(n, L)`` values of the latent dims on ``n`` pixels (finite).
    references
        ``(n, R)`` values of the references on the same pixels.
    coords
        ``(n, 2)`` pixel coordinates (for ``partial_pearson``); without them it is NaN.
    options
        :class:`AssociationOptions`.

    Returns
    -------
    numpy.ndarray
        ``(L, R, M)``, M the metrics in ``options.metrics`` order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(500, 3)); ref = z[:, [1]] + 0.1 * rng.normal(size=(500, 1))
    >>> a = association_matrix(z, ref, options=AssociationOptions(metrics=("pearson", "kendall")))
    >>> int(np.abs(a[:, 0, 0]).argmax()), int(np.abs(a[:, 0, 1]).argmax())
    (1, 1)
    """
    opts = options or AssociationOptions()
    latent = np.asarray(latent, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    if latent.ndim == 1:
        latent = latent[:, None]
    if references.ndim == 1:
        references = references[:, None]
    n = latent.shape[0]
    if references.shape[0] != n:
        raise InputError(None, f"latent has {n} pixels but the references {references.shape[0]}")
    if n < 3:
        raise InputError(None, f"need at least 3 pixels to associate, got {n}")
    if not (np.isfinite(latent).all() and np.isfinite(references).all()):
        raise InputError(None, "latent and references must be finite on the pixels given (select the mask first)")
    q, refs = _prepare_references(references, coords, opts)
    return _matrix(latent, refs, q, opts)


def _prepare_references(references: np.ndarray, coords: np.ndarray | None, opts: AssociationOptions) -> tuple:
    """The trend basis and every reference column prepared for the metrics (:func:`prepare`), once."""
    q = trend_basis(coords, opts.trend_order) if coords is not None and "partial_pearson" in opts.metrics else None
    return q, [prepare(references[:, r], opts, q, side="y") for r in range(references.shape[1])]


def _matrix(latent: np.ndarray, refs: list, q: np.ndarray | None, opts: AssociationOptions) -> np.ndarray:
    """``(L, R, M)`` metrics of the finite ``(n, L)`` latent against prepared references."""
    n = latent.shape[0]
    out = np.full((latent.shape[1], len(refs), len(opts.metrics)), np.nan)

    def one(li: int) -> None:
        a = prepare(latent[:, li], opts, q, side="x")
        for ri, b in enumerate(refs):
            vals = pair_metrics(a, b, n, opts)
            out[li, ri] = [vals[m] for m in opts.metrics]

    workers = opts.workers or os.cpu_count() or 1
    dims = bar(range(latent.shape[1]), desc="rank: latent dims", unit="dim")
    if workers == 1 or latent.shape[1] == 1:
        for li in dims:
            one(li)
    else:
        compile_kernels()

        # the pool already keeps every core busy: BLAS threads inside it would only compete
        with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, dims))
    return out


def association_pair(x: np.ndarray, y: np.ndarray, metric: str, coords: np.ndarray | None = None,
                     **options) -> float:
    """One metric for two 1-D variables (see :func:`association_matrix`).

    Examples
    --------
    >>> x = np.arange(10.0); association_pair(x, x ** 3, "spearman")
    1.0
    """
    opts = AssociationOptions(metrics=(metric,), workers=1, **options)
    return float(association_matrix(np.asarray(x)[:, None], np.asarray(y)[:, None], coords, opts)[0, 0, 0])


def _association_block(x: np.ndarray, *, prepared: tuple, opts: AssociationOptions) -> np.ndarray:
    """``(..., L_block, pixel)`` latent values → ``(..., L_block, R, M)``: one dask block of :func:`association`.

    ``prepared`` is :func:`_prepare_references` of the references, made once and shared by every
    block (on a 1M-pixel map each prepared reference is about a dozen arrays of n values)."""
    lead = x.shape[:-1]
    flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
    q, refs = prepared
    out = _matrix(flat.T, refs, q, opts)
    return out.reshape(*lead, len(refs), len(opts.metrics))


def association(
    latent: xr.DataArray,
    references: xr.DataArray,
    mask: xr.DataArray,
    *,
    latent_dim: str = "latent_dim",
    reference_dim: str = "reference",
    spatial_dims: tuple[str, str] = ("y", "x"),
    options: AssociationOptions | None = None,
    block_dims: int | None = None,
    scheduler: str | None = "threads",
) -> xr.DataArray:
    """``association(latent_dim, reference, metric)`` over the pixels of ``mask``.

    An xarray reduction over the pixels, run on dask chunks of ``latent_dim``
    (:func:`xarray.apply_ufunc` with ``dask="parallelized"``): each block of latent dims is
    scored against every reference on its own, so blocks run in parallel (the compiled
    kernels release the GIL) and a dim's result does not depend on the blocking.

    Parameters
    ----------
    latent
        ``(y, x, latent_dim)`` latents (NaN outside their mask is fine); numpy- or dask-backed.
    references
        ``(reference, y, x)`` reference maps (see :func:`vaearr.maps.decomposition.references.reference_maps`).
    mask
        Bool ``(y, x)``: the pixels used. Pixels where any latent or reference is NaN are
        left out too (the count used is in the ``n_pixels`` attr).
    latent_dim, reference_dim, spatial_dims
        Dim names.
    options
        :class:`AssociationOptions` (``workers``: dask threads; 0 = every core).
    block_dims
        Latent dims per dask block (default: enough blocks for two per worker thread).
    scheduler
        Dask scheduler for the blocks (``"threads"``; ``None`` uses dask's current default,
        e.g. a ``distributed.Client``); ``"sync"`` runs them one after the other.

    Returns
    -------
    xarray.DataArray
        float64, coords ``latent_dim``, ``reference`` (names), ``metric``.
    """

    opts = options or AssociationOptions()
    workers = opts.workers or os.cpu_count() or 1
    ydim, xdim = spatial_dims
    lat = latent.transpose(latent_dim, ydim, xdim)
    ref = references.transpose(reference_dim, ydim, xdim)
    m = np.asarray(mask.transpose(ydim, xdim).values, dtype=bool)
    rv = np.moveaxis(np.asarray(ref.values, dtype=np.float64), 0, -1)[m]  # (n, R)
    # the pixels used: in the mask, every reference and every latent dim finite (one pass over the latent)
    lat_finite = np.asarray(np.isfinite(lat).all(latent_dim).values, dtype=bool)[m]
    keep = lat_finite & np.isfinite(rv).all(1)
    yy, xx = np.meshgrid(np.asarray(lat[ydim].values, float) if ydim in lat.coords else np.arange(lat.sizes[ydim], dtype=float),
                         np.asarray(lat[xdim].values, float) if xdim in lat.coords else np.arange(lat.sizes[xdim], dtype=float),
                         indexing="ij")
    coords = np.stack([xx[m], yy[m]], axis=1)[keep]
    pixels = np.flatnonzero(m.ravel())[keep]
    n_dims = lat.sizes[latent_dim]
    block = block_dims or max(1, -(-n_dims // (2 * workers)))
    stacked = lat.stack(pixel=(ydim, xdim)).drop_vars([ydim, xdim, "pixel"], errors="ignore")
    # bring the latent into blocks of dims, every used pixel in one chunk (a reduction over pixels)
    lat_px = stacked.isel(pixel=pixels).chunk({latent_dim: block, "pixel": -1})
    if keep.sum() < 3:
        raise InputError(None, f"need at least 3 pixels to associate, got {int(keep.sum())}")
    compile_kernels()
    per_block = AssociationOptions(metrics=opts.metrics, trend_order=opts.trend_order, mi_bins=opts.mi_bins,
                                   hsic_bins=opts.hsic_bins, hsic_exact_max=opts.hsic_exact_max, workers=1)
    prepared = _prepare_references(rv[keep], coords, per_block)
    lazy = xr.apply_ufunc(
        _association_block, lat_px,
        input_core_dims=[["pixel"]], output_core_dims=[[reference_dim, "metric"]],
        dask="parallelized", output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {reference_dim: rv.shape[1], "metric": len(opts.metrics)}},
        kwargs={"prepared": prepared, "opts": per_block},
    )

    with threadpool_limits(1):  # the dask threads keep the cores busy: no BLAS threads inside them
        if scheduler is None:
            values = lazy.values
        else:
            with dask.config.set(scheduler=scheduler, num_workers=workers):
                values = lazy.values
    out = xr.DataArray(
        values, dims=(latent_dim, reference_dim, "metric"),
        coords={latent_dim: lat[latent_dim].values if latent_dim in lat.coords else np.arange(n_dims),
                reference_dim: [str(v) for v in ref[reference_dim].values], "metric": list(opts.metrics)},
        name="association",
    )
    out.attrs.update({"n_pixels": int(keep.sum()), "trend_order": opts.trend_order, "mi_bins": opts.mi_bins,
                      "hsic": "exact" if keep.sum() <= opts.hsic_exact_max else f"binned ({opts.hsic_bins} grid points)",
                      "signed_metrics": ",".join(m for m in opts.metrics if m in SIGNED)})
    return out
