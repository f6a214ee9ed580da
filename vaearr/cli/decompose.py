"""``vaearr decompose``: PCA, NMF or constrained NMF of the patterns as references (weights and components)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import Scheduler, app, parse_k_range, store_location


@app.command()
def decompose(
    store: Annotated[Path, typer.Argument(parser=store_location, help="Store with the patterns (and the mask).")],
    method: Annotated[str, typer.Option(help="pca, nmf or cnmf (NMF with components fixed to reference patterns).")] = "cnmf",
    components: Annotated[str, typer.Option(help="Number of components (cnmf: fixed + free), or 'auto'.")] = "auto",
    references: Annotated[Optional[str], typer.Option(help="cnmf: 'auto' or pixel row,column pairs 'y,x;y,x;…'.")] = None,
    mask: Annotated[str, typer.Option(help="Mask variable ('none': every pixel).")] = "roi",
    name: Annotated[Optional[str], typer.Option(help="Variable prefix: {name}_weights, {name}_components (default: the method).")] = None,
    var: Annotated[str, typer.Option(help="Variable to decompose.")] = "patterns",
    k_range: Annotated[str, typer.Option(help="k range for the BIC choice of automatic cnmf references.")] = "2:8",
    max_components: Annotated[int, typer.Option(help="Largest number of components the 'auto' scree looks at.")] = 20,
    max_fit: Annotated[int, typer.Option(help="Pixels in the fit sample (at most).")] = 20000,
    seed: Annotated[int, typer.Option(help="Seed of the fit sample, PCA, NMF and the mixture.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the variables if they exist.")] = False,
    scheduler: Scheduler = None,
) -> None:
    """Decompose the patterns in the mask; write {name}_weights(y, x, {name}_component) and {name}_components."""
    from vaearr.errors import InputError
    from vaearr.maps.decompose import parse_references, write_decomposition
    from vaearr.maps.decompositions import DECOMPOSITIONS
    from vaearr.store.dask_cluster import dask_client

    n: int | str = "auto"
    if components.strip().lower() != "auto":
        try:
            n = int(components)
        except ValueError:
            raise InputError(None, f"--components takes a number or 'auto', got '{components}'") from None
    refs = parse_references(references)
    if refs is None and method in DECOMPOSITIONS and DECOMPOSITIONS[method].takes_references:
        refs = "auto"  # recorded as the choice made
    with dask_client(scheduler):
        result = write_decomposition(
            store, method=method, var=var, mask=None if mask.lower() == "none" else mask, components=n,
            references=refs, name=name, k_range=parse_k_range(k_range), max_components=max_components, seed=seed,
            max_fit=max_fit, overwrite=overwrite,
        )
    typer.echo(result.summary())
