"""Active latent dims of a trained run, measured on the samples ``vaearr encode`` encodes, and the warning on collapse.

The per-epoch ``val_active_units`` of the history are measured on the validation split, which on a
small map may hold one sample (a variance over one sample is 0: every dim looks inactive). The figure
:func:`fit` reports is measured once, after training, with the best checkpoint (the one ``encode`` uses)
on the samples inside the run's mask: all of them when there are at most :data:`ACTIVE_SAMPLES` (the
samples ``encode`` then encodes, so both commands give the same figure), else a seeded choice of
:data:`ACTIVE_SAMPLES` of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vaearr.batches import ZarrBatches
from vaearr.batches.spec import channel_axis, to_channels_first
from vaearr.models import config_from_dict
from vaearr.models.latent_stats import ACTIVE_THRESHOLD, LatentStats
from vaearr.run import Run, RunError
from vaearr.store import open_store
from vaearr.train.window import load_window, map_patterns

#: Samples the active units are measured on at most (all of them inside the mask when there are no more).
ACTIVE_SAMPLES = 4096
#: Fewer active dims than this fraction of the latent: training warns of posterior collapse.
COLLAPSE_FRACTION = 0.25


@dataclass
class ActiveUnits:
    """Active latent dims of a run's model over ``n`` of the ``inside`` samples inside its mask."""

    active: int
    dims: int
    n: int
    inside: int
    #: the model measured: ``best checkpoint`` (the one encode uses), or the trained model when none was saved
    checkpoint: str = "best checkpoint"

    @property
    def whole(self) -> bool:
        """Whether every sample inside the mask was measured (the figure ``vaearr encode`` gives)."""
        return self.n == self.inside

    def basis(self) -> str:
        """What the figure was measured on: ``best checkpoint, all 9 samples inside the mask, as encode …``."""
        over = (f"all {self.n} samples inside the mask, as encode measures them" if self.whole
                else f"a seeded sample of {self.n} of the {self.inside} samples inside the mask")
        return f"{self.checkpoint}, {over}; variance of the posterior mean > {ACTIVE_THRESHOLD:g}"

    def describe(self) -> str:
        """``4 of 4 latent dims (best checkpoint, all 9 samples inside the mask, as encode measures them; …)``."""
        return f"{self.active} of {self.dims} latent dims ({self.basis()})"


def measured_model(run: Run, trained: Any, device: Any) -> tuple[Any, str]:
    """The model the figure is measured with and its name: the best checkpoint (the one ``encode`` uses), or the
    trained model itself when the run saved none (callbacks without the checkpointer)."""
    try:
        return run.model("best", device=device), "best checkpoint"
    except RunError:
        return trained, "the trained model (no checkpoint saved)"


def _inside(run: Run) -> int:
    d = run.data
    ds = open_store(d.store)
    return int(ds[d.mask].sum()) if d.mask else int(np.prod([ds.sizes[s] for s in d.sample_dims]))


@torch.inference_mode()
def measure_active_units(run: Run, model: Any, *, device: Any = "cpu", seed: int = 0,
                         checkpoint: str = "best checkpoint", n: int = ACTIVE_SAMPLES) -> ActiveUnits | None:
    """Active dims of ``model`` (vector latents; None for spatial ones) over the run's samples inside its mask.

    At most ``n`` samples inside the mask: all of them, read as ``encode`` reads them. More: a seeded
    choice of ``n`` (from the stored samples, or for a run trained on a window, whose map holds no
    averaged variable, from rows spread over the map).
    """
    if len(getattr(model, "latent_shape", ())) != 1:
        return None
    model = model.to(device).eval()
    stats, inside = LatentStats(), _inside(run)
    if inside <= n:
        for b in run.encode(model=model, reconstruct=False, device=device):
            stats.add(b.mu, b.logvar)
    else:
        for x in _sampled_inputs(run, n, seed):
            stats.add(*model.encode(run.preprocess(x.to(device))))
    got = stats.result()
    if not got:
        return None
    return ActiveUnits(got["active_units"], len(got["kl_per_dim"]), stats.n, inside, checkpoint)


def _sampled_inputs(run: Run, n: int, seed: int) -> Any:
    """Batches ``(B, C, *spatial)`` of a seeded choice of ``n`` samples inside the run's mask, stored dtype."""
    d = run.data
    window = load_window(run.path)
    if window is not None and not window.whole:
        patterns = map_patterns(run, n=n, seed=seed)
        axis = channel_axis(open_store(d.store)[d.var].coords, d.feature_dims)
        for start in range(0, len(patterns), 256):
            yield torch.from_numpy(np.ascontiguousarray(to_channels_first(patterns[start:start + 256], axis)))
        return
    loader = ZarrBatches(d.store, var=run.preprocess.source_variable(d.var), sample_dims=d.sample_dims,
                         feature_dims=d.feature_dims, mask=d.mask, batch_size=256, shuffle=False, split="all",
                         dtype=None, subset=n, seed=seed)
    with loader:
        yield from loader


def collapse_advice(run: Run) -> str:
    """The options that help against posterior collapse, less those the run already has on (named as keywords,
    ``kl_warmup_epochs=5``: the command line says its flags, ``--kl-warmup 5``; model options as ``-o key=value``)."""
    train, model = run.train, run.model_config
    head = getattr(config_from_dict(model), "output_head", None)
    tips, on = [], []
    if model.get("data_range") == "standardized" and head == "gaussian":
        on.append("`standardize=True` with the gaussian head")
    else:
        tips.append("standardised inputs with the gaussian head (`standardize=True`, the EBSD default)")
    if model.get("free_bits"):
        on.append(f"free_bits={float(model['free_bits']):g}")
    elif "free_bits" in model:
        tips.append("-o free_bits=0.5")
    if train.get("kl_warmup_epochs") or train.get("kl_cycles"):
        on.append("`kl_warmup_epochs`" if train.get("kl_warmup_epochs") else "`kl_cycles`")
    else:
        tips.append("`kl_warmup_epochs=5` or `kl_cycles=4`")
    if float(model.get("beta", 1.0)) < 1.0:
        on.append(f"beta={float(model['beta']):g}")
    else:
        tips.append("-o beta=0.5")
    text = f"what may help: {', '.join(tips)}" if tips else "what may help: more epochs or a smaller `latent_dim`"
    return text + (f" (already on: {', '.join(on)})" if on else "")


def collapse_warning(run: Run, units: ActiveUnits | None) -> str | None:
    """The warning when fewer than a quarter of the latent dims are active, with what may help; else None."""
    if units is None or units.active >= units.dims * COLLAPSE_FRACTION:
        return None
    return (f"only {units.active} of {units.dims} latent dims are active ({units.basis()}): posterior collapse, "
            f"the latents carry almost nothing; {collapse_advice(run)}")
