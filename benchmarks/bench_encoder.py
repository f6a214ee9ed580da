"""How fast can the encoder pass go on this machine? Patterns/s of a trained run's encoder, step by step, against its compute bound.

Question (issue 39): encode is the step that grows with the map once training is on a window.
What does each change of the pass buy — inference mode, the preprocessing fused into one pass,
channels-last memory, the batch size, the threads — and how far is the result from what the
machine's arithmetic allows for this encoder?

Each variant keeps the ones before it (``+``), and all are timed in one process on the same
patterns in rounds (each variant once a round, the median of the rounds reported), so a change of
the machine's load hits every variant alike. The patterns are the run's own inputs, read once
into memory (uint8, neighbour-averaged as the run reads them): what is timed is the pass from a
uint8 batch to the posterior means, as ``vaearr encode`` does it after reading.

The compute bound: the encoder's floating-point operations per pattern, counted by torch's
``FlopCounterMode`` (a multiply-add is 2), over the machine's rate, both nominal (cores × clock ×
32 FP32 operations a cycle: two 256-bit FMA pipes, as on AVX2 and AMD Zen 4's AVX-512) and as
measured by a large fp32 matrix product (``torch.mm``, all threads), the best a dense kernel reaches.

Run::

    python benchmarks/bench_encoder.py --store S.zarr --run R      # → benchmarks/results/encoder.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: No quick size: it times the encoder of a trained run of the families study (benchmarks/_data/families: bench_families prepare).
QUICK = None
NO_QUICK = 'it times the encoder of a trained run of the families study (benchmarks/_data/families: bench_families prepare)'

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vaearr.encoder import DECODE_CHUNK, decoded
from vaearr.run import Run
from vaearr.store import open_store

HERE = Path(__file__).resolve().parent
FAMILY = Path("/work/main/benchmarks/_data/families/science_subgrains_2024")


def patterns_of(run: Run, store: str, n: int) -> np.ndarray:
    """``n`` uint8 input patterns (B, 1, py, px) of the run on ``store`` (its own samples, repeated to ``n``)."""
    parts, got = [], 0
    for _, x in run.encoder.raw(store, "run", 1024):
        parts.append(x.numpy())
        got += len(parts[-1])
    x = np.concatenate(parts, 0)
    return np.ascontiguousarray(np.resize(x, (n, *x.shape[1:])))


def fused(preprocess) -> callable:
    """The run's SubtractBackground(divide) → Standardize as one pass: x / bg, then (x − mean) / std per
    pattern (the per-pattern rescale between them cancels in the standardisation)."""
    steps = preprocess.steps
    names = [type(s).__name__ for s in steps]
    if names != ["SubtractBackground", "Standardize"] or steps[0].operation != "divide":
        raise SystemExit(f"fused preprocessing is written for divide → standardise, the run has {names}")
    inv = torch.from_numpy(1.0 / np.maximum(np.asarray(steps[0].background, np.float32), 1e-6)).reshape(1, 1, *steps[0].background.shape)
    eps = steps[1].eps

    def run(x: torch.Tensor) -> torch.Tensor:
        y = x.float().mul_(inv)
        std, mean = torch.std_mean(y.flatten(1), dim=1, correction=0)
        return y.sub_(mean.view(-1, 1, 1, 1)).div_(std.clamp_min(eps).view(-1, 1, 1, 1))

    return run


def timed(fn, x: np.ndarray, batch: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) for ``fn`` over all of ``x`` in batches of ``batch``."""
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, len(x), batch):
        fn(torch.from_numpy(x[i:i + batch]))
    return time.perf_counter() - t, time.process_time() - c


def variants(run: Run, model: torch.nn.Module) -> list[tuple[str, dict]]:
    """(name, settings) in order, each keeping the ones before it."""
    base = dict(mode="no_grad", fuse=False, inplace=False, channels_last=False, batch=256,
                threads=torch.get_num_threads(), bf16=False, compile=False, decode=None)
    out = [("as encode ran before issue 39: no_grad, the run's preprocessing steps, NCHW, batch 256", dict(base))]
    steps = [("+ inference_mode", dict(mode="inference")),
             ("+ fused preprocessing", dict(fuse=True)),
             ("+ activations in place", dict(inplace=True)),
             ("+ channels-last", dict(channels_last=True))]
    cur = dict(base)
    for name, change in steps:
        cur = {**cur, **change}
        out.append((name, dict(cur)))
    for b in (64, 128, 512, 1024):
        out.append((f"  batch {b}", {**cur, "batch": b}))
    out.append(("  1 thread", {**cur, "threads": 1}))
    out.append(("  bf16 autocast (latents differ)", {**cur, "bf16": True}))
    out.append(("  torch.compile (inductor; compiled before timing)", {**cur, "compile": True}))
    cur = {**cur, "batch": 128}
    for name, decode in (("+ the decoder pass and the error, as encode ran before issue 61: batch 128, oneDNN output conv",
                          "before"),
                         ("+ decoded in chunks of 32", "chunks"),
                         ("+ the output conv as one GEMM (as encode decodes since issue 61, which runs a batch a core)", "gemm")):
        cur = {**cur, "decode": decode}
        out.append((name, dict(cur)))
    return out


