"""``vaearr cluster`` and ``vaearr rank``: clustering a latent dim with band contrast, ranking latent dims against references."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.analysis.options import ClusterOptions
from vaearr.cli.common import SCHEDULER, Scheduler, app, option_parameters, store_location
from vaearr.errors import InputError
from vaearr.options import parse_ints, parse_k_range, parsed
from vaearr.store.dask_cluster import dask_client


def cluster(**given: Any) -> None:
    """Cluster (latent dim, band contrast) in the mask; map + scatter figure, CSV, JSON, store variable cluster_TAG."""
    from vaearr.analysis.clustering import joint_cluster
    from vaearr.viz.clustering import cluster_figure_files

    scheduler = given.pop("scheduler")
    options = ClusterOptions(**parsed(ClusterOptions, given))
    with dask_client(scheduler):
        result = joint_cluster(options.store, options)
    cluster_figure_files(result, options.store)
    typer.echo(result.summary())


cluster.__signature__ = inspect.Signature([*option_parameters(ClusterOptions), SCHEDULER])  # type: ignore[attr-defined]
app.command()(cluster)


@app.command()
def rank(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with the latent and the references.")],
    more: Annotated[Optional[list[str]], typer.Argument(help="More references, so '--against elements bandcontrast pca nmf' works.", show_default=False)] = None,
    latent: Annotated[str, typer.Option(help="Latent variable.")] = "latent",
    against: Annotated[Optional[list[str]], typer.Option(help="References: elements, bandcontrast, pca, nmf or any (y, x) variable (repeatable; also space-separated).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for CSV, JSON and figures.")] = Path("out/rank"),
    top: Annotated[int, typer.Option(help="Top-N dims per metric and in the figures.")] = 5,
    mask: Annotated[str, typer.Option(help="Mask variable.")] = "roi",
    metric: Annotated[Optional[list[str]], typer.Option(help="Metrics (repeatable; default all).")] = None,
    trend_order: Annotated[int, typer.Option(help="Polynomial order of the spatial trend removed for partial_pearson.")] = 2,
    components: Annotated[int, typer.Option(help="PCA/NMF components (made when missing).")] = 8,
    k_range: Annotated[str, typer.Option(help="k range for the mixture partitions.")] = "2:8",
    criterion: Annotated[str, typer.Option(help="bic or aic.")] = "bic",
    nan_color: Annotated[str, typer.Option(help="Colour of pixels outside the mask in the maps.")] = "lightgray",
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip the figures.")] = False,
    dims: Annotated[Optional[str], typer.Option(help="Latent dims for the per-dim outputs (scatters, maps, .npy/.csv), e.g. 3,7,12, or 'all'; default --top dims, taken in turn from each reference's ranking.")] = None,
    per_page: Annotated[int, typer.Option(help="Latent maps per page (maps_page1.html, maps_page2.html...).")] = 16,
    seed: Annotated[int, typer.Option(help="Seed of NMF and the mixtures.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Recompute PCA/NMF references that exist.")] = False,
    scheduler: Scheduler = None,
) -> None:
    """References, partition agreement, association metrics and top-N maps for a latent."""
    from vaearr.analysis.ranking import rank_latents
    from vaearr.viz.ranking import rank_figures


    if per_page < 1:
        raise InputError(None, f"--per-page must be at least 1, got {per_page}")
    chosen = "all" if dims is not None and dims.strip().lower() == "all" else parse_ints(dims, "--dims")
    refs = [r for item in [*(against or []), *(more or [])] for r in item.replace(",", " ").split()]
    refs = refs or ["elements", "bandcontrast", "pca", "nmf"]
    with dask_client(scheduler):
        result = rank_latents(
            store, latent=latent, against=refs, out=out, top=top, mask=mask, metrics=metric or None,
            trend_order=trend_order, n_components=components, k_range=parse_k_range(k_range), criterion=criterion,
            seed=seed, overwrite=overwrite, dims=chosen,
        )
    if not no_figures:
        rank_figures(store, result, out, latent=latent, top=top, mask=mask, nan_color=nan_color, per_page=per_page)
    typer.echo(result.summary())
