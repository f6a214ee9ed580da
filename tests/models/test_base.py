"""vaearr.models.base: the surface every family shares — the input checks, forward's choice of posterior draw or
mean, sampling from the prior, the channels-last layout, the registry's refusals, and save/load's errors naming
the file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

from vaearr.errors import InputError
from vaearr.models import ConvVAEConfig, VAE3DConfig, build_model, load_model, save_model
from vaearr.models.base import (
    Adversarial,
    MissingPackageError,
    ModelConfig,
    VAEBase,
    VAEOutput,
    channels_last,
    channels_last_batch,
    check_batch_rank,
    fmt_shape,
    register,
)
from vaearr.models.losses import kl_divergence


@dataclass
class LinearConfig(ModelConfig):
    name: ClassVar[str] = "linear-test"  # never registered: the registry's families stay the package's
    input_shape: tuple[int, ...] = (1, 2, 2)


class LinearVAE(VAEBase):
    """The smallest family: a linear encoder to two latent dims and a linear decoder, squared error."""

    config_class = LinearConfig

    def __init__(self, config: LinearConfig):
        super().__init__(config)
        self.enc = nn.Linear(4, 4)
        self.dec = nn.Linear(2, 4)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (2,)

    def encode(self, x):
        h = self.enc(x.flatten(1))
        return h[:, :2], h[:, 2:]

    def decode(self, z):
        return self.dec(z).view(-1, 1, 2, 2)

    def loss_function(self, x, out, kl_weight=1.0):
        out.recon_loss = (out.recon - x).pow(2).flatten(1).sum(1).mean()
        out.kl = kl_divergence(out.mu, out.logvar)
        out.loss = out.recon_loss + kl_weight * out.kl
        return out


def test_fmt_shape():
    assert fmt_shape((1, 63, 64)) == "1×63×64"
    assert fmt_shape(torch.Size([2])) == "2"


def test_check_batch_rank_refuses_rank_dtype_and_channels_in_one_line():
    config = ConvVAEConfig(input_shape=(2, 8, 8))
    check_batch_rank(torch.zeros(3, 2, 5, 7), config)  # any spatial size: that is the family's check
    with pytest.raises(InputError, match=r"^model 'conv-vae' expects a 4-D batch \(B, C, H, W\), got shape 2×8×8$"):
        check_batch_rank(torch.zeros(2, 8, 8), config)
    with pytest.raises(InputError, match="needs a floating-point batch, got torch.int64; normalise the data first"):
        check_batch_rank(torch.zeros(1, 2, 8, 8, dtype=torch.long), config)
    with pytest.raises(InputError, match=r"expects 2 channel\(s\), got 1 \(input 1×8×8\)"):
        check_batch_rank(torch.zeros(1, 1, 8, 8), config)
    with pytest.raises(InputError, match=r"model 'vae3d' expects a 5-D batch \(B, C, D, H, W\), got shape 1×1×8×8"):
        check_batch_rank(torch.zeros(1, 1, 8, 8), VAE3DConfig())


def test_forward_samples_in_training_and_decodes_the_mean_in_eval():
    torch.manual_seed(0)
    model = LinearVAE(LinearConfig())
    x = torch.rand(3, 1, 2, 2)
    model.eval()
    out = model(x)
    assert isinstance(out, VAEOutput) and torch.equal(out.z, out.mu)
    torch.testing.assert_close(out.recon, model.decode(out.mu))
    torch.testing.assert_close(out.loss, out.recon_loss + out.kl)
    half = model(x, kl_weight=0.5)
    torch.testing.assert_close(half.loss, half.recon_loss + 0.5 * half.kl)
    assert not torch.equal(model(x, sample_posterior=True).z, out.mu)
    model.train()
    assert not torch.equal(model(x).z, model(x).mu)
    assert torch.equal(model(x, sample_posterior=False).z, model(x, sample_posterior=False).mu)
    with pytest.raises(InputError, match=r"model 'linear-test' was built for input 1×2×2 \(config input_shape\), "
                                         r"got 1×2×3"):
        model(torch.rand(3, 1, 2, 3))


def test_sample_decodes_draws_from_the_prior():
    torch.manual_seed(0)
    model = LinearVAE(LinearConfig())
    drawn = model.sample(4, generator=torch.Generator().manual_seed(3))
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(drawn, model.decode(z))
    assert list(model.generator_parameters()) == list(model.parameters())


def test_the_family_surface_is_abstract_and_adversarial_scale_follows_the_stage():
    model = VAEBase(LinearConfig())
    for call in (lambda: model.encode(None), lambda: model.decode(None), lambda: model.latent_shape,
                 lambda: model.loss_function(None, None)):
        with pytest.raises(NotImplementedError):
            call()

    class FromEpoch2(Adversarial):
        def adversarial_active(self, epoch: int) -> bool:
            return epoch >= 2

    assert [FromEpoch2().adversarial_scale(e) for e in range(4)] == [0.0, 0.0, 1.0, 1.0]


def test_register_and_build_model_refuse_what_they_cannot_use():
    @dataclass
    class Nameless(ModelConfig):
        pass

    class NoName(LinearVAE):
        config_class = Nameless

    with pytest.raises(TypeError, match="^Nameless has no name$"):
        register(NoName)
    with pytest.raises(InputError, match="^model 'linear-test' is not registered$"):
        build_model(LinearConfig())
    with pytest.raises(InputError, match=r"input_shape sizes must be >= 1"):  # validated before building
        build_model({"name": "conv-vae", "input_shape": [1, 0, 8]})


def test_missing_package_error_is_an_import_error_saying_what_to_install():
    err = MissingPackageError("the perceptual loss", "lpips")
    assert isinstance(err, ImportError)
    assert str(err) == "the perceptual loss needs the lpips package, which is not installed: pip install lpips"


def test_channels_last_lays_out_2d_convolutions_only():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv3d(2, 2, 3), nn.Linear(3, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert channels_last(model) is model
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()
    assert model[1].weight.is_contiguous()  # 3-D convolutions keep theirs
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the same numbers
    batch = channels_last_batch(torch.rand(2, 3, 4, 5))
    assert batch.is_contiguous(memory_format=torch.channels_last) and not batch.is_contiguous()
    volume = torch.rand(2, 1, 3, 4, 5)
    assert channels_last_batch(volume) is volume


def test_load_model_names_the_file_for_unreadable_configs_and_weights(tmp_path):
    model = build_model(ConvVAEConfig(input_shape=(1, 8, 8), latent_dim=2, channels=(8,)))
    run = save_model(model, tmp_path / "run")
    config = (run / "config.json").read_text()
    (run / "config.json").write_text("{not json")
    with pytest.raises(InputError, match=r"config\.json: not valid JSON \(Expecting property name"):
        load_model(run)
    (run / "config.json").write_text("[]")
    with pytest.raises(InputError, match=r"config\.json: model config JSON must be an object$"):
        load_model(run)
    (run / "config.json").write_text(config)
    (run / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match=r"model\.safetensors: cannot read weights \("):
        load_model(run)
    save_model(model, run)  # written again over the broken file
    assert json.loads((run / "config.json").read_text())["latent_dim"] == 2
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), load_model(run).state_dict().values(),
                                                 strict=True))
