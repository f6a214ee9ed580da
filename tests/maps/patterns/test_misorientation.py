"""The misorientation read from two patterns (vaearr.maps.patterns.misorientation): known angles back, unrelated pairs out of
reach, the detector's convention, bad geometry one line."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")

from benchmarks.data.pairs import pattern_pairs  # noqa: E402
from vaearr.errors import InputError  # noqa: E402
from vaearr.maps.segmentation import boundary_angles  # noqa: E402
from vaearr.maps.patterns.misorientation import (  # noqa: E402
    Geometry,
    Pyramid,
    angle_deg,
    misorientations,
    prepared,
    register,
)

PC = (0.51, 0.31, 0.62)


@pytest.mark.parametrize("angle", [0.5, 5.0, 15.0])
def test_a_pair_turned_by_a_known_angle_reads_that_angle(angle: float) -> None:
    # BENCHMARKS "Misorientation from the patterns": single 60 px patterns at 45 counts, median error ≤ 0.1°
    a, b, bg = pattern_pairs(6, angle, (60, 60), PC, 45.0, seed=3)
    m = misorientations(prepared(a, bg), prepared(b, bg), Geometry(PC, (60, 60)))
    assert np.isfinite(m).all()
    assert np.median(np.abs(m - angle)) < 0.15
    assert np.abs(m - angle).max() < 0.5


def test_noise_free_pairs_read_within_a_twentieth_of_a_degree() -> None:
    a, b, bg = pattern_pairs(4, 2.0, (60, 60), PC, None, seed=5)
    m = misorientations(prepared(a, bg), prepared(b, bg), Geometry(PC, (60, 60)))
    assert np.abs(m - 2.0).max() < 0.05


def test_random_pairs_read_their_disorientation_or_out_of_reach() -> None:
    # patterns are alike for symmetry-equivalent orientations: a pair reads its disorientation (cubic, orix), and a
    # pair further apart than the search (24°) reads inf, a grain boundary to every rule
    from orix.quaternion import Orientation, Rotation
    from orix.quaternion.symmetry import Oh

    from benchmarks.data.patchwork import kikuchi_scaled, vignetting
    from vaearr.data.simulated import random_quaternions

    q = random_quaternions(24, np.random.default_rng(11))
    a, b = q[:12], q[12:]
    d = (Orientation(Rotation(a), Oh).angle_with(Orientation(Rotation(b), Oh), degrees=True))
    bg = vignetting((60, 60))
    k = 45.0 * bg * (0.35 + 0.65 * kikuchi_scaled(q, (60, 60), PC))
    m = misorientations(prepared(k[:12], bg), prepared(k[12:], bg), Geometry(PC, (60, 60)))
    near, far = d < 20, d > 28
    assert far.sum() >= 6
    assert np.isinf(m[far]).all()
    assert np.abs(m[near] - d[near]).max() < 0.1


def test_the_standard_error_bounds_the_error_and_shrinks_with_the_noise() -> None:
    # the error the registration reports from the patterns' noise (σ²·H⁻¹): an upper bound of the error on simulated
    # pairs (2–6× the median error, BENCHMARKS), and smaller for means of 16 patterns than for single ones
    g = Geometry(PC, (60, 60))
    noise = {}
    for average in (1, 16):
        a, b, bg = pattern_pairs(12, 0.5, (60, 60), PC, 45.0, seed=4, average=average)
        r = register(prepared(a, bg), prepared(b, bg), g)
        assert r.noise is not None and np.isfinite(r.noise).all() and (r.noise > 0).all()
        assert np.mean(np.abs(r.angle - 0.5) <= 2 * r.noise) >= 0.9
        noise[average] = float(np.median(r.noise))
    assert noise[16] < noise[1] / 2


def test_registering_back_gives_the_inverse_rotation() -> None:
    a, b, bg = pattern_pairs(3, 3.0, (60, 60), PC, None, seed=7)
    g = Geometry(PC, (60, 60))
    ab = register(prepared(a, bg), prepared(b, bg), g)
    ba = register(prepared(b, bg), prepared(a, bg), g)
    assert np.allclose(angle_deg(ab.rotation @ ba.rotation), 0, atol=0.05)


def test_directions_follow_kikuchipys_detector() -> None:
    import kikuchipy as kp
    from kikuchipy.signals.util._master_pattern import _get_direction_cosines_for_fixed_pc  # noqa: PLC2701

    det = kp.detectors.EBSDDetector(shape=(30, 40), pc=PC)
    theirs = _get_direction_cosines_for_fixed_pc(det.gnomonic_bounds.squeeze().astype(np.float64),
                                                 float(np.squeeze(det.pcz)),
                                                 30, 40, np.eye(3), np.ones(1200, bool))
    rows, cols = np.divmod(np.arange(1200), 40)
    assert np.allclose(Geometry(PC, (30, 40)).directions(rows, cols), theirs, atol=1e-9)


@pytest.mark.parametrize("pc", [(1.4, 0.3, 0.6), (0.5, -0.1, 0.6), (0.5, 0.3, 0.0), (0.5, np.nan, 0.6)])
def test_a_projection_centre_off_the_screen_is_one_line(pc: tuple[float, float, float]) -> None:
    a = np.zeros((1, 60, 60), np.float32)
    with pytest.raises(InputError) as e:
        register(a, a, Geometry(pc, (60, 60)))
    assert "\n" not in str(e.value)
    assert "projection centre" in str(e.value)


def test_one_set_of_patterns_registered_among_itself_reads_as_two_copies_and_as_the_used_ones(monkeypatch) -> None:
    # segment's angles register side rows among themselves: register(p, p) blurs one copy a level, and
    # boundary_angles hands it the rows its pairs use alone (_on_used) and prepares the rows in blocks in place
    # (_prepared_in_place) — each pattern is prepared and registered on its own, so the numbers do not move
    a, b, bg = pattern_pairs(5, 1.5, (60, 60), PC, 45.0, seed=7)
    raw = np.concatenate([a, b, a[:2]]).astype(np.float32) / bg  # 12 patterns, the last two unused
    p = prepared(raw, np.ones((60, 60), np.float32))
    monkeypatch.setattr(boundary_angles, "PREPARE_ROWS", 4)  # three blocks of four
    np.testing.assert_array_equal(boundary_angles._prepared_in_place(raw.copy(), (60, 60)), p)  # noqa: SLF001 - the same numbers in blocks
    geometry = Geometry(PC, (60, 60))
    pairs = (np.array([0, 1, 2, 3, 4, 9]), np.array([5, 6, 7, 8, 9, 4]))  # the last: the fourth pair turned back
    one = register(p, p, geometry, pairs=pairs)
    two = register(p, p.copy(), geometry, pairs=pairs)
    used = boundary_angles._on_used(lambda q, pr, g: register(q, q, g, pairs=pr), p, pairs, geometry)  # noqa: SLF001 - on the used rows alone
    monkeypatch.setattr(boundary_angles, "PAIR_BLOCK", 4)  # two blocks, joined
    blocks = boundary_angles._on_used(lambda q, pr, g: register(q, q, g, pairs=pr), p, pairs, geometry)  # noqa: SLF001 - in blocks
    for other in (two, used):  # the same arrays or a copy of the used ones: the same numbers
        np.testing.assert_array_equal(one.rotation, other.rotation)
        np.testing.assert_array_equal(one.angle, other.angle)
    # a small block's copy sits elsewhere in memory, and the fit's numba kernels (fastmath) sum in another order there:
    # the same to rounding, not bit for bit
    np.testing.assert_allclose(blocks.rotation, one.rotation, atol=1e-8)
    np.testing.assert_allclose(blocks.angle, one.angle, rtol=1e-7)
    assert np.isfinite(one.angle).all() and np.abs(one.angle - 1.5).max() < 0.5


def test_the_references_kept_from_call_to_call_and_the_registered_patterns_alone_read_the_same_numbers() -> None:
    # vaearr spread registers a map block after block on its regions' references: their levels made once for all the
    # blocks (a Pyramid) and the block's registered patterns handed alone read what the references and the whole
    # block read, to the bit (each pattern is blurred on its own; the pairs are the same, in the same order)
    a, b, bg = pattern_pairs(6, 1.0, (60, 60), PC, 45.0, seed=9)
    refs, block = prepared(a, bg), prepared(b, bg)
    geometry = Geometry(PC, (60, 60))
    kept = Pyramid(refs)
    for sel, first, sharp in ((np.array([0, 2, 3]), 0, False), (np.array([1, 4, 5]), 1, True), (np.arange(6), 1, True)):
        whole = register(refs, block, geometry, pairs=(sel, sel), first=first, sharp=sharp, weights=bg)
        alone = register(kept, block[sel], geometry, pairs=(sel, np.arange(sel.size)), first=first, sharp=sharp,
                         weights=bg)
        for name in ("rotation", "angle", "correlation", "overlap", "likeness", "noise"):
            np.testing.assert_array_equal(getattr(alone, name), getattr(whole, name))
        assert np.abs(whole.angle - 1.0).max() < 0.5


def test_the_search_keeps_the_starts_every_start_read_on_every_pixel_would() -> None:
    # the search ranks its 925 starts on a quarter of the level's pixels and reads a shortlist again on all of them:
    # the starts it keeps are those a ranking of every start on every pixel keeps (pairs 0–30° apart, 45 counts)
    from vaearr.maps.patterns import misorientation as mo
    from vaearr.maps.patterns.registration_kernels import correlations

    pairs = [pattern_pairs(4, angle, (60, 60), PC, 45.0, seed=s) for s, angle in enumerate((3.0, 8.0, 14.0, 22.0, 30.0))]
    a = np.concatenate([prepared(p[0], p[2]) for p in pairs])
    b = np.concatenate([prepared(p[1], p[2]) for p in pairs])
    g = Geometry(PC, (60, 60))
    n = len(a)
    im = jf = np.arange(n)
    q0 = np.repeat(np.eye(3)[None], n, 0)
    moving = Pyramid(a, keep=False)
    picked = mo._best_starts(moving, b, g, im, jf, q0)  # noqa: SLF001 - the search's ranking itself
    level = mo._level(moving, b, g, mo.levels(g.shape)[mo.SEARCH_LEVEL])  # noqa: SLF001 - the same level
    starts = mo.search_rotations()
    every = np.ascontiguousarray(np.broadcast_to(np.arange(len(starts)), (n, len(starts))))
    full = np.empty((n, len(starts)))
    correlations(level.moving, level.fixed, im, jf, level.dirs, *g.centre, g.scale, mo.RIM_PX, q0, starts, every, full)
    exhaustive = np.argsort(-full, axis=1, kind="stable")[:, :mo.SEARCH_KEEP]
    assert picked.shape == (n, mo.SEARCH_KEEP)
    np.testing.assert_array_equal(picked, exhaustive)
