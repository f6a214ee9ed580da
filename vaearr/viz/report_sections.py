"""The sections of ``vaearr report``: store, run, maps, analyses, exploration (each only when its data exist)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from vaearr.analysis.clustering import NOISE_RGB, palette
from vaearr.store import masks
from vaearr.store.schema import (
    BANDCONTRAST,
    ELEMENT,
    ELEMENTS,
    LATENT_DIM,
    ORIENTATION_MAPS,
    PHASE,
    RGB,
    X,
    Y,
)
from vaearr.viz.core import both, holoviews
from vaearr.viz.maps import LATENT_CMAP, image_map, latent_range, map_grid, overlay
from vaearr.viz.orientations import ipf_element
from vaearr.viz.phases import phase_maps
from vaearr.viz.zoom import Tiles, map_hook, rgb_hook, with_hook
from vaearr.viz.report_media import (
    PER_PAGE,
    Section,
    esc,
    img,
    maps_png,
    small,
    stride_of,
)
# moved to vaearr.viz.report_run; importable from here too
from vaearr.viz.report_run import (  # noqa: F401
    made_by, store_section, run_section, window_items,
)

# --------------------------------------------------------------------------------------------
# maps


def _is_map(v: xr.DataArray) -> bool:
    return Y in v.dims and X in v.dims


def _pages(da: xr.DataArray, dim: str, title: str, first: Any = None, cmap: str = LATENT_CMAP, *,
           full: xr.DataArray | None = None, tiles: Tiles | None = None) -> list[tuple[str, Any]]:
    """Tab pages of ``PER_PAGE`` maps along ``dim`` (``first``, one panel or a list, leads each page), all on one
    colour range with one colourbar per page; NaN (outside the region of interest) dark grey, apart from the
    white of 0. ``full``: the maps at full resolution, drawn from ``tiles`` on zoom."""
    hv = holoviews()
    clim = latent_range(da)
    n = da.sizes[dim]
    if dim not in da.coords:  # number the maps along the whole dim, not within each page
        da = da.assign_coords({dim: np.arange(n)})
    pages = []
    for start in range(0, n, PER_PAGE):
        chunk = da.isel({dim: slice(start, start + PER_PAGE)})
        maps = list(map_grid(chunk.transpose(dim, Y, X), dim, cols=4, title=title, cmap=cmap, clim=clim,
                             colorbar=False, nan_color="dimgray"))
        if full is not None and tiles is not None:
            maps = [with_hook(m, map_hook(tiles, f"{title}_{start + i}", full.isel({dim: start + i}),
                                          chunk.isel({dim: i}), cmap=cmap, clim=clim, nan_color="dimgray"))
                    for i, m in enumerate(maps)]
        maps[-1] = maps[-1].opts(colorbar=True, backend="bokeh")
        lead = [] if first is None else list(first) if isinstance(first, list) else [first]
        grid = hv.Layout(lead + maps).cols(4)
        stop = min(n, start + PER_PAGE) - 1
        pages.append((f"{dim} {chunk[dim].values[0]}–{chunk[dim].values[-1]}" if stop > start else f"{dim} {start}",
                      grid))
    return pages


def category_rgb(labels: xr.DataArray, name: str) -> xr.DataArray:
    """Cluster labels as an ``(y, x, rgb)`` map: clusters in tab colours, −1 noise grey, other negatives NaN."""
    v = np.asarray(labels.transpose(Y, X).values)
    k = int(v.max()) + 1 if v.size and v.max() >= 0 else 0
    pal = palette(k)
    rgb = np.full(v.shape + (3,), np.nan)
    inside = v >= 0
    rgb[inside] = pal[v[inside]]
    rgb[v == -1] = NOISE_RGB
    return xr.DataArray(rgb, dims=(Y, X, RGB), coords={Y: labels[Y].values, X: labels[X].values}, name=name)


def _boundaries(ds: xr.Dataset, s: int, prefix: str):
    strength = small(ds[f"{prefix}boundary_strength"], s)
    kinds = (("grain_boundaries", "red"), ("low_angle_boundaries", "cyan"))
    base = image_map(strength, title=f"{prefix}boundary strength", cmap="gray", frame_size=300,
                     legend=[(part.replace("_", " ").replace("low angle", "low-angle"), color) for part, color in kinds])
    layers = []
    for part, color in kinds:
        if f"{prefix}{part}" in ds and bool(ds[f"{prefix}{part}"].any()):
            m = small(ds[f"{prefix}{part}"], s)
            shown = xr.where(m.astype(bool), 1.0, np.nan).rename(f"{prefix}{part}")
            layer = image_map(shown, cmap=[color], nan_color="transparent", clim=(0, 1), colorbar=False, tools=(),
                              frame_size=300)
            layers.append(both(layer, dict(alpha=0.8)))
    return overlay(base, *layers) if layers else base


def segmentation_panel(ds: xr.Dataset, s: int, name: str, frame: int = 210, tiles: Tiles | None = None):
    """Regions of ``vaearr segment`` in categorical colours, grain boundaries black, low-angle boundaries white
    (at full resolution from ``tiles`` on zoom)."""
    panel = _segmentation_overview(ds, s, name, frame)
    if tiles is None or s == 1:
        return panel
    regions = ds[name].load()
    rgb = category_rgb(xr.where(regions >= 0, regions % 20, -2), name)
    codes = ds.get(f"{name}_boundaries")
    if codes is not None:
        c = np.asarray(codes.transpose(Y, X).values)
        rgb = rgb.copy(data=np.where((c == 2)[..., None], 0.0, np.where((c == 1)[..., None], 1.0, rgb.values)))
    return with_hook(panel, rgb_hook(tiles, f"{name}_panel", rgb))


def _segmentation_overview(ds: xr.Dataset, s: int, name: str, frame: int):
    regions = small(ds[name], s)
    codes_name = f"{name}_boundaries"
    panel = ipf_element(category_rgb(xr.where(regions >= 0, regions % 20, -2), name),
                        title=f"{name} ({ds[name].attrs.get('n_regions', '?')} regions, "
                              f"{ds[name].attrs.get('n_grains', '?')} grains)",
                        legend=[("grain boundaries", "black"), ("low-angle boundaries", "white")] if codes_name in ds else ())
    panel = panel.opts(frame_width=frame, frame_height=max(40, int(frame * ds.sizes[Y] / ds.sizes[X])), backend="bokeh")
    if codes_name not in ds:
        return panel
    codes = small(ds[codes_name], s)
    layers = []
    for code, color in ((2, "black"), (1, "white")):
        if not bool((codes == code).any()):
            continue  # HoloViews warns on an all-NaN layer
        shown = xr.where(codes == code, 1.0, np.nan).rename(f"{codes_name}_{code}")
        layer = image_map(shown, cmap=[color], nan_color="transparent", clim=(0, 1), colorbar=False, tools=(),
                          frame_size=frame)
        layers.append(both(layer, dict(alpha=0.9)))
    return overlay(panel, *layers)


def _latent_and_segment_blocks(sec: Section, ds: xr.Dataset, maps: dict, s: int, ipf: Any, done: set[str],
                               frame: int, tiles: Tiles | None = None) -> list[str]:
    """The latent maps in tabs (the IPF map and the segmentation leading each page) and the segmentations."""
    hv = holoviews()
    latents = [n for n, v in maps.items() if LATENT_DIM in v.dims]
    segs = [n for n, v in maps.items() if v.ndim == 2 and "n_regions" in v.attrs]
    for n in segs:
        done.update({n, f"{n}_grains", f"{n}_boundaries"})
    lead_seg = next((n for n in segs if ds[n].attrs.get("features") in latents), segs[0] if segs else None)
    for name in latents:
        done.add(name)
        seg = next((n for n in segs if ds[n].attrs.get("features") == name), lead_seg)
        firsts = [f for f in (ipf, segmentation_panel(ds, s, seg, tiles=tiles) if seg else None) if f is not None]
        sec.html(f"<h3>latent maps: {esc(name)}</h3><p>One colour range for every dim, symmetric about 0 (the "
                 "prior's mean): a dim the model does not use is drawn flat. Dark grey: outside the region of interest."
                 + (" The IPF map first, for comparison." if ipf else "")
                 + (f" The segmentation <code>{esc(seg)}</code> beside it." if seg else "") + "</p>")
        sec.tabs(_pages(small(ds[name], s), LATENT_DIM, name, first=firsts or None,
                        full=ds[name] if s > 1 else None, tiles=tiles), linked=True)
    if segs:
        sec.html("<h3>segmentation</h3><p><code>vaearr segment</code>: regions (sub-grains) in colour, grain "
                 "boundaries black, low-angle boundaries white; the IPF map beside them when the store has one.</p>")
        sec.fig(hv.Layout(([ipf] if ipf is not None else []) + [segmentation_panel(ds, s, n, frame, tiles) for n in segs])
                .cols(3), linked=True)
    return latents


def _maps_intro(ds: xr.Dataset, s: int, tiled: bool) -> str:
    return (f"<p>{ds.sizes[Y]} × {ds.sizes[X]} pixels" + (f", drawn one pixel in {s} along each axis" if s > 1 else "")
            + ". Zoom and pan are shared by every map of the grid."
            + (" Zoomed in until a pixel of the map covers a pixel of the screen, a map is drawn at full "
               "resolution." if tiled else "") + "</p>")


def maps_section(ds: xr.Dataset, tiles: Tiles | None = None) -> Section | None:
    """Every (y, x) variable worth a look, on one grid with shared zoom and pan; a map drawn every s-th pixel
    is drawn at full resolution from ``tiles`` once zoomed in (:mod:`vaearr.viz.zoom`)."""
    hv = holoviews()
    drawn_apart = set(phase_maps(ds))  # the Phases section draws these, with fractions and a legend
    maps = {str(n): v for n, v in ds.data_vars.items() if _is_map(v) and v.ndim <= 3 and str(n) not in drawn_apart}
    if not maps:
        return None
    s = stride_of(ds)
    sec = Section("maps", "Maps")
    tiles = tiles if s > 1 else None
    sec.html(_maps_intro(ds, s, tiles is not None))
    done: set[str] = set()
    frame = 300

    def one(name: str, **kw: Any):
        done.add(name)
        overview = small(ds[name], s)
        hook = map_hook(tiles, name, ds[name], overview, **{k: v for k, v in kw.items() if k in
                                                             ("cmap", "clim", "nan_color", "categorical")})
        return with_hook(image_map(overview, frame_size=frame, **{"title": name, **kw}), hook)

    first = [one(n, cmap="gray") for n in (BANDCONTRAST,) if n in maps]
    rex = {n for n in masks(ds) if n in maps and _is_spread(ds[n])}
    first += [one(n, cmap="gray", clim=(0, 1)) for n in masks(ds)
              if n in maps and not n.endswith("boundaries") and n not in rex]
    phase = PHASE in maps and maps[PHASE].ndim == 2
    if phase:
        first.append(one(PHASE, cmap="tab10"))
    if first:
        sec.html("<h3>band contrast, masks" + (", phase" if phase else "") + "</h3>")
        sec.fig(hv.Layout(first).cols(3), linked=True)
    if ELEMENTS in maps and ELEMENT in maps[ELEMENTS].dims:
        done.add(ELEMENTS)
        el = small(ds[ELEMENTS], s).transpose(ELEMENT, Y, X)
        sec.html("<h3>element maps</h3>")  # drawn as the other maps: axes in µm, colour bar, scale bar, shared zoom
        pages = [hv.Layout([image_map(el.sel({ELEMENT: e}).rename(f"{ELEMENTS}_{e}"), frame_size=frame,
                                      title=f"{ELEMENTS} {e}", label=str(e))
                            for e in el[ELEMENT].values[i:i + PER_PAGE]]).cols(3)
                 for i in range(0, el.sizes[ELEMENT], PER_PAGE)]
        if len(pages) == 1:
            sec.fig(pages[0], linked=True)
        else:
            sec.tabs([(f"{ELEMENT}s {i * PER_PAGE + 1}–{min((i + 1) * PER_PAGE, el.sizes[ELEMENT])}", p)
                      for i, p in enumerate(pages)], linked=True)

    ipf_name = next((n for n in maps if n.endswith("_ipf") and RGB in maps[n].dims), None)
    ipf = None
    if ipf_name:
        done.add(ipf_name)
        ipf = ipf_element(small(ds[ipf_name], s), title=f"{ipf_name} (IPF)")
        ipf = ipf.opts(frame_width=210, frame_height=max(40, int(210 * ds.sizes[Y] / ds.sizes[X])), backend="bokeh")
        ipf = with_hook(ipf, rgb_hook(tiles, ipf_name, ds[ipf_name].transpose(Y, X, RGB).load()))
    latents = _latent_and_segment_blocks(sec, ds, maps, s, ipf, done, frame, tiles)
    if ipf is not None and not latents:
        sec.fig(ipf, linked=True)
    errs = [n for n in maps if n.endswith("recon_error")]
    if errs:
        sec.html("<h3>reconstruction error</h3>")
        sec.fig(hv.Layout([one(n, cmap="magma") for n in errs]).cols(3), linked=True)

    _decomposition_block(sec, ds, maps, done, s)

    prefixes = [n[: -len("boundary_strength")] for n in maps if n.endswith("boundary_strength")]
    if prefixes:
        sec.html("<h3>boundaries</h3>")
        for p in prefixes:
            done.update({f"{p}boundary_strength", f"{p}grain_boundaries", f"{p}low_angle_boundaries"})
        sec.fig(hv.Layout([_boundaries(ds, s, p) for p in prefixes]).cols(2), linked=True)

    clusters = [n for n, v in maps.items() if v.ndim == 2 and v.dtype.kind in "iu" and n not in done
                and (n.startswith("cluster") or n.endswith("_gmm") or "tag" in v.attrs)]
    if clusters:
        sec.html("<h3>clusters and partitions</h3><p>Clusters in colour (the legend names them), noise and the "
                 "pixels outside the mask grey.</p>")
        sec.fig(hv.Layout([one(n, categorical=True) for n in clusters]).cols(3), linked=True)

    _deformation_block(sec, ds, maps, done, one)

    orient = [n for n in maps if n not in done and n.startswith("orientation")
              and any(n.endswith(part) for part in ORIENTATION_MAPS)]
    if orient:
        sec.html("<h3>orientation maps</h3>")
        panels = []
        for n in orient:
            if n.endswith("grains"):
                panels.append(one(n, categorical=True))
            else:
                panels.append(one(n, cmap="gray_r" if n.endswith("boundaries") else "viridis"))
        sec.fig(hv.Layout(panels).cols(3), linked=True)

    rest = [n for n, v in maps.items() if n not in done and v.ndim == 2 and v.dtype.kind in "fiub"]
    if rest:
        sec.html("<h3>other maps</h3>")
        sec.fig(hv.Layout([one(n) for n in rest]).cols(3), linked=True)
    return sec


def _decomposition_block(sec: Section, ds: xr.Dataset, maps: dict, done: set[str], s: int) -> None:
    """One static grid per decomposition's weights (a map per component), drawn every ``s``-th pixel."""
    decomp = [n for n, v in maps.items() if v.ndim == 3 and n not in done and RGB not in v.dims
              and (n.endswith("_weights") or n in ("pca", "nmf", "cnmf"))]
    for name in decomp:
        done.add(name)
        dim = next(d for d in maps[name].dims if d not in (Y, X))
        da = small(ds[name], s).transpose(dim, Y, X)
        fig = maps_png([(f"{name} {dim}={c}", da.isel({dim: i}), "viridis") for i, c in enumerate(da[dim].values)],
                       cols=8)
        sec.html(f"<h3>decomposition: {esc(name)}</h3>" + img(fig, f"{name}: one map per {dim}"))


