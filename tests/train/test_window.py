"""The training window (issue 39): chosen from planted grains, trained on, encoded over the whole map, checked."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import cli, tree_hash
from benchmarks.data.planted import planted_map
from vaearr.encoding import encode
from vaearr.errors import InputError
from vaearr.maps.roi.neighbours import fit_store
from vaearr.maps.roi.window import (
    COVER,
    GRAIN_SIZES,
    GROWTH,
    MAX_PIXELS,
    MIN_PIXELS,
    check_request,
    choose_window,
    grow,
    spread_tiles,
)
from vaearr.maps.roi.window_measures import KindGrid
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


def far_kinds() -> tuple[np.ndarray, np.ndarray, KindGrid]:
    """Kinds far apart on a 200 × 200 map: three meeting in the middle, a fourth in two far corners."""
    kind = np.zeros((200, 200), np.int64)
    kind[:100, 100:] = 1
    kind[100:] = 2
    kind[:20, :20] = kind[180:, 180:] = 3
    return kind, np.ones(kind.shape, bool), KindGrid(np.arange(200), kind, 4, kind.shape)


def test_the_window_grows_for_the_kinds_no_further_than_its_pattern_budget() -> None:
    """Kinds far apart (three meeting in the middle of a 200 × 200 map, a fourth in two far corners): holding a
    quarter of each kind's share takes a box of about half the map. Within the budget it grows that far; with the
    default budget (a 64 × 64 box) it stays there, placed where it covers best, and says it did not cover them."""
    kind, inside, grid = far_kinds()
    ny, nx = kind.shape
    box, cover = grow(grid, 10.0, inside, max_pixels=ny * nx)
    assert cover >= COVER and (box[1] - box[0]) * (box[3] - box[2]) > MAX_PIXELS, (box, cover)
    box, cover = grow(grid, 10.0, inside)
    assert (box[1] - box[0], box[3] - box[2]) == (64, 64), box
    assert 0 <= cover < COVER
    assert len(np.unique(kind[box[0]:box[1], box[2]:box[3]])) >= 3  # placed where it holds most of what it can


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
        with pytest.raises(InputError, match="`window` must be"):
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
    proc = cli("train", small_planted, "--run", tmp_path / "r", "--window", window, "--epochs", "1")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0], lines[0]
    assert tree_hash(small_planted) == before


def test_a_run_stopped_before_its_first_checkpoint_starts_again_on_its_recorded_window(small_planted: Path,
                                                                                     tmp_path: Path) -> None:
    """The window is parsed once, from what was asked; a resume that starts again reads the run's record instead
    (the window asked of the resume is not the run's)."""
    from vaearr.train import open_or_create_run

    store, run = tmp_path / "map.zarr", tmp_path / "run"
    shutil.copytree(small_planted, store)
    cfg = TrainConfig(store=str(store), run=str(run), window="0:32, 0:40", epochs=1, latent_dim=2, model_options=SMALL,
                      tensorboard=False, previews=0)
    open_or_create_run(cfg, resume=False, write=True)  # the run folder, stopped before its first checkpoint
    assert Run.open(run).train["window"] == "0:32,0:40" and not list(run.glob("checkpoints/*"))
    notes: list[str] = []
    fit(TrainConfig(store=str(store), run=str(run), epochs=1), resume=True, progress=False, report=notes.append)
    assert any("no checkpoint yet" in line for line in notes), notes
    r = Run.open(run)
    assert r.train["window"] == "0:32,0:40" and r.train["latent_dim"] == 2 and (run / WINDOW_STORE).exists()
    assert (r.path / "best" / "model.safetensors").exists()


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
    # a chunk of patterns gone: the streamed encode (it reads the patterns itself, not patterns_sim3) refuses the
    # damaged map in one line and writes nothing
    chunks = sorted(p for p in (store / "patterns" / "c").rglob("*") if p.is_file())
    chunks[len(chunks) // 2].unlink()
    before = tree_hash(store)
    proc = cli("encode", store, "--run", run, "--name", "latent2")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "patterns" in lines[0] and "chunk" in lines[0], proc.stderr
    assert tree_hash(store) == before and "latent2" not in xr.open_zarr(store).data_vars


def test_a_large_map_trains_on_the_auto_window_by_default_a_small_one_whole(tmp_path: Path) -> None:
    """Without --window: a map of more than WINDOW_ABOVE patterns in its mask trains on auto's window (and says
    why); one of fewer trains whole (no window.json), as before; --subset keeps the whole map."""
    from vaearr.train.window import WINDOW_ABOVE

    big = tmp_path / "big.zarr"
    planted_map(big, grain=16, grains=(9, 9), rare=2)
    ds = xr.open_zarr(big)
    assert int(ds.roi.sum()) > WINDOW_ABOVE if "roi" in ds else ds.sizes["y"] * ds.sizes["x"] > WINDOW_ABOVE
    lines: list[str] = []
    fit(TrainConfig(store=str(big), run=str(tmp_path / "run"), epochs=1, latent_dim=4, model_options=SMALL,
                    tensorboard=False, previews=0), progress=False, report=lines.append)
    w = load_window(tmp_path / "run")
    assert w is not None and w.how == "auto" and not w.whole and "default" in w.info
    assert any("no `window`: the map holds more than" in line and "(`window='all'` trains" in line for line in lines), lines
    assert Run.open(tmp_path / "run").train["window"] == w.text
    fit(TrainConfig(store=str(big), run=str(tmp_path / "sub"), epochs=1, latent_dim=4, model_options=SMALL,
                    subset=512, tensorboard=False, previews=0), progress=False)
    assert load_window(tmp_path / "sub") is None
    small = tmp_path / "small.zarr"
    planted_map(small, grain=8, grains=(8, 8), rare=2)
    fit(TrainConfig(store=str(small), run=str(tmp_path / "whole"), epochs=1, latent_dim=4, model_options=SMALL,
                    tensorboard=False, previews=0), progress=False)
    assert load_window(tmp_path / "whole") is None


def test_tiles_hold_the_kinds_one_box_of_the_budget_misses() -> None:
    """The kinds far apart (as in the budget test): no 64 × 64 box holds them all, tiles of the grain size spread
    over the map do, within the same budget of patterns."""
    kind, inside, grid = far_kinds()
    ny, nx = kind.shape
    _, box_cover = grow(grid, 10.0, inside)
    tiles, cover = spread_tiles(grid, 10.0, inside)
    assert box_cover < COVER <= cover, (box_cover, cover)
    assert all((t[1] - t[0], t[3] - t[2]) == (10, 10) for t in tiles)
    assert MAX_PIXELS <= 100 * len(tiles) < MAX_PIXELS + 100  # the budget, to the tile
    region = np.zeros((ny, nx), bool)
    for y0, y1, x0, x1 in tiles:
        assert not region[y0:y1, x0:x1].any()  # tiles do not overlap
        region[y0:y1, x0:x1] = True
    held = np.bincount(kind[region], minlength=4) / region.sum()
    share = np.bincount(kind.ravel(), minlength=4) / kind.size
    assert (held >= COVER * share).all(), (held, share)


def test_a_window_of_tiles_trains_on_their_mosaic_and_encode_writes_the_whole_map(small_planted: Path,
                                                                                 tmp_path: Path) -> None:
    """``--window`` with boxes joined by ';': the tiles' patterns, averaged with their neighbours on the map, side by
    side in the run's window store; the check compares the rest of the map; encode writes every pixel."""
    store = tmp_path / "map.zarr"
    shutil.copytree(small_planted, store)
    run = tmp_path / "run"
    fit(TrainConfig(store=str(store), run=str(run), window="0:16,0:16;40:56,44:60", epochs=1, latent_dim=4,
                    model_options=SMALL, tensorboard=False, previews=0), progress=False)
    w = load_window(run)
    assert w.tiles == ((0, 16, 0, 16), (40, 56, 44, 60)) and w.region().sum() == 512 and not w.whole
    assert Run.open(run).train["window"] == "0:16,0:16;40:56,44:60"
    assert w.check["n_outside"] > 0 and w.check["ratio"] > 0
    r = Run.open(run)
    name = r.preprocess.source_variable("patterns")
    win = xr.open_zarr(run / WINDOW_STORE)[name].values
    assert win.shape[:2] == (16, 32)
    streamed = {}
    for idx, x in r.encoder.raw(str(store), "run", 512):
        streamed.update(zip(idx.tolist(), x[:, 0].numpy()))
    for (y, x), (my, mx) in [((0, 0), (0, 0)), ((15, 15), (15, 15)), ((40, 44), (0, 16)), ((55, 59), (15, 31))]:
        np.testing.assert_array_equal(streamed[y * 64 + x], win[my, mx])
    encode(store, run, name="latent", progress=False)
    assert np.isfinite(xr.open_zarr(store).latent.values).all()
    for bad, needle in (("0:16,0:16;40:56,44:64", "of one size"), ("0:16,0:16;60:76,0:16", "lies outside")):
        proc = cli("train", store, "--run", tmp_path / "r2", "--window", bad, "--epochs", "1")
        assert proc.returncode == 2 and needle in proc.stderr.strip().splitlines()[-1], proc.stderr
