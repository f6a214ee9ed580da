"""Shared pieces: loading the maps, preprocessing functions of a (Y, X, py, px) array, GMM scoring.

Every preprocessing function takes and returns a (Y, X, py, px) array, so each could be ported
into vaearr as a map-level transform.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

HERE = Path(__file__).resolve().parent
MAPS = HERE / "maps"


def load_map(name: str) -> dict[str, np.ndarray]:
    d = {k: np.load(MAPS / f"{name}_{k}.npy") for k in ("patterns", "grains", "subgrains", "gb", "lagb")}
    d["name"] = name
    return d


# ---------------------------------------------------------------- preprocessing (Y, X, py, px)
def to_unit_range(p: np.ndarray) -> np.ndarray:
    """vaearr's old default: grey levels / 255 → [0, 1]."""
    return p.astype(np.float32) / 255.0


def static_background(p: np.ndarray) -> np.ndarray:
    """The map's mean pattern (py, px): the usual estimate of the static background."""
    return p.reshape(-1, *p.shape[-2:]).astype(np.float64).mean(axis=0).astype(np.float32)


def remove_static_background(p: np.ndarray, mode: str = "subtract") -> np.ndarray:
    """Subtract the map's mean pattern (``subtract``) or divide by it (``divide``)."""
    bg = static_background(p)
    p = p.astype(np.float32)
    return p - bg if mode == "subtract" else p / np.maximum(bg, 1.0)


def remove_dynamic_background(p: np.ndarray, sigma: float = 8.0) -> np.ndarray:
    """Subtract each pattern's own Gaussian blur (sigma in detector pixels): a high-pass, as kikuchipy's dynamic background removal."""
    return p - ndi.gaussian_filter(p, (0, 0, sigma, sigma), mode="nearest")


def standardise(p: np.ndarray) -> np.ndarray:
    """Per-pattern zero mean, unit standard deviation."""
    p = p - p.mean(axis=(-2, -1), keepdims=True)
    return p / np.maximum(p.std(axis=(-2, -1), keepdims=True), 1e-8)


def neighbour_average(p: np.ndarray, size: int = 3, sigma: float | None = None) -> np.ndarray:
    """Average each pattern with its neighbours in a size x size window of the scan (inside the map only).

    ``sigma=None``: uniform weights; otherwise Gaussian weights exp(-r^2/2sigma^2). At the map's edge
    the weights are renormalised over the pixels that exist (kikuchipy's average_neighbour_patterns
    does the same).
    """
    r = size // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    w = np.ones((size, size)) if sigma is None else np.exp(-(yy**2 + xx**2) / (2 * sigma**2))
    ny, nx = p.shape[:2]
    out = np.zeros(p.shape, np.float32)
    norm = np.zeros((ny, nx), np.float32)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            wt = float(w[dy + r, dx + r])
            ys, yd = slice(max(dy, 0), ny + min(dy, 0)), slice(max(-dy, 0), ny + min(-dy, 0))
            xs, xd = slice(max(dx, 0), nx + min(dx, 0)), slice(max(-dx, 0), nx + min(-dx, 0))
            out[yd, xd] += wt * p[ys, xs]
            norm[yd, xd] += wt
    return out / norm[..., None, None]


def resize_patterns(p: np.ndarray, size: int) -> np.ndarray:
    """Area-average (anti-aliased) resize of every pattern to size x size (via torch adaptive avg pool)."""
    if p.shape[-1] == size and p.shape[-2] == size:
        return p
    import torch
    from torch.nn import functional as F

    t = torch.from_numpy(np.ascontiguousarray(p.reshape(-1, 1, *p.shape[-2:]), dtype=np.float32))
    t = F.interpolate(t, size=(size, size), mode="area")
    return t.numpy().reshape(*p.shape[:2], size, size)


def preprocess(p: np.ndarray, recipe: str, size: int = 32) -> np.ndarray:
    """Named recipes, each a chain of the functions above. Returns float32 (Y, X, size, size).

    ``unit``      /255 (old vaearr default).
    ``sub-std``   static background subtracted, per-pattern standardised.
    ``div-std``   divided by static background, standardised.
    ``sub-dyn-std`` subtract static bg, subtract dynamic bg (sigma 8 px of 60), standardise.
    ``...-nav3`` / ``-nav3g`` / ``-nav5``  add 3x3 uniform / 3x3 Gaussian(sigma 1) / 5x5 uniform neighbour averaging
                  of the background-corrected patterns before standardising.
    Resizing to ``size`` happens on the raw grey levels first (area average).
    """
    x = resize_patterns(p.astype(np.float32), size)
    parts = recipe.split("-")
    if parts[0] == "unit":
        return x / 255.0
    x = remove_static_background(x, "subtract" if parts[0] == "sub" else "divide")
    if "dyn" in parts:
        x = remove_dynamic_background(x, 8.0 * size / 60)
    for q in parts:
        if q == "nav3":
            x = neighbour_average(x, 3)
        elif q == "nav3g":
            x = neighbour_average(x, 3, sigma=1.0)
        elif q == "nav5":
            x = neighbour_average(x, 5)
    return standardise(x).astype(np.float32)


