"""``vaearr explore`` and ``vaearr layers``: latent-space exploration of a run, and its decoder layers compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaearr.cli.common import (
    Checkpoint,
    Device,
    app,
    store_location,
)
from vaearr.errors import InputError
from vaearr.options import parse_floats, parse_ints, parse_names


def parse_range(text: str | None, what: str) -> tuple[float, float] | None:
    """``"-3:3"`` → ``(-3.0, 3.0)``; one line when it is not two numbers low:high with low < high."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise InputError(None, f"{what} must look like -3:3 (low:high), got '{text}'") from None
    if not lo < hi:
        raise InputError(None, f"{what} {text}: low must be below high")
    return lo, hi


@app.command()
def explore(
    store: Annotated[Optional[Path], typer.Argument(parser=store_location, help="Store with the variable the run was trained on "
                                                         "(not needed with --image / --interpolate).")] = None,
    run: Annotated[Path, typer.Option("--run", "-r", help="Training run folder.")] = ...,  # type: ignore[assignment]
    image: Annotated[Optional[list[Path]], typer.Option("--image", help="Image file to reconstruct, read as the run's "
                     "store images were (repeatable; two are also interpolated).")] = None,
    interpolate: Annotated[Optional[tuple[Path, Path]], typer.Option(help="Two image files to interpolate between "
                           "(and reconstruct).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Interpolation and traversal steps, both ends included "
                     "(default 10 between files, 9 in a store's figures).")] = None,
    num_samples: Annotated[int, typer.Option(help="Samples drawn from the prior.")] = 8,
    traversal_range: Annotated[str, typer.Option(help="Values each traversed dim takes, low:high.")] = "-3:3",
    manifold_range: Annotated[Optional[str], typer.Option(help="The 2D manifold's range on both axes, low:high "
                              "(default --traversal-range).")] = None,
    grid: Annotated[int, typer.Option(help="The 2D manifold's grid side (N×N decoded images).")] = 9,
    metric_range: Annotated[str, typer.Option(help="PSNR/SSIM on the network's floats, on 8-bit images (uint8, "
                            "range 255), or both.")] = "both",
    sprite: Annotated[bool, typer.Option("--sprite/--no-sprite", help="Projector part: a sprite of the inputs.")] = True,
    out: Annotated[Optional[Path], typer.Option(help="Folder for figures (HTML + PNG), tables and summary.json.")] = None,
    n: Annotated[int, typer.Option(help="Samples to encode (a seeded random subset; 0: all).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the subset, prior draws and grids.")] = 0,
    label: Annotated[str, typer.Option(help="Label variable/coordinate ('auto': label if present; 'none').")] = "auto",
    parts: Annotated[Optional[str], typer.Option(help="Comma-separated parts (default all): quality, prior, interpolation, stats, activations, prototypes, traversal, manifold, pairwise, embeddings, projector (TensorBoard Embedding Projector files).")] = None,
    embeddings: Annotated[str, typer.Option(help="Comma-separated embeddings: pca, tsne, umap.")] = "pca,tsne,umap",
    base: Annotated[Optional[str], typer.Option(help="Traversal base: 'mean', a label (its prototype) or comma-separated values.")] = None,
    traversal_dims: Annotated[Optional[str], typer.Option(help="Comma-separated dims to traverse (default: the 10 most active).")] = None,
    manifold_dims: Annotated[Optional[str], typer.Option(help="Two dims 'i,j' for the 2D manifold (default: the two most active).")] = None,
    line: Annotated[Optional[str], typer.Option(help="Line in each embedding 'x0,y0,x1,y1' to sample along.")] = None,
    threshold: Annotated[float, typer.Option(help="Binarisation threshold of the reconstruction grid.")] = 0.5,
    slices: Annotated[Optional[str], typer.Option(help="3D runs: slice indices 'z,y,x' the previews show "
                                                  "(default: the middle slices).")] = None,
    perceptual_weights: Annotated[Optional[Path], typer.Option(help="3D runs: SqueezeNet 1.1 weights "
                                                               "(torchvision's squeezenet1_1-b8a52dc0.pth) for the "
                                                               "slice-wise perceptual distance (default: torch hub's "
                                                               "cache if there; else skipped).")] = None,
    checkpoint: Checkpoint = "best",
    device: Device = "cpu",
    serve: Annotated[bool, typer.Option("--serve", help="Serve the interactive explorer (one slider per latent dim) instead.")] = False,
    port: Annotated[int, typer.Option(help="Port of the served explorer (0: a free one, printed).")] = 5006,
) -> None:
    """Latent-space exploration of a run: quality, prior, interpolation, prototypes, traversals, manifold,
    embeddings, projector files; or image files through the run (--image, --interpolate)."""
    from vaearr.analysis.embedding import EMBEDDINGS
    from vaearr.viz.explore import PARTS, explore_files
    from vaearr.viz.explore import explore as run_explore
    from vaearr.viz.explorer import explorer_for_run

    files = [*(image or []), *(interpolate or ())]
    if files:
        if image and interpolate:
            raise InputError(None, "give --image files or --interpolate A B, not both")
        if out is None:
            raise InputError(None, "give --out, the folder for the figures")
        result = explore_files(run, files, out, steps=10 if steps is None else steps, metric_range=metric_range, checkpoint=checkpoint,
                               device=device)
        typer.echo(result.describe())
        return
    if store is None:
        raise InputError(None, "give a STORE (or --image / --interpolate files)")
    t_range = parse_range(traversal_range, "--traversal-range")
    m_range = parse_range(manifold_range, "--manifold-range")
    label_opt = None if label == "none" else label
    # values hold a comma (a 1-dim latent: "0.5,"); anything else names "mean" or a label
    base_opt: object = parse_floats(base, "--base") if base is not None and "," in base else base
    if serve:
        app_ = explorer_for_run(store, run, base=base_opt, n=n or None, seed=seed, label=label_opt, device=device)
        app_.serve(port, announce=typer.echo)
        return
    if out is None:
        raise InputError(None, "give --out (or --serve)")
    mdims = parse_ints(manifold_dims, "--manifold-dims")
    if mdims is not None and len(mdims) != 2:
        raise InputError(None, f"--manifold-dims takes two dims 'i,j', got '{manifold_dims}'")
    pts = parse_floats(line, "--line")
    if pts is not None and len(pts) != 4:
        raise InputError(None, f"--line takes four numbers 'x0,y0,x1,y1', got '{line}'")
    result = run_explore(
        store, run, out, n=n or None, seed=seed, label=label_opt,
        parts=parse_names(parts) or PARTS, embeddings=parse_names(embeddings) or EMBEDDINGS, base=base_opt,
        traversal_dims=parse_ints(traversal_dims, "--traversal-dims"),
        manifold_dims=tuple(mdims) if mdims else None,
        line=((pts[0], pts[1]), (pts[2], pts[3])) if pts else None,
        threshold=threshold, checkpoint=checkpoint, device=device, n_prior=num_samples, steps=9 if steps is None else steps,
        traversal_range=t_range, manifold_range=m_range, manifold_size=grid, metric_range=metric_range,
        sprite=sprite, slices=parse_ints(slices, "--slices"), perceptual_weights=perceptual_weights,
    )
    typer.echo(result.describe())


