"""Prefect flows: in a test harness, and as deployments served against a real Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import REPO, free_port
from vaearr.store import open_store, write_variable

pytest.importorskip("prefect", reason="needs the 'flows' extra")
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="module")
def digits_store(tmp_path_factory) -> Path:
    from sklearn.datasets import load_digits

    d = load_digits()
    path = tmp_path_factory.mktemp("flows") / "digits.zarr"
    write_variable(path, "images", xr.DataArray((d.images * 15).astype(np.uint8), dims=("sample", "row", "col")),
                   chunks={"images": (256, 8, 8)})
    return path


def test_train_and_encode_flows_in_harness(digits_store: Path, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.pipeline import encode, train_vae

    with prefect_test_harness(server_startup_timeout=180):
        summary = train_vae(store=str(digits_store), run=str(tmp_path / "run"), epochs=1, var="images",
                            latent_dim=3, model_options={"channels": [8, 16]})
        assert summary["epochs"] == 1 and summary["best_epoch"] == 1
        out = encode(store=str(digits_store), run=str(tmp_path / "run"), report=str(tmp_path / "report"))
    assert out["n_encoded"] == 1797
    page = (tmp_path / "report" / "report.html").read_text()  # the pipeline ends with the report
    assert out["report"] == str(tmp_path / "report" / "report.html") and 'id="run"' in page
    lat = open_store(digits_store)["latent"]
    assert lat.dims == ("sample", "latent_dim") and lat.shape == (1797, 3)
    assert np.isfinite(lat.values).all()


def _wait_health(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, "prefect server exited"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {seconds} s")


@pytest.mark.e2e  # a real Prefect server
def test_deployment_runs_to_completed_on_a_real_server(digits_store: Path, tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "VAEARR_PROGRESS": "off"}
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen([str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    served = None
    try:
        _wait_health(api, server, 180)
        served = subprocess.Popen([sys.executable, "flows/serve.py"], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run_dir = tmp_path / "run"
        cmd = [str(bin_dir / "prefect"), "deployment", "run", "train-vae/local", "-p", f"store={digits_store}",
               "-p", f"run={run_dir}", "-p", "epochs=1", "-p", "var=images", "-p", "latent_dim=2",
               "-p", 'model_options={"channels": [8, 16]}', "--watch", "--watch-timeout", "300"]
        deadline = time.time() + 120
        while True:  # the deployment exists once serve.py has registered it
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
            if proc.returncode == 0 or "not found" not in (proc.stdout + proc.stderr).lower() or time.time() > deadline:
                break
            time.sleep(2)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "Completed" in proc.stdout
        assert (run_dir / "checkpoints" / "epoch_0001" / "model.safetensors").exists()
    finally:
        for p in (served, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_every_flow_reads_one_snapshot_and_derives_its_options() -> None:
    """Each flow hands its store down with a fresh context (one snapshot read), as a command does; the flows with options take exactly
    their dataclass's fields (and their own extras), as the command line does."""
    import inspect

    from flows import analysis, explore, ingest, phases, pipeline
    from flows.params import pinned
    from vaearr.analysis.options import ClusterOptions, ExploreOptions, RankOptions
    from vaearr.maps.options import DecomposeOptions, SpreadOptions
    from vaearr.options import options
    from vaearr.train import TrainConfig

    run_code = pinned(lambda: None).__code__
    for module in (analysis, explore, ingest, phases, pipeline):
        for f in module.FLOWS:
            assert f.fn.__code__ is run_code, f"flow {f.name} does not pin a snapshot"
    figure = {"format", "dpi"}  # vaearr.options.FigureOptions: every flow that writes figures
    for f, cls, extra in ((analysis.cluster_latents, ClusterOptions, {"dask"} | figure),
                          (analysis.analyze_latents, RankOptions, {"dask", "block_dims"} | figure),
                          (analysis.decompose_patterns, DecomposeOptions, set()),
                          (explore.explore_latents, ExploreOptions, figure),
                          (pipeline.train_vae, TrainConfig, {"resume"})):
        assert set(inspect.signature(f.fn).parameters) == {fld.name for fld, _ in options(cls)} | extra, f.name
    assert set(inspect.signature(analysis.spread_map.fn).parameters) == (
        {fld.name for fld, _ in options(SpreadOptions)} | figure | {"out"})
    for f in (analysis.boundaries_flow, analysis.segment_map, analysis.spread_map, pipeline.encode):
        assert figure <= set(inspect.signature(f.fn).parameters), f.name


def test_flows_take_the_new_names() -> None:
    """The flows' parameters are the options' fields and their extras, named as docs/vocabulary.md says: var, out,
    dask, lr_schedule; no old name (a flow takes the new names only)."""
    import inspect

    from flows import analysis, phases, pipeline

    old = {"features", "latent", "scheduler", "schedule", "figures", "source", "to", "orientation"}
    switch = {analysis.analyze_latents: {"figures"}}  # RankOptions.figures: draw or not (rank --figures/--no-figures)
    want = {analysis.segment_map: {"var", "out"}, analysis.spread_map: {"var", "out"}, phases.phases: {"var", "out"},
            analysis.cluster_latents: {"var", "dask", "out"}, analysis.analyze_latents: {"var", "dask", "out"},
            analysis.decompose_patterns: {"var"}, analysis.boundaries_flow: {"var", "out"},
            pipeline.encode: {"out", "dask"}, pipeline.train_vae: {"var", "lr_schedule", "run"}}
    for f, names in want.items():
        params = set(inspect.signature(f.fn).parameters)
        assert names <= params and not (params & (old - switch.get(f, set()))), (f.name, params & old, names - params)
