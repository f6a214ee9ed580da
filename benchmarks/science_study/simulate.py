"""Simulate the three 48 x 64 Ni EBSD maps (60 x 60 uint8 patterns, 10 grains) used by the study.

Run:  .venv/bin/python simulate.py            (writes maps/*.npy, maps/manifest.json)

Ideas and constants are copied from vaearr/data/simulate.py (kept as a copy so this study does
not depend on a module that is being refactored):

* kikuchipy's Ni master pattern (small, Lambert, both hemispheres), EBSDDetector(shape=(60,60),
  pc=(0.425,0.213,0.501), sample_tilt=70), 20 kV; every simulated pattern blurred with a
  Gaussian of sigma 0.8 px (screen point spread) and standardised (zero mean, unit std);
* 10 Voronoi grains from well-spread seeds, random (uniform on SO(3)) orientations;
* the real Ni scan's static background (kikuchipy's nickel_ebsd_small), resized to 60x60 and
  smoothed; recorded image = background * drift * (1 + contrast * kikuchi);
* contrast 0.055, lowered by 25 % at grain boundaries; the pattern at a pixel within ~1 px of a
  grain boundary is mixed with the neighbour grain's pattern (weight 0.5 exp(-d/0.7));
* a slow brightness drift (+-3 % rms, smooth over ~1/6 of the map). No pore in any map.

All three maps share one scene (seed 2024: grain seeds, grain orientations, drift); they differ
in noise and in the sub-grain structure:

1. ``clean``     every pixel of a grain has the grain's orientation; noise as vaearr's
                 build_demo_map(noise=1): Gaussian with the Poisson variance of 20 photons per
                 grey level plus 1 grey level read noise (background mean 138 grey levels, so
                 ~2760 photons per pixel on average).
2. ``noisy``     same orientations; true Poisson shot noise with 25 counts per detector pixel on
                 average: counts ~ Poisson(25 * bg/mean(bg) * drift * (1 + c k)), grey = counts * 4
                 (mean grey level 100).
3. ``subgrains`` each grain is cut by a straight line through its centroid (random direction) into
                 two sub-grains whose orientations are the grain's orientation rotated by +0.25 deg
                 and -0.25 deg about one random axis (0.5 deg apart); every pixel additionally gets
                 an i.i.d. random rotation with rotation vector ~ N(0, (0.1 deg)^2 I3) (mean angle
                 0.16 deg); each pixel is simulated separately. Poisson noise at 60 counts per
                 pixel on average, grey = counts * 100/60. Near grain boundaries the neighbour
                 pattern mixed in is that of the neighbour grain's sub-grain on the pixel's side of
                 its cut line.

Files in maps/ (for each NAME in clean, noisy, subgrains):
  NAME_patterns.npy  (48, 64, 60, 60) uint8
  NAME_grains.npy    (48, 64) int32   grain id 0..9
  NAME_subgrains.npy (48, 64) int32   sub-grain id 0..19 (= grain id in clean/noisy, where the
                                      orientation is uniform inside a grain)
  NAME_gb.npy        (48, 64) bool    grain-boundary pixels: those whose right or lower
                                      neighbour is in another grain (1 px wide, one side)
  NAME_lagb.npy      (48, 64) bool    low-angle (sub-grain) boundary pixels: right or lower
                                      neighbour in the same grain but the other sub-grain
                                      (all False for clean/noisy)
  NAME_misori_deg.npy (48, 64) float32 angle (deg) between each pixel's orientation and its
                                      sub-grain's mean orientation (0 for clean/noisy)
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.transform import resize

OUT = Path(__file__).resolve().parent / "maps"
SHAPE = (48, 64)
PSHAPE = (60, 60)
N_GRAINS = 10
SCENE_SEED = 2024
PC = (0.425, 0.213, 0.501)
TILT = 70.0
ENERGY = 20
CONTRAST = 0.055
GB_WIDTH = 0.7
SUB_HALF_ANGLE_DEG = 0.25  # each sub-grain is +-0.25 deg from the grain: 0.5 deg apart
SPREAD_SIGMA_DEG = 0.10  # per-axis sigma of each pixel's extra rotation vector


# ------------------------------------------------------------------ quaternions
def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (..., 4) quaternions (w, x, y, z)."""
    w1, x1, y1, z1 = np.moveaxis(a, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(b, -1, 0)
    return np.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], axis=-1)


