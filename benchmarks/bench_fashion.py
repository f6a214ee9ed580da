"""Fashion-MNIST end to end: vaearr's conv-vae against a plain-PyTorch VAE of the same size, then latent exploration.

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

Run: ``python benchmarks/bench_fashion.py --epochs 3`` (``--train-n`` to use fewer training
images). Writes ``benchmarks/results/fashion.json`` and the exploration figures under
``--out`` (default ``out/bench_fashion``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FASHION = Path("/usr/share/datasets/fashion-mnist")
REPO = Path(__file__).resolve().parents[1]
LATENT, CHANNELS, BATCH, LR = 16, (32, 64), 128, 1e-3


class PlainVAE(nn.Module):
    """The conv-vae layout written out in plain PyTorch, for 1×28×28 inputs."""

    def __init__(self, latent: int = LATENT, channels: tuple[int, int] = CHANNELS):
        super().__init__()
        c1, c2 = channels
        self.enc = nn.Sequential(
            nn.Conv2d(1, c1, 3, 2, 1), nn.GroupNorm(math.gcd(8, c1), c1), nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 3, 2, 1), nn.GroupNorm(math.gcd(8, c2), c2), nn.LeakyReLU(0.2),
        )  # (B, c2, 7, 7)
        self.mu = nn.Linear(c2 * 49, latent)
        self.logvar = nn.Linear(c2 * 49, latent)
        self.fc = nn.Linear(latent, c2 * 49)
        self.dec = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(c2, c1, 3, 1, 1), nn.GroupNorm(math.gcd(8, c1), c1), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2), nn.Conv2d(c1, c1, 3, 1, 1), nn.GroupNorm(math.gcd(8, c1), c1), nn.LeakyReLU(0.2),
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


def train_plain(x_train: np.ndarray, x_test: np.ndarray, epochs: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = PlainVAE()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps = epochs * math.ceil(len(x_train) / BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    data = torch.from_numpy(x_train).float().div_(255.0)[:, None]
    g = torch.Generator().manual_seed(seed)
    history = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(data), generator=g)
        for start in range(0, len(data), BATCH):
            x = data[perm[start:start + BATCH]]
            mu, logvar = model.encode(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            loss = neg_elbo(model.decode_logits(z), x, mu, logvar)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        model.eval()
        history.append({"epoch": epoch + 1, "test_neg_elbo": test_neg_elbo(model.encode, model.decode_logits, x_test),
                        "seconds": round(time.perf_counter() - t0, 1)})
        print(f"plain   epoch {epoch + 1}: test -ELBO {history[-1]['test_neg_elbo']:.2f} nats/image", flush=True)
    return {"params": sum(p.numel() for p in model.parameters()), "history": history}


def train_vaearr(train_store: Path, run: Path, x_test: np.ndarray, epochs: int, seed: int = 0) -> dict:
    from vaearr.run import Run
    from vaearr.train import TrainConfig, fit

    shutil.rmtree(run, ignore_errors=True)
    cfg = TrainConfig(store=str(train_store), run=str(run), var="images", model="conv-vae", latent_dim=LATENT,
                      model_options={"channels": list(CHANNELS)}, epochs=epochs, batch_size=BATCH, lr=LR,
                      schedule="cosine", schedule_per="step", grad_clip=1.0, seed=seed, val_fraction=0.0,
                      tensorboard=False)
    t0 = time.perf_counter()
    result = fit(cfg, progress=False)
    seconds = time.perf_counter() - t0
    history = []
    for epoch in range(epochs):
        model = Run.open(run).model(epoch + 1)
        history.append({"epoch": epoch + 1, "test_neg_elbo": test_neg_elbo(model.encode, model.decode_logits, x_test),
                        "seconds": result.history[epoch]["seconds"], "train_loss": result.history[epoch]["train_loss"]})
        print(f"vaearr  epoch {epoch + 1}: test -ELBO {history[-1]['test_neg_elbo']:.2f} nats/image", flush=True)
    return {"params": sum(p.numel() for p in model.parameters()), "history": history, "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-n", type=int, default=None, help="training images (default all 60 000)")
    ap.add_argument("--explore-n", type=int, default=3000, help="test images the exploration encodes")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench_fashion")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "fashion.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from vaearr.store import write_variables
    from vaearr.viz.explore import explore

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train = read_split("train", args.train_n)
    x_test, y_test = read_split("t10k")
    stores = {}
    for kind, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        import xarray as xr

        path = out / f"fashion_{kind}.zarr"
        shutil.rmtree(path, ignore_errors=True)
        write_variables(path, {"images": xr.DataArray(x, dims=("sample", "row", "col"),
                                                      coords={"label": ("sample", y)})},
                        source=[str(FASHION)], chunks={"images": (4096, 28, 28)})
        stores[kind] = path
    t = time.perf_counter()
    ours = train_vaearr(stores["train"], out / "run", x_test, args.epochs)
    plain = train_plain(x_train, x_test, args.epochs)
    assert ours["params"] == plain["params"], (ours["params"], plain["params"])
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    res = explore(stores["test"], out / "run", out / "explore", n=args.explore_n, seed=0,
                  parts=("quality", "prototypes", "traversal", "manifold", "embeddings"), embeddings=("umap",),
                  n_line=10)
    t_explore = time.perf_counter() - t
    summary = {
        "question": "test -ELBO (nats/image) of vaearr's conv-vae vs a plain-PyTorch VAE of the same size, same training",
        "epochs": args.epochs, "train_images": int(len(x_train)), "test_images": int(len(x_test)),
        "latent_dim": LATENT, "channels": list(CHANNELS), "batch_size": BATCH, "lr": LR, "params": ours["params"],
        "vaearr": ours, "plain_pytorch": plain,
        "explore": {"seconds": round(t_explore, 1), "figures": res.summary["figures"],
                    "quality": res.summary.get("quality"), "n": res.summary["n_samples"]},
        "train_seconds_total": round(t_train, 1),
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print("| epoch | vaearr conv-vae | plain PyTorch |\n|---|---|---|")
    for a, b in zip(ours["history"], plain["history"], strict=True):
        print(f"| {a['epoch']} | {a['test_neg_elbo']:.2f} | {b['test_neg_elbo']:.2f} |")
    print(f"wrote {args.json}; figures in {out / 'explore'}")


if __name__ == "__main__":
    main()
