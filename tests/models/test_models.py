"""Tests for vaearr.models: every family builds by name, runs, saves/reloads and trains one step.

Inputs are real images and a real MRI volume, resized/cropped to small sizes so the whole file
runs in well under a minute on a CPU: skimage's camera (grey) and astronaut (RGB) photographs,
sklearn's 8×8 digits, and nibabel's anatomical.nii test volume.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("monai", reason="needs the 'models' extra (monai)")
pytest.importorskip("safetensors", reason="needs the 'models' extra (safetensors)")

from tests.helpers import REPO
from vaearr.errors import InputError  # noqa: E402
from vaearr.models import (  # noqa: E402
    REGISTRY,
    VAE3D,
    AutoencoderKL,
    AutoencoderKLConfig,
    ConvVAE,
    ConvVAEConfig,
    VAE3DConfig,
    VAEOutput,
    build_model,
    config_from_dict,
    load_model,
    register,
    save_model,
)
from vaearr.models import perceptual as perceptual_module  # noqa: E402
from vaearr.models.conv_vae import single_channel_conv  # noqa: E402
from vaearr.registry import Registry  # noqa: E402

DATA = REPO / "tests" / "data"
SD_V1_YAML = DATA / "sd_v1_first_stage.yaml"
#: MONAI's AutoencoderKL with the SD v1 layout (ldm's decoder depth). ldm's own network has 18,468
#: more (its encoder's conv_out to 2*z_channels + quant_conv, against MONAI's two 1×1 convs):
#: 83,653,863, the published SD v1 VAE count.
SD_V1_MONAI_PARAMETERS = 83_635_395
SD_V1_LDM_PARAMETERS = 83_653_863

#: Small configs, one per family (two backbones for vae3d), used by the shared tests.
FAMILIES = {
    "conv-vae": {"name": "conv-vae", "input_shape": [1, 28, 28], "latent_dim": 4, "channels": [8, 16]},
    "autoencoder-kl": {"name": "autoencoder-kl", "preset": "tiny", "input_shape": [3, 16, 16]},
    "vae3d-monai": {
        "name": "vae3d", "input_shape": [1, 16, 16, 16], "channels": [8, 16], "norm_num_groups": 8, "backbone": "monai",
    },
    "vae3d-maisi": {
        "name": "vae3d", "input_shape": [1, 16, 16, 16], "channels": [8, 16], "norm_num_groups": 8, "backbone": "maisi",
    },
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Real data, resized to whatever a test needs
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos() -> dict[int, np.ndarray]:
    """skimage's camera (1 channel) and astronaut (3 channels) as float (C, H, W) in [0, 1]."""
    data = pytest.importorskip("skimage.data", reason="needs scikit-image for its sample images")
    return {
        1: data.camera()[None].astype(np.float32) / 255.0,
        3: np.moveaxis(data.astronaut(), -1, 0).astype(np.float32) / 255.0,
    }


def image_batch(photos: dict[int, np.ndarray], shape: tuple[int, ...], data_range: str = "[0,1]") -> torch.Tensor:
    """Two real images (B=2) of ``shape`` (C, H, W): the whole photo and its centre, resized."""
    transform = pytest.importorskip("skimage.transform", reason="needs scikit-image")
    c, h, w = shape
    full = photos[c]
    centre = full[:, 128:384, 128:384]
    batch = np.stack([transform.resize(im, (c, h, w), anti_aliasing=True) for im in (full, centre)])
    x = torch.from_numpy(batch.astype(np.float32)).clamp(0, 1)
    return x * 2 - 1 if data_range == "[-1,1]" else x


@pytest.fixture(scope="module")
def volume() -> torch.Tensor:
    """nibabel's anatomical.nii (33×41×25 real MRI), scaled to [0, 1], as (1, 1, 33, 41, 25)."""
    nibabel = pytest.importorskip("nibabel", reason="needs the 'nifti' extra (nibabel)")
    path = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"
    vol = np.asarray(nibabel.load(path).dataobj, dtype=np.float32)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    return torch.from_numpy(vol)[None, None]


