"""Diagnostic: does GMM(k=20) fail on PCA(16) features because of its initialisation?

Fits GMM(20, full) initialised at the TRUE sub-grain means of PCA(16) features (sub-std and
sub-std-nav3, 32x32) and reports its sub-grain ARI and mean log-likelihood next to the default
GMM (n_init=5, random_state=0). Uses the truth: a diagnostic, not a method.
Run: nice -n 15 .venv/bin/python gmm_diag.py
"""
import numpy as np
from common import interior, load_map, pca_features, preprocess
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

m = load_map("subgrains")
sub = m["subgrains"].ravel()
ins = interior(m["subgrains"]).ravel()
for rec in ("sub-std", "sub-std-nav3"):
    f, _ = pca_features(preprocess(m["patterns"], rec, 32), 16)
    f = f.astype(np.float64)
    means = np.stack([f[sub == s].mean(0) for s in range(20)])
    gm = GaussianMixture(20, covariance_type="full", means_init=means, random_state=0).fit(f)
    p = gm.predict(f)
    gm2 = GaussianMixture(20, covariance_type="full", n_init=5, random_state=0).fit(f)
    p2 = gm2.predict(f)
    print(rec, "truth-init GMM sub ARI all/int", round(adjusted_rand_score(sub, p), 3),
          round(adjusted_rand_score(sub[ins], p[ins]), 3), "mean loglik", round(gm.score(f), 3),
          "| default GMM sub ARI all", round(adjusted_rand_score(sub, p2), 3), "mean loglik", round(gm2.score(f), 3))
