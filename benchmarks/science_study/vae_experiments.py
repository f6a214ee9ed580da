"""VAE variants on the simulated EBSD maps, with vaearr's own conv-VAE (vaearr.models.ConvVAEConfig).

One command line per experiment; each appends one JSON line to results.jsonl. Examples:

  nice -n 15 .venv/bin/python vae_experiments.py --map subgrains --recipe unit --head sigmoid-bce --tag a
  nice -n 15 .venv/bin/python vae_experiments.py --map subgrains --recipe sub-std --head linear-mse --tag b
  nice -n 15 .venv/bin/python vae_experiments.py --map subgrains --recipe sub-std --head gauss --tag c
  ... --recipe sub-std-nav3 --head gauss --beta 0.5 --warmup 5 --free-bits 0.25 --tv 1.0 --epochs 30

What is new here (not in vaearr yet), each written to be portable into vaearr:
  * preprocessing recipes: common.preprocess (static background removal, dynamic background removal,
    neighbour averaging, per-pattern standardisation), functions of a (Y, X, py, px) array;
  * ``gaussian_nll``: Gaussian likelihood with one learned log-sigma per model, nats per pattern;
  * ``kl_terms``: KL per latent dim, with free bits (per-dim KL averaged over the batch, floored at
    lambda nats, as Kingma et al. 2016);
  * ``kl_schedule``: linear warm-up or cyclical (Fu et al. 2019) multiplier on the KL;
  * ``tv_penalty``: total-variation-like (Charbonnier) penalty between the posterior means of
    each pixel and one random 4-neighbour in the scan (weight --tv, optionally switched on at
    --tv-start epochs and ramped up over --tv-ramp epochs, so that the latents are in use first).
Evaluation (eval mode, z = mu): active units (variance over the map of each mu dim > 0.01),
KL nats/pattern, reconstruction loss (the head's own and the plain sum of squared errors per
pattern on the model's input scale), GMM ARI on the posterior means (grains k=10, sub-grains
k=20, all pixels and interior pixels), and the same for PCA(16) of exactly the same input, with
and without 3x3 smoothing of the features over the scan. Training time: CPU seconds of this
single-threaded process.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
from torch import Tensor, nn

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from common import (  # noqa: E402
    HERE,
    load_map,
    neighbour_average,
    pca_features,
    preprocess,
    score_features,
)

from vaearr.models import ConvVAEConfig, build_model  # noqa: E402
from vaearr.models.base import reparameterise  # noqa: E402

torch.set_num_threads(1)
LOG2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------ portable loss pieces
def gaussian_nll(x: Tensor, recon: Tensor, log_sigma: Tensor) -> Tensor:
    """-log N(x | recon, sigma^2 I), summed over a pattern's pixels, averaged over the batch (nats/pattern)."""
    n = x[0].numel()
    sq = (x - recon).pow(2).flatten(1).sum(1)
    return (0.5 * sq * torch.exp(-2 * log_sigma) + n * (log_sigma + 0.5 * LOG2PI)).mean()


def kl_terms(mu: Tensor, logvar: Tensor, free_bits: float = 0.0) -> tuple[Tensor, Tensor]:
    """(KL to optimise, true KL), nats per pattern. Free bits: sum_d max(free_bits, mean_batch KL_d)."""
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, D)
    true = per_dim.sum(1).mean()
    if free_bits > 0:
        return torch.clamp(per_dim.mean(0), min=free_bits).sum(), true
    return true, true


def kl_schedule(step: int, steps_per_epoch: int, warmup_epochs: float, cycles: int, total_steps: int) -> float:
    """KL multiplier: 1; linear 0→1 over ``warmup_epochs``; or ``cycles`` cyclical ramps (0→1 over half a cycle)."""
    if cycles > 0:
        period = total_steps / cycles
        return min(1.0, (step % period) / (0.5 * period))
    if warmup_epochs > 0:
        return min(1.0, step / (warmup_epochs * steps_per_epoch))
    return 1.0


def tv_penalty(mu_a: Tensor, mu_b: Tensor, eps: float = 0.1, logvar_a: Tensor | None = None,
               logvar_b: Tensor | None = None) -> Tensor:
    """Charbonnier (smooth L1, edge-preserving) distance between neighbours' posterior means, summed over dims, batch mean.

    With the log-variances given, each difference is divided by the (detached) mean posterior std of
    the pair, so the term cannot be lowered by shrinking the whole latent scale.
    """
    d = mu_a - mu_b
    if logvar_a is not None:
        d = d / torch.exp(0.5 * torch.logaddexp(logvar_a, logvar_b) - 0.5 * math.log(2)).detach()
    return (torch.sqrt(d.pow(2) + eps**2) - eps).sum(1).mean()