def volume_batch(volume: torch.Tensor, size: int = 16) -> torch.Tensor:
    """Two real size³ crops of the volume: (2, 1, size, size, size)."""
    a = volume[..., 4 : 4 + size, 8 : 8 + size, 4 : 4 + size]
    b = volume[..., 12 : 12 + size, 20 : 20 + size, 8 : 8 + size]
    return torch.cat([a, b]).contiguous()


def batch_for(config, photos, volume) -> torch.Tensor:
    """A real batch that fits ``config``: 2D photos or 3D MRI crops."""
    if config.spatial_dims == 3:
        return volume_batch(volume, config.input_shape[1])
    data_range = getattr(config, "data_range", "[-1,1]")  # the KL autoencoders train on [-1, 1]
    return image_batch(photos, tuple(config.input_shape), data_range)


def family_model(key: str, **changes) -> tuple:
    config = config_from_dict({**FAMILIES[key], **changes})
    torch.manual_seed(0)
    return config, build_model(config)


# --------------------------------------------------------------------------------------------
# Registry and configs
# --------------------------------------------------------------------------------------------


def test_registry_maps_names_to_config_and_model_classes():
    """The model families are on the shared Registry of every method family (issue 40): names in registration order,
    an unknown name refused naming the known ones, a second class under a taken name refused."""
    assert isinstance(REGISTRY, Registry)
    assert {name: REGISTRY[name] for name in REGISTRY} == {
        "conv-vae": (ConvVAEConfig, ConvVAE),
        "autoencoder-kl": (AutoencoderKLConfig, AutoencoderKL),
        "vae3d": (VAE3DConfig, VAE3D),
    }
    assert REGISTRY.names() == ("autoencoder-kl", "conv-vae", "vae3d")
    with pytest.raises(KeyError, match="unknown model 'vq-vae'; known: autoencoder-kl, conv-vae, vae3d"):
        REGISTRY["vq-vae"]
    assert register(ConvVAE) is ConvVAE  # the same class again: no error, nothing added
    assert len(REGISTRY) == 3

    class Other(ConvVAE):
        pass

    with pytest.raises(TypeError, match="'conv-vae' is registered twice"):
        register(Other)
    assert REGISTRY["conv-vae"] == (ConvVAEConfig, ConvVAE)


@pytest.mark.parametrize("key", FAMILIES)
def test_config_json_round_trip(key):
    config = config_from_dict(FAMILIES[key])
    text = config.to_json()
    assert json.loads(text)["name"] == config.name
    again = type(config).from_json(text)
    assert again == config
    assert config_from_dict(json.loads(text)) == config  # via the registry, by name


def test_config_errors_are_one_clear_line():
    with pytest.raises(InputError, match=r"unknown model 'vq-vae'; known models: autoencoder-kl, conv-vae, vae3d"):
        config_from_dict({"name": "vq-vae"})
    with pytest.raises(InputError, match=r"unknown field\(s\) latent_size"):
        config_from_dict({"name": "conv-vae", "latent_size": 3})
    with pytest.raises(InputError, match=r"latent_dim must be int, got '16'"):
        build_model({"name": "conv-vae", "latent_dim": "16"})
    with pytest.raises(InputError, match=r"input_shape must be \(C, H, W\)"):
        build_model({"name": "conv-vae", "input_shape": [28, 28]})
    with pytest.raises(InputError, match="unknown preset 'sd-v9'"):
        AutoencoderKLConfig(preset="sd-v9")
    with pytest.raises(InputError, match=r"multiple of norm_num_groups=32; \[8\]"):
        build_model(AutoencoderKLConfig(channels=(8, 64), input_shape=(1, 16, 16)))


def test_presets_fill_only_what_is_not_given():
    tiny = AutoencoderKLConfig.from_preset("tiny", latent_channels=8)
    assert tiny.channels == (32, 64) and tiny.norm_num_groups == 8
    assert tiny.latent_channels == 8  # explicit beats preset
    assert tiny.decoder_num_res_blocks == tiny.num_res_blocks + 1  # ldm's decoder layout
    assert tiny.attention_levels == (False, False)
    assert AutoencoderKLConfig().channels == (128, 256, 512, 512)  # no preset → SD v1


