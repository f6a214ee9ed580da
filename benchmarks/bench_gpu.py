"""Does vaearr.batches keep a GPU busy? Training samples/s fed from the store against in-memory tensors.

For each model (conv-vae on the 60x60 patterns; autoencoder-kl, the SD v1 first stage, on their
central 56x56), one run times the training step ``vaearr train`` runs (``vaearr.train.train_step``:
bf16 autocast on CUDA, Adam, gradient clipping, the NaN guard) fed two ways, in alternating rounds:

- **store**: the loaders ``vaearr train`` builds (``vaearr.train.build_loaders``: chunk-aligned
  shuffle, mask, validation split; on CUDA uint8 batches, scaled to [0, 1] on the device after
  the copy), each batch copied with ``non_blocking=True``, as in ``fit``;
- **memory**: the same training samples, already transformed, held as one float32 tensor on the
  device; each step takes a batch by a random permutation (a gather on the device): no reading,
  no decoding, no host-to-device copy.

The goal (issue 3): store / memory >= 0.95. The pattern store is the one bench_loader.py writes
(kikuchipy's real Ni patterns tiled over Voronoi grains, 300,000 patterns, 1.08 GB), here with a
``roi`` mask over 90 % of the map so the mask path is exercised. Run it where CUDA is; with
``--device cpu`` it runs (slowly) anywhere, for checking the script.

    python benchmarks/bench_gpu.py                      # CUDA, 500 x 600 patterns
    # without kikuchipy (a GPU box): save its patterns here first, carry the .npy there
    python benchmarks/bench_loader.py --save-base benchmarks/_data/ni_base.npy
    python benchmarks/bench_gpu.py --base-npy benchmarks/_data/ni_base.npy
    python benchmarks/bench_gpu.py --device cpu --ny 20 --nx 60 --steps conv-vae=20 --models conv-vae
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: No quick size: it measures a GPU (CUDA).
QUICK = None
NO_QUICK = 'it measures a GPU (CUDA)'

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

#: what each model trains on and how (the options a user would pass to ``vaearr train``)
MODELS = {
    "conv-vae": dict(model_options={}, crop=None, batch_size=64, steps=1500),
    "autoencoder-kl": dict(model_options={"preset": "sd-v1"}, crop=56, batch_size=32, steps=60),
}


def add_roi(store: Path, keep: float = 0.9, seed: int = 0) -> None:
    """A ``roi`` mask: every pixel but a random 10 % (as a band-contrast threshold would leave)."""
    import xarray as xr

    from vaearr.store import open_store, write_variable

    ds = open_store(store)
    rng = np.random.default_rng(seed)
    roi = rng.random((ds.sizes["y"], ds.sizes["x"])) < keep
    write_variable(store, "roi", xr.DataArray(roi, dims=("y", "x"), coords={"y": ds.y, "x": ds.x}))


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_model(store: Path, name: str, device_name: str, steps: int, rounds: int, batch_size: int | None,
                num_workers: int | None, feed: str = "train") -> dict:
    import torch

    from vaearr import models as M
    from vaearr.train import (TrainConfig, autocast_for, build_loaders, open_or_create_run, seed_everything,
                              to_device, train_step)

    spec = MODELS[name]
    run = Path(tempfile.mkdtemp(prefix="vaearr-bench-gpu-"))
    cfg = TrainConfig(store=str(store), run=str(run), model=name, latent_dim=16, device=device_name,
                      batch_size=batch_size or spec["batch_size"], crop=spec["crop"],
                      model_options=dict(spec["model_options"]), num_workers=num_workers)
    device = torch.device(device_name)
    seed_everything(0)
    vrun, cfg, _ = open_or_create_run(cfg, resume=False, write=False)
    # "host-float32": float32 batches, transformed on the host (what training read before it deferred)
    train_loader, _val, on_device = build_loaders(vrun, cfg, 0, 1, defer=feed != "host-float32")
    if feed == "pinned":
        train_loader.spec = dataclasses.replace(train_loader.spec, pin_memory=True)
    model = M.build_model(M.config_from_dict(vrun.model_config)).to(device)
    params = list(model.generator_parameters())
    optimizer = torch.optim.Adam(params, lr=1e-4)
    autocast, scaler = autocast_for(device, "bf16")

    def step(x):
        train_step(model, x, optimizer, params, autocast=autocast, scaler=scaler, grad_clip=cfg.grad_clip,
                     kl_weight=1.0, where="bench")

    # the in-memory copy: one pass of the same loader, transformed, on the device
    t = time.perf_counter()
    held = torch.cat([to_device(x, device, on_device).clone() for x in train_loader])
    _sync(device)
    fill_s = time.perf_counter() - t
    n_held = len(held)
    bs = cfg.batch_size

    # the store feed continues across rounds; a new epoch starts when one ends (as in training)
    state = {"it": iter(train_loader), "epochs": 1}

    def next_store():
        try:
            return next(state["it"])
        except StopIteration:
            state["it"] = iter(train_loader)
            state["epochs"] += 1
            return next(state["it"])

    gen = torch.Generator(device=device).manual_seed(0)
    perm = {"p": torch.randperm(n_held, device=device, generator=gen), "at": 0}

    def next_memory():
        if perm["at"] + bs > n_held:
            perm["p"], perm["at"] = torch.randperm(n_held, device=device, generator=gen), 0
        idx = perm["p"][perm["at"]:perm["at"] + bs]
        perm["at"] += bs
        return held[idx]

    waits: list[float] = []

    def store_round(k: int) -> float:
        _sync(device)
        t0 = time.perf_counter()
        wait = 0.0
        for _ in range(k):
            a = time.perf_counter()
            x = next_store()
            wait += time.perf_counter() - a
            step(to_device(x, device, on_device))
        _sync(device)
        s = time.perf_counter() - t0
        waits.append(wait / s)
        return s

    def memory_round(k: int) -> float:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(k):
            step(next_memory())
        _sync(device)
        return time.perf_counter() - t0

    warm = max(10, steps // 10)
    store_round(warm)
    memory_round(warm)
    waits.clear()
    store_s, memory_s = [], []
    for r in range(rounds):
        # alternate which goes first, so a drift in clocks or load hits both alike
        if r % 2 == 0:
            store_s.append(store_round(steps))
            memory_s.append(memory_round(steps))
        else:
            memory_s.append(memory_round(steps))
            store_s.append(store_round(steps))
        print(f"{name} round {r + 1}: store {steps * bs / store_s[-1]:,.0f} samples/s, "
              f"memory {steps * bs / memory_s[-1]:,.0f} samples/s", flush=True)
    train_loader.close()
    shutil.rmtree(run, ignore_errors=True)
    per_round = [m / s for s, m in zip(store_s, memory_s)]
    return {
        "model": name, "model_options": spec["model_options"], "input_shape": list(vrun.preprocess.input_shape),
        "batch_size": bs, "steps_per_round": steps, "rounds": rounds, "mask": vrun.data.mask, "num_workers": train_loader.spec.num_workers,
        "feed": feed, "pin_memory": train_loader.spec.pin_memory,
        "loader_dtype": str(train_loader.source.out_dtype or train_loader.source.dtype),
        "transform_on_device": on_device is not None,
        "train_samples": train_loader.n_samples, "held_samples": n_held, "fill_memory_s": round(fill_s, 2),
        "store_epochs_started": state["epochs"],
        "store_samples_per_s": [steps * bs / s for s in store_s],
        "memory_samples_per_s": [steps * bs / s for s in memory_s],
        "ratio_best": min(memory_s) / min(store_s),
        "ratio_median_of_rounds": statistics.median(per_round),
        "ratio_per_round": per_round,
        "store_wait_fraction": waits,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=HERE / "_data", help="scratch folder (gitignored)")
    ap.add_argument("--ny", type=int, default=500)
    ap.add_argument("--nx", type=int, default=600)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", default="conv-vae,autoencoder-kl")
    ap.add_argument("--steps", default="", help="timed steps per round, e.g. conv-vae=1500,autoencoder-kl=60")
    ap.add_argument("--batch-size", type=int, help="override every model's batch size")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--num-workers", type=int, default=None,
                    help="as vaearr train --num-workers (default as there: on CUDA min(4, cores / 2))")
    ap.add_argument("--feed", default="train", choices=["train", "host-float32", "pinned"],
                    help="store feed: as vaearr train builds it (default), float32 transformed on the host, or pinned batches")
    ap.add_argument("--base-npy", type=Path, help="the Ni base patterns as .npy (bench_loader.py --save-base)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = ap.parse_args(argv)
    import torch
    from bench_loader import dir_bytes, drop_page_cache_hint, make_store

    steps = {k: v["steps"] for k, v in MODELS.items()}
    for item in filter(None, args.steps.split(",")):
        k, v = item.split("=")
        steps[k] = int(v)
    dev = torch.device(args.device)
    res: dict = {
        "command": "python benchmarks/bench_gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(), "torch": torch.__version__,
                    "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                    "load_average_start": os.getloadavg()},
    }
    args.data_dir.mkdir(parents=True, exist_ok=True)
    store = args.data_dir / f"gpu_{args.ny}x{args.nx}.zarr"
    try:
        t = time.perf_counter()
        if not (store / "zarr.json").exists():
            make_store(store, args.ny, args.nx, args.base_npy)
            add_roi(store)
        res["store"] = {"samples": args.ny * args.nx, "bytes_on_disk": dir_bytes(store / "patterns"),
                        "make_s": round(time.perf_counter() - t, 1)}
        drop_page_cache_hint(store)
        print(json.dumps(res, indent=1), flush=True)
        res["models"] = [bench_model(store, m, args.device, steps[m], args.rounds, args.batch_size, args.num_workers,
                                     args.feed)
                         for m in args.models.split(",")]
        res["goal"] = "store / memory >= 0.95"
        res["machine"]["load_average_end"] = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)
            Path(str(store) + ".vaearr-lock").unlink(missing_ok=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2, default=float))
    print(json.dumps([{k: m[k] for k in ("model", "batch_size", "feed", "num_workers", "ratio_best",
                                         "ratio_median_of_rounds")}
                      for m in res["models"]], indent=1))
    return res


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
