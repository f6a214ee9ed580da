"""vaearr.models.autoencoder_kl: the spatial latent's shape, the input check (any multiple of f), the loss by its
formula, and the ldm layout's network ends."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("monai", reason="needs the 'models' extra (monai)")

from vaearr.errors import InputError  # noqa: E402
from vaearr.models import AutoencoderKLConfig, build_model  # noqa: E402
from vaearr.models.losses import kl_divergence  # noqa: E402


#: one thread for these tiny convolutions (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**changes):
    torch.manual_seed(0)
    return build_model(AutoencoderKLConfig.from_preset("tiny", **{"input_shape": (1, 8, 8), **changes}))


def test_latent_shape_and_input_check():
    model = tiny(latent_channels=3)
    assert model.latent_shape == (3, 4, 4)
    mu, logvar = model.encode(torch.rand(2, 1, 12, 8))  # fully convolutional: any multiple of f = 2
    assert mu.shape == logvar.shape == (2, 3, 6, 4)
    with pytest.raises(InputError, match=r"^input 1×9×7 is not divisible by 2 along y, x \(model 'autoencoder-kl' "
                                         r"halves each spatial axis 1 times\); crop or pad to a multiple of 2$"):
        model.check_input(torch.rand(1, 1, 9, 7))
    with pytest.raises(InputError, match=r"expects 1 channel\(s\), got 3"):
        model.check_input(torch.rand(1, 3, 8, 8))


def test_loss_is_mean_reconstruction_plus_weighted_kl():
    model = tiny(kl_weight=0.01).eval()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        out = model(x, kl_weight=0.5)
    assert torch.equal(out.z, out.mu)
    torch.testing.assert_close(out.recon_loss, (out.recon - x).pow(2).mean())
    torch.testing.assert_close(out.kl, kl_divergence(out.mu, out.logvar))
    torch.testing.assert_close(out.loss, out.recon_loss + 0.01 * 0.5 * out.kl)
    summed = tiny(recon_loss="l1", recon_reduction="sum").eval()
    with torch.no_grad():
        out = summed(x)
    torch.testing.assert_close(out.recon_loss, (out.recon - x).abs().sum(dim=(1, 2, 3)).mean())


def test_logvar_is_clamped_to_its_range():
    model = tiny().eval()
    with torch.no_grad():
        model.net.quant_conv_log_sigma.conv.bias.fill_(100.0)
        _, logvar = model.encode(torch.rand(1, 1, 8, 8))
    assert float(logvar.max()) == 20.0


def test_ldm_layout_ends_as_ldm_does():
    monai, ldm = tiny(), tiny(layout="ldm")
    z = ldm.config.latent_channels
    assert isinstance(ldm.net.encoder.blocks[-2], nn.SiLU) and isinstance(ldm.net.decoder.blocks[-2], nn.SiLU)
    assert not isinstance(monai.net.encoder.blocks[-2], nn.SiLU)
    assert ldm.net.encoder.blocks[-1].conv.out_channels == 2 * z  # ldm's conv to 2z, then quant convs 2z → z
    assert ldm.net.quant_conv_mu.conv.in_channels == 2 * z and ldm.net.quant_conv_mu.conv.out_channels == z
    assert monai.net.quant_conv_mu.conv.in_channels == z
    with torch.no_grad():
        out = ldm.eval()(torch.rand(2, 1, 8, 8))
    assert out.recon.shape == (2, 1, 8, 8) and out.mu.shape == (2, z, 4, 4)


def test_memory_switches_set_and_clear():
    model = tiny()
    model.enable_gradient_checkpointing()
    assert model.net.use_checkpoint and model.config.use_checkpointing
    model.disable_gradient_checkpointing()
    assert not model.net.use_checkpoint and not model.config.use_checkpointing
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        whole = model.encode(x)
        model.enable_slicing()
        sliced = model.encode(x)
        model.disable_slicing()
    torch.testing.assert_close(sliced, whole)
