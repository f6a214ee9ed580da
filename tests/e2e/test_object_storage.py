"""Stores at s3:// URLs, against a real S3 API server (moto in server mode) the tests start themselves.

The whole path a user runs (ingest → roi → train reading from S3 → encode → rank → cluster), a
writer killed with SIGKILL in the middle of its write, and two concurrent writers.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import run_cli

pytest.importorskip("icechunk", reason="needs the 's3' extra")
moto_server = pytest.importorskip("moto.server", reason="needs moto[server] (dev extra)")
boto3 = pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on a free port, a bucket 'acc', and the AWS variables that point at it."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="acc")
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def _objects(env: dict, prefix: str) -> set[str]:
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="acc", Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, proc.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def s3_store(s3, demo_files, tmp_path_factory):
    """The demo map ingested into s3://acc/ni.zarr with the vaearr command, an Otsu ROI, a 1-epoch run
    trained from the S3 store, and its latents encoded back into it."""
    url, cwd = "s3://acc/ni.zarr", tmp_path_factory.mktemp("cwd")
    run = tmp_path_factory.mktemp("runs") / "run"
    run_cli("ingest", "ebsd", demo_files.patterns, "--dataset", "patterns", "--bandcontrast", demo_files.bandcontrast,
            "--elements", demo_files.elements, "--store", url, env=s3, cwd=cwd, check=True)
    run_cli("roi", url, "--otsu", env=s3, cwd=cwd, check=True)
    run_cli("train", url, "--run", run, "--epochs", "1", "--batch-size", "64", env=s3, cwd=cwd, check=True)
    out = run_cli("encode", url, "--run", run, env=s3, cwd=cwd, check=True).stdout
    assert f"to {url}" in out
    assert list(cwd.iterdir()) == []  # nothing written where the commands ran (no local folder 's3:')
    return url, run


def test_the_whole_path_runs_on_object_storage(s3, s3_store, demo_files, tmp_path: Path) -> None:
    from vaearr.run import Run
    from vaearr.store import open_store
    from vaearr.store.remote import history

    url, run = s3_store
    assert Run.open(run).data.store == url  # train read its batches from the S3 store
    ds = open_store(url)
    roi = ds["roi"].values
    latent = ds["latent"].values
    assert np.isnan(latent[~roi]).all() and np.isfinite(latent[roi]).all()
    assert ds["latent"].attrs["command"].startswith(f"vaearr encode {url}")
    # the store's objects are in the bucket (an icechunk repository), not on a local disk
    assert any(k.startswith("ni.zarr/snapshots/") for k in _objects(s3, "ni.zarr/"))
    messages = [m for _, m in history(url)]
    assert any(m.startswith("vaearr encode") for m in messages) and any(m.startswith("vaearr roi") for m in messages)

    rank = run_cli("rank", url, "--against", "bandcontrast", "--out", tmp_path / "rank", env=s3, check=True)
    assert "maps_page1.html" in rank.stdout
    cluster = run_cli("cluster", url, "--dim", "0", "--method", "kmeans", "--k", "3", "--out", tmp_path / "cl",
                      env=s3, check=True)
    assert "store variable: cluster_kmeans_dim0" in cluster.stdout
    labels = open_store(url)["cluster_kmeans_dim0"].values
    assert set(np.unique(labels[roi])) == {0, 1, 2} and (labels[~roi] < 0).all()
    rep = run_cli("report", url, "--run", run, "--analyses", tmp_path / "cl", "--out", tmp_path / "rep", env=s3, check=True)
    assert (tmp_path / "rep" / "report.html").stat().st_size > 100_000 and "report:" in rep.stdout
    # a plain xarray user reads the same store through icechunk
    import icechunk

    repo = icechunk.Repository.open(icechunk.s3_storage(bucket="acc", prefix="ni.zarr", from_env=True,
                                                        endpoint_url=s3["AWS_ENDPOINT_URL"], allow_http=True,
                                                        force_path_style=True))
    plain = xr.open_zarr(repo.readonly_session("main").store, consolidated=False)
    np.testing.assert_array_equal(plain["cluster_kmeans_dim0"].values, labels)


def test_storage_options_on_the_command_line(s3, s3_store) -> None:
    """--storage-option gives what the AWS variables would: the store opens with only them."""
    url, _ = s3_store
    bare = {k: "" for k in s3}  # the variables cleared: endpoint and keys come from --storage-option only
    proc = run_cli("info", url, "--storage-option", f"endpoint_url={s3['AWS_ENDPOINT_URL']}",
                   "--storage-option", "access_key_id=test", "--storage-option=secret_access_key=test",
                   env=bare, check=True)
    assert "latent(y, x, latent_dim) float32" in proc.stdout
    line = _one_error_line(run_cli("info", url, "--storage-option", "colour=blue", env=s3))
    assert line.startswith(f"error: {url}: unknown storage option 'colour'")


def test_a_writer_killed_during_its_write_leaves_the_store_as_it_was(s3, s3_store, tmp_path: Path) -> None:
    """SIGSTOP the encode the moment its first chunk object lands in the bucket, check the store's
    branch has not moved (the kill is before the commit), SIGKILL it: the store is as before."""
    from vaearr.store import open_store
    from vaearr.store.remote import history

    url, run = s3_store
    before = history(url)
    latent_before = open_store(url)["latent"].values
    killed = False
    for _attempt in range(4):  # the write is short: a try that finishes before the stop is retried
        seen = _objects(s3, "ni.zarr/chunks/")
        proc = subprocess.Popen([sys.executable, "-m", "vaearr", "encode", url, "--run", str(run), "--name", "z",
                                 "--logvar"], env={**os.environ, **s3, "VAEARR_PROGRESS": "off"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while proc.poll() is None and not (_objects(s3, "ni.zarr/chunks/") - seen):
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            if history(url) == before:
                proc.kill()
                proc.wait()
                killed = True
                break
            proc.kill()
        proc.wait()
        if history(url) != before:  # the write committed first: take it back out and try again
            from vaearr.store import delete_variable

            for name in ("z", "z_logvar", "z_recon_error"):
                delete_variable(url, name)
            before = history(url)
    assert killed, "the encode was never caught between its first chunk and its commit"
    assert history(url) == before
    ds = open_store(url)
    assert not {"z", "z_logvar", "z_recon_error"} & set(ds.data_vars)
    np.testing.assert_array_equal(ds["latent"].values, latent_before)
    # the next writer is not hindered by what the killed one left in the bucket
    run_cli("encode", url, "--run", run, "--name", "z", env=s3, check=True)
    assert "z" in open_store(url)


def test_three_concurrent_writers_each_commits_or_gets_the_conflict_line(s3, s3_store, tmp_path: Path) -> None:
    """Three clusterings at once: each commits or gets the one conflict line; every commit is in the history
    with its variable, and nothing of a refused one is."""
    from vaearr.store import open_store
    from vaearr.store.remote import history

    url, _ = s3_store
    before = history(url)
    argv = [sys.executable, "-m", "vaearr", "cluster", url, "--dim", "1", "--method", "kmeans", "--k", "2"]
    procs = [subprocess.Popen([*argv, "--tag", f"w{i}", "--out", str(tmp_path / f"c{i}")],
                              env={**os.environ, **s3, "VAEARR_PROGRESS": "off"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    results = [(p.wait(), *p.communicate()) for p in procs]
    won = [i for i, (rc, _, _) in enumerate(results) if rc == 0]
    assert won, results
    for rc, _, err in results:
        if rc != 0:
            lines = err.strip().splitlines()
            assert rc == 2 and len(lines) == 1 and "another writer committed to this store" in lines[0], err
    after = history(url)
    assert len(after) == len(before) + len(won) and after[len(won):] == before  # one commit per winner
    ds = open_store(url)
    assert {f"cluster_w{i}" for i in range(3)} & set(ds.data_vars) == {f"cluster_w{i}" for i in won}


class _Proxy:
    """A TCP relay to the S3 server that goes away at the first PUT a client sends through it (the
    server vanishing in the middle of a write) and can come back on the same port."""

    def __init__(self, target: tuple[str, int], cut_at: bytes | None = b"PUT ") -> None:
        self.target, self.cut_at, self.port = target, cut_at, 0
        self.gone = threading.Event()
        self.sockets: list = []
        self.listener = None

    def start(self) -> _Proxy:
        import socket

        self.gone.clear()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self.gone.set()
        for sock in [self.listener, *self.sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        import socket

        while not self.gone.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, self.cut_at), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, None), daemon=True).start()

    def _pipe(self, src, dst, cut_at: bytes | None) -> None:
        try:
            while data := src.recv(65536):
                if cut_at and cut_at in data:
                    self.stop()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.close()
                except OSError:
                    pass


@pytest.mark.slow  # icechunk's S3 client retries a refused connection for about 30 s before it gives up
def test_the_server_going_away_mid_write_is_one_line_and_the_last_commit_stays(s3) -> None:
    """The S3 server goes away at the first object a ``vaearr roi`` writes: one line, the store's branch
    and data as the last commit left them; back on the same address, the same command works."""
    from vaearr.store import open_store, write_variables
    from vaearr.store.remote import history

    url = "s3://acc/away.zarr"
    grid = {"y": np.arange(6) * 0.5, "x": np.arange(8) * 0.5}
    bc = xr.DataArray(np.random.default_rng(0).random((6, 8)), dims=("y", "x"), coords=grid)
    write_variables(url, {"bandcontrast": bc}, group_attrs={"kind": "map"})
    before = history(url)
    host, port = s3["AWS_ENDPOINT_URL"].rsplit("//", 1)[1].split(":")
    proxy = _Proxy((host, int(port))).start()
    env = {**os.environ, **s3, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}", "VAEARR_PROGRESS": "off"}
    argv = ["roi", url, "--min", "0.5"]
    try:
        proc = run_cli(*argv, env=env)
        assert proxy.gone.is_set()  # it went away during the command
        line = _one_error_line(proc)
        assert line.startswith(f"error: {url}: object storage failed while writing"), line
        assert history(url) == before
        assert set(open_store(url).data_vars) == {"bandcontrast"}
        proxy.cut_at = None
        proxy.start()  # back, on the same port
        run_cli(*argv, env=env, check=True)
    finally:
        proxy.stop()
    assert len(history(url)) == len(before) + 1
    np.testing.assert_array_equal(open_store(url)["roi"].values, bc.values >= 0.5)


def test_loader_worker_processes_read_the_snapshot_the_command_read(s3) -> None:
    """A command reads one snapshot throughout; the loader's worker processes (spawned: nothing of this
    process's state goes with them) read that snapshot too, not a commit another writer made since."""
    from vaearr.batches import ZarrBatches
    from vaearr.store import open_store, write_variable
    from vaearr.context import Context
    from vaearr.store.remote import history

    url = "s3://acc/pinned.zarr"
    first = np.arange(12 * 3 * 3, dtype=np.uint8).reshape(12, 3, 3)
    write_variable(url, "images", xr.DataArray(first, dims=("sample", "row", "col")), chunks={"images": (4, 3, 3)})
    pinned = Context().reading().store(url)  # the store as a command names it: its reads see one snapshot
    loader = ZarrBatches(pinned, var="images", sample_dims=("sample",), feature_dims=("row", "col"), batch_size=12,
                         shuffle=False, return_index=True, num_workers=1, mp_context="spawn", dtype=None)
    # another writer (a thread of its own: it reads no pinned snapshot) replaces the images meanwhile
    other = threading.Thread(target=write_variable, args=(url, "images", xr.DataArray(first + 100, dims=(
        "sample", "row", "col"))), kwargs={"overwrite": True, "chunks": {"images": (4, 3, 3)}})
    other.start()
    other.join()
    np.testing.assert_array_equal(open_store(pinned, chunks=None)["images"].values, first)  # this command's snapshot
    np.testing.assert_array_equal(open_store(url, chunks=None)["images"].values, first + 100)  # the tip
    with loader:
        got = {int(i): x[0].numpy() for xb, idx in loader for x, i in zip(xb, idx, strict=True)}
    np.testing.assert_array_equal(np.stack([got[i] for i in range(12)]), first)
    assert history(url)[0][1].endswith("images") and len(history(url)) == 3  # the other write did commit
    np.testing.assert_array_equal(open_store(url)["images"].values, first + 100)


