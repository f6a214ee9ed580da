"""vaearr.models.conv_vae: the config's head chosen by the data range and its one-line checks, the layouts the
script imports rebuild (hidden layers, transposed decoder, fit), and the loss with its free-bits floor."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vaearr.errors import InputError
from vaearr.models import ConvVAEConfig, build_model
from vaearr.models.losses import kl_per_dim


def small(**changes) -> ConvVAEConfig:
    return ConvVAEConfig(**{"input_shape": (1, 8, 8), "latent_dim": 2, "channels": (4,), **changes})


def test_auto_output_follows_the_data_range_with_its_units():
    heads = {r: small(data_range=r).output_head for r in ("[0,1]", "[-1,1]", "standardized")}
    assert heads == {"[0,1]": "sigmoid-bce", "[-1,1]": "tanh-mse", "standardized": "gaussian"}
    assert small(output="linear-mse").output_head == "linear-mse"
    assert small().recon_units() == "nats per sample"
    assert small(data_range="[-1,1]").recon_units() == "squared error summed per sample"


@pytest.mark.parametrize("changes, message", [
    ({"latent_dim": 0}, "latent_dim must be >= 1, got 0"),
    ({"channels": ()}, r"channels must be one or more positive widths, got \(\)"),
    ({"beta": -0.5}, "beta must be >= 0, got -0.5"),
    ({"sigma": 0.0}, r"sigma must be > 0 \(or None to learn it\), got 0.0"),
    ({"free_bits": -1.0}, "free_bits must be >= 0, got -1.0"),
    ({"activation": "gelu"}, "activation must be one of leaky_relu, silu, relu; got 'gelu'"),
    ({"fit": "pad"}, "fit must be one of crop, resize; got 'pad'"),
    ({"strides": (2, 2)}, r"strides needs one value per level \(1\), got \(2, 2\)"),
    ({"paddings": (-1,)}, r"paddings needs one value per level \(1\), got \(-1,\)"),
    ({"hidden_dims": (8, 0)}, r"hidden_dims must be positive widths, got \(8, 0\)"),
    ({"decoder_channels": ()}, r"decoder_channels must be positive widths, got \(\)"),
    ({"decoder_in_channels": 0}, "decoder_in_channels must be >= 1, got 0"),
    ({"channels": (4, 8), "decoder_channels": (8, 4, 4)},
     r"decoder_channels needs 2 \(or 1\) widths with decoder 'upsample', got 3"),
    ({"decoder": "transpose", "decoder_strides": (2, 2)},
     r"decoder_strides needs one value per decoder layer \(1\), got \(2, 2\)"),
    ({"output_layer": "last"}, "output_layer 'last' needs decoder 'transpose'"),
    ({"decoder": "transpose", "output_layer": "last", "decoder_channels": (4,)},
     r"output_layer 'last' needs decoder_channels ending in the input channels \(1\), got \(4,\)"),
    ({"output": "gaussian", "data_range": "[0,1]"}, None),  # the gaussian head takes any range
])  # fmt: skip
def test_config_checks_say_one_line(changes, message):
    config = small(**changes)
    if message is None:
        config.validate()
        return
    with pytest.raises(InputError, match=rf"^model config 'conv-vae': {message}"):
        config.validate()


def test_a_decoder_that_cannot_reach_the_input_size_is_refused_unless_it_resizes():
    layout = {"input_shape": (1, 9, 9), "channels": (4,), "decoder": "transpose", "decoder_output_paddings": (0,)}
    model = build_model(small(**layout))  # 9×9 → 5×5 → 9×9: it fits
    assert model._grown == (9, 9)  # noqa: SLF001 - the grid the decoder reaches before the fit
    shrink = {**layout, "decoder_paddings": (2,)}  # 5 → 7: smaller than 9
    with pytest.raises(InputError, match=r"the decoder grows 5×5 to 7×7, smaller than the input 9×9; use fit 'resize'"):
        build_model(small(**shrink))
    resized = build_model(small(**shrink, fit="resize"))
    assert resized.decode(torch.zeros(3, 2)).shape == (3, 1, 9, 9)


def test_hidden_layers_and_decoder_widths_build_the_layout_asked():
    model = build_model(small(channels=(4, 8), hidden_dims=(6, 5), decoder_channels=(3,), decoder_in_channels=2))
    linears = [m for m in model.fc_hidden if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8 * 2 * 2, 6), (6, 5)]
    assert model.fc_mu.in_features == 5
    assert model.fc_decode.in_features == 6 and model.decoder_shape == (2, 2, 2)
    assert model.to_pixels.in_channels == 3  # the upsampling decoder's one block, then the output conv
    out = model(torch.rand(2, 1, 8, 8))
    assert out.recon.shape == (2, 1, 8, 8) and out.mu.shape == (2, 2)


def test_loss_with_free_bits_floors_each_dims_kl():
    torch.manual_seed(0)
    model = build_model(small(free_bits=0.5, beta=2.0)).eval()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        out = model(x, kl_weight=0.5)
    per_dim = kl_per_dim(out.mu, out.logvar)
    torch.testing.assert_close(out.extras["kl_per_dim"], per_dim)
    torch.testing.assert_close(out.kl, per_dim.sum())
    floored = torch.clamp(per_dim, min=0.5).sum()
    torch.testing.assert_close(out.loss, out.recon_loss + 2.0 * 0.5 * floored)
    assert float(floored) > float(per_dim.sum())  # a fresh model's KL is near 0: the floor is what counts


def test_gaussian_head_learns_one_sigma_unless_given():
    learned = build_model(small(data_range="standardized"))
    assert learned.log_sigma.shape == () and float(learned.log_sigma.detach()) == 0.0
    assert not hasattr(build_model(small(data_range="standardized", sigma=0.3)), "log_sigma")