# ---------------------------------------------------------------- scoring
def interior(labels: np.ndarray) -> np.ndarray:
    """Pixels none of whose 4-neighbours carries another label (both sides of every boundary excluded)."""
    m = np.ones(labels.shape, bool)
    d = labels[:, :-1] != labels[:, 1:]
    m[:, :-1] &= ~d
    m[:, 1:] &= ~d
    d = labels[:-1, :] != labels[1:, :]
    m[:-1, :] &= ~d
    m[1:, :] &= ~d
    return m


def gmm_ari(feats: np.ndarray, labels: np.ndarray, k: int | None = None, n_init: int = 5) -> dict:
    """GMM(k = number of true labels) on (N, d) features; ARI on all pixels and on interior pixels."""
    labels2d = labels
    labels = labels.ravel()
    k = k or len(np.unique(labels))
    t = time.time()
    feats = np.asarray(feats, np.float64)
    try:
        gm = GaussianMixture(n_components=k, n_init=n_init, random_state=0, covariance_type="full").fit(feats)
        reg = 1e-6
    except ValueError:  # a collapsed component: retry with a larger covariance floor (recorded)
        gm = GaussianMixture(n_components=k, n_init=n_init, random_state=0, covariance_type="full",
                             reg_covar=1e-3 * float(feats.var(0).mean())).fit(feats)
        reg = "1e-3*var"
    pred = gm.predict(feats)
    inside = interior(labels2d).ravel()
    return {"ari_all": float(adjusted_rand_score(labels, pred)),
            "ari_interior": float(adjusted_rand_score(labels[inside], pred[inside])),
            "gmm_s": time.time() - t, "reg_covar": reg}


def bic_ari(feats: np.ndarray, labels: np.ndarray, ks, n_init: int = 2) -> dict:
    """Pick k by BIC over ``ks`` (n_init=2 per k to keep it cheap); ARI of that k on all pixels."""
    best = None
    feats = np.asarray(feats, np.float64)
    for k in ks:
        try:
            gm = GaussianMixture(n_components=k, n_init=n_init, random_state=0, covariance_type="full").fit(feats)
        except ValueError:  # collapsed component at this k: not a candidate
            continue
        b = gm.bic(feats)
        if best is None or b < best[0]:
            best = (b, k, gm.predict(feats))
    return {"bic_k": best[1], "bic_ari_all": float(adjusted_rand_score(labels.ravel(), best[2]))}


def score_features(feats: np.ndarray, m: dict, bic: bool = False) -> dict:
    """Grain ARI (k=10) and, on the sub-grain map, sub-grain ARI (k=20)."""
    out = {}
    g = gmm_ari(feats, m["grains"])
    out.update({"grain_ari_all": g["ari_all"], "grain_ari_interior": g["ari_interior"]})
    if g["reg_covar"] != 1e-6:
        out["grain_reg_covar"] = g["reg_covar"]
    if m["name"] == "subgrains":
        s = gmm_ari(feats, m["subgrains"])
        out.update({"sub_ari_all": s["ari_all"], "sub_ari_interior": s["ari_interior"]})
        if s["reg_covar"] != 1e-6:
            out["sub_reg_covar"] = s["reg_covar"]
    if bic:
        b = bic_ari(feats, m["grains"], range(6, 17, 2))
        out.update({"grain_bic_k": b["bic_k"], "grain_bic_ari_all": b["bic_ari_all"]})
        if m["name"] == "subgrains":
            b = bic_ari(feats, m["subgrains"], range(10, 31, 2))
            out.update({"sub_bic_k": b["bic_k"], "sub_bic_ari_all": b["bic_ari_all"]})
    return out


def pca_features(x: np.ndarray, n: int = 16) -> tuple[np.ndarray, float]:
    from sklearn.decomposition import PCA

    t = time.process_time()
    f = PCA(n_components=n, random_state=0).fit_transform(x.reshape(x.shape[0] * x.shape[1], -1))
    return f, time.process_time() - t
