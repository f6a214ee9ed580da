"""vaearr.models.config: a family's config checks its fields' types and shapes in one line each, and goes to JSON
and back unchanged (lists as tuples, ints in float fields as floats); the registry picks the family by name."""

from __future__ import annotations

import json

import pytest

from vaearr.errors import InputError
from vaearr.models import ConvVAEConfig, VAE3DConfig
from vaearr.models.config import ModelConfig, config_from_dict


def test_lists_become_tuples_so_configs_compare_equal():
    a = ConvVAEConfig(input_shape=[1, 8, 8], channels=[8, 16], hidden_dims=[])
    assert a.input_shape == (1, 8, 8) and a.channels == (8, 16) and a.hidden_dims == ()
    assert a == ConvVAEConfig(input_shape=(1, 8, 8), channels=(8, 16))


def test_to_dict_names_the_family_and_writes_lists():
    config = ConvVAEConfig(input_shape=(1, 8, 8), channels=(8,), latent_dim=3)
    d = config.to_dict()
    assert d["name"] == "conv-vae" and d["input_shape"] == [1, 8, 8] and d["channels"] == [8] and d["sigma"] is None
    d["channels"].append(99)  # a copy: the config is untouched
    assert config.channels == (8,)
    assert json.loads(config.to_json(indent=None)) == config.to_dict()


def test_from_dict_and_from_json_round_trip_and_coerce_ints_in_float_fields():
    config = ConvVAEConfig.from_dict({"name": "conv-vae", "input_shape": [1, 8, 8], "beta": 2, "channels": [8]})
    assert config.beta == 2.0 and isinstance(config.beta, float) and config.channels == (8,)
    config.validate()  # 2 in a float field passes as 2.0
    assert ConvVAEConfig.from_json(config.to_json()) == config
    assert ModelConfig.from_dict(config.to_dict()) == config  # the base class picks the family by name
    assert ModelConfig.from_json(config.to_json()) == config
    assert config_from_dict({"name": "vae3d"}) == VAE3DConfig()


def test_from_dict_and_from_json_errors():
    with pytest.raises(InputError, match=r"^config is for model 'vae3d', not 'conv-vae'$"):
        ConvVAEConfig.from_dict({"name": "vae3d"})
    with pytest.raises(InputError, match=r"model config 'conv-vae': unknown field\(s\) depth, width; known: input_shape, "
                                         r"latent_dim, channels"):
        ConvVAEConfig.from_dict({"width": 3, "depth": 2})
    with pytest.raises(InputError, match=r"^model config is not valid JSON \(Expecting property name"):
        ConvVAEConfig.from_json("{'latent_dim': 3}")
    with pytest.raises(InputError, match=r"^model config JSON must be an object$"):
        ConvVAEConfig.from_json("[1, 2]")
    with pytest.raises(InputError, match=r"^unknown model None; known models: autoencoder-kl, conv-vae, vae3d$"):
        config_from_dict({"latent_dim": 3})


@pytest.mark.parametrize("changes, message", [
    ({"latent_dim": True}, "latent_dim must be int, got True"),  # a bool is no int here
    ({"latent_dim": 2.0}, "latent_dim must be int, got 2.0"),
    ({"beta": "1"}, "beta must be float, got '1'"),
    ({"sigma": "auto"}, "sigma must be float | None, got 'auto'"),
    ({"channels": (8, "16")}, r"channels must be tuple\[int, \.\.\.\], got \(8, '16'\)"),
    ({"channels": [8, 16.0]}, r"channels must be tuple\[int, \.\.\.\], got \(8, 16\.0\)"),
    ({"input_shape": (1, 8)}, r"input_shape must be \(C, H, W\), got \(1, 8\)"),
    ({"input_shape": (1, 0, 8)}, r"input_shape sizes must be >= 1, got \(1, 0, 8\)"),
])  # fmt: skip
def test_validate_says_the_first_bad_field_in_one_line(changes, message):
    config = ConvVAEConfig(**{"input_shape": (1, 8, 8), **changes})
    with pytest.raises(InputError, match=rf"^model config 'conv-vae': {message}$"):
        config.validate()


def test_three_dimensional_families_want_c_d_h_w():
    with pytest.raises(InputError, match=r"input_shape must be \(C, D, H, W\), got \(1, 16, 16\)"):
        VAE3DConfig(input_shape=(1, 16, 16)).validate()


def test_recon_units_default_is_none():
    assert ModelConfig().recon_units() is None
