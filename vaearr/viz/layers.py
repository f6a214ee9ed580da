"""``vaearr layers``: the decoder-layer comparison of two inputs or of matched pairs, as JSON and figures."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.analysis.latents import LoadedRun, load_run
from vaearr.analysis.layers import (
    FolderComparison,
    LayerComparison,
    aggregate,
    compare_layers,
    load_input,
    load_scaled,
    match_pairs,
)
from vaearr.errors import InputError
from vaearr.models.sd_weights import ldm_names, load_sd_vae
from vaearr.viz.core import both as _both
from vaearr.viz.core import holoviews as _hv
from vaearr.viz.core import save_figure
from vaearr.viz.grids import bar_chart, image_grid, side_by_side
from vaearr.viz.maps import overlay


def comparison_figure(cmp: LayerComparison, *, title: str = "decoder layer differences", top: int = 5):
    """Two bar charts (L2, 1 − cosine), one bar per layer in decode order; the top layers in red."""
    top_cos, top_l2 = set(cmp.top(top, "cosine")), set(cmp.top(top, "l2"))
    l2 = bar_chart(pd.Series(cmp.l2, index=cmp.layers), title=f"{title}: L2 distance", xlabel="layer",
                   ylabel="L2", highlight=[n in top_l2 for n in cmp.layers])
    cos = bar_chart(pd.Series(cmp.cosine, index=cmp.layers), title=f"{title}: 1 − cosine", xlabel="layer",
                    ylabel="1 − cosine", highlight=[n in top_cos for n in cmp.layers])
    return side_by_side(l2, cos, cols=1)


def reconstructions_figure(cmp: LayerComparison, clim: tuple[float, float] | None = (0.0, 1.0)):
    """Both inputs (top row) and their reconstructions (bottom row)."""
    images = np.stack([np.concatenate([cmp.x1, cmp.x2]), np.concatenate([cmp.recon1, cmp.recon2])])
    return image_grid(images, title="inputs and reconstructions", row_labels=["input", "reconstruction"],
                      col_labels=list(cmp.names), clim=clim, cell_px=160)


def write_comparison(cmp: LayerComparison, out: str | os.PathLike, *, top: int = 5,
                     clim: tuple[float, float] | None = (0.0, 1.0), figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """``layer_differences.json``, ``layer_differences`` (HTML + PNG) and ``reconstructions`` (HTML + PNG) in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "layer_differences.json").write_text(json.dumps(cmp.to_dict(top), indent=2) + "\n")
    html1, _ = save_figure(comparison_figure(cmp, title=f"{cmp.names[0]} vs {cmp.names[1]}", top=top),
                                 out / "layer_differences", figures=figures)
    html2, _ = save_figure(reconstructions_figure(cmp, clim), out / "reconstructions", figures=figures)
    return [out / "layer_differences.json", Path(html1), Path(html2)]


@dataclass
class LayerModel:
    """What ``vaearr layers`` compares with: a model, how a file becomes its input, the colour range, layer names.

    Attributes
    ----------
    model
        The network (``encode`` / ``decode``).
    read
        File → (1, *input_shape) float32 input.
    clim
        Data range of inputs and reconstructions (figures).
    names
        Module prefix → the name the layer is reported under (ldm's names for a pretrained SD VAE).
    notes
        Lines to print: what was loaded and how inputs are scaled.
    """

    model: Any
    read: Callable[[Path], np.ndarray]
    clim: tuple[float, float] | None
    names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def rename(self, cmp: LayerComparison) -> LayerComparison:
        """Layers reported under :attr:`names` (``net.decoder.blocks.5.conv1.conv`` → ``decoder.up.1.block.0.conv1``)."""
        if not self.names:
            return cmp

        def one(layer: str) -> str:
            base, _, call = layer.partition("#")
            prefix = max((p for p in self.names if base == p or base.startswith(p + ".")), key=len, default=None)
            if prefix is None:
                return layer
            rest = base[len(prefix):].replace(".conv.conv", ".conv").removesuffix(".conv")
            rest = rest.replace(".postconv", ".conv").replace(".attn.", ".")
            for ours, theirs in ((".to_q", ".q"), (".to_k", ".k"), (".to_v", ".v"), (".out_proj", ".proj_out")):
                rest = rest.replace(ours, theirs)
            return self.names[prefix] + rest + (f"#{call}" if call else "")

        cmp.layers = [one(n) for n in cmp.layers]
        return cmp