def test_plain_zarr_on_object_storage_is_read_not_written(s3, tmp_path: Path) -> None:
    """A zarr store another program put in the bucket opens; writing to it is refused (no transactions)."""
    from vaearr.errors import StoreError
    from vaearr.store import open_store, write_variable

    url = "s3://acc/plain.zarr"
    xr.Dataset({"a": (("y", "x"), np.arange(6.0).reshape(2, 3))}).to_zarr(url, zarr_format=3, consolidated=True,
                                                                           storage_options={"endpoint_url": s3["AWS_ENDPOINT_URL"]})
    np.testing.assert_array_equal(open_store(url)["a"].values, np.arange(6.0).reshape(2, 3))
    keys = _objects(s3, "plain.zarr/")
    with pytest.raises(StoreError, match="plain zarr store, not an icechunk repository"):
        write_variable(url, "b", xr.DataArray(np.ones((2, 3)), dims=("y", "x")))
    assert _objects(s3, "plain.zarr/") == keys


def test_encode_decompose_rank_cluster_on_a_dask_cluster(s3, s3_store, tmp_path: Path) -> None:
    """--scheduler runs the commands on a LocalCluster of 2 worker processes, store in the S3 server:
    the encode tasks run on the workers, the workers write the chunks (merged icechunk forks), and each
    command is still one commit on the store's branch."""
    distributed = pytest.importorskip("distributed", reason="needs the 'flows' extra")
    from vaearr.store import open_store
    from vaearr.store.remote import history, repository

    url, run = s3_store
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        before = history(url)
        run_cli("encode", url, "--run", run, "--name", "zc", "--dask", address, env=s3, check=True)
        assert "encode_band" in cluster.scheduler.task_prefixes  # the encoding ran as tasks on the workers
        run_cli("decompose", url, "--method", "pca", "--components", "3", "--name", "pcac", "--dask", address,
                env=s3, check=True)
        run_cli("rank", url, "--var", "zc", "--against", "bandcontrast", "--out", tmp_path / "r", "--no-figures",
                "--dask", address, env=s3, check=True)
        run_cli("cluster", url, "--var", "zc", "--dim", "0", "--method", "kmeans", "--k", "3", "--tag", "onc",
                "--out", tmp_path / "c", "--dask", address, env=s3, check=True)
        assert len(cluster.scheduler_info["workers"]) == 2
    ds = open_store(url)
    np.testing.assert_allclose(ds["zc"].values, ds["latent"].values, atol=1e-5)  # NaN outside the ROI in both
    assert ds["pcac_weights"].sizes["pcac_component"] == 3 and "cluster_onc" in ds
    messages = [m for _, m in history(url)[: len(history(url)) - len(before)]]
    # the workers' chunks went in through the cluster path: a metadata step on a branch of its own,
    # then the branch moved once; the store's branch shows every command once more
    assert sum(m.startswith("vaearr encode") and m.endswith("(metadata)") for m in messages) == 1
    assert sum(m.startswith("vaearr encode") and not m.endswith("(metadata)") for m in messages) == 1
    assert any(m.startswith("vaearr decompose") for m in messages) and any(m.startswith("vaearr cluster") for m in messages)
    assert repository(url).list_branches() == {"main"}  # no transaction branch left behind
    proc = run_cli("encode", url, "--run", run, "--name", "zx", "--dask", "tcp://127.0.0.1:9", env=s3)
    assert _one_error_line(proc).startswith("error: tcp://127.0.0.1:9: no dask scheduler answers here")