# --------------------------------------------------------------------------------------------
# Every family: build, forward, save/reload, one step
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", FAMILIES)
def test_forward_shapes_and_finite_loss(key, photos, volume):
    config, model = family_model(key)
    assert isinstance(model, REGISTRY[config.name][1])
    x = batch_for(config, photos, volume)
    out = model(x)
    assert isinstance(out, VAEOutput)
    assert out.recon.shape == x.shape
    latent = (x.shape[0], *model.latent_shape)
    assert out.mu.shape == out.logvar.shape == out.z.shape == latent
    for term in (out.loss, out.recon_loss, out.kl):
        assert term.ndim == 0 and torch.isfinite(term)
    assert out.kl >= 0
    beta = getattr(config, "beta", None) or config.kl_weight
    assert torch.allclose(out.loss, out.recon_loss + beta * out.kl)
    half = model.loss_function(x, out, kl_weight=0.5)  # warm-up multiplier
    assert torch.allclose(half.loss, half.recon_loss + 0.5 * beta * half.kl)
    assert model.sample(3).shape == (3, *config.input_shape)


@pytest.mark.parametrize("key", FAMILIES)
def test_save_reload_gives_equal_weights_and_outputs(key, photos, volume, tmp_path):
    config, model = family_model(key)
    x = batch_for(config, photos, volume)
    save_model(model, tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == ["config.json", "model.safetensors"]

    loaded = load_model(tmp_path / "run")
    assert type(loaded) is type(model) and loaded.config == config
    assert not loaded.training
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    model.eval()
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a.recon, b.recon) and torch.equal(a.mu, b.mu)
    assert torch.equal(a.z, a.mu)  # eval mode decodes the posterior mean


@pytest.mark.parametrize("key", ["conv-vae", "autoencoder-kl", "vae3d-monai"])  # maisi: same layout, slower on CPU
def test_one_optimizer_step_changes_every_weight(key, photos, volume):
    config, model = family_model(key)
    x = batch_for(config, photos, volume)
    params = dict(model.named_parameters())
    before = {k: p.detach().clone() for k, p in params.items()}
    opt = torch.optim.Adam(model.generator_parameters(), lr=1e-3)
    opt.zero_grad()
    model(x).loss.backward()
    opt.step()
    unchanged = [k for k, p in params.items() if torch.equal(p, before[k])]
    assert not unchanged, f"not updated: {unchanged}"


# --------------------------------------------------------------------------------------------
# conv-vae
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 28, 60, 61, 256])
def test_conv_vae_any_input_size(size, channels, photos):
    config = ConvVAEConfig(input_shape=(channels, size, size), latent_dim=3, channels=(8, 16, 16))
    model = build_model(config)
    x = image_batch(photos, config.input_shape)
    out = model(x)
    assert out.recon.shape == x.shape == (2, channels, size, size)
    assert out.mu.shape == (2, 3)
    # the encoder's grid is ceil(size / 8); the decoder grows it back past size, then crops
    assert model.feature_shape == (16, math.ceil(size / 8), math.ceil(size / 8))
    assert model.sample(2, generator=torch.Generator().manual_seed(1)).shape == (2, channels, size, size)


@pytest.mark.parametrize("shape, options", [
    ((1, 60, 60), {"channels": (32, 64, 128), "decoder": "transpose"}),  # the EBSD default: grown to 64, cropped
    ((1, 61, 61), {"channels": (8, 16), "decoder": "transpose"}),
    ((1, 8, 8), {"channels": (8, 16)}),  # no crop: the output layer's padding at every edge
    ((1, 33, 47), {"channels": (8, 8, 8)}),
])
def test_conv_vae_inference_decode_is_the_network(shape, options):
    # without autograd the one-channel output layer is a GEMM over the crop's pixels (single_channel_conv): the same
    # numbers as the network's convolution then crop, channels-last or not
    model = build_model(ConvVAEConfig(input_shape=shape, latent_dim=4, **options)).eval()
    for m in model.decoder:  # GroupNorm's default affine (1, 0) would hide a swapped channel or tap
        if isinstance(m, nn.GroupNorm):
            nn.init.normal_(m.weight)
            nn.init.normal_(m.bias)
    z = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    with torch.enable_grad():
        network = model.decode(z).detach()
    for layout in (torch.contiguous_format, torch.channels_last):
        model = model.to(memory_format=layout)
        with torch.inference_mode():
            fast = model.decode(z)
        assert fast.shape == network.shape == (7, *shape)
        torch.testing.assert_close(fast, network, rtol=1e-5, atol=1e-5 * float(network.abs().max()))
        assert not torch.equal(fast, torch.zeros_like(fast))


