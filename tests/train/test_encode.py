"""Encode: latents back into the store, NaN exactly outside the mask, maps and exports."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import cli
from vaearr.encoder import DECODE_CHUNK
from vaearr.encoding import encode
from vaearr.run import Run
from vaearr.store import open_store
from vaearr.train import TrainConfig, fit
from vaearr.viz.maps import latent_maps


def test_latents_nan_exactly_outside_mask(demo_store: Path, trained_run: Path, tmp_path: Path) -> None:
    result = encode(demo_store, trained_run, export=tmp_path / "exp", progress=False)
    latent_maps(open_store(demo_store), "latent", tmp_path / "fig")
    ds = open_store(demo_store).load()
    roi = ds.roi.values
    lat = ds.latent
    assert lat.dims == ("y", "x", "latent_dim") and lat.shape == (40, 60, 3)
    finite = np.isfinite(lat.values).all(axis=-1)
    nan = np.isnan(lat.values).all(axis=-1)
    assert (finite == roi).all() and (nan == ~roi).all()
    assert (np.isfinite(ds.latent_recon_error.values) == roi).all()
    assert result.n_encoded == int(roi.sum())
    attrs = lat.attrs
    assert attrs["mask"] == "roi" and attrs["run"] == str(trained_run)
    assert len(attrs["checkpoint_sha256"]) == 64 and json.loads(attrs["config"])["train"]["latent_dim"] == 3
    assert json.loads(attrs["config"])["data"]["mask"] == "roi"
    # maps: one per latent dim and the error map, HTML + PNG
    for stem in ("latent_maps", "latent_recon_error_map"):
        assert (tmp_path / "fig" / f"{stem}.html").stat().st_size > 10_000
        assert (tmp_path / "fig" / f"{stem}.png").stat().st_size > 1_000
    # exports for people coming from their own scripts
    full = np.load(tmp_path / "exp" / "latents_full.npy")
    np.testing.assert_array_equal(full, lat.values)
    in_roi = np.load(tmp_path / "exp" / "latents_roi.npy")
    np.testing.assert_array_equal(in_roi, lat.values[roi])
    with open(tmp_path / "exp" / "coords.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == roi.sum()
    iy, ix = int(rows[5]["iy"]), int(rows[5]["ix"])
    assert roi[iy, ix] and float(rows[5]["x"]) == ds.x.values[ix] and float(rows[5]["y"]) == ds.y.values[iy]
    np.testing.assert_array_equal(in_roi[5], lat.values[iy, ix])


def test_recon_error_is_the_networks(demo_store: Path, trained_run: Path) -> None:
    # encode decodes in chunks (DECODE_CHUNK) through the inference path, its output layer a GEMM over the crop
    # (single_channel_conv); the error it writes is the one the network gives, as training runs it, to float rounding
    encode(demo_store, trained_run, name="check", progress=False)
    written = open_store(demo_store)["check_recon_error"].values.ravel()
    r = Run.open(trained_run)
    model = r.model("best")
    seen = 0
    for index, x in r.encoder.inputs(demo_store, batch_size=100):
        with torch.enable_grad():  # the autograd path: the decoder's own convolutions, the whole batch at once
            recon = model.decode(model.encode(x)[0]).detach()
        network = ((recon - x) ** 2).flatten(1).mean(1).numpy()
        np.testing.assert_allclose(written[index], network, rtol=1e-4)
        seen += len(index)
    assert seen == np.isfinite(written).sum() > 2 * DECODE_CHUNK["cpu"]


def test_the_error_on_a_grid_where_the_map_is_over_its_budget(demo_store: Path, trained_run: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Over RECON_SAMPLES the error is decoded on every s-th row and column (the smallest s that fits), NaN between,
    and says so; the latents are those of the exact encode, the error the same where decoded."""
    import vaearr.encoding as enc

    # a 10⁶-pixel map's ROI of 730 000: every second row and column; one given wins; a step under 1 is refused
    assert enc.decode_stride(730_000, 2) == 2 and enc.decode_stride(500_000, 1) == 2
    assert enc.decode_stride(512 * 512, 2) == 1 and enc.decode_stride(10, 1, 3) == 3
    with pytest.raises(Exception, match="recon_stride"):
        enc.decode_stride(10, 2, 0)
    exact = encode(demo_store, trained_run, name="every", progress=False)
    roi = open_store(demo_store).roi.values
    monkeypatch.setattr(enc, "RECON_SAMPLES", int(roi.sum()) // 3)  # s = 2 keeps a quarter of them
    grid = encode(demo_store, trained_run, name="grid", progress=False)
    ds = open_store(demo_store).load()
    np.testing.assert_array_equal(ds.grid.values, ds.every.values)
    on = np.zeros(roi.shape, bool)
    on[::2, ::2] = True
    np.testing.assert_allclose(ds.grid_recon_error.values[on & roi], ds.every_recon_error.values[on & roi],
                               rtol=1e-4)
    assert np.isnan(ds.grid_recon_error.values[~(on & roi)]).all()
    assert grid.recon_stride == 2 and grid.recon_samples == int((on & roi).sum()) == ds.grid_recon_error.count()
    assert ds.grid_recon_error.attrs["recon_error_stride"] == 2
    assert ds.grid_recon_error.attrs["recon_error_samples"] == grid.recon_samples
    assert ds.every_recon_error.attrs["recon_error_stride"] == 1 and exact.recon_samples == int(roi.sum())
    assert "one sample in 2 along each dim" in grid.summary() and "one sample in" not in exact.summary()
    assert encode(demo_store, trained_run, name="one", recon_stride=1, progress=False).recon_stride == 1


def test_encode_refuses_existing_without_overwrite(demo_store: Path, trained_run: Path) -> None:
    encode(demo_store, trained_run, progress=False)
    proc = cli("encode", demo_store, "--run", trained_run)
    assert proc.returncode == 2 and "exists" in proc.stderr and "--overwrite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    out = cli("encode", demo_store, "--run", trained_run, "--overwrite", "--logvar", "--name", "z", check=True)
    assert "wrote z, z_logvar, z_recon_error" in out.stdout
    ds = open_store(demo_store)
    assert (np.isfinite(ds.z_logvar.values).all(-1) == ds.roi.values).all()


def test_encode_without_the_reconstruction_error(demo_store: Path, trained_run: Path) -> None:
    out = cli("encode", demo_store, "--run", trained_run, "--name", "q", "--no-recon-error", check=True)
    assert "wrote q to" in out.stdout
    ds = open_store(demo_store)
    assert "q_recon_error" not in ds and (np.isfinite(ds.q.values).all(-1) == ds.roi.values).all()
    # the latents do not depend on whether the decoder ran
    encode(demo_store, trained_run, name="r", progress=False)
    np.testing.assert_array_equal(open_store(demo_store).r.values, ds.q.values)


def test_encode_not_a_run(demo_store: Path, tmp_path: Path) -> None:
    proc = cli("encode", demo_store, "--run", tmp_path)
    assert proc.returncode == 2 and f"{tmp_path}: not a training run" in proc.stderr


@pytest.mark.parametrize("average", [0, 3], ids=["plain", "neighbour-averaged"])
def test_encode_on_a_dask_cluster_matches_one_process(demo_store: Path, demo_store_master: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, average: int) -> None:
    """--scheduler on a local store: 2 worker processes encode bands of chunks and write them; the latents,
    log-variances, errors and statistics are those of one process (several bands, so the blocks join)."""
    distributed = pytest.importorskip("distributed", reason="needs the 'flows' extra")
    import vaearr.encoding as enc

    run = tmp_path / "run"
    trained_on = tmp_path / "train.zarr"  # a copy: training writes the averaged variable into its store
    shutil.copytree(demo_store_master, trained_on)
    fit(TrainConfig(store=str(trained_on), run=str(run), epochs=1, batch_size=128, latent_dim=3, resize=24,
                    average_neighbours=average, model_options={"channels": [8, 16]}), progress=False)
    monkeypatch.setattr(enc, "TASK_SAMPLES", 100)  # bands of one chunk (8 rows): 5 tasks on the 40-row map
    here = encode(demo_store, run, name="a", logvar=True, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        there = encode(demo_store, run, name="b", logvar=True, progress=False, dask=cluster.scheduler_address)
        # the error on a grid of every third row and column: bands start at rows 8, 16…, not on the grid's rows
        encode(demo_store, run, name="c", recon_stride=3, progress=False, dask=cluster.scheduler_address)
        prefixes = cluster.scheduler.task_prefixes
        assert "encode_band" in prefixes  # the encoding ran as tasks on the workers
        assert any(p.startswith("band_part") for p in prefixes)  # the blocks of the written arrays were taken from the bands on the workers
    assert len(enc._bands(open_store(demo_store), "patterns", ("y", "x"))) == 5  # noqa: SLF001 - the bands it cut
    ds = open_store(demo_store).load()
    assert there.n_encoded == here.n_encoded == int(ds.roi.sum())
    for suffix in ("", "_logvar", "_recon_error"):
        np.testing.assert_allclose(ds[f"b{suffix}"].values, ds[f"a{suffix}"].values, rtol=1e-5, atol=1e-6)
        assert ds[f"b{suffix}"].encoding["chunks"] == ds[f"a{suffix}"].encoding["chunks"]
    assert ds.b.attrs["active_units"] == ds.a.attrs["active_units"]
    on_grid = np.zeros(ds.roi.shape, bool)
    on_grid[::3, ::3] = True
    np.testing.assert_allclose(ds.c_recon_error.values[on_grid], ds.a_recon_error.values[on_grid], rtol=1e-5)
    assert np.isnan(ds.c_recon_error.values[~on_grid]).all()
    np.testing.assert_allclose(ds.b.attrs["kl_per_dim"], ds.a.attrs["kl_per_dim"], rtol=1e-5)
