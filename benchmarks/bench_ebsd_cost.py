"""What does a training step of the EBSD conv-vae cost on a CPU, by decoder, width and precision?

Question (issue 32, "Done means"): the README's EBSD path trained the 32-64-128 upsampling
conv-vae in fp32 at the detector's 60 × 60; the transposed-conv decoder and bf16 were measured
cheaper on Fashion-MNIST (BENCHMARKS "Quality per CPU-second"). Which layout pays on Kikuchi
patterns? This script times the step; ``bench_science.py --methods vae:default vae:upsample vae:transpose-narrow`` measures what each
keeps (sub-grain ARI after segmentation), so the choice is made per CPU-second.

How: as ``bench_cpu_step.py`` — one process on the machine's cores, in-memory batches of
standardised simulated 60 × 60 patterns (batch 64), each variant its own model (seed 0) and Adam,
warm-up steps untimed, then the variants take turns for ``--rounds`` rounds of ``--steps`` steps;
the table gives the median CPU-seconds a step and the ratio to the README's former default in
the same round.

Run::

    python benchmarks/bench_ebsd_cost.py      # → benchmarks/results/ebsd_cost.jsonl
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): one step of each variant.
QUICK = ("--steps", "1", "--rounds", "1", "--warmup", "1", "--batch", "8")

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vaearr.models import ConvVAEConfig, build_model  # noqa: E402
from vaearr.train.step import autocast_for, train_step  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from science_lib import ROOT, load_map, machine  # noqa: E402

VARIANTS = {
    "upsample 32-64-128 fp32 (former default)": ({"channels": (32, 64, 128), "decoder": "upsample"}, "none"),
    "upsample 32-64-128 bf16": ({"channels": (32, 64, 128), "decoder": "upsample"}, "bf16"),
    "transpose 32-64-128 fp32": ({"channels": (32, 64, 128), "decoder": "transpose"}, "none"),
    "transpose 32-64-128 bf16": ({"channels": (32, 64, 128), "decoder": "transpose"}, "bf16"),
    "transpose 16-32-64 fp32": ({"channels": (16, 32, 64), "decoder": "transpose"}, "none"),
    "transpose 16-32-64 bf16": ({"channels": (16, 32, 64), "decoder": "transpose"}, "bf16"),
}


def _step(model, opt, x, ctx) -> None:
    train_step(model, x, opt, [p for p in model.parameters() if p.requires_grad], autocast=ctx, grad_clip=1.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    pats = load_map(2024).patterns.reshape(-1, 1, 60, 60).astype(np.float32)
    pats = (pats - pats.mean((2, 3), keepdims=True)) / pats.std((2, 3), keepdims=True)
    batches = [torch.from_numpy(pats[i:i + args.batch]) for i in range(0, 20 * args.batch, args.batch)]
    runs = {}
    for name, (cfg, amp) in VARIANTS.items():
        torch.manual_seed(0)
        model = build_model(ConvVAEConfig(input_shape=(1, 60, 60), latent_dim=16, data_range="standardized", **cfg))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        ctx = autocast_for(torch.device("cpu"), amp)[0]
        runs[name] = (model, opt, ctx, sum(p.numel() for p in model.parameters()))
        for i in range(args.warmup):
            _step(model, opt, batches[i % len(batches)], ctx)
    cpu: dict[str, list[float]] = {n: [] for n in VARIANTS}
    for r in range(args.rounds):
        for name, (model, opt, ctx, _) in runs.items():
            c0 = time.process_time()
            for i in range(args.steps):
                _step(model, opt, batches[(r * args.steps + i) % len(batches)], ctx)
            cpu[name].append((time.process_time() - c0) / args.steps)
    base = list(VARIANTS)[0]
    rows = []
    for name in VARIANTS:
        ratios = [a / b for a, b in zip(cpu[name], cpu[base])]
        rows.append({"variant": name, "params": runs[name][3], "cpu_s_per_step": round(statistics.median(cpu[name]), 4),
                     "ratio_to_former_default": round(statistics.median(ratios), 3)})
        print(json.dumps(rows[-1]), flush=True)
    result = {"command": "python -m benchmarks run ebsd_cost " + " ".join(argv or sys.argv[1:]),
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "batch": args.batch, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
