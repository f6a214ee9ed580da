"""The interactive latent explorer: one slider per latent dim and the decoded image, live (Panel)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vaearr.analysis.generate import decode
from vaearr.analysis.latents import base_vector, encode_samples, prototypes
from vaearr.errors import InputError, VaearrError, require
from vaearr.viz.app_shell import card, serve, shell
from vaearr.viz.grids import displayable, image_grid

# --------------------------------------------------------------------------------------------
# interactive explorer


def _label(widget: type, text: str) -> dict[str, str]:
    """A widget's caption: ``label`` from Panel 1.9 (``name`` is deprecated there), ``name`` before."""
    return {"label" if "label" in widget.param else "name": text}


class Explorer:
    """One slider per latent dim and the decoded image, live (Panel).

    In a notebook, display :meth:`panel`; as an app, :meth:`serve` (``vaearr explore STORE
    --run DIR --serve``). :meth:`image` is the decoded image at the current slider values, the
    same array the view draws.

    Parameters
    ----------
    model
        A vector-latent model.
    base
        Starting values, (latent_dim,); default zeros (the prior's mean).
    value_range
        Slider range of every dim.
    step
        Slider step.
    clim
        Colour range of the image (the run's data range); None scales to each decoded image.
    """

    def __init__(self, model: Any, base: np.ndarray | None = None, *, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.05, clim: tuple[float, float] | None = (0.0, 1.0), title: str = "decoded",
                 subtitle: str = ""):
        pn = require("panel", "viz")
        if len(model.latent_shape) != 1:
            raise InputError(None, f"the explorer needs a vector latent; this model's latent is {model.latent_shape}")
        self.model = model
        self.clim = clim
        self.title = title
        self.subtitle = subtitle
        d = int(model.latent_shape[0])
        base = np.zeros(d, np.float32) if base is None else np.asarray(base, np.float32).ravel()
        lo, hi = value_range
        self.sliders = [
            pn.widgets.FloatSlider(**_label(pn.widgets.FloatSlider, f"z{i}"), start=float(min(lo, base[i])),
                                   end=float(max(hi, base[i])), step=step, value=float(base[i]), width=220)
            for i in range(d)
        ]

    @property
    def z(self) -> np.ndarray:
        """Current latent vector (latent_dim,)."""
        return np.array([s.value for s in self.sliders], np.float32)

    def image(self, *values: float) -> np.ndarray:
        """Decoded image (H, W) or (H, W, 3) at ``values`` (default: the sliders')."""
        z = np.asarray(values, np.float32) if values else self.z
        return displayable(decode(self.model, z[None]))[0]

    def _view(self, *values: float):
        z = np.asarray(values, np.float32) if values else self.z
        return image_grid(decode(self.model, z[None])[None], title=self.title, clim=self.clim, cell_px=320)

    def panel(self):
        """The app: sliders on the left, the image on the right (re-decoded whenever a slider moves)."""
        pn = require("panel", "viz")
        reset = pn.widgets.Button(**_label(pn.widgets.Button, "reset to zero"), width=220)

        def _reset(_event: Any) -> None:
            for s in self.sliders:
                s.value = 0.0

        reset.on_click(_reset)
        hv = require("holoviews", "viz")
        # a DynamicMap updates the one plot in place (its image data) when a slider moves; a
        # plain bound function would hand the pane a new element each time, and Bokeh's figure
        # would keep every earlier image as another renderer
        view = hv.DynamicMap(pn.bind(self._view, *self.sliders))
        sliders = pn.Column(*self.sliders, scroll=True, height=560)
        return shell("latent explorer", card(pn.pane.HoloViews(view, backend="bokeh")), sidebar=[reset, sliders],
                     subtitle=self.subtitle)

    def serve(self, port: int | None = 5006, *, show: bool = False, address: str = "127.0.0.1",
              announce: Any = print, **kwargs: Any):
        """Serve the app on ``address`` (``port`` None or 0: a free one, announced); blocks until stopped."""
        return serve(self.panel(), title="latent explorer", port=port, address=address, show=show, announce=announce,
                     **kwargs)



def explorer_for_run(store: str | os.PathLike, run: str | os.PathLike, *, base: str | Sequence[float] | None = None,
                     n: int | None = 1000, seed: int = 0, label: str | None = "auto", device: str = "cpu") -> Explorer:
    """An :class:`Explorer` for a run, starting at the mean latent of ``n`` samples (or a prototype / given values)."""
    lr, enc = encode_samples(store, run, n=n, seed=seed, label=label, keep_inputs=False, device=device)
    if not lr.vector_latent:
        raise VaearrError(f"{lr.path}: the explorer needs a vector latent (model {lr.model.config.name})")
    protos = prototypes(enc.mu, enc.labels) if enc.labels is not None else None
    start, name = base_vector(base, protos, enc.mu)
    return Explorer(lr.model, start, clim=lr.data_range, title=f"decoded ({name} at start)",
                    subtitle=f"{store} · run {run}")
