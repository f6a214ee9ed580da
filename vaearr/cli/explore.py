"""``vaearr explore``, ``vaearr layers`` and ``vaearr explore-map``: latent-space exploration of a run, its decoder
layers compared, the map explorer served (their options: :class:`~vaearr.analysis.options.ExploreOptions`,
:class:`~vaearr.analysis.options.LayersOptions`, :class:`~vaearr.analysis.options.ExploreMapOptions`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.analysis.options import ExploreMapOptions, ExploreOptions, LayersOptions
from vaearr.cli.common import app, figure_command, typer_parameters
from vaearr.errors import InputError
from vaearr.options import FigureOptions, made, writable_folders


#: The command-line parameters of ``vaearr explore`` that are not :class:`ExploreOptions` fields: image files
#: through the run instead of a store, and the served explorer.
EXTRA = (
    inspect.Parameter("image", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[list[Path]], typer.Option("--image", help="Image file to reconstruct, read as the run's store images "
                                                           "were (repeatable; two are also interpolated).")]),
    inspect.Parameter("interpolate", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[tuple[Path, Path]], typer.Option(help="Two image files to interpolate between (and reconstruct).")]),
    inspect.Parameter("serve", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option("--serve", help="Serve the interactive explorer (one slider per latent dim) instead.")]),
    inspect.Parameter("port", inspect.Parameter.KEYWORD_ONLY, default=5006, annotation=Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the served explorer (0: a free one, printed).")]),
)


def explore(figure_options: FigureOptions, **given: Any) -> None:
    """Latent-space exploration of a run: quality, prior, interpolation, prototypes, traversals, manifold,
    embeddings, projector files; or image files through the run (--image, --interpolate)."""
    image, interpolate, serve, port = (given.pop(k) for k in ("image", "interpolate", "serve", "port"))
    o = made(ExploreOptions, given)
    files = [*(image or []), *(interpolate or ())]
    if image and interpolate:  # said before the seconds of the library's imports
        raise InputError(None, "give --image files or --interpolate A B, not both")
    if not files and o.store is None:
        raise InputError(None, "give a STORE (or --image / --interpolate files)")
    from vaearr.viz.explore import explore as run_explore
    from vaearr.viz.explore import explore_files
    from vaearr.viz.latent_explorer import explorer_for_run

    if files:
        out = Path("out/explore") if o.out is None else o.out  # no store: out/<command>
        writable_folders(out=out)
        result = explore_files(o.run, files, out, steps=10 if o.steps is None else o.steps,
                               metric_range=o.metric_range, checkpoint=o.checkpoint, device=o.device,
                               figures=figure_options)
        typer.echo(result.describe())
        return
    if serve:
        app_ = explorer_for_run(o.store, o.run, base=o.base, n=o.n, seed=o.seed, label=o.label, device=o.device)
        app_.serve(port, announce=typer.echo)
        return
    writable_folders(out=o.out)  # STORE_explore when not given (ExploreOptions)
    typer.echo(run_explore(o.store, o.run, o.out, o, figures=figure_options).describe())


explore.__signature__ = inspect.Signature([*typer_parameters(ExploreOptions), *EXTRA])  # type: ignore[attr-defined]
app.command()(figure_command(explore))


def layers(figure_options: FigureOptions, **given: Any) -> None:
    """Compare decoder layer activations of two inputs (--img1/--img2) or of matched pairs (--folder), through a run or a pretrained SD VAE (--weights)."""
    o = made(LayersOptions, given)
    writable_folders(out=o.out)  # proven writable, left as found: a bad --weights leaves no empty folder
    from vaearr.viz.layers import compare_folder, compare_images, layer_model

    model = layer_model(o.run, weights=o.weights, size=o.size, checkpoint=o.checkpoint, device=o.device)
    for note in model.notes:
        typer.echo(f"{o.weights}: {note}")
    kw = {"top": o.top, "checkpoint": o.checkpoint, "device": o.device, "figures": figure_options}
    if o.folder is not None:
        agg = compare_folder(model, o.folder, o.out, **kw)
        d = agg.to_dict(o.top)
        typer.echo(f"compared {d['n_pairs']} pairs → {o.out}")
        for side, names in agg.unmatched.items():
            if names:
                typer.echo(f"  unmatched in {side}/: {', '.join(names)}")
        typer.echo(f"  most different layers (1 − cosine): {', '.join(d['top_layers']['cosine_dissimilarity'])}")
        return
    cmp = compare_images(model, o.img1, o.img2, o.out, **kw)
    typer.echo(f"compared {len(cmp.layers)} decoder layers of {o.img1} and {o.img2} → {o.out}")
    typer.echo(f"  most different layers (1 − cosine): {', '.join(cmp.top(o.top, 'cosine'))}")
    typer.echo(f"  most different layers (L2): {', '.join(cmp.top(o.top, 'l2'))}")


layers.__signature__ = inspect.Signature(typer_parameters(LayersOptions))  # type: ignore[attr-defined]
app.command()(figure_command(layers))


def explore_map(**given: Any) -> None:
    """Serve the map explorer: click a pixel for its pattern, model input, reconstruction and latent; drag a box
    for its mean pattern and latents. Reads the store per click, never writes it."""
    o = made(ExploreMapOptions, given)
    from vaearr.errors import StoreError
    from vaearr.viz.map_explorer import MapExplorer

    app_ = MapExplorer(o.store, o.run, map=o.map, checkpoint=o.checkpoint, device=o.device, latent=o.var,
                       box_cap=o.box_cap)
    p = app_.probe
    if o.var != "latent" and p.latent is None:  # named by the user, so it must be there
        from vaearr.store.schema import no_variable

        raise StoreError(o.store, f"{no_variable(o.var, p.ds.data_vars, kind='latent variable')} (--var names a "
                                  f"(y, x, {p.latent_dim}) latent)")
    typer.echo(f"{o.store}: map {p.shape[0]} × {p.shape[1]} of {p.var} {p.pattern_shape[0]} × {p.pattern_shape[1]}; "
               f"showing '{app_.map}' ({len(p.map_names())} maps); latent ranges from "
               f"{p.latent or 'none (no latent in the store)'}")
    app_.serve(o.port, announce=typer.echo)


explore_map.__signature__ = inspect.Signature(typer_parameters(ExploreMapOptions))  # type: ignore[attr-defined]
app.command("explore-map")(explore_map)
