"""The analysis flows: analyze-latents and cluster-latents (tasks on a dask.distributed LocalCluster), decompose-patterns, find-boundaries."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import REPO
from vaearr.store import open_store, write_variable

pytest.importorskip("prefect", reason="needs the 'flows' extra")
pytest.importorskip("prefect_dask", reason="needs the 'flows' extra")
distributed = pytest.importorskip("distributed", reason="needs dask.distributed")
sys.path.insert(0, str(REPO))


def test_flows_on_a_local_cluster(demo_store: Path, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.analysis import analyze_latents, cluster_latents

    ds = open_store(demo_store)
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(40, 60, 3)).astype(np.float32)
    lat[..., 0] = ds.bandcontrast.values + rng.normal(size=(40, 60))
    write_variable(demo_store, "latent", xr.DataArray(lat, dims=("y", "x", "latent_dim"),
                                                      coords={"y": ds.y, "x": ds.x, "latent_dim": [0, 1, 2]}), mask="roi")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, prefect_test_harness(server_startup_timeout=180), \
            distributed.get_task_stream(client) as stream:
        summary = analyze_latents(store=str(demo_store), against=["bandcontrast", "elements"], out=str(tmp_path / "rank"),
                                  top=2, figures=False, dask=cluster.scheduler_address, block_dims=2)
        result = cluster_latents(store=str(demo_store), dim=0, method="kmeans", k=2, out=str(tmp_path / "cl"),
                                 tag="flow", dask=cluster.scheduler_address)
    # what the cluster's worker ran
    ran = [str(t["key"]) for t in stream.data]
    assert "bandcontrast: best latent dim 0" in summary["summary"]
    assert Path(summary["files"]["association_json"]).is_file()
    assert result["counts"]["clusters"] == 2 and Path(result["files"]["report_json"]).is_file()
    written = open_store(demo_store)
    assert "association" in written and "cluster_flow" in written
    # the association ran as two blocks of dims (3 dims, 2 per block), each a task on the cluster
    # (prefect-dask names a task's dask key after its function)
    blocks = [k for k in ran if k.startswith("association_task-")]
    assert len(blocks) == 2, sorted(set(k[:40] for k in ran if not k.startswith("(")))
    assert any(k.startswith("rank_task-") for k in ran) and any(k.startswith("cluster_task-") for k in ran)


def test_decompose_and_boundary_flows(demo_store: Path, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.analysis import boundaries_flow, decompose_patterns

    with prefect_test_harness(server_startup_timeout=180):
        dec = decompose_patterns(store=str(demo_store), method="pca", components="4", name="pc")
        found = boundaries_flow(store=str(demo_store), out=str(tmp_path / "fig"), format="png,svg", dpi=150)
    ds = open_store(demo_store)
    assert set(dec["variables"]) == {"pc_weights", "pc_components"} and ds["pc_weights"].sizes["pc_component"] == 4
    # NaN outside the ROI, numbers inside
    w = ds["pc_weights"].isel(pc_component=0).values
    assert np.isnan(w[~ds.roi.values]).all() and np.isfinite(w[ds.roi.values]).all()
    assert ds["grain_boundaries"].values.any() and "gb_threshold" in found["attrs"]
    assert Path(found["files"]["map_html"]).is_file() and Path(found["files"]["map_png"]).is_file()
    # the flow takes the figure options every command that writes figures takes
    assert Path(found["files"]["map_png"]).with_suffix(".svg").is_file()
