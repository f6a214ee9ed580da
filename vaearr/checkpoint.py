"""Training state on disk with nothing to unpickle: tensors in safetensors, everything else in JSON.

A run folder may come from someone else (a shared drive, a colleague's run): loading it must
never run code. :func:`save_state` writes a nested structure of dicts, lists, tuples, numbers,
strings, tensors and numpy arrays as ``state.json`` + ``state.safetensors``; :func:`load_state`
reads it back exactly (tuples stay tuples, integer dict keys stay integers, tensors keep dtype
and values). :func:`rng_state` / :func:`set_rng_state` capture every random stream training
uses (Python, numpy, torch, CUDA) in that form.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from vaearr.errors import InputError
from vaearr.files import write_bytes_whole

JSON_FILE = "state.json"
TENSORS_FILE = "state.safetensors"
#: What older vaearr wrote: a pickle. Never loaded.
LEGACY_FILE = "state.pt"


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().to("cpu").clone().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot save {type(obj).__name__} in a training state (tensors, arrays, numbers, strings only)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        return np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"])).reshape(obj["shape"])
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def save_state(folder: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` into ``folder`` as ``state.json`` + ``state.safetensors`` (each renamed into place)."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, tensors)
    write_bytes_whole(folder / TENSORS_FILE, safetensors_bytes(tensors))  # a full disk: an OSError, not safetensors' own
    write_bytes_whole(folder / JSON_FILE, json.dumps(tree))


def load_state(folder: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    """Read what :func:`save_state` wrote. A pickled ``state.pt`` (older vaearr) is refused, not loaded."""
    folder = Path(folder)
    if not (folder / JSON_FILE).exists():
        if (folder / LEGACY_FILE).exists():
            raise InputError(folder / LEGACY_FILE, "a pickled training state (written by vaearr before 0.2, or "
                             "planted): refusing to unpickle it, as that could run code; retrain, or resume a run "
                             "written by this version")
        raise InputError(folder, f"no training state here ({JSON_FILE})")
    try:
        tree = json.loads((folder / JSON_FILE).read_text())
        tensors = load_file(str(folder / TENSORS_FILE), device=map_location)
    except (OSError, ValueError, SafetensorError) as exc:  # a cut or damaged tensors file: safetensors' own error
        raise InputError(folder, f"unreadable training state ({exc})") from None
    return _decode(tree, tensors)


def rng_state() -> dict[str, Any]:
    """Every random stream training draws from: Python's, numpy's global, torch's CPU and CUDA generators."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