def _decode_before(model: torch.nn.Module, mu: torch.Tensor) -> torch.Tensor:
    """The decoder as it ran before issue 61: the whole batch, the output conv by oneDNN, then the crop."""
    h = model.fc_decode_act(model.fc_decode(model.fc_decode_hidden(mu))).view(-1, *model.decoder_shape)
    h = model._grow(h)
    (top, left), (_, height, width) = model._crop, model.config.input_shape
    return model._head(h[:, :, top:top + height, left:left + width])


def _recon_error(model: torch.nn.Module, mu: torch.Tensor, x: torch.Tensor, how: str) -> torch.Tensor:
    """The per-pattern mean squared error of the decoded means, decoded ``how``: ``"before"`` (the whole batch, the
    output conv by oneDNN), ``"chunks"`` (the same in chunks of :data:`DECODE_CHUNK`), ``"gemm"`` (the model's own
    inference path, :func:`vaearr.encoder.decoded`)."""
    if how == "gemm":
        recon = decoded(model, mu)
    else:
        parts = mu.split(DECODE_CHUNK["cpu"]) if how == "chunks" else [mu]
        recon = torch.cat([_decode_before(model, part) for part in parts])
    return ((recon.float() - x.float()) ** 2).flatten(1).mean(1)


def make_fn(run: Run, model: torch.nn.Module, s: dict):
    pre = fused(run.preprocess) if s["fuse"] else run.preprocess
    m = copy.deepcopy(model)
    for mod in m.modules():
        if hasattr(mod, "inplace"):
            mod.inplace = s["inplace"]
    m = m.to(memory_format=torch.channels_last) if s["channels_last"] else m
    ctx = torch.inference_mode if s["mode"] == "inference" else torch.no_grad
    enc = torch.compile(m.encode, dynamic=False) if s["compile"] else m.encode

    def fn(x: torch.Tensor) -> torch.Tensor:
        with ctx(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=s["bf16"]):
            x = pre(x)
            if s["channels_last"]:
                x = x.contiguous(memory_format=torch.channels_last)
            mu = enc(x)[0]
            if s["decode"]:
                _recon_error(m, mu, x, s["decode"])
            return mu

    return fn


def flops_per_pattern(model: torch.nn.Module, shape: tuple[int, ...], *, decoder: bool = False) -> float:
    """The encoder's (or the decoder's: its convolutions over the whole grown grid, as the network is written)
    floating-point operations a pattern."""
    x = torch.zeros((64, *shape))
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        mu = model.encode(x)[0]
    if not decoder:
        return fc.get_total_flops() / 64
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        _decode_before(model, mu)
    return fc.get_total_flops() / 64


def built(run: Run, model: torch.nn.Module, found: list[tuple[str, dict]], x: np.ndarray) -> tuple[dict, ...]:
    """Each variant's function, built and warmed up once (compiled, for torch.compile); its latents against the
    first variant's (max |Δ| / std), its first call's seconds, and for the decoder's variants the recon error
    against the first decoder variant's (max relative difference)."""
    ref = make_fn(run, model, found[0][1])(torch.from_numpy(x[:512])).float()
    diffs, fns, warm, errs = {}, {}, {}, {}
    first_err = None
    for name, s in found:
        torch.set_num_threads(s["threads"])
        fns[name] = make_fn(run, model, s)
        t = time.perf_counter()
        fns[name](torch.from_numpy(x[:s["batch"]]))
        warm[name] = time.perf_counter() - t
        out = torch.cat([fns[name](torch.from_numpy(x[i:i + s["batch"]])) for i in range(0, 512, s["batch"])])[:512]
        diffs[name] = float((out.float() - ref).abs().max() / ref.std())
        if s["decode"]:
            with torch.inference_mode():
                xi = fused(run.preprocess)(torch.from_numpy(x[:512]))
                err = _recon_error(model, model.encode(xi)[0], xi, s["decode"])
            first_err = err if first_err is None else first_err
            errs[name] = float(((err - first_err).abs() / first_err).max())
    return fns, diffs, warm, errs


