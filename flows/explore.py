"""Prefect flows: explore-latents and compare-layers. Each task is one library call; no logic lives here."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from flows.params import options_flow, pinned
from vaearr.analysis.options import ExploreOptions
from vaearr.options import DEFAULT_FIGURES, FigureOptions, build, writable_folders
from vaearr.viz.explore import explore, explore_files
from vaearr.viz.layers import compare_folder, compare_images


@task(name="explore")
def explore_task(options: ExploreOptions, figures: FigureOptions = DEFAULT_FIGURES) -> dict:
    return explore(options.store, options.run, options.out, options, figures=figures).summary


@task(name="explore-files")
def explore_files_task(run: str, images: list[str], out: str, **kwargs: Any) -> dict:
    return explore_files(run, images, out, **kwargs).summary


@task(name="compare-images")
def compare_images_task(run: str, img1: str, img2: str, out: str, top: int) -> dict:
    return compare_images(run, img1, img2, out, top=top).to_dict(top)


@task(name="compare-folder")
def compare_folder_task(run: str, folder: str, out: str, top: int) -> dict:
    return compare_folder(run, folder, out, top=top).to_dict(top)


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


@flow(name="compare-layers", log_prints=True)
@pinned
def compare_layers(
    run: str,
    out: str,
    img1: str | None = None,
    img2: str | None = None,
    folder: str | None = None,
    top: int = 5,
) -> dict:
    """Decoder layer differences of two inputs, or of positive/negative pairs in a folder (``vaearr layers``)."""
    if folder is not None:
        result = compare_folder_task(run, folder, out, top)
        print(f"compared {result['n_pairs']} pairs; unmatched: {result['unmatched']}")
    elif img1 is not None and img2 is not None:
        result = compare_images_task(run, img1, img2, out, top)
        print(f"compared {img1} and {img2}; top layers: {result['top_layers']['cosine_dissimilarity']}")
    else:
        raise ValueError("give img1 and img2, or folder")
    return result


FLOWS = (explore_latents, explore_image_files, compare_layers)
