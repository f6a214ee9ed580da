"""Benchmark inputs: a multi-GB pattern file tiled from a simulated map (seconds per GB, not a simulation per pattern)."""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from vaearr.data.simulated import (
    band_contrast,
    noisy_patterns,
    progress_blocks,
    scan_coords,
    simulate_scene,
    spawn_rngs,
)

# --------------------------------------------------------------------------------------------
# a big file for the ingest benchmark


@dataclass(frozen=True)
class BigFile:
    """What :func:`make_big_hdf5` wrote, and how fast.

    Attributes
    ----------
    path
        The HDF5 file.
    n_patterns
        Patterns written (``scan_shape[0] * scan_shape[1]``).
    scan_shape, pattern_shape
        (Y, X) and (py, px).
    raw_bytes, file_bytes
        Uncompressed pattern bytes and the file's size on disk.
    seconds
        Wall time of the whole call (simulating the pool included).
    write_seconds
        Wall time of generating, compressing and writing the patterns.
    mb_per_s
        Uncompressed MB (1e6 bytes) of patterns written per second of ``write_seconds``.
    """

    path: Path
    n_patterns: int
    scan_shape: tuple[int, int]
    pattern_shape: tuple[int, int]
    raw_bytes: int
    file_bytes: int
    seconds: float
    write_seconds: float
    mb_per_s: float


