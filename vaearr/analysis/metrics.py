"""The association metrics of one pair of variables, and the compiled kernels behind them.

Each variable is prepared once (:func:`prepare`: standardised values, ranks, ties, row sums
of its distance matrix, bins); a pair then costs one Fenwick-tree pass (Kendall's τ and the
distance covariance together) and a few histogram products (:func:`pair_metrics`). See
:mod:`vaearr.analysis.association` for the metrics' definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaearr.numba_cache import lazy_njit
# moved to vaearr.analysis.association_options; importable from here too
from vaearr.analysis.association_options import (  # noqa: F401
    METRICS, SIGNED, HSIC_EXACT_MAX, AssociationOptions,
)


# --------------------------------------------------------------------------------------------
# per-variable preparation


@dataclass
class Var:
    """Everything the metrics need from one variable, computed once."""

    z: np.ndarray  # standardised values (n,)
    zs: np.ndarray | None  # z sorted (x side)
    rank_z: np.ndarray  # standardised average ranks (Spearman's ρ is their mean product)
    perm: np.ndarray | None  # argsort (x side)
    pos: np.ndarray | None  # int32 position of each value in the sorted order, the inverse of perm (y side)
    dense: np.ndarray | None  # dense ranks, 1-based (n,), ties share a rank (y side)
    start: np.ndarray | None  # start[d]: 0-based position of the first value of dense rank d when sorted (y side)
    dense_sorted: np.ndarray | None  # dense ranks in sorted order (x side)
    tie_lo: np.ndarray | None  # sorted-order [tie_lo[g], tie_hi[g]) are the groups of equal values (size > 1; x side)
    tie_hi: np.ndarray | None
    ties: float  # Σ t(t−1)/2 over groups of equal values (Kendall's tie term)
    rowsum: np.ndarray  # a_i. = Σ_j |z_i − z_j|
    dvar: float  # distance variance (V-statistic)
    resid: np.ndarray | None  # standardised residual after the spatial trend
    mi_bin: np.ndarray | None
    hsic: tuple | None  # ("exact", centred kernel) or ("binned", grid index, grid kernel, counts)


def _standardise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    c = v - v.mean()
    s = np.sqrt((c * c).mean())
    return c / s if s > 0 else c


#: Fields of :class:`Var` only the first (x) or only the second (y) variable of a pair needs.
X_ONLY = ("zs", "perm", "dense_sorted", "tie_lo", "tie_hi")
Y_ONLY = ("pos", "dense", "start")


def prepare(v: np.ndarray, opts: AssociationOptions, trend_q: np.ndarray | None, side: str = "both") -> Var:
    """Everything the metrics need from ``v``, once. ``side`` ``"x"`` or ``"y"`` keeps only what the
    variable needs as the first or second of :func:`pair_metrics` (on a map of a million pixels a
    prepared reference kept for every latent dim is about 60 MB instead of 90 MB)."""
    n = v.size
    z = _standardise(v)
    # stability is not needed: ties share their ranks, and the pair kernel orders tied values itself
    perm = np.argsort(z)
    zs = z[perm]
    ranks = _ranks(zs, perm)
    avg_rank, dense, pos, rowsum, dense_sorted, starts, counts, total = ranks
    ties = float((counts * (counts - 1) // 2).sum())
    s1 = 2.0 * n * (z * z).sum() - 2.0 * total**2
    dvar = s1 / n**2 - 2.0 * (rowsum * rowsum).sum() / n**3 + rowsum.sum() ** 2 / n**4
    resid = None
    if "partial_pearson" in opts.metrics and trend_q is not None:
        resid = _standardise(z - trend_q @ (trend_q.T @ z))
    mi_bin = None
    if "mutual_information" in opts.metrics:
        mi_bin = np.minimum(((avg_rank - 1.0) * opts.mi_bins / n).astype(np.int32), opts.mi_bins - 1)
    hsic = _hsicprepare(z, zs, opts) if "hsic" in opts.metrics else None
    start = np.zeros(starts.size + 1, dtype=np.int64)
    start[1:] = starts
    big = counts > 1
    var = Var(z=z, zs=zs, rank_z=_standardise(avg_rank), perm=perm, pos=pos, dense=dense, start=start,
              dense_sorted=dense_sorted, tie_lo=starts[big], tie_hi=(starts + counts)[big], ties=ties,
              rowsum=rowsum, dvar=float(dvar), resid=resid, mi_bin=mi_bin, hsic=hsic)
    for name in {"x": Y_ONLY, "y": X_ONLY}.get(side, ()):
        setattr(var, name, None)
    return var


@lazy_njit(nogil=True, cache=True)
def _ranks(zs, perm):  # pragma: no cover - compiled
    """A compiled pass over the sorted values: ranks, tie groups and distance row sums together."""
    n = zs.size
    dense_sorted = np.empty(n, np.int64)
    ngroups = 0
    for k in range(n):
        if k == 0 or zs[k] != zs[k - 1]:
            ngroups += 1
        dense_sorted[k] = ngroups
    starts = np.empty(ngroups, np.int64)
    counts = np.zeros(ngroups, np.int64)
    for k in range(n):
        g = dense_sorted[k] - 1
        if counts[g] == 0:
            starts[g] = k
        counts[g] += 1
    total = 0.0
    for k in range(n):
        total += zs[k]
    avg_rank = np.empty(n)
    dense = np.empty(n, np.int64)
    pos = np.empty(n, np.int32)
    rowsum = np.empty(n)
    prefix = 0.0  # Σ of the values before position k
    for k in range(n):
        j = perm[k]
        g = dense_sorted[k] - 1
        # average rank of a tie group: the mean of the 1-based positions it spans
        avg_rank[j] = starts[g] + (counts[g] + 1) / 2.0
        dense[j] = g + 1
        pos[j] = k
        v = zs[k]
        # Σ_i |z_k − z_i| = (k·z_k − Σ before) + (Σ after − (n − k − 1)·z_k)
        rowsum[j] = v * k - prefix + (total - prefix - v) - v * (n - k - 1)
        prefix += v
    return avg_rank, dense, pos, rowsum, dense_sorted, starts, counts, total


def trend_basis(coords: np.ndarray, order: int) -> np.ndarray:
    """Orthonormal basis (n, m) of the polynomials of the coordinates of total degree ≤ ``order``."""
    c = np.asarray(coords, dtype=np.float64)
    lo, hi = c.min(0), c.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    u = 2.0 * (c - lo) / span - 1.0  # scaled to [-1, 1] so powers stay well conditioned
    cols = [u[:, 0] ** a * u[:, 1] ** b for a in range(order + 1) for b in range(order + 1 - a)]
    q, _ = np.linalg.qr(np.stack(cols, axis=1))
    return q


# --------------------------------------------------------------------------------------------
# HSIC


def _median_pairwise_exact(z: np.ndarray) -> float:
    d = np.abs(z[:, None] - z[None, :])
    iu = np.triu_indices(z.size, 1)
    med = float(np.median(d[iu]))
    return med if med > 0 else 1.0


def _hsicprepare(z: np.ndarray, zs: np.ndarray, opts: AssociationOptions) -> tuple:
    n = z.size
    if n <= opts.hsic_exact_max:
        med = _median_pairwise_exact(z)
        k = np.exp(-((z[:, None] - z[None, :]) ** 2) / (2.0 * med**2))
        kc = k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()
        return ("exact", kc, float((kc * kc).sum()))
    b = opts.hsic_bins
    lo, hi = float(zs[0]), float(zs[-1])
    h = (hi - lo) / (b - 1) if hi > lo else 1.0
    idx = np.rint((z - lo) / h).astype(np.int32)
    counts = np.bincount(idx, minlength=b).astype(np.float64)
    grid = lo + h * np.arange(b)
    dist = np.abs(grid[:, None] - grid[None, :])
    # median pairwise distance (i ≠ j) from the binned pair-distance distribution: on the grid a
    # distance is h·m, and the number of ordered pairs m bins apart is 2·Σ_i c_i c_{i+m}
    # (m = 0: Σ c_i² − Σ c_i, the pairs inside one bin without the self-pairs)
    lag = np.correlate(counts, counts, mode="full")[b - 1:]
    lag[1:] *= 2.0
    lag[0] -= counts.sum()
    cum = np.cumsum(lag)
    med = h * float(np.searchsorted(cum, cum[-1] / 2.0))
    med = med if med > 0 else h
    kg = np.exp(-(dist**2) / (2.0 * med**2))
    kh = kg @ counts
    self_s1 = counts @ (kg * kg) @ counts
    self_s2 = counts @ (kh * kh)
    s3 = counts @ kh
    hsic_xx = self_s1 / n**2 - 2 * self_s2 / n**3 + s3**2 / n**4
    return ("binned", idx, kg, counts, kh, float(s3), float(hsic_xx))


def _hsic_pair(a: Var, b: Var, n: int) -> float:
    ha, hb = a.hsic, b.hsic
    if ha[0] == "exact":
        num = float((ha[1] * hb[1]).sum())
        den = np.sqrt(ha[2] * hb[2])
        return num / den if den > 0 else 0.0
    _, ia, kga, ca, kha, s3a, xxa = ha
    _, ib, kgb, cb, khb, s3b, xxb = hb
    ba, bb = kga.shape[0], kgb.shape[0]
    joint = _joint_counts(ia, ib, ba, bb)
    s1 = float((joint * (kga @ joint @ kgb)).sum())
    s2 = float(kha @ joint @ khb)
    hsic_xy = s1 / n**2 - 2 * s2 / n**3 + s3a * s3b / n**4
    den = np.sqrt(xxa * xxb)
    return hsic_xy / den if den > 0 else 0.0


# --------------------------------------------------------------------------------------------
# Kendall's tau-b and distance covariance in one Fenwick-tree pass


#: pairs inside blocks of this many elements are counted directly (cheaper than the first merge levels)
_BLOCK = 8


@lazy_njit(nogil=True, cache=True)
def _x_order(xperm, xtie_lo, xtie_hi, ydense, ypos, yties):  # pragma: no cover - compiled
    """1. Pixels in increasing x; inside a group of equal x, in increasing y (so that the tie corrections
    are exact): only the tie groups need sorting."""
    order = xperm.copy()
    for g in range(xtie_lo.size):
        lo = xtie_lo[g]
        hi = xtie_hi[g]
        seg = order[lo:hi].copy()
        keys = np.empty(hi - lo, np.int64)
        for t in range(hi - lo):
            keys[t] = ydense[seg[t]] if yties else ypos[seg[t]]
        idx = np.argsort(keys, kind="mergesort")
        for t in range(hi - lo):
            order[lo + t] = seg[idx[t]]
    return order


@lazy_njit(nogil=True, cache=True)
def _y_positions(order, xdense_sorted, ydense, ystart, ypos, yties, yz):  # pragma: no cover - compiled
    """2. ``p``: the y position of each pixel in that order, ``y`` its value, and ``ntie`` the pairs equal in
    both x and y. With ties in y they are broken by the x order, which makes p a permutation; pairs equal
    in both are contiguous now and counted."""
    n = order.size
    p = np.empty(n, np.int32)
    y = np.empty(n)
    ntie = 0.0
    if not yties:
        for k in range(n):
            j = order[k]
            p[k] = ypos[j]
            y[k] = yz[j]
        return p, y, ntie
    run = 1
    seen = np.zeros(ystart.size, np.int64)
    prev = -1
    for k in range(n):
        j = order[k]
        d = ydense[j]
        if k > 0 and xdense_sorted[k] == xdense_sorted[k - 1] and d == prev:
            run += 1
        else:
            ntie += run * (run - 1) / 2.0
            run = 1
        prev = d
        p[k] = ystart[d] + seen[d]
        seen[d] += 1
        y[k] = yz[j]
    ntie += run * (run - 1) / 2.0
    return p, y, ntie


@lazy_njit(nogil=True, cache=True)
def _block_pairs(p, x, y):  # pragma: no cover - compiled
    """3a. Blocks of :data:`_BLOCK` elements: every pair ``i < j`` with ``p_i < p_j`` counted directly, with
    Σ (x_j − x_i)(y_j − y_i) over them; then each block sorted by p (insertion), x and y moved along."""
    n = p.size
    lo_count = 0.0
    s_lo = 0.0
    for start in range(0, n, _BLOCK):
        end = min(start + _BLOCK, n)
        for jj in range(start + 1, end):
            pj = p[jj]
            xj = x[jj]
            yj = y[jj]
            for ii in range(start, jj):
                if p[ii] < pj:
                    lo_count += 1.0
                    s_lo += (xj - x[ii]) * (yj - y[ii])
        for jj in range(start + 1, end):
            pj = p[jj]
            xj = x[jj]
            yj = y[jj]
            ii = jj - 1
            while ii >= start and p[ii] > pj:
                p[ii + 1] = p[ii]
                x[ii + 1] = x[ii]
                y[ii + 1] = y[ii]
                ii -= 1
            p[ii + 1] = pj
            x[ii + 1] = xj
            y[ii + 1] = yj
    return lo_count, s_lo


@lazy_njit(nogil=True, cache=True)
def _merge_pairs(p, x, y, lo_count, s_lo):  # pragma: no cover - compiled
    """3b. Bottom-up merge sort of p from sorted blocks; while merging, each element of the right (later)
    half meets the left-half elements with a smaller p through running sums, so every pair ``i < j``
    with ``p_i < p_j`` across blocks is seen once, with sequential memory access. Adds to the counts."""
    n = p.size
    pb = np.empty_like(p)
    xb = np.empty_like(x)
    yb = np.empty_like(y)
    width = _BLOCK
    while width < n:
        for start in range(0, n, 2 * width):
            mid = min(start + width, n)
            end = min(start + 2 * width, n)
            i = start
            j = mid
            k = start
            c0 = 0.0
            c1 = 0.0
            c2 = 0.0
            c3 = 0.0
            while j < end:
                if i < mid and p[i] < p[j]:
                    xi = x[i]
                    yi = y[i]
                    c0 += 1.0
                    c1 += xi
                    c2 += yi
                    c3 += xi * yi
                    pb[k] = p[i]
                    xb[k] = xi
                    yb[k] = yi
                    i += 1
                else:  # once the left side is used up, the right rest still pairs with all of it
                    xj = x[j]
                    yj = y[j]
                    lo_count += c0
                    s_lo += xj * yj * c0 - xj * c2 - yj * c1 + c3
                    pb[k] = p[j]
                    xb[k] = xj
                    yb[k] = yj
                    j += 1
                k += 1
            # a left rest meets no right element: copied
            pb[k:end] = p[i:mid]
            xb[k:end] = x[i:mid]
            yb[k:end] = y[i:mid]
        p, pb = pb, p
        x, xb = xb, x
        y, yb = yb, y
        width *= 2
    return lo_count, s_lo


def _concordance(a: Var, b: Var) -> tuple[float, float, float]:
    """The pairs ``i < j`` in x order (x = ``a``) whose y (``b``) rises: their number, Σ of (x_j − x_i)(y_j − y_i)
    over them, and the number of pairs tied in both, in one merge-sort pass (compiled steps 1–3)."""
    yties = bool(b.ties > 0)
    order = _x_order(a.perm, a.tie_lo, a.tie_hi, b.dense, b.pos, yties)
    p, y, ntie = _y_positions(order, a.dense_sorted, b.dense, b.start, b.pos, yties, b.z)
    x = a.zs.copy()  # x values in x order whatever the order inside a tie group
    lo_count, s_lo = _block_pairs(p, x, y)
    lo_count, s_lo = _merge_pairs(p, x, y, lo_count, s_lo)
    return lo_count, s_lo, ntie


def _kendall_dcor_pair(a: Var, b: Var, n: int) -> tuple[float, float]:
    lo_count, s_lo, ntie = _concordance(a, b)
    tot = n * (n - 1) / 2.0
    # p broke every tie as "concordant": take back pairs tied in x, in y, and (counted in
    # both) tied in both
    con_minus_dis = 2.0 * lo_count - tot - a.ties - b.ties + ntie
    den = np.sqrt((tot - a.ties) * (tot - b.ties))
    tau = con_minus_dis / den if den > 0 else np.nan
    # Σ_{i<j in x order} |x_j − x_i||y_j − y_i| = 2·Σ_lo − Σ_all, Σ_all = nΣxy − ΣxΣy
    s_all = n * float(a.z @ b.z) - a.z.sum() * b.z.sum()
    s1 = 2.0 * (2.0 * s_lo - s_all)
    dcov = s1 / n**2 - 2.0 * float(a.rowsum @ b.rowsum) / n**3 + a.rowsum.sum() * b.rowsum.sum() / n**4
    dd = a.dvar * b.dvar
    dcor2 = dcov / np.sqrt(dd) if dd > 0 else 0.0
    return float(tau), float(np.sqrt(max(dcor2, 0.0)))


@lazy_njit(nogil=True, cache=True)
def _hist(ia, ib, out):  # pragma: no cover - compiled
    for k in range(ia.size):
        out[ia[k], ib[k]] += 1.0
    return out


def _joint_counts(ia: np.ndarray, ib: np.ndarray, na: int, nb: int) -> np.ndarray:
    """``(na, nb)`` float64 counts of the index pairs (a compiled loop that lets the other threads run)."""
    return _hist(ia, ib, np.zeros((na, nb)))


def compile_kernels() -> None:
    """Make every kernel's dispatcher once (compiled, or loaded from numba's cache, on its first call), before
    parallel threads race to."""
    for kernel in (_ranks, _x_order, _y_positions, _block_pairs, _merge_pairs):
        kernel.dispatcher()
    _joint_counts(np.zeros(1, np.int32), np.zeros(1, np.int32), 1, 1)


def _mi_pair(a: Var, b: Var, bins: int) -> float:
    joint = _joint_counts(a.mi_bin, b.mi_bin, bins, bins)
    n = joint.sum()
    pa, pb = joint.sum(1), joint.sum(0)
    nz = joint > 0
    return float((joint[nz] / n * (np.log(joint[nz] * n) - np.log(np.outer(pa, pb)[nz]))).sum())


def pearson_pair(u: np.ndarray, v: np.ndarray) -> float:
    # both standardised (mean 0, mean square 1): r is their mean product
    return float(np.clip((u @ v) / u.size, -1.0, 1.0))


def pair_metrics(a: Var, b: Var, n: int, opts: AssociationOptions) -> dict[str, float]:
    out: dict[str, float] = {}
    m = opts.metrics
    if "pearson" in m:
        out["pearson"] = pearson_pair(a.z, b.z)
    if "spearman" in m:
        out["spearman"] = pearson_pair(a.rank_z, b.rank_z)
    if "kendall" in m or "distance_correlation" in m:
        tau, dc = _kendall_dcor_pair(a, b, n)
        out["kendall"], out["distance_correlation"] = tau, dc
    if "mutual_information" in m:
        out["mutual_information"] = _mi_pair(a, b, opts.mi_bins)
    if "hsic" in m:
        out["hsic"] = _hsic_pair(a, b, n)
    if "partial_pearson" in m:
        out["partial_pearson"] = pearson_pair(a.resid, b.resid) if a.resid is not None else np.nan
    return {k: out[k] for k in m}
