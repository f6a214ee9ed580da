"""Figures of images and tables of numbers: image grids (one mosaic per figure), heatmaps, bars, scatters, embeddings.

Images are drawn as one mosaic per figure (one Bokeh/Matplotlib image, not hundreds of small
plots), so a figure stays small and fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from vaearr.analysis.embedding import Embedding
from vaearr.viz.core import both as _both
from vaearr.viz.core import holoviews as _hv
from vaearr.viz.maps import overlay

# --------------------------------------------------------------------------------------------
# figures


def displayable(images: np.ndarray, spatial_dims: int = 2, z: int | None = None) -> np.ndarray:
    """Model outputs (..., C, H, W) or (..., C, D, H, W) → (..., H, W) gray or (..., H, W, 3) RGB.

    Volumes (``spatial_dims=3``) show slice ``z`` along D (None: the middle one); other than
    three channels show the first.

    Examples
    --------
    >>> displayable(np.zeros((5, 1, 8, 6))).shape, displayable(np.zeros((2, 3, 8, 6))).shape
    ((5, 8, 6), (2, 8, 6, 3))
    >>> displayable(np.zeros((2, 1, 4, 8, 6)), spatial_dims=3).shape
    (2, 8, 6)
    """
    images = np.asarray(images, np.float32)
    if spatial_dims == 3:
        images = images[..., images.shape[-3] // 2 if z is None else z, :, :]
    if images.shape[-3] == 3:
        return np.moveaxis(images, -3, -1)
    return images[..., 0, :, :]


def tile(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """Tile a (R, K, H, W[, 3]) grid of images into one mosaic, NaN between tiles.

    Returns
    -------
    numpy.ndarray
        (R·(H+pad) − pad, K·(W+pad) − pad[, 3]); tile ``(r, k)`` starts at row ``r·(H+pad)``.

    Examples
    --------
    >>> tile(np.ones((2, 3, 4, 5))).shape
    (9, 17)
    """
    images = np.asarray(images, np.float32)
    r, k, h, w = images.shape[:4]
    rest = images.shape[4:]
    out = np.full((r * (h + pad) - pad, k * (w + pad) - pad, *rest), np.nan, np.float32)
    for i in range(r):
        for j in range(k):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = images[i, j]
    return out


def image_grid(
    images: np.ndarray,
    *,
    title: str = "",
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    clim: tuple[float, float] | None = None,
    cmap: str = "gray",
    cell_px: int = 64,
    z: int | None = None,
):
    """A grid of images as one HoloViews image (gray) or RGB, with row and column labels as ticks.

    Parameters
    ----------
    images
        (R, K, C, H, W) or (R, K, C, D, H, W) model outputs (volumes show their middle slice).
    row_labels, col_labels
        Tick labels of rows (top to bottom) and columns.
    clim
        Colour range (the data range of the network); default the finite range.
    cell_px
        Screen pixels per tile side in the HTML figure.
    z
        Volumes: the slice along D shown (None: the middle one).
    """
    hv = _hv()
    images = np.asarray(images, np.float32)
    if images.ndim not in (5, 6):
        raise ValueError(f"image_grid takes (rows, cols, C, H, W) or (rows, cols, C, D, H, W), got {images.shape}")
    images = displayable(images, images.ndim - 3, z)
    rgb = images.ndim == 5
    r, k, h, w = images.shape[:4]
    mosaic = tile(images)
    if clim is None:
        finite = mosaic[np.isfinite(mosaic)]
        clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    bounds = (0.0, 0.0, float(k), float(r))
    xticks = [(j + 0.5, str(v)) for j, v in enumerate(col_labels)] if col_labels is not None else []
    yticks = [(r - i - 0.5, str(v)) for i, v in enumerate(row_labels)] if row_labels is not None else []
    width = max(120, min(1400, cell_px * k))
    height = max(80, int(width * mosaic.shape[0] / mosaic.shape[1]))
    if rgb:
        lo, hi = clim
        scaled = np.clip((np.nan_to_num(mosaic, nan=hi) - lo) / max(hi - lo, 1e-12), 0, 1)
        element = hv.RGB(scaled, bounds=bounds)
    else:
        element = hv.Image(mosaic, bounds=bounds, vdims=["value"])
    common = dict(title=title, xlabel=xlabel, ylabel=ylabel, xticks=xticks or None, yticks=yticks or None,
                  xaxis="bottom" if xticks else None, yaxis="left" if yticks else None)
    if not rgb:
        common.update(cmap=cmap, clim=clim, clipping_colors={"NaN": "white"})
    inches = max(2.0, min(16.0, 0.9 * k))
    return _both(element, common,
                 bokeh=dict(frame_width=width, frame_height=height, toolbar="above", tools=["hover"] if not rgb else []),
                 mpl=dict(fig_inches=(inches + 1.0, max(1.5, inches * mosaic.shape[0] / mosaic.shape[1])),
                          aspect="equal"))


def heatmap(values: np.ndarray, *, rows: Sequence[Any], cols: Sequence[Any], title: str = "", xlabel: str = "latent_dim",
            ylabel: str = "", cmap: str = "RdBu_r", symmetric: bool = True, cell_px: int = 28):
    """A (rows × cols) table of numbers as a HoloViews HeatMap (prototypes, prior vectors, loadings)."""
    hv = _hv()
    values = np.asarray(values, np.float64)
    rows_s, cols_s = [str(v) for v in rows], [str(v) for v in cols]
    data = [(c, rw, float(values[i, j])) for i, rw in enumerate(rows_s) for j, c in enumerate(cols_s)]
    vmax = float(np.nanmax(np.abs(values))) if values.size else 1.0
    clim = (-vmax, vmax) if symmetric else (float(np.nanmin(values)), float(np.nanmax(values)))
    element = hv.HeatMap(data, kdims=[hv.Dimension("col", label=xlabel), hv.Dimension("row", label=ylabel)],
                         vdims=["value"])
    # categorical axes keep insertion order on Bokeh; rows listed top to bottom
    width = max(200, min(1200, cell_px * len(cols_s) + 120))
    height = max(150, min(1000, cell_px * len(rows_s) + 80))
    return _both(element, dict(cmap=cmap, clim=clim, colorbar=True, title=title, xlabel=xlabel, ylabel=ylabel,
                               invert_yaxis=True),
                 bokeh=dict(frame_width=width - 120, frame_height=height - 80, tools=["hover"], xrotation=0),
                 mpl=dict(fig_inches=(max(3.0, 0.4 * len(cols_s) + 2), max(2.5, 0.35 * len(rows_s) + 1.5)),
                          show_values=False))


def _label_colors(labels: np.ndarray | None) -> tuple[list[str], np.ndarray]:
    """Sorted unique labels (as strings) and each sample's label string."""
    if labels is None:
        return ["all"], np.array([])
    s = np.asarray(labels).astype(str)
    return sorted(set(s.tolist()), key=_natural), s


