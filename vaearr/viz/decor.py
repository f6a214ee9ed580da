"""What a map carries beside its pixels: the scale bar (a round length, :func:`scale_length`), the legend and the
insets (:class:`MapDecor`), and ticks on pixel centres (:func:`pixel_ticks`); :mod:`vaearr.viz.static` gives them
too."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.offsetbox import AnchoredOffsetbox, OffsetImage, TextArea, VPacker
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

if TYPE_CHECKING:  # the legend's labels, made by vaearr.viz.static.categories
    from vaearr.viz.static import Categories


#: Resolution an inset's image (an IPF colour key) is drawn at: it is shown at its own size, beside the map.
INSET_DPI = 300


def pixel_ticks(ax: Any, extent: tuple[float, float, float, float], shape: tuple[int, ...], *, nbins: int = 5) -> None:
    """Ticks of a map's axes on pixel centres: whole pixel counts from the first centre (1, 2 or 5 × 10^k pixels
    apart), so no tick falls between two pixels; ``extent`` ``(left, right, bottom, top)`` holds ``shape``
    ``(rows, cols, ...)`` pixels edge to edge."""
    left, right, bottom, top = extent
    for axis, lo, hi, n in ((ax.xaxis, left, right, shape[1]), (ax.yaxis, top, bottom, shape[0])):
        if n < 1 or not (math.isfinite(lo) and math.isfinite(hi)) or hi == lo:
            continue
        step = (hi - lo) / n
        k = MaxNLocator(nbins=nbins, integer=True, steps=[1, 2, 5, 10]).tick_values(0, n - 1)
        k = k[(k >= 0) & (k <= n - 1)]
        axis.set_major_locator(FixedLocator(lo + (k + 0.5) * step))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.6g}"))


def scale_length(width: float) -> float:
    """The round length (1, 2 or 5 × 10^k) nearest, in ratio, to a fifth of ``width``.

    Examples
    --------
    >>> scale_length(100.0), scale_length(37.0), scale_length(0.9)
    (20.0, 10.0, 0.2)
    """
    target = width / 5
    if not (math.isfinite(target) and target > 0):
        return 1.0
    k = math.floor(math.log10(target))
    candidates = [m * 10.0 ** e for e in (k - 1, k, k + 1) for m in (1, 2, 5)]
    best = min(candidates, key=lambda c: abs(math.log(c / target)))
    return float(f"{best:.6g}")


def scale_text(length: float, unit: str) -> str:
    """``"20 µm"``: the bar's label."""
    return f"{length:g} {unit}"


