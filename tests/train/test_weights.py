"""vaearr.train.weights: a run folder made around a script's checkpoint (the script's layers' weights in its model,
the record of the file and its SHA-256), its refusals before anything is written, and the lines the command prints.

The checkpoint is the EBSD script's layout with random weights, for 8×8 images (tests/models/test_weights.py runs the
scripts' own networks against vaearr's).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from vaearr.errors import InputError
from vaearr.store import write_variable
from vaearr.train.options import ImportWeightsOptions
from vaearr.train.weights import import_run, import_weights, imported, imported_summary, sha256

#: The EBSD script's keys and shapes for 8×8 inputs: two stride-2 convs (8, 16 wide: 16×2×2 = 64 features),
#: latent 4, one refine block 12 wide, the output conv.
SHAPES = {
    "encoder.0.weight": (8, 1, 3, 3), "encoder.0.bias": (8,), "encoder.2.weight": (16, 8, 3, 3), "encoder.2.bias": (16,),
    "fc_mu.weight": (4, 64), "fc_mu.bias": (4,), "fc_logvar.weight": (4, 64), "fc_logvar.bias": (4,),
    "fc_decode.weight": (64, 4), "fc_decode.bias": (64,), "dec_refine.0.0.weight": (12, 16, 3, 3),
    "dec_refine.0.0.bias": (12,), "out_head.0.weight": (1, 12, 3, 3), "out_head.0.bias": (1,),
}  # fmt: skip
#: the script's layer → vaearr's conv-vae layer
RENAMED = {"dec_refine.0.0": "decoder.1", "out_head.0": "to_pixels"}


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, Path, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=g) for k, s in SHAPES.items()}
    torch.save(state, tmp_path / "ebsd.pth")
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8), dtype=np.uint8)
    write_variable(tmp_path / "s.zarr", "images", xr.DataArray(images, dims=("sample", "row", "col")))
    return tmp_path / "ebsd.pth", tmp_path / "s.zarr", state


def test_sha256_is_the_files_digest(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (3 << 20))  # more than one block read
    assert sha256(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def test_import_makes_a_run_holding_the_scripts_weights(checkpoint, tmp_path):
    weights, store, state = checkpoint
    run = import_weights(weights, "ebsd-script", store, tmp_path / "run", var="images")
    record = imported(tmp_path / "run")
    assert record == {"file": str(weights), "sha256": sha256(weights), "from": "ebsd-script", "scale": "[-1,1]",
                      "source": "Angelamer/microstructural_segmentation@vae vae_cnn.VAE"}
    model = run.model("best")
    ours = model.state_dict()
    for key, value in state.items():
        layer, leaf = key.rsplit(".", 1)
        assert torch.equal(ours[f"{RENAMED.get(layer, layer)}.{leaf}"], value), key
    assert run.model_config["latent_dim"] == 4 and run.train["latent_dim"] == 4
    assert run.train["scale"] == "[-1,1]" and run.model_config["data_range"] == "[-1,1]"
    assert imported(tmp_path) is None  # not a run folder made by import


def test_import_refuses_before_writing(checkpoint, tmp_path):
    weights, store, _ = checkpoint
    with pytest.raises(InputError, match=r"ebsd\.pth: unknown `script` 'keras'; known: ebsd-script, beta-vae, mnist-vae$"):
        import_weights(weights, "keras", store, tmp_path / "new", var="images")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(InputError, match=r"full: exists and is not empty; import into a new run folder$"):
        import_weights(weights, "ebsd-script", store, tmp_path / "full", var="images")
    with pytest.raises(InputError, match=r"ebsd\.pth: does not fit `source='beta-vae'`"):
        import_weights(weights, "beta-vae", store, tmp_path / "new", var="images")
    assert not (tmp_path / "new").exists()


def test_import_run_and_its_summary(checkpoint, tmp_path):
    weights, store, _ = checkpoint
    options = ImportWeightsOptions(weights=weights, store=str(store), script="ebsd-script", run=tmp_path / "run",
                                   var="images", scale="[0,1]")
    run = import_run(options)
    assert imported(run.path)["scale"] == "[0,1]" and run.model_config["data_range"] == "[0,1]"
    assert imported_summary(options, run) == (
        f"imported {weights} (`script='ebsd-script'`) → {tmp_path / 'run'}\n"
        "  conv-vae 1×8×8 → 4 latent dims, output tanh-mse, inputs scaled to [0,1]")
