"""``vaearr cluster`` and ``vaearr rank``: clustering a latent dim with band contrast, ranking latent dims against references."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Annotated, Any, Optional

import typer

from vaearr.analysis.options import ClusterOptions, RankOptions
from vaearr.cli.common import DASK, app, figure_command, typer_parameters, resolved_mask
from vaearr.options import FigureOptions, made, writable_folders
from vaearr.store.dask_cluster import dask_client


def cluster(figure_options: FigureOptions, **given: Any) -> None:
    """Cluster (latent dim, band contrast) in the mask; map + scatter figure, CSV, JSON, store variable cluster_TAG."""
    dask = given.pop("dask")
    options = made(ClusterOptions, given)
    writable_folders(out=options.out)
    from vaearr.analysis.clustering import joint_cluster
    from vaearr.viz.clustering import cluster_figure_files

    if options.x_range is None and options.y_range is None:
        options = dataclasses.replace(options, mask=resolved_mask(options.store, options.mask))
    with dask_client(dask):
        result = joint_cluster(options.store, options)
    cluster_figure_files(result, options.store, figures=figure_options)
    typer.echo(result.summary())


cluster.__signature__ = inspect.Signature([*typer_parameters(ClusterOptions), DASK])  # type: ignore[attr-defined]
app.command()(figure_command(cluster))


#: ``vaearr rank STORE elements bandcontrast``: references given after the store, as well as with --against.
MORE = inspect.Parameter("more", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[
    Optional[list[str]], typer.Argument(help="More references, so '--against elements bandcontrast pca nmf' works.",
                                        show_default=False)])


def rank(figure_options: FigureOptions, **given: Any) -> None:
    """References, partition agreement, association metrics and top-N maps for a latent."""
    dask, more = given.pop("dask"), given.pop("more")
    given["against"] = [*(given.get("against") or []), *(more or [])]
    o = made(RankOptions, given)
    writable_folders(out=o.out)
    from vaearr.analysis.ranking import rank_latents
    from vaearr.viz.ranking import rank_figures

    o = dataclasses.replace(o, mask=resolved_mask(o.store, o.mask))
    with dask_client(dask):
        result = rank_latents(o.store, o)
    if o.figures:
        rank_figures(o.store, result, o.out, latent=o.var, top=o.top, mask=o.mask, nan_color=o.nan_color,
                     per_page=o.per_page, figures=figure_options)
    typer.echo(result.summary())


rank.__signature__ = inspect.Signature([*typer_parameters(RankOptions)[:1], MORE, *typer_parameters(RankOptions)[1:],  # type: ignore[attr-defined]
                                        DASK])
app.command()(figure_command(rank))