def layer_model(run: Any = None, *, weights: str | os.PathLike | None = None, size: int | None = None,
                checkpoint: str = "best", device: str = "cpu") -> LayerModel:
    """A run's model and input pipeline, or (``weights``) a pretrained SD / ldm VAE with SD's [-1, 1] inputs.

    Raises
    ------
    InputError
        Both or neither of ``run`` and ``weights``; anything :func:`~vaearr.models.sd_weights.load_sd_vae` refuses.
    """
    if (run is None) == (weights is None):
        raise InputError(None, "give either a run (`run`) or pretrained weights (`weights`), not both")
    if isinstance(run, LayerModel):
        return run
    if weights is not None:
        sd = load_sd_vae(weights, size=size)
        model = sd.model.to(device)
        shape = tuple(model.config.input_shape)
        return LayerModel(model=model, read=lambda p: load_scaled(p, shape, -1.0, 1.0), clim=(-1.0, 1.0),
                          names=ldm_names(model.config), notes=sd.notes)
    lr = run if isinstance(run, LoadedRun) else load_run(run, checkpoint=checkpoint, device=device)
    return LayerModel(model=lr.model, read=lambda p: load_input(p, lr.run.preprocess), clim=lr.data_range)


def compare_images(run: Any, img1: str | os.PathLike, img2: str | os.PathLike, out: str | os.PathLike, *,
                   top: int = 5, checkpoint: str = "best", device: str = "cpu", figures: FigureOptions = DEFAULT_FIGURES) -> LayerComparison:
    """``vaearr layers --img1 A --img2 B``: compare two files through a decoder and write the results to ``out``.

    ``run``: a run folder, a :class:`~vaearr.analysis.latents.LoadedRun` or a :class:`LayerModel`.
    """
    lm = layer_model(run, checkpoint=checkpoint, device=device)
    x1, x2 = (lm.read(Path(p)) for p in (img1, img2))
    cmp = lm.rename(compare_layers(lm.model, x1, x2, names=(Path(img1).name, Path(img2).name)))
    write_comparison(cmp, out, top=top, clim=lm.clim, figures=figures)
    return cmp


def compare_folder(run: Any, folder: str | os.PathLike, out: str | os.PathLike, *, top: int = 5,
                   checkpoint: str = "best", device: str = "cpu", figures: FigureOptions = DEFAULT_FIGURES) -> FolderComparison:
    """``vaearr layers --folder DIR``: compare every positive/negative pair and aggregate per layer.

    Writes ``out/pairs/<file stem>/`` (as :func:`write_comparison`) per pair,
    ``aggregated_results.json`` (mean and standard deviation per layer, the unmatched names) and
    ``aggregated_differences`` (HTML + PNG: mean ± std per layer). All inputs are read and
    checked before anything is written.
    """
    lm = layer_model(run, checkpoint=checkpoint, device=device)
    pairs, unmatched = match_pairs(folder)
    inputs = [(pos.name, lm.read(pos), lm.read(neg)) for pos, neg in pairs]
    out = Path(out)
    results: dict[str, LayerComparison] = {}
    files: list[Path] = []
    for name, x1, x2 in inputs:
        cmp = lm.rename(compare_layers(lm.model, x1, x2, names=(f"positive/{name}", f"negative/{name}")))
        results[name] = cmp
        files += write_comparison(cmp, out / "pairs" / Path(name).stem, top=top, clim=lm.clim, figures=figures)
    agg = aggregate(results, unmatched)
    (out / "aggregated_results.json").write_text(json.dumps(agg.to_dict(top), indent=2) + "\n")
    html, _ = save_figure(aggregated_figure(agg, top=top), out / "aggregated_differences", figures=figures)
    agg.files = [*files, out / "aggregated_results.json", Path(html)]
    return agg


def aggregated_figure(agg: FolderComparison, *, top: int = 5):
    """Mean ± standard deviation per layer over all pairs, for L2 and 1 − cosine."""
    hv = _hv()
    charts = []
    for what, mean, std in (("L2", agg.mean_l2, agg.std_l2), ("1 − cosine", agg.mean_cosine, agg.std_cosine)):
        hot = set(np.argsort(-mean, kind="stable")[:top].tolist())
        bars = bar_chart(pd.Series(mean, index=agg.layers), title=f"{what}, mean ± std over {len(agg.pairs)} pairs",
                         xlabel="layer", ylabel=what, highlight=[i in hot for i in range(len(mean))])
        errs = _both(hv.ErrorBars([(n, float(m), float(s)) for n, m, s in zip(agg.layers, mean, std, strict=True)],
                                  kdims=[hv.Dimension("key", label="layer")], vdims=["value", "err"]),
                     dict(color="black"))
        charts.append(overlay(bars, errs))
    return side_by_side(*charts, cols=1)