@app.command()
def layers(
    out: Annotated[Path, typer.Option(help="Folder for layer_differences.json, charts and reconstructions.")],
    run: Annotated[Optional[Path], typer.Option("--run", "-r", help="Training run folder (a 2D model).")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Instead of --run: a pretrained Stable Diffusion / ldm VAE "
                                                    "(model.ckpt, .safetensors, or a diffusers AutoencoderKL folder); "
                                                    "inputs RGB, resized, scaled to [-1, 1].")] = None,
    size: Annotated[Optional[int], typer.Option(help="With --weights: input size N×N (default: diffusers' "
                                                "sample_size, else 512).")] = None,
    img1: Annotated[Optional[Path], typer.Option(help="First input: an image file or .npy array.")] = None,
    img2: Annotated[Optional[Path], typer.Option(help="Second input.")] = None,
    folder: Annotated[Optional[Path], typer.Option(help="Folder with positive/ and negative/, files matched by name.")] = None,
    top: Annotated[int, typer.Option(help="How many most-different layers to list.")] = 5,
    checkpoint: Checkpoint = "best",
    device: Device = "cpu",
) -> None:
    """Compare decoder layer activations of two inputs (--img1/--img2) or of matched pairs (--folder), through a run or a pretrained SD VAE (--weights)."""
    from vaearr.viz.layers import compare_folder, compare_images, layer_model


    if (run is None) == (weights is None):
        raise InputError(None, "give either --run or --weights")
    if size is not None and weights is None:
        raise InputError(None, "--size goes with --weights (a run has its own input size)")
    if (folder is None) == (img1 is None and img2 is None) or (folder is None and (img1 is None or img2 is None)):
        raise InputError(None, "give either --img1 and --img2, or --folder")
    model = layer_model(run, weights=weights, size=size, checkpoint=checkpoint, device=device)
    for note in model.notes:
        typer.echo(f"{weights}: {note}")
    if folder is not None:
        agg = compare_folder(model, folder, out, top=top, checkpoint=checkpoint, device=device)
        d = agg.to_dict(top)
        typer.echo(f"compared {d['n_pairs']} pairs → {out}")
        for side, names in agg.unmatched.items():
            if names:
                typer.echo(f"  unmatched in {side}/: {', '.join(names)}")
        typer.echo(f"  most different layers (1 − cosine): {', '.join(d['top_layers']['cosine_dissimilarity'])}")
        return
    cmp = compare_images(model, img1, img2, out, top=top, checkpoint=checkpoint, device=device)
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
    latent: Annotated[str, typer.Option(help="The store's latent variable (map ranges, box latents).")] = "latent",
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
        raise StoreError(store, f"no latent variable '{latent}' over (y, x, {p.latent_dim}) for --latent")
    typer.echo(f"{store}: map {p.shape[0]} × {p.shape[1]} of {p.var} {p.pattern_shape[0]} × {p.pattern_shape[1]}; "
               f"showing '{app_.map}' ({len(p.map_names())} maps); latent ranges from "
               f"{p.latent or 'none (no latent in the store)'}")
    app_.serve(port, announce=typer.echo)