def _natural(v: str) -> tuple:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def scatter_by_label(coords: np.ndarray, labels: np.ndarray | None, *, title: str = "", xlabel: str = "",
                     ylabel: str = "", size: int = 420):
    """2D points coloured by label (categorical colours), as a HoloViews Scatter."""
    hv = _hv()
    coords = np.asarray(coords, np.float64)
    lab = np.asarray(labels).astype(str) if labels is not None else np.full(len(coords), "all")
    df = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "label": lab})
    # legend in label order (0, 1, ..., 9), not in order of first appearance
    df = df.iloc[sorted(range(len(lab)), key=lambda i: _natural(lab[i]))] if labels is not None else df
    element = hv.Scatter(df, kdims=[hv.Dimension("x", label=xlabel or "x")],
                         vdims=[hv.Dimension("y", label=ylabel or "y"), "label"])
    return _both(element, dict(color="label", cmap="Category10", title=title, xlabel=xlabel, ylabel=ylabel),
                 bokeh=dict(frame_width=size, frame_height=size, size=4, alpha=0.7, tools=["hover"],
                            legend_position="right", show_legend=labels is not None),
                 mpl=dict(fig_inches=(6, 5), s=6, alpha=0.7, show_legend=labels is not None))


def embedding_figure(embedding: Embedding, labels: np.ndarray | None, *, sampled: np.ndarray | None = None,
                     points: np.ndarray | None = None, title: str | None = None):
    """The embedding coloured by label, with the query points, the line through them and the sampled neighbours."""
    hv = _hv()
    names = {"pca": ("PC1", "PC2"), "tsne": ("t-SNE 1", "t-SNE 2"), "umap": ("UMAP 1", "UMAP 2")}[embedding.method]
    base = scatter_by_label(embedding.coords, labels, title=title or f"{embedding.method} of the latents",
                            xlabel=names[0], ylabel=names[1])
    layers = [base]
    if points is not None:
        pts = np.asarray(points)
        layers.append(_both(hv.Path([pts]), dict(color="black"), bokeh=dict(line_dash="dashed", line_width=1.5),
                            mpl=dict(linestyle="--", linewidth=1)))
        layers.append(_both(hv.Points(pts), dict(color="black"), bokeh=dict(size=10, marker="x"),
                            mpl=dict(s=40, marker="X")))
    if sampled is not None:
        nn = np.asarray(embedding.coords)[np.asarray(sampled)]
        layers.append(_both(hv.Points(nn), dict(color="red"), bokeh=dict(size=9, line_color="black"),
                            mpl=dict(s=30, edgecolors="black")))
        text = [(float(p[0]), float(p[1]), str(i)) for i, p in enumerate(nn)]
        layers.append(_both(hv.Labels(text), dict(), bokeh=dict(text_color="black", text_font_size="9pt"),
                            mpl=dict(color="black", fontsize=8)))
    if len(layers) == 1:
        return base
    return overlay(*layers)