def test_single_channel_conv_is_the_convolution_in_its_window():
    conv = nn.Conv2d(5, 1, 3, padding=1)
    h = torch.randn(3, 5, 12, 10, generator=torch.Generator().manual_seed(2))
    full = conv(h).detach()
    with torch.no_grad():
        for window in ((0, 0, 12, 10), (1, 2, 9, 7), (3, 0, 9, 10), (2, 1, 5, 4)):
            top, left, height, width = window
            torch.testing.assert_close(single_channel_conv(h, conv, window),
                                       full[:, :, top:top + height, left:left + width], rtol=1e-5, atol=1e-6)


def test_conv_vae_non_square_odd_input(photos):
    model = build_model(ConvVAEConfig(input_shape=(1, 33, 47), latent_dim=2, channels=(8, 8)))
    x = image_batch(photos, (1, 33, 47))
    assert model(x).recon.shape == (2, 1, 33, 47)


def test_conv_vae_on_real_digits():
    datasets = pytest.importorskip("sklearn.datasets", reason="needs scikit-learn for its digits")
    digits = torch.from_numpy(datasets.load_digits().images[:16].astype(np.float32) / 16.0)[:, None]  # (16, 1, 8, 8)
    model = build_model({"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": 2, "channels": [16, 32]})
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        out = model(digits, sample_posterior=False)
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert losses[-1] < 0.8 * losses[0]  # it learns, in nats per 8×8 digit


def test_conv_vae_output_heads_follow_the_data_range(photos):
    shape = (1, 28, 28)
    # [0,1] → sigmoid + BCE summed per image (nats per image)
    model = build_model(ConvVAEConfig(input_shape=shape, latent_dim=2, channels=(8,), data_range="[0,1]"))
    assert model.config.output_head == "sigmoid-bce"
    x = image_batch(photos, shape)
    out = model(x, sample_posterior=False)
    assert 0 < float(out.recon.detach().min()) and float(out.recon.detach().max()) < 1
    torch.testing.assert_close(out.recon, torch.sigmoid(out.extras["logits"]))
    bce = torch.nn.functional.binary_cross_entropy(out.recon, x, reduction="none").sum(dim=(1, 2, 3)).mean()
    torch.testing.assert_close(out.recon_loss, bce, rtol=1e-4, atol=1e-3)

    # [-1,1] → tanh + squared error summed per image
    model = build_model(ConvVAEConfig(input_shape=shape, latent_dim=2, channels=(8,), data_range="[-1,1]"))
    assert model.config.output_head == "tanh-mse"
    x = image_batch(photos, shape, "[-1,1]")
    out = model(x, sample_posterior=False)
    assert -1 < float(out.recon.detach().min()) and float(out.recon.detach().max()) < 1
    torch.testing.assert_close(out.recon_loss, ((out.recon - x) ** 2).sum(dim=(1, 2, 3)).mean())

    # linear head: no squashing at all
    model = build_model(ConvVAEConfig(input_shape=shape, latent_dim=2, channels=(8,), output="linear-mse"))
    out = model(image_batch(photos, shape), sample_posterior=False)
    torch.testing.assert_close(out.recon, out.extras["logits"])

    with pytest.raises(InputError, match="'sigmoid-bce' needs data in \\[0,1\\]"):
        build_model(ConvVAEConfig(input_shape=shape, output="sigmoid-bce", data_range="[-1,1]"))
    bce_model = build_model(ConvVAEConfig(input_shape=shape, latent_dim=2, channels=(8,)))
    with pytest.raises(InputError, match=r"needs inputs in \[0, 1\], got values in \[-0\.97"):
        bce_model(image_batch(photos, shape, "[-1,1]"))


