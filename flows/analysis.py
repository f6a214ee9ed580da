"""Prefect flows analyze-latents, cluster-latents, decompose-patterns and find-boundaries; analyze/cluster tasks run on a dask.distributed cluster when given one."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from flows.params import keyword, options_flow
from vaearr.analysis.clustering import joint_cluster
from vaearr.analysis.options import ClusterOptions
from vaearr.analysis.ranking import association_block, rank_latents
from vaearr.maps.boundaries import find_boundaries
from vaearr.maps.decompose import write_decomposition
from vaearr.maps.options import DecomposeOptions
from vaearr.maps.references import write_references
from vaearr.options import build
from vaearr.store import open_store
from vaearr.viz.boundaries import boundary_files
from vaearr.viz.clustering import cluster_figure_files
from vaearr.viz.ranking import rank_figures


def _runner(scheduler: str | None):
    """prefect-dask's DaskTaskRunner on the given scheduler, or Prefect's default thread pool."""
    if scheduler:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=scheduler)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=1)


@task(name="references")
def references_task(store: str, methods: list[str], **kwargs: Any) -> dict:
    return write_references(store, methods=methods, **kwargs)


@task(name="association-block")
def association_task(store: str, **kwargs: Any):
    return association_block(store, **kwargs)


@task(name="rank-latents")
def rank_task(store: str, figures: bool = True, nan_color: str = "lightgray", per_page: int = 16, **kwargs: Any) -> dict:
    result = rank_latents(store, **kwargs)
    if figures:
        rank_figures(store, result, kwargs.get("out", "out/rank"), latent=kwargs.get("latent", "latent"),
                     top=kwargs.get("top", 5), mask=kwargs.get("mask", "roi"), nan_color=nan_color, per_page=per_page)
    return {"summary": result.summary(), "files": {k: str(v) for k, v in result.files.items()},
            "figures": [str(p) for p in result.figures], "n_pixels": result.association.attrs.get("n_pixels")}


@task(name="joint-cluster")
def cluster_task(options: ClusterOptions) -> dict:
    result = joint_cluster(options.store, options)
    cluster_figure_files(result, options.store)
    return {"counts": result.counts, "params": result.params, "files": {k: str(v) for k, v in result.files.items()},
            "variable": result.variable, "summary": result.summary()}


def _analyze(store: str, latent: str, against: list[str], out: str, top: int, mask: str, n_components: int,
             trend_order: int, figures: bool, seed: int, overwrite: bool, block_dims: int, block_workers: int,
             dims: list[int] | None = None, per_page: int = 16) -> dict:
    ds = open_store(store)
    missing = [m for m in ("pca", "nmf") if m in against and (m not in ds or overwrite)]
    refs = references_task.submit(store, missing, mask=mask, n_components=n_components, seed=seed,
                                  overwrite=overwrite) if missing else None
    # the association, the heavy part, as blocks of latent dims: one task each, on the dask workers
    n_dims = ds[latent].sizes.get("latent_dim", 1) if latent in ds else 1
    step = max(1, int(block_dims))
    blocks = [association_task.submit(store, latent=latent, against=against, mask=mask,
                                      dims=list(range(i, min(i + step, n_dims))), trend_order=trend_order,
                                      workers=block_workers, wait_for=[refs] if refs is not None else None)
              for i in range(0, n_dims, step)] if latent in ds else None
    ranked = rank_task.submit(store, latent=latent, against=against, out=out, top=top, mask=mask,
                              n_components=n_components, trend_order=trend_order, figures=figures, seed=seed,
                              association_result=blocks, dims=dims, per_page=per_page,
                              wait_for=[refs] if refs is not None else None)
    return {"references": refs.result() if refs is not None else None, **ranked.result()}


@flow(name="analyze-latents", log_prints=True)
def analyze_latents(
    store: str,
    latent: str = "latent",
    against: list[str] | None = None,
    out: str = "out/rank",
    top: int = 5,
    mask: str = "roi",
    n_components: int = 8,
    trend_order: int = 2,
    figures: bool = True,
    seed: int = 0,
    overwrite: bool = False,
    scheduler: str | None = None,
    block_dims: int = 8,
    dims: list[int] | None = None,
    per_page: int = 16,
) -> dict:
    """References, partition agreement, associations and maps for a latent (``vaearr rank``).

    ``scheduler``: address of a dask.distributed scheduler (``tcp://host:8786``); the tasks
    then run on its workers (prefect-dask). Without it they run in this process.
    The association is computed in blocks of ``block_dims`` latent dims, one task per block
    (on a cluster each task uses one thread: the workers give the parallelism).
    ``dims`` / ``per_page``: the dims with per-dim outputs and the maps per page (``vaearr rank --dims --per-page``).
    """
    inner = flow(name="analyze-latents-tasks", task_runner=_runner(scheduler))(_analyze)
    summary = inner(store, latent, list(against or ["elements", "bandcontrast", "pca", "nmf"]), out, top, mask,
                    n_components, trend_order, figures, seed, overwrite, block_dims, 1 if scheduler else 0,
                    dims, per_page)
    print(summary["summary"])
    return summary


def _cluster(options: ClusterOptions) -> dict:
    return cluster_task.submit(options).result()


def _cluster_latents(**params: Any) -> dict:
    """Joint clustering of a latent dim with band contrast (``vaearr cluster``) into ``cluster_{tag}``; its
    parameters are the fields of :class:`vaearr.analysis.options.ClusterOptions` and ``scheduler`` (see
    ``analyze-latents``)."""
    scheduler = params.pop("scheduler")
    inner = flow(name="cluster-latents-tasks", task_runner=_runner(scheduler))(_cluster)
    summary = inner(build(ClusterOptions, params))
    print(summary["summary"])
    return summary


cluster_latents = options_flow("cluster-latents", ClusterOptions, _cluster_latents,
                               extra=[keyword("scheduler", str | None, None)])


def _decompose_patterns(**params: Any) -> dict:
    """PCA, NMF or constrained NMF of the patterns into ``{name}_weights`` / ``{name}_components`` (``vaearr
    decompose``); its parameters are the fields of :class:`vaearr.maps.options.DecomposeOptions`."""
    options = build(DecomposeOptions, params)
    result = write_decomposition(options.store, options)
    print(result.summary())
    return {"variables": list(result.variables), "attrs": {k: v for k, v in result.attrs.items()
                                                           if isinstance(v, str | int | float | list)}}


decompose_patterns = options_flow("decompose-patterns", DecomposeOptions, _decompose_patterns)


@flow(name="find-boundaries", log_prints=True)
def boundaries_flow(
    store: str,
    source: str = "patterns",
    mask: str = "roi",
    gb_threshold: float | None = None,
    lagb_threshold: float | None = None,
    lagb_low: float = 5.0,
    lagb_min_length: int = 5,
    figures: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Boundary strength, grain and low-angle boundary masks and the grain size (``vaearr boundaries``)."""
    found = find_boundaries(store, source=source, mask=mask, gb_threshold=gb_threshold, lagb_threshold=lagb_threshold,
                            lagb_low=lagb_low, lagb_min_length=lagb_min_length, overwrite=overwrite)
    files = boundary_files(found, figures or None)
    print(found.summary())
    return {"attrs": {k: v for k, v in found.attrs.items() if isinstance(v, str | int | float)},
            "files": {k: str(v) for k, v in files.items()}}


FLOWS = (analyze_latents, cluster_latents, decompose_patterns, boundaries_flow)
