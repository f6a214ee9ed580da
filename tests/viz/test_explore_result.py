"""What `vaearr explore` prints: the lines of a store's exploration and of files through a run."""

from __future__ import annotations

from pathlib import Path

from vaearr.viz.explore_result import ExploreResult


def test_store_exploration_lines() -> None:
    result = ExploreResult(Path("out"), figures=[Path("out/prior.html")],
                           summary={"n_samples": 50, "store": "s.zarr", "run": "r",
                                    "stats": {"active_units": 3, "latent_dim": 8, "kl_total": 12.345678}})
    assert result.describe().splitlines() == [
        "explored 50 samples of s.zarr with r → out",
        "  active units: 3/8, KL 12.35 nats",
        "  out/prior.html",
    ]


def test_file_lines_give_each_file_and_the_compression() -> None:
    summary = {"files": ["a.png", "b.png"], "run": "r",
               "per_file": [{"file": "a.png", "mse": 0.0123456, "psnr": 20.04, "ssim": 0.9123},
                            {"file": "b.png", "mse": 0.5, "psnr_uint8": 18.0, "ssim_uint8": 0.5}],
               "quality": {"input_bytes": 784, "latent_bytes": 32, "compression_ratio_bytes": 24.5,
                           "compression_ratio": 98.0}}
    assert ExploreResult(Path("o"), summary=summary).describe().splitlines() == [
        "reconstructed 2 file(s) with r → o",
        "  a.png: MSE 0.01235, PSNR 20 dB, SSIM 0.912 (float)",
        "  b.png: MSE 0.5, PSNR 18 dB, SSIM 0.5 (uint8)",
        "  compression: 784 B per input sample → 32 B per latent (float32): 24.5× in bytes, 98× in values",
    ]
