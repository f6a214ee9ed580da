"""Prefect flows analyze-latents, cluster-latents, decompose-patterns, find-boundaries, segment-map and spread-map; analyze/cluster tasks run on a dask.distributed cluster when given one."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows.params import keyword, options_flow
from vaearr.analysis.clustering import joint_cluster
from vaearr.analysis.options import ClusterOptions, RankOptions
from vaearr.analysis.ranking import association_block, missing_references, rank_latents
from vaearr.maps.boundaries.boundaries import find_boundaries
from vaearr.maps.decomposition.decompose import write_decomposition
from vaearr.maps.options import BoundariesOptions, DecomposeOptions, SegmentOptions, SpreadOptions
from vaearr.maps.decomposition.references import write_references
from vaearr.maps.segmentation.segment import segment_store
from vaearr.maps.deformation.spread import spread_store
from vaearr.options import DEFAULT_FIGURES, FigureOptions, build, writable_folders
from vaearr.store import open_store
from vaearr.viz.boundaries import boundary_files
from vaearr.viz.clustering import cluster_figure_files
from vaearr.viz.ranking import rank_figures
from vaearr.viz.segment import figure_folder, segment_files
from vaearr.viz.spread import spread_files


def _runner(dask: str | None):
    """prefect-dask's DaskTaskRunner on the scheduler at ``dask``, or Prefect's default thread pool."""
    if dask:
        from prefect_dask import DaskTaskRunner  # noqa: PLC0415 - prefect-dask and distributed load only for a scheduler

        return DaskTaskRunner(address=dask)
    return ThreadPoolTaskRunner(max_workers=1)


@task(name="references")
def references_task(store: str, methods: list[str], **kwargs: Any) -> dict:
    return write_references(store, methods=methods, **kwargs)


@task(name="association-block")
def association_task(store: str, **kwargs: Any):
    return association_block(store, **kwargs)


@task(name="rank-latents")
def rank_task(options: RankOptions, association_result: Any = None, figures: FigureOptions = DEFAULT_FIGURES) -> dict:
    result = rank_latents(options.store, options, association_result=association_result)
    if options.figures:
        rank_figures(options.store, result, options.out, latent=options.var, top=options.top,
                     mask=options.mask, nan_color=options.nan_color, per_page=options.per_page, figures=figures)
    return {"summary": result.summary(), "files": {k: str(v) for k, v in result.files.items()},
            "figures": [str(p) for p in result.figures], "n_pixels": result.association.attrs.get("n_pixels")}


@task(name="joint-cluster")
def cluster_task(options: ClusterOptions, figures: FigureOptions = DEFAULT_FIGURES) -> dict:
    result = joint_cluster(options.store, options)
    cluster_figure_files(result, options.store, figures=figures)
    return {"counts": result.counts, "params": result.params, "files": {k: str(v) for k, v in result.files.items()},
            "variable": result.variable, "summary": result.summary()}


def _analyze(o: RankOptions, block_dims: int, block_workers: int, figures: FigureOptions) -> dict:
    ds = open_store(o.store)
    missing = missing_references(ds, o.against, overwrite=o.overwrite)
    n_dims = ds[o.var].sizes.get(o.latent_dim, 1) if o.var in ds else 1
    has_latent = o.var in ds
    refs = references_task.submit(o.store, missing, mask=o.mask, n_components=o.n_components, k_range=o.k_range,
                                  criterion=o.criterion, seed=o.seed, overwrite=o.overwrite) if missing else None
    # the association, the heavy part, as blocks of latent dims: one task each, on the dask workers
    step = max(1, int(block_dims))
    blocks = [association_task.submit(o.store, latent=o.var, against=list(o.against), mask=o.mask,
                                      dims=list(range(i, min(i + step, n_dims))), metrics=o.metrics,
                                      trend_order=o.trend_order, workers=block_workers,
                                      wait_for=[refs] if refs is not None else None)
              for i in range(0, n_dims, step)] if has_latent else None
    ranked = rank_task.submit(o, association_result=blocks, figures=figures,
                              wait_for=[refs] if refs is not None else None)
    return {"references": refs.result() if refs is not None else None, **ranked.result()}


def _analyze_latents(**params: Any) -> dict:
    """References, partition agreement, associations and maps for a latent (``vaearr rank``); its parameters are
    the fields of :class:`vaearr.analysis.options.RankOptions`, ``dask`` and ``block_dims``.

    ``dask``: address of a dask.distributed scheduler (``tcp://host:8786``); the tasks
    then run on its workers (prefect-dask). Without it they run in this process.
    The association is computed in blocks of ``block_dims`` latent dims, one task per block
    (on a cluster each task uses one thread: the workers give the parallelism).
    """
    dask, block_dims, figures = params.pop("dask"), params.pop("block_dims"), params.pop("figure_options")
    options = build(RankOptions, params)
    options.check()
    writable_folders(out=options.out)  # before the references are committed
    inner = flow(name="analyze-latents-tasks", task_runner=_runner(dask))(_analyze)
    summary = inner(options, block_dims, 1 if dask else 0, figures)
    print(summary["summary"])
    return summary


analyze_latents = options_flow("analyze-latents", RankOptions, _analyze_latents, figures=True,
                               extra=[keyword("dask", str | None, None), keyword("block_dims", int, 8)])


def _cluster(options: ClusterOptions, figures: FigureOptions) -> dict:
    return cluster_task.submit(options, figures=figures).result()


def _cluster_latents(**params: Any) -> dict:
    """Joint clustering of a latent dim with band contrast (``vaearr cluster``) into ``cluster_{tag}``; its
    parameters are the fields of :class:`vaearr.analysis.options.ClusterOptions` and ``dask`` (see
    ``analyze-latents``)."""
    dask, figures = params.pop("dask"), params.pop("figure_options")
    inner = flow(name="cluster-latents-tasks", task_runner=_runner(dask))(_cluster)
    options = build(ClusterOptions, params)
    options.check()
    writable_folders(out=options.out)  # before the labels are committed
    summary = inner(options, figures)
    print(summary["summary"])
    return summary


cluster_latents = options_flow("cluster-latents", ClusterOptions, _cluster_latents, figures=True,
                               extra=[keyword("dask", str | None, None)])


def _decompose_patterns(**params: Any) -> dict:
    """PCA, NMF or constrained NMF of the patterns into ``{name}_weights`` / ``{name}_components`` (``vaearr
    decompose``); its parameters are the fields of :class:`vaearr.maps.options.DecomposeOptions`."""
    options = build(DecomposeOptions, params)
    result = write_decomposition(options.store, options)
    print(result.summary())
    return {"variables": list(result.variables), "attrs": {k: v for k, v in result.attrs.items()
                                                           if isinstance(v, str | int | float | list)}}


decompose_patterns = options_flow("decompose-patterns", DecomposeOptions, _decompose_patterns)


def _find_boundaries(**params: Any) -> dict:
    """Boundary strength, grain and low-angle boundary masks and the grain size (``vaearr boundaries``); its
    parameters are the fields of :class:`vaearr.maps.options.BoundariesOptions` (``out``: the figure's folder,
    default ``STORE_boundaries``)."""
    figures = params.pop("figure_options")
    options = build(BoundariesOptions, params)
    options.check()
    folder = figure_folder(options.store, options.out, "boundaries")  # proven writable before the store is written
    found = find_boundaries(options.store, options)
    files = boundary_files(found, folder, figures=figures)
    print(found.summary())
    return {"attrs": {k: v for k, v in found.attrs.items() if isinstance(v, str | int | float)},
            "files": {k: str(v) for k, v in files.items()}}


boundaries_flow = options_flow("find-boundaries", BoundariesOptions, _find_boundaries, figures=True)


def _segment_map(**params: Any) -> dict:
    """Grains and sub-grains as regions of a feature map (``vaearr segment``) into ``{name}``, ``{name}_grains``,
    ``{name}_boundaries``; its parameters are the fields of :class:`vaearr.maps.options.SegmentOptions` and
    ``out`` (the figure's folder)."""
    out, figures = params.pop("out"), params.pop("figure_options")
    options = build(SegmentOptions, params)
    options.check()
    folder = figure_folder(options.store, out)
    result = segment_store(options.store, options)
    files = segment_files(result, folder, figures=figures)
    print(result.summary())
    return {"regions": result.segmentation.n_regions, "grains": result.segmentation.n_grains,
            "files": {k: str(v) for k, v in files.items()}}


segment_map = options_flow("segment-map", SegmentOptions, _segment_map, figures=True,
                           extra=[keyword("out", str | None, None)])



def _spread_map(**params: Any) -> dict:
    """Kernel and domain spreads of a feature map over a segmentation's grains and the recrystallised mask
    (``vaearr spread``); its parameters are the fields of :class:`vaearr.maps.options.SpreadOptions` and ``out`` (the
    figure's folder)."""
    out, figures = params.pop("out"), params.pop("figure_options")
    options = build(SpreadOptions, params)
    options.check()
    folder = figure_folder(options.store, out, suffix="spread")
    result = spread_store(options.store, options)
    files = spread_files(result, folder, figures=figures)
    print(result.summary())
    return {"regions": result.spread.info["regions_measured"], "recrystallised_fraction": result.spread.recrystallised_fraction,
            "files": {k: str(v) for k, v in files.items()}}


spread_map = options_flow("spread-map", SpreadOptions, _spread_map, figures=True,
                          extra=[keyword("out", str | None, None)])

FLOWS = (analyze_latents, cluster_latents, decompose_patterns, boundaries_flow, segment_map, spread_map)
