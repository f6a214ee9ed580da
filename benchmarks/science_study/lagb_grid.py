"""How the low-angle boundary rule was chosen: a grid on the seed-2024 maps (``lagb_grid_output.txt``).

For each grain interior (the true grain boundaries dilated by one pixel cut the map; this study
used the true ones, ``vaearr boundaries`` uses the ones it finds), the background-divided,
blurred, normalised patterns (``vaearr.maps.boundaries.prepare_patterns``) are projected on
the interior's first ``k`` principal directions; each edge gets the Welch t² of the ``along ×
deep`` boxes either side (``welch_edges``); ridges (non-maximum suppression) more than 2 px from
a grain boundary and 1 px inside the map are kept by hysteresis ``lo / hi`` as 8-connected lines
of at least ``L`` pixels. Scores: low-angle F1 (1-px tolerance), marked / true, marked pixels on
the sub-grain map, and marked pixels (all false) on the clean and noisy maps.

Before this, the same t² on whole patterns (no projection) stayed ≈ 1 everywhere (the 0.5° step
is spread over few of the 3 600 pixel dims and drowned by shot noise in the rest), and a global
PCA to 32 components lost the step on two of three seeds (128 kept it). Run from this folder
after ``python simulate.py``.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import MAPS  # noqa: E402

from vaearr.maps.boundaries import (  # noqa: E402
    boundary_f1,
    grain_interiors,
    principal_projection,
)
from vaearr.maps.edges import prepare_patterns, ridge_strength, welch_edges  # noqa: E402


def load(name: str):
    p = np.load(MAPS / f"{name}_patterns.npy")
    bg = p.reshape(-1, *p.shape[2:]).astype(np.float64).mean(0).astype(np.float32)
    return prepare_patterns(p, bg, 1.0), np.load(MAPS / f"{name}_gb.npy"), np.load(MAPS / f"{name}_lagb.npy")


def ridge_of(f, gb, k, along, deep):
    labels, _ = grain_interiors(gb)
    right, down = np.full(gb.shape, np.nan), np.full(gb.shape, np.nan)
    for g, sl in enumerate(ndi.find_objects(labels), start=1):
        w = labels[sl] == g
        z = np.zeros((*w.shape, k))
        z[w] = principal_projection(f[sl][w], k)
        r, d = welch_edges(z, w, along, deep), welch_edges(np.swapaxes(z, 0, 1), w.T, along, deep).T
        right[sl] = np.where(np.isfinite(r), r, right[sl])
        down[sl] = np.where(np.isfinite(d), d, down[sl])
    ridge = ridge_strength(right, down)
    near = ndi.binary_dilation(gb, np.ones((3, 3), bool), iterations=2)
    core = ndi.binary_erosion(np.ones(gb.shape, bool), np.ones((3, 3), bool), border_value=0)
    return np.where(core & ~near, ridge, 0.0)


def lines(ridge, lo, hi, length):
    lab, n = ndi.label(ridge >= lo, np.ones((3, 3), bool))
    idx = np.arange(1, n + 1)
    keep = np.zeros(n + 1, bool)
    if n:
        keep[1:] = (np.asarray(ndi.sum_labels(np.ones_like(ridge), lab, idx)) >= length) & \
                   (np.asarray(ndi.maximum(ridge, lab, idx)) >= hi)
    return keep[lab]


def main() -> None:
    maps = {k: load(k) for k in ("subgrains", "clean", "noisy")}
    for k, (along, deep) in itertools.product((1, 2), ((5, 2), (5, 3), (7, 3))):
        ridges = {name: ridge_of(f, gb, k, along, deep) for name, (f, gb, _) in maps.items()}
        for (lo, hi), length in itertools.product(((4, 12), (5, 12), (5, 16), (6, 20)), (3, 5, 8)):
            m = {name: lines(r, lo, hi, length) for name, r in ridges.items()}
            s = boundary_f1(m["subgrains"], maps["subgrains"][2])
            print(f"k={k} box={along}x{deep} hysteresis={lo}/{hi} L={length}: sub-grain F1 {s['f1']:.3f} "
                  f"marked/true {s['ratio_marked']:.2f} ({int(m['subgrains'].sum())} px); "
                  f"clean {int(m['clean'].sum())} px, noisy {int(m['noisy'].sum())} px", flush=True)


if __name__ == "__main__":
    main()
