"""Fashion-MNIST end to end: does vaearr's conv-vae learn as well as a plain-PyTorch VAE of the same size?

Question: does training through vaearr (store → chunked batches → fit) reach the same test
−ELBO as a textbook PyTorch loop with the same network, optimiser and schedule? And do the
exploration outputs (class prototypes, a traversal grid, UMAP with line sampling) come out of
the trained run?

Both models: conv-vae layout, latent 16, channels (32, 64), GroupNorm, LeakyReLU(0.2), sigmoid
output with Bernoulli likelihood (BCE summed over pixels) — identical parameter counts (checked).
Both: Adam (lr 1e-3), cosine schedule per step, gradient-norm clip 1.0, batch 128, all 60 000
training images, the same number of epochs, seed 0. They differ only in how batches are made:
vaearr reads the zarr store with its chunk-aligned two-level shuffle, the plain loop shuffles a
numpy array with ``torch.randperm``.

Test −ELBO is measured the same way for both, after every epoch, on the 10 000 test images:
``BCE(x, decode(z)) + KL(q(z|x) || N(0, I))`` with one posterior sample ``z`` per image (a fixed
seed), in nats per image (lower is better).

Two ways to run it:

* ``--budget-cpu-s 425`` (the default): quality per CPU-second. Each side trains until a budget
  of CPU-seconds (this process's, all threads) is spent: a short calibration run measures the
  CPU-seconds of one step, and ``--max-steps`` is set to 96 % of the budget over that (the cosine
  schedule spans exactly those steps). The test −ELBO after every epoch and at the end is
  reported against the CPU-seconds spent so far; evaluating it is not counted. vaearr's count is
  the whole ``fit`` call (opening the store, the run folder, checkpoints) — the plain loop's only
  its steps. ``OMP_WAIT_POLICY=PASSIVE`` is set for both (idle OpenMP threads sleep instead of
  spinning). Defaults: the transposed-convolution decoder, batch 128, lr 3e-3 (chosen by
  measurement; see BENCHMARKS.md "Quality per CPU-second"). → ``benchmarks/results/fashion.jsonl``.
* ``--budget-cpu-s 0 --epochs 3 --decoder upsample --lr 1e-3``: whole epochs, the parity check
  of the first version of this script. → ``benchmarks/results/fashion.jsonl``.

``--train-n`` uses fewer training images; ``--explore-n 0`` skips the exploration figures (written
under ``--out``, default ``out/bench_fashion``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, as a script too
from benchmarks import harness  # noqa: E402

#: The quick size (``--quick``, ``make bench``): one epoch of 1,024 images.
QUICK = ("--budget-cpu-s", "0", "--epochs", "1", "--train-n", "1024", "--explore-n", "0")

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
REPO = Path(__file__).resolve().parents[1]
LATENT, CHANNELS = 16, (32, 64)
#: fraction of the CPU budget the steps are planned to take (calibration is a short run)
PLAN = 0.96


class PlainVAE(nn.Module):
    """The conv-vae layout written out in plain PyTorch, for 1×28×28 inputs; ``decoder`` as
    conv-vae's option of that name (``upsample``: nearest ×2 then a 3×3 conv; ``transpose``: 3×3
    stride-2 transposed convs)."""

    def __init__(self, latent: int = LATENT, channels: tuple[int, int] = CHANNELS, decoder: str = "upsample"):
        super().__init__()
        c1, c2 = channels
        self.enc = nn.Sequential(
            nn.Conv2d(1, c1, 3, 2, 1), nn.GroupNorm(math.gcd(8, c1), c1), nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 3, 2, 1), nn.GroupNorm(math.gcd(8, c2), c2), nn.LeakyReLU(0.2),
        )  # (B, c2, 7, 7)
        self.mu = nn.Linear(c2 * 49, latent)
        self.logvar = nn.Linear(c2 * 49, latent)
        self.fc = nn.Linear(latent, c2 * 49)
        if decoder == "transpose":
            up1 = nn.ConvTranspose2d(c2, c1, 3, 2, 1, output_padding=1)
            up2 = nn.ConvTranspose2d(c1, c1, 3, 2, 1, output_padding=1)
        else:
            up1 = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c2, c1, 3, 1, 1))
            up2 = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c1, c1, 3, 1, 1))
        self.dec = nn.Sequential(
            up1, nn.GroupNorm(math.gcd(8, c1), c1), nn.LeakyReLU(0.2),
            up2, nn.GroupNorm(math.gcd(8, c1), c1), nn.LeakyReLU(0.2),
            nn.Conv2d(c1, 1, 3, 1, 1),
        )
        self.c2 = c2

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(x).flatten(1)
        return self.mu(h), self.logvar(h).clamp(-30, 20)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(self.fc(z).view(-1, self.c2, 7, 7))


def neg_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-image −ELBO terms summed, averaged over the batch (nats per image)."""
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return (rec + kl).mean()


