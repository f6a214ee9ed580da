"""Neighbour pattern averaging (:mod:`vaearr.maps.roi.neighbours`): the window, the checks and names of a kernel,
standardised patterns, the rows a fit reads, and its three ways to average (a map, a block's window, a stream of rows)
giving the same bytes (against kikuchipy and on a real scan: ``tests/models/test_preprocess.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vaearr.maps.roi.neighbours as nb
from vaearr.errors import InputError
from vaearr.maps.roi.neighbours import NeighbourAverage, fit_rows, offsets, standardised


def test_the_window_centre_first() -> None:
    assert offsets(3)[0] == (0, 0) and len(offsets(3)) == 9 and len(offsets(5)) == 25
    assert sorted(offsets(3)) == sorted((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_a_kernel_checks_itself_and_names_its_variable() -> None:
    for kwargs, message in (({"size": 4}, r"^average_neighbours must be 3 or 5 \(0: off\), got 4$"),
                            ({"size": 3, "weighting": "gaussian"}, r"^neighbour_weights must be similarity or "
                                                                   r"uniform, got 'gaussian'$"),
                            ({"size": 3, "weighting": "similarity"}, r"need a fitted projection")):
        with pytest.raises(InputError, match=message):
            NeighbourAverage(**kwargs)
    uniform = NeighbourAverage(5)
    assert uniform.variable("patterns") == "patterns_avg5" and uniform.arrays() == {}
    assert json.loads(uniform.signature()) == {"kernel": 5, "weights": "uniform", "fit": None}
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (9, 10, 4, 4)).astype(np.uint8)
    bg = x.reshape(-1, 4, 4).mean(0) + 1
    sim = NeighbourAverage.fit(x, np.ones((9, 10), bool), size=3, background=bg, components=4)
    assert sim.variable("patterns") == "patterns_sim3" and sim.projection.shape == (16, 4)
    assert set(sim.arrays()) == {"background", "projection", "offset"}
    other = NeighbourAverage.fit(x, np.ones((9, 10), bool), size=3, background=bg, components=3)
    assert sim.signature() == NeighbourAverage(3, "similarity", **sim.arrays()).signature() != other.signature()
    with pytest.raises(InputError, match="too few neighbouring patterns to fit similarity weights"):
        NeighbourAverage.fit(x[:1, :2], np.ones((1, 2), bool), size=3, background=bg)


def test_standardised_patterns_and_the_rows_a_fit_reads() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(1, 5, (2, 3, 4, 5))
    bg = rng.uniform(1, 2, (4, 5))
    s = standardised(p, bg)
    v = (p[1, 2] / bg).ravel()
    assert s.shape == (2, 3, 20) and s.dtype == np.float32
    assert np.allclose(s[1, 2], (v - v.mean()) / v.std(), atol=1e-5)
    assert fit_rows(100, 1000).tolist() == fit_rows(100, 1000).tolist() and len(fit_rows(100, 1000)) == 8
    assert len(fit_rows(1000, 64)) == 64 and (np.diff(fit_rows(1000, 64)) > 0).all()
    assert fit_rows(6, 10).tolist() == list(range(6))


def test_the_windowed_average_equals_the_overlap_average_to_the_byte() -> None:
    """What a store's average is computed with (each block reads its window) against ``average``."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (23, 17, 6, 6)).astype(np.uint8)
    inside = rng.random((23, 17)) > 0.2
    background = x.reshape(-1, 36).mean(0).reshape(6, 6).astype(np.float32) + 1
    for kernel in (NeighbourAverage(3), NeighbourAverage(5),
                   NeighbourAverage.fit(x, np.ones((23, 17), bool), size=3, background=background)):
        for chunks in (((1,) * 23, (7, 10), (6,), (6,)), ((5, 5, 5, 8), (17,), (6,), (6,))):
            lazy = kernel.average_read(lambda ys, xs: x[ys, xs], x.shape, chunks, x.dtype, inside)
            assert lazy.chunks == chunks
            assert np.array_equal(lazy.compute(), kernel.average(x, inside)), (kernel.weighting, kernel.size)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_the_compiled_average_equals_the_numpy_one_and_a_stream_the_blocks(dtype, monkeypatch) -> None:
    """The numba pass (weighted sum, division, rounding in one) against the numpy path, to the bit, inside a mask,
    for 8- and 16-bit counts and floats; and a stream of row bands (what encode reads for a windowed run)
    against blocks that read their own halo (what the training window and a store's average are made with)."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 250, (19, 21, 7, 5)).astype(dtype)
    inside = rng.random((19, 21)) > 0.15
    background = x.reshape(-1, 35).astype(np.float32).mean(0).reshape(7, 5) + 1
    for kernel in (NeighbourAverage(3), NeighbourAverage(5),
                   NeighbourAverage.fit(x, np.ones((19, 21), bool), size=3, background=background)):
        r = kernel.size // 2
        window = np.pad(x, ((r, r), (r, r), (0, 0), (0, 0)))[: 12, :]
        m = np.pad(inside, r)[: 12, :]
        monkeypatch.setattr(nb, "NUMBA", True)
        compiled = kernel.average_inner(window, m)
        monkeypatch.setattr(nb, "NUMBA", False)
        assert np.array_equal(compiled, kernel.average_inner(window, m)), (dtype, kernel.weighting, kernel.size)
        monkeypatch.setattr(nb, "NUMBA", True)
        for rows in (1, 4, 19):
            streamed = np.concatenate([b for _, b in kernel.stream(lambda ys: x[ys], x.shape, inside, rows=rows)])
            blocks = kernel.average_read(lambda ys, xs: x[ys, xs], x.shape, ((5, 5, 9), (8, 13), (7,), (5,)),
                                         x.dtype, inside).compute()
            if np.dtype(dtype).kind == "f" and kernel.weighting == "similarity":
                # float patterns: the similarity weights are dot products (BLAS), which may sum in another order for
                # a band of another shape (an AVX-512 machine: 1 ulp of float32); counts are rounded, so bitwise
                np.testing.assert_allclose(streamed, blocks, rtol=4e-7, atol=0, err_msg=str((kernel.size, rows)))
            else:
                assert np.array_equal(streamed, blocks), (dtype, kernel.weighting, kernel.size, rows)