def test_bad_input_shapes_give_clear_errors(photos):
    model = build_model(ConvVAEConfig(input_shape=(1, 60, 60), latent_dim=2, channels=(8,)))
    with pytest.raises(InputError, match=r"built for input 1×60×60 \(config input_shape\), got 1×61×60"):
        model(torch.rand(2, 1, 61, 60))
    with pytest.raises(InputError, match="expects 1 channel\\(s\\), got 3"):
        model(torch.rand(2, 3, 60, 60))
    with pytest.raises(InputError, match=r"expects a 4-D batch \(B, C, H, W\), got shape 1×60×60"):
        model(torch.rand(1, 60, 60))
    with pytest.raises(InputError, match="floating-point batch, got torch.uint8"):
        model(torch.zeros(2, 1, 60, 60, dtype=torch.uint8))

    kl = build_model(AutoencoderKLConfig.from_preset("tiny", input_shape=(1, 16, 16)))
    with pytest.raises(InputError, match="input 1×17×16 is not divisible by 2 along y"):
        kl(torch.rand(1, 1, 17, 16))
    assert kl(torch.rand(1, 1, 24, 32)).recon.shape == (1, 1, 24, 32)  # fully convolutional


# --------------------------------------------------------------------------------------------
# autoencoder-kl
# --------------------------------------------------------------------------------------------


def test_sd_v1_yaml_gives_the_sd_v1_preset_network():
    from_yaml = AutoencoderKLConfig.from_ldm_yaml(SD_V1_YAML)
    preset = AutoencoderKLConfig.from_preset("sd-v1")
    assert dataclasses.replace(from_yaml, preset="sd-v1") == preset
    assert from_yaml.input_shape == (3, 256, 256) and from_yaml.downsampling_factor == 8
    # the unet_config in the same file (model_channels 320) must not leak in
    assert from_yaml.channels == (128, 256, 512, 512)

    model = build_model(from_yaml)
    n = sum(p.numel() for p in model.parameters())
    assert n == SD_V1_MONAI_PARAMETERS
    assert n + 18_468 == SD_V1_LDM_PARAMETERS  # ldm's conv_out(512→8)+quant_conv vs MONAI's conv_out(512→4)+2×1×1
    assert model.latent_shape == (4, 32, 32)
    decoder_res_blocks = sum(type(b).__name__ == "AEKLResBlock" for b in model.net.decoder.blocks)
    assert decoder_res_blocks == 4 * 3 + 2  # ldm: num_res_blocks + 1 per level, plus 2 in the mid block


def test_autoencoder_kl_memory_switches_keep_results(photos):
    torch.manual_seed(0)
    model = build_model(AutoencoderKLConfig.from_preset("tiny", input_shape=(3, 16, 16), with_mid_attention=True))
    x = image_batch(photos, (3, 16, 16), "[-1,1]")

    def grads() -> list[torch.Tensor]:
        model.zero_grad()
        model(x, sample_posterior=False).loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    model.enable_gradient_checkpointing()
    assert model.net.use_checkpoint and model.config.use_checkpointing
    checkpointed = grads()
    model.disable_gradient_checkpointing()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, checkpointed, strict=True))

    with torch.no_grad():
        whole = model.encode(x)
        model.enable_slicing()
        sliced = model.encode(x)
        recon_sliced = model.decode(sliced[0])
        model.disable_slicing()
        recon_whole = model.decode(whole[0])
    torch.testing.assert_close(sliced[0], whole[0])
    torch.testing.assert_close(recon_sliced, recon_whole)


# --------------------------------------------------------------------------------------------
# vae3d
# --------------------------------------------------------------------------------------------