def read_split(kind: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from vaearr.io.idx import read_idx

    ds = read_idx(FASHION / f"{kind}-images-idx3-ubyte.gz", FASHION / f"{kind}-labels-idx1-ubyte.gz")
    ds = ds.isel(sample=slice(0, n)) if n else ds
    return np.asarray(ds["images"].values), np.asarray(ds["label"].values)


@torch.no_grad()
def test_neg_elbo(encode, decode_logits, x_test: np.ndarray, seed: int = 0) -> float:
    """One-sample −ELBO over the test set, nats per image; the same noise for every model."""
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, len(x_test), 500):
        x = torch.from_numpy(x_test[start:start + 500]).float().div_(255.0)[:, None]
        mu, logvar = encode(x)
        z = mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
        total += float(neg_elbo(decode_logits(z), x, mu, logvar)) * len(x)
    return total / len(x_test)


def plain_steps(model: PlainVAE, opt: torch.optim.Optimizer, sched, batches, amp: str = "none") -> None:
    """Train steps of the plain loop over an iterable of batches (``amp`` ``"bf16"``: the forward
    under CPU bf16 autocast, as ``vaearr train --amp bf16``)."""
    for x in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            mu, logvar = model.encode(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            loss = neg_elbo(model.decode_logits(z).float(), x, mu.float(), logvar.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()


def train_plain(x_train: np.ndarray, x_test: np.ndarray, *, epochs: int, batch: int, lr: float, decoder: str,
                amp: str = "none", max_steps: int | None = None, seed: int = 0) -> dict:
    """The textbook loop: a randperm per epoch, ``max_steps`` (if given) ending it inside an epoch.
    CPU-seconds count the steps only, not the test evaluation after each epoch."""
    torch.manual_seed(seed)
    model = PlainVAE(decoder=decoder)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(x_train) / batch)
    steps = min(steps, max_steps) if max_steps else steps
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    data = torch.from_numpy(x_train).float().div_(255.0)[:, None]
    g = torch.Generator().manual_seed(seed)
    history, done, cpu, wall = [], 0, 0.0, 0.0
    for epoch in range(epochs):
        if done >= steps:
            break
        model.train()
        c, t = time.process_time(), time.perf_counter()
        perm = torch.randperm(len(data), generator=g)
        starts = list(range(0, len(data), batch))[:steps - done]
        plain_steps(model, opt, sched, (data[perm[s:s + batch]] for s in starts), amp)
        done += len(starts)
        cpu, wall = cpu + time.process_time() - c, wall + time.perf_counter() - t
        model.eval()
        history.append({"epoch": epoch + 1, "step": done,
                        "test_neg_elbo": test_neg_elbo(model.encode, model.decode_logits, x_test),
                        "cpu_seconds": round(cpu, 1), "seconds": round(wall, 1)})
        print(f"plain   epoch {epoch + 1} (step {done}): test -ELBO {history[-1]['test_neg_elbo']:.2f} nats/image "
              f"after {cpu:.0f} CPU-s", flush=True)
    return {"params": sum(p.numel() for p in model.parameters()), "history": history, "steps": done,
            "cpu_seconds": round(cpu, 1), "seconds": round(wall, 1)}


def plain_cpu_per_step(x_train: np.ndarray, *, batch: int, lr: float, decoder: str, amp: str = "none",
                       n: int = 100) -> float:
    """CPU-seconds of one plain step: ``n`` steps timed after 5 untimed ones."""
    torch.manual_seed(1)
    model = PlainVAE(decoder=decoder)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n + 5)
    data = torch.from_numpy(x_train[:batch * (n + 5)]).float().div_(255.0)[:, None]
    plain_steps(model, opt, sched, (data[i * batch:(i + 1) * batch] for i in range(5)), amp)
    c = time.process_time()
    plain_steps(model, opt, sched, (data[i * batch:(i + 1) * batch] for i in range(5, n + 5)), amp)
    return (time.process_time() - c) / n


