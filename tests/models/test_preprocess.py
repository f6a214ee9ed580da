"""The EBSD preprocessing steps against kikuchipy (or the direct formula), the saved pipeline, and collapse made visible.

Data: kikuchipy's real Ni scan (3 × 3 patterns of 60 × 60) and the simulated demo map
(conftest's ``demo_store``); a conv-vae built so that exactly k latent dims carry anything.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from tests.helpers import cli
from vaearr.errors import InputError
from vaearr.maps.roi.neighbours import NeighbourAverage
from vaearr.preprocess import (
    Preprocess,
    PreprocessOptions,
    read_background,
)
from vaearr.transforms import (
    CircularMask,
    DynamicBackground,
    Standardize,
    SubtractBackground,
    circle,
)

kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")


@pytest.fixture(scope="module")
def ni() -> np.ndarray:
    """The real Ni patterns, (3, 3, 60, 60) uint8."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(kp.data.nickel_ebsd_small().data)


def _rescaled(x: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return (x - x.min()) / (x.max() - x.min()) * (hi - lo) + lo


@pytest.mark.parametrize("operation", ["subtract", "divide"])
def test_static_background_as_kikuchipy(ni: np.ndarray, operation: str) -> None:
    p = ni.reshape(9, 60, 60).astype(np.float32)
    bg = p.mean(0)
    s = kp.signals.EBSD(p.copy().reshape(3, 3, 60, 60))
    s.remove_static_background(operation=operation, static_bg=bg.astype(np.float32), show_progressbar=False)
    want = s.data.reshape(9, 60, 60)  # float32 patterns: kikuchipy stretches each to [-1, 1]
    got = SubtractBackground(bg, (-1.0, 1.0), operation)(torch.from_numpy(p[:, None]))[:, 0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("operation", ["subtract", "divide"])
def test_dynamic_background_as_kikuchipy_spatial(ni: np.ndarray, operation: str) -> None:
    from scipy.ndimage import gaussian_filter

    p = ni.reshape(9, 60, 60).astype(np.float32)
    got = DynamicBackground(6.0, operation, (-1.0, 1.0))(torch.from_numpy(p[:, None]))[:, 0].numpy()
    for i in (0, 4, 8):
        want = kp.pattern.remove_dynamic_background(p[i].copy(), operation=operation, filter_domain="spatial",
                                                     std=6.0, dtype_out=np.float32)
        np.testing.assert_allclose(got[i], want, atol=1e-5)
        # and the direct formula, before the stretch
        blur = gaussian_filter(p[i].astype(np.float64), 6.0, truncate=4.0)
        direct = p[i] - blur if operation == "subtract" else p[i] / blur
        np.testing.assert_allclose(got[i], _rescaled(direct), atol=1e-5)


def test_standardisation_as_kikuchipy(ni: np.ndarray) -> None:
    p = ni.reshape(9, 60, 60).astype(np.float32)
    s = kp.signals.EBSD(p.copy().reshape(3, 3, 60, 60))
    s.normalize_intensity(num_std=1, divide_by_square_root=False, show_progressbar=False)
    got = Standardize()(torch.from_numpy(p[:, None]))[:, 0].numpy()
    np.testing.assert_allclose(got, s.data.reshape(9, 60, 60), atol=1e-5)


def test_neighbour_averaging_as_kikuchipy_and_inside_the_mask(ni: np.ndarray) -> None:
    p = ni.astype(np.float32)
    s = kp.signals.EBSD(p.copy())
    s.average_neighbour_patterns(window="rectangular", window_shape=(3, 3), show_progressbar=False)
    got = NeighbourAverage(3).average(p)
    for iy in range(3):  # kikuchipy stretches each averaged float pattern to [-1, 1]
        for ix in range(3):
            np.testing.assert_allclose(_rescaled(got[iy, ix]), s.data[iy, ix], atol=1e-5)
    # the direct formula, with a mask: neighbours outside it do not count, pixels outside it stay
    mask = np.ones((3, 3), bool)
    mask[0, 0] = False
    got = NeighbourAverage(3).average(p, mask)
    np.testing.assert_allclose(got[1, 1], p[[0, 0, 1, 1, 1, 2, 2, 2], [1, 2, 0, 1, 2, 0, 1, 2]].mean(0), rtol=1e-6)
    np.testing.assert_array_equal(got[0, 0], p[0, 0])
    # integers are rounded back to their dtype
    assert NeighbourAverage(3).average(ni).dtype == np.uint8


def test_circular_detector_mask() -> None:
    x = torch.ones(2, 1, 60, 60)
    out = CircularMask()(x)
    inside = circle((60, 60)).numpy()
    assert out[:, :, inside].eq(1).all() and out[:, :, ~inside].eq(0).all()
    assert inside[30, 0] and not inside[0, 0] and inside.sum() == pytest.approx(np.pi * 30**2, rel=0.02)


def test_pipeline_saves_and_loads_every_step(tmp_path: Path) -> None:
    bg = np.random.default_rng(0).random((60, 60)).astype(np.float32) + 10
    steps = [SubtractBackground(bg, (0.0, 1.0), "divide"), DynamicBackground(7.5, "subtract"), Standardize(),
             CircularMask()]
    pre = Preprocess(steps, source_dtype="uint8", sample_shape=(1, 60, 60), average_neighbours=3)
    pre.save(tmp_path)
    back = Preprocess.load(tmp_path)
    assert back == pre and back.average_neighbours == 3 and back.source_variable("patterns") == "patterns_avg3"
    x = torch.randint(0, 256, (4, 1, 60, 60), dtype=torch.uint8)
    torch.testing.assert_close(back(x), pre(x), rtol=0, atol=0)
    assert json.loads((tmp_path / "preprocess.json").read_text())["steps"][0]["operation"] == "divide"
    assert back.output_range is None and not back.in_step


def test_background_file_of_the_wrong_shape_is_one_clear_error(tmp_path: Path) -> None:
    np.save(tmp_path / "bg.npy", np.ones((50, 60)))
    with pytest.raises(InputError, match=r"bg.npy: background of shape \(50, 60\) does not fit the patterns \(60, 60\)"):
        read_background(tmp_path / "bg.npy", (60, 60))
    np.save(tmp_path / "good.npy", np.full((60, 60), 3.0))
    assert read_background(tmp_path / "good.npy", (60, 60)).shape == (60, 60)
    with pytest.raises(InputError, match="average_neighbours must be 3 or 5"):
        PreprocessOptions(average_neighbours=4).check()


def test_ebsd_runs_default_to_background_removal_and_standardisation(demo_store: Path, tmp_path: Path) -> None:
    from vaearr.run import Run
    from vaearr.train import TrainConfig, fit

    common = dict(store=str(demo_store), epochs=1, batch_size=256, latent_dim=4, resize=24,
                  model_options={"channels": [8, 16]}, tensorboard=False, previews=0)
    fit(TrainConfig(run=str(tmp_path / "auto"), **common), progress=False)
    fit(TrainConfig(run=str(tmp_path / "none"), preprocess="none", **common), progress=False)
    auto, none = Run.open(tmp_path / "auto"), Run.open(tmp_path / "none")
    assert [type(s).__name__ for s in auto.preprocess.steps] == ["SubtractBackground", "Resize", "Standardize"]
    assert auto.model_config["data_range"] == "standardized" and auto.train["standardize"]
    assert [type(s).__name__ for s in none.preprocess.steps] == ["Resize", "Scale"]
    assert none.model_config["data_range"] == "[0,1]"
    # outputs in their real range: a standardised run has no fixed range (figures scale to the
    # values, PSNR/SSIM take the inputs' own range); a [0,1] run keeps its range
    assert auto.data_range is None and none.data_range == (0.0, 1.0)
    # EBSD auto takes the transposed-conv decoder (BENCHMARKS "Science: sub-grains"); a decoder asked for stays
    assert auto.model_config["decoder"] == "transpose" and none.model_config["decoder"] == "upsample"
    from vaearr.run import DataSpec
    from vaearr.train.resolve import preprocess_choices

    data = DataSpec.resolve(str(demo_store), "patterns")
    asked = preprocess_choices(TrainConfig(run="r", **{**common, "model_options": {"decoder": "upsample"}}), data)
    assert asked["model_options"] == {"decoder": "upsample"} and asked["average_neighbours"] == 3


def test_train_command_states_its_automatic_choices_and_active_units(demo_store: Path, tmp_path: Path) -> None:
    res = cli("train", demo_store, "--run", tmp_path / "r", "--epochs", "1", "--batch-size", "256", "--latent-dim",
              "4", "--resize", "24", "-o", "channels=[8,16]", "--no-tensorboard", "--previews", "0")
    assert res.returncode == 0, res.stderr
    assert ("preprocessing (auto, for py/px patterns): NeighbourAverage(similarity, 3×3) → "
            "SubtractBackground(divide) → Resize → Standardize") in res.stdout
    assert "output head (auto, for standardized inputs): gaussian (σ learned)" in res.stdout
    assert "decoder (auto, for py/px patterns): transpose" in res.stdout
    assert re.search(r"active units: \d+ of 4 latent dims", res.stdout)


def test_quality_of_unbounded_inputs_takes_their_own_range() -> None:
    from vaearr.analysis import quality as Q

    x = np.random.default_rng(0).normal(size=(3, 1, 16, 16))
    report = Q.reconstruction_quality(x, x + 0.1, data_range=None)
    width = float(x.max() - x.min())
    assert report.data_range == pytest.approx(width)
    assert report.per_sample["psnr"].to_numpy() == pytest.approx(10 * np.log10(width ** 2 / 0.01), rel=1e-6)
    assert Q.data_width(None) is None and Q.data_width((-1.0, 1.0)) == 2.0


# --------------------------------------------------------------------------------------------
# collapse, made visible


def _model_with_k_active_dims(k: int, d: int = 6):
    """A conv-vae whose mean head uses only the first k latent dims (the rest are zeroed)."""
    from vaearr.models import build_model

    torch.manual_seed(0)
    model = build_model({"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": d, "channels": [8]})
    with torch.no_grad():
        model.fc_mu.weight[k:] = 0
        model.fc_mu.bias[k:] = 0
        model.fc_mu.weight[:k] *= 20  # active dims: a posterior mean that varies over the samples
    return model.eval()


def test_active_units_count_the_dims_that_carry_something() -> None:
    from vaearr.models.latent_stats import LatentStats

    x = torch.rand(256, 1, 8, 8)
    for k in (0, 2, 5):
        stats = LatentStats()
        model = _model_with_k_active_dims(k)
        with torch.no_grad():
            for chunk in x.split(64):
                stats.add(*model.encode(chunk))
        got = stats.result()
        assert got["active_units"] == k, k
        assert len(got["kl_per_dim"]) == 6


def test_training_records_kl_per_dim_and_active_units_and_warns_on_collapse(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    from vaearr.store import write_variable
    from vaearr.train import TrainConfig, fit

    store = tmp_path / "d.zarr"
    write_variable(store, "images", xr.DataArray((load_digits().images * 15).astype(np.uint8),
                                                 dims=("sample", "row", "col")), chunks={"images": (128, 8, 8)})
    common = dict(store=str(store), var="images", epochs=2, latent_dim=6, model_options={"channels": [8, 16]},
                  tensorboard=False, previews=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        good = fit(TrainConfig(run=str(tmp_path / "good"), standardize=True, lr=3e-3, **common), progress=False)
    row = good.history[-1]
    assert row["val_active_units"] >= 3 and len(row["val_kl_per_dim"]) == 6 and "train_active_units" in row
    assert sum(row["val_kl_per_dim"]) == pytest.approx(row["val_kl"], rel=1e-4)
    assert not [w for w in caught if "active" in str(w.message)]
    # a β so large that the KL wins: the latent collapses, and training says so
    with pytest.warns(UserWarning, match=r"only \d of 6 latent dims are active .* free_bits"):
        bad = fit(TrainConfig(run=str(tmp_path / "bad"), model_options={"channels": [8, 16], "beta": 500.0},
                              **{k: v for k, v in common.items() if k != "model_options"}), progress=False)
    assert bad.history[-1]["val_active_units"] < 6 / 4


def test_similarity_weights_save_load_and_keep_a_grain_boundary(ni: np.ndarray, tmp_path: Path) -> None:
    """kikuchipy's real 3 × 3 Ni scan holds two grains (the first column and the rest): uniform
    averaging mixes them, similarity-weighted averaging leaves each pattern with its own grain."""
    bg = ni.reshape(9, 60, 60).astype(np.float64).mean(0)
    sim = NeighbourAverage.fit(ni, np.ones((3, 3), bool), size=3, background=bg)
    got, uni = sim.average(ni.astype(np.float32)), NeighbourAverage(3).average(ni.astype(np.float32))

    def corr(a, b):
        return float(np.corrcoef(a.ravel() - a.mean(), b.ravel() - b.mean())[0, 1])

    # the centre column's middle pixel: its averaged pattern stays nearer its own grain's mean
    own, other = ni[:, 1:].reshape(-1, 60, 60).mean(0), ni[:, 0].mean(0)
    assert corr(got[1, 1], own) - corr(got[1, 1], other) > corr(uni[1, 1], own) - corr(uni[1, 1], other)
    pre = Preprocess([Standardize()], source_dtype="uint8", sample_shape=(1, 60, 60), neighbours=sim)
    pre.save(tmp_path)
    back = Preprocess.load(tmp_path)
    assert back == pre and back.source_variable("patterns") == "patterns_sim3"
    np.testing.assert_array_equal(back.neighbours.average(ni), sim.average(ni))
    with pytest.raises(InputError, match="neighbour_weights must be"):
        PreprocessOptions(average_neighbours=3, neighbour_weights="gaussian").check()


def test_similarity_weights_switch_off_across_grain_boundaries() -> None:
    """On a simulated map (60 counts, sub-grains 0.5° apart): neighbours inside a grain keep most of
    their weight, neighbours across a grain boundary (whose patterns are part mixed) little."""
    from benchmarks.data import science_map

    ds = science_map("subgrains", shape=(24, 32), pattern_shape=(30, 30))
    p, grains = ds.patterns.values, ds.grain_id.values
    bg = p.reshape(-1, 30, 30).astype(np.float64).mean(0)
    sim = NeighbourAverage.fit(p, np.ones(grains.shape, bool), size=3, background=bg)
    f = sim.features(p)
    w = np.exp(-((f[:, 1:] - f[:, :-1]) ** 2).sum(-1) / (4 * f.shape[-1]))
    same = grains[:, 1:] == grains[:, :-1]
    assert np.median(w[same]) > 0.4 and np.median(w[~same]) < min(0.2, np.median(w[same]) / 4), \
        (np.median(w[same]), np.median(w[~same]))


def test_a_rescale_before_standardize_is_fused_and_changes_nothing_but_rounding():
    """The EBSD default (background divided, each pattern rescaled to [0, 1], standardised) runs as one step that
    skips the rescale: the same model inputs to float rounding, a constant pattern rescaled still all zeros; a rescale
    that flips the sign is not fused (the standardisation would not undo it)."""
    from vaearr.transforms import RemoveAndStandardize, Scale, Standardize, SubtractBackground, fuse_standardize

    rng = np.random.default_rng(0)
    bg = rng.uniform(50, 150, (12, 12)).astype(np.float32)
    x = torch.from_numpy(rng.integers(0, 256, (9, 1, 12, 12)).astype(np.uint8))
    x[3] = 77  # a dead pixel's constant pattern
    for first in (SubtractBackground(bg, operation="divide"), SubtractBackground(bg), Scale((0.0, 1.0), "sample"),
                  Scale((-1.0, 1.0), (0.0, 255.0))):
        fused = fuse_standardize([first, Standardize()])
        assert len(fused) == 1 and isinstance(fused[0], RemoveAndStandardize)
        want = Standardize()(first(x))
        got = fused[0](x)
        live = torch.arange(9) != 3
        assert torch.allclose(got[live], want[live], atol=2e-5) and not torch.equal(got, x.float())
        if isinstance(first, Scale):
            # a constant pattern: zeros (the rescale to a fixed range left it a rounding error from its mean,
            # which the standardisation blew up to ~0.06)
            assert not got[3].any()
    flip = Scale((1.0, 0.0), (0.0, 255.0))
    assert fuse_standardize([flip, Standardize()]) == [flip, Standardize()]
    pre = Preprocess([SubtractBackground(bg, operation="divide"), Standardize()], source_dtype="uint8",
                     sample_shape=(1, 12, 12))
    assert torch.allclose(pre(x), Standardize()(SubtractBackground(bg, operation="divide")(x)), atol=2e-5)