def test_vae3d_split_sizes_are_checked():
    with pytest.raises(InputError, match=r"input_shape 1×63×64×64 is not divisible by 4 along z"):
        build_model(VAE3DConfig(input_shape=(1, 63, 64, 64), channels=(8, 16, 16), norm_num_groups=8))
    model = build_model(VAE3DConfig(input_shape=(1, 16, 16, 16), channels=(8, 16, 16), norm_num_groups=8))
    with pytest.raises(InputError, match=r"input 1×63×64×64 is not divisible by 4 along z"):
        model(torch.zeros(1, 1, 63, 64, 64))
    with pytest.raises(InputError, match=r"input 1×16×18×10 is not divisible by 4 along y, x"):
        model(torch.zeros(1, 1, 16, 18, 10))
    with pytest.raises(InputError, match=r"expects a 5-D batch \(B, C, D, H, W\)"):
        model(torch.zeros(1, 16, 16, 16))
    with pytest.raises(InputError, match="num_splits=2 along y"):
        build_model(VAE3DConfig(input_shape=(1, 16, 16, 16), channels=(8, 16, 16), norm_num_groups=8,
                                num_splits=2, dim_split=1))  # fmt: skip
    with pytest.raises(InputError, match="too small along z for a 3-layer patch discriminator"):
        build_model(VAE3DConfig(input_shape=(1, 16, 16, 16), channels=(8, 16), norm_num_groups=8,
                                adversarial_weight=0.1))  # fmt: skip


def test_vae3d_maisi_splitting_gives_the_same_output(volume):
    common = {"input_shape": (1, 32, 16, 16), "channels": (8, 16, 16), "norm_num_groups": 8}
    torch.manual_seed(0)
    whole = build_model(VAE3DConfig(**common)).eval()
    split = build_model(VAE3DConfig(**common, num_splits=2, dim_split=0)).eval()  # 2 pieces along z
    split.load_state_dict(whole.state_dict())
    x = volume[..., :32, 8:24, 4:20]  # 32×16×16 of real MRI
    with torch.no_grad():
        torch.testing.assert_close(split(x).recon, whole(x).recon)


def test_vae3d_perceptual_loss_without_its_weights_file_names_the_file(tmp_path, monkeypatch):
    missing = tmp_path / "weights" / "squeeze.pth"
    with pytest.raises(InputError, match=rf"{missing}: missing: the perceptual loss .* never downloads"):
        build_model(VAE3DConfig(input_shape=(1, 16, 16, 16), channels=(8, 16), norm_num_groups=8,
                                perceptual_weight=0.1, perceptual_weights_path=str(missing)))  # fmt: skip
    # default: torch hub's cache, where torchvision would download to
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    with pytest.raises(InputError) as info:
        build_model(VAE3DConfig(input_shape=(1, 16, 16, 16), channels=(8, 16), norm_num_groups=8, perceptual_weight=0.1))
    assert info.value.path == str(expected)
    assert "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth" in str(info.value)
    assert not (tmp_path / "hub").exists()  # nothing was fetched


def test_vae3d_perceptual_loss_reads_a_local_file_and_never_downloads(tmp_path, monkeypatch, volume):
    """The plumbing, with lpips stood in by a stub that loads through torch.hub exactly as lpips does."""
    perceptual = pytest.importorskip("monai.losses.perceptual")
    weights = tmp_path / "mine" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    weights.parent.mkdir(parents=True)
    torch.save({"scale": torch.tensor(2.0)}, weights)
    asked_for: list[str] = []

    class StubLPIPS(torch.nn.Module):
        def __init__(self, pretrained: bool, net: str, verbose: bool):
            super().__init__()
            asked_for.append(net)
            state = torch.hub.load_state_dict_from_url(
                "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth", map_location="cpu"
            )
            self.scale = torch.nn.Parameter(state["scale"], requires_grad=False)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.scale * (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)

    monkeypatch.setattr(perceptual, "LPIPS", StubLPIPS)
    monkeypatch.setattr(perceptual_module.importlib.util, "find_spec", lambda name: object())  # "installed"
    hub_before = torch.hub.get_dir()
    config = VAE3DConfig(input_shape=(1, 16, 16, 16), channels=(8, 16), norm_num_groups=8, backbone="monai",
                         perceptual_weight=0.5, perceptual_weights_path=str(weights))  # fmt: skip
    model = build_model(config)
    assert asked_for == ["squeeze"] and torch.hub.get_dir() == hub_before
    assert not any(k.startswith("_perceptual") for k in model.state_dict())  # not saved with the model
    x = volume_batch(volume)
    out = model(x)
    assert torch.isfinite(out.extras["perceptual"])
    torch.testing.assert_close(out.loss, out.recon_loss + config.kl_weight * out.kl + 0.5 * out.extras["perceptual"])

    class GreedyLPIPS(StubLPIPS):  # asks for a file that is not there: must be refused, not fetched
        def __init__(self, pretrained: bool, net: str, verbose: bool):
            torch.nn.Module.__init__(self)
            torch.hub.load_state_dict_from_url("https://example.org/other.pth")

    monkeypatch.setattr(perceptual, "LPIPS", GreedyLPIPS)
    with pytest.raises(InputError, match=r"tried to download https://example.org/other.pth .* never downloads"):
        build_model(config)
    assert torch.hub.download_url_to_file.__name__ == "download_url_to_file"  # restored


