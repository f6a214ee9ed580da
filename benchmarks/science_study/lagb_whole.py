"""Low-angle boundaries from whole patterns: the Welch t² of two boxes' mean patterns stays ≈ 1 (``lagb_whole_output.txt``).

The first attempt behind ``lagb_grid.py``, kept as it ran (scoring thresholds at median + z·MAD of
all edge values, ridges more than 2 px from the true grain boundaries). Run from this folder after
``python simulate.py``.
"""
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from vaearr.maps.boundaries import boundary_f1  # noqa: E402
from vaearr.maps.edges import prepare_patterns, ridge_strength  # noqa: E402

M = str(Path(__file__).resolve().parent / "maps") + "/"

def load(k):
    p = np.load(M + f'{k}_patterns.npy')
    bg = p.reshape(-1, 60, 60).astype(np.float64).mean(0).astype(np.float32)
    f = prepare_patterns(p, bg, 1.0).astype(np.float64)
    return f, np.load(M + f'{k}_gb.npy'), np.load(M + f'{k}_lagb.npy')

def box_sums(f, w, along, deep, axis):
    """For edges between (i,j),(i,j+1) [axis=1]: sums of f, counts, on left/right boxes."""
    if axis == 0:
        f = np.swapaxes(f, 0, 1); w = w.T
    ny, nx, d = f.shape
    fw = f * w[..., None]
    a = ndi.uniform_filter1d(fw, along, axis=0, mode='constant') * along
    aw = ndi.uniform_filter1d(w.astype(np.float64), along, axis=0, mode='constant') * along
    c = np.concatenate([np.zeros((ny, 1, d)), np.cumsum(a, axis=1)], axis=1)
    cw = np.concatenate([np.zeros((ny, 1)), np.cumsum(aw, axis=1)], axis=1)
    j = np.arange(nx - 1)
    lo, hi = np.maximum(0, j - deep + 1), np.minimum(nx, j + 1 + deep)
    sL, nL = c[:, j + 1] - c[:, lo], cw[:, j + 1] - cw[:, lo]
    sR, nR = c[:, hi] - c[:, j + 1], cw[:, hi] - cw[:, j + 1]
    return sL, nL, sR, nR, (w[:, :-1] & w[:, 1:])

def tstat(f, w, along, deep, axis):
    sL, nL, sR, nR, ok = box_sums(f, w, along, deep, axis)
    nL = np.maximum(nL, 1e-9); nR = np.maximum(nR, 1e-9)
    mL, mR = sL / nL[..., None], sR / nR[..., None]
    D2 = np.sum((mL - mR) ** 2, -1)
    # unit-norm features: sum ||f||^2 = n
    vL = (nL - nL * np.sum(mL**2, -1)) / np.maximum(nL - 1, 1e-9)
    vR = (nR - nR * np.sum(mR**2, -1)) / np.maximum(nR - 1, 1e-9)
    E = vL / nL + vR / nR
    r = D2 / np.maximum(E, 1e-30)
    r = np.where(ok & (nL >= 2) & (nR >= 2), r, np.nan)
    r = np.concatenate([r, np.full((r.shape[0], 1), np.nan)], axis=1)
    return r if axis == 1 else r.T

def score(pred, gb, lagb):
    f = boundary_f1(pred, lagb, 1)
    return f['f1'], f['ratio_marked'], int(pred.sum())

if __name__ == '__main__':
    maps = {k: load(k) for k in ['subgrains', 'clean', 'noisy']}
    for along, deep in [(3, 2), (5, 2), (5, 3), (7, 3)]:
        for k, (f, gb, lagb) in maps.items():
            w = np.ones(gb.shape, bool)
            R = tstat(f, w, along, deep, 1); Dn = tstat(f, w, along, deep, 0)
            ridge = ridge_strength(R, Dn)
            near = ndi.binary_dilation(gb, np.ones((3, 3), bool), iterations=2)
            core = ndi.binary_erosion(np.ones(gb.shape, bool), np.ones((3,3),bool), border_value=0)
            allv = np.concatenate([R[np.isfinite(R)], Dn[np.isfinite(Dn)]])
            med = np.median(allv); mad = 1.4826*np.median(np.abs(allv-med))
            interior = ridge[~near & core & (ridge > 0)]
            out = []
            for z in [3, 5, 8, 12]:
                thr = med + z*mad
                pred = (ridge > thr) & ~near & core
                out.append((z, *score(pred, gb, lagb)))
            print(along, deep, k, f'med {med:.2f} mad {mad:.3f} interior ridge pct50/90/99 {np.percentile(interior,[50,90,99]).round(2)}', [(z, round(a,3), round(b,2), c) for z,a,b,c in out], flush=True)
