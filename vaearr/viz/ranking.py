"""``vaearr rank``'s figures: references beside their best latent dims, per-dim scatters, paged latent maps."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.analysis.ranking import RankResult, aggregated_rank
from vaearr.errors import InputError
from vaearr.store import open_store
from vaearr.viz.core import FRAME_WIDTH, both, holoviews, save_figure
from vaearr.viz.maps import LATENT_CMAP, image_map, latent_range
from vaearr.viz.quickfig import forget_pages, map_panel, maps_figure, scatter_figure

#: Points drawn per scatter panel at most (a seeded sample beyond; the exports keep every pixel).
MAX_SCATTER = 5000


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


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
    latent_dim: str = "latent_dim", figures: FigureOptions = DEFAULT_FIGURES
) -> list[Path]:
    """For each reference, its map (viridis, its own colour range) beside the top-``top`` latent maps (aggregated
    rank), these on the latent's one colour range symmetric about 0 (:func:`~vaearr.viz.maps.latent_range`, as the
    report draws them); ``top_{latent}__{reference}`` HTML + PNG.

    Latent maps are full-field (NaN outside ``mask`` drawn in ``nan_color``).
    """
    out = Path(out)
    agg = aggregated_rank(assoc, latent_dim=latent_dim)
    m = np.asarray(ds[mask].transpose("y", "x").values, bool) if mask else None
    lat = ds[latent].transpose(latent_dim, "y", "x")
    lat_values = np.asarray(lat.values)  # read once: every figure takes a few of its maps
    clim = latent_range(xr.DataArray(lat_values if m is None else np.where(m, lat_values, np.nan)))  # inside the mask
    dim_index = {d: i for i, d in enumerate(lat[latent_dim].values.tolist())}
    frame = max(200, FRAME_WIDTH // 2)
    files = []
    for ref in references["reference"].values:
        ref = str(ref)
        rmap = references.sel(reference=ref).transpose("y", "x")
        rmap = rmap.where(m) if m is not None else rmap
        ranks = agg.sel(reference=ref).values
        panels = [(rmap.rename(ref), f"reference: {ref}", "viridis", None)]
        for rank, i in enumerate(np.argsort(ranks, kind="stable")[:top], 1):
            d = assoc[latent_dim].values[i]
            z = lat_values[dim_index[d.item() if hasattr(d, "item") else d]].astype(np.float64)
            one = rmap.copy(data=np.where(m, z, np.nan) if m is not None else z).rename(f"{latent}_{d}")
            panels.append((one, f"#{rank}: {latent_dim} {d} (mean rank {float(ranks[i]):.1f})", LATENT_CMAP, clim))
        files.append(_maps_file(panels, out / f"top_{latent}__{_safe(ref)}", cols=min(len(panels), 4), frame=frame,
                                nan_color=nan_color, figures=figures))
    return files


def _maps_file(panels: list[tuple[xr.DataArray, str, str, tuple[float, float] | None]], stem: Path, *, cols: int,
               frame: int, nan_color: str, figures: FigureOptions = DEFAULT_FIGURES) -> Path:
    """Maps ``(DataArray, title, cmap, clim)`` (``clim`` None: the map's own range) as ``stem``.html/.png: drawn
    directly (:mod:`vaearr.viz.quickfig`), through HoloViews when a coordinate is uneven."""
    quick = [map_panel(da, title=title, cmap=cmap, nan_color=nan_color, clim=clim) for da, title, cmap, clim in panels]
    if all(q is not None for q in quick):
        return maps_figure(quick, stem, cols=cols, frame=frame, figures=figures)
    hv = holoviews()
    layout = hv.Layout([image_map(da, title=title, cmap=cmap, nan_color=nan_color, frame_size=frame, clim=clim)
                        for da, title, cmap, clim in panels]).cols(cols)
    html, _ = save_figure(both(layout, {}, mpl=dict(sublabel_format="")), stem, figures=figures)
    return Path(html)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def dim_scatter_figure(values: np.ndarray, references: dict[str, np.ndarray], stem: str | os.PathLike, *,
                       label: str = "latent", seed: int = 0, cols: int = 4, figures: FigureOptions = DEFAULT_FIGURES) -> Path:
    """``stem``.html/.png: one panel per reference, the latent dim's value (x) against the reference's (y)
    on the same pixels (a seeded sample of :data:`MAX_SCATTER` beyond), Pearson r (all pixels) in the title.
    The HTML panels share one data source and the x range. Returns the HTML path."""
    n = values.size
    pick = np.sort(np.random.default_rng(seed).choice(n, MAX_SCATTER, replace=False)) if n > MAX_SCATTER else np.arange(n)
    titles = [f"{ref} (r = {_pearson(values, rv):.3f})" for ref, rv in references.items()]
    return scatter_figure(values[pick], {ref: rv[pick] for ref, rv in references.items()}, titles, label, stem,
                          cols=cols, frame=max(180, FRAME_WIDTH // 2), figures=figures)


def scatter_figures(ds: xr.Dataset, latent: str, references: xr.DataArray, dims: list, out: str | os.PathLike, *,
                    mask: str | None = "roi", latent_dim: str = "latent_dim", seed: int = 0, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """``scatter_{latent}_d{dim}`` (HTML + PNG) for each dim: its values against every reference on the mask's pixels."""
    m = np.asarray(ds[mask].transpose("y", "x").values, bool) if mask else np.ones((ds.sizes["y"], ds.sizes["x"]), bool)
    lat = ds[latent].transpose("y", "x", latent_dim)
    refs = {str(r): np.asarray(references.sel(reference=r).transpose("y", "x").values, np.float64)[m]
            for r in references["reference"].values}
    files = []
    for d in dims:
        v = np.asarray(lat.sel({latent_dim: d}).values, np.float64)[m]
        files.append(dim_scatter_figure(v, refs, Path(out) / f"scatter_{latent}_d{d}", label=f"{latent}[{d}]",
                                        seed=seed, figures=figures))
    return files


def map_pages(ds: xr.Dataset, latent: str, dims: list, out: str | os.PathLike, *, per_page: int = 16,
              mask: str | None = "roi", nan_color: str = "lightgray", latent_dim: str = "latent_dim",
              cols: int = 4, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """The maps of ``dims``, ``per_page`` to a figure: ``maps_page1``, ``maps_page2``... (HTML + PNG), all on the
    latent's one colour range symmetric about 0 (:func:`~vaearr.viz.maps.latent_range`)."""
    if per_page < 1:
        raise InputError(None, f"`per_page` must be at least 1, got {per_page}")
    lat = ds[latent].transpose(latent_dim, "y", "x")
    if mask:
        lat = lat.where(ds[mask].transpose("y", "x"))
    clim = latent_range(lat)
    files = []
    for page, start in enumerate(range(0, len(dims), per_page), 1):
        chunk = lat.sel({latent_dim: list(dims[start:start + per_page])}).load()
        n = chunk.sizes[latent_dim]
        panels = [(chunk.isel({latent_dim: i}).rename(latent), f"{latent} {latent_dim}={d}", LATENT_CMAP, clim)
                  for i, d in enumerate(chunk[latent_dim].values)]
        files.append(_maps_file(panels, Path(out) / f"maps_page{page}", cols=min(cols, n),
                                frame=max(200, 2 * FRAME_WIDTH // max(min(cols, n), 1)), nan_color=nan_color, figures=figures))
    return files


def rank_figures(store: str | os.PathLike, result: RankResult, out: str | os.PathLike, *, latent: str = "latent",
                 top: int = 5, mask: str | None = "roi", nan_color: str = "lightgray", per_page: int = 16,
                 scatter: bool = True, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """The figures of a :func:`~vaearr.analysis.ranking.rank_latents` result, into ``out/figures``; also
    added to ``result.figures``:

    * ``top_{latent}__{reference}``: each reference beside its top latent maps (at most three);
    * ``scatter_{latent}_d{dim}``: each of ``result.dims`` against every reference (``scatter``);
    * ``maps_page1``, ``maps_page2``...: the maps of ``result.dims``, ``per_page`` to a page.
    """
    if per_page < 1:
        raise InputError(None, f"`per_page` must be at least 1, got {per_page}")
    ds = open_store(store)
    folder = Path(out) / "figures"
    try:
        made = top_maps_figures(ds, latent, result.references, result.association, folder, top=min(top, 3),
                                   mask=mask, nan_color=nan_color, figures=figures)
        if result.dims:
            if scatter:
                made += scatter_figures(ds, latent, result.references, result.dims, folder, mask=mask, figures=figures)
            made += map_pages(ds, latent, result.dims, folder, per_page=per_page, mask=mask, nan_color=nan_color, figures=figures)
    finally:
        forget_pages()
    result.figures = made
    return result.figures
