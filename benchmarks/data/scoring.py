"""Scores of a map against the truth a simulator stored beside it (:mod:`benchmarks.data`): what the tests and the
benchmarks measure, not a step of the product (`vaearr boundaries` marks boundaries; this says how well)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi


def boundary_f1(pred: Any, true: Any, tolerance: int = 1) -> dict[str, float]:
    """Precision, recall and F1 of a boundary mask against the truth, within ``tolerance`` pixels.

    A marked pixel is right when a true boundary pixel lies within ``tolerance`` pixels
    (Chebyshev distance: the (2·tol+1)² square); a true pixel is found when a marked one does.
    ``ratio_marked`` = marked pixels / true pixels.

    Examples
    --------
    >>> t = np.zeros((5, 5), bool); t[:, 2] = True
    >>> p = np.zeros((5, 5), bool); p[:, 3] = True; p[0, 0] = True
    >>> {k: round(v, 3) for k, v in boundary_f1(p, t).items()}
    {'precision': 0.833, 'recall': 1.0, 'f1': 0.909, 'ratio_marked': 1.2}
    """
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    if pred.shape != true.shape:
        raise ValueError(f"shapes differ: {pred.shape} and {true.shape}")
    st = np.ones((2 * tolerance + 1,) * 2, bool)
    near_true = ndi.binary_dilation(true, st) if tolerance > 0 else true
    near_pred = ndi.binary_dilation(pred, st) if tolerance > 0 else pred
    n_pred, n_true = int(pred.sum()), int(true.sum())
    precision = float((pred & near_true).sum() / n_pred) if n_pred else (1.0 if not n_true else 0.0)
    recall = float((true & near_pred).sum() / n_true) if n_true else (1.0 if not n_pred else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": float(f1),
            "ratio_marked": float(n_pred / n_true) if n_true else (0.0 if not n_pred else float("inf"))}
