"""Pretrained Stable Diffusion / ldm VAEs (ldm checkpoints, diffusers folders) as autoencoder-kl, and ``vaearr layers --weights``.

The reference below is a small ldm-style KL autoencoder written here from ldm's key layout
(ResnetBlock, AttnBlock with 1×1 convs, asymmetric-pad downsampling, nearest upsampling,
``quant_conv`` to mean / log-variance); its random weights are saved in ldm's and in diffusers'
layouts and must give the same encoder mean, log-variance and decoder output through vaearr.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from tests.helpers import cli
from vaearr.errors import InputError
from vaearr.models.sd_weights import load_sd_vae

GROUPS = 32  # ldm's Normalize()


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(GROUPS, c, eps=1e-6)


class Res(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class Attn(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.norm = _norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).permute(0, 2, 1)
        k = self.k(n).reshape(b, c, h * w)
        weights = torch.softmax(torch.bmm(q, k) * c**-0.5, dim=2)
        v = self.v(n).reshape(b, c, h * w)
        out = torch.bmm(v, weights.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Down(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Up(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = Res(c, c), Attn(c), Res(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Level(nn.Module):
    def __init__(self, blocks: list[nn.Module], attn: list[nn.Module]):
        super().__init__()
        self.block, self.attn = nn.ModuleList(blocks), nn.ModuleList(attn)

    def forward(self, x):
        for j, block in enumerate(self.block):
            x = block(x)
            if len(self.attn):
                x = self.attn[j](x)
        return x


class LdmVAE(nn.Module):
    """ch_mult widths, ``nrb`` blocks per encoder level (``nrb + 1`` in the decoder), attention where ``attn``."""

    def __init__(self, in_ch=3, widths=(32, 64), nrb=1, attn=(False, True), z=2):
        super().__init__()
        self.encoder, self.decoder = nn.Module(), nn.Module()
        e, d = self.encoder, self.decoder
        e.conv_in = nn.Conv2d(in_ch, widths[0], 3, padding=1)
        e.down = nn.ModuleList()
        cin = widths[0]
        for i, w in enumerate(widths):
            blocks = [Res(cin if j == 0 else w, w) for j in range(nrb)]
            level = Level(blocks, [Attn(w) for _ in range(nrb)] if attn[i] else [])
            if i != len(widths) - 1:
                level.downsample = Down(w)
            e.down.append(level)
            cin = w
        e.mid, e.norm_out, e.conv_out = Mid(cin), _norm(cin), nn.Conv2d(cin, 2 * z, 3, padding=1)
        d.conv_in = nn.Conv2d(z, widths[-1], 3, padding=1)
        d.mid = Mid(widths[-1])
        d.up = nn.ModuleList([None] * len(widths))  # indexed by level, run from the last
        cin = widths[-1]
        for i in reversed(range(len(widths))):
            w = widths[i]
            blocks = [Res(cin if j == 0 else w, w) for j in range(nrb + 1)]
            level = Level(blocks, [Attn(w) for _ in range(nrb + 1)] if attn[i] else [])
            if i != 0:
                level.upsample = Up(w)
            d.up[i] = level
            cin = w
        d.norm_out, d.conv_out = _norm(cin), nn.Conv2d(cin, in_ch, 3, padding=1)
        self.quant_conv, self.post_quant_conv = nn.Conv2d(2 * z, 2 * z, 1), nn.Conv2d(z, z, 1)

    def encode(self, x):
        e = self.encoder
        h = e.conv_in(x)
        for level in e.down:
            h = level(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = e.conv_out(F.silu(e.norm_out(e.mid(h))))
        mean, logvar = self.quant_conv(h).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        d = self.decoder
        h = d.mid(d.conv_in(self.post_quant_conv(z)))
        for i in reversed(range(len(d.up))):
            h = d.up[i](h)
            if hasattr(d.up[i], "upsample"):
                h = d.up[i].upsample(h)
        return d.conv_out(F.silu(d.norm_out(h)))


def ldm_to_diffusers(state: dict[str, torch.Tensor], n_levels: int) -> dict[str, torch.Tensor]:
    """ldm names → diffusers AutoencoderKL names (linear attention weights), written from diffusers' layout."""
    attn = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
    out = {}
    for key, v in state.items():
        k = key.replace("nin_shortcut", "conv_shortcut").replace("norm_out", "conv_norm_out")
        k = re.sub(r"encoder\.down\.(\d+)\.block\.", r"encoder.down_blocks.\1.resnets.", k)
        k = re.sub(r"encoder\.down\.(\d+)\.downsample\.", r"encoder.down_blocks.\1.downsamplers.0.", k)
        k = re.sub(r"decoder\.up\.(\d+)\.",
                   lambda m: f"decoder.up.{n_levels - 1 - int(m[1])}.", k)  # diffusers counts in running order
        k = re.sub(r"decoder\.up\.(\d+)\.block\.", r"decoder.up_blocks.\1.resnets.", k)
        k = re.sub(r"decoder\.up\.(\d+)\.upsample\.", r"decoder.up_blocks.\1.upsamplers.0.", k)
        k = re.sub(r"mid\.block_(\d)", lambda m: f"mid_block.resnets.{int(m[1]) - 1}", k)
        m = re.fullmatch(r"(.*)\.(?:mid\.attn_1|(down|up)\.(\d+)\.attn\.(\d+))\.(norm|q|k|v|proj_out)\.(weight|bias)", k)
        if m:
            where = "mid_block.attentions.0" if m[2] is None else f"{m[2]}_blocks.{m[3]}.attentions.{m[4]}"
            k = f"{m[1]}.{where}.{attn[m[5]]}.{m[6]}"
            if v.ndim == 4:
                v = v[:, :, 0, 0]
        out[k] = v.clone()
    return out


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    ref = LdmVAE().eval()
    with torch.no_grad():
        for p in ref.parameters():  # norms too, so a swapped weight/bias shows
            p.copy_(torch.randn_like(p) * 0.3)
    return ref