# ------------------------------------------------------------------ experiment
def neighbours(ny: int, nx: int, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random 4-neighbour (inside the map) of each flat pixel index."""
    y, x = np.divmod(idx, nx)
    out = np.empty_like(idx)
    for i, (yy, xx) in enumerate(zip(y, x, strict=True)):
        cand = [(yy + dy, xx + dx) for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= yy + dy < ny and 0 <= xx + dx < nx]
        a, b = cand[rng.integers(len(cand))]
        out[i] = a * nx + b
    return out


def run(a: argparse.Namespace) -> dict:
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    m = load_map(a.map)
    x_map = preprocess(m["patterns"], a.recipe, a.size)  # (Y, X, s, s)
    ny, nx = x_map.shape[:2]
    x = torch.from_numpy(x_map.reshape(-1, 1, a.size, a.size).copy())
    n = x.shape[0]

    head = {"gauss": "linear-mse", "gauss-fixed": "linear-mse"}.get(a.head, a.head)
    cfg = ConvVAEConfig(input_shape=(1, a.size, a.size), latent_dim=a.latent, channels=tuple(a.channels),
                        beta=a.beta, output=head, data_range="[0,1]" if a.recipe == "unit" else "[-1,1]")
    model = build_model(cfg)
    log_sigma = nn.Parameter(torch.tensor(math.log(a.sigma)), requires_grad=(a.head == "gauss"))
    params = list(model.parameters()) + ([log_sigma] if a.head == "gauss" else [])
    opt = torch.optim.Adam(params, lr=a.lr)
    spe = math.ceil(n / a.batch)
    total = spe * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))

    def losses(xb: Tensor, kl_w: float, mu_nb: Tensor | None = None, tv_w: float = 0.0,
               lv_nb: Tensor | None = None) -> dict:
        mu, logvar = model.encode(xb)
        z = reparameterise(mu, logvar) if model.training else mu
        logits = model.decode_logits(z)
        recon = model._head(logits)
        if a.head == "sigmoid-bce":
            rec = nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="none").flatten(1).sum(1).mean()
        elif a.head in ("gauss", "gauss-fixed"):
            rec = gaussian_nll(xb, recon, log_sigma)
        else:  # vaearr's linear-mse / tanh-mse: sum of squares
            rec = (recon - xb).pow(2).flatten(1).sum(1).mean()
        kl_opt, kl = kl_terms(mu, logvar, a.free_bits)
        loss = rec + a.beta * kl_w * kl_opt
        tv = torch.zeros(())
        if mu_nb is not None:
            tv = tv_penalty(mu, mu_nb, logvar_a=logvar if a.tv_norm else None, logvar_b=lv_nb if a.tv_norm else None)
            loss = loss + tv_w * tv
        return {"loss": loss, "rec": rec, "kl": kl, "tv": tv, "mu": mu, "logvar": logvar, "recon": recon}

    t_cpu, t_wall = time.process_time(), time.time()
    step = 0
    history = []
    g = torch.Generator().manual_seed(a.seed)
    model.train()
    for ep in range(a.epochs):
        perm = torch.randperm(n, generator=g)
        acc = np.zeros(4)
        for b in range(spe):
            idx = perm[b * a.batch:(b + 1) * a.batch]
            xb = x[idx]
            kl_w = kl_schedule(step, spe, a.warmup, a.cycles, total)
            mu_nb = lv_nb = None
            if a.tv > 0:
                nb = torch.from_numpy(neighbours(ny, nx, idx.numpy(), rng))
                mu_nb, lv_nb = model.encode(x[nb])
            tv_w = a.tv * (min(1.0, max(0.0, (step / spe - a.tv_start) / a.tv_ramp)) if a.tv_ramp > 0 else 1.0)
            out = losses(xb, kl_w, mu_nb, tv_w, lv_nb)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 100.0)
            opt.step()
            sched.step()
            step += 1
            acc += [float(out[k].detach()) for k in ("loss", "rec", "kl", "tv")]
        acc /= spe
        history.append([round(v, 3) for v in acc])
        if a.verbose:
            print(f"ep {ep} loss {acc[0]:.2f} rec {acc[1]:.2f} kl {acc[2]:.2f} tv {acc[3]:.3f} "
                  f"sigma {math.exp(float(log_sigma)):.3f} {time.time() - t_wall:.0f}s", flush=True)
    train_cpu = time.process_time() - t_cpu
    train_wall = time.time() - t_wall

    # ---- evaluation: z = mu
    model.eval()
    mus, rec_sum, kl_sum, sse_sum = [], 0.0, 0.0, 0.0
    with torch.no_grad():
        for b in range(0, n, 256):
            xb = x[b:b + 256]
            o = losses(xb, 1.0)
            mus.append(o["mu"])
            k = len(xb)
            rec_sum += float(o["rec"]) * k
            kl_sum += float(o["kl"]) * k
            sse_sum += float((o["recon"] - xb).pow(2).flatten(1).sum(1).sum())
    mu = torch.cat(mus).numpy()
    var = mu.var(axis=0)
    feats_s = neighbour_average(mu.reshape(ny, nx, 1, -1), 3).reshape(n, -1)  # 3x3 smoothing of features
    rec = {
        "kind": "vae", "tag": a.tag, "map": a.map, "size": a.size, "recipe": a.recipe, "head": a.head,
        "beta": a.beta, "warmup": a.warmup, "cycles": a.cycles, "free_bits": a.free_bits, "tv": a.tv, "tv_start": a.tv_start, "tv_norm": a.tv_norm, "tv_ramp": a.tv_ramp,
        "latent": a.latent, "channels": a.channels, "epochs": a.epochs, "lr": a.lr, "batch": a.batch, "seed": a.seed,
        "active": int((var > 0.01).sum()), "mu_var_sorted": [round(float(v), 4) for v in np.sort(var)[::-1]],
        "kl": kl_sum / n, "recon": rec_sum / n, "sse": sse_sum / n,
        "sigma": math.exp(float(log_sigma)) if a.head in ("gauss", "gauss-fixed") else None,
        "train_cpu_s": round(train_cpu, 1), "train_wall_s": round(train_wall, 1), "history": history,
    }
    rec.update({f"vae_{k}": v for k, v in score_features(mu, m).items()})
    rec.update({f"vae_s3_{k}": v for k, v in score_features(feats_s, m).items()})
    f, _ = pca_features(x_map, a.latent)
    rec.update({f"pca_{k}": v for k, v in score_features(f, m).items()})
    f = neighbour_average(f.reshape(ny, nx, 1, -1), 3).reshape(n, -1)
    rec.update({f"pca_s3_{k}": v for k, v in score_features(f, m).items()})
    if a.save_mu:
        np.save(HERE / "latents" / f"{a.tag}_{a.map}_s{a.seed}.npy", mu.reshape(ny, nx, -1))
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--map", default="subgrains", choices=["clean", "noisy", "subgrains"])
    ap.add_argument("--size", type=int, default=32, help="patterns resized (area average) to size x size")
    ap.add_argument("--recipe", default="sub-std", help="see common.preprocess")
    ap.add_argument("--head", default="linear-mse", choices=["sigmoid-bce", "linear-mse", "gauss", "gauss-fixed"],
                    help="gauss: Gaussian NLL with learned sigma; gauss-fixed: fixed --sigma")
    ap.add_argument("--sigma", type=float, default=1.0, help="initial (gauss) or fixed (gauss-fixed) sigma")
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=0.0, help="linear KL warm-up, epochs")
    ap.add_argument("--cycles", type=int, default=0, help="cyclical KL annealing cycles (overrides warmup)")
    ap.add_argument("--free-bits", type=float, default=0.0, help="nats per latent dim")
    ap.add_argument("--tv", type=float, default=0.0, help="weight of the neighbour (TV) term on posterior means")
    ap.add_argument("--tv-norm", action="store_true", help="TV on differences divided by the posterior std")
    ap.add_argument("--tv-start", type=float, default=0.0, help="epoch at which the TV weight starts to ramp up")
    ap.add_argument("--tv-ramp", type=float, default=0.0, help="epochs over which the TV weight ramps 0→tv (0: full from the start)")
    ap.add_argument("--latent", type=int, default=16)
    ap.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    ap.add_argument("--save-mu", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results.jsonl"))
    a = ap.parse_args()
    rec = run(a)
    line = json.dumps(rec)
    print(line, flush=True)
    with open(a.out, "a") as fh:
        fh.write(line + "\n")


if __name__ == "__main__":
    main()
