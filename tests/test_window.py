"""The training window (issue 39): chosen from planted grains, trained on, encoded over the whole map, checked."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import run_cli, tree_hash
from vaearr.data.planted import planted_map
from vaearr.encode import encode
from vaearr.errors import InputError
from vaearr.maps.neighbours import fit_store
from vaearr.maps.window import GRAIN_SIZES, GROWTH, MIN_PIXELS, check_request, choose_window
from vaearr.options import WindowRequest, parse_window
from vaearr.run import Run
from vaearr.train import TrainConfig, fit
from vaearr.train.active import measure_active_units
from vaearr.train.window import WINDOW_STORE, load_window
from vaearr.viz.report import build_report

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra (kikuchipy) to simulate patterns")

SMALL = {"channels": [8, 16]}


def true_intercept(kind: np.ndarray) -> float:
    """The mean linear intercept of the planted kinds' boundaries along rows and columns (line length over changes)."""
    crossings = int((kind[:, 1:] != kind[:, :-1]).sum() + (kind[1:] != kind[:-1]).sum())
    length = kind.shape[0] * (kind.shape[1] - 1) + kind.shape[1] * (kind.shape[0] - 1)
    return length / crossings


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """8 × 8 square grains of 20 px (four kinds; the rare one, 2 × 2 grains, in the last corner)."""
    path = tmp_path_factory.mktemp("planted") / "planted.zarr"
    planted_map(path, grain=20, grains=(8, 8), rare=2)
    return path


def test_the_chooser_picks_two_grain_sizes_holding_every_planted_kind(planted: Path) -> None:
    ds = xr.open_zarr(planted)
    kind = ds.kind_true.values
    na = fit_store(planted, "patterns", "roi", size=3, feature_dims=("py", "px"))
    w = choose_window(planted, "patterns", "roi", na.features, feature_dims=("py", "px"))
    truth = true_intercept(kind)
    # the characteristic grain size: the mean linear intercept read from the patterns, as planted
    assert w.info["grain_size"] == pytest.approx(truth, rel=0.1), (w.info, truth)
    assert w.info["kinds"] == 4, w.info
    # the expected size: twice the grain size a side (at least MIN_PIXELS), grown only to hold every kind
    side = max(math.ceil(GRAIN_SIZES * w.info["grain_size"]), math.ceil(math.sqrt(MIN_PIXELS)))
    y0, y1, x0, x1 = w.box
    assert y1 - y0 == x1 - x0
    assert side <= y1 - y0 <= math.ceil(side * GROWTH), (w.box, side)
    assert (y1 - y0) < kind.shape[0] / 2  # a window, not the map
    # every planted kind inside it, the rare corner one too, at a quarter of its share of the map at least
    share_map = np.bincount(kind.ravel(), minlength=4) / kind.size
    share_win = np.bincount(kind[y0:y1, x0:x1].ravel(), minlength=4) / kind[y0:y1, x0:x1].size
    assert (share_win >= 0.25 * share_map).all(), (share_win, share_map)
    assert w.info["covered"] and w.info["divergence_nats"] < 0.1


def test_a_given_side_is_placed_where_it_holds_the_rare_kind(planted: Path) -> None:
    kind = xr.open_zarr(planted).kind_true.values
    na = fit_store(planted, "patterns", "roi", size=3, feature_dims=("py", "px"))
    w = choose_window(planted, "patterns", "roi", na.features, feature_dims=("py", "px"), size=(40, 40))
    y0, y1, x0, x1 = w.box
    assert (y1 - y0, x1 - x0) == (40, 40) and w.how == "size"
    assert set(np.unique(kind[y0:y1, x0:x1])) == {0, 1, 2, 3}


def test_window_requests_and_their_one_line_errors() -> None:
    assert parse_window("auto") == WindowRequest("auto")
    assert parse_window("48x64") == WindowRequest("size", (48, 64))
    assert parse_window("0:40, 8:48") == WindowRequest("box", (0, 40, 8, 48))
    assert parse_window(None) is None
    for bad in ("foo", "1:2", "1:2,3", "4x4x4", "a:b,c:d"):
        with pytest.raises(InputError, match="--window must be"):
            parse_window(bad)
    check_request(WindowRequest("box", (0, 40, 8, 48)), (48, 64))
    with pytest.raises(InputError, match="lies outside the 48 × 64 map"):
        check_request(WindowRequest("box", (40, 60, 0, 10)), (48, 64))
    with pytest.raises(InputError, match="lies outside"):
        check_request(WindowRequest("box", (10, 5, 0, 10)), (48, 64))
    with pytest.raises(InputError, match="smaller than a pattern neighbourhood"):
        check_request(WindowRequest("box", (0, 2, 0, 10)), (48, 64))
    with pytest.raises(InputError, match="smaller than a pattern neighbourhood"):
        check_request(WindowRequest("size", (2, 2)), (48, 64))


