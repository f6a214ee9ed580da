"""Training that repeats (issue 61): the same seed, data and thread count give the same weights and latents, bit for bit."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from safetensors.numpy import load_file
from threadpoolctl import threadpool_info

from tests.helpers import cli, run_cli
from benchmarks.data.planted import planted_map
from vaearr.encoding import encode
from vaearr.store import write_variable
from vaearr.train import TrainConfig, fit
from vaearr.train.callbacks import Callback

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra (kikuchipy) to simulate patterns")

SMALL = {"channels": [8, 16]}


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """5 × 5 square grains of 8 px (40 × 40 patterns of 24 × 24): more than a window of auto's least patterns."""
    path = tmp_path_factory.mktemp("planted") / "map.zarr"
    planted_map(path, grain=8, grains=(5, 5), rare=2, pattern_shape=(24, 24))
    return path


def weights(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{a} / {b}: {k}")


def test_training_twice_through_the_window_gives_the_same_weights_and_latents(planted: Path, tmp_path: Path) -> None:
    """``vaearr train --window auto`` twice at one seed, each on its own copy of the map, then ``encode``: the
    window, its patterns, every checkpoint's weights and the map's latents are the same to the bit. The first in a
    new interpreter started with one OpenMP thread, the second in this one (the machine's count), after
    whatever it ran before: the count is the config's (``--threads 1``; on a shared two-core machine two threads'
    waiting made each training 7× slower), not the process's."""
    runs, stores = [tmp_path / "a", tmp_path / "b"], [tmp_path / "a.zarr", tmp_path / "b.zarr"]
    for store, run, train in zip(stores, runs, (functools.partial(run_cli, env={"OMP_NUM_THREADS": "1"}), cli)):
        shutil.copytree(planted, store)
        proc = train("train", store, "--run", run, "--window", "auto", "--epochs", "2", "--latent-dim", "4",
                     "-o", "channels=[8,16]", "--seed", "0", "--no-tensorboard", "--previews", "0", "--threads", "1")
        assert proc.returncode == 0, proc.stderr
        encode(store, run, name="latent", progress=False)
    a, b = runs
    box = json.loads((a / "window.json").read_text())["box"]
    assert box == json.loads((b / "window.json").read_text())["box"] and box != [0, 40, 0, 40]  # a window, not the map
    name = "patterns_sim3"
    np.testing.assert_array_equal(xr.open_zarr(a / "window.zarr")[name].values,
                                  xr.open_zarr(b / "window.zarr")[name].values)
    epochs = sorted(p.name for p in (a / "checkpoints").glob("epoch_*"))
    assert epochs == ["epoch_0001", "epoch_0002"] == sorted(p.name for p in (b / "checkpoints").glob("epoch_*"))
    for e in epochs:
        assert_same_weights(a / "checkpoints" / e, b / "checkpoints" / e)
    assert_same_weights(a / "best", b / "best")
    la, lb = (xr.open_zarr(s).latent.values for s in stores)
    assert np.isfinite(la).all() and la.shape == (40, 40, 4)
    np.testing.assert_array_equal(la, lb)
    ha, hb = (json.loads((r / "history.json").read_text()) for r in runs)
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]
    assert [h["threads"] for h in ha] == [1, 1]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """256 noisy 8 × 8 uint8 images in two chunks."""
    rng = np.random.default_rng(0)
    data = (rng.random((256, 8, 8)) * 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("images") / "images.zarr"
    write_variable(path, "images", xr.DataArray(data, dims=("sample", "row", "col")), chunks={"images": (128, 8, 8)})
    return path


class SeenThreads(Callback):
    """What each epoch trains with: torch's intra-op threads and the BLAS pools' threads."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, set[int]]] = []

    def on_epoch_start(self, trainer, epoch: int) -> None:
        blas = {int(p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"}
        self.seen.append((torch.get_num_threads(), blas))


def test_threads_pins_the_whole_fit_and_a_resume_with_another_count_says_so(images: Path, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    blas_before = {int(p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"}
    cfg = TrainConfig(store=str(images), run=str(tmp_path / "pinned"), var="images", epochs=1, batch_size=32,
                      latent_dim=2, model_options=SMALL, tensorboard=False, previews=0, threads=1)
    probe = SeenThreads()
    result = fit(cfg, progress=False, callbacks=[probe])
    assert probe.seen == [(1, {1} if blas_before else set())]  # torch and BLAS, while it trained
    assert result.history[0]["threads"] == 1
    assert torch.get_num_threads() == before  # given back
    assert {int(p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"} == blas_before

    # a run trained with one thread, resumed with two: the history says which epoch had which, and the resume says
    # it no longer continues the uninterrupted run's numbers
    run = tmp_path / "resumed"
    base = dict(store=str(images), run=str(run), var="images", batch_size=32, latent_dim=2, model_options=SMALL,
                tensorboard=False, previews=0)
    fit(TrainConfig(**base, epochs=1, threads=1), progress=False)
    lines: list[str] = []
    again = fit(TrainConfig(**base, epochs=2, threads=2), resume=True, progress=False, report=lines.append)
    assert [h["threads"] for h in again.history] == [1, 2]
    note = [n for n in again.notes if n.startswith("threads:")]
    assert note == [line for line in lines if line.startswith("threads:")] and len(note) == 1
    assert "with 2, the 1 epoch before it with 1" in note[0] and "`threads=1` continues bit for bit" in note[0]
    # resumed with the count it had, it says nothing
    same = fit(TrainConfig(**base, epochs=3, threads=2), resume=True, progress=False)
    assert not [n for n in same.notes if n.startswith("threads:")]
