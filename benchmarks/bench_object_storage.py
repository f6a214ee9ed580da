"""Object storage: what does a transaction cost, vaearr's icechunk write against a plain in-place zarr write?

Question: icechunk gives s3:// stores commits, snapshots and conflict detection
(tests/test_object_storage.py checks SIGKILL and concurrent writers). What does that cost
against writing the same zarr v3 arrays in place over fsspec/s3fs (vaearr's behaviour before:
no lock, no transaction)? Both write to the same moto S3 server, interleaved, in one run.

Run: ``python -m benchmarks run object_storage [--repeats 5]`` → ``benchmarks/results/object_storage.jsonl``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): one write of each kind.
QUICK = ("--repeats", "1")

import numpy as np
import xarray as xr


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="writes of each kind per case (the median is reported)")
    args = ap.parse_args(argv)
    import boto3
    from moto.server import ThreadedMotoServer
    from zarr.codecs import Crc32cCodec, ZstdCodec

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=endpoint)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    from vaearr.store import open_store, write_variable

    rng = np.random.default_rng(0)
    cases = {
        "latent (40×60×16 float32)": xr.DataArray(rng.normal(size=(40, 60, 16)).astype("f4"), dims=("y", "x", "latent_dim")),
        "patterns (40×60×60×60 uint8)": xr.DataArray(rng.integers(0, 255, (40, 60, 60, 60), dtype=np.uint8),
                                                     dims=("y", "x", "py", "px")),
    }
    rows = []
    for label, da in cases.items():
        ice, plain = [], []
        for i in range(args.repeats):
            t = time.perf_counter()
            write_variable(f"s3://bench/ice{i}-{len(rows)}.zarr", "v", da)
            ice.append(time.perf_counter() - t)
            t = time.perf_counter()
            xr.Dataset({"v": da.chunk()}).to_zarr(f"s3://bench/plain{i}-{len(rows)}.zarr", zarr_format=3, consolidated=True,
                                                  encoding={"v": {"compressors": [ZstdCodec(level=3), Crc32cCodec()]}},
                                                  storage_options={"endpoint_url": endpoint})
            plain.append(time.perf_counter() - t)
        assert np.array_equal(open_store(f"s3://bench/ice0-{len(rows)}.zarr")["v"].values, da.values)
        rows.append({"case": label, "icechunk_s": statistics.median(ice), "plain_zarr_s": statistics.median(plain),
                     "ratio": statistics.median(ice) / statistics.median(plain)})
        print(f"{label}: icechunk {rows[-1]['icechunk_s']:.3f} s, plain zarr {rows[-1]['plain_zarr_s']:.3f} s, "
              f"ratio {rows[-1]['ratio']:.2f} (median of {args.repeats})")
    server.stop()
    return {"rows": rows, "repeats": args.repeats}


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
