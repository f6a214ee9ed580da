"""What the training window's chooser measures (:mod:`vaearr.maps.roi.window`): the map read in bands of rows, the
boundaries along them and their mean intercept (the grain size), the kinds of region and where each lies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans

#: A step between two patterns is a boundary where the noise-free correlation falls below this.
BOUNDARY_CORRELATION = 0.85
#: Patterns the chooser reads at most, in bands of BAND_ROWS rows spread over the map.
READ_PATTERNS = 65536
BAND_ROWS = 4
#: Masked pixels a line may step over between two patterns it compares.
GAP = 2
#: Kinds of region at most, the smallest share of the map a kind must hold to count, and the least fraction
#: of that share the window must hold.
MAX_KINDS = 16
MIN_KIND_SHARE = 0.01
COVER = 0.25


def read_bands(ny: int, nx: int, *, budget: int = READ_PATTERNS, rows: int = BAND_ROWS) -> list[tuple[int, int]]:
    """Bands of ``rows`` consecutive scan rows spread evenly over the map, about ``budget`` patterns in all
    (the whole map, as one band, when it holds no more)."""
    if ny * nx <= budget or ny <= rows:
        return [(0, ny)]
    n = max(1, min(ny // rows, budget // (rows * nx)))
    starts = np.unique(np.linspace(0, ny - rows, n).round().astype(int))
    return [(int(s), int(s) + rows) for s in starts]


def steps(features: np.ndarray, inside: np.ndarray, *, threshold: float = BOUNDARY_CORRELATION,
          gap: int = GAP) -> tuple[int, int, int]:
    """Crossings, steps and line length (pixels) of the boundaries along axis 1 of ``features (L, N, k)``.

    A step joins a pixel inside the mask to the next one inside along the line, with at most ``gap``
    masked pixels between; it is a boundary where the noise-free correlation of the two patterns falls
    below ``threshold``, and a run of boundary steps counts as one crossing.
    """
    n_lines, n, k = features.shape
    if n < 2:
        return 0, 0, 0
    norm2 = np.einsum("lnk,lnk->ln", features, features)
    taken = np.zeros((n_lines, n), bool)  # a step already leaves this pixel (at the shortest gap)
    boundary_from = np.zeros((n_lines, n), bool)  # the step leaving this pixel is a boundary
    boundary_into = np.zeros((n_lines, n), bool)  # the step arriving at this pixel is a boundary
    length = n_steps = 0
    for g in range(1, gap + 2):
        if g >= n:
            break
        ok = inside[:, :-g] & inside[:, g:] & ~taken[:, :-g]
        if g > 1:  # no pixel inside the mask between the two ends
            for j in range(1, g):
                ok &= ~inside[:, j:n - g + j]
        if not ok.any():
            continue
        a, b = features[:, :-g][ok], features[:, g:][ok]
        d2 = np.einsum("ik,ik->i", a - b, a - b)
        signal = norm2[:, :-g][ok] + norm2[:, g:][ok] - 2 * k
        r = 1 - (d2 - 2 * k) / np.maximum(signal, 1e-9)
        b_ = r < threshold
        taken[:, :-g] |= ok
        boundary_from[:, :-g][ok] = b_
        into = np.zeros_like(ok)
        into[ok] = b_
        boundary_into[:, g:] |= into
        length += g * int(ok.sum())
        n_steps += int(ok.sum())
    crossings = int((boundary_from & ~boundary_into).sum())
    return crossings, n_steps, length


def mean_intercept(bands: list[tuple[int, np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """The mean linear intercept (pixels) of the pattern-similarity boundaries along rows and columns of
    ``bands`` (first row, features (rows, nx, k), inside (rows, nx)): line length over crossings."""
    c = {"rows": [0, 0], "columns": [0, 0]}
    for _, f, inside in bands:
        cr, _, length = steps(f, inside)
        c["rows"][0] += cr
        c["rows"][1] += length
        cr, _, length = steps(f.transpose(1, 0, 2), inside.T)
        c["columns"][0] += cr
        c["columns"][1] += length
    crossings = c["rows"][0] + c["columns"][0]
    length = c["rows"][1] + c["columns"][1]
    out = {f"intercept_{d}": (v[1] / v[0] if v[0] else None) for d, v in c.items()}
    out.update(grain_size=length / crossings if crossings else None, crossings=crossings, line_length=length)
    return out


def centre_correlation(centres: np.ndarray) -> np.ndarray:
    """(K, K) correlation of the kinds' mean patterns, as :func:`steps` reads neighbours (means carry no noise)."""
    n2 = (centres ** 2).sum(1)
    d2 = ((centres[:, None] - centres[None]) ** 2).sum(-1)
    return 1 - d2 / np.maximum(n2[:, None] + n2[None], 1e-12)


