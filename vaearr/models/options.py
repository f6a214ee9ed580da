"""Model options from a file: a JSON config of any family, or a Stable Diffusion / ldm YAML for autoencoder-kl."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vaearr.errors import InputError
from vaearr.models.autoencoder_kl import AutoencoderKLConfig


def options_from_file(path: str | os.PathLike, model: str) -> dict[str, Any]:
    """The config fields a file gives (``name`` and ``input_shape`` left out: the data decide those)."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        if model != "autoencoder-kl":
            raise InputError(path, f"a YAML config is read for autoencoder-kl only (model is {model})")
        d = json.loads(AutoencoderKLConfig.from_ldm_yaml(path).to_json())
    else:
        try:
            d = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(path, f"not a readable JSON config ({exc})") from None
    d.pop("name", None)
    d.pop("input_shape", None)
    return d