def _is_spread(v: xr.DataArray) -> bool:
    """A variable ``vaearr spread`` wrote (its attrs say which features and regions it measured)."""
    return "features" in v.attrs and "regions" in v.attrs and "level" in v.attrs


def _deformation_block(sec: Section, ds: xr.Dataset, maps: dict, done: set[str], one: Any) -> None:
    """``vaearr spread``'s maps, each feature map's kernel spread, domain spread (log10) and recrystallised regions
    in a row, the orientations' KAM and GROD beside them when the store has them."""
    hv = holoviews()
    spreads = [n for n, v in maps.items() if n not in done and _is_spread(v) and n.endswith("_kernel_spread")]
    if not spreads:
        return
    sec.html("<h3>deformation</h3><p><code>vaearr spread</code>: per feature map, the kernel spread (a KAM "
             "analogue: a pixel's spread to its grain's pixels around it), the domain spread (a GOS analogue: its "
             "grain's spread around the grain's mean; log10) and the grains whose spread is at the noise floor "
             "(recrystallised). Feature maps in units of their per-pixel noise (1 = noise alone), orientations in "
             "degrees.</p>")
    panels = []
    for kernel in spreads:
        prefix = kernel[: -len("_kernel_spread")]
        domain = f"{prefix}_domain_spread"
        rex = next((n for n, v in maps.items() if v.dtype == bool and _is_spread(v)
                    and v.attrs.get("features") == ds[kernel].attrs.get("features")), None)
        units = "°" if ds[kernel].attrs.get("units") == "degrees" else "× noise"
        panels.append(one(kernel, cmap="viridis", title=f"{kernel} ({units})"))
        if domain in maps:
            done.add(domain)
            d = np.log10(ds[domain].where(ds[domain] > 0)).rename(f"log10 {domain}")
            panels.append(image_map(small(d, stride_of(ds)), frame_size=300, cmap="magma",
                                    title=f"log10 {domain} ({units})"))
        if rex is not None:
            done.add(rex)
            shown = xr.where(ds[rex], 1.0, 0.0).where(np.isfinite(ds[domain]) if domain in maps else True)
            shown = shown.rename(rex)
            shown.attrs["labels"] = ["deformed", "recrystallised"]
            frac = float(ds[rex].values[np.isfinite(ds[domain].values)].mean()) if domain in maps else float("nan")
            panels.append(image_map(small(shown, stride_of(ds)), frame_size=300, categorical=True,
                                    title=f"{rex} ({100 * frac:.0f} % of the pixels)"))
    for part in ("kam", "grod"):  # the orientations' own measures, for comparison
        for n in maps:
            if n.startswith("orientation") and n.endswith(f"_{part}"):
                done.add(n)
                panels.append(one(n, cmap="viridis", title=f"{n} (°)"))
    sec.fig(hv.Layout(panels).cols(3), linked=True)


__all__ = ["category_rgb", "made_by", "maps_section", "run_section", "store_section"]
