"""The options of ``vaearr import-weights``, declared once (:mod:`vaearr.options`): the command line and the Python
step (:func:`vaearr.import_weights`) derive theirs from these; a training's are :class:`~vaearr.train.TrainConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from vaearr.options import opt, parse_none, parse_options
from vaearr.train.config import MIN_SIDE


@dataclass(frozen=True, kw_only=True)
class ImportWeightsOptions:
    """Everything ``vaearr import-weights`` and :func:`vaearr.import_weights` take
    (:func:`~vaearr.train.weights.import_weights`)."""

    weights: Path = opt(help="The script's checkpoint (.pth/.pt: a state dict, or a dict holding one).", flags=())
    store: str = opt(help="Store with the variable the run will encode (fits the input pipeline).", flags=(),
                     deprecated=("--store",))
    script: str = opt(help="The script: ebsd-script, beta-vae or mnist-vae (the family the weights come from, not an "
                           "input variable: that is `var`).", flags=("--from",))
    run: Path = opt(help="New run folder.", flags=("--run", "-r"))
    var: str = opt("patterns", "Variable to encode.")
    mask: str | None = opt("auto", "Mask variable ('auto': roi if present; 'none').", cli_type=str, parse=parse_none)
    scale: str | None = opt(None, "Input range [0,1] or [-1,1] (default: the script's).")
    resize: int | None = opt(None, "Resize samples to N×N (the size the script trained on).", min=MIN_SIDE)
    crop: int | None = opt(None, "Centre-crop samples to N×N.", min=MIN_SIDE)
    model_options: dict[str, Any] = opt({}, "conv-vae option key=value the checkpoint cannot tell, e.g. -o "
                                            "upsample_mode=bilinear.", flags=("--option", "-o"),
                                        cli_type=Optional[list[str]], parse=parse_options, cli_default=None)
