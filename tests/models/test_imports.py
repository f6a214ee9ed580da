"""vaearr.models.imports: reading a checkpoint without unpickling objects, unwrapping its state dict, a script's
conv-vae options read from the checkpoint's shapes, and the one line for a layout that does not fit.

Loading whole script checkpoints and comparing their outputs is in test_weights.py (the weights users already have).
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from vaearr.errors import InputError
from vaearr.models.imports import SCRIPTS, check_layout, read_checkpoint, script_config, state_dict_of


def ebsd_state() -> dict[str, torch.Tensor]:
    """The keys and shapes of the EBSD script's VAE (two stride-2 convs 8 → 16, latent 4, one refine block)."""
    return {
        "encoder.0.weight": torch.zeros(8, 1, 3, 3), "encoder.0.bias": torch.zeros(8),
        "encoder.2.weight": torch.zeros(16, 8, 3, 3), "encoder.2.bias": torch.zeros(16),
        "fc_mu.weight": torch.zeros(4, 256), "fc_mu.bias": torch.zeros(4),
        "fc_logvar.weight": torch.zeros(4, 256), "fc_logvar.bias": torch.zeros(4),
        "fc_decode.weight": torch.zeros(256, 4), "fc_decode.bias": torch.zeros(256),
        "dec_refine.0.0.weight": torch.zeros(12, 16, 3, 3), "dec_refine.0.0.bias": torch.zeros(12),
        "out_head.0.weight": torch.zeros(1, 12, 3, 3), "out_head.0.bias": torch.zeros(1),
    }  # fmt: skip


def test_read_checkpoint_reads_torch_and_safetensors_files(tmp_path):
    state = {"w": torch.arange(3.0)}
    torch.save({"state_dict": state, "epoch": 7}, tmp_path / "a.pth")
    got = read_checkpoint(tmp_path / "a.pth")
    assert got["epoch"] == 7 and torch.equal(got["state_dict"]["w"], state["w"])
    save_file(state, tmp_path / "b.safetensors")
    assert torch.equal(read_checkpoint(tmp_path / "b.safetensors")["w"], state["w"])


def test_read_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"none\.pth: no such file$"):
        read_checkpoint(tmp_path / "none.pth")
    torch.save(torch.zeros(2), tmp_path / "tensor.pth")
    with pytest.raises(InputError, match=r"tensor\.pth: holds a Tensor, not a state dict \(a dict of tensors\)$"):
        read_checkpoint(tmp_path / "tensor.pth")
    (tmp_path / "zip.pth").write_bytes(b"PK\x03\x04 cut short")  # torch.save's zip, truncated
    with pytest.raises(InputError, match=r"zip\.pth: not a PyTorch checkpoint torch\.load can read \(PytorchStreamReader"):
        read_checkpoint(tmp_path / "zip.pth")
    (tmp_path / "empty.pth").write_bytes(b"")  # torch.load's EOFError has no message: was an IndexError
    with pytest.raises(InputError, match=r"empty\.pth: not a PyTorch checkpoint torch\.load can read \(EOFError\)$"):
        read_checkpoint(tmp_path / "empty.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(InputError, match=r"bad\.safetensors: not a readable safetensors file \("):
        read_checkpoint(tmp_path / "bad.safetensors")


def test_state_dict_of_unwraps_training_checkpoints_and_ddp():
    w = torch.ones(2)
    assert state_dict_of({"model_state_dict": {"fc.weight": w}, "optimizer": {}, "epoch": 3}) == {"fc.weight": w}
    assert state_dict_of({"module.fc.weight": w, "module.fc.bias": w}) == {"fc.weight": w, "fc.bias": w}
    assert state_dict_of({"fc.weight": w, "module.x": w, "epoch": 1}) == {"fc.weight": w, "module.x": w}
    with pytest.raises(InputError, match=r"^ck\.pth: holds no tensors \(keys: epoch, lr\)$"):
        state_dict_of({"epoch": 1, "lr": 0.1}, "ck.pth")


def test_script_config_reads_the_widths_from_the_shapes():
    d = script_config("ebsd-script", ebsd_state(), (1, 16, 16))
    assert d["name"] == "conv-vae" and d["input_shape"] == [1, 16, 16]
    assert d["channels"] == [8, 16] and d["latent_dim"] == 4 and d["decoder_channels"] == [12]
    assert d["data_range"] == "[-1,1]" and d["output"] == "tanh-mse"  # the script's range and head
    assert script_config("ebsd-script", ebsd_state(), (1, 16, 16), {"data_range": "[0,1]"})["data_range"] == "[0,1]"
    state = ebsd_state()
    del state["fc_mu.weight"]
    with pytest.raises(InputError, match=r"^the checkpoint has no 'fc_mu\.weight'; is it the right `script`\?$"):
        script_config("ebsd-script", state, (1, 16, 16))
    with pytest.raises(InputError, match=r"^unknown `script` 'keras'; known: ebsd-script, beta-vae, mnist-vae$"):
        script_config("keras", ebsd_state(), (1, 16, 16))


def test_prefixes_run_in_the_scripts_order_and_check_layout_lists_what_differs():
    order, unexpected = SCRIPTS["ebsd-script"].prefixes({**ebsd_state(), "encoder.10.weight": torch.zeros(1)})
    assert order[:3] == ["encoder.0", "encoder.2", "encoder.10"]  # numbers in natural order
    assert order[3:] == ["fc_mu", "fc_logvar", "fc_decode", "dec_refine.0.0", "out_head.0"] and unexpected == []
    check_layout("ebsd-script", ebsd_state())
    state = {k: v for k, v in ebsd_state().items() if not k.startswith("fc_logvar")}
    state["classifier.weight"] = torch.zeros(1)
    with pytest.raises(InputError, match=r"^ck\.pth: does not fit `source='ebsd-script'` \(Angelamer/.*\): missing keys "
                                         r"\[fc_logvar\]; unexpected keys \[classifier\.weight\]$"):
        check_layout("ebsd-script", state, "ck.pth")