def big_scan_shape(n_patterns: int) -> tuple[int, int]:
    """A near-square scan (Y, X) for ``n_patterns``: exact if a factorisation with X/Y ≤ 2 exists.

    Otherwise X = ceil(√n) and Y = ceil(n / X), so the scan holds up to X − 1 more patterns.

    Examples
    --------
    >>> big_scan_shape(1_100_000)
    (1000, 1100)
    >>> big_scan_shape(5001)
    (71, 71)
    """
    n = int(n_patterns)
    if n < 1:
        raise ValueError(f"n_patterns must be >= 1, got {n_patterns}")
    for ny in range(math.isqrt(n), 0, -1):
        if n % ny == 0:
            if n // ny <= 2 * ny:
                return ny, n // ny
            break
    nx = math.isqrt(n - 1) + 1
    return -(-n // nx), nx


def _reflect(i: np.ndarray, m: int) -> np.ndarray:
    """Positions ``i`` folded into ``0..m−1``, mirrored at every edge (a tiling whose grains continue across)."""
    i = i % (2 * m)
    return np.where(i < m, i, 2 * m - 1 - i)


def _write_chunks(dset: h5py.Dataset, make_chunk: Callable[[int], bytes], n_chunks: int, chunk: int, workers: int,
                  progress: bool) -> None:
    """Deflated chunks made in a thread pool, written in order; at most 2×workers in flight, so memory stays flat."""
    with cf.ThreadPoolExecutor(workers) as ex:
        pending: dict[int, cf.Future] = {}
        nxt = 0
        for sl in progress_blocks(n_chunks, 1, progress, "write patterns"):
            c = sl.start
            while nxt < n_chunks and len(pending) < 2 * workers:
                pending[nxt] = ex.submit(make_chunk, nxt)
                nxt += 1
            dset.id.write_direct_chunk((c * chunk, 0, 0), pending.pop(c).result())


@dataclass(frozen=True)
class BigPool:
    """The small simulated map that :func:`make_big_hdf5` tiles into a big one.

    Attributes
    ----------
    patterns
        (qy·qx, py, px) uint8 noisy patterns, in row-major scan order.
    grain
        (qy, qx) int grain ids.
    background
        (py, px) float32 static background the patterns were simulated with (for :func:`band_contrast`).
    """

    patterns: np.ndarray
    grain: np.ndarray
    background: np.ndarray

    def save(self, path: str | os.PathLike) -> Path:
        """Write the pool to an ``.npz`` (compressed) that :meth:`load` reads; returns the path."""
        path = Path(path)
        np.savez_compressed(path, patterns=self.patterns, grain=self.grain, background=self.background)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> BigPool:
        """A pool :meth:`save` wrote."""
        with np.load(Path(path)) as z:
            return cls(patterns=z["patterns"], grain=z["grain"], background=z["background"])


def big_pool(pool_shape: tuple[int, int] = (64, 64), pattern_shape: tuple[int, int] = (60, 60),
             seed: int = 0) -> BigPool:
    """Simulate the pool :func:`make_big_hdf5` tiles (as :func:`build_demo_map`: grains and a pore; needs kikuchipy)."""
    qy, qx = (int(v) for v in pool_shape)
    py, px = (int(v) for v in pattern_shape)
    sc = simulate_scene((qy, qx), (py, px), max(4, qy * qx // 300), seed, 0.08, False)
    r_pool, _ = spawn_rngs(seed + 2_000_003, 2)
    patterns = noisy_patterns(sc, np.arange(qy * qx), 1.0, r_pool).reshape(qy * qx, py, px)
    return BigPool(patterns=patterns, grain=np.asarray(sc.grain), background=np.asarray(sc.background))


def make_big_hdf5(
    path: str | os.PathLike,
    n_patterns: int,
    *,
    pattern_shape: tuple[int, int] = (60, 60),
    chunk: int = 1024,
    seed: int = 0,
    level: int = 1,
    scan_shape: tuple[int, int] | None = None,
    pool_shape: tuple[int, int] = (64, 64),
    huffman_only: bool = True,
    workers: int | None = None,
    progress: bool = False,
    bandcontrast_csv: str | os.PathLike | None = None,
    pool: BigPool | str | os.PathLike | None = None,
) -> BigFile:
    """Write a large simulated pattern file, ``/patterns`` (N, py, px) uint8 gzip, for benchmarks.

    A ``pool_shape`` demo map is simulated (as :func:`build_demo_map`, ~4 000 noisy patterns,
    grains and a pore); the big scan tiles it, mirrored at every tile edge so grains continue
    across, and adds to each pattern one of 61 stored noise frames picked at random, so no
    two neighbouring tiles are byte-identical. Chunks are generated and deflated in a thread
    pool and written with ``write_direct_chunk``; memory stays at a few chunks whatever N.

    Layout as the demo's ``patterns.h5``: ``/patterns`` in row-major scan order, ``/x``, ``/y``
    (N,) float64 µm (step 1), ``/grain_id`` (N,) int32 (pool grain ids), attrs ``step``,
    ``shape``, ``seed``, ``note``.

    Parameters
    ----------
    path
        File to write (replaced if present).
    n_patterns
        Patterns wanted; the scan is :func:`big_scan_shape` of it unless ``scan_shape`` is given.
        1 200 000 patterns of 60×60 (a 1000 × 1200 scan) are 4.3 GB uncompressed.
    pattern_shape
        (py, px).
    chunk
        Patterns per HDF5 chunk (1024 × 60 × 60 = 3.7 MB).
    seed
        Seed of the pool map and of the per-pattern noise.
    level
        gzip level (1–9); 1 is fastest, noisy patterns barely compress more at higher levels.
    huffman_only
        Deflate with zlib's Huffman-only strategy: a standard gzip chunk any HDF5 reader
        decodes, compressed ~2.5× faster (noisy patterns have few repeats for LZ77 to find)
        and ~8% larger than h5py's own gzip. False writes exactly what h5py would.
    scan_shape
        Explicit (Y, X); then N = Y·X.
    pool_shape
        Scan shape of the simulated pool map.
    workers
        Threads that generate and compress chunks (default: CPU count).
    progress
        Show a progress bar.
    bandcontrast_csv
        Also write ``x,y,bandcontrast`` here (as the demo's ``bandcontrast.csv``): the pool's
        :func:`band_contrast` tiled the same way as the patterns, for ``vaearr roi --bc-otsu``.
    pool
        The tiled map, as :func:`big_pool` gives it or an ``.npz`` that :meth:`BigPool.save` wrote
        (default: simulated here from ``pool_shape``, ``pattern_shape`` and ``seed``, which needs
        kikuchipy). A saved pool lets a machine without the ``ebsd`` extra write the same file.

    Returns
    -------
    BigFile
    """

    t0 = time.perf_counter()
    ny, nx = big_scan_shape(n_patterns) if scan_shape is None else (int(scan_shape[0]), int(scan_shape[1]))
    py, px = (int(v) for v in pattern_shape)
    n = ny * nx
    chunk = max(1, min(int(chunk), n))
    if not 1 <= level <= 9:
        raise ValueError(f"gzip level must be 1..9, got {level}")

    if pool is None:
        pool = big_pool(pool_shape, (py, px), seed)
    elif not isinstance(pool, BigPool):
        pool = BigPool.load(pool)
    if pool.patterns.shape[1:] != (py, px):
        raise ValueError(f"the pool's patterns are {pool.patterns.shape[1:]}, not the pattern_shape {(py, px)}")
    qy, qx = pool.grain.shape
    _, r_frames = spawn_rngs(seed + 2_000_003, 2)
    frames = np.rint(r_frames.normal(0, 1.5, size=(61, py * px))).astype(np.int16)
    flat = pool.patterns.reshape(qy * qx, py * px)

    strategy = zlib.Z_HUFFMAN_ONLY if huffman_only else zlib.Z_DEFAULT_STRATEGY

    def make_chunk(c: int) -> bytes:
        start, stop = c * chunk, min((c + 1) * chunk, n)
        iy, ix = np.divmod(np.arange(start, stop), nx)
        src = _reflect(iy, qy) * qx + _reflect(ix, qx)
        rng = np.random.default_rng([seed, c])
        out = np.zeros((chunk, py * px), np.uint8)  # HDF5 stores edge chunks full size
        v = flat[src].astype(np.int16)
        v += frames[rng.integers(0, len(frames), stop - start)]
        np.clip(v, 0, 255, out=v)
        out[: stop - start] = v
        z = zlib.compressobj(level, zlib.DEFLATED, 15, 8, strategy)
        return z.compress(out.data) + z.flush()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside and renamed in at the end: an interrupted run leaves no plausible file
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    t_write = time.perf_counter()
    x, y = scan_coords((ny, nx), 1.0)
    iy, ix = np.divmod(np.arange(n), nx)
    n_chunks = -(-n // chunk)
    workers = workers or os.cpu_count() or 1
    try:
        with h5py.File(tmp, "w") as f:
            dset = f.create_dataset(
                "patterns", shape=(n, py, px), dtype=np.uint8, chunks=(chunk, py, px),
                compression="gzip", compression_opts=level, track_times=False,
            )
            _write_chunks(dset, make_chunk, n_chunks, chunk, workers, progress)
            f.create_dataset("x", data=x).attrs["units"] = "µm"
            f.create_dataset("y", data=y).attrs["units"] = "µm"
            f.create_dataset("grain_id", data=pool.grain[_reflect(iy, qy), _reflect(ix, qx)])
            f.attrs.update(
                step=1.0, shape=[ny, nx], seed=seed, pattern_shape=[py, px], pool_shape=[qy, qx],
                note=(
                    "SIMULATED benchmark file from benchmarks.data.make_big_hdf5: a simulated Ni map "
                    f"of {qy}x{qx} patterns tiled (mirrored) with per-pattern noise; not a measurement."
                ),
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    t_end = time.perf_counter()  # the pattern file alone: the table below is not in its MB/s
    if bandcontrast_csv is not None:
        bc = band_contrast(pool.patterns, pool.background)
        src = _reflect(iy, qy) * qx + _reflect(ix, qx)
        table = Path(bandcontrast_csv)
        tmp = table.with_name(f".{table.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:  # renamed in at the end, as the HDF5: no half-written table
            with open(tmp, "w") as f:
                f.write("x,y,bandcontrast\n")
                np.savetxt(f, np.column_stack([x, y, np.rint(bc[src])]), fmt="%.9g", delimiter=",")
            os.replace(tmp, table)
        finally:
            tmp.unlink(missing_ok=True)
    raw = n * py * px
    return BigFile(
        path=path, n_patterns=n, scan_shape=(ny, nx), pattern_shape=(py, px), raw_bytes=raw,
        file_bytes=path.stat().st_size, seconds=t_end - t0, write_seconds=t_end - t_write,
        mb_per_s=raw / 1e6 / (t_end - t_write),
    )
