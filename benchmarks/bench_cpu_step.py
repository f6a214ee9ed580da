"""Which of what PyTorch offers on a CPU pay, per training step of the conv-vae: channels-last, bf16 autocast, torch.compile?

Question (issue 16, point 4): which of them pay, alone and together, on the network
``bench_fashion.py`` trains (vaearr's conv-vae, latent 16, channels 32/64, transposed-conv
decoder, Bernoulli likelihood) at batch 128 of Fashion-MNIST images?

How: one process, the 2 cores of the machine, in-memory batches (the loader is not timed). Each
variant gets its own model (same seed) and optimiser, and ``--warmup`` untimed steps; then the
variants take turns, ``--rounds`` rounds of ``--steps`` steps each, so a busy moment of the
machine falls on all of them alike. A step is :func:`vaearr.train.step.train_step` (forward,
loss, backward, clip, Adam), as ``vaearr train`` runs it; the warm-up's CPU-seconds include
torch.compile's compiling. CPU-seconds are ``time.process_time()``
(all threads), wall seconds ``time.perf_counter()``; the table gives the median over rounds of
the seconds a step and the ratio to plain fp32 of the same round.

Run::

    python benchmarks/bench_cpu_step.py            # → benchmarks/results/cpu_step.jsonl
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): two variants, a few steps.
QUICK = ("--batch", "16", "--steps", "2", "--rounds", "1", "--warmup", "1", "--variants", "fp32", "channels-last")

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench_fashion.py: before torch loads OpenMP

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vaearr.models import ConvVAEConfig, build_model  # noqa: E402
from vaearr.train.step import autocast_for, train_step  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
HERE = Path(__file__).resolve().parent
VARIANTS = ("fp32", "channels-last", "bf16", "bf16 + channels-last", "compile", "bf16 + compile")


def images(n: int) -> torch.Tensor:
    from vaearr.io.idx import read_idx

    ds = read_idx(FASHION / "train-images-idx3-ubyte.gz", FASHION / "train-labels-idx1-ubyte.gz")
    x = np.asarray(ds["images"].isel(sample=slice(0, n)).values)
    return torch.from_numpy(x).float().div_(255.0)[:, None]  # (N, 1, 28, 28) in [0, 1]


class Variant:
    """One model + optimiser trained the way ``name`` says."""

    def __init__(self, name: str, lr: float):
        torch.manual_seed(0)
        cfg = ConvVAEConfig(input_shape=(1, 28, 28), latent_dim=16, channels=(32, 64), output="sigmoid-bce",
                            data_range="[0,1]", decoder="transpose")
        self.name = name
        self.model = build_model(cfg)
        self.channels_last = "channels-last" in name
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward = self.model
        if "compile" in name:
            self.forward = torch.compile(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.autocast = autocast_for(torch.device("cpu"), "bf16" if "bf16" in name else "none")[0]
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def steps(self, batches: list[torch.Tensor]) -> tuple[float, float]:
        """CPU-seconds and wall seconds a step, over ``batches`` (vaearr's train_step, as ``vaearr train``)."""
        c0, w0 = time.process_time(), time.perf_counter()
        for x in batches:
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            train_step(self.forward, x, self.optimizer, self.params, autocast=self.autocast, grad_clip=1.0)
        return (time.process_time() - c0) / len(batches), (time.perf_counter() - w0) / len(batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="steps a variant runs in one round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = ap.parse_args()

    x = images(args.batch * args.steps)
    batches = list(x.split(args.batch))
    variants = [Variant(v, 3e-3) for v in args.variants]
    compile_s = {}  # the warm-up's CPU-seconds: torch.compile compiles there
    for v in variants:
        c0 = time.process_time()
        v.steps(batches[: args.warmup])
        compile_s[v.name] = round(time.process_time() - c0, 2)
    rows = {v.name: [] for v in variants}
    for _ in range(args.rounds):
        base = None
        for v in variants:
            cpu, wall = v.steps(batches)
            base = cpu if v.name == "fp32" else base
            rows[v.name].append({"cpu_s": cpu, "wall_s": wall, "ratio": cpu / base if base else None})
    table = {}
    for name, rs in rows.items():
        table[name] = {"cpu_s_per_step": round(statistics.median(r["cpu_s"] for r in rs), 4),
                       "wall_s_per_step": round(statistics.median(r["wall_s"] for r in rs), 4),
                       "cpu_ratio_to_fp32": round(statistics.median(r["ratio"] for r in rs if r["ratio"]), 3)
                       if name != "fp32" else 1.0,
                       "warmup_cpu_s": compile_s[name]}
    bf16_isa = "avx512_bf16" in open("/proc/cpuinfo").read() if Path("/proc/cpuinfo").exists() else None
    result = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "avx512_bf16": bf16_isa, "batch": args.batch, "steps": args.steps, "rounds": args.rounds,
              "variants": table}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"batch {args.batch}, {torch.get_num_threads()} threads, median of {args.rounds} rounds of {args.steps} steps"
          f" (AVX512-BF16: {bf16_isa})")
    print("| variant | CPU-s a step | wall s a step | CPU vs fp32 (same round) | warm-up CPU-s |\n|---|---:|---:|---:|---:|")
    for name, t in table.items():
        print(f"| {name} | {t['cpu_s_per_step']:.4f} | {t['wall_s_per_step']:.4f} | {t['cpu_ratio_to_fp32']:.3f} | "
              f"{t['warmup_cpu_s']:.1f} |")
    return result


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
