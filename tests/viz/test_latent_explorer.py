"""The latent explorer: one slider per dim, the decoded image the view draws, and its refusal of spatial latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaearr.analysis.generate import decode
from vaearr.errors import InputError
from vaearr.models import build_model, config_from_dict
from vaearr.viz.latent_explorer import Explorer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(config_from_dict({"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": 3,
                                         "channels": [4, 8]})).eval()


def test_sliders_start_at_the_base_and_reach_it(model) -> None:
    pytest.importorskip("panel", reason="the viz extra builds the sliders")
    ex = Explorer(model, base=np.array([0.5, -4.0, 0.0]), value_range=(-3.0, 3.0))
    assert [getattr(s, "label", None) or s.name for s in ex.sliders] == ["z0", "z1", "z2"]
    assert ex.z.tolist() == [0.5, -4.0, 0.0]
    assert (ex.sliders[1].start, ex.sliders[1].end) == (-4.0, 3.0)  # the range widened to hold the base
    ex.sliders[2].value = 1.25
    np.testing.assert_allclose(ex.image(), decode(model, np.array([[0.5, -4.0, 1.25]]))[0, 0])
    assert ex.image(0.0, 0.0, 0.0).shape == (8, 8)


def test_spatial_latents_are_refused() -> None:
    pytest.importorskip("panel", reason="the viz extra builds the sliders")
    kl = build_model(config_from_dict({"name": "autoencoder-kl", "preset": "tiny", "input_shape": [3, 16, 16]}))
    with pytest.raises(InputError, match=r"the explorer needs a vector latent; this model's latent is \("):
        Explorer(kl)