def axis_angle(axis: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    h = np.asarray(angle_rad)[..., None] / 2
    return np.concatenate([np.cos(h), np.sin(h) * axis], axis=-1)


def rotvec_to_quat(v: np.ndarray) -> np.ndarray:
    ang = np.linalg.norm(v, axis=-1)
    ax = np.where(ang[..., None] > 0, v / np.maximum(ang, 1e-30)[..., None], np.array([1.0, 0, 0]))
    return axis_angle(ax, ang)


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(np.sum(a * b, axis=-1)).clip(0, 1)
    return np.degrees(2 * np.arccos(d))


def random_quaternions(n: int, rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    return q


# ------------------------------------------------------------------ scene (copied from vaearr)
def spawn_rngs(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def grain_seeds(shape, n, rng):
    ny, nx = shape
    order = rng.permutation(ny * nx)
    pts = np.stack(np.unravel_index(order, shape), axis=1).astype(float)
    r = 0.8 * math.sqrt(ny * nx / n)
    while True:
        chosen: list[int] = []
        for i in range(len(pts)):
            if not chosen or np.min(np.sum((pts[chosen] - pts[i]) ** 2, axis=1)) >= r * r:
                chosen.append(i)
                if len(chosen) == n:
                    return pts[chosen] + rng.uniform(-0.3, 0.3, size=(n, 2))
        r *= 0.8


def voronoi(shape, seeds):
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    p = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(float)
    d, i = cKDTree(seeds).query(p, k=2)
    s1, s2 = seeds[i[:, 0]], seeds[i[:, 1]]
    dist = (d[:, 1] ** 2 - d[:, 0] ** 2) / (2 * np.linalg.norm(s1 - s2, axis=1))
    return i[:, 0].reshape(shape).astype(np.int32), i[:, 1].reshape(shape).astype(np.int32), dist.reshape(shape)


_MP = None


def simulate_kikuchi(quats: np.ndarray) -> np.ndarray:
    """Standardised, PSF-blurred dynamical Ni patterns (n, 60, 60) float32."""
    global _MP
    import kikuchipy as kp
    from orix.quaternion import Rotation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _MP is None:
            _MP = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")
        det = kp.detectors.EBSDDetector(shape=PSHAPE, pc=PC, sample_tilt=TILT, tilt=0.0)
        sim = _MP.get_patterns(Rotation(quats), det, energy=ENERGY, compute=True, show_progressbar=False)
    k = np.asarray(sim.data, dtype=np.float32).reshape(len(quats), *PSHAPE)
    k = ndi.gaussian_filter(k, (0, 0.8, 0.8))
    k -= k.mean(axis=(1, 2), keepdims=True)
    k /= k.std(axis=(1, 2), keepdims=True)
    return k


def static_background() -> np.ndarray:
    import kikuchipy as kp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = np.asarray(kp.data.nickel_ebsd_small().static_background, dtype=np.float64)
    bg = resize(bg, PSHAPE, order=1, mode="edge", anti_aliasing=True)
    return ndi.gaussian_filter(bg, 1.5).astype(np.float32)


def boundary_mask(labels: np.ndarray, same: np.ndarray | None = None) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label (restricted to `same` grain if given)."""
    m = np.zeros(labels.shape, bool)
    dr = labels[:, :-1] != labels[:, 1:]
    dd = labels[:-1, :] != labels[1:, :]
    if same is not None:
        dr &= same[:, :-1] == same[:, 1:]
        dd &= same[:-1, :] == same[1:, :]
    m[:, :-1] |= dr
    m[:-1, :] |= dd
    return m


def main() -> None:
    t0 = time.time()
    OUT.mkdir(parents=True, exist_ok=True)
    r_seed, r_rot, r_drift, r_cut, r_spread, r_noise = spawn_rngs(SCENE_SEED, 6)
    ny, nx = SHAPE
    seeds = grain_seeds(SHAPE, N_GRAINS, r_seed)
    grain, neigh, dist = voronoi(SHAPE, seeds)
    drift = ndi.gaussian_filter(r_drift.normal(size=SHAPE), max(SHAPE) / 6, mode="reflect")
    drift = (1 + 0.03 * drift / drift.std()).astype(np.float32)
    qg = random_quaternions(N_GRAINS, r_rot)
    bg = static_background()
    near = np.exp(-dist / GB_WIDTH).astype(np.float32)
    mix = 0.5 * near
    contrast = (CONTRAST * (1 - 0.25 * near)).astype(np.float32)

    # --- sub-grain cuts: a line through each grain's centroid, random direction
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    cen = np.array([[yy[grain == g].mean(), xx[grain == g].mean()] for g in range(N_GRAINS)])
    theta = r_cut.uniform(0, np.pi, N_GRAINS)
    normal = np.stack([np.cos(theta), np.sin(theta)], 1)

    def side(g: np.ndarray) -> np.ndarray:  # which half of grain g's cut the pixel lies in
        return (((yy - cen[g, 0]) * normal[g, 0] + (xx - cen[g, 1]) * normal[g, 1]) > 0).astype(np.int32)

    sub = 2 * grain + side(grain)
    sub_n = 2 * neigh + side(neigh)
    axes = r_cut.normal(size=(N_GRAINS, 3))
    half = np.radians(SUB_HALF_ANGLE_DEG)
    qs = np.empty((2 * N_GRAINS, 4))
    for g in range(N_GRAINS):
        qs[2 * g] = qmul(qg[g], axis_angle(axes[g], np.array(+half)))
        qs[2 * g + 1] = qmul(qg[g], axis_angle(axes[g], np.array(-half)))
    sub_sep = [float(angle_between_deg(qs[2 * g], qs[2 * g + 1])) for g in range(N_GRAINS)]
    spread = r_spread.normal(0, np.radians(SPREAD_SIGMA_DEG), size=(ny, nx, 3))
    qpix = qmul(qs[sub], rotvec_to_quat(spread))
    misori = angle_between_deg(qpix, qs[sub]).astype(np.float32)

    k_grain = simulate_kikuchi(qg)  # (10, 60, 60)
    k_sub = simulate_kikuchi(qs)  # (20, 60, 60)
    t_sim = time.time()
    k_pix = simulate_kikuchi(qpix.reshape(-1, 4)).reshape(ny, nx, *PSHAPE)
    t_sim = time.time() - t_sim

    gb = boundary_mask(grain)
    lagb = boundary_mask(sub, same=grain)
    manifest = {"scene_seed": SCENE_SEED, "shape": SHAPE, "pattern_shape": PSHAPE, "n_grains": N_GRAINS,
                "pc": PC, "sample_tilt": TILT, "energy_kV": ENERGY, "contrast": CONTRAST,
                "background_mean_grey": float(bg.mean()), "maps": {}}

    def write(name, pats, subl, lag, mis, extra):
        np.save(OUT / f"{name}_patterns.npy", pats)
        np.save(OUT / f"{name}_grains.npy", grain)
        np.save(OUT / f"{name}_subgrains.npy", subl.astype(np.int32))
        np.save(OUT / f"{name}_gb.npy", gb)
        np.save(OUT / f"{name}_lagb.npy", lag)
        np.save(OUT / f"{name}_misori_deg.npy", mis)
        manifest["maps"][name] = {"clipped_fraction": float(np.mean((pats == 0) | (pats == 255))),
                                  "mean_grey": float(pats.mean()), "n_subgrains": int(len(np.unique(subl))),
                                  "gb_pixels": int(gb.sum()), "lagb_pixels": int(lag.sum()), **extra}

    mixg = mix[..., None, None]
    k_uniform = (1 - mixg) * k_grain[grain] + mixg * k_grain[neigh]  # (Y, X, 60, 60)
    clean_img = bg * drift[..., None, None] * (1 + contrast[..., None, None] * k_uniform)

    # 1. clean: vaearr build_demo_map noise=1 model
    photons, read = 20.0, 1.0
    sd = np.sqrt(np.clip(clean_img, 0, None) / photons + read**2)
    img = clean_img + sd * r_noise.standard_normal(clean_img.shape, dtype=np.float32)
    write("clean", np.clip(np.rint(img), 0, 255).astype(np.uint8), grain, np.zeros(SHAPE, bool),
          np.zeros(SHAPE, np.float32), {"noise": "Gaussian(Poisson var of 20 photons/grey level) + 1 grey read noise"})

    # 2. noisy: Poisson, 25 counts per pixel on average, grey = counts * 4
    lam = 25.0 * clean_img / bg.mean()
    img = r_noise.poisson(lam).astype(np.float32) * (100.0 / 25.0)
    write("noisy", np.clip(np.rint(img), 0, 255).astype(np.uint8), grain, np.zeros(SHAPE, bool),
          np.zeros(SHAPE, np.float32), {"noise": "Poisson, 25 counts/pixel mean, grey = 4*counts"})

    # 3. sub-grains: per-pixel orientations, Poisson 60 counts per pixel
    k_mix = (1 - mixg) * k_pix + mixg * k_sub[sub_n]
    sub_img = bg * drift[..., None, None] * (1 + contrast[..., None, None] * k_mix)
    lam = 60.0 * sub_img / bg.mean()
    img = r_noise.poisson(lam).astype(np.float32) * (100.0 / 60.0)
    write("subgrains", np.clip(np.rint(img), 0, 255).astype(np.uint8), sub, lagb, misori,
          {"noise": "Poisson, 60 counts/pixel mean, grey = counts*100/60",
           "subgrain_separation_deg": sub_sep,
           "spread_mean_deg": float(misori.mean()), "spread_p95_deg": float(np.percentile(misori, 95)),
           "per_pixel_simulation_s": t_sim,
           "subgrain_pixels": np.bincount(sub.ravel(), minlength=2 * N_GRAINS).tolist(),
           # how different two sub-grain patterns are vs. grains (rms of standardised difference)
           "rms_pattern_diff_subgrain_pairs": [float(np.sqrt(np.mean((k_sub[2 * g] - k_sub[2 * g + 1]) ** 2)))
                                              for g in range(N_GRAINS)]})
    manifest["grain_pixels"] = np.bincount(grain.ravel(), minlength=N_GRAINS).tolist()
    manifest["rms_pattern_diff_grain_pairs_mean"] = float(np.mean(
        [np.sqrt(np.mean((k_grain[a] - k_grain[b]) ** 2)) for a in range(N_GRAINS) for b in range(a)]))
    manifest["build_seconds"] = time.time() - t0
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main()
