"""`vaearr layers`' model wrapper: the layers reported under a pretrained VAE's own names."""

from __future__ import annotations

import numpy as np

from vaearr.analysis.layers import LayerComparison
from vaearr.viz.layers import LayerModel


def comparison(layers: list[str]) -> LayerComparison:
    n = len(layers)
    return LayerComparison(layers=layers, l2=np.zeros(n), cosine=np.ones(n), shapes=[(1,)] * n,
                           x1=np.zeros((1, 1, 2, 2)), x2=np.zeros((1, 1, 2, 2)), recon1=np.zeros((1, 1, 2, 2)),
                           recon2=np.zeros((1, 1, 2, 2)))


def test_layers_take_the_longest_matching_prefix_and_ldm_spellings() -> None:
    lm = LayerModel(model=None, read=np.load, clim=None,
                    names={"net.decoder": "decoder", "net.decoder.blocks.5": "decoder.up.1.block.0"})
    cmp = lm.rename(comparison([
        "net.decoder.blocks.5.conv1.conv#2",
        "net.decoder.blocks.7.attn.to_q",
        "net.decoder.blocks.70.postconv.conv",
        "net.decoderx.a",
        "other.layer",
    ]))
    assert cmp.layers == [
        "decoder.up.1.block.0.conv1#2",
        "decoder.blocks.7.q",
        "decoder.blocks.70.conv",
        "net.decoderx.a",  # a prefix counts at a dot only
        "other.layer",
    ]


def test_without_names_the_comparison_is_unchanged() -> None:
    cmp = comparison(["a.b"])
    assert LayerModel(model=None, read=np.load, clim=(0.0, 1.0)).rename(cmp) is cmp and cmp.layers == ["a.b"]
