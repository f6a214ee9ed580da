"""The options of ``vaearr demo``, declared once (:mod:`vaearr.options`), apart from :mod:`vaearr.demo` (which
imports the whole library): the command line is made from them in a moment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaearr.options import opt


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    """Everything ``vaearr demo`` takes (:func:`vaearr.demo.run_demo`)."""

    out: Path = opt(Path("out/demo"), "Folder for the demo's store, exports and figures.")
    data: Path | None = opt(None, "Where the simulated demo files are built (cached).")
    epochs: int = opt(10, "Training epochs of the conv-vae.", min=1)
    latent_dim: int = opt(16, "Latent dims of the conv-vae.", min=1)
