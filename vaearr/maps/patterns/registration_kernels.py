"""The compiled kernels of :func:`vaearr.maps.patterns.misorientation.register` (numba, no GIL): Gauss–Newton of a rotation that
registers one Kikuchi pattern on another, and the correlations of a pair at a set of starting rotations."""

from __future__ import annotations

import math

import numpy as np

from vaearr.numba_cache import lazy_njit


@lazy_njit(nogil=True, cache=True)
def gauss_newton(moving, grad_r, grad_c, fixed, im, jf, dirs, wts, r0, c0, scale, rim, q, max_iter, tol,
                 corr, count, rvar, read):  # pragma: no cover - compiled
    """For each pair k: ``fixed[jf[k]] ≈ s·moving[im[k]](Q d) + o`` fitted for ``q[k]`` (3 × 3, updated in place) by
    Gauss–Newton over the sample directions ``dirs`` (p, 3), each weighted by ``wts`` (its noise precision);
    ``corr[k]``, ``count[k]``: the final (weighted) correlation and the number of directions that fell on the
    detector; ``rvar[k]``: the variance of the rotation's angle (rad², the trace of the rotation block of σ²·H⁻¹ at the
    last step: the residual's variance over the Gauss–Newton matrix), as if the samples' residuals were independent.

    A pair stops when its step is under ``tol`` or after ``max_iter`` steps; the steps a pair may take are carried
    from pair to pair of one call: one more than the step the last pair that converged stopped at (how the kernel has
    always run, so its rotations are what they were; ``CHUNK`` pairs a call). ``read``: one more pass over the points
    at the final rotation reads ``corr`` and ``count`` there (a coarse level, whose correlation is not kept, needs
    none: the rotation is the same without it). The sums are scalars, added in the order they always were."""
    nrow, ncol = moving.shape[1], moving.shape[2]
    npts = dirs.shape[0]
    hess = np.empty((5, 5))
    grad = np.empty(5)
    budget = max_iter
    for k in range(im.shape[0]):
        a_img = moving[im[k]]
        b = fixed[jf[k]]
        s = 1.0
        o = 0.0
        last = budget
        for it in range(budget + 1):
            if it == last and not read:
                break
            h00 = h01 = h02 = h03 = h04 = h11 = h12 = h13 = h14 = h22 = h23 = h24 = h33 = h34 = h44 = 0.0
            g0 = g1 = g2 = g3 = g4 = 0.0
            n = 0
            sw = 0.0
            sa = 0.0
            sb = 0.0
            saa = 0.0
            sbb = 0.0
            sab = 0.0
            see = 0.0
            q00, q01, q02 = q[k, 0, 0], q[k, 0, 1], q[k, 0, 2]
            q10, q11, q12 = q[k, 1, 0], q[k, 1, 1], q[k, 1, 2]
            q20, q21, q22 = q[k, 2, 0], q[k, 2, 1], q[k, 2, 2]
            step_it = it != last
            for p in range(npts):
                d0, d1, d2 = dirs[p, 0], dirs[p, 1], dirs[p, 2]
                vx = q00 * d0 + q01 * d1 + q02 * d2
                vy = q10 * d0 + q11 * d1 + q12 * d2
                vz = q20 * d0 + q21 * d1 + q22 * d2
                if vz <= 1e-6:
                    continue
                iz = 1.0 / vz
                c = c0 + scale * vx * iz
                r = r0 - scale * vy * iz
                if c < 1.0 or r < 1.0 or c >= ncol - 2.0 or r >= nrow - 2.0:
                    continue
                ri = int(r)
                ci = int(c)
                # cubic convolution (Keys, a = −1/2): the value and its derivatives from the same 4 × 4 taps
                t = r - ri
                cr0 = ((-0.5 * t + 1.0) * t - 0.5) * t
                cr1 = (1.5 * t - 2.5) * t * t + 1.0
                cr2 = ((-1.5 * t + 2.0) * t + 0.5) * t
                cr3 = (0.5 * t - 0.5) * t * t
                dr0 = (-1.5 * t + 2.0) * t - 0.5
                dr1 = (4.5 * t - 5.0) * t
                dr2 = (-4.5 * t + 4.0) * t + 0.5
                dr3 = (1.5 * t - 1.0) * t
                t = c - ci
                cc0 = ((-0.5 * t + 1.0) * t - 0.5) * t
                cc1 = (1.5 * t - 2.5) * t * t + 1.0
                cc2 = ((-1.5 * t + 2.0) * t + 0.5) * t
                cc3 = (0.5 * t - 0.5) * t * t
                dc0 = (-1.5 * t + 2.0) * t - 0.5
                dc1 = (4.5 * t - 5.0) * t
                dc2 = (-4.5 * t + 4.0) * t + 0.5
                dc3 = (1.5 * t - 1.0) * t
                a = 0.0
                gr = 0.0
                gc = 0.0
                for i in range(4):
                    row = ri - 1 + i
                    h = (cc0 * a_img[row, ci - 1] + cc1 * a_img[row, ci] + cc2 * a_img[row, ci + 1]
                         + cc3 * a_img[row, ci + 2])
                    hd = (dc0 * a_img[row, ci - 1] + dc1 * a_img[row, ci] + dc2 * a_img[row, ci + 1]
                          + dc3 * a_img[row, ci + 2])
                    wr = cr0 if i == 0 else (cr1 if i == 1 else (cr2 if i == 2 else cr3))
                    wd = dr0 if i == 0 else (dr1 if i == 1 else (dr2 if i == 2 else dr3))
                    a += wr * h
                    gr += wd * h
                    gc += wr * hd
                bv = b[p]
                wp = wts[p]
                n += 1
                sw += wp
                sa += wp * a
                sb += wp * bv
                saa += wp * a * a
                sbb += wp * bv * bv
                sab += wp * a * bv
                if not step_it:
                    continue
                # d(image value)/dv through the gnomonic projection: c = c0 + L vx/vz, r = r0 − L vy/vz
                ux = gc * scale * iz
                uy = -gr * scale * iz
                uz = -(gc * scale * vx - gr * scale * vy) * iz * iz
                # v ← v + δ × v: d(value)/dδ = v × u
                j0 = s * (vy * uz - vz * uy)
                j1 = s * (vz * ux - vx * uz)
                j2 = s * (vx * uy - vy * ux)
                j3 = a
                e = s * a + o - bv
                see += wp * e * e
                w0 = wp * j0
                w1 = wp * j1
                w2 = wp * j2
                w3 = wp * j3
                w4 = wp * 1.0
                g0 += w0 * e
                g1 += w1 * e
                g2 += w2 * e
                g3 += w3 * e
                g4 += w4 * e
                h00 += w0 * j0
                h01 += w0 * j1
                h02 += w0 * j2
                h03 += w0 * j3
                h04 += w0 * 1.0
                h11 += w1 * j1
                h12 += w1 * j2
                h13 += w1 * j3
                h14 += w1 * 1.0
                h22 += w2 * j2
                h23 += w2 * j3
                h24 += w2 * 1.0
                h33 += w3 * j3
                h34 += w3 * 1.0
                h44 += w4 * 1.0
            count[k] = n
            if read or it == last or n <= 8:
                var_a = saa - sa * sa / max(sw, 1e-30)
                var_b = sbb - sb * sb / max(sw, 1e-30)
                corr[k] = (sab - sa * sb / max(sw, 1e-30)) / math.sqrt(max(var_a * var_b, 1e-30)) if n > 8 else 0.0
            if it == last or n <= 8:
                break
            hess[0, 0], hess[0, 1], hess[0, 2], hess[0, 3], hess[0, 4] = h00, h01, h02, h03, h04
            hess[1, 1], hess[1, 2], hess[1, 3], hess[1, 4] = h11, h12, h13, h14
            hess[2, 2], hess[2, 3], hess[2, 4] = h22, h23, h24
            hess[3, 3], hess[3, 4], hess[4, 4] = h33, h34, h44
            grad[0], grad[1], grad[2], grad[3], grad[4] = g0, g1, g2, g3, g4
            for i in range(5):
                for j in range(i):
                    hess[i, j] = hess[j, i]
                hess[i, i] += 1e-9 * (1.0 + hess[i, i])
            inv = np.linalg.inv(hess)
            rvar[k] = see / max(sw - 5.0, 1.0) * (inv[0, 0] + inv[1, 1] + inv[2, 2])
            step = inv @ (-grad)
            dx, dy, dz = step[0], step[1], step[2]
            s += step[3]
            o += step[4]
            ang = math.sqrt(dx * dx + dy * dy + dz * dz)
            # Q ← exp([δ]×) Q (Rodrigues)
            if ang > 1e-15:
                kx, ky, kz = dx / ang, dy / ang, dz / ang
                sn = math.sin(ang)
                cs = 1.0 - math.cos(ang)
                r00 = 1 - cs * (ky * ky + kz * kz)
                r01 = -sn * kz + cs * kx * ky
                r02 = sn * ky + cs * kx * kz
                r10 = sn * kz + cs * kx * ky
                r11 = 1 - cs * (kx * kx + kz * kz)
                r12 = -sn * kx + cs * ky * kz
                r20 = -sn * ky + cs * kx * kz
                r21 = sn * kx + cs * ky * kz
                r22 = 1 - cs * (kx * kx + ky * ky)
                for j in range(3):
                    a0, a1, a2 = q[k, 0, j], q[k, 1, j], q[k, 2, j]
                    q[k, 0, j] = r00 * a0 + r01 * a1 + r02 * a2
                    q[k, 1, j] = r10 * a0 + r11 * a1 + r12 * a2
                    q[k, 2, j] = r20 * a0 + r21 * a1 + r22 * a2
            if ang < tol:
                budget = it + 1
                last = it + 1
    return 0


