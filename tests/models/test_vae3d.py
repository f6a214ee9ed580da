"""vaearr.models.vae3d: the 3D config's checks (losses, discriminator depth, MAISI's splits) in one line each, the
two-stage schedule of the adversarial term, and the loss that adds it only when asked."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("monai", reason="needs the 'models' extra (monai)")

from vaearr.errors import InputError  # noqa: E402
from vaearr.models import VAE3DConfig, build_model  # noqa: E402
from vaearr.models.losses import generator_adversarial_loss  # noqa: E402

#: one thread for these tiny convolutions (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"input_shape": (1, 8, 8, 8), "channels": (8, 8), "norm_num_groups": 4, "backbone": "monai"}


def test_config_defaults_and_units():
    config = VAE3DConfig(**SMALL)
    assert config.attention_levels == (False, False) and config.downsampling_factor == 2
    assert config.recon_units() == "absolute error, mean per element"
    config.validate()


@pytest.mark.parametrize("changes, message", [
    ({"backbone": "unet"}, "backbone must be one of maisi, monai; got 'unet'"),
    ({"adversarial_loss": "wgan"}, "adversarial_loss must be one of ls, hinge, ns; got 'wgan'"),
    ({"perceptual_weight": -0.1}, "perceptual_weight must be >= 0, got -0.1"),
    ({"adversarial_ramp_epochs": -1}, "adversarial_ramp_epochs must be >= 0, got -1"),
    ({"adversarial_weight": 0.1, "discriminator_layers": 0},
     "discriminator_channels and discriminator_layers must be >= 1"),
    ({"adversarial_weight": 0.1, "discriminator_layers": 2},
     r"input_shape 1×8×8×8 is too small along z for a 2-layer patch discriminator \(needs >= 12\)"),
    ({"perceptual_network": "vit"}, "perceptual_network must be one of squeeze, alex, vgg, resnet50; got 'vit'"),
    ({"perceptual_fake_3d_ratio": 0.0}, r"perceptual_fake_3d_ratio must be in \(0, 1\], got 0.0"),
    ({"num_splits": 0}, "num_splits must be >= 1, got 0"),
    ({"dim_split": 3}, r"dim_split must be 0 \(D\), 1 \(H\) or 2 \(W\), got 3"),
    ({"num_splits": 2}, "num_splits > 1 needs backbone 'maisi'"),
    ({"num_splits": 2, "backbone": "maisi"},
     r"num_splits=2 along z needs input_shape's z size / 2 \(4\) to be a multiple of 2 with pieces >= 4 voxels"),
    ({"input_shape": (1, 8, 6, 8), "channels": (8, 8, 8)}, r"input_shape 1×8×6×8 is not divisible by 4 along y"),
])  # fmt: skip
def test_config_checks_say_one_line(changes, message):
    with pytest.raises(InputError, match=rf"^model config 'vae3d': {message}"):
        VAE3DConfig(**{**SMALL, **changes}).validate()


def test_adversarial_stage_starts_after_warm_up_and_ramps():
    torch.manual_seed(0)
    model = build_model(VAE3DConfig(**SMALL, adversarial_weight=0.1, adversarial_warmup_epochs=2,
                                    adversarial_ramp_epochs=4, discriminator_channels=4, discriminator_layers=1))
    assert [model.adversarial_active(e) for e in range(4)] == [False, False, True, True]
    assert [model.adversarial_scale(e) for e in range(8)] == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    x = torch.rand(2, 1, 8, 8, 8)
    out = model(x, sample_posterior=False)
    assert "adversarial" not in out.extras  # the term only when asked
    scaled = model(x, sample_posterior=False, adversarial=0.5)
    logits = model.discriminator(scaled.recon.detach())[-1]
    torch.testing.assert_close(scaled.extras["adversarial"], generator_adversarial_loss(logits, "ls"))
    torch.testing.assert_close(scaled.loss, scaled.recon_loss + 1e-6 * scaled.kl + 0.1 * 0.5 * scaled.extras["adversarial"])


def test_without_a_discriminator_or_perceptual_network_the_terms_are_refused():
    model = build_model(VAE3DConfig(**SMALL))
    assert model.discriminator is None and model.adversarial_scale(5) == 0.0
    assert len(list(model.generator_parameters())) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="^model 'vae3d' has no discriminator: set adversarial_weight > 0"):
        model.discriminator_loss(torch.rand(1, 1, 8, 8, 8), model(torch.rand(1, 1, 8, 8, 8)))
    with pytest.raises(ValueError, match="^model 'vae3d' has no perceptual loss: set perceptual_weight > 0"):
        model.perceptual_loss(torch.rand(1, 1, 8, 8, 8), torch.rand(1, 1, 8, 8, 8))


def test_inputs_that_cannot_be_split_are_refused():
    model = build_model(VAE3DConfig(input_shape=(1, 16, 8, 8), channels=(8, 8), norm_num_groups=4,
                                    num_splits=2, dim_split=0))
    with pytest.raises(InputError, match=r"^input 1×8×8×8 cannot be split 2 ways along z: its size / 2 \(4\) must be "
                                         r"a multiple of 2 with pieces >= 4 voxels$"):
        model.check_input(torch.rand(1, 1, 8, 8, 8))
    model.check_input(torch.rand(1, 1, 16, 8, 8))