def pairwise_scatter(mu: np.ndarray, labels: np.ndarray | None, dims: Sequence[int], *, title: str = "pairwise latents"):
    """Scatter plots of every pair of ``dims`` coloured by label, with per-label KDEs on the diagonal."""
    hv = _hv()
    dims = [int(d) for d in dims]
    names, lab = _label_colors(labels)
    cells = []
    palette = hv.Cycle("Category10").values
    for r in dims:
        for c in dims:
            if r == c:
                curves = []
                groups = [(n, mu[lab == n, r]) for n in names] if labels is not None else [("all", mu[:, r])]
                for k, (name, v) in enumerate(groups):
                    if len(v) < 2 or np.ptp(v) == 0:
                        continue  # a KDE needs spread
                    curves.append(_both(hv.Distribution(v, kdims=[f"z{r}"], label=name),
                                        dict(color=palette[k % len(palette)]),
                                        bokeh=dict(fill_alpha=0.15, line_width=1.5), mpl=dict(alpha=0.15)))
                cell = hv.Overlay(curves) if curves else hv.Distribution([], kdims=[f"z{r}"])
                cell = _both(cell, dict(title=f"z{r}", show_legend=False), bokeh=dict(frame_width=170, frame_height=170),
                             mpl=dict(fig_inches=(2.2, 2.2)))
            else:
                df = pd.DataFrame({f"z{c}": mu[:, c], f"z{r}": mu[:, r],
                                   "label": lab if labels is not None else "all"})
                cell = _both(hv.Scatter(df, kdims=[f"z{c}"], vdims=[f"z{r}", "label"]),
                             dict(color="label", cmap="Category10", title=f"z{r} vs z{c}", show_legend=False),
                             bokeh=dict(frame_width=170, frame_height=170, size=2, alpha=0.6),
                             mpl=dict(fig_inches=(2.2, 2.2), s=2, alpha=0.6))
            cells.append(cell)
    return _both(hv.Layout(cells).cols(len(dims)), dict(), mpl=dict(sublabel_format="", fig_size=80))


def bar_chart(values: pd.Series, *, title: str = "", xlabel: str = "", ylabel: str = "", highlight: Sequence[bool] | None = None):
    """One bar per entry of a Series (KL per dim, explained variance); highlighted bars in red."""
    hv = _hv()
    keys = [str(k) for k in values.index]
    hl = list(highlight) if highlight is not None else [False] * len(keys)
    df = pd.DataFrame({"key": keys, "value": values.to_numpy(np.float64),
                       "color": ["#c44e52" if h else "#4c72b0" for h in hl]})
    bars = hv.Bars(df, kdims=[hv.Dimension("key", label=xlabel)], vdims=[hv.Dimension("value", label=ylabel), "color"])
    width = max(300, min(1200, 28 * len(keys) + 100))
    rot = 45 if len(keys) > 12 or sum(len(k) for k in keys) > 60 else 0
    return _both(bars, dict(title=title, xlabel=xlabel, ylabel=ylabel, color=hv.dim("color"), show_legend=False,
                            axiswise=True, xrotation=rot),
                 bokeh=dict(frame_width=width, frame_height=300, tools=["hover"]),
                 mpl=dict(fig_inches=(max(4.0, 0.35 * len(keys) + 2), 3.5)))


def side_by_side(*figures: Any, cols: int | None = None):
    """A layout of figures (images beside their latent vectors, chart beside chart)."""
    hv = _hv()
    layout = hv.Layout(list(figures)).cols(cols or len(figures))
    return _both(layout, dict(), mpl=dict(sublabel_format=""))