@dataclass(frozen=True)
class MapDecor:
    """The scale bar (in ``units``; none when None), the legend (``cats``, then ``extra`` entries ``(name, colour)``
    of what is drawn over the map, such as boundaries) and the ``insets`` (``(title, RGBA image)``, such as an IPF
    colour key, beside the map) of one map, drawn on a Matplotlib axes (:meth:`draw`) or a Bokeh figure
    (:meth:`bokeh`: scale bar and legend); :meth:`bokeh_hook` and :meth:`mpl_hook` are the same as HoloViews hooks."""

    units: str | None = None
    cats: Categories | None = None
    extra: tuple[tuple[str, str], ...] = ()
    insets: tuple[tuple[str, np.ndarray], ...] = field(default=(), compare=False, repr=False)

    @property
    def legend(self) -> list[tuple[str, str]]:
        """``(name, colour)`` of every legend entry: the labels', then the overlays'."""
        return (self.cats.legend if self.cats is not None else []) + list(self.extra)

    def draw(self, ax: Any, extent: tuple[float, float, float, float], *, fontsize: float = 8) -> None:
        """On ``ax``: the scale bar at the lower right, the legend beside the map (outside, right), the insets below
        the legend (outside, right)."""
        l, r = sorted(extent[:2])
        if self.units:
            length = scale_length(r - l)
            bar = AnchoredSizeBar(ax.transData, length, scale_text(length, self.units), "lower right",
                                  pad=0.3, borderpad=0.4, sep=3, frameon=True, size_vertical=0,
                                  fontproperties={"size": fontsize})
            bar.patch.set(alpha=0.75, edgecolor="none")
            bar.size_bar.get_children()[0].set(linewidth=2.5, edgecolor="black")
            ax.add_artist(bar)
        if self.legend:
            handles = [Patch(facecolor=c, edgecolor="0.3", linewidth=0.4, label=n) for n, c in self.legend]
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                      fontsize=fontsize, frameon=False, title=None)
        if self.insets:
            # each at its own size (drawn at INSET_DPI, its text legible at that size) whatever the map's, titled,
            # stacked upward from the map's lower right corner, outside it
            boxes = [VPacker(children=[TextArea(title, textprops={"fontsize": fontsize - 1}),
                                       OffsetImage(image, zoom=72 / INSET_DPI, dpi_cor=True)],
                             align="center", pad=0, sep=2) for title, image in self.insets]
            ax.add_artist(AnchoredOffsetbox("lower left", child=VPacker(children=boxes, align="left", pad=0, sep=6),
                                            bbox_to_anchor=(1.03, 0), bbox_transform=ax.transAxes, frameon=False,
                                            borderpad=0, pad=0))

    def bokeh(self, fig: Any) -> None:
        """On the Bokeh figure ``fig``: a scale bar (Bokeh's ``ScaleBar``) and a legend of colour squares."""
        from bokeh.models import Legend, LegendItem, MetricLength, ScaleBar

        if self.units and not any(isinstance(a, ScaleBar) for a in fig.center):
            # a round length (1, 2 or 5 × 10^k, as the static files), re-chosen as one zooms
            fig.add_layout(ScaleBar(range=fig.x_range, unit=self.units,
                                    dimensional=MetricLength(ticks=[1, 2, 5, 10, 20, 50, 100, 200, 500]),
                                    location="bottom_right", bar_length=0.15, bar_line_width=2.5,
                                    background_fill_alpha=0.75, label_text_font_size="9pt"))
        if self.legend and not any(isinstance(a, Legend) for a in fig.right):
            x = [np.nan]
            items = [LegendItem(label=n, renderers=[fig.scatter(x, x, marker="square", size=10, color=c,
                                                                line_color="#4d4d4d")])
                     for n, c in self.legend]
            fig.add_layout(Legend(items=items, location="top_left", label_text_font_size="9pt",
                                  click_policy="none", border_line_alpha=0), "right")

    def hooks(self) -> dict[str, list]:
        """HoloViews' ``hooks`` option for each backend (none when there is nothing to draw)."""
        drawn = bool(self.units or self.legend or self.insets)
        return {"bokeh": [self.bokeh_hook] if drawn else [], "matplotlib": [self.mpl_hook] if drawn else []}

    def decorate(self, element: Any) -> Any:
        """``element`` (an image or RGB map) with this scale bar and legend on both backends."""
        hooks = self.hooks()
        return element.opts(backend="bokeh", hooks=hooks["bokeh"]).opts(backend="matplotlib", hooks=hooks["matplotlib"])

    def bokeh_hook(self, plot: Any, element: Any) -> None:
        """A HoloViews Bokeh hook: :meth:`bokeh` on the plot's figure."""
        self.bokeh(plot.state)

    def mpl_hook(self, plot: Any, element: Any) -> None:
        """A HoloViews Matplotlib hook: :meth:`draw` on the plot's axes."""
        l, b, r, t = element.bounds.lbrt() if hasattr(element, "bounds") else (*element.range(0), *element.range(1))
        ax = plot.handles["axis"]
        self.draw(ax, (l, r, b, t))
        data = getattr(element, "data", None)
        if hasattr(element, "bounds") and isinstance(data, np.ndarray) and data.ndim >= 2:
            # HoloViews draws y downward by inverting the axis: the extent's top is its smaller y
            pixel_ticks(ax, (l, r, t, b), data.shape)


def decor_of(hooks: Sequence[Any] | None) -> MapDecor | None:
    """The :class:`MapDecor` among an element's hooks, or None."""
    for hook in hooks or ():
        owner = getattr(hook, "__self__", None)
        if isinstance(owner, MapDecor):
            return owner
    return None