def test_vae3d_discriminator_two_stage_losses(volume, tmp_path):
    torch.manual_seed(0)
    config = VAE3DConfig(input_shape=(1, 16, 16, 16), channels=(8, 16), norm_num_groups=8, backbone="monai",
                         adversarial_weight=0.1, adversarial_warmup_epochs=1,
                         discriminator_channels=8, discriminator_layers=2)  # fmt: skip
    model = build_model(config)
    assert model.discriminator is not None
    assert not model.adversarial_active(0) and model.adversarial_active(1)
    disc_params = list(model.discriminator.parameters())
    gen_params = list(model.generator_parameters())
    assert len(gen_params) + len(disc_params) == len(list(model.parameters()))
    assert not {id(p) for p in gen_params} & {id(p) for p in disc_params}

    x = volume_batch(volume)
    opt_g = torch.optim.Adam(model.generator_parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3)
    disc_before = [p.detach().clone() for p in disc_params]

    # generator step with the adversarial term: finite, included, discriminator untouched
    opt_g.zero_grad()
    out = model(x, adversarial=True)
    adv = out.extras["adversarial"]
    assert torch.isfinite(adv) and torch.isfinite(out.loss)
    torch.testing.assert_close(out.loss, out.recon_loss + config.kl_weight * out.kl + 0.1 * adv)
    out.loss.backward()
    assert all(p.grad is None for p in disc_params)
    opt_g.step()
    assert all(torch.equal(p, b) for p, b in zip(disc_params, disc_before, strict=True))

    # discriminator step: finite, moves only the discriminator
    gen_before = [p.detach().clone() for p in gen_params]
    opt_d.zero_grad()
    d_loss = model.discriminator_loss(x, out)
    assert d_loss.ndim == 0 and torch.isfinite(d_loss)
    d_loss.backward()
    opt_d.step()
    assert any(not torch.equal(p, b) for p, b in zip(disc_params, disc_before, strict=True))
    assert all(torch.equal(p, b) for p, b in zip(gen_params, gen_before, strict=True))

    # the discriminator is saved with the model, so a run can resume its second stage
    save_model(model, tmp_path / "gan")
    loaded = load_model(tmp_path / "gan")
    assert any(k.startswith("discriminator.") for k in loaded.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True))

    no_disc = build_model(dataclasses.replace(config, adversarial_weight=0.0))
    assert no_disc.discriminator is None and not no_disc.adversarial_active(10)
    with pytest.raises(ValueError, match="no discriminator: set adversarial_weight > 0"):
        no_disc(x, adversarial=True)


# --------------------------------------------------------------------------------------------
# save/load errors
# --------------------------------------------------------------------------------------------


def test_load_model_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"config\.json: missing: not a saved vaearr model directory"):
        load_model(tmp_path / "nothing")
    model = build_model(ConvVAEConfig(input_shape=(1, 8, 8), latent_dim=2, channels=(8,)))
    run = save_model(model, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "latent_dim": 3}))
    with pytest.raises(InputError, match=r"model\.safetensors: weights do not fit the config"):
        load_model(run)
    (run / "config.json").write_text(json.dumps({**config, "latent_dim": 0}))
    with pytest.raises(InputError, match=r"config\.json: model config 'conv-vae': latent_dim must be >= 1"):
        load_model(run)
    (run / "config.json").write_text(json.dumps(config))
    assert load_model(run, overrides={"beta": 4.0}).config.beta == 4.0  # weights-neutral change