@pytest.mark.parametrize("line", ["info {url}", "roi {url} --min 0.5", "ingest tables {url} --bandcontrast {csv}"])
def test_a_missing_bucket_is_the_same_one_line_as_a_lost_connection(s3, tmp_path: Path, line: str) -> None:
    """A bucket that does not exist: ``object storage failed while reading (its bucket does not exist); nothing was
    written`` — the line of a lost connection, with what went wrong (today: 'cannot be reached: x error getting
    object from object store service error', which sends a user looking for a network fault)."""
    url = "s3://no-such-bucket/a.zarr"
    csv = tmp_path / "bc.csv"
    csv.write_text("x,y,bandcontrast\n0,0,1\n")
    line_ = _one_error_line(run_cli(*line.format(url=url, csv=csv).split(), env=s3))
    assert line_.startswith(f"error: {url}: object storage failed while reading (its bucket does not exist); "
                            f"nothing was written"), line_
    assert len(line_) < 300


@pytest.mark.slow  # icechunk's S3 client retries a refused connection for about 30 s before it gives up
def test_the_server_gone_between_compute_and_commit_is_one_line_and_the_last_commit_stays(s3) -> None:
    """A command read the store (through a relay to the server) and computed what it writes; the server goes away
    before the commit begins: one ``object storage failed while writing`` line (today: 'unexpected … IcechunkError'
    of 1,000 characters from looking up the branch), the history as it was."""
    from vaearr.errors import StoreError
    from vaearr.store import open_store, write_variables
    from vaearr.context import Context
    from vaearr.store.remote import history

    url = "s3://acc/between.zarr"
    grid = {"y": np.arange(6) * 0.5, "x": np.arange(8) * 0.5}
    bc = xr.DataArray(np.random.default_rng(0).random((6, 8)), dims=("y", "x"), coords=grid)
    write_variables(url, {"bandcontrast": bc}, group_attrs={"kind": "map"})
    before = history(url)
    host, port = s3["AWS_ENDPOINT_URL"].rsplit("//", 1)[1].split(":")
    proxy = _Proxy((host, int(port)), cut_at=None).start()
    options = {"endpoint_url": f"http://127.0.0.1:{proxy.port}"}
    pinned = Context(storage_options=options).reading().store(url)  # as a command with --storage-option names it
    try:
        computed = open_store(pinned)["bandcontrast"].load() > 0.5  # read and computed
        proxy.stop()  # the server goes away before the commit
        with pytest.raises(StoreError) as err:
            write_variables(pinned, {"roi": computed})
    finally:
        proxy.stop()
    line = str(err.value)
    assert line.startswith(f"{url}: object storage failed while writing (the server cannot be reached"), line
    assert "nothing was committed, the store is at its last commit" in line and "\n" not in line and len(line) < 300
    assert history(url) == before and set(open_store(url).data_vars) == {"bandcontrast"}
