"""``vaearr rank``'s figures: references beside their best latent dims, per-dim scatters, paged latent maps."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaearr.analysis.ranking import RankResult, aggregated_rank
from vaearr.errors import InputError
from vaearr.store import open_store
from vaearr.viz.core import FRAME_WIDTH, both, holoviews, save_figure
from vaearr.viz.maps import image_map, map_grid

#: Points drawn per scatter panel at most (a seeded sample beyond; the exports keep every pixel).
MAX_SCATTER = 5000


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


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def dim_scatter_figure(values: np.ndarray, references: dict[str, np.ndarray], *, label: str = "latent",
                       seed: int = 0, cols: int = 4):
    """One panel per reference: the latent dim's value (x) against the reference's (y) on the
    same pixels, Pearson r in the title. Returns the HoloViews layout (HTML) and a Matplotlib
    figure of the same (PNG)."""
    hv = holoviews()
    n = values.size
    pick = np.sort(np.random.default_rng(seed).choice(n, MAX_SCATTER, replace=False)) if n > MAX_SCATTER else np.arange(n)
    cols = max(1, min(cols, len(references)))
    rows = -(-len(references) // cols)
    fig = Figure(figsize=(3.2 * cols, 3.0 * rows))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.08 / rows ** 0.5, top=1 - 0.08 / rows ** 0.5, wspace=0.4,
                        hspace=0.55)  # fixed spacing: tight_layout takes seconds on a few dozen panels
    panels = []
    frame = max(180, FRAME_WIDTH // 2)
    for i, (ref, rv) in enumerate(references.items()):
        r = _pearson(values, rv)
        title = f"{ref} (r = {r:.3f})"
        pts = hv.Points((values[pick], rv[pick]), kdims=[label, ref])
        panels.append(both(pts, dict(title=title), bokeh=dict(frame_width=frame, frame_height=frame, size=2, alpha=0.5,
                                                               tools=["hover"]), mpl=dict(s=2, alpha=0.5)))
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(values[pick], rv[pick], s=2, alpha=0.5, linewidths=0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel(ref, fontsize=8)
        ax.tick_params(labelsize=7)
    return both(hv.Layout(panels).cols(cols), {}, mpl=dict(sublabel_format="")), fig


def scatter_figures(ds: xr.Dataset, latent: str, references: xr.DataArray, dims: list, out: str | os.PathLike, *,
                    mask: str | None = "roi", latent_dim: str = "latent_dim", seed: int = 0) -> list[Path]:
    """``scatter_{latent}_d{dim}`` (HTML + PNG) for each dim: its values against every reference on the mask's pixels."""
    m = np.asarray(ds[mask].transpose("y", "x").values, bool) if mask else np.ones((ds.sizes["y"], ds.sizes["x"]), bool)
    lat = ds[latent].transpose("y", "x", latent_dim)
    refs = {str(r): np.asarray(references.sel(reference=r).transpose("y", "x").values, np.float64)[m]
            for r in references["reference"].values}
    files = []
    for d in dims:
        v = np.asarray(lat.sel({latent_dim: d}).values, np.float64)[m]
        layout, fig = dim_scatter_figure(v, refs, label=f"{latent}[{d}]", seed=seed)
        html, _ = save_figure(layout, Path(out) / f"scatter_{latent}_d{d}", png=fig)
        files.append(Path(html))
    return files


def map_pages(ds: xr.Dataset, latent: str, dims: list, out: str | os.PathLike, *, per_page: int = 16,
              mask: str | None = "roi", nan_color: str = "lightgray", latent_dim: str = "latent_dim",
              cols: int = 4) -> list[Path]:
    """The maps of ``dims``, ``per_page`` to a figure: ``maps_page1``, ``maps_page2``... (HTML + PNG)."""
    if per_page < 1:
        raise InputError(None, f"--per-page must be at least 1, got {per_page}")
    lat = ds[latent].transpose(latent_dim, "y", "x")
    if mask:
        lat = lat.where(ds[mask].transpose("y", "x"))
    files = []
    for page, start in enumerate(range(0, len(dims), per_page), 1):
        chunk = lat.sel({latent_dim: list(dims[start:start + per_page])})
        grid = map_grid(chunk, latent_dim, cols=min(cols, chunk.sizes[latent_dim]), nan_color=nan_color,
                        cmap="cividis", title=latent)
        html, _ = save_figure(grid, Path(out) / f"maps_page{page}")
        files.append(Path(html))
    return files


def rank_figures(store: str | os.PathLike, result: RankResult, out: str | os.PathLike, *, latent: str = "latent",
                 top: int = 5, mask: str | None = "roi", nan_color: str = "lightgray", per_page: int = 16,
                 scatter: bool = True) -> list[Path]:
    """The figures of a :func:`~vaearr.analysis.ranking.rank_latents` result, into ``out/figures``; also
    added to ``result.figures``:

    * ``top_{latent}__{reference}``: each reference beside its top latent maps (at most three);
    * ``scatter_{latent}_d{dim}``: each of ``result.dims`` against every reference (``scatter``);
    * ``maps_page1``, ``maps_page2``...: the maps of ``result.dims``, ``per_page`` to a page.
    """
    if per_page < 1:
        raise InputError(None, f"--per-page must be at least 1, got {per_page}")
    ds = open_store(store)
    folder = Path(out) / "figures"
    figures = top_maps_figures(ds, latent, result.references, result.association, folder, top=min(top, 3),
                               mask=mask, nan_color=nan_color)
    if result.dims:
        if scatter:
            figures += scatter_figures(ds, latent, result.references, result.dims, folder, mask=mask)
        figures += map_pages(ds, latent, result.dims, folder, per_page=per_page, mask=mask, nan_color=nan_color)
    result.figures = figures
    return result.figures
