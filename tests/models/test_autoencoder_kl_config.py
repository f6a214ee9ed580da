"""vaearr.models.autoencoder_kl_config: presets fill what is not given, the architecture checks say one line each,
and an ldm / Stable Diffusion YAML in any of its layouts reads as the config of the same network."""

from __future__ import annotations

import pytest

from vaearr.errors import InputError
from vaearr.models.autoencoder_kl_config import PRESETS, AutoencoderKLConfig, spatial_axis_names

pytest.importorskip("yaml", reason="needs the 'models' extra (pyyaml)")

DDCONFIG = ("double_z: true\nz_channels: 3\nresolution: 32\nin_channels: 1\nout_ch: 1\n"
            "ch: 32\nch_mult: [1, 2]\nnum_res_blocks: 1\nattn_resolutions: [16]\n")


def test_presets_and_what_follows_from_them():
    assert set(PRESETS) == {"sd-v1", "small", "tiny"}
    small = AutoencoderKLConfig.from_preset("small", input_shape=(1, 16, 16), num_res_blocks=2)
    assert small.channels == (32, 64, 128) and small.norm_num_groups == 16 and small.with_mid_attention
    assert small.num_res_blocks == 2 and small.decoder_num_res_blocks == 3  # ldm's decoder: one more per level
    assert small.attention_levels == (False, False, False)
    assert small.downsampling_factor == 4
    symmetric = AutoencoderKLConfig.from_preset("tiny", decoder_num_res_blocks=1)
    assert symmetric.decoder_num_res_blocks == symmetric.num_res_blocks == 1  # MONAI's layout, when asked
    assert small.recon_units() == "squared error, mean per element"
    assert AutoencoderKLConfig(preset="tiny", recon_loss="l1", recon_reduction="sum").recon_units() == (
        "absolute error summed per sample")


def test_spatial_axis_names():
    assert spatial_axis_names(2) == ("y", "x")
    assert spatial_axis_names(3) == ("z", "y", "x")


@pytest.mark.parametrize("changes, message", [
    ({"channels": ()}, r"channels must be one or more positive widths, got \(\)"),
    ({"channels": (32, 0)}, r"channels must be one or more positive widths, got \(32, 0\)"),
    ({"num_res_blocks": 0}, "num_res_blocks must be >= 1, got 0"),
    ({"latent_channels": 0}, "latent_channels must be >= 1, got 0"),
    ({"attention_levels": (True,)}, r"attention_levels needs one entry per level \(2\), got \(True,\)"),
    ({"norm_num_groups": 24}, r"every width must be a multiple of norm_num_groups=24; \[32, 64\] are not"),
    ({"kl_weight": -1.0}, "kl_weight must be >= 0, got -1.0"),
    ({"recon_loss": "bce"}, "recon_loss must be one of mse, l1; got 'bce'"),
    ({"recon_reduction": "none"}, "recon_reduction must be one of mean, sum; got 'none'"),
    ({"input_shape": (3, 16, 15)}, r"input_shape 3×16×15 is not divisible by 2 along x \(2 levels halve each spatial "
                                   r"axis 1 times\); crop or pad to a multiple of 2, or use fewer levels"),
])  # fmt: skip
def test_architecture_checks_say_one_line(changes, message):
    config = AutoencoderKLConfig.from_preset("tiny", **{"input_shape": (3, 16, 16), **changes})
    with pytest.raises(InputError, match=rf"^model config 'autoencoder-kl': {message}$"):
        config.validate()


def test_unknown_preset():
    with pytest.raises(InputError, match=r"unknown preset 'sd-v9'; known: sd-v1, small, tiny"):
        AutoencoderKLConfig(preset="sd-v9")