def _save_ldm(ref: nn.Module, path: Path) -> Path:
    sd = {f"first_stage_model.{k}": v for k, v in ref.state_dict().items()}
    sd["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(2)  # the rest of an SD checkpoint
    torch.save({"state_dict": sd, "global_step": 3}, path)
    return path


def _save_diffusers(ref: nn.Module, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(ldm_to_diffusers(ref.state_dict(), 2), str(folder / "diffusion_pytorch_model.safetensors"))
    (folder / "config.json").write_text(json.dumps({
        "_class_name": "AutoencoderKL", "block_out_channels": [32, 64], "layers_per_block": 1, "latent_channels": 2,
        "norm_num_groups": GROUPS, "in_channels": 3, "out_channels": 3, "sample_size": 16}))
    return folder


def _check_same(ref: nn.Module, model) -> None:
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        mean, logvar = ref.encode(x)
        mu, lv = model.encode(x)
        np.testing.assert_allclose(mu.numpy(), mean.numpy(), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(lv.numpy(), logvar.numpy(), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(model.decode(mu).numpy(), ref.decode(mean).numpy(), atol=1e-5, rtol=1e-5)


def test_ldm_checkpoint_loads_exactly(reference, tmp_path) -> None:
    sd = load_sd_vae(_save_ldm(reference, tmp_path / "model.ckpt"), size=16)
    c = sd.model.config
    assert sd.source == "ldm" and c.layout == "ldm"
    assert c.channels == (32, 64) and c.num_res_blocks == 1 and c.decoder_num_res_blocks == 2
    assert c.attention_levels == (False, True) and c.latent_channels == 2 and c.with_mid_attention
    _check_same(reference, sd.model)


def test_diffusers_folder_loads_exactly(reference, tmp_path) -> None:
    folder = _save_diffusers(reference, tmp_path / "pipe" / "vae")
    sd = load_sd_vae(folder.parent)  # a pipeline folder: its vae/
    assert sd.source == "diffusers" and sd.model.config.input_shape == (3, 16, 16)  # sample_size
    assert "config.json" in sd.notes[0] and "[-1, 1]" in sd.notes[0]
    _check_same(reference, sd.model)
    # the same weights in a .bin file (torch.save, read with weights_only)
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    torch.save(ldm_to_diffusers(reference.state_dict(), 2), folder / "diffusion_pytorch_model.bin")
    _check_same(reference, load_sd_vae(folder).model)


def test_wrong_keys_give_one_line_listing_them(reference, tmp_path) -> None:
    state = dict(reference.state_dict())
    state.pop("decoder.up.0.block.1.norm2.bias")
    state["decoder.up.0.extra.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(InputError) as err:
        load_sd_vae(tmp_path / "bad.pt", size=16)
    msg = str(err.value)
    assert "\n" not in msg and "decoder.up.0.block.1.norm2.bias" in msg and "decoder.up.0.extra.weight" in msg
    assert "missing keys" in msg and "unexpected keys" in msg
    # diffusers names vaearr does not know
    folder = _save_diffusers(reference, tmp_path / "d")
    sd = ldm_to_diffusers(reference.state_dict(), 2)
    sd["decoder.up_blocks.0.mystery.weight"] = torch.zeros(1)
    save_file(sd, str(folder / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(InputError, match=r"unexpected keys \[decoder.up_blocks.0.mystery.weight\]"):
        load_sd_vae(folder)
    torch.save({"state_dict": {"model.x": torch.zeros(1)}}, tmp_path / "notvae.ckpt")
    with pytest.raises(InputError, match="no VAE weights found"):
        load_sd_vae(tmp_path / "notvae.ckpt")


def _png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


def test_layers_cli_with_weights(reference, tmp_path) -> None:
    ckpt = _save_ldm(reference, tmp_path / "model.ckpt")
    a, b = _png(tmp_path / "a.png", 1), _png(tmp_path / "b.png", 2)
    out = tmp_path / "out"
    res = cli("layers", "--weights", ckpt, "--size", "16", "--img1", a, "--img2", b, "--out", out, check=True)
    assert "inputs RGB scaled to [-1, 1]" in res.stdout
    doc = json.loads((out / "layer_differences.json").read_text())
    names = [row["layer"] for row in doc["layers"]]
    # ldm's names, in the order the decoder runs them
    assert names[0] == "post_quant_conv" and names[1] == "decoder.conv_in" and names[-1] == "decoder.conv_out"
    assert "decoder.mid.attn_1.q" in names and "decoder.up.1.upsample.conv" in names
    assert names.index("decoder.up.1.block.0.conv1") < names.index("decoder.up.0.block.0.conv1")
    # the last layer is the reconstruction: its L2 is the distance of the reference's decodes
    with Image.open(a) as ia, Image.open(b) as ib:
        xa, xb = (torch.from_numpy(np.asarray(im.convert("RGB").resize((16, 16), Image.BILINEAR), np.float32))
                  .permute(2, 0, 1)[None] / 255 * 2 - 1 for im in (ia, ib))
    with torch.no_grad():
        ra, rb = (reference.decode(reference.encode(x)[0]) for x in (xa, xb))
    assert doc["layers"][-1]["l2"] == pytest.approx(float(torch.linalg.norm((ra - rb).double())), rel=1e-4)
    assert (out / "reconstructions.png").is_file() or (out / "reconstructions.html").is_file()


def test_layers_cli_bad_weights_one_line(tmp_path) -> None:
    a = _png(tmp_path / "a.png", 1)
    (tmp_path / "empty").mkdir()
    res = cli("layers", "--weights", tmp_path / "empty", "--img1", a, "--img2", a, "--out", tmp_path / "o")
    assert res.returncode == 2 and "not a diffusers AutoencoderKL" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
    res = cli("layers", "--run", tmp_path, "--weights", tmp_path / "empty", "--img1", a, "--img2", a,
                  "--out", tmp_path / "o")
    assert res.returncode == 2 and "either --run or --weights" in res.stderr
    res = cli("layers", "--run", tmp_path, "--size", "16", "--img1", a, "--img2", a, "--out", tmp_path / "o")
    assert res.returncode == 2 and "--size goes with --weights" in res.stderr
