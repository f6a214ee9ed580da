"""``vaearr explore`` and ``vaearr layers``: latent-space exploration of a run, and its decoder layers compared."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.analysis.options import ExploreOptions
from vaearr.cli.common import Checkpoint, Device, Renamed, app, figure_command, typer_parameters, store_location
from vaearr.errors import InputError
from vaearr.options import DEFAULT_FIGURES, FigureOptions, made, writable_folders


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
    from vaearr.viz.explore import explore as run_explore
    from vaearr.viz.explore import explore_files
    from vaearr.viz.latent_explorer import explorer_for_run

    files = [*(image or []), *(interpolate or ())]
    if files:
        if image and interpolate:
            raise InputError(None, "give --image files or --interpolate A B, not both")
        out = Path("out/explore") if o.out is None else o.out  # no store: out/<command>
        writable_folders(out=out)
        result = explore_files(o.run, files, out, steps=10 if o.steps is None else o.steps,
                               metric_range=o.metric_range, checkpoint=o.checkpoint, device=o.device,
                               figures=figure_options)
        typer.echo(result.describe())
        return
    if o.store is None:
        raise InputError(None, "give a STORE (or --image / --interpolate files)")
    if serve:
        app_ = explorer_for_run(o.store, o.run, base=o.base, n=o.n, seed=o.seed, label=o.label, device=o.device)
        app_.serve(port, announce=typer.echo)
        return
    writable_folders(out=o.out)  # STORE_explore when not given (ExploreOptions)
    typer.echo(run_explore(o.store, o.run, o.out, o, figures=figure_options).describe())


explore.__signature__ = inspect.Signature([*typer_parameters(ExploreOptions), *EXTRA])  # type: ignore[attr-defined]
app.command()(figure_command(explore))


@app.command()
@figure_command
def layers(
    out: Annotated[Path, typer.Option(help="Folder for layer_differences.json, charts and reconstructions.")] = Path("out/layers"),
    run: Annotated[Optional[Path], typer.Option("--run", "-r", help="Training run folder (a 2D model).")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Instead of --run: a pretrained Stable Diffusion / ldm VAE "
                                                    "(model.ckpt, .safetensors, or a diffusers AutoencoderKL folder); "
                                                    "inputs RGB, resized, scaled to [-1, 1].")] = None,
    size: Annotated[Optional[int], typer.Option(min=8, help="With --weights: input size N×N (default: diffusers' "
                                                "sample_size, else 512).")] = None,
    img1: Annotated[Optional[Path], typer.Option(help="First input: an image file or .npy array.")] = None,
    img2: Annotated[Optional[Path], typer.Option(help="Second input.")] = None,
    folder: Annotated[Optional[Path], typer.Option(help="Folder with positive/ and negative/, files matched by name.")] = None,
    top: Annotated[int, typer.Option(min=1, help="How many most-different layers to list.")] = 5,
    checkpoint: Checkpoint = "best",
    device: Device = "cpu",
    figure_options: FigureOptions = DEFAULT_FIGURES,
) -> None:
    """Compare decoder layer activations of two inputs (--img1/--img2) or of matched pairs (--folder), through a run or a pretrained SD VAE (--weights)."""
    if (run is None) == (weights is None):
        raise InputError(None, "give either --run or --weights")
    if size is not None and weights is None:
        raise InputError(None, "--size goes with --weights (a run has its own input size)")
    if (folder is None) == (img1 is None and img2 is None) or (folder is None and (img1 is None or img2 is None)):
        raise InputError(None, "give either --img1 and --img2, or --folder")
    writable_folders(out=out)  # proven writable, left as found: a bad --weights leaves no empty folder
    from vaearr.viz.layers import compare_folder, compare_images, layer_model

    model = layer_model(run, weights=weights, size=size, checkpoint=checkpoint, device=device)
    for note in model.notes:
        typer.echo(f"{weights}: {note}")
    if folder is not None:
        agg = compare_folder(model, folder, out, top=top, checkpoint=checkpoint, device=device, figures=figure_options)
        d = agg.to_dict(top)
        typer.echo(f"compared {d['n_pairs']} pairs → {out}")
        for side, names in agg.unmatched.items():
            if names:
                typer.echo(f"  unmatched in {side}/: {', '.join(names)}")
        typer.echo(f"  most different layers (1 − cosine): {', '.join(d['top_layers']['cosine_dissimilarity'])}")
        return
    cmp = compare_images(model, img1, img2, out, top=top, checkpoint=checkpoint, device=device, figures=figure_options)
    typer.echo(f"compared {len(cmp.layers)} decoder layers of {img1} and {img2} → {out}")
    typer.echo(f"  most different layers (1 − cosine): {', '.join(cmp.top(top, 'cosine'))}")
    typer.echo(f"  most different layers (L2): {', '.join(cmp.top(top, 'l2'))}")


@app.command("explore-map")
def explore_map(
    store: Annotated[Path, typer.Argument(parser=store_location, help="EBSD map store with the patterns the run was trained on.")],
    run: Annotated[Path, typer.Option("--run", "-r", help="Training run folder.")],
    map_: Annotated[Optional[str], typer.Option("--map", help="Map shown first: a (y, x) variable, an RGB variable "
                    "(orientation_ipf) or a component as latent[3] (default: bandcontrast, else latent[0]).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port on 127.0.0.1 (default: a free one, printed).")] = None,
    latent: Annotated[str, typer.Option("--var", help="The store's latent variable (map ranges, box latents)."), Renamed("--latent")] = "latent",
    box_cap: Annotated[int, typer.Option(help="Most patterns a box's mean reads (a regular subsample beyond).")] = 4096,
    checkpoint: Checkpoint = "best",
    device: Device = "cpu",
) -> None:
    """Serve the map explorer: click a pixel for its pattern, model input, reconstruction and latent; drag a box
    for its mean pattern and latents. Reads the store per click, never writes it."""
    from vaearr.errors import StoreError
    from vaearr.viz.map_explorer import MapExplorer

    if port is not None and not 0 <= port < 65536:
        raise InputError(None, f"--port {port}: not a port (0-65535)")
    if box_cap < 1:
        raise InputError(None, f"--box-cap {box_cap}: give at least 1")
    app_ = MapExplorer(store, run, map=map_, checkpoint=checkpoint, device=device, latent=latent, box_cap=box_cap)
    p = app_.probe
    if latent != "latent" and p.latent is None:  # named by the user, so it must be there
        from vaearr.store.schema import no_variable

        raise StoreError(store, f"{no_variable(latent, p.ds.data_vars, kind='latent variable')} (--var names a "
                                f"(y, x, {p.latent_dim}) latent)")
    typer.echo(f"{store}: map {p.shape[0]} × {p.shape[1]} of {p.var} {p.pattern_shape[0]} × {p.pattern_shape[1]}; "
               f"showing '{app_.map}' ({len(p.map_names())} maps); latent ranges from "
               f"{p.latent or 'none (no latent in the store)'}")
    app_.serve(port, announce=typer.echo)