@lazy_njit(nogil=True, cache=True)
def correlations(moving, fixed, im, jf, dirs, r0, c0, scale, rim, q0, starts, cand, out):  # pragma: no cover - compiled
    """``out[k, t]``: the correlation of ``fixed[jf[k]]`` with ``moving[im[k]]`` turned by ``starts[cand[k, t]] @ q0[k]``
    over the directions ``dirs`` (``fixed`` sampled there); −2 where 8 directions or fewer fall on the detector."""
    nrow, ncol = moving.shape[1], moving.shape[2]
    npts = dirs.shape[0]
    m = np.empty((3, 3))
    for k in range(im.shape[0]):
        a_img = moving[im[k]]
        b = fixed[jf[k]]
        for t in range(cand.shape[1]):
            u = cand[k, t]
            for i in range(3):
                for j in range(3):
                    m[i, j] = (starts[u, i, 0] * q0[k, 0, j] + starts[u, i, 1] * q0[k, 1, j]
                               + starts[u, i, 2] * q0[k, 2, j])
            n = 0
            sa = 0.0
            sb = 0.0
            saa = 0.0
            sbb = 0.0
            sab = 0.0
            for p in range(npts):
                vx = m[0, 0] * dirs[p, 0] + m[0, 1] * dirs[p, 1] + m[0, 2] * dirs[p, 2]
                vy = m[1, 0] * dirs[p, 0] + m[1, 1] * dirs[p, 1] + m[1, 2] * dirs[p, 2]
                vz = m[2, 0] * dirs[p, 0] + m[2, 1] * dirs[p, 1] + m[2, 2] * dirs[p, 2]
                if vz <= 1e-6:
                    continue
                c = c0 + scale * vx / vz
                r = r0 - scale * vy / vz
                if c < rim or r < rim or c > ncol - 1 - rim or r > nrow - 1 - rim:
                    continue
                ri = int(r)
                ci = int(c)
                fr = r - ri
                fc = c - ci
                a = ((1 - fr) * (1 - fc) * a_img[ri, ci] + (1 - fr) * fc * a_img[ri, ci + 1]
                     + fr * (1 - fc) * a_img[ri + 1, ci] + fr * fc * a_img[ri + 1, ci + 1])
                bv = b[p]
                n += 1
                sa += a
                sb += bv
                saa += a * a
                sbb += bv * bv
                sab += a * bv
            if n > 8:
                var_a = saa - sa * sa / n
                var_b = sbb - sb * sb / n
                out[k, t] = (sab - sa * sb / n) / math.sqrt(max(var_a * var_b, 1e-30))
            else:
                out[k, t] = -2.0
    return 0