@pytest.fixture(scope="module")
def small_planted(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("small_planted") / "map.zarr"
    planted_map(path, grain=8, grains=(8, 8), rare=2)
    return path


@pytest.mark.parametrize("window, needle", [("0:5,0:500", "lies outside the 64 × 64 map"),
                                            ("60:70,0:10", "lies outside"),
                                            ("0:2,0:40", "smaller than a pattern neighbourhood"),
                                            ("2", "smaller than a pattern neighbourhood"),
                                            ("sideways", "--window must be")])
def test_a_bad_window_is_one_line_and_the_store_is_unchanged(small_planted: Path, tmp_path: Path, window: str,
                                                              needle: str) -> None:
    before = tree_hash(small_planted)
    proc = run_cli("train", small_planted, "--run", tmp_path / "r", "--window", window, "--epochs", "1")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0], lines[0]
    assert tree_hash(small_planted) == before


def test_training_on_a_window_leaves_the_store_and_encode_writes_the_whole_map(small_planted: Path,
                                                                              tmp_path: Path) -> None:
    store = tmp_path / "map.zarr"
    shutil.copytree(small_planted, store)
    before = tree_hash(store)
    run = tmp_path / "run"
    lines: list[str] = []
    trained = fit(TrainConfig(store=str(store), run=str(run), window="auto", epochs=1, latent_dim=4,
                              model_options=SMALL, tensorboard=False, previews=0), progress=False, report=lines.append)
    assert tree_hash(store) == before, "training on a window wrote into the map's store"
    w = load_window(run)
    assert w is not None and not w.whole and w.how == "auto"
    assert any(line.startswith("window: rows ") for line in lines), lines
    assert any(line.startswith("window check: reconstruction error outside") for line in lines), lines
    assert w.check["n_inside"] > 0 and w.check["n_outside"] > 0 and w.check["ratio"] > 0
    r = Run.open(run)
    assert r.train["window"] == w.text
    # the window's patterns, averaged as training read them, are the ones encode streams for those pixels
    win = xr.open_zarr(run / WINDOW_STORE)
    name = r.preprocess.source_variable("patterns")
    streamed = {}
    for idx, x in r.encoder.raw(str(store), "run", 512):
        streamed.update(zip(idx.tolist(), x[:, 0].numpy()))
    ys, xs = w.slices
    nx = w.shape[1]
    for (y, x) in [(ys.start, xs.start), (ys.stop - 1, xs.stop - 1), ((ys.start + ys.stop) // 2, xs.start + 3)]:
        np.testing.assert_array_equal(streamed[y * nx + x], win[name].values[y - ys.start, x - xs.start])
    result = encode(store, run, name="latent", progress=False)
    lat = xr.open_zarr(store).latent.values
    assert result.n_encoded == 64 * 64 and np.isfinite(lat).all()
    # active units measured over the whole map (not the window), as encode measures them: the same figure
    units = trained.active_units
    assert units is not None and units.whole and units.n == 64 * 64
    assert result.active_units == (units.active, units.dims)
    # more samples than measured: a seeded choice from rows spread over the map, averaged as encode streams them
    sampled = measure_active_units(r, r.model("best"), n=500)
    assert sampled is not None and sampled.n == 500 and sampled.inside == 64 * 64 and sampled.dims == 4
    assert "patterns_sim3" not in xr.open_zarr(store).data_vars  # the map's average was streamed, not written
    assert json.loads((run / "window.json").read_text())["box"] == list(w.box)
    # the report says where the model was trained and how the window held
    page = build_report(store, tmp_path / "report", run=run, echo=lambda _: None).path.read_text()
    y0, y1, x0, x1 = w.box
    assert "training window" in page and f"rows {y0}:{y1}, columns {x0}:{x1}" in page
    assert "reconstruction error outside / inside" in page
