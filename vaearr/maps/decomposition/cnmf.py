"""Non-negative weights for fixed components, and NMF with some components fixed (constrained NMF).

Constrained NMF after Chauniyal, Thome & Stricker (Microsc. Microanal. 2024): ``X ≈ W H`` with
``W ≥ 0``, ``H ≥ 0``, where the first rows of ``H`` are fixed to given (reference) patterns and
only ``W`` and the remaining free rows of ``H`` are updated. Both updates are HALS (hierarchical
alternating least squares: exact coordinate descent, one column of ``W`` or one free row of
``H`` at a time, clipped at zero), vectorised over pixels; the fixed rows are never written, so
they stay bit-identical to the patterns given.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.decomposition import NMF

_EPS = 1e-12


def _xht(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``X Hᵀ`` in float64, without a float64 copy of a float32 ``X`` (the big operand)."""
    if x.dtype == np.float32:
        return (x @ h.T.astype(np.float32)).astype(np.float64)
    return np.asarray(x, dtype=np.float64) @ h.T


def nn_weights(x: np.ndarray, h: np.ndarray, *, max_iter: int = 500, tol: float = 1e-7,
               w0: np.ndarray | None = None) -> np.ndarray:
    """Non-negative least squares ``min ‖X − W H‖ s.t. W ≥ 0`` for every row of ``X``, ``H`` fixed.

    Starts from the unconstrained least-squares weights clipped at 0 (exact when they are all
    non-negative) and runs HALS sweeps until the weights change by less than ``tol`` (relative).

    Parameters
    ----------
    x
        ``(n, f)`` rows.
    h
        ``(k, f)`` non-negative components.

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` float64 weights ≥ 0.

    Examples
    --------
    >>> h = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    >>> nn_weights(np.array([[2.0, 3.0, 5.0]]), h).round(6).tolist()
    [[2.0, 3.0]]
    """

    h = np.asarray(h, dtype=np.float64)
    g = h @ h.T
    b = _xht(x, h)
    if w0 is None:
        w = np.linalg.lstsq(g, b.T, rcond=None)[0].T
        np.maximum(w, 0.0, out=w)
    else:
        w = np.array(w0, dtype=np.float64)
    diag = np.maximum(np.diag(g), _EPS)
    for _ in range(max_iter):
        change = 0.0
        for j in range(h.shape[0]):
            new = np.maximum(w[:, j] + (b[:, j] - w @ g[:, j]) / diag[j], 0.0)
            change += float(((new - w[:, j]) ** 2).sum())
            w[:, j] = new
        if change <= tol ** 2 * max(float((w ** 2).sum()), _EPS):
            break
    return w


def cnmf_fit(x: np.ndarray, fixed: np.ndarray, n_free: int, *, max_iter: int = 300, tol: float = 1e-5,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Constrained NMF of ``x``: the rows of ``fixed`` are components as given, ``n_free`` more are learnt.

    Parameters
    ----------
    x
        ``(n, f)`` non-negative rows (the fit sample).
    fixed
        ``(r, f)`` non-negative fixed components (patterns at the reference pixels).
    n_free
        Free components added to the fixed ones (0: only the weights are fitted).

    Returns
    -------
    (weights, components, info)
        ``(n, r + n_free)`` weights, ``(r + n_free, f)`` components whose first ``r`` rows are
        ``fixed`` itself (same values, same dtype), and ``info`` with ``iterations`` and the
        relative reconstruction error ``relative_error`` of the sample.
    """

    fixed = np.asarray(fixed)
    x = np.asarray(x)
    x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)
    r = fixed.shape[0]
    f64 = fixed.astype(np.float64)
    sst = float((x.astype(np.float64) ** 2).sum())
    norm_x = max(np.sqrt(sst), _EPS)

    def rel_error(w: np.ndarray, h: np.ndarray, b: np.ndarray) -> float:
        # ‖X − W H‖² = ‖X‖² − 2 tr(Wᵀ X Hᵀ) + tr(WᵀW H Hᵀ): no n × f residual
        sse = sst - 2.0 * float((w * b).sum()) + float(((w.T @ w) * (h @ h.T)).sum())
        return float(np.sqrt(max(sse, 0.0)) / norm_x)

    if n_free == 0:
        w = nn_weights(x, f64)
        return w, fixed.copy(), {"iterations": 0, "relative_error": rel_error(w, f64, _xht(x, f64))}
    # free rows start from an NMF (nndsvda) of what the fixed rows leave unexplained
    w_fixed = nn_weights(x, f64) if r else np.zeros((x.shape[0], 0))
    resid = np.maximum(x - (w_fixed @ f64).astype(x.dtype), 0)
    if resid.max() > 0 and min(resid.shape) >= n_free:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            free = NMF(n_free, init="nndsvda", max_iter=50, random_state=seed).fit(resid).components_.astype(np.float64)
    else:
        free = np.random.default_rng(seed).random((n_free, x.shape[1])) * max(float(x.mean()), _EPS)
    del resid
    h = np.concatenate([f64, np.maximum(free, _EPS)])
    w = nn_weights(x, h, max_iter=20)
    prev, it, err = np.inf, 0, np.inf
    for it in range(1, max_iter + 1):
        wtw = w.T @ w
        wtx = (w.T.astype(x.dtype) @ x).astype(np.float64)
        for j in range(r, r + n_free):  # the free rows only: fixed rows are never written
            h[j] = np.maximum(h[j] + (wtx[j] - wtw[j] @ h) / max(wtw[j, j], _EPS), 0.0)
            if not h[j].any():  # a dead row: restart it at the worst-fitted pixel
                worst = int(((x - (w @ h).astype(x.dtype)) ** 2).sum(1).argmax())
                h[j] = np.maximum(x[worst].astype(np.float64), _EPS)
        w = nn_weights(x, h, max_iter=5, w0=w)
        err = rel_error(w, h, _xht(x, h))
        if it > 1 and prev - err <= tol * max(prev, _EPS):
            break
        prev = err
    # free rows scaled to the mean norm of the fixed rows (their weights scaled back)
    ref_norm = float(np.linalg.norm(f64, axis=1).mean()) if r else 1.0
    for j in range(r, r + n_free):
        s = float(np.linalg.norm(h[j])) / ref_norm
        if s > 0:
            h[j] /= s
            w[:, j] *= s
    dtype = fixed.dtype if r else np.float32
    comps = np.concatenate([fixed, h[r:].astype(dtype)]) if r else h.astype(dtype)
    return w, comps, {"iterations": it, "relative_error": err}