def gemm_rate(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default=str(FAMILY) + ".zarr")
    ap.add_argument("--run", default=str(FAMILY) + ".run")
    ap.add_argument("--patterns", type=int, default=8192)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the variants (default: every core)")
    ap.add_argument("--clock-ghz", type=float, default=None, help="nominal clock (default: from /proc/cpuinfo)")
    ap.add_argument("--out", type=Path, default=None, help="also write the result here as JSON (the harness appends it to results/NAME.jsonl)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    run = Run.open(args.run)
    model = run.model("best")
    x = patterns_of(run, args.store, args.patterns)
    threads = torch.get_num_threads()
    found = variants(run, model)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in found}
    fns, diffs, warm, errs = built(run, model, found, x)
    for _ in range(args.rounds):
        for name, s in found:
            torch.set_num_threads(s["threads"])
            times[name].append(timed(fns[name], x, s["batch"]))
    torch.set_num_threads(threads)
    flops = flops_per_pattern(model.to(memory_format=torch.contiguous_format), tuple(run.preprocess.input_shape))
    dec_flops = flops_per_pattern(model, tuple(run.preprocess.input_shape), decoder=True)
    gemm = gemm_rate()
    ghz = args.clock_ghz or _clock_ghz()
    nominal = os.cpu_count() * ghz * 1e9 * 32
    rows = []
    prev = None
    for name, s in found:
        rate = len(x) / statistics.median(w for w, _ in times[name])
        cpu = statistics.median(c for _, c in times[name]) / len(x) * 1e3
        rows.append({"variant": name, "settings": s, "patterns_per_s": round(rate, 1), "cpu_ms_per_pattern": round(cpu, 4),
                     "vs_previous": round(rate / prev, 3) if prev and not name.startswith(" ") else None,
                     "max_latent_diff_over_std": round(diffs[name], 6), "first_call_s": round(warm[name], 2),
                     "max_recon_error_rel_diff": errs.get(name),
                     "seconds": [[round(w, 3), round(c, 3)] for w, c in times[name]]})
        if not name.startswith(" "):
            prev = rate
    best = max(rows, key=lambda r: r["patterns_per_s"] if not (r["settings"]["bf16"] or r["settings"]["compile"]
                                                               or r["settings"]["decode"]) else 0)
    whole = rows[-1]  # encode's default: encoder, decoder and the error
    result = {"store": args.store, "run": args.run, "patterns": len(x), "rounds": args.rounds,
              "input_shape": list(run.preprocess.input_shape), "encoder_flops_per_pattern": flops,
              "gemm_gflops": round(gemm / 1e9, 1), "nominal_gflops": round(nominal / 1e9, 1), "clock_ghz": ghz,
              "bound_patterns_per_s_gemm": round(gemm / flops, 1), "bound_patterns_per_s_nominal": round(nominal / flops, 1),
              "best_fp32": best["variant"], "best_fp32_patterns_per_s": best["patterns_per_s"],
              "best_fp32_gflops": round(best["patterns_per_s"] * flops / 1e9, 1),
              "decoder_flops_per_pattern": dec_flops, "bound_both_patterns_per_s_gemm": round(gemm / (flops + dec_flops), 1),
              "default_patterns_per_s": whole["patterns_per_s"],
              "default_of_bound": round(whole["patterns_per_s"] * (flops + dec_flops) / gemm, 3),
              "load_average_before_after": [list(LOAD0), list(os.getloadavg())], "threads": threads, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"encoder: {flops / 1e6:.1f} MFLOP a pattern; bound {result['bound_patterns_per_s_gemm']:.0f} patterns/s "
          f"at the measured GEMM rate ({result['gemm_gflops']} GFLOP/s), {result['bound_patterns_per_s_nominal']:.0f} "
          f"at the nominal {result['nominal_gflops']} GFLOP/s; load {LOAD0} → {os.getloadavg()}")
    print("| variant | patterns/s | CPU ms a pattern | × previous | max |Δlatent| / std |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['patterns_per_s']:.0f} | {r['cpu_ms_per_pattern']:.3f} | {r['vs_previous'] or ''} | "
              f"{r['max_latent_diff_over_std']:.2g} |")
    print(f"best fp32 (eager): {best['variant'].strip()} at {best['patterns_per_s']:.0f} patterns/s = "
          f"{result['best_fp32_gflops']} GFLOP/s")
    print(f"decoder: {dec_flops / 1e6:.1f} MFLOP a pattern; both networks' bound {result['bound_both_patterns_per_s_gemm']:.0f} "
          f"patterns/s; encode's default pass {whole['patterns_per_s']:.0f} patterns/s = {result['default_of_bound']:.0%} of it; "
          f"recon error against the pass before issue 61: {errs}")
    return result


def _clock_ghz() -> float:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz"):
                return round(float(line.split(":")[1]) / 1000, 2)
    except OSError:
        pass
    return float("nan")


LOAD0 = os.getloadavg()

if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
