"""vaearr.models.options: model options from a JSON file of any family or an ldm YAML for autoencoder-kl, without
the fields the data decide."""

from __future__ import annotations

import json

import pytest

from tests.helpers import REPO
from vaearr.errors import InputError
from vaearr.models.options import options_from_file

pytest.importorskip("yaml", reason="needs the 'models' extra (pyyaml)")


def test_json_config_without_name_and_input_shape(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": 3, "beta": 0.5}))
    assert options_from_file(path, "conv-vae") == {"latent_dim": 3, "beta": 0.5}


def test_ldm_yaml_gives_the_autoencoder_kl_fields():
    got = options_from_file(REPO / "tests" / "data" / "sd_v1_first_stage.yaml", "autoencoder-kl")
    assert "name" not in got and "input_shape" not in got
    assert got["channels"] == [128, 256, 512, 512] and got["latent_channels"] == 4
    assert got["decoder_num_res_blocks"] == got["num_res_blocks"] + 1


def test_bad_files_are_one_line_naming_the_file(tmp_path):
    yaml = tmp_path / "a.yml"
    yaml.write_text("ddconfig: {}\n")
    with pytest.raises(InputError, match=r"a\.yml: a YAML config is read for autoencoder-kl only \(model is conv-vae\)"):
        options_from_file(yaml, "conv-vae")
    broken = tmp_path / "broken.json"
    broken.write_text("{latent_dim: 3")
    with pytest.raises(InputError, match=r"broken\.json: not a readable JSON config \(Expecting property name"):
        options_from_file(broken, "conv-vae")
    with pytest.raises(InputError, match=r"missing\.json: not a readable JSON config \(\[Errno 2\]"):
        options_from_file(tmp_path / "missing.json", "conv-vae")
