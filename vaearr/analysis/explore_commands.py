"""The ``vaearr explore`` and ``vaearr layers`` commands; :func:`register` adds them to the CLI's app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def _floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what} must be comma-separated numbers, got '{text}'") from None


def _ints(text: str | None, what: str) -> list[int] | None:
    values = _floats(text, what)
    if values is None:
        return None
    if any(v != int(v) for v in values):
        raise typer.BadParameter(f"{what} must be whole numbers (latent dims), got '{text}'")
    return [int(v) for v in values]


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    """Add ``explore`` and ``layers`` to ``app`` (heavy imports happen when a command runs)."""

    @app.command()
    def explore(
        store: Annotated[Path, typer.Argument(help="Store with the variable the run was trained on.")],
        run: Annotated[Path, typer.Option("--run", "-r", help="Training run folder.")],
        out: Annotated[Optional[Path], typer.Option(help="Folder for figures (HTML + PNG), tables and summary.json.")] = None,
        n: Annotated[int, typer.Option(help="Samples to encode (a seeded random subset; 0: all).")] = 2000,
        seed: Annotated[int, typer.Option(help="Seed of the subset, prior draws and grids.")] = 0,
        label: Annotated[str, typer.Option(help="Label variable/coordinate ('auto': label if present; 'none').")] = "auto",
        parts: Annotated[Optional[str], typer.Option(help="Comma-separated parts (default all): quality, prior, interpolation, stats, activations, prototypes, traversal, manifold, pairwise, embeddings.")] = None,
        embeddings: Annotated[str, typer.Option(help="Comma-separated embeddings: pca, tsne, umap.")] = "pca,tsne,umap",
        base: Annotated[Optional[str], typer.Option(help="Traversal base: 'mean', a label (its prototype) or comma-separated values.")] = None,
        traversal_dims: Annotated[Optional[str], typer.Option(help="Comma-separated dims to traverse (default: the 10 most active).")] = None,
        manifold_dims: Annotated[Optional[str], typer.Option(help="Two dims 'i,j' for the 2D manifold (default: the two most active).")] = None,
        line: Annotated[Optional[str], typer.Option(help="Line in each embedding 'x0,y0,x1,y1' to sample along.")] = None,
        threshold: Annotated[float, typer.Option(help="Binarisation threshold of the reconstruction grid.")] = 0.5,
        checkpoint: Annotated[str, typer.Option(help="best, latest, or a checkpoint folder.")] = "best",
        device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
        serve: Annotated[bool, typer.Option("--serve", help="Serve the interactive explorer (one slider per latent dim) instead.")] = False,
        port: Annotated[int, typer.Option(help="Port of the served explorer.")] = 5006,
    ) -> None:
        """Latent-space exploration of a run: quality, prior, interpolation, prototypes, traversals, manifold, embeddings."""
        label_opt = None if label == "none" else label
        # values hold a comma (a 1-dim latent: "0.5,"); anything else names "mean" or a label
        base_opt: object = _floats(base, "--base") if base is not None and "," in base else base
        if serve:
            from vaearr.analysis.explore import explorer_for_run

            app_ = explorer_for_run(store, run, base=base_opt, n=n or None, seed=seed, label=label_opt, device=device)
            typer.echo(f"serving the explorer on http://127.0.0.1:{port} (Ctrl-C stops)")
            app_.serve(port)
            return
        if out is None:
            raise typer.BadParameter("give --out (or --serve)")
        from vaearr.analysis.explore import EMBEDDINGS, PARTS
        from vaearr.analysis.explore import explore as run_explore

        mdims = _ints(manifold_dims, "--manifold-dims")
        if mdims is not None and len(mdims) != 2:
            raise typer.BadParameter(f"--manifold-dims takes two dims 'i,j', got '{manifold_dims}'")
        pts = _floats(line, "--line")
        if pts is not None and len(pts) != 4:
            raise typer.BadParameter(f"--line takes four numbers 'x0,y0,x1,y1', got '{line}'")
        result = run_explore(
            store, run, out, n=n or None, seed=seed, label=label_opt,
            parts=_names(parts) or PARTS, embeddings=_names(embeddings) or EMBEDDINGS, base=base_opt,
            traversal_dims=_ints(traversal_dims, "--traversal-dims"),
            manifold_dims=tuple(mdims) if mdims else None,
            line=((pts[0], pts[1]), (pts[2], pts[3])) if pts else None,
            threshold=threshold, checkpoint=checkpoint, device=device,
        )
        typer.echo(result.describe())

    @app.command()
    def layers(
        run: Annotated[Path, typer.Option("--run", "-r", help="Training run folder (a 2D model).")],
        out: Annotated[Path, typer.Option(help="Folder for layer_differences.json, charts and reconstructions.")],
        img1: Annotated[Optional[Path], typer.Option(help="First input: an image file or .npy array.")] = None,
        img2: Annotated[Optional[Path], typer.Option(help="Second input.")] = None,
        folder: Annotated[Optional[Path], typer.Option(help="Folder with positive/ and negative/, files matched by name.")] = None,
        top: Annotated[int, typer.Option(help="How many most-different layers to list.")] = 5,
        checkpoint: Annotated[str, typer.Option(help="best, latest, or a checkpoint folder.")] = "best",
        device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    ) -> None:
        """Compare decoder layer activations of two inputs (--img1/--img2) or of matched pairs (--folder)."""
        if (folder is None) == (img1 is None and img2 is None) or (folder is None and (img1 is None or img2 is None)):
            raise typer.BadParameter("give either --img1 and --img2, or --folder")
        from vaearr.analysis import layers as L

        if folder is not None:
            agg = L.compare_folder(run, folder, out, top=top, checkpoint=checkpoint, device=device)
            d = agg.to_dict(top)
            typer.echo(f"compared {d['n_pairs']} pairs → {out}")
            for side, names in agg.unmatched.items():
                if names:
                    typer.echo(f"  unmatched in {side}/: {', '.join(names)}")
            typer.echo(f"  most different layers (1 − cosine): {', '.join(d['top_layers']['cosine_dissimilarity'])}")
            return
        cmp = L.compare_images(run, img1, img2, out, top=top, checkpoint=checkpoint, device=device)
        typer.echo(f"compared {len(cmp.layers)} decoder layers of {img1} and {img2} → {out}")
        typer.echo(f"  most different layers (1 − cosine): {', '.join(cmp.top(top, 'cosine'))}")
        typer.echo(f"  most different layers (L2): {', '.join(cmp.top(top, 'l2'))}")