def vaearr_config(train_store: Path, run: Path, *, epochs: int, batch: int, lr: float, decoder: str,
                  amp: str = "none", max_steps: int | None = None, seed: int = 0):
    from vaearr.train import TrainConfig

    return TrainConfig(store=str(train_store), run=str(run), var="images", model="conv-vae", latent_dim=LATENT,
                       model_options={"channels": list(CHANNELS), "decoder": decoder}, epochs=epochs,
                       batch_size=batch, lr=lr, schedule="cosine", schedule_per="step", grad_clip=1.0, seed=seed,
                       val_fraction=0.0, tensorboard=False, previews=0, max_steps=max_steps, amp=amp)


def vaearr_cpu_per_step(train_store: Path, run: Path, n: int = 100, **kw) -> float:
    """CPU-seconds of one vaearr step: the first epoch's steps of a ``fit`` cut at ``n`` steps."""
    from vaearr.train import fit

    shutil.rmtree(run, ignore_errors=True)
    row = fit(vaearr_config(train_store, run, epochs=1, max_steps=n, **kw), progress=False).history[0]
    shutil.rmtree(run, ignore_errors=True)
    return row["cpu_seconds"] / row["step"]


def train_vaearr(train_store: Path, run: Path, x_test: np.ndarray, **kw) -> dict:
    """``fit`` through the store; CPU-seconds of the whole call (its epochs' own in the history)."""
    from vaearr.run import Run
    from vaearr.train import fit

    shutil.rmtree(run, ignore_errors=True)
    c, t = time.process_time(), time.perf_counter()
    result = fit(vaearr_config(train_store, run, **kw), progress=False)
    cpu, seconds = time.process_time() - c, time.perf_counter() - t
    history, spent = [], 0.0
    for i, row in enumerate(result.history):
        model = Run.open(run).model(i + 1)
        spent += row["cpu_seconds"]
        history.append({"epoch": i + 1, "step": row["step"],
                        "test_neg_elbo": test_neg_elbo(model.encode, model.decode_logits, x_test),
                        "cpu_seconds": round(spent, 1), "seconds": row["seconds"], "train_loss": row["train_loss"]})
        print(f"vaearr  epoch {i + 1} (step {row['step']}): test -ELBO {history[-1]['test_neg_elbo']:.2f} "
              f"nats/image after {spent:.0f} CPU-s in its steps", flush=True)
    return {"params": sum(p.numel() for p in model.parameters()), "history": history,
            "steps": result.history[-1]["step"], "cpu_seconds": round(cpu, 1), "seconds": round(seconds, 1)}


