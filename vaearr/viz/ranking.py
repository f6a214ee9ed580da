"""``vaearr rank``'s figures: each reference map beside the latent dims that follow it best."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.analysis.ranking import RankResult, aggregated_rank
from vaearr.store import open_store
from vaearr.viz.core import FRAME_WIDTH, both, holoviews, save_figure
from vaearr.viz.maps import image_map


def top_maps_figures(
    ds: xr.Dataset,
    latent: str,
    references: xr.DataArray,
    assoc: xr.DataArray,
    out: str | os.PathLike,
    *,
    top: int = 3,
    mask: str | None = "roi",
    nan_color: str = "lightgray",
    latent_dim: str = "latent_dim",
) -> list[Path]:
    """For each reference, its map beside the top-``top`` latent maps (aggregated rank); HTML + PNG.

    Latent maps are full-field (NaN outside ``mask`` drawn in ``nan_color``).
    """
    hv = holoviews()
    out = Path(out)
    agg = aggregated_rank(assoc, latent_dim=latent_dim)
    m = ds[mask].transpose("y", "x") if mask else None
    lat = ds[latent].transpose("y", "x", latent_dim)
    files = []
    frame = max(200, FRAME_WIDTH // 2)
    for ref in references["reference"].values:
        ref = str(ref)
        rmap = references.sel(reference=ref)
        if m is not None:
            rmap = rmap.where(m)
        panels = [image_map(rmap.rename(ref), title=f"reference: {ref}", nan_color=nan_color, frame_size=frame)]
        order = np.argsort(agg.sel(reference=ref).values, kind="stable")[:top]
        for rank, i in enumerate(order, 1):
            d = assoc[latent_dim].values[i]
            one = lat.sel({latent_dim: d})
            one = (one.where(m) if m is not None else one).rename(f"{latent}_{d}")
            mr = float(agg.sel(reference=ref).values[i])
            panels.append(image_map(one, title=f"#{rank}: {latent_dim} {d} (mean rank {mr:.1f})",
                                          nan_color=nan_color, frame_size=frame, cmap="cividis"))
        layout = both(hv.Layout(panels).cols(min(len(panels), 4)), {}, mpl=dict(sublabel_format=""))
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in ref)
        html, _ = save_figure(layout, out / f"top_{latent}__{safe}")
        files.append(Path(html))
    return files


def rank_figures(store: str | os.PathLike, result: RankResult, out: str | os.PathLike, *, latent: str = "latent",
                 top: int = 5, mask: str | None = "roi", nan_color: str = "lightgray") -> list[Path]:
    """The top-map figures of a :func:`~vaearr.analysis.ranking.rank_latents` result, into ``out/figures``
    (at most three latent maps per reference); also added to ``result.figures``."""
    result.figures = top_maps_figures(open_store(store), latent, result.references, result.association,
                                      Path(out) / "figures", top=min(top, 3), mask=mask, nan_color=nan_color)
    return result.figures
