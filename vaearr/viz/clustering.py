"""``vaearr cluster``'s figure: the map in cluster colours beside the scatter of the clustered features."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.analysis.clustering import MAX_SCATTER, NOISE_RGB, ClusterResult, palette
from vaearr.store import open_store
from vaearr.store.schema import RGB
from vaearr.viz.core import FIG_INCHES, FRAME_WIDTH, both, holoviews, save_figure
from vaearr.viz.static import MapDecor
from vaearr.viz.orientations import ipf_element


#: more clusters than this: the scatter is one element coloured per point, with no legend
MAX_LEGEND = 20


def cluster_figure(
    grid_rgb: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    latent: np.ndarray,
    bc: np.ndarray | None,
    labels: np.ndarray,
    *,
    title: str = "clusters",
    latent_label: str = "latent",
    bc_label: str = "bandcontrast",
    seed: int = 0,
    colors: list[str] | None = None,
    ipf=None,
):
    """The map (RGB, y down) beside the (latent, band contrast) scatter in the same colours.

    The scatter's points take the hue of their cluster (``colors``, cluster 0 first; default tab10/tab20).
    ``ipf``: an ``(y, x, rgb)`` IPF map on the same grid (``orientation_ipf``), drawn beside the map.
    """
    hv = holoviews()
    sx = float(np.diff(xs)[0]) if xs.size > 1 else 1.0
    sy = float(np.diff(ys)[0]) if ys.size > 1 else 1.0
    bounds = (xs[0] - sx / 2, ys[0] - sy / 2, xs[-1] + sx / 2, ys[-1] + sy / 2)
    # the store's scan grid: x, y in µm (vaearr.store.schema), with a scale bar as every map
    rgb_map = hv.RGB(grid_rgb[::-1], bounds=bounds, kdims=[hv.Dimension("x", unit="µm"), hv.Dimension("y", unit="µm")])
    aspect = (bounds[2] - bounds[0]) / (bounds[3] - bounds[1]) if bounds[3] != bounds[1] else 1.0
    fw = FRAME_WIDTH
    rgb_map = both(rgb_map, dict(title=f"{title}: map", invert_yaxis=True),
                          bokeh=dict(frame_width=fw, frame_height=max(40, int(fw / aspect))),
                          mpl=dict(aspect="equal", fig_inches=(FIG_INCHES, FIG_INCHES / max(aspect, 0.2))))
    rgb_map = MapDecor("µm").decorate(rgb_map)
    n = labels.size
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, MAX_SCATTER, replace=False)) if n > MAX_SCATTER else np.arange(n)
    yv = bc if bc is not None else np.zeros(n)
    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    pal = palette(k, colors)
    kdims = [latent_label, bc_label if bc is not None else "zero"]

    def hexcolor(c: int) -> str:
        return "#%02x%02x%02x" % tuple(int(round(255 * v)) for v in (NOISE_RGB if c < 0 else tuple(pal[c])))

    layers = []
    if k <= MAX_LEGEND:
        for c in [-1, *range(k)]:
            sel = pick[labels[pick] == c]
            if not sel.size:
                continue
            pts = hv.Points((latent[sel], yv[sel]), kdims=kdims, label="noise" if c < 0 else f"cluster {c}")
            layers.append(both(pts, dict(color=hexcolor(c)), bokeh=dict(size=3, alpha=0.6), mpl=dict(s=3, alpha=0.6)))
    else:
        # one element coloured point by point: an overlay of hundreds of elements takes holoviews minutes to
        # draw, and a legend of hundreds of entries says nothing the map does not
        lut = np.array([hexcolor(c) for c in range(-1, k)])
        pts = hv.Points((latent[pick], yv[pick], lut[labels[pick] + 1]), kdims=kdims, vdims=["color"])
        layers.append(both(pts, dict(color="color"), bokeh=dict(size=3, alpha=0.6), mpl=dict(s=3, alpha=0.6)))
    scatter = both(hv.Overlay(layers), dict(title=f"{title}: {latent_label} vs {bc_label}"),
                          bokeh=dict(frame_width=fw, frame_height=fw, legend_position="right"),
                          mpl=dict(fig_inches=(FIG_INCHES, FIG_INCHES)))
    panels = [rgb_map, scatter]
    if ipf is not None:
        panels.insert(1, ipf_element(ipf, title=f"{ipf.name or 'orientation_ipf'} (sample "
                                                f"{ipf.attrs.get('sample_direction', 'z')})"))
    return both(hv.Layout(panels).cols(len(panels)), {}, mpl=dict(sublabel_format=""))


def store_ipf(store: str | os.PathLike | None, xs: np.ndarray, ys: np.ndarray, name: str = "orientation_ipf"):
    """The store's IPF map on the pixels ``xs``/``ys`` of a figure, or None when there is none."""
    if store is None:
        return None
    ds = open_store(store)
    if name not in ds or set(ds[name].dims) != {"y", "x", RGB}:
        return None
    ipf = ds[name].sel(x=xs, y=ys, method="nearest").load()
    return ipf.assign_coords(x=xs, y=ys)


def cluster_figure_files(result: ClusterResult, store: str | os.PathLike | None = None, *, figures: FigureOptions = DEFAULT_FIGURES) -> dict[str, Path]:
    """Draw :func:`cluster_figure` of a :func:`~vaearr.analysis.clustering.joint_cluster` result into its
    output folder (``cluster_map__{tag}`` HTML + PNG) and add both to its files and report.

    With ``store`` holding ``orientation_ipf``, the IPF map is drawn beside the cluster map."""
    p = result.params
    second = result.points.shape[1] > 1
    fig = cluster_figure(result.map_rgb, result.xs, result.ys, result.points[:, 0],
                         result.points[:, 1] if second else None, result.point_labels,
                         title=f"{p['method']} ({result.tag})", latent_label=f"{p['latent']}[{p['dim']}]",
                         bc_label=p.get("with_var") or "", seed=result.seed, colors=result.colors,
                         ipf=store_ipf(store, result.xs, result.ys))
    html, png = save_figure(fig, result.out / f"cluster_map__{result.tag}", figures=figures)
    result.files["figure_html"], result.files["figure_png"] = Path(html), Path(png)
    result.write_report()
    return {"figure_html": Path(html), "figure_png": Path(png)}