def find_kinds(sample: np.ndarray, *, seed: int = 0, max_kinds: int = MAX_KINDS,
               threshold: float = BOUNDARY_CORRELATION) -> KMeans | None:
    """k-means of pattern coordinates ``sample (n, k)`` with the most clusters (up to ``max_kinds``) whose mean
    patterns are all distinct (their correlation below ``threshold``); None: one kind."""
    best = None
    for n in range(2, max_kinds + 1):
        if len(sample) < 4 * n:
            break
        km = KMeans(n_clusters=n, n_init=2, random_state=seed).fit(sample)
        r = centre_correlation(km.cluster_centers_)
        if (r[~np.eye(n, dtype=bool)] >= threshold).any():
            break
        best = km
    return best


class KindGrid:
    """Kinds of region on the rows read: per kind, a summed-area table over (rows read, columns) that counts its
    pixels in any box, and the map's shares."""

    def __init__(self, rows: np.ndarray, labels: np.ndarray, n_kinds: int, shape: tuple[int, int]):
        self.rows, self.shape, self.n = rows, shape, n_kinds
        one_hot = (labels[None] == np.arange(n_kinds)[:, None, None]).astype(np.int64)  # (K, R, nx); −1: none
        self.table = np.zeros((n_kinds, len(rows) + 1, shape[1] + 1), np.int64)
        self.table[:, 1:, 1:] = one_hot.cumsum(1).cumsum(2)
        counts = self.table[:, -1, -1].astype(float)
        self.share = counts / max(counts.sum(), 1)

    def counts(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels of each kind in the box (among the rows read)."""
        a, b = np.searchsorted(self.rows, y0), np.searchsorted(self.rows, y1)
        t = self.table
        return t[:, b, x1] - t[:, a, x1] - t[:, b, x0] + t[:, a, x0]

    def cover(self, counts: np.ndarray) -> float:
        """The least, over kinds of at least :data:`MIN_KIND_SHARE` of the map, of the window's share of the kind
        over the map's (1: as in the map); 0 when the box holds no pixel read."""
        total = counts.sum()
        if total == 0:
            return 0.0
        big = self.share >= MIN_KIND_SHARE
        return float(np.min(counts[big] / total / self.share[big])) if big.any() else 1.0

    def held(self, counts: np.ndarray) -> int:
        """How many kinds of at least :data:`MIN_KIND_SHARE` of the map the box holds at :data:`COVER` of their share."""
        total = counts.sum()
        big = self.share >= MIN_KIND_SHARE
        if total == 0 or not big.any():
            return 0
        return int((counts[big] / total / self.share[big] >= COVER).sum())

    def divergence(self, counts: np.ndarray) -> float:
        """Kullback–Leibler divergence (nats) of the window's kinds from the map's (∞ when the window misses one)."""
        q = counts / max(counts.sum(), 1)
        p = self.share
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p / q), 0.0)
        return float(terms.sum())


def place(grid: KindGrid, side: tuple[int, int], inside: np.ndarray) -> tuple[tuple[int, int, int, int], float]:
    """The box of ``side`` (rows, columns) whose kinds cover the map's best (:meth:`KindGrid.cover`; ties: the
    most kinds held, :meth:`KindGrid.held`, then the most pixels inside the mask), and its cover."""
    ny, nx = grid.shape
    sy, sx = min(side[0], ny), min(side[1], nx)
    stride = max(1, min(sy, sx) // 8)
    ys = sorted({*range(0, ny - sy + 1, stride), ny - sy})
    xs = sorted({*range(0, nx - sx + 1, stride), nx - sx})
    sat = np.zeros((ny + 1, nx + 1), np.int64)
    sat[1:, 1:] = inside.astype(np.int64).cumsum(0).cumsum(1)
    best, best_key = (0, sy, 0, sx), (-1.0, -1, -1)
    for y0 in ys:
        for x0 in xs:
            counts = grid.counts(y0, y0 + sy, x0, x0 + sx)
            n_in = int(sat[y0 + sy, x0 + sx] - sat[y0, x0 + sx] - sat[y0 + sy, x0] + sat[y0, x0])
            key = (grid.cover(counts), grid.held(counts), n_in)
            if key > best_key:
                best, best_key = (y0, y0 + sy, x0, x0 + sx), key
    return best, best_key[0]
