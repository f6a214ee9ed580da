"""vaearr.checkpoint: training state saved with nothing to unpickle (tensors in safetensors, the rest in JSON), read
back exactly; a pickled state refused; every random stream captured and restored."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from vaearr.checkpoint import JSON_FILE, LEGACY_FILE, TENSORS_FILE, load_state, rng_state, save_state, set_rng_state
from vaearr.errors import InputError


def test_a_nested_state_reads_back_exactly(tmp_path):
    state = {
        "epoch": 3, "lr": 1e-3, "name": "conv-vae", "done": False, "none": None,
        "weights": {"enc.weight": torch.arange(6, dtype=torch.float16).reshape(2, 3), "steps": torch.tensor(7)},
        "shape": (1, 60, 60), "history": [{"loss": 0.5}, {"loss": 0.25}],
        "per_dim": {0: 1.5, 3: 2.5}, "__odd": 1,
        "array": np.arange(6, dtype=np.uint16).reshape(3, 2), "scalar": np.float32(0.5),
        "pairs": [(1, "a"), (torch.ones(2, dtype=torch.bool), None)],
    }
    save_state(tmp_path, state)
    assert sorted(p.name for p in tmp_path.iterdir()) == [JSON_FILE, TENSORS_FILE]
    got = load_state(tmp_path)
    assert got.keys() == state.keys()
    assert (got["epoch"], got["lr"], got["name"], got["done"], got["none"]) == (3, 1e-3, "conv-vae", False, None)
    w = got["weights"]["enc.weight"]
    assert w.dtype == torch.float16 and torch.equal(w, state["weights"]["enc.weight"])
    assert torch.equal(got["weights"]["steps"], torch.tensor(7))
    assert got["shape"] == (1, 60, 60) and isinstance(got["shape"], tuple)
    assert got["history"] == [{"loss": 0.5}, {"loss": 0.25}]
    assert got["per_dim"] == {0: 1.5, 3: 2.5} and all(isinstance(k, int) for k in got["per_dim"])
    assert got["__odd"] == 1
    assert got["array"].dtype == np.uint16 and np.array_equal(got["array"], state["array"])
    assert got["scalar"] == 0.5 and isinstance(got["scalar"], float)
    assert got["pairs"][0] == (1, "a") and torch.equal(got["pairs"][1][0], torch.ones(2, dtype=torch.bool))


def test_a_saved_tensor_is_a_copy_and_the_json_holds_no_tensor(tmp_path):
    t = torch.zeros(3)
    save_state(tmp_path, {"t": t})
    t += 1
    assert torch.equal(load_state(tmp_path)["t"], torch.zeros(3))
    assert json.loads((tmp_path / JSON_FILE).read_text()) == {"t": {"__tensor__": "t0"}}


def test_what_cannot_be_saved_is_named():
    with pytest.raises(TypeError, match=r"cannot save set in a training state \(tensors, arrays, numbers, strings only\)"):
        save_state("unused", {"a": {1, 2}})


def test_a_pickled_state_is_refused_and_never_loaded(tmp_path):
    (tmp_path / LEGACY_FILE).write_bytes(pickle.dumps({"epoch": 1}))
    with pytest.raises(InputError, match=r"state.pt: a pickled training state .* refusing to unpickle it"):
        load_state(tmp_path)
    with pytest.raises(InputError, match=r"no training state here \(state.json\)"):
        load_state(tmp_path / "empty")


def test_a_damaged_state_is_one_line(tmp_path):
    """A cut or overwritten tensors file raised safetensors' own SafetensorError (a traceback), not this line."""
    save_state(tmp_path, {"t": torch.ones(64)})
    whole = (tmp_path / TENSORS_FILE).read_bytes()
    for damaged in (b"\x00" * 5, whole[: len(whole) // 2]):
        (tmp_path / TENSORS_FILE).write_bytes(damaged)
        with pytest.raises(InputError, match=r"unreadable training state"):
            load_state(tmp_path)
    (tmp_path / JSON_FILE).write_text("{not json")
    with pytest.raises(InputError, match=r"unreadable training state"):
        load_state(tmp_path)


def test_every_random_stream_comes_back_through_a_saved_state(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    save_state(tmp_path, {"rng": rng_state()})
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_state(tmp_path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
