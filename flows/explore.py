"""Prefect flows: explore-latents and compare-layers. Each task is one library call; no logic lives here."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from flows.params import options_flow, pinned
from vaearr.analysis.options import ExploreOptions, LayersOptions
from vaearr.options import DEFAULT_FIGURES, FigureOptions, build, writable_folders
from vaearr.viz.explore import explore, explore_files
from vaearr.viz.layers import compare_folder, compare_images, layer_model


@task(name="explore")
def explore_task(options: ExploreOptions, figures: FigureOptions = DEFAULT_FIGURES) -> dict:
    return explore(options.store, options.run, options.out, options, figures=figures).summary


@task(name="explore-files")
def explore_files_task(run: str, images: list[str], out: str, **kwargs: Any) -> dict:
    return explore_files(run, images, out, **kwargs).summary


@task(name="compare-layers")
def compare_layers_task(options: LayersOptions, figures: FigureOptions = DEFAULT_FIGURES) -> dict:
    o = options
    model = layer_model(o.run, weights=o.weights, size=o.size, checkpoint=o.checkpoint, device=o.device)
    kw = {"top": o.top, "checkpoint": o.checkpoint, "device": o.device, "figures": figures}
    if o.folder is not None:
        return compare_folder(model, o.folder, o.out, **kw).to_dict(o.top)
    return compare_images(model, o.img1, o.img2, o.out, **kw).to_dict(o.top)


def _explore_latents(**params: Any) -> dict:
    """Exploration figures and tables of a run (``vaearr explore``); returns the summary. Its parameters are the
    fields of :class:`vaearr.analysis.options.ExploreOptions`."""
    figures = params.pop("figure_options")
    options = build(ExploreOptions, params)
    options.check()
    writable_folders(out=options.out)
    summary = explore_task(options, figures)
    print(f"explored {summary['n_samples']} samples → {options.out}: {', '.join(summary['figures'])}")
    return summary


explore_latents = options_flow("explore-latents", ExploreOptions, _explore_latents, figures=True)


@flow(name="explore-files", log_prints=True)
@pinned
def explore_image_files(
    run: str,
    images: list[str],
    out: str,
    steps: int = 10,
    metric_range: str = "both",
    checkpoint: str = "best",
    device: str = "cpu",
) -> dict:
    """Image files through a run (``vaearr explore --image``/``--interpolate``): reconstructions, PSNR/SSIM,
    and with two files their interpolation; returns the summary."""
    summary = explore_files_task(run, images, out, steps=steps, metric_range=metric_range, checkpoint=checkpoint,
                                 device=device)
    for row in summary["per_file"]:
        print(f"{row['file']}: MSE {row['mse']:.4g}" + "".join(
            f", {k} {row[k]:.3g}" for k in ("psnr", "ssim", "psnr_uint8", "ssim_uint8") if k in row))
    return summary


def _compare_layers(**params: Any) -> dict:
    """Decoder layer differences of two inputs, or of positive/negative pairs in a folder (``vaearr layers``); its
    parameters are the fields of :class:`vaearr.analysis.options.LayersOptions`."""
    figures = params.pop("figure_options")
    options = build(LayersOptions, params)
    options.check()
    writable_folders(out=options.out)
    result = compare_layers_task(options, figures)
    if options.folder is not None:
        print(f"compared {result['n_pairs']} pairs; unmatched: {result['unmatched']}")
    else:
        print(f"compared {options.img1} and {options.img2}; top layers: {result['top_layers']['cosine_dissimilarity']}")
    return result


compare_layers = options_flow("compare-layers", LayersOptions, _compare_layers, figures=True)


FLOWS = (explore_latents, explore_image_files, compare_layers)
