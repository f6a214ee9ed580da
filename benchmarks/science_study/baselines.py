"""Linear baselines on the same pixels as the VAEs: PCA(16) → GMM and NMF(16) → GMM.

Run:  nice -n 15 .venv/bin/python baselines.py [--maps clean noisy subgrains] [--sizes 60 32]
          [--recipes unit sub-std div-std sub-std-nav3] [--no-nmf] [--nmf-recipes div div-std-shift] [--bic]
(the results.jsonl here came from `baselines.py --bic` then `baselines.py --recipes --nmf-recipes div-std-shift --bic`)
Appends one JSON line per (map, size, method, recipe) to results.jsonl.
GMM: sklearn GaussianMixture(n_components=k_true, n_init=5, random_state=0, covariance_type="full").
Times are CPU seconds of this (single-threaded) process.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from common import (
    HERE,
    load_map,
    pca_features,
    preprocess,
    remove_static_background,
    resize_patterns,
    score_features,
)


def nmf_features(p: np.ndarray, size: int, n: int = 16, recipe: str = "div") -> tuple[np.ndarray, float]:
    """NMF on non-negative background-corrected patterns.

    ``div``: raw / static background (a ratio ~1, non-negative as it is).
    ``div-std-shift``: divided by the static background, standardised per pattern, then the map's
    minimum subtracted so that every value is >= 0.
    """
    from sklearn.decomposition import NMF

    if recipe == "div":
        x = remove_static_background(resize_patterns(p.astype(np.float32), size), "divide")
    else:
        x = preprocess(p, "div-std", size)
        x = x - x.min()
    x = np.clip(x, 0, None).reshape(x.shape[0] * x.shape[1], -1)
    t = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = NMF(n_components=n, init="nndsvda", max_iter=400, random_state=0).fit_transform(x)
    return f, time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--maps", nargs="+", default=["clean", "noisy", "subgrains"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[60, 32])
    ap.add_argument("--recipes", nargs="*", default=["unit", "sub-std", "div-std", "sub-std-nav3"])
    ap.add_argument("--no-nmf", action="store_true")
    ap.add_argument("--nmf-recipes", nargs="+", default=["div"], help="div and/or div-std-shift")
    ap.add_argument("--bic", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results.jsonl"))
    a = ap.parse_args()
    for name in a.maps:
        m = load_map(name)
        for size in a.sizes:
            runs = [("pca16", r) for r in a.recipes] + ([] if a.no_nmf else [("nmf16", r) for r in a.nmf_recipes])
            for method, recipe in runs:
                if method == "pca16":
                    f, fit_s = pca_features(preprocess(m["patterns"], recipe, size), 16)
                else:
                    f, fit_s = nmf_features(m["patterns"], size, recipe=recipe)
                rec = {"kind": "baseline", "map": name, "size": size, "method": method, "recipe": recipe,
                       "fit_cpu_s": round(fit_s, 2), **score_features(f, m, bic=a.bic)}
                print(json.dumps(rec), flush=True)
                with open(a.out, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