def write_stores(out: Path, x_train, y_train, x_test, y_test) -> dict[str, Path]:
    import xarray as xr

    from vaearr.store import write_variables

    stores = {}
    for kind, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        path = out / f"fashion_{kind}.zarr"
        shutil.rmtree(path, ignore_errors=True)
        write_variables(path, {"images": xr.DataArray(x, dims=("sample", "row", "col"),
                                                      coords={"label": ("sample", y)})},
                        source=[str(FASHION)], chunks={"images": (4096, 28, 28)})
        stores[kind] = path
    return stores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-cpu-s", type=float, default=425.0,
                    help="train each side to this many CPU-seconds (0: whole --epochs instead)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs (default 3 without a budget; with one, an upper bound, default 50)")
    ap.add_argument("--decoder", choices=("transpose", "upsample"), default="transpose")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--amp", choices=("none", "bf16"), default="none",
                    help="bf16: the forward under CPU bf16 autocast on both sides (vaearr train --amp bf16)")
    ap.add_argument("--train-n", type=int, default=None, help="training images (default all 60 000)")
    ap.add_argument("--explore-n", type=int, default=3000, help="test images the exploration encodes (0: none)")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench_fashion")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    ap.add_argument("--json", type=Path, default=None,
                    help="also write the result here as JSON (the harness appends it to results/fashion.jsonl)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    budget = args.budget_cpu_s
    epochs = args.epochs or (50 if budget else 3)
    from vaearr.viz.explore import explore

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train = read_split("train", args.train_n)
    x_test, y_test = read_split("t10k")
    stores = write_stores(out, x_train, y_train, x_test, y_test)
    net = dict(batch=args.batch, lr=args.lr, decoder=args.decoder, amp=args.amp)
    plan = {}
    if budget:
        plan["vaearr_cpu_per_step"] = vaearr_cpu_per_step(stores["train"], out / "calibrate", **net)
        plan["plain_cpu_per_step"] = plain_cpu_per_step(x_train, **net)
        plan["vaearr_max_steps"] = int(PLAN * budget / plan["vaearr_cpu_per_step"])
        plan["plain_max_steps"] = int(PLAN * budget / plan["plain_cpu_per_step"])
        print(f"calibration: {plan['vaearr_cpu_per_step']:.4f} / {plan['plain_cpu_per_step']:.4f} CPU-s a step "
              f"(vaearr / plain) -> {plan['vaearr_max_steps']} / {plan['plain_max_steps']} steps", flush=True)
    t = time.perf_counter()
    ours = train_vaearr(stores["train"], out / "run", x_test, epochs=epochs, max_steps=plan.get("vaearr_max_steps"),
                        **net)
    plain = train_plain(x_train, x_test, epochs=epochs, max_steps=plan.get("plain_max_steps"), **net)
    assert ours["params"] == plain["params"], (ours["params"], plain["params"])
    t_train = time.perf_counter() - t
    summary = {
        "question": ("test -ELBO (nats/image) against training CPU-seconds, vaearr's conv-vae and a plain-PyTorch "
                     "VAE of the same size" if budget else
                     "test -ELBO (nats/image) of vaearr's conv-vae vs a plain-PyTorch VAE of the same size, same training"),
        "budget_cpu_s": budget or None, "plan": plan, "epochs": epochs, "train_images": int(len(x_train)),
        "test_images": int(len(x_test)), "latent_dim": LATENT, "channels": list(CHANNELS), **net,
        "params": ours["params"], "vaearr": ours, "plain_pytorch": plain, "train_seconds_total": round(t_train, 1),
        "machine": {"cpu_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
    }
    if args.explore_n:
        t = time.perf_counter()
        res = explore(stores["test"], out / "run", out / "explore", n=args.explore_n, seed=0,
                      parts=("quality", "prototypes", "traversal", "manifold", "embeddings"), embeddings=("umap",),
                      n_line=10)
        summary["explore"] = {"seconds": round(time.perf_counter() - t, 1), "figures": res.summary["figures"],
                              "quality": res.summary.get("quality"), "n": res.summary["n_samples"]}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    for name, side in (("vaearr conv-vae", ours), ("plain PyTorch", plain)):
        print(f"\n{name}: {side['steps']} steps, {side['cpu_seconds']} CPU-s, {side['seconds']} s")
        print("| epoch | step | CPU-s | test -ELBO |\n|---|---|---|---|")
        for h in side["history"]:
            print(f"| {h['epoch']} | {h['step']} | {h['cpu_seconds']} | {h['test_neg_elbo']:.2f} |")
    if args.explore_n:
        print(f"figures in {out / 'explore'}")
    return summary


if __name__ == "__main__":
    raise SystemExit(harness.script(__file__, main))
