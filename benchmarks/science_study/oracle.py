"""Diagnostic: how separable are the sub-grains pixel by pixel, given the truth?

For each input (sub-std, sub-std-nav3 at 32 and 60), classify every pixel to the nearest class mean
(class means from the true sub-grain labels; each pixel compared only with the two sub-grains of its
true grain, i.e. the grain is given) and report the sub-grain ARI of that labelling. This is the
best a per-pixel method that already knows the grains could do with a nearest-mean (matched
filter) rule; it uses the truth, so it is a ceiling estimate, not a method.
Run: nice -n 15 .venv/bin/python oracle.py
"""
import json

import numpy as np
from common import HERE, interior, load_map, preprocess
from sklearn.metrics import adjusted_rand_score

m = load_map("subgrains")
sub, grain = m["subgrains"].ravel(), m["grains"].ravel()
inside = interior(m["subgrains"]).ravel()
for size in (32, 60):
    for recipe in ("sub-std", "sub-std-nav3"):
        x = preprocess(m["patterns"], recipe, size).reshape(len(sub), -1)
        means = np.stack([x[(sub == s) & inside].mean(0) for s in range(20)])
        d = ((x[:, None, :] - means[None, [0, 1], :]) ** 2).sum(-1) if False else None
        pred = np.empty_like(sub)
        for g in range(10):
            idx = grain == g
            d0 = ((x[idx] - means[2 * g]) ** 2).sum(1)
            d1 = ((x[idx] - means[2 * g + 1]) ** 2).sum(1)
            pred[idx] = np.where(d0 <= d1, 2 * g, 2 * g + 1)
        rec = {"kind": "oracle", "map": "subgrains", "size": size, "recipe": recipe,
               "sub_ari_all": float(adjusted_rand_score(sub, pred)),
               "sub_ari_interior": float(adjusted_rand_score(sub[inside], pred[inside])),
               "sub_accuracy_all": float((pred == sub).mean())}
        print(json.dumps(rec))
        with open(HERE / "oracle.jsonl", "a") as fh:
            fh.write(json.dumps(rec) + "\n")