def test_from_ldm_yaml_other_layouts_and_errors(tmp_path):
    bare = tmp_path / "ddconfig.yaml"
    bare.write_text(
        "double_z: true\nz_channels: 3\nresolution: 32\nin_channels: 1\nout_ch: 1\n"
        "ch: 32\nch_mult: [1, 2]\nnum_res_blocks: 1\nattn_resolutions: [16]\n"
    )
    config = AutoencoderKLConfig.from_ldm_yaml(bare)
    assert config.channels == (32, 64) and config.latent_channels == 3
    assert config.attention_levels == (False, True)  # level 1 runs at 32 / 2 = 16
    assert config.input_shape == (1, 32, 32)

    trained = tmp_path / "kl-f4.yaml"  # an ldm first-stage training config, with its KL weight
    trained.write_text(
        "model:\n  target: ldm.models.autoencoder.AutoencoderKL\n  params:\n    embed_dim: 3\n"
        "    lossconfig:\n      params: {kl_weight: 1.0e-05}\n"
        "    ddconfig: {double_z: true, z_channels: 3, resolution: 64, in_channels: 3, out_ch: 3,"
        " ch: 32, ch_mult: [1, 2, 4], num_res_blocks: 1, attn_resolutions: []}\n"
    )
    config = AutoencoderKLConfig.from_ldm_yaml(trained)
    assert config.kl_weight == 1e-5 and config.channels == (32, 64, 128)

    vq = tmp_path / "vq.yaml"
    vq.write_text(bare.read_text().replace("double_z: true", "double_z: false"))
    with pytest.raises(InputError, match=r"vq\.yaml: this first stage is a VQ autoencoder"):
        AutoencoderKLConfig.from_ldm_yaml(vq)
    vq_target = tmp_path / "vq_target.yaml"
    vq_target.write_text(
        "model:\n  params:\n    first_stage_config:\n      target: ldm.models.autoencoder.VQModelInterface\n"
        "      params:\n        ddconfig: {z_channels: 3, resolution: 64, in_channels: 3, out_ch: 3, ch: 32,"
        " ch_mult: [1, 2], num_res_blocks: 1}\n"
    )
    with pytest.raises(InputError, match="VQ autoencoder"):
        AutoencoderKLConfig.from_ldm_yaml(vq_target)
    unrelated = tmp_path / "unet.yaml"
    unrelated.write_text("model:\n  params:\n    unet_config: {params: {num_res_blocks: 2}}\n")
    with pytest.raises(InputError, match=r"unet\.yaml: no first-stage autoencoder found"):
        AutoencoderKLConfig.from_ldm_yaml(unrelated)


def test_from_ldm_yaml_reads_a_bare_first_stage_and_takes_overrides(tmp_path):
    first_stage = tmp_path / "first_stage.yaml"
    first_stage.write_text("embed_dim: 4\nddconfig:\n" + "".join(f"  {line}\n" for line in DDCONFIG.splitlines()))
    config = AutoencoderKLConfig.from_ldm_yaml(first_stage, input_shape=(1, 64, 64))
    assert config.latent_channels == 4  # embed_dim wins over z_channels
    assert config.input_shape == (1, 64, 64) and config.decoder_num_res_blocks == 2 and config.norm_num_groups == 32


def test_from_ldm_yaml_file_errors(tmp_path):
    with pytest.raises(InputError, match=r"none\.yaml: no such file"):
        AutoencoderKLConfig.from_ldm_yaml(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid YAML \(while parsing"):
        AutoencoderKLConfig.from_ldm_yaml(bad)
    lacking = tmp_path / "lacking.yaml"
    lacking.write_text("ddconfig: {ch: 32, ch_mult: [1, 2], z_channels: 3}\n")
    with pytest.raises(InputError, match=r"lacking\.yaml: ddconfig lacks num_res_blocks, in_channels, out_ch, resolution"):
        AutoencoderKLConfig.from_ldm_yaml(lacking)
    other_out = tmp_path / "other_out.yaml"
    other_out.write_text(DDCONFIG.replace("out_ch: 1", "out_ch: 3"))
    with pytest.raises(InputError, match=r"other_out\.yaml: out_ch 3 differs from in_channels 1; vaearr's autoencoders"):
        AutoencoderKLConfig.from_ldm_yaml(other_out)
    odd = tmp_path / "odd.yaml"
    odd.write_text(DDCONFIG.replace("ch: 32", "ch: 33"))  # 33 is no multiple of ldm's 32 groups
    with pytest.raises(InputError, match=r"odd\.yaml: model config 'autoencoder-kl': every width must be a multiple of "
                                         r"norm_num_groups=32"):
        AutoencoderKLConfig.from_ldm_yaml(odd)
