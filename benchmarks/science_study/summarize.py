"""Markdown tables from results.jsonl (baselines and VAE runs), per map.

Run: .venv/bin/python summarize.py [--group]   (--group: mean ± half-range over seeds)
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from common import HERE

rows = [json.loads(line) for line in open(HERE / "results.jsonl")]
group = "--group" in sys.argv


def f(v, nd=3):
    return "–" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def ms(vals, nd=3):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{m:.{nd}f}"
    return f"{m:.{nd}f}±{(max(vals) - min(vals)) / 2:.{nd}f}"


for name in ("clean", "noisy", "subgrains"):
    sub = name == "subgrains"
    print(f"\n### {name}: baselines\n")
    cols = "| method | input | size | fit CPU s | grain ARI all | grain ARI interior | BIC k (grain) | BIC-k ARI |" + (
        " sub ARI all | sub ARI interior | BIC k (sub) | BIC-k ARI (sub) |" if sub else "")
    print(cols)
    print("|" + "---|" * (cols.count("|") - 1))
    for r in rows:
        if r["kind"] != "baseline" or r["map"] != name:
            continue
        line = (f"| {r['method']} | {r['recipe']} | {r['size']} | {r['fit_cpu_s']} | {f(r['grain_ari_all'])} | "
                f"{f(r['grain_ari_interior'])} | {r.get('grain_bic_k', '–')} | {f(r.get('grain_bic_ari_all'))} |")
        if sub:
            line += (f" {f(r['sub_ari_all'])} | {f(r['sub_ari_interior'])} | {r.get('sub_bic_k', '–')} | "
                     f"{f(r.get('sub_bic_ari_all'))} |")
        print(line)
    vae = [r for r in rows if r["kind"] == "vae" and r["map"] == name]
    if not vae:
        continue
    print(f"\n### {name}: VAE variants (GMM on posterior means; PCA(16) of the same input beside)\n")
    hdr = ("| tag | input | head | β | warm-up | free bits | TV | latent | epochs | n seeds | active | KL nats | recon | SSE | "
           "grain ARI all | grain ARI int | PCA grain all |")
    if sub:
        hdr += " sub ARI all | sub ARI int | PCA sub all | PCA sub int | VAE sub int, 3×3-smoothed μ | PCA sub int, 3×3-smoothed |"
    hdr += " train CPU s |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    groups = defaultdict(list)
    for r in vae:
        key = (r["tag"], r["recipe"], r["head"], r["beta"], r["warmup"], r["cycles"], r["free_bits"], r["tv"], r.get("tv_start"), r.get("tv_ramp"), r.get("tv_norm"),
               r["latent"], tuple(r["channels"]), r["epochs"], r["size"], r["lr"])
        groups[key if group else key + (r["seed"],)].append(r)
    for key, rs in groups.items():
        r = rs[0]
        g = lambda k, nd=3: ms([x.get(k) for x in rs], nd)  # noqa: E731
        warm = f"cyc{r['cycles']}" if r["cycles"] else f(r["warmup"], 0)
        tag = r["tag"] + ("" if group else f" s{r['seed']}")
        line = (f"| {tag} | {r['recipe']}@{r['size']} | {r['head']} | {r['beta']} | {warm} | {r['free_bits']} | "
                f"{r['tv']}{'n' if r.get('tv_norm') else ''}{'' if not r.get('tv_ramp') else '@' + str(r['tv_start']) + '+' + str(r['tv_ramp'])} | {r['latent']} | {r['epochs']} | {len(rs)} | {g('active', 1)} | {g('kl', 1)} | "
                f"{g('recon', 1)} | {g('sse', 1)} | {g('vae_grain_ari_all')} | {g('vae_grain_ari_interior')} | "
                f"{g('pca_grain_ari_all')} |")
        if sub:
            line += (f" {g('vae_sub_ari_all')} | {g('vae_sub_ari_interior')} | {g('pca_sub_ari_all')} | "
                     f"{g('pca_sub_ari_interior')} | {g('vae_s3_sub_ari_interior')} | {g('pca_s3_sub_ari_interior')} |")
        line += f" {g('train_cpu_s', 0)} |"
        print(line)
