"""``vaearr cluster`` and ``vaearr rank``: clustering a latent dim with band contrast, ranking latent dims against references."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import (
    Scheduler,
    app,
    parse_floats,
    parse_ints,
    parse_k_range,
    parse_names,
    store_location,
)
from vaearr.errors import InputError
from vaearr.store.dask_cluster import dask_client


@app.command()
def cluster(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with the latent and band contrast.")],
    latent: Annotated[str, typer.Option(help="Latent variable.")] = "latent",
    dim: Annotated[int, typer.Option(help="Latent dim (its latent_dim coordinate) to cluster.")] = 0,
    with_var: Annotated[Optional[str], typer.Option("--with", help="Second feature; 'none' for the latent alone.")] = "bandcontrast",
    method: Annotated[str, typer.Option(help="gmm, kmeans, dbscan or hdbscan.")] = "gmm",
    mask: Annotated[str, typer.Option(help="Mask variable ('none': every pixel).")] = "roi",
    x: Annotated[Optional[str], typer.Option("--x", help="x window A:B in µm (instead of a mask).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="y window C:D in µm.")] = None,
    latent_vector: Annotated[Optional[Path], typer.Option(help="NPY/CSV of latent values on the mask's pixels.")] = None,
    bc_vector: Annotated[Optional[Path], typer.Option(help="NPY/CSV of band contrast on the mask's pixels.")] = None,
    k: Annotated[Optional[int], typer.Option(help="Clusters (gmm, kmeans); without it gmm picks k by --criterion, kmeans by silhouette, over --k-range.")] = None,
    k_range: Annotated[str, typer.Option(help="k range for the automatic choice of k.")] = "2:8",
    criterion: Annotated[str, typer.Option(help="gmm's choice of k: bic or aic.")] = "bic",
    eps: Annotated[Optional[float], typer.Option(help="DBSCAN radius (standardised units); default: the elbow of the sorted k-distances (printed).")] = None,
    min_samples: Annotated[Optional[int], typer.Option(help="DBSCAN/HDBSCAN core size (default: 10 for DBSCAN, --min-cluster-size for HDBSCAN). HDBSCAN's memory grows as pixels × this: a 1M-pixel map took 14.8 GB at 2000, 0.7 GB at 20.")] = None,
    min_cluster_size: Annotated[int, typer.Option(help="HDBSCAN smallest cluster.")] = 20,
    cluster_selection_epsilon: Annotated[float, typer.Option(help="HDBSCAN: merge clusters closer than this (standardised units).")] = 0.0,
    colors: Annotated[Optional[str], typer.Option(help="Cluster colours, largest cluster first: names or hex codes, e.g. red,#00ff00,blue.")] = None,
    shade_clip: Annotated[str, typer.Option(help="Percentiles of each cluster's latent values spanning its dark → light shading.")] = "2:98",
    seed: Annotated[int, typer.Option(help="Seed (gmm, kmeans).")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the figure, CSV and JSON.")] = Path("out/cluster"),
    tag: Annotated[Optional[str], typer.Option(help="Tag in the output file names (default METHOD_dimDIM, e.g. kmeans_dim3).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Store variable for the labels (default cluster_TAG).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the store variable.")] = False,
    scheduler: Scheduler = None,
) -> None:
    """Cluster (latent dim, band contrast) in the mask; map + scatter figure, CSV, JSON, store variable cluster_TAG."""
    from vaearr.analysis.clustering import joint_cluster
    from vaearr.maps.roi import parse_range
    from vaearr.viz.clustering import cluster_figure_files

    clip = parse_floats(shade_clip.replace(":", ","), "--shade-clip")
    if len(clip) != 2:
        raise InputError(None, f"--shade-clip takes two percentiles like 2:98, got '{shade_clip}'")
    with dask_client(scheduler):
        result = joint_cluster(
            store, latent=latent, dim=dim, with_var=None if (with_var or "").lower() == "none" else with_var,
            method=method, mask=None if mask.lower() == "none" else mask,
            x_range=parse_range(x) if x else None, y_range=parse_range(y) if y else None,
            latent_vector=latent_vector, bc_vector=bc_vector, out=out, tag=tag, name=name, k=k,
            k_range=parse_k_range(k_range), criterion=criterion.lower(), eps=eps, min_samples=min_samples,
            min_cluster_size=min_cluster_size, cluster_selection_epsilon=cluster_selection_epsilon,
            colors=parse_names(colors), shade_clip=tuple(clip), seed=seed, overwrite=overwrite,
        )
    cluster_figure_files(result, store)
    typer.echo(result.summary())


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
