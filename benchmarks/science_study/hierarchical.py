"""Diagnostic: does a two-level mixture (grains first, then each grain split in two) find the sub-grains?

Reads a sub-grains store left by ``bench_science.py --maps subgrains --methods pca cnmf vae-new
--epochs 1 --data-dir /tmp/sci-smoke`` (so ``vae-new`` here is a 1-epoch model), and compares
per-pixel features: the decompose PCA weights, PCA(16) of the standardised patterns, the raw
standardised patterns and the 1-epoch VAE; then the same with the features averaged over a
(2r+1)² window inside the pixel's grain cluster. Output: ``hierarchical_output.txt``.
Run: .venv/bin/python benchmarks/science_study/hierarchical.py
"""
import numpy as np
import xarray as xr
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score as ari
from sklearn.mixture import GaussianMixture

from vaearr.data.subgrains import one_sided_boundaries
from vaearr.maps.boundaries import boundary_f1

ds = xr.open_zarr("/tmp/sci-smoke/subgrains.zarr")
sub = ds.subgrain_id.values.ravel(); grain = ds.grain_id.values.ravel()
lagb_true = ds.low_angle_boundaries_true.values
def feats_of(name):
    v = ds[name].transpose("y","x",...).values
    return v.reshape(v.shape[0]*v.shape[1], -1).astype(np.float64)
# standardised patterns PCA 16 at 60
p = ds.patterns.transpose("y","x","py","px").values.reshape(3072,-1).astype(np.float64)
p = p - p.mean(0); p -= p.mean(1, keepdims=True); p /= p.std(1, keepdims=True)
sources = {"pca_weights": feats_of("pca_weights"), "vae-new(1ep)": feats_of("vae-new"), "pca16-std": PCA(16, random_state=0).fit_transform(p), "raw-std": p}
for name, f in sources.items():
    g = GaussianMixture(10, n_init=5, random_state=0).fit_predict(f if f.shape[1] < 100 else PCA(16, random_state=0).fit_transform(f))
    lab = np.zeros_like(g)
    for c in np.unique(g):
        idx = g == c
        x = f[idx]
        x = PCA(min(8, x.shape[1]), random_state=0).fit_transform(x - x.mean(0))
        s = GaussianMixture(2, n_init=5, random_state=0, covariance_type="full").fit_predict(x)
        lab[idx] = 2 * c + s
    lab2 = lab.reshape(ds.grain_id.shape)
    gb, lagb = one_sided_boundaries(lab2, (lab2 // 2)) if False else (None, None)
    # low-angle boundary = right/lower neighbour same grain cluster, other sub-cluster
    L = np.zeros(lab2.shape, bool)
    G = g.reshape(lab2.shape)
    L[:, :-1] |= (G[:, :-1] == G[:, 1:]) & (lab2[:, :-1] != lab2[:, 1:])
    L[:-1, :] |= (G[:-1, :] == G[1:, :]) & (lab2[:-1, :] != lab2[1:, :])
    f1 = boundary_f1(L, lagb_true)
    print(f"{name:14s} grain ARI {ari(grain, g):.3f}  hierarchical sub ARI {ari(sub, lab):.3f}  LAGB from labels F1 {f1['f1']:.3f} ratio {f1['ratio_marked']:.2f}", flush=True)
print("--- with features averaged over a (2r+1)^2 window inside the same grain cluster")
def smooth_within(f, G, r):
    ny, nx = G.shape
    F = f.reshape(ny, nx, -1)
    out = np.zeros_like(F); cnt = np.zeros((ny, nx, 1))
    for dy in range(-r, r+1):
        for dx in range(-r, r+1):
            ys = slice(max(0, dy), ny + min(0, dy)); yd = slice(max(0, -dy), ny + min(0, -dy))
            xs = slice(max(0, dx), nx + min(0, dx)); xd = slice(max(0, -dx), nx + min(0, -dx))
            same = (G[ys, xs] == G[yd, xd])[..., None]
            out[yd, xd] += F[ys, xs] * same; cnt[yd, xd] += same
    return (out / cnt).reshape(ny*nx, -1)
for name in ("pca_weights", "pca16-std", "vae-new(1ep)"):
    f = sources[name]
    g = GaussianMixture(10, n_init=5, random_state=0).fit_predict(f)
    G = g.reshape(ds.grain_id.shape)
    for r in (1, 2, 3):
        fs = smooth_within(f, G, r)
        lab = np.zeros_like(g)
        for c in np.unique(g):
            idx = g == c
            x = fs[idx]; x = PCA(min(8, x.shape[1]), random_state=0).fit_transform(x - x.mean(0))
            lab[idx] = 2 * c + GaussianMixture(2, n_init=5, random_state=0).fit_predict(x)
        lab2 = lab.reshape(G.shape)
        L = np.zeros(lab2.shape, bool)
        L[:, :-1] |= (G[:, :-1] == G[:, 1:]) & (lab2[:, :-1] != lab2[:, 1:])
        L[:-1, :] |= (G[:-1, :] == G[1:, :]) & (lab2[:-1, :] != lab2[1:, :])
        f1 = boundary_f1(L, lagb_true)
        # flat GMM k=20 on smoothed feats as well
        flat = GaussianMixture(20, n_init=3, random_state=0).fit_predict(fs)
        print(f"{name:14s} r={r} hier sub ARI {ari(sub, lab):.3f}  flat-20 ARI {ari(sub, flat):.3f}  LAGB F1 {f1['f1']:.3f} ratio {f1['ratio_marked']:.2f}", flush=True)
